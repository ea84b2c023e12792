//! Series lifecycle through GraphQL: create, read, update the whole series, delete; optimistic
//! concurrency; the HTTP surface (GET queries, GraphiQL).

use almanac_e2e::{engine_tests, TestApp};
use serde_json::json;

const UPDATE: &str = "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { id version title start duration timeZone recurrence { rrule exdates } } } }";
const DELETE: &str =
    "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }";
const GET: &str = "query($id: ID!) { series(id: $id) { id version title description kind start end duration timeZone allDay recurrence { rrule rdates exdates } calendar { id name } } }";

async fn a_series_reads_back_as_it_was_written(app: TestApp) {
    let cal = app.create_calendar("Rooms", "Europe/Berlin").await;
    let (id, version) = app
        .create_series(
            &cal,
            json!({
                "kind": "BLOCKED", "title": "Maintenance", "description": "Monthly",
                "start": "2026-01-15T18:00:00", "end": "2026-01-15T20:30:00",
                "recurrence": { "rrule": "RRULE:freq=monthly;byday=3th", "rdates": ["2026-02-01T18:00:00"], "exdates": ["2026-03-19T18:00:00"] }
            }),
        )
        .await
        .expect("created");
    assert_eq!(version, 1);
    let s = &app.ok(GET, json!({ "id": id })).await["series"];
    assert_eq!(s["kind"], json!("BLOCKED"));
    assert_eq!(s["title"], json!("Maintenance"));
    assert_eq!(s["description"], json!("Monthly"));
    assert_eq!(s["start"], json!("2026-01-15T18:00:00"));
    assert_eq!(s["end"], json!("2026-01-15T20:30:00"));
    assert_eq!(
        s["timeZone"],
        json!("Europe/Berlin"),
        "the calendar's zone is the default"
    );
    assert_eq!(
        s["recurrence"]["rrule"],
        json!("FREQ=MONTHLY;BYDAY=3TH"),
        "stored in canonical form"
    );
    assert_eq!(s["recurrence"]["rdates"], json!(["2026-02-01T18:00:00"]));
    assert_eq!(s["recurrence"]["exdates"], json!(["2026-03-19T18:00:00"]));
    assert_eq!(s["calendar"]["name"], json!("Rooms"));
    // The third Thursday in Jan, the RDATE, Feb's; March's is excluded; April's.
    let days: Vec<String> = app
        .all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z", 100)
        .await
        .iter()
        .map(|o| o["localStart"].as_str().unwrap_or_default()[..10].to_string())
        .collect();
    assert_eq!(
        days,
        ["2026-01-15", "2026-02-01", "2026-02-19", "2026-04-16"]
    );
}

async fn updating_the_whole_series_changes_every_occurrence_and_bumps_the_version(app: TestApp) {
    let cal = app.create_calendar("c", "America/New_York").await;
    let (id, v) = app
        .create_series(&cal, json!({ "title": "Standup", "start": "2026-01-05T09:00:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO" } }))
        .await
        .expect("created");
    let d = app.ok(UPDATE, json!({ "i": { "id": id, "expectedVersion": v, "title": "Sync", "start": "2026-01-05T10:30:00" } })).await;
    assert_eq!(d["updateSeries"]["series"]["version"], json!(2));
    assert_eq!(d["updateSeries"]["series"]["title"], json!("Sync"));
    assert_eq!(
        d["updateSeries"]["series"]["duration"],
        json!("PT15M"),
        "unchanged fields keep their values"
    );
    let occ = app
        .all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 100)
        .await;
    assert_eq!(occ.len(), 4);
    assert!(occ.iter().all(|o| o["title"] == json!("Sync")
        && o["localStart"]
            .as_str()
            .is_some_and(|l| l.ends_with("T10:30:00"))));
    // Removing the recurrence leaves one occurrence.
    let d = app
        .ok(
            UPDATE,
            json!({ "i": { "id": id, "expectedVersion": 2, "recurrence": null } }),
        )
        .await;
    assert_eq!(d["updateSeries"]["series"]["recurrence"], json!(null));
    assert_eq!(
        app.all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 100)
            .await
            .len(),
        1
    );
}

async fn a_stale_expected_version_is_a_conflict_and_writes_nothing(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let (id, v) = app
        .create_series(
            &cal,
            json!({ "title": "A", "start": "2026-01-05T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("created");
    app.ok(
        UPDATE,
        json!({ "i": { "id": id, "expectedVersion": v, "title": "B" } }),
    )
    .await;
    let err = app
        .err(
            UPDATE,
            json!({ "i": { "id": id, "expectedVersion": v, "title": "C" } }),
        )
        .await;
    assert_eq!(err.code, "CONFLICT");
    let err = app
        .err(DELETE, json!({ "i": { "id": id, "expectedVersion": v } }))
        .await;
    assert_eq!(err.code, "CONFLICT");
    let s = &app.ok(GET, json!({ "id": id })).await["series"];
    assert_eq!(s["title"], json!("B"));
    assert_eq!(s["version"], json!(2));
    // An invalid update is refused and leaves the series as it was.
    let err = app.err(UPDATE, json!({ "i": { "id": id, "expectedVersion": 2, "title": "D", "recurrence": { "rrule": "FREQ=DAILY;INTERVAL=0" } } })).await;
    assert_eq!(err.code, "RECURRENCE_INVALID");
    assert_eq!(
        app.ok(GET, json!({ "id": id })).await["series"]["title"],
        json!("B")
    );
}

async fn concurrent_writers_with_the_same_version_produce_exactly_one_winner(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let (id, v) = app
        .create_series(
            &cal,
            json!({ "title": "0", "start": "2026-01-05T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("created");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let http = app.http.clone();
        let url = format!("{}/graphql", app.url);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let body: serde_json::Value = http
                .post(url)
                .json(&json!({ "query": UPDATE, "variables": { "i": { "id": id, "expectedVersion": v, "title": format!("writer {i}") } } }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            (i, body)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, body) = t.await.expect("task");
        match body["errors"][0]["extensions"]["code"].as_str() {
            None => winners.push(i),
            Some(code) => assert_eq!(code, "CONFLICT", "{body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let s = &app.ok(GET, json!({ "id": id })).await["series"];
    assert_eq!(
        s["title"],
        json!(format!("writer {}", winners[0])),
        "the winner's write is the one stored"
    );
    assert_eq!(s["version"], json!(2));
}

async fn a_deleted_series_is_gone_everywhere(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let (id, v) = app.create_series(&cal, json!({ "title": "A", "start": "2026-01-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("created");
    let d = app
        .ok(DELETE, json!({ "i": { "id": id, "expectedVersion": v } }))
        .await;
    assert_eq!(d["deleteSeries"]["deletedSeriesId"], json!(id));
    assert_eq!(app.err(GET, json!({ "id": id })).await.code, "NOT_FOUND");
    assert!(app
        .all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 10)
        .await
        .is_empty());
    assert_eq!(
        app.err(DELETE, json!({ "i": { "id": id, "expectedVersion": v } }))
            .await
            .code,
        "NOT_FOUND"
    );
    let d = app
        .ok(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(d["node"], json!(null));
}

async fn calendars_page_with_cursors(app: TestApp) {
    for i in 0..5 {
        app.create_calendar(&format!("cal {i}"), "UTC").await;
    }
    let q = "query($after: String) { calendars(first: 2, after: $after) { edges { node { name } } pageInfo { hasNextPage endCursor } } }";
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = app.ok(q, json!({ "after": after })).await;
        for e in d["calendars"]["edges"].as_array().expect("edges") {
            names.push(e["node"]["name"].as_str().unwrap_or_default().to_string());
        }
        if d["calendars"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = d["calendars"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_string);
    }
    names.sort();
    assert_eq!(names, ["cal 0", "cal 1", "cal 2", "cal 3", "cal 4"]);
}

async fn queries_work_over_get_and_browsers_get_graphiql(app: TestApp) {
    let cal = app.create_calendar("Get me", "UTC").await;
    let res = app
        .http
        .get(format!("{}/graphql", app.url))
        .query(&[
            ("query", "query($id: ID!) { calendar(id: $id) { name } }"),
            ("variables", &json!({ "id": cal }).to_string()),
        ])
        .send()
        .await
        .expect("get");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["data"]["calendar"]["name"], json!("Get me"));
    let res = app
        .http
        .get(format!("{}/graphql", app.url))
        .query(&[("query", "mutation { createCalendar(input: {name: \"x\", timeZone: \"UTC\"}) { calendar { id } } }")])
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 405, "mutations are POST-only");
    let res = app
        .http
        .get(format!("{}/graphql", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .expect("graphiql");
    assert!(
        res.text().await.expect("html").contains("graphiql"),
        "GraphiQL is served to browsers"
    );
    let res = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), 200);
}

engine_tests!(
    a_series_reads_back_as_it_was_written,
    updating_the_whole_series_changes_every_occurrence_and_bumps_the_version,
    a_stale_expected_version_is_a_conflict_and_writes_nothing,
    concurrent_writers_with_the_same_version_produce_exactly_one_winner,
    a_deleted_series_is_gone_everywhere,
    calendars_page_with_cursors,
    queries_work_over_get_and_browsers_get_graphiql,
);
