//! Abuse is refused before resolvers run, with typed errors, and the server stays responsive.

use almanac_api::config::Settings;
use almanac_e2e::{engine_tests, engine_tests_with, TestApp};
use serde_json::{json, Value};
use std::sync::Mutex;

async fn post_raw(app: &TestApp, body: String) -> (u16, Value) {
    let res = app.http.post(format!("{}/graphql", app.url)).header("content-type", "application/json").body(body).send().await.expect("sent");
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn floods_are_refused_before_execution_and_the_server_stays_responsive(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let statements = app.state.store.statements_executed();
    let aliases: String = (0..10_000).map(|i| format!("a{i}: calendar(id: \"{cal}\") {{ id }} ")).collect();
    let flood = json!({ "query": format!("{{ {aliases} }}") }).to_string();
    let mut deep = String::from("id");
    for _ in 0..30 {
        deep = format!("calendar {{ series {{ edges {{ node {{ {deep} }} }} }} }}");
    }
    let deep = json!({ "query": format!("{{ calendars {{ edges {{ node {{ series {{ edges {{ node {{ {deep} }} }} }} }} }} }} }}") }).to_string();
    let batch = Value::Array(vec![json!({ "query": "{ viewer { canWrite } }" }); 11]).to_string();
    let big = " ".repeat(3 * 1024 * 1024);
    let (flood_r, deep_r, batch_r, big_r, normal) = tokio::join!(
        post_raw(&app, flood),
        post_raw(&app, deep),
        post_raw(&app, batch),
        post_raw(&app, big),
        app.graphql("query($id: ID!) { calendar(id: $id) { name } }", json!({ "id": cal })),
    );
    assert_eq!(flood_r.1["errors"][0]["extensions"]["code"], json!("QUERY_TOO_COMPLEX"), "{}", flood_r.1);
    assert_eq!(deep_r.1["errors"][0]["extensions"]["code"], json!("QUERY_TOO_COMPLEX"));
    assert_eq!((batch_r.0, batch_r.1["errors"][0]["extensions"]["code"].clone()), (400, json!("BATCH_TOO_LARGE")));
    assert_eq!((big_r.0, big_r.1["errors"][0]["extensions"]["code"].clone()), (413, json!("PAYLOAD_TOO_LARGE")));
    assert_eq!(normal["data"]["calendar"]["name"], json!("c"), "a normal request is served meanwhile");
    // Only the normal request (one calendar lookup) reached the store: the rest never executed.
    assert_eq!(app.state.store.statements_executed() - statements, 1);
    // A small batch runs, answering in order.
    let (status, body) = post_raw(&app, json!([{ "query": "{ viewer { canWrite } }" }, { "query": "{ calendars { edges { cursor } } }" }]).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["viewer"]["canWrite"], json!(true));
    assert!(body[1]["data"]["calendars"]["edges"].is_array());
}

fn limited(s: &mut Settings) {
    s.rate_limit_per_minute = 5;
}

async fn a_credential_over_its_rate_is_told_to_wait(app: TestApp) {
    let (_, key) = app.organization_with_key("acme", "read").await;
    for _ in 0..5 {
        assert!(app.graphql_as(Some(&key), "{ viewer { canWrite } }", json!({})).await["errors"].is_null());
    }
    let res = app.http.post(format!("{}/graphql", app.url)).bearer_auth(&key).json(&json!({ "query": "{ viewer { canWrite } }" })).send().await.expect("sent");
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], json!("RATE_LIMITED"));
    // Another credential has its own budget.
    let (_, other) = app.organization_with_key("other", "read").await;
    assert!(app.graphql_as(Some(&other), "{ viewer { canWrite } }", json!({})).await["errors"].is_null());
}

/// Kept to one second a day on a 7-second lattice: a few occurrences a week, each found through
/// thousands of empty lattice steps; a million of them would run past the year 9999.
const SPARSE: &str = "FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11";

async fn a_rule_past_its_budget_is_refused_and_a_light_write_is_not_held_behind_it(app: TestApp) {
    let heavy_cal = app.create_calendar("heavy", "UTC").await;
    // The same rule with a COUNT it reaches within the budget is stored, ending at its 100th.
    let (kept, version) = app
        .create_series(&heavy_cal, json!({ "title": "sparse", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": format!("{SPARSE};COUNT=100") } }))
        .await
        .expect("a sparse rule with a small COUNT");
    let starts = app.starts_utc(&heavy_cal, "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z").await;
    assert_eq!(starts.len(), 100, "{starts:?}");

    let heavy = json!({ "title": "heavy", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": format!("{SPARSE};COUNT=1000000") } });
    let events: String = (0..10)
        .map(|i| format!("BEGIN:VEVENT\r\nUID:heavy-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDURATION:PT1M\r\nRRULE:{SPARSE};COUNT=100000\r\nSUMMARY:heavy {i}\r\nEND:VEVENT\r\n"))
        .collect();
    let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//almanac//abuse//EN\r\n{events}END:VCALENDAR\r\n");
    let update = "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { id } } }";
    let import = "mutation($i: ImportIcsInput!) { importIcs(input: $i) { series { id } skipped { uid reason } } }";
    let finished = Mutex::new(Vec::new());
    let done = |what: &'static str| finished.lock().expect("the order").push(what);
    let (created, updated, imported, light) = tokio::join!(
        async {
            let r = app.create_series(&heavy_cal, heavy.clone()).await;
            done("heavy create");
            r
        },
        async {
            let r = app.graphql(update, json!({ "i": { "id": kept, "expectedVersion": version, "recurrence": { "rrule": format!("{SPARSE};COUNT=1000000") } } })).await;
            done("heavy update");
            r
        },
        async {
            let r = app.graphql(import, json!({ "i": { "calendarId": heavy_cal, "ics": ics } })).await;
            done("heavy import");
            r
        },
        async {
            // Sent once the heavy requests are on their way. A write that builds no schedule:
            // one that does waits for a compute slot like the heavy ones (see services::compute).
            tokio::task::yield_now().await;
            let r = app.graphql("mutation($i: CreateCalendarInput!) { createCalendar(input: $i) { calendar { name } } }", json!({ "i": { "name": "light", "timeZone": "UTC" } })).await;
            done("light write");
            r
        },
    );
    let order = finished.into_inner().expect("the order");
    assert_eq!(order[0], "light write", "order: {order:?}");
    assert_eq!(light["data"]["createCalendar"]["calendar"]["name"], json!("light"), "{light}");
    let created = created.expect_err("the heavy rule is refused");
    assert_eq!(created.code, "RECURRENCE_INVALID", "{}", created.message);
    assert!(created.message.contains("UNTIL"), "the refusal says what to do instead: {}", created.message);
    assert_eq!(updated["errors"][0]["extensions"]["code"], json!("RECURRENCE_INVALID"), "{updated}");
    let imported = &imported["data"]["importIcs"];
    assert_eq!(imported["series"], json!([]), "{imported}");
    let skipped = imported["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 10, "{imported}");
    assert!(skipped.iter().all(|s| s["reason"].as_str().is_some_and(|r| r.contains("steps of its rule"))), "{imported}");
    // Nothing changed: the stored series keeps its version and its 100 occurrences.
    assert_eq!(app.series_count(&heavy_cal).await, 1);
    let now = app.ok("query($id: ID!) { series(id: $id) { version } }", json!({ "id": kept })).await;
    assert_eq!(now["series"]["version"], json!(version));
    assert_eq!(app.starts_utc(&heavy_cal, "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z").await, starts);
}

/// The first `n + 1` occurrence starts from `year` on as windowed queries see them, walking
/// 400-year windows (the longest a query may ask for) to the end of supported time.
async fn windowed_starts(app: &TestApp, calendar: &str, year: i32, n: usize) -> Vec<String> {
    let mut starts: Vec<String> = Vec::new();
    let mut from = year;
    while from < 9999 && starts.len() <= n {
        let to = (from + 400).min(9999);
        for s in app.starts_utc(calendar, &format!("{from:04}-01-01T00:00:00Z"), &format!("{to:04}-01-01T00:00:00Z")).await {
            if !starts.contains(&s) {
                starts.push(s);
            }
        }
        from = to;
    }
    starts.truncate(n + 1);
    starts
}

async fn upcoming_occurrences_are_found_at_any_distance(app: TestApp) {
    let upcoming = "query($s: ID!, $from: DateTime!) { upcomingOccurrences(seriesId: $s, from: $from, first: 3) { edges { node { start } } pageInfo { hasNextPage } } }";
    let cases = [
        ("2500-01-01T00:00:00", "FREQ=YEARLY", 2025),
        ("2026-01-01T00:00:00", "FREQ=YEARLY", 1000),
        ("2026-01-01T00:00:00", "FREQ=MINUTELY;INTERVAL=100000;BYMONTH=2;BYMONTHDAY=29", 2026),
        // Ends after two occurrences, centuries away: the page is short and says so.
        ("2900-03-01T00:00:00", "FREQ=YEARLY;INTERVAL=300;COUNT=2", 2026),
    ];
    for (i, (start, rrule, from_year)) in cases.into_iter().enumerate() {
        let cal = app.create_calendar(&format!("far {i}"), "UTC").await;
        let (series, _) = app
            .create_series(&cal, json!({ "title": "far", "start": start, "duration": "PT1H", "recurrence": { "rrule": rrule } }))
            .await
            .expect("series");
        let windowed = windowed_starts(&app, &cal, from_year, 3).await;
        assert!(!windowed.is_empty(), "{rrule}: the windowed query finds occurrences");
        let d = app.ok(upcoming, json!({ "s": series, "from": format!("{from_year:04}-01-01T00:00:00Z") })).await;
        let got: Vec<String> = d["upcomingOccurrences"]["edges"].as_array().expect("edges").iter().map(|e| almanac_e2e::to_utc(e["node"]["start"].as_str().expect("start"))).collect();
        assert_eq!(got, windowed.iter().take(3).cloned().collect::<Vec<_>>(), "{rrule} from {from_year}");
        assert_eq!(d["upcomingOccurrences"]["pageInfo"]["hasNextPage"], json!(windowed.len() > 3), "{rrule} from {from_year}");
    }
}

mod floods {
    use super::*;
    engine_tests!(floods_are_refused_before_execution_and_the_server_stays_responsive);
}
mod rates {
    use super::*;
    engine_tests_with!(limited; a_credential_over_its_rate_is_told_to_wait);
}
mod rule_budget {
    use super::*;
    engine_tests!(a_rule_past_its_budget_is_refused_and_a_light_write_is_not_held_behind_it);
}
mod far_upcoming {
    use super::*;
    engine_tests!(upcoming_occurrences_are_found_at_any_distance);
}
