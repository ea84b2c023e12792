// Negative control for tests/tests/npm_clients.rs: `Lineage` has no id and is not a Node, so
// relay-compiler must refuse to make a fragment on it refetchable.
declare const graphql: (s: TemplateStringsArray) => unknown;

export const lineage = graphql`
  fragment NotNode_lineage on Lineage @refetchable(queryName: "NotNodeLineageRefetchQuery") {
    rootSeriesId
  }
`;
