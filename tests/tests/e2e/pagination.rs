//! Relay cursor connections in both directions: on every connection, paging backwards with
//! `last`/`before` visits exactly what paging forwards with `first`/`after` does, in the same
//! order, with `hasPreviousPage`/`hasNextPage` right at both ends and between cursors; and the
//! arguments are checked (both directions at once, sizes, foreign cursors).

use almanac_e2e::{engine_tests, TestApp};
use serde_json::{json, Value};

/// A connection to page: its query (taking $first, $after, $last, $before and `extra`
/// variables) and where the connection is in the answer.
struct Conn<'a> {
    query: String,
    path: &'a [&'a str],
    extra: Value,
}

fn at<'v>(mut v: &'v Value, path: &[&str]) -> &'v Value {
    for p in path {
        v = &v[*p];
    }
    v
}

impl Conn<'_> {
    async fn page(
        &self,
        app: &TestApp,
        first: Option<i64>,
        after: &Value,
        last: Option<i64>,
        before: &Value,
    ) -> Value {
        let mut vars = self.extra.clone();
        vars["first"] = json!(first);
        vars["after"] = after.clone();
        vars["last"] = json!(last);
        vars["before"] = before.clone();
        let d = app.ok(&self.query, vars).await;
        at(&d, self.path).clone()
    }

    /// Every node id, paging forwards by `n`; checks the page info on the way.
    async fn forwards(&self, app: &TestApp, n: i64) -> (Vec<String>, Vec<String>) {
        let (mut ids, mut cursors, mut after) = (Vec::new(), Vec::new(), Value::Null);
        loop {
            let c = self.page(app, Some(n), &after, None, &Value::Null).await;
            assert_eq!(
                c["pageInfo"]["hasPreviousPage"],
                json!(!after.is_null()),
                "forward page after {after}: {c}"
            );
            let edges = c["edges"].as_array().expect("edges");
            assert!(edges.len() as i64 <= n, "{c}");
            ids.extend(
                edges
                    .iter()
                    .map(|e| e["node"]["id"].as_str().expect("id").to_string()),
            );
            cursors.extend(
                edges
                    .iter()
                    .map(|e| e["cursor"].as_str().expect("cursor").to_string()),
            );
            if c["pageInfo"]["hasNextPage"] != json!(true) {
                return (ids, cursors);
            }
            assert_eq!(
                edges.len() as i64,
                n,
                "a page short of n says there is no next page: {c}"
            );
            after = c["pageInfo"]["endCursor"].clone();
        }
    }

    /// Every node id, paging backwards by `n` from the end.
    async fn backwards(&self, app: &TestApp, n: i64) -> Vec<String> {
        let (mut ids, mut before) = (Vec::<String>::new(), Value::Null);
        loop {
            let c = self.page(app, None, &Value::Null, Some(n), &before).await;
            assert_eq!(
                c["pageInfo"]["hasNextPage"],
                json!(!before.is_null()),
                "backward page before {before}: {c}"
            );
            let edges = c["edges"].as_array().expect("edges");
            let mut page: Vec<String> = edges
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_string())
                .collect();
            page.append(&mut ids);
            ids = page;
            if c["pageInfo"]["hasPreviousPage"] != json!(true) {
                return ids;
            }
            assert_eq!(edges.len() as i64, n, "{c}");
            assert_eq!(c["pageInfo"]["startCursor"], edges[0]["cursor"], "{c}");
            before = c["pageInfo"]["startCursor"].clone();
        }
    }

    /// Forwards and backwards agree, cursors are stable, and slices between two cursors are right.
    async fn check(&self, app: &TestApp, n: i64, at_least: usize) {
        let (ids, cursors) = self.forwards(app, n).await;
        assert!(ids.len() >= at_least, "{} nodes: {ids:?}", ids.len());
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "a node twice: {ids:?}");
        assert_eq!(
            self.backwards(app, n).await,
            ids,
            "backwards differs from forwards"
        );
        // The same list in one page has the same cursors (they do not depend on the page).
        let all = self
            .page(
                app,
                Some(ids.len() as i64),
                &Value::Null,
                None,
                &Value::Null,
            )
            .await;
        let again: Vec<String> = all["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["cursor"].as_str().expect("cursor").to_string())
            .collect();
        assert_eq!(again, cursors);
        assert_eq!(
            all["pageInfo"],
            json!({ "hasPreviousPage": false, "hasNextPage": false, "startCursor": cursors[0], "endCursor": cursors[cursors.len() - 1] })
        );
        // Between two cursors, from either end.
        let (lo, hi) = (1, ids.len() - 2);
        let between = &ids[lo + 1..hi];
        let take = 2.min(between.len());
        let c = self
            .page(app, Some(2), &json!(cursors[lo]), None, &json!(cursors[hi]))
            .await;
        let got: Vec<&str> = c["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            got,
            between[..take]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "{c}"
        );
        assert_eq!(
            (
                c["pageInfo"]["hasPreviousPage"].clone(),
                c["pageInfo"]["hasNextPage"].clone()
            ),
            (json!(true), json!(true)),
            "{c}"
        );
        let c = self
            .page(app, None, &json!(cursors[lo]), Some(2), &json!(cursors[hi]))
            .await;
        let got: Vec<&str> = c["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id"))
            .collect();
        assert_eq!(
            got,
            between[between.len() - take..]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "{c}"
        );
        assert_eq!(
            (
                c["pageInfo"]["hasPreviousPage"].clone(),
                c["pageInfo"]["hasNextPage"].clone()
            ),
            (json!(true), json!(true)),
            "{c}"
        );
        // The last n of everything: nothing after, something before.
        let c = self
            .page(app, None, &Value::Null, Some(2), &Value::Null)
            .await;
        assert_eq!(
            (
                c["pageInfo"]["hasPreviousPage"].clone(),
                c["pageInfo"]["hasNextPage"].clone()
            ),
            (json!(true), json!(false)),
            "{c}"
        );
        assert_eq!(
            c["edges"][1]["cursor"],
            json!(cursors[cursors.len() - 1]),
            "{c}"
        );
    }
}

const ARGS: &str = "$first: Int, $after: String, $last: Int, $before: String";
const PAGE: &str = "first: $first, after: $after, last: $last, before: $before";
const SHAPE: &str =
    "edges { cursor node { id } } pageInfo { hasPreviousPage hasNextPage startCursor endCursor }";

async fn fixture(app: &TestApp) -> (String, String) {
    for i in 0..6 {
        app.create_calendar(&format!("extra {i}"), "UTC").await;
    }
    let cal = app.create_calendar("paged", "America/New_York").await;
    let (daily, _) = app.create_series(&cal, json!({ "title": "daily", "start": "2026-03-02T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("daily");
    // Same starts as `daily` on some days: ties are ordered by series, then recurrence id.
    app.create_series(&cal, json!({ "title": "tied", "start": "2026-03-04T09:00:00", "duration": "PT30M", "recurrence": { "rrule": "FREQ=DAILY;INTERVAL=2;COUNT=6" } })).await.expect("tied");
    app.create_series(&cal, json!({ "title": "hourly", "start": "2026-03-08T01:00:00", "duration": "PT10M", "recurrence": { "rrule": "FREQ=HOURLY;INTERVAL=3;COUNT=12" } })).await.expect("hourly");
    for i in 0..5 {
        app.create_series(&cal, json!({ "title": format!("single {i}"), "start": format!("2026-03-0{}T12:00:00", i + 3), "duration": "PT1H" })).await.expect("single");
    }
    (cal, daily)
}

async fn every_connection_pages_backwards_to_what_it_shows_forwards(app: TestApp) {
    let (cal, daily) = fixture(&app).await;
    let window = json!({ "cal": cal, "cals": [cal], "from": "2026-03-01T00:00:00Z", "to": "2026-03-15T00:00:00Z", "series": daily });
    let conns = [
        (Conn { query: format!("query({ARGS}) {{ calendars({PAGE}) {{ {SHAPE} }} }}"), path: &["calendars"], extra: json!({}) }, 7),
        (Conn { query: format!("query($cal: ID!, {ARGS}) {{ calendar(id: $cal) {{ series({PAGE}) {{ {SHAPE} }} }} }}"), path: &["calendar", "series"], extra: window.clone() }, 8),
        (Conn { query: format!("query($cals: [ID!]!, $from: DateTime!, $to: DateTime!, {ARGS}) {{ occurrences(calendarIds: $cals, from: $from, to: $to, {PAGE}) {{ {SHAPE} }} }}"), path: &["occurrences"], extra: window.clone() }, 30),
        (Conn { query: format!("query($series: ID!, $from: DateTime!, $to: DateTime!, {ARGS}) {{ series(id: $series) {{ occurrences(from: $from, to: $to, {PAGE}) {{ {SHAPE} }} }} }}"), path: &["series", "occurrences"], extra: window.clone() }, 12),
        (Conn { query: format!("query($series: ID!, $from: DateTime!, {ARGS}) {{ upcomingOccurrences(seriesId: $series, from: $from, {PAGE}) {{ {SHAPE} }} }}"), path: &["upcomingOccurrences"], extra: json!({ "series": daily, "from": "2026-03-01T00:00:00Z" }) }, 0),
    ];
    for (conn, at_least) in &conns[..4] {
        for n in [1, 3, 7] {
            conn.check(&app, n, *at_least).await;
        }
    }
    // A series that never ends: page backwards from a cursor far in the future.
    let upcoming = &conns[4].0;
    let (ids, cursors) = {
        let c = upcoming
            .page(&app, Some(200), &Value::Null, None, &Value::Null)
            .await;
        assert_eq!(c["pageInfo"]["hasNextPage"], json!(true), "{c}");
        let edges = c["edges"].as_array().expect("edges").clone();
        (
            edges
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_string())
                .collect::<Vec<_>>(),
            edges
                .iter()
                .map(|e| e["cursor"].clone())
                .collect::<Vec<_>>(),
        )
    };
    let c = upcoming
        .page(&app, None, &Value::Null, Some(5), &cursors[150])
        .await;
    let got: Vec<&str> = c["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        got,
        ids[145..150].iter().map(String::as_str).collect::<Vec<_>>(),
        "{c}"
    );
    assert_eq!(
        (
            c["pageInfo"]["hasPreviousPage"].clone(),
            c["pageInfo"]["hasNextPage"].clone()
        ),
        (json!(true), json!(true)),
        "{c}"
    );
    // The last of a forever series' 400-year window exist and are found without walking there.
    let c = upcoming
        .page(&app, None, &Value::Null, Some(3), &Value::Null)
        .await;
    assert_eq!(
        (
            c["pageInfo"]["hasPreviousPage"].clone(),
            c["pageInfo"]["hasNextPage"].clone()
        ),
        (json!(true), json!(false)),
        "{c}"
    );
    assert_eq!(c["edges"].as_array().map(Vec::len), Some(3), "{c}");
}

async fn paging_arguments_are_checked(app: TestApp) {
    let (cal, daily) = fixture(&app).await;
    let occ = format!("query($cals: [ID!]!, {ARGS}) {{ occurrences(calendarIds: $cals, from: \"2026-03-01T00:00:00Z\", to: \"2026-03-15T00:00:00Z\", {PAGE}) {{ {SHAPE} }} }}");
    let cals = format!("query({ARGS}) {{ calendars({PAGE}) {{ {SHAPE} }} }}");
    let series = format!(
        "query($cal: ID!, {ARGS}) {{ calendar(id: $cal) {{ series({PAGE}) {{ {SHAPE} }} }} }}"
    );
    let upcoming = format!("query($s: ID!, {ARGS}) {{ upcomingOccurrences(seriesId: $s, from: \"2026-03-01T00:00:00Z\", {PAGE}) {{ {SHAPE} }} }}");
    let v = |extra: Value| {
        let mut base = json!({ "cals": [cal], "cal": cal, "s": daily });
        for (k, val) in extra.as_object().expect("object") {
            base[k] = val.clone();
        }
        base
    };
    for q in [&occ, &cals, &series, &upcoming] {
        let e = app.err(q, v(json!({ "first": 2, "last": 2 }))).await;
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("BAD_USER_INPUT", Some("last")),
            "{q}: {}",
            e.message
        );
        let e = app.err(q, v(json!({ "last": 0 }))).await;
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("BAD_USER_INPUT", Some("last")),
            "{q}: {}",
            e.message
        );
        let e = app
            .err(q, v(json!({ "last": 2, "before": "bm90IGEgY3Vyc29y" })))
            .await;
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("BAD_USER_INPUT", Some("before")),
            "{q}: {}",
            e.message
        );
    }
    // The page-size limit holds for `last` as for `first`.
    for (q, max) in [(&occ, 1000), (&cals, 200), (&series, 200), (&upcoming, 200)] {
        assert_eq!(
            app.err(q, v(json!({ "last": max + 1 }))).await.code,
            "RANGE_TOO_LARGE",
            "{q}"
        );
        assert_eq!(
            app.err(q, v(json!({ "first": max + 1 }))).await.code,
            "RANGE_TOO_LARGE",
            "{q}"
        );
        assert!(
            app.graphql(q, v(json!({ "last": max }))).await["errors"].is_null(),
            "{q}"
        );
    }
    // A calendar cursor is not an occurrence cursor, nor the other way round.
    let d = app.ok(&cals, v(json!({ "first": 1 }))).await;
    let cal_cursor = d["calendars"]["edges"][0]["cursor"].clone();
    let e = app
        .err(&occ, v(json!({ "last": 1, "before": cal_cursor })))
        .await;
    assert_eq!(
        (e.code.as_str(), e.field.as_deref()),
        ("BAD_USER_INPUT", Some("before")),
        "{}",
        e.message
    );
    let d = app.ok(&occ, v(json!({ "first": 1 }))).await;
    let occ_cursor = d["occurrences"]["edges"][0]["cursor"].clone();
    let e = app
        .err(&cals, v(json!({ "last": 1, "before": occ_cursor })))
        .await;
    assert_eq!(
        (e.code.as_str(), e.field.as_deref()),
        ("BAD_USER_INPUT", Some("before")),
        "{}",
        e.message
    );
}

engine_tests!(
    every_connection_pages_backwards_to_what_it_shows_forwards,
    paging_arguments_are_checked
);
