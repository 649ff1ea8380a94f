// urql: fetchExchange over HTTP, subscriptionExchange over the graphql-ws client.
import { Client, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient } from "graphql-ws";
import {
  CAST, DECISION, RESULTS, STATUS, castAndFollow, errorsOf, fail, input, output, recordingWebSocket,
  stars,
} from "./common.mjs";

const config = await input();
const closes = [];
const ws = createClient({
  url: config.ws,
  webSocketImpl: recordingWebSocket(closes),
  connectionParams: config.token ? { authorization: `Bearer ${config.token}` } : {},
  retryAttempts: 0,
});
const client = new Client({
  url: config.http,
  requestPolicy: "network-only",
  fetchOptions: () => ({ headers: config.token ? { authorization: `Bearer ${config.token}` } : {} }),
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query || "" }, sink) }),
      }),
    }),
  ],
});

function plain(result) {
  return { data: result.data ?? null, errors: errorsOf(result.error?.graphQLErrors) };
}

async function live() {
  const seen = { results: [], statuses: [], errors: [] };
  const query = plain(await client.query(DECISION, { id: config.decisionId }).toPromise());
  for (const [doc, into] of [[RESULTS, seen.results], [STATUS, seen.statuses]]) {
    client.subscription(doc, { id: config.decisionId }).subscribe((r) =>
      r.error ? seen.errors.push(r.error.message) : into.push(Object.values(r.data)[0]));
  }
  const { cast, counted } = await castAndFollow(config, seen, async () =>
    (await client.mutation(CAST, { d: config.decisionId, stars: stars(config) }).toPromise()).data.castBallot);
  return { query, cast, counted, statuses: seen.statuses, errors: seen.errors };
}

async function unknownDecision() {
  const subscription = await new Promise((resolve) => {
    client.subscription(RESULTS, { id: config.decisionId }).subscribe((r) => resolve(plain(r)));
  });
  return {
    query: plain(await client.query(DECISION, { id: config.decisionId }).toPromise()),
    subscription,
    cast: plain(await client.mutation(CAST, { d: config.decisionId, stars: [] }).toPromise()),
  };
}

try {
  const modes = { live, unknownDecision };
  output(await modes[config.mode]());
} catch (error) {
  fail(error);
}
