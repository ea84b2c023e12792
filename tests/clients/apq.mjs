#!/usr/bin/env node
// Apollo Client 4 with `PersistedQueryLink` (automatic persisted queries) against a live Almanac,
// for tests/tests/e2e/npm_clients.rs:
//
//   node apq.mjs --url http://127.0.0.1:8080/graphql [--token alm_…]
//
// Runs, in order, with POST for everything (client A), then with `useGETForHashedQueries: true`
// (client B, a fresh client and cache):
//   1. a query the server has never seen: the link sends only the hash, the server answers
//      PERSISTED_QUERY_NOT_FOUND, the link resends with the query text;
//   2. the same query again from a new cache: only the hash travels;
//   3. a mutation (createCalendar, named after the client) through the same link.
// Every HTTP exchange is recorded (method, whether the query text and the hash were sent, status,
// error codes) and printed as one JSON object on stdout with the results; exit 0 unless the
// client itself threw.

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const { values: args } = parseArgs({ options: { url: { type: "string" }, token: { type: "string" } } });
if (!args.url) {
  console.error("usage: node apq.mjs --url http://host:port/graphql [--token alm_…]");
  process.exit(2);
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** fetch that records each exchange as the server saw it. */
function recordingFetch(log) {
  return async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url);
    const method = (init.method || "GET").toUpperCase();
    let sent = {};
    if (method === "GET") {
      sent = {
        query: url.searchParams.get("query"),
        extensions: url.searchParams.has("extensions") ? JSON.parse(url.searchParams.get("extensions")) : undefined,
      };
    } else if (typeof init.body === "string") {
      sent = JSON.parse(init.body);
    }
    const res = await fetch(input, init);
    const text = await res.clone().text();
    let codes = [];
    try {
      const body = JSON.parse(text);
      codes = (body.errors || []).map((e) => e.extensions && e.extensions.code);
    } catch {
      codes = ["<not JSON>"];
    }
    log.push({
      method,
      sentQuery: typeof sent.query === "string" && sent.query.length > 0,
      sentHash: Boolean(sent.extensions && sent.extensions.persistedQuery && sent.extensions.persistedQuery.sha256Hash),
      status: res.status,
      contentType: res.headers.get("content-type"),
      codes,
    });
    return res;
  };
}

async function runClient(name, useGETForHashedQueries) {
  const exchanges = [];
  const headers = args.token ? { authorization: `Bearer ${args.token}` } : {};
  const http = new HttpLink({ uri: args.url, headers, fetch: recordingFetch(exchanges) });
  const link = ApolloLink.from([new PersistedQueryLink({ sha256, useGETForHashedQueries }), http]);
  const client = () => new ApolloClient({ link, cache: new InMemoryCache() });
  // A query text unique to this client, so the server has never seen its hash.
  const query = gql`
    query Viewer${name} {
      viewer {
        organizationId
        canWrite
      }
    }
  `;
  const steps = [];
  const mark = () => exchanges.length;

  let from = mark();
  const first = await client().query({ query, fetchPolicy: "network-only" });
  steps.push({ step: "first", data: first.data, exchanges: exchanges.slice(from) });

  from = mark();
  const again = await client().query({ query, fetchPolicy: "network-only" });
  steps.push({ step: "again", data: again.data, exchanges: exchanges.slice(from) });

  from = mark();
  const created = await client().mutate({
    mutation: gql`
      mutation CreateCalendar${name}($input: CreateCalendarInput!) {
        createCalendar(input: $input) {
          calendar {
            id
            name
          }
        }
      }
    `,
    variables: { input: { name: `apq ${name}`, timeZone: "Europe/Paris" } },
  });
  steps.push({ step: "mutation", data: created.data, exchanges: exchanges.slice(from) });
  return { client: name, useGETForHashedQueries, steps };
}

try {
  const results = [await runClient("Post", false), await runClient("Get", true)];
  process.stdout.write(JSON.stringify({ ok: true, results }) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) }) + "\n");
  process.exit(1);
}
