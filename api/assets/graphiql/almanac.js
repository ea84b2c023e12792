// Starts GraphiQL on the page served at /graphql. Loaded as a file, not inline, so the page's
// Content-Security-Policy can forbid inline scripts. Endpoints are relative to the page, so a
// server behind a path prefix works unchanged.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = new URL(root.getAttribute("data-endpoint"), window.location.href);
  var subscriptions = new URL(root.getAttribute("data-subscription-endpoint"), window.location.href);
  subscriptions.protocol = subscriptions.protocol === "https:" ? "wss:" : "ws:";
  // Headers typed in GraphiQL's header editor (Authorization: Bearer …) also go into the
  // WebSocket's connection_init payload, where the server reads the credential.
  var fetcher = GraphiQL.createFetcher({ url: endpoint.toString(), subscriptionUrl: subscriptions.toString() });
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true }));
})();
