// What every client script shares: its input (JSON on stdin), the documents, waiting, output.
import WebSocket from "ws";

export const DECISION = `query Decision($id: ID!) {
  decision(id: $id) { id title status choices { id title } }
}`;
export const CAST = `mutation Cast($d: ID!, $stars: [StarsInput!]!) {
  castBallot(input: {decisionId: $d, stars: $stars}) {
    errors { code field message } calculations { id status }
  }
}`;
export const RESULTS = `subscription Results($id: ID!) {
  decisionResults(decisionId: $id) {
    calculationId isFinal scores { choice { title } totalStars } participation { directBallots }
  }
}`;
export const STATUS = `subscription Status($id: ID!) {
  calculationStatus(decisionId: $id) { id status }
}`;
export const ME = `query Me { me { username } }`;

/** Read the test's configuration: one JSON object on standard input. */
export async function input() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

/** Print the result for the test and end the process (clients may keep sockets open). */
export function output(result) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

export function fail(error) {
  process.stderr.write(`${error?.stack || JSON.stringify(error)}\n`);
  process.exit(1);
}

/** Resolve when ``predicate()`` holds, checking every 20 ms; reject after ``ms``. */
export function until(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** {title: number} of a DecisionResults object. */
export function totals(results) {
  return Object.fromEntries(results.scores.map((s) => [s.choice.title, Number(s.totalStars)]));
}

export function sameTotals(results, expected) {
  const seen = totals(results);
  return Object.entries(expected).every(([title, stars]) => seen[title] === Number(stars));
}

/** The stars input of a ballot: {title: stars} with the decision's choice IDs. */
export function stars(config) {
  return Object.entries(config.stars).map(([title, n]) => ({
    choiceId: config.choices[title],
    stars: n,
  }));
}

/** A `ws` WebSocket class that records how the server closed each socket. */
export function recordingWebSocket(closes, options = {}) {
  return class RecordingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, options);
      this.on("close", (code, reason) => closes.push({ code, reason: reason.toString() }));
    }
  };
}

/**
 * The live part every client shares: wait for the current result, cast, then wait for the
 * result that counts the ballot and for its calculation's COMPLETED status.
 */
export async function castAndFollow(config, seen, cast) {
  await until(() => seen.results.length > 0, 20000, "the current result");
  const before = seen.results.length;
  const payload = await cast();
  await until(
    () => seen.results.slice(before).some((r) => sameTotals(r, config.expectTotals)),
    20000,
    "the result counting the ballot",
  );
  const counted = seen.results.slice(before).find((r) => sameTotals(r, config.expectTotals));
  await until(
    () => seen.statuses.some((s) => s.id === counted.calculationId && s.status === "COMPLETED"),
    10000,
    "the COMPLETED status of the calculation",
  );
  return { cast: payload, counted };
}

/** The code and message of each GraphQL error, as tests compare them. */
export function errorsOf(errors) {
  return (errors || []).map((e) => ({ code: e.extensions?.code ?? null, message: e.message }));
}
