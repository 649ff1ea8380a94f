// The graphql-ws client (protocol graphql-transport-ws): everything over one websocket.
import { createClient } from "graphql-ws";
import {
  CAST, DECISION, RESULTS, STATUS, castAndFollow, errorsOf, fail, input, output, recordingWebSocket,
  stars, until,
} from "./common.mjs";

const config = await input();
const closes = [];
const client = createClient({
  url: config.ws,
  webSocketImpl: recordingWebSocket(closes, config.origin ? { origin: config.origin } : {}),
  connectionParams: config.token ? { authorization: `Bearer ${config.token}` } : {},
  retryAttempts: 0,
});

/** Run one operation to its end: {data, errors} of its last result, or the error it ended with. */
function once(query, variables) {
  return new Promise((resolve) => {
    let last = null;
    client.subscribe({ query, variables }, {
      next: (result) => { last = result; },
      error: (error) => resolve({ failed: describe(error) }),
      complete: () => resolve({ data: last?.data ?? null, errors: errorsOf(last?.errors) }),
    });
  });
}

/** A GraphQL error list, or a CloseEvent, as plain JSON. */
function describe(error) {
  if (Array.isArray(error)) return { errors: errorsOf(error) };
  if (error && typeof error.code === "number") return { closeCode: error.code, reason: error.reason };
  return { message: String(error?.message ?? error) };
}

async function live() {
  const seen = { results: [], statuses: [], errors: [] };
  const query = await once(DECISION, { id: config.decisionId });
  const watch = (doc, into) => client.subscribe({ query: doc, variables: { id: config.decisionId } }, {
    next: (r) => (r.errors ? seen.errors.push(errorsOf(r.errors)) : into.push(Object.values(r.data)[0])),
    error: (e) => seen.errors.push(describe(e)),
    complete: () => {},
  });
  watch(RESULTS, seen.results);
  watch(STATUS, seen.statuses);
  const { cast, counted } = await castAndFollow(config, seen, async () =>
    (await once(CAST, { d: config.decisionId, stars: stars(config) })).data.castBallot);
  return { query, cast, counted, statuses: seen.statuses, errors: seen.errors };
}

async function unknownDecision() {
  return {
    query: await once(DECISION, { id: config.decisionId }),
    subscription: await once(RESULTS, { id: config.decisionId }),
    cast: await once(CAST, { d: config.decisionId, stars: [] }),
  };
}

/** A subscription under a wrong token: how it ends, and how the socket was closed. */
async function wrongToken() {
  const ended = once(RESULTS, { id: config.decisionId });
  const outcome = await Promise.race([ended, new Promise((r) => setTimeout(() => r(null), config.waitMs))]);
  await until(() => closes.length > 0, 1000, "the close").catch(() => {});
  return { subscriptionEnded: outcome !== null, outcome, closes };
}

try {
  const modes = { live, unknownDecision, wrongToken };
  output(await modes[config.mode]());
} catch (error) {
  fail(error);
}
