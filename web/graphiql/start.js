'use strict';
// Starts GraphiQL against the /graphql beside this page (relative, so a path prefix works).
(function () {
  var fetcher = GraphiQL.createFetcher({ url: new URL('graphql', window.location.href).href });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, { fetcher: fetcher }));
})();
