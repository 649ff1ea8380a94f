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
// The timeline shows the latest calculations' averages of the leading choices.
const TIMELINE_POINTS = 30;
const TIMELINE_SERIES = 3;
const HISTORY = `query WidgetHistory($id: ID!) {
  decision(id: $id) { resultsHistory(first: ${TIMELINE_POINTS}) { edges { node {
    calculationId calculatedAt scores { choice { id title } averageStars } } } } }
}`;
const MY_BALLOT = `subscription WidgetMyBallot($id: ID!) {
  myBallot(decisionId: $id) {
    calculationId standing isCounted abstentionMessage
    stars { choice { id title } stars }
    sources { delegate { displayName } weight matchedTags }
  }
}`;
// The final result's published snapshot, which anyone who sees it may download and recount.
const SNAPSHOT = `query WidgetSnapshot($id: ID!) {
  node(id: $id) { ... on Calculation { snapshotUrl snapshotHash } }
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
const state = { calculation: null, results: null, resultsPk: 0, history: new Map(), myBallot: null };
const SVG = "http://www.w3.org/2000/svg";

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

function svgElement(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
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
  if (results.isFinal) showSnapshot(results.calculationId);
  if (state.calculation) showCalculation(state.calculation);
  root.dataset.calculationId = results.calculationId;
  root.setAttribute("aria-busy", "false");
  $("announce").textContent = `Results updated: ${headline}. ${plural(p.countedBallots, "ballot", "ballots")} counted.`;
}

/** Remember one result's averages (from the history or a live result) for the timeline. */
function addToHistory(entry) {
  const scores = entry.scores.map((s) => ({ choice: s.choice, average: Number(s.averageStars) }));
  state.history.set(nodePk(entry.calculationId), { at: entry.calculatedAt, scores });
}

/** Draw the leading choices' averages across the latest calculations, oldest on the left. */
function showTimeline() {
  const points = [...state.history.entries()]
    .sort((a, b) => a[0] - b[0])
    .slice(-TIMELINE_POINTS)
    .map(([, entry]) => entry);
  $("timeline-section").hidden = points.length === 0;
  if (!points.length) return;
  const leaders = [...points[points.length - 1].scores]
    .sort((a, b) => b.average - a.average)
    .slice(0, TIMELINE_SERIES);
  const [width, height, pad] = [320, 100, 6];
  // One calculation so far: its averages run across the whole width.
  const x = (i) => (points.length === 1 ? [pad, width - pad] : [pad + (i * (width - 2 * pad)) / (points.length - 1)]);
  const y = (average) => height - pad - (average / 5) * (height - 2 * pad);
  const grid = [0, 2.5, 5].map((v) => svgElement("line", { class: "grid", x1: 0, x2: width, y1: y(v), y2: y(v) }));
  const lines = leaders.map(({ choice }, k) => {
    const values = [];
    const coordinates = [];
    points.forEach((point, i) => {
      const score = point.scores.find((s) => s.choice.id === choice.id);
      if (!score) return;
      values.push(score.average);
      for (const at of x(i)) coordinates.push(`${at.toFixed(1)},${y(score.average).toFixed(1)}`);
    });
    return svgElement(
      "polyline",
      { class: `series series-${k}`, points: coordinates.join(" "), "data-choice": choice.id, "data-values": values.join(" ") },
      svgElement("title", {}, choice.title),
    );
  });
  const svg = $("timeline");
  svg.replaceChildren(...grid, ...lines);
  svg.dataset.points = String(points.length);
  $("timeline-legend").replaceChildren(
    ...leaders.map(({ choice, average }, k) =>
      element("li", { class: `series-${k}` }, `${choice.title} `, element("span", {}, number(average))),
    ),
  );
  $("timeline-summary").textContent =
    `Average stars over ${plural(points.length, "calculation", "calculations")}: ` +
    leaders
      .map(({ choice }) => {
        const own = points.flatMap((p) => p.scores.filter((s) => s.choice.id === choice.id));
        return `${choice.title} from ${number(own[0].average)} to ${number(own[own.length - 1].average)}`;
      })
      .join("; ");
}

function standingText(ballot) {
  switch (ballot.standing) {
    case "DIRECT":
      return ballot.isCounted ? "You voted directly." : "You voted directly; as a lobbyist your ballot is not counted.";
    case "DELEGATED":
      return ballot.sources.length === 1
        ? "Delegated: you hold your delegate's ballot."
        : `Delegated: the average of ${count(ballot.sources.length)} delegates' ballots.`;
    case "ABSTAINING":
      return `You abstain. ${ballot.abstentionMessage || ""}`.trim();
    default:
      return "Not calculated yet.";
  }
}

/** Show the viewer's own ballot, replacing what was shown before. */
function showMyBallot(ballot) {
  state.myBallot = ballot;
  $("my-ballot").hidden = false;
  root.dataset.myBallot = ballot.standing;
  $("my-ballot-standing").textContent = standingText(ballot);
  $("my-ballot-stars").replaceChildren(
    ...ballot.stars.map((s) =>
      element(
        "li",
        { "data-choice": s.choice.id },
        element("span", { class: "choice" }, s.choice.title),
        element("span", { class: "value" }, `${stars(s.stars)} ★`),
      ),
    ),
  );
  $("my-ballot-sources").replaceChildren(
    ...ballot.sources.map((s) =>
      element(
        "li",
        {},
        element("strong", {}, s.delegate.displayName),
        ` · ${stars(Number(s.weight) * 100)}% of your ballot`,
        s.matchedTags.length ? ` · on ${s.matchedTags.join(", ")}` : "",
      ),
    ),
  );
}

/** Show nothing personal: signed out, or not (or no longer) a member. */
function hideMyBallot() {
  state.myBallot = null;
  $("my-ballot").hidden = true;
  delete root.dataset.myBallot;
  for (const id of ["my-ballot-standing", "my-ballot-stars", "my-ballot-sources"]) $(id).replaceChildren();
}

/** Link the FINAL badge to the final snapshot and show the first digits of its hash. */
function showSnapshot(calculationId) {
  request(SNAPSHOT, { id: calculationId }).then((data) => {
    const snapshot = data && data.node;
    if (!snapshot || !snapshot.snapshotUrl || state.results.calculationId !== calculationId) return;
    const badge = $("final-badge");
    badge.href = snapshot.snapshotUrl;
    badge.title = `Download the final snapshot (SHA-256 ${snapshot.snapshotHash}) to recount it`;
    $("final-hash").textContent = snapshot.snapshotHash.slice(0, 8);
  }, report);
}

function denied(errors) {
  const codes = (errors || []).map((e) => e.extensions && e.extensions.code);
  if (!codes.some((code) => code === "FORBIDDEN" || code === "UNAUTHENTICATED")) return false;
  $("sign-in-needed").hidden = false;
  $("results").hidden = true;
  $("calc-status").hidden = true;
  $("connection").hidden = true;
  root.setAttribute("aria-busy", "false");
  return true;
}

function connectionState(name) {
  const line = $("connection");
  root.dataset.connection = name;
  // Once the viewer must sign in, the connection's ups and downs are no longer news.
  line.hidden = name === "open" || !$("sign-in-needed").hidden;
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
      request(HISTORY, { id: decisionId }).then((data) => {
        if (!data.decision) return;
        data.decision.resultsHistory.edges.forEach(({ node }) => addToHistory(node));
        showTimeline();
      }, report);
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
  addToHistory(data.decisionResults);
  showTimeline();
  if (data.decisionResults.isFinal) {
    request(DECISION, { id: decisionId }).then((d) => d.decision && showDecision(d.decision), report);
  }
});
// Only a signed-in visitor has a ballot to follow. A refusal (not a member) or its end (signed
// out since) hides it without the sign-in notice: for a non-member the results still show.
if (root.dataset.signedIn === "true") {
  client.subscribe({ query: MY_BALLOT, variables: { id: decisionId } }, {
    next: ({ data }) => (data && data.myBallot ? showMyBallot(data.myBallot) : hideMyBallot()),
    error: hideMyBallot,
    complete: () => {},
  });
}
window.crowdvoteWidget = { client, state };
