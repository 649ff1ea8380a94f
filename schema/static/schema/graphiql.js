// GraphiQL for CrowdVote, from vendored files only: no CDN, works offline.
// Queries and mutations go over HTTP; subscriptions over graphql-transport-ws (graphql-ws is
// bundled in graphiql.min.js). Headers typed in the Headers pane go with both: on the
// websocket they become the connection_init payload, which is where the API reads a token.
(function () {
  "use strict";

  const SIGN_IN = `# Sign in with a magic link; use the token in the other tabs.
#
# 1. Put your address in Variables
#      {"email": "you@example.org"}
#    and run RequestMagicLink. The link comes by email
#    (in development the server prints the email instead).
# 2. Copy the token from the link (/sign-in/?token=<token>)
#    into Variables, {"token": "<token>"}, and run SignIn.
#    Its answer's "token" is your API token.
# 3. In the other tabs, set Headers to
#      {"Authorization": "Bearer <token>"}
#    SignIn also signs this browser in with a cookie: with
#    Headers set to {}, this page then acts as you too.
# Scripts get a token without email:
#   python manage.py issue_token NAME
mutation RequestMagicLink($email: String!) {
  requestMagicLink(email: $email) {
    ok
    errors { code field message }
  }
}

mutation SignIn($token: String!) {
  signInWithMagicLink(token: $token) {
    token
    user { id username }
    errors { code field message }
  }
}
`;

  const CAST_BALLOT = `# Cast a ballot, or change yours: 0 to 5 stars a choice.
#
# Headers: {"Authorization": "Bearer <token>"}
#   (the RequestMagicLink tab shows how to get a token).
# Variables: "decisionId" is the ID of an OPEN decision,
#   each "choiceId" the ID of one of its choices: run
#   OpenDecisions below to find them. A choice left out
#   gets 0 stars.
# The answer lists the recalculations your ballot queued,
# with a message to show; the DecisionResults tab shows
# their results live.
mutation CastBallot($decisionId: ID!, $stars: [StarsInput!]!, $tags: [String!]) {
  castBallot(input: {decisionId: $decisionId, stars: $stars, tags: $tags}) {
    ballot { tags stars { choice { title } stars } }
    calculations { id status }
    message
    errors { code field message }
  }
}

query OpenDecisions {
  communities(first: 20) {
    edges { node { id name decisions(status: OPEN, first: 20) {
      edges { node { id title closesAt choices { id title } } }
    } } }
  }
}
`;

  const FOLLOW = `# Follow a member on some tags. While you cast no ballot
# yourself, the ballots of those you follow count for you
# on decisions whose tags match; tags [] means every topic.
#
# Headers: {"Authorization": "Bearer <token>"}
#   (the RequestMagicLink tab shows how to get a token).
# Variables: "communityId" is your community's ID and
#   "followeeId" the Membership ID of the member to follow
#   (run Members below); tags are lower-case words such as
#   "budget". Following someone again updates the tags.
mutation Follow($communityId: ID!, $followeeId: ID!, $tags: [String!]) {
  follow(input: {communityId: $communityId, followeeId: $followeeId, tags: $tags}) {
    following { followee { displayName } tags order }
    calculations { id status }
    message
    errors { code field message }
  }
}

query Members($communityId: ID!) {
  community(id: $communityId) {
    name
    members(first: 50) { edges { node { id displayName role } } }
  }
}
`;

  const RESULTS = `# Watch a decision's results live: the current result
# at once, then each new one. Run this, then cast a ballot
# in the CastBallot tab: the new result appears.
#
# Headers: {"Authorization": "Bearer <token>"}
#   On the websocket they go in the connection_init
#   payload. A community whose resultsArePublic is true
#   needs no token: set Headers to {}.
# Variables: {"decisionId": "<the decision's ID>"}
#   (OpenDecisions in the CastBallot tab lists them).
subscription DecisionResults($decisionId: ID!) {
  decisionResults(decisionId: $decisionId) {
    calculationId
    isFinal
    calculatedAt
    winner { title }
    tiedChoices { title }
    tiebreaks
    scores { choice { title } totalStars averageStars fiveStarCount }
    runoff { first { title } second { title } preferFirst preferSecond noPreference }
    participation { members directBallots delegatedBallots abstentions countedBallots }
  }
}
`;

  const BEARER = JSON.stringify({ Authorization: "Bearer <token>" }, null, 2);
  const json = (value) => JSON.stringify(value, null, 2);
  const DEFAULT_TABS = [
    { query: SIGN_IN, variables: json({ email: "you@example.org", token: "" }), headers: "{}" },
    {
      query: CAST_BALLOT,
      variables: json({
        decisionId: "<decision ID>",
        stars: [{ choiceId: "<choice ID>", stars: 5 }, { choiceId: "<choice ID>", stars: 2 }],
        tags: ["budget"],
      }),
      headers: BEARER,
    },
    {
      query: FOLLOW,
      variables: json({ communityId: "<community ID>", followeeId: "<membership ID>", tags: ["budget"] }),
      headers: BEARER,
    },
    { query: RESULTS, variables: json({ decisionId: "<decision ID>" }), headers: BEARER },
  ];

  const url = window.location.href.split(/[?#]/)[0];
  const subscriptionUrl = url.replace(/^http/, "ws");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');

  // Read the CSRF cookie per request: signing in rotates it.
  function fetchWithCsrf(input, init) {
    const headers = new Headers((init && init.headers) || {});
    const token = Cookies.get("csrftoken") || (csrfMeta && csrfMeta.content);
    if (token) headers.set("X-CSRFToken", token);
    return window.fetch(input, { ...init, headers, credentials: "same-origin" });
  }

  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl, fetch: fetchWithCsrf });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  // GraphiQL fills the first tab's Variables and Headers panes from these props only; pass
  // them only before it has stored tabs, or it would add a tab for them on every visit.
  const firstVisit = !window.localStorage.getItem("graphiql:tabState");
  const firstTab = firstVisit ? { variables: DEFAULT_TABS[0].variables, headers: DEFAULT_TABS[0].headers } : {};

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      ...firstTab,
      fetcher,
      plugins: [explorer],
      defaultTabs: DEFAULT_TABS,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // Headers hold bearer tokens: keep them out of localStorage.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }),
  );
})();
