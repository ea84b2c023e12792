#!/usr/bin/env node
// Apollo Client 4 with `relayStylePagination` paging an Almanac connection over real HTTP, for
// tests/tests/e2e/npm_clients.rs:
//
//   node apollo_pagination.mjs --url http://127.0.0.1:8080/graphql --field occurrences \
//     --variables '{"calendarIds":["cal_…"],"from":"…","to":"…"}' --page 3 [--middle <cursor>]
//
// Runs three scenarios, each with a fresh cache, and prints one JSON line per scenario with the
// node ids of the merged cache list, the merged pageInfo and how many requests were sent:
//   forward   first/after from the start until hasNextPage is false;
//   backward  last/before from the end until hasPreviousPage is false;
//   middle    (with --middle) first after that cursor, then back to the start, then on to the end.
// Each page is fetched with `fetchPolicy: "network-only"` and merged by the cache's field policy,
// as `fetchMore` does; the merged list is read back with `readQuery`. Exits 1 on any error.

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    field: { type: "string", default: "occurrences" },
    variables: { type: "string", default: "{}" },
    page: { type: "string", default: "3" },
    middle: { type: "string" },
  },
});
const n = Number(args.page);
const base = JSON.parse(args.variables);

const SHAPE = "edges { cursor node { id } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor }";
const documents = {
  occurrences: gql`
    query OccurrencePage($calendarIds: [ID!]!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String, $last: Int, $before: String) {
      occurrences(calendarIds: $calendarIds, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) { ${SHAPE} }
    }
  `,
  calendars: gql`
    query CalendarPage($first: Int, $after: String, $last: Int, $before: String) {
      calendars(first: $first, after: $after, last: $last, before: $before) { ${SHAPE} }
    }
  `,
};
const query = documents[args.field];
if (!query) {
  console.error(`unknown --field ${args.field}`);
  process.exit(2);
}

function client() {
  const counter = { requests: 0 };
  const fetchCounting = (input, init) => {
    counter.requests += 1;
    return fetch(input, init);
  };
  const cache = new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          occurrences: relayStylePagination(["calendarIds", "from", "to"]),
          calendars: relayStylePagination(),
        },
      },
    },
  });
  return { apollo: new ApolloClient({ link: new HttpLink({ uri: args.url, fetch: fetchCounting }), cache }), counter };
}

async function page(apollo, paging) {
  const result = await apollo.query({ query, variables: { ...base, ...paging }, fetchPolicy: "network-only" });
  if (result.error) throw result.error;
  return merged(apollo);
}

function merged(apollo) {
  const data = apollo.readQuery({ query, variables: base });
  return data[args.field];
}

function report(scenario, connection, counter) {
  console.log(
    JSON.stringify({ scenario, ids: connection.edges.map((e) => e.node.id), pageInfo: { ...connection.pageInfo, __typename: undefined }, requests: counter.requests }),
  );
}

async function forward() {
  const { apollo, counter } = client();
  let c = await page(apollo, { first: n });
  while (c.pageInfo.hasNextPage) c = await page(apollo, { first: n, after: c.pageInfo.endCursor });
  report("forward", c, counter);
}

async function backward() {
  const { apollo, counter } = client();
  let c = await page(apollo, { last: n });
  while (c.pageInfo.hasPreviousPage) c = await page(apollo, { last: n, before: c.pageInfo.startCursor });
  report("backward", c, counter);
}

async function middle() {
  const { apollo, counter } = client();
  let c = await page(apollo, { first: n, after: args.middle });
  while (c.pageInfo.hasPreviousPage) c = await page(apollo, { last: n, before: c.pageInfo.startCursor });
  while (c.pageInfo.hasNextPage) c = await page(apollo, { first: n, after: c.pageInfo.endCursor });
  report("middle", c, counter);
}

try {
  await forward();
  await backward();
  if (args.middle) await middle();
} catch (e) {
  console.error(e?.stack ?? String(e));
  process.exit(1);
}
