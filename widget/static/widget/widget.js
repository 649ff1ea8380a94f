// The live results widget: follows one decision over graphql-transport-ws and redraws in place.
// The protocol is spoken by graphql-ws's client (window.graphqlWs, vendored, loaded just
// before this module). It keeps one socket for every operation; after the connection drops
// it reconnects by itself and subscribes again, so the server's "current state at once"
// answers refresh the page after a restart.
const { createClient } = window.graphqlWs;

const DECISION = `query WidgetDecision($id: ID!) {
  decision(id: $id) { title status closesAt community { name resultsArePublic } }
}`;
const STATUS = `subscription WidgetStatus($id: ID!) {
  calculationStatus(decisionId: $id) { id status isFinal }
}`;
const RESULTS = `subscription WidgetResults($id: ID!) {
  decisionResults(decisionId: $id) {
    calculationId isFinal calculatedAt
    winner { id title } tiedChoices { id title } finalists { id title }
    scores { choice { id title } totalStars averageStars fiveStarCount }
    runoff { first { id title } second { id title } preferFirst preferSecond noPreference }
    tiebreaks
    participation { members voters directBallots delegatedBallots abstentions countedBallots }
    influence(first: 5) { edges { influence node { displayName } } }
  }
}`;
const RUNNING = new Set(["QUEUED", "CREATING", "READY", "STAGING", "TALLYING"]);
const DECISION_STATUS = { DRAFT: "Draft", OPEN: "Open", CLOSED: "Closed" };
// Close codes after which trying again cannot help: bad request, sign-in refused.
const REFUSED = new Set([4400, 4403]);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000;
const CONNECTION_TEXT = {
  connecting: "Connecting…",
  waiting: "Connection lost. Reconnecting…",
  refused: "The server refused the live connection.",
};

const root = document.getElementById("widget");
const decisionId = root.dataset.decisionId;
const $ = (id) => document.getElementById(id);
const state = { calculation: null, results: null, resultsPk: 0 };

const number = (value, digits = 2) =>
  Number(value).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
const count = (value) => Number(value).toLocaleString();
const stars = (value) => Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;
const nodePk = (id) => Number(atob(id).split(":").pop()) || 0;
const readableTime = (iso) =>
  new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function fillCounts(list, rows) {
  list.replaceChildren(
    ...rows.map(([label, value, kind]) =>
      element("div", { class: `count ${kind || ""}`.trim() }, element("dt", {}, label), element("dd", {}, count(value))),
    ),
  );
}

function showDecision(decision) {
  $("title").textContent = decision.title;
  document.title = `${decision.title} · CrowdVote`;
  $("community").textContent = decision.community.name;
  const status = $("decision-status");
  status.textContent = DECISION_STATUS[decision.status] || decision.status;
  status.className = `status status-${decision.status.toLowerCase()}`;
  const closes = $("closes");
  closes.replaceChildren();
  if (decision.status === "OPEN") {
    closes.append("closes ", element("time", { datetime: decision.closesAt }, readableTime(decision.closesAt)));
  }
}

function showCalculation(calculation) {
  const pk = nodePk(calculation.id);
  if (state.calculation && nodePk(state.calculation.id) > pk) return;
  state.calculation = calculation;
  const running = RUNNING.has(calculation.status) && pk > state.resultsPk;
  $("calc-status").hidden = !running;
  root.dataset.calculation = calculation.status;
  $("calc-failed").hidden = !(calculation.status === "FAILED" && state.results);
}

function outcomeText(results) {
  const { winner, tiedChoices, tiebreaks, participation } = results;
  if (winner) return [`Winner: ${winner.title}`, tiebreaks.length ? "after a tiebreak" : ""];
  if (tiedChoices.length) {
    return [`Tie: ${tiedChoices.map((c) => c.title).join(" and ")}`, "not broken; a manager will settle it"];
  }
  if (participation.countedBallots === 0) return ["No ballots counted yet", ""];
  return ["No winner", ""];
}

function showScores(results) {
  const list = $("scores");
  const existing = new Map([...list.children].map((item) => [item.dataset.choice, item]));
  const finalists = new Set(results.finalists.map((c) => c.id));
  const items = results.scores.map((score) => {
    const { id, title } = score.choice;
    const item = existing.get(id) || newScoreItem(id);
    const average = Number(score.averageStars);
    item.querySelector(".choice").textContent = title;
    item.querySelector(".value").textContent = number(average);
    const bar = item.querySelector(".bar");
    bar.setAttribute("aria-label", `${title}: ${number(average)} of 5 average stars`);
    bar.firstElementChild.style.setProperty("--share", `${Math.min(100, (average / 5) * 100)}%`);
    item.querySelector(".detail").textContent =
      `${stars(score.totalStars)} stars in total · ${plural(score.fiveStarCount, "five-star rating", "five-star ratings")}`;
    item.classList.toggle("is-winner", results.winner?.id === id);
    item.classList.toggle("is-finalist", finalists.has(id));
    return item;
  });
  list.replaceChildren(...items);
}

function newScoreItem(id) {
  const item = element(
    "li",
    { class: "score", "data-choice": id },
    element("div", { class: "score-head" }, element("span", { class: "choice" }), element("span", { class: "value" })),
    element("div", { class: "bar", role: "img" }, element("span", { class: "fill" })),
    element("p", { class: "detail muted" }),
  );
  return item;
}

function showRunoff(runoff) {
  $("runoff-section").hidden = !runoff;
  if (!runoff) return;
  const { first, second, preferFirst, preferSecond, noPreference } = runoff;
  $("runoff-pair").replaceChildren(element("strong", {}, first.title), " vs ", element("strong", {}, second.title));
  const total = preferFirst + preferSecond + noPreference || 1;
  $("runoff-bar-a").style.setProperty("--share", `${(preferFirst / total) * 100}%`);
  $("runoff-bar-n").style.setProperty("--share", `${(noPreference / total) * 100}%`);
  $("runoff-bar-b").style.setProperty("--share", `${(preferSecond / total) * 100}%`);
  $("runoff-bar").setAttribute(
    "aria-label",
    `${count(preferFirst)} prefer ${first.title}, ${count(preferSecond)} prefer ${second.title}, ${count(noPreference)} no preference`,
  );
  fillCounts($("runoff-counts"), [
    [`Prefer ${first.title}`, preferFirst, "a"],
    [`Prefer ${second.title}`, preferSecond, "b"],
    ["No preference", noPreference, "n"],
  ]);
}

/** The "Top delegates" section: made here once, after Participation, reusing its styles. */
function delegatesSection() {
  const existing = $("delegates-section");
  if (existing) return existing;
  const section = element(
    "section",
    { id: "delegates-section", "aria-labelledby": "delegates-heading" },
    element("h2", { id: "delegates-heading" }, "Top delegates"),
    element("dl", { class: "counts", id: "delegates" }),
    element("p", { class: "detail muted" }, "How many counted ballots each one's own ballot flows into."),
  );
  section.hidden = true;
  $("participation-section").after(section);
  return section;
}

// Influence is null for results calculated before it existed: the section stays hidden.
function showInfluence(influence) {
  const section = delegatesSection();
  const edges = influence ? influence.edges : [];
  section.hidden = edges.length === 0;
  $("delegates").replaceChildren(
    ...edges.map(({ node, influence: weight }) =>
      element("div", { class: "count" }, element("dt", {}, node.displayName), element("dd", {}, number(weight))),
    ),
  );
}

function showResults(results) {
  const pk = nodePk(results.calculationId);
  if (pk < state.resultsPk) return;
  state.results = results;
  state.resultsPk = pk;
  const [headline, note] = outcomeText(results);
  $("winner").replaceChildren(element("strong", {}, headline), note ? ` (${note})` : "");
  $("tiebreaks").replaceChildren(...results.tiebreaks.map((sentence) => element("li", {}, sentence)));
  showScores(results);
  showRunoff(results.runoff);
  const p = results.participation;
  $("participation-section").hidden = false;
  fillCounts($("participation"), [
    ["Direct", p.directBallots],
    ["Delegated", p.delegatedBallots],
    ["Abstaining", p.abstentions],
    ["Counted", p.countedBallots],
  ]);
  showInfluence(results.influence);
  const time = $("calculated-at");
  time.dateTime = results.calculatedAt;
  time.textContent = readableTime(results.calculatedAt);
  $("final-badge").hidden = !results.isFinal;
  if (state.calculation) showCalculation(state.calculation);
  root.dataset.calculationId = results.calculationId;
  root.setAttribute("aria-busy", "false");
  $("announce").textContent = `Results updated: ${headline}. ${plural(p.countedBallots, "ballot", "ballots")} counted.`;
}

function denied(errors) {
  const codes = (errors || []).map((e) => e.extensions && e.extensions.code);
  if (!codes.some((code) => code === "FORBIDDEN" || code === "UNAUTHENTICATED")) return false;
  $("sign-in-needed").hidden = false;
  $("results").hidden = true;
  $("calc-status").hidden = true;
  root.setAttribute("aria-busy", "false");
  return true;
}

function connectionState(name) {
  const line = $("connection");
  root.dataset.connection = name;
  line.hidden = name === "open";
  line.textContent = CONNECTION_TEXT[name] || "";
}

/**
 * Wait before reconnection attempt `retries` (0 for the first): exponential backoff with
 * jitter, capped, and cut short when the network comes back.
 */
function retryWait(retries) {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** retries);
  const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  connectionState("waiting");
  return new Promise((resolve) => {
    const again = () => {
      clearTimeout(timer);
      window.removeEventListener("online", again);
      resolve();
    };
    const timer = setTimeout(again, delay);
    window.addEventListener("online", again);
  });
}

// A failed connection reaches the client as an error event before its close event, so every
// problem is retried (for ever) except the close codes that say the server refuses us.
const client = createClient({
  url: (() => {
    const url = new URL(root.dataset.graphqlPath || "/graphql", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  })(),
  retryAttempts: Infinity,
  retryWait,
  shouldRetry: (problem) => !REFUSED.has(problem && problem.code),
  connectionAckWaitTimeout: 10000,
  on: {
    connecting: () => connectionState("connecting"),
    connected: () => {
      connectionState("open");
      request(DECISION, { id: decisionId }).then((data) => data.decision && showDecision(data.decision), report);
    },
  },
});

/** Run a query once; resolves with its data, rejects with its errors. */
function request(query, variables) {
  return new Promise((resolve, reject) => {
    let result = null;
    client.subscribe({ query, variables }, {
      next: (payload) => { result = payload; },
      error: reject,
      complete: () => (result && result.errors ? reject(result.errors) : resolve(result && result.data)),
    });
  });
}

/**
 * Show what went wrong: GraphQL errors (a list), the close event of a connection the client
 * will not retry, or an exception (logged).
 */
function report(problem) {
  if (problem && typeof problem.code === "number") return connectionState("refused");
  return (Array.isArray(problem) && denied(problem)) || console.error("CrowdVote widget:", problem);
}

const follow = (query, show) =>
  client.subscribe({ query, variables: { id: decisionId } }, {
    next: ({ data, errors }) => (data ? show(data) : report(errors || [])),
    error: report,
    // The server ends these only to refuse them, which next or error has shown already.
    complete: () => {},
  });

follow(STATUS, (data) => showCalculation(data.calculationStatus));
follow(RESULTS, (data) => {
  showResults(data.decisionResults);
  if (data.decisionResults.isFinal) {
    request(DECISION, { id: decisionId }).then((d) => d.decision && showDecision(d.decision), report);
  }
});
window.crowdvoteWidget = { client, state };
