#!/usr/bin/env node
// A real `graphql-ws` client (graphql-transport-ws protocol) holding Almanac subscriptions, for
// tests/tests/e2e/npm_clients.rs and for trying subscriptions by hand.
//
//   node subscribe.mjs --url ws://127.0.0.1:8080/graphql/ws \
//     --subscribe 'SeriesChanged={"calendarIds":["cal_…"]}' \
//     [--subscribe 'OccurrencesChanged={"calendarIds":["cal_…"],"from":"…","to":"…"}'] \
//     [--token alm_…] [--exit-after N] [--timeout-ms 120000]
//
// (or ALMANAC_WS_URL / ALMANAC_TOKEN in the environment). Each --subscribe names an operation in
// operations/*.graphql (sent with the fragments it uses) and its variables as JSON. The token, if
// any, goes in the connection_init payload as {"authorization": "Bearer …"}; without one the
// payload is {} (dev auth mode needs no credential).
//
// Prints one JSON object per line on stdout:
//   {"type":"connected"}                                  the server acknowledged connection_init
//   {"type":"subscribing","operation":"SeriesChanged"}    the subscribe message is being sent
//   {"type":"next","operation":…,"data":{…}}              an event
//   {"type":"error","operation":…,"errors":[…]}           the server refused or ended with errors
//   {"type":"complete","operation":…}                     the server completed the subscription
//   {"type":"closed","code":…,"reason":…}                 the socket closed
//   {"type":"done","events":N,"ok":true}                  last line, before exiting
// It exits when stdin ends (the test closes it), after --exit-after events, or on --timeout-ms:
// code 0 when no errors were seen, 1 after an error, 2 on timeout or bad arguments.

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Kind, parse, print, visit } from "graphql";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const here = dirname(fileURLToPath(import.meta.url));

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function fail(message) {
  emit({ type: "error", operation: null, errors: [{ message }] });
  process.exit(2);
}

/** The operations and fragments of operations/*.graphql, by name. */
function loadDefinitions() {
  const operations = new Map();
  const fragments = new Map();
  const dir = join(here, "operations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".graphql")).sort()) {
    for (const def of parse(readFileSync(join(dir, file), "utf8")).definitions) {
      if (def.kind === Kind.OPERATION_DEFINITION && def.name) operations.set(def.name.value, def);
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
  }
  return { operations, fragments };
}

/** The document for one operation: it and the fragments it uses, transitively. */
function documentFor(name, { operations, fragments }) {
  const op = operations.get(name);
  if (!op) fail(`no operation named ${name} in operations/ (have: ${[...operations.keys()].join(", ")})`);
  const used = new Map();
  const pending = [op];
  while (pending.length > 0) {
    visit(pending.pop(), {
      FragmentSpread(node) {
        const n = node.name.value;
        if (used.has(n)) return;
        const frag = fragments.get(n);
        if (!frag) fail(`operation ${name} uses unknown fragment ${n}`);
        used.set(n, frag);
        pending.push(frag);
      },
    });
  }
  return print({ kind: Kind.DOCUMENT, definitions: [op, ...used.values()] });
}

let args;
try {
  args = parseArgs({
    options: {
      url: { type: "string", default: process.env.ALMANAC_WS_URL },
      token: { type: "string", default: process.env.ALMANAC_TOKEN },
      subscribe: { type: "string", multiple: true, default: [] },
      "exit-after": { type: "string" },
      "timeout-ms": { type: "string", default: "120000" },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(String(e.message ?? e));
}
if (!args.url) fail("--url ws://…/graphql/ws (or ALMANAC_WS_URL) is required");
if (args.subscribe.length === 0) fail("at least one --subscribe 'Operation={…variables…}' is required");

const definitions = loadDefinitions();
const subscriptions = args.subscribe.map((spec) => {
  const eq = spec.indexOf("=");
  const name = eq < 0 ? spec : spec.slice(0, eq);
  let variables = {};
  if (eq >= 0) {
    try {
      variables = JSON.parse(spec.slice(eq + 1));
    } catch (e) {
      fail(`variables of ${name} are not JSON: ${e.message}`);
    }
  }
  return { name, variables, query: documentFor(name, definitions) };
});

const exitAfter = args["exit-after"] === undefined ? Infinity : Number(args["exit-after"]);
let events = 0;
let errors = 0;
let finishing = false;

const client = createClient({
  url: args.url,
  webSocketImpl: WebSocket,
  connectionParams: args.token ? { authorization: `Bearer ${args.token}` } : {},
  // A test client: report a lost connection instead of silently reconnecting.
  retryAttempts: 0,
  lazy: true,
  on: {
    connected: () => emit({ type: "connected" }),
    closed: (event) => {
      if (!finishing) emit({ type: "closed", code: event?.code ?? null, reason: event?.reason ?? null });
    },
  },
});

async function finish(code) {
  if (finishing) return;
  finishing = true;
  clearTimeout(timer);
  await client.dispose();
  const exitCode = code ?? (errors > 0 ? 1 : 0);
  process.stdout.write(JSON.stringify({ type: "done", events, ok: exitCode === 0 }) + "\n", () => process.exit(exitCode));
}

const timer = setTimeout(() => {
  emit({ type: "timeout", afterMs: Number(args["timeout-ms"]) });
  finish(2);
}, Number(args["timeout-ms"]));

for (const { name, variables, query } of subscriptions) {
  emit({ type: "subscribing", operation: name });
  client.subscribe(
    { query, variables, operationName: name },
    {
      next: (result) => {
        if (result.errors?.length) {
          errors += 1;
          emit({ type: "error", operation: name, errors: result.errors, data: result.data ?? null });
          return;
        }
        events += 1;
        emit({ type: "next", operation: name, data: result.data });
        if (events >= exitAfter) finish();
      },
      error: (err) => {
        if (finishing) return;
        errors += 1;
        const list = Array.isArray(err)
          ? err
          : [{ message: err?.message ?? err?.reason ?? String(err), code: err?.code ?? null }];
        emit({ type: "error", operation: name, errors: list });
      },
      complete: () => {
        if (!finishing) emit({ type: "complete", operation: name });
      },
    },
  );
}

// The driving test closes stdin when it has seen what it needs.
process.stdin.on("end", () => finish());
process.stdin.on("error", () => finish());
process.stdin.resume();
