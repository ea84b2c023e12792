#!/usr/bin/env node
// graphql-http's server audits (GraphQL over HTTP conformance) against a live Almanac, for
// tests/tests/e2e/npm_clients.rs:
//
//   node audit.mjs --url http://127.0.0.1:8080/graphql
//
// Prints one JSON object: {"results": [{"id", "name", "status", "reason"}, …]}, where status is
// "ok", "warn" (a SHOULD not met), "notice" (a MAY not met) or "error" (a MUST not met).

import { parseArgs } from "node:util";
import { serverAudits } from "graphql-http";

const { values: args } = parseArgs({ options: { url: { type: "string" } } });
if (!args.url) {
  console.error("usage: node audit.mjs --url http://host:port/graphql");
  process.exit(2);
}

const results = [];
for (const audit of serverAudits({ url: args.url })) {
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason });
}
process.stdout.write(JSON.stringify({ results }) + "\n");
