//! What normalized-cache clients (Apollo, Relay, urql) and code generated from the schema rely on:
//! errors null the nearest nullable field and never make keys vanish; a field's value never depends
//! on an ancestor's arguments; instants are written in UTC with `Z`.

use almanac_domain::{CalendarId, SeriesId};
use almanac_e2e::{engine_tests, TestApp};
use serde_json::{json, Value};

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `data` holds `key`, explicitly null.
fn null_key(data: &Value, key: &str) -> bool {
    data.as_object()
        .is_some_and(|o| o.get(key) == Some(&Value::Null))
}

async fn a_missing_calendar_is_null_with_not_found_beside_the_rest_of_the_query(app: TestApp) {
    let q = "query($id: ID!) { viewer { organizationId } calendar(id: $id) { id name } }";
    let missing = CalendarId::from_uuid(uuid::Uuid::now_v7()).to_string();
    let body = app.graphql(q, json!({ "id": missing })).await;
    assert!(
        null_key(&body["data"], "calendar"),
        "the key stays, as null: {body}"
    );
    assert!(
        body["data"]["viewer"]["organizationId"].is_string(),
        "the rest of the query answers: {body}"
    );
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["calendar"]));

    // Another organization's calendar is just as missing.
    let (_, other_key) = app.organization_with_key("other", "read,write").await;
    let theirs = app.create_calendar("mine", "UTC").await;
    let body = app
        .graphql_as(Some(&other_key), q, json!({ "id": theirs }))
        .await;
    assert!(null_key(&body["data"], "calendar"), "{body}");
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");

    // A malformed id is the caller's mistake, not a lookup that found nothing.
    let body = app.graphql(q, json!({ "id": "not-an-id" })).await;
    assert!(null_key(&body["data"], "calendar"), "{body}");
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");

    let body = app
        .graphql(
            "query($id: ID!) { viewer { canWrite } series(id: $id) { id } }",
            json!({ "id": SeriesId::from_uuid(uuid::Uuid::now_v7()).to_string() }),
        )
        .await;
    assert!(null_key(&body["data"], "series"), "{body}");
    assert_eq!(body["data"]["viewer"]["canWrite"], json!(true));
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
}

async fn an_oversized_page_inside_a_calendar_nulls_the_calendar_and_keeps_its_key(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let body = app.graphql("query($id: ID!) { viewer { organizationId } calendar(id: $id) { id series(first: 5000) { nodes { id } } } }", json!({ "id": cal })).await;
    // `series` is non-null, so its null moves up to the nullable `calendar`.
    assert!(null_key(&body["data"], "calendar"), "{body}");
    assert!(
        body["data"]["viewer"]["organizationId"].is_string(),
        "{body}"
    );
    assert_eq!(codes(&body), ["RANGE_TOO_LARGE"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["calendar", "series"]));
    // The same page size that fits answers normally.
    let ok = app
        .ok(
            "query($id: ID!) { calendar(id: $id) { id series(first: 200) { nodes { id } } } }",
            json!({ "id": cal }),
        )
        .await;
    assert_eq!(ok["calendar"]["id"], json!(cal));
}

async fn a_non_null_field_error_nulls_the_nearest_nullable_ancestor(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    app.create_series(&cal, json!({ "title": "Daily", "start": "2026-03-02T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=2" } })).await.expect("series");

    // Through two lists of non-null items: start! → Occurrence! → [Occurrence!]! → connection! →
    // Series! → [Series!]! → connection! → the nullable `calendar`.
    let body = app
        .graphql(
            r#"query($id: ID!) { viewer { organizationId } calendar(id: $id) { id series { nodes { id occurrences(from: "2026-03-01T00:00:00Z", to: "2026-03-10T00:00:00Z") { nodes { id start(timeZone: "Mars/Olympus_Mons") } } } } } }"#,
            json!({ "id": cal }),
        )
        .await;
    assert!(null_key(&body["data"], "calendar"), "{body}");
    assert!(
        body["data"]["viewer"]["organizationId"].is_string(),
        "{body}"
    );
    assert_eq!(
        codes(&body),
        ["BAD_USER_INPUT", "BAD_USER_INPUT"],
        "one error per failed field: {body}"
    );
    assert_eq!(
        body["errors"][0]["path"]
            .as_array()
            .map(|p| p[..4].to_vec()),
        Some(vec![
            json!("calendar"),
            json!("series"),
            json!("nodes"),
            json!(0)
        ]),
        "{body}"
    );

    // The nullable `node` takes the null for its non-null `series`.
    let body = app.graphql("query($id: ID!) { viewer { organizationId } node(id: $id) { id ... on Calendar { series(first: 5000) { nodes { id } } } } }", json!({ "id": cal })).await;
    assert!(null_key(&body["data"], "node"), "{body}");
    assert!(
        body["data"]["viewer"]["organizationId"].is_string(),
        "{body}"
    );
    assert_eq!(codes(&body), ["RANGE_TOO_LARGE"], "{body}");

    // With no nullable ancestor at all, `data` itself is null (and the error still says why).
    let body = app.graphql("{ viewer { organizationId } calendars { nodes { id series(first: 5000) { nodes { id } } } } }", json!({})).await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(codes(&body), ["RANGE_TOO_LARGE"], "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["calendars", "nodes", 0, "series"])
    );

    // A nullable field that fails is null itself and nulls nothing else.
    let body = app.graphql(r#"{ viewer { organizationId } nextAvailableSlot(rules: { calendarIds: ["nope"], duration: "PT30M", now: "2026-03-02T00:00:00Z" }, after: "2026-03-02T00:00:00Z") { calendarIds } }"#, json!({})).await;
    assert!(null_key(&body["data"], "nextAvailableSlot"), "{body}");
    assert!(
        body["data"]["viewer"]["organizationId"].is_string(),
        "{body}"
    );
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
}

const OCCURRENCES: &str = r#"query($c: [ID!]!, $tz: String) {
  occurrences(calendarIds: $c, from: "2026-03-01T00:00:00Z", to: "2026-03-10T00:00:00Z", timeZone: $tz) {
    nodes { id start end recurrenceId localStart kolkata: start(timeZone: "Asia/Kolkata") kolkataEnd: end(timeZone: "Asia/Kolkata") }
  }
}"#;

async fn an_occurrence_reads_the_same_whatever_an_ancestor_zone_says(app: TestApp) {
    let cal = app.create_calendar("c", "America/New_York").await;
    app.create_series(&cal, json!({ "title": "Standup", "start": "2026-03-06T09:00:00", "duration": "PT30M", "recurrence": { "rrule": "FREQ=DAILY;COUNT=3" } })).await.expect("series");
    let plain = app.ok(OCCURRENCES, json!({ "c": [cal] })).await;
    let kolkata = app
        .ok(OCCURRENCES, json!({ "c": [cal], "tz": "Asia/Kolkata" }))
        .await;
    let tokyo = app
        .ok(OCCURRENCES, json!({ "c": [cal], "tz": "Asia/Tokyo" }))
        .await;
    let nodes = plain["occurrences"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(nodes.len(), 3);
    assert_eq!(
        plain, kolkata,
        "an ancestor's timeZone changes no occurrence field"
    );
    assert_eq!(plain, tokyo);
    // Canonical UTC with Z; the zone rendering comes from the field's own argument.
    assert_eq!(nodes[0]["start"], json!("2026-03-06T14:00:00Z"));
    assert_eq!(nodes[0]["end"], json!("2026-03-06T14:30:00Z"));
    assert_eq!(nodes[0]["recurrenceId"], json!("2026-03-06T14:00:00Z"));
    assert_eq!(nodes[0]["kolkata"], json!("2026-03-06T19:30:00+05:30"));
    assert_eq!(nodes[0]["kolkataEnd"], json!("2026-03-06T20:00:00+05:30"));
    assert_eq!(
        nodes[0]["localStart"],
        json!("2026-03-06T09:00:00"),
        "the series' own zone"
    );
    // Across New York's spring-forward (2026-03-08) the UTC instant moves, the wall clock does not.
    assert_eq!(nodes[2]["start"], json!("2026-03-08T13:00:00Z"));
    assert_eq!(nodes[2]["localStart"], json!("2026-03-08T09:00:00"));

    // The same occurrence read through `node` agrees with the list.
    let id = nodes[1]["id"].clone();
    let one = app.ok(r#"query($id: ID!) { node(id: $id) { ... on Occurrence { start end kolkata: start(timeZone: "Asia/Kolkata") } } }"#, json!({ "id": id })).await;
    assert_eq!(one["node"]["start"], nodes[1]["start"]);
    assert_eq!(one["node"]["kolkata"], nodes[1]["kolkata"]);

    // A misspelt zone is still refused, even where the argument is deprecated.
    let e = app
        .err(OCCURRENCES, json!({ "c": [cal], "tz": "Asia/Kolkatta" }))
        .await;
    assert_eq!(e.code, "BAD_USER_INPUT");
}

async fn every_instant_is_written_in_utc_with_z_and_read_strictly(app: TestApp) {
    let cal = app.create_calendar("c", "Europe/Berlin").await;
    app.create_series(
        &cal,
        json!({ "title": "Lunch", "start": "2026-07-01T12:00:00", "duration": "PT1H" }),
    )
    .await
    .expect("series");
    // Availability answers were rendered in the question's zone; now only a field's argument does.
    let d = app
        .ok(
            r#"query($c: [ID!]!) { freeBusy(calendarIds: $c, from: "2026-07-01T00:00:00+02:00", to: "2026-07-02T00:00:00+02:00", timeZone: "Europe/Berlin") {
                combined { start end berlin: start(timeZone: "Europe/Berlin") }
                calendars { occurrences { start end } } } }"#,
            json!({ "c": [cal] }),
        )
        .await;
    assert_eq!(
        d["freeBusy"]["combined"],
        json!([{ "start": "2026-07-01T10:00:00Z", "end": "2026-07-01T11:00:00Z", "berlin": "2026-07-01T12:00:00+02:00" }])
    );
    assert_eq!(
        d["freeBusy"]["calendars"][0]["occurrences"],
        json!([{ "start": "2026-07-01T10:00:00Z", "end": "2026-07-01T11:00:00Z" }])
    );
    let d = app.ok("{ apiKeys { createdAt } }", json!({})).await;
    for k in d["apiKeys"].as_array().expect("keys") {
        assert!(
            k["createdAt"].as_str().is_some_and(
                |t| t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
            ),
            "{k}"
        );
    }

    // Input must be RFC 3339 with an offset.
    for bad in [
        "2026-07-01T00:00:00",
        "2026-07-01",
        "2026-07-01T00:00Z",
        "yesterday",
    ] {
        let body = app.graphql("query($c: [ID!]!, $f: DateTime!) { freeBusy(calendarIds: $c, from: $f, to: \"2026-07-02T00:00:00Z\") { combined { start } } }", json!({ "c": [cal], "f": bad })).await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("RFC 3339")),
            "{bad}: {body}"
        );
        assert!(body.get("data").is_none_or(Value::is_null), "{bad}: {body}");
    }

    // The scalars say what they are.
    let d = app.ok(r#"{ dt: __type(name: "DateTime") { description specifiedByURL } ldt: __type(name: "LocalDateTime") { description specifiedByURL } }"#, json!({})).await;
    assert_eq!(
        d["dt"]["specifiedByURL"],
        json!("https://scalars.graphql.org/andimarek/date-time")
    );
    assert!(
        d["dt"]["description"]
            .as_str()
            .is_some_and(|s| s.contains("UTC") && !s.contains("Implement")),
        "{d}"
    );
    assert!(
        d["ldt"]["specifiedByURL"].is_string() && d["ldt"]["description"].is_string(),
        "{d}"
    );
}

engine_tests!(
    a_missing_calendar_is_null_with_not_found_beside_the_rest_of_the_query,
    an_oversized_page_inside_a_calendar_nulls_the_calendar_and_keeps_its_key,
    a_non_null_field_error_nulls_the_nearest_nullable_ancestor,
    an_occurrence_reads_the_same_whatever_an_ancestor_zone_says,
    every_instant_is_written_in_utc_with_z_and_read_strictly,
);
