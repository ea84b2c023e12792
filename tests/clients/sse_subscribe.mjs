#!/usr/bin/env node
// A real `graphql-sse` client (distinct connections mode) holding one Almanac subscription over
// Server-Sent Events, for tests/tests/e2e/npm_clients.rs and for trying /graphql/stream by hand.
//
//   node sse_subscribe.mjs --url http://127.0.0.1:8080/graphql/stream \
//     --query 'subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId } }' \
//     --variables '{"c":["cal_…"]}' [--token alm_…] [--exit-after N] [--timeout-ms 120000]
//
// The token, if any, is sent as `Authorization: Bearer …` (SSE has no connection_init).
//
// Prints one JSON object per line on stdout:
//   {"type":"subscribing"}                   the request is being sent
//   {"type":"message","event":"next"}        an SSE message arrived (graphql-sse's onMessage)
//   {"type":"next","data":{…}}               an event without errors
//   {"type":"error","errors":[…]}            a result with errors, or the client failed
//   {"type":"complete"}                      the server completed the stream
//   {"type":"done","events":N,"ok":true}     last line, before exiting
// It exits when stdin ends (the test closes it), after --exit-after events, on completion, or on
// --timeout-ms: code 0 when no errors were seen, 1 after an error, 2 on timeout or bad arguments.

import { parseArgs } from "node:util";
import { createClient } from "graphql-sse";

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let args;
try {
  args = parseArgs({
    options: {
      url: { type: "string" },
      token: { type: "string" },
      query: { type: "string" },
      variables: { type: "string", default: "{}" },
      "exit-after": { type: "string" },
      "timeout-ms": { type: "string", default: "120000" },
    },
    strict: true,
  }).values;
} catch (e) {
  emit({ type: "error", errors: [{ message: String(e.message ?? e) }] });
  process.exit(2);
}
if (!args.url || !args.query) {
  emit({ type: "error", errors: [{ message: "--url and --query are required" }] });
  process.exit(2);
}

let variables;
try {
  variables = JSON.parse(args.variables);
} catch (e) {
  emit({ type: "error", errors: [{ message: `--variables is not JSON: ${e.message}` }] });
  process.exit(2);
}

const exitAfter = args["exit-after"] === undefined ? Infinity : Number(args["exit-after"]);
let events = 0;
let errors = 0;
let finishing = false;
let unsubscribe = () => {};

const client = createClient({
  url: args.url,
  headers: args.token ? { authorization: `Bearer ${args.token}` } : {},
  // A test client: report a lost stream instead of silently reconnecting.
  retryAttempts: 0,
  onMessage: (message) => emit({ type: "message", event: message.event }),
});

function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(timer);
  unsubscribe();
  client.dispose();
  const exitCode = code ?? (errors > 0 ? 1 : 0);
  process.stdout.write(JSON.stringify({ type: "done", events, ok: exitCode === 0 }) + "\n", () => process.exit(exitCode));
}

const timer = setTimeout(() => {
  emit({ type: "timeout", afterMs: Number(args["timeout-ms"]) });
  finish(2);
}, Number(args["timeout-ms"]));

emit({ type: "subscribing" });
unsubscribe = client.subscribe(
  { query: args.query, variables },
  {
    next: (result) => {
      if (result.errors?.length) {
        errors += 1;
        emit({ type: "error", errors: result.errors, data: result.data ?? null });
        return;
      }
      events += 1;
      emit({ type: "next", data: result.data });
      if (events >= exitAfter) finish();
    },
    error: (err) => {
      if (finishing) return;
      errors += 1;
      const status = err?.response?.status ?? null;
      emit({ type: "error", errors: [{ message: err?.message ?? String(err), status }] });
    },
    complete: () => {
      if (!finishing) emit({ type: "complete" });
    },
  },
);

// The driving test closes stdin when it has seen what it needs.
process.stdin.on("end", () => finish());
process.stdin.on("error", () => finish());
process.stdin.resume();
