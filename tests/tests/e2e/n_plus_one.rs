//! Nested fields are batched per request (DataLoader): the number of store statements for a
//! nested query does not grow with the number of series it returns.

use almanac_e2e::{engine_tests, TestApp};
use serde_json::json;

const SERIES_TREE: &str = "query($c: ID!) {
  calendar(id: $c) { series(first: 200) { edges { node { id calendar { id name } continuations { id } providerCopies { fidelity } exceptions { recurrenceId } lineage { rootSeriesId } } } } } }";
const OCCURRENCE_TREE: &str = "query($cs: [ID!]!) {
  occurrences(calendarIds: $cs, from: \"2026-01-05T00:00:00Z\", to: \"2026-01-06T00:00:00Z\", first: 1000) { edges { node { id series { id calendar { name links { id } } continuations { id } providerCopies { fidelity } } } } } }";

/// Statements and results of each nested query.
async fn statements_for(app: &TestApp, cal: &str) -> (u64, u64, usize) {
    let before = app.state.store.statements_executed();
    let d = app.ok(SERIES_TREE, json!({ "c": cal })).await;
    let n = d["calendar"]["series"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    let mid = app.state.store.statements_executed();
    let d = app.ok(OCCURRENCE_TREE, json!({ "cs": [cal] })).await;
    assert_eq!(d["occurrences"]["edges"].as_array().map_or(0, Vec::len), n);
    (mid - before, app.state.store.statements_executed() - mid, n)
}

async fn a_nested_query_costs_the_same_statements_for_10_and_100_series(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let add = |i: usize| json!({ "title": format!("s{i}"), "start": "2026-01-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } });
    for i in 0..10 {
        app.create_series(&cal, add(i)).await.expect("series");
    }
    let (ten_series, ten_occ, n) = statements_for(&app, &cal).await;
    assert_eq!(n, 10);
    for i in 10..100 {
        app.create_series(&cal, add(i)).await.expect("series");
    }
    let (hundred_series, hundred_occ, n) = statements_for(&app, &cal).await;
    assert_eq!(n, 100);
    assert_eq!(
        ten_series, hundred_series,
        "statements of the series tree grew with the number of series"
    );
    assert_eq!(
        ten_occ, hundred_occ,
        "statements of the occurrence tree grew with the number of series"
    );
    assert!(
        hundred_series <= 6 && hundred_occ <= 6,
        "{hundred_series} and {hundred_occ} statements"
    );
}

engine_tests!(a_nested_query_costs_the_same_statements_for_10_and_100_series);
