// subscriptions-transport-ws: the legacy `graphql-ws` protocol, still used by older front ends.
import transport from "subscriptions-transport-ws";
import {
  CAST, RESULTS, STATUS, castAndFollow, errorsOf, fail, input, output, recordingWebSocket, stars,
} from "./common.mjs";

const { SubscriptionClient } = transport;
const config = await input();
const closes = [];
let connectionError = null;
const client = new SubscriptionClient(
  config.ws,
  {
    connectionParams: config.token ? { authorization: `Bearer ${config.token}` } : {},
    reconnect: false,
    connectionCallback: (error) => { if (error) connectionError = error; },
  },
  recordingWebSocket(closes),
);

/** Casting over HTTP, as legacy front ends did (the websocket carries subscriptions only). */
async function castOverHttp() {
  const response = await fetch(config.http, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${config.token}` },
    body: JSON.stringify({ query: CAST, variables: { d: config.decisionId, stars: stars(config) } }),
  });
  return (await response.json()).data.castBallot;
}

async function live() {
  const seen = { results: [], statuses: [], errors: [] };
  for (const [doc, into] of [[RESULTS, seen.results], [STATUS, seen.statuses]]) {
    client.request({ query: doc, variables: { id: config.decisionId } }).subscribe({
      next: (r) => (r.errors ? seen.errors.push(errorsOf(r.errors)) : into.push(Object.values(r.data)[0])),
      error: (e) => seen.errors.push(String(e?.message ?? e)),
    });
  }
  const { cast, counted } = await castAndFollow(config, seen, castOverHttp);
  return { cast, counted, statuses: seen.statuses, errors: seen.errors };
}

/** Both subscription lifecycles in one: an unknown decision errors, the socket stays usable. */
async function unknownDecision() {
  const subscription = await new Promise((resolve) => {
    client.request({ query: RESULTS, variables: { id: config.decisionId } }).subscribe({
      next: (r) => resolve({ data: r.data ?? null, errors: errorsOf(r.errors) }),
      error: (e) => resolve({ errors: errorsOf(Array.isArray(e) ? e : [e]) }),
    });
  });
  return { subscription };
}

/**
 * A subscription under a wrong token: what the client is told, and whether the server closes
 * the socket (this library ends no pending subscription itself: it reports `disconnected`).
 */
async function wrongToken() {
  let disconnected = false;
  client.onDisconnected(() => { disconnected = true; });
  const ended = new Promise((resolve) => {
    client.request({ query: RESULTS, variables: { id: config.decisionId } }).subscribe({
      next: (r) => resolve({ next: r }),
      error: (e) => resolve({ error: String(e?.message ?? JSON.stringify(e)) }),
      complete: () => resolve({ complete: true }),
    });
  });
  const outcome = await Promise.race([ended, new Promise((r) => setTimeout(() => r(null), config.waitMs))]);
  return {
    disconnected,
    connectionError: connectionError && { message: connectionError.message ?? null, payload: connectionError },
    subscriptionEnded: outcome !== null,
    outcome,
    closes,
  };
}

try {
  const modes = { live, unknownDecision, wrongToken };
  output(await modes[config.mode]());
} catch (error) {
  fail(error);
}
