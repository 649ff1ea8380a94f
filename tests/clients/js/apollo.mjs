// Apollo Client 4: HttpLink for queries and mutations, GraphQLWsLink (or HttpLink) for subscriptions.
import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import {
  CAST, DECISION, ME, RESULTS, STATUS, castAndFollow, errorsOf, fail, input, output,
  recordingWebSocket, stars,
} from "./common.mjs";

const config = await input();
const closes = [];
const responses = [];
const headers = {
  ...(config.token ? { authorization: `Bearer ${config.token}` } : {}),
  // What a browser adds on a page served from another origin.
  ...(config.origin ? { origin: config.origin } : {}),
};
const http = new HttpLink({
  uri: config.http,
  headers,
  // Keep the CORS headers of each answer, which a browser would enforce.
  fetch: async (url, init) => {
    const response = await fetch(url, init);
    responses.push({
      status: response.status,
      allowOrigin: response.headers.get("access-control-allow-origin"),
      allowCredentials: response.headers.get("access-control-allow-credentials"),
    });
    return response;
  },
});
const ws = new GraphQLWsLink(createClient({
  url: config.ws,
  webSocketImpl: recordingWebSocket(closes, config.origin ? { origin: config.origin } : {}),
  connectionParams: config.token ? { authorization: `Bearer ${config.token}` } : {},
  retryAttempts: 0,
}));
const client = new ApolloClient({
  // `httpOnly`: subscriptions too go over HTTP (multipart), as behind a proxy without websockets.
  link: config.httpOnly
    ? http
    : split(({ query }) => getMainDefinition(query).operation === "subscription", ws, http),
  cache: new InMemoryCache(),
});

/** {data, errors} of a query or mutation; errors as {code, message}. */
async function run(kind, document, variables) {
  const options = { [kind]: gql(document), variables, errorPolicy: "all", fetchPolicy: "no-cache" };
  const result = kind === "query" ? await client.query(options) : await client.mutate(options);
  const errors = CombinedGraphQLErrors.is(result.error) ? errorsOf(result.error.errors) : [];
  if (result.error && !errors.length) errors.push({ code: null, message: result.error.message });
  return { data: result.data ?? null, errors };
}

async function live() {
  const seen = { results: [], statuses: [], errors: [] };
  const query = await run("query", DECISION, { id: config.decisionId });
  for (const [doc, into] of [[RESULTS, seen.results], [STATUS, seen.statuses]]) {
    client.subscribe({ query: gql(doc), variables: { id: config.decisionId } }).subscribe({
      next: (r) => (r.error ? seen.errors.push(r.error.message) : into.push(Object.values(r.data)[0])),
      error: (e) => seen.errors.push(e.message),
    });
  }
  const { cast, counted } = await castAndFollow(config, seen, async () =>
    (await run("mutation", CAST, { d: config.decisionId, stars: stars(config) })).data.castBallot);
  return { query, cast, counted, statuses: seen.statuses, errors: seen.errors };
}

async function unknownDecision() {
  const subscription = await new Promise((resolve) => {
    client.subscribe({ query: gql(RESULTS), variables: { id: config.decisionId } }).subscribe({
      next: (r) => resolve(r.error ? { errors: errorsOf(r.error.errors) } : { data: r.data }),
      error: (e) => resolve({ errors: errorsOf(e.errors) }),
    });
  });
  return {
    query: await run("query", DECISION, { id: config.decisionId }),
    subscription,
    cast: await run("mutation", CAST, { d: config.decisionId, stars: [] }),
  };
}

/** Signed in from another origin: the preflight a browser sends, then the query itself. */
async function crossOrigin() {
  const preflight = await fetch(config.http, {
    method: "OPTIONS",
    headers: {
      origin: config.origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type",
    },
  });
  const me = await run("query", ME, {});
  return {
    preflight: {
      status: preflight.status,
      allowOrigin: preflight.headers.get("access-control-allow-origin"),
      allowHeaders: preflight.headers.get("access-control-allow-headers"),
      allowMethods: preflight.headers.get("access-control-allow-methods"),
    },
    me,
    responses,
  };
}

async function wrongToken() {
  return { me: await run("query", ME, {}) };
}

try {
  const modes = { live, unknownDecision, crossOrigin, wrongToken };
  output(await modes[config.mode]());
} catch (error) {
  fail(error);
}
