//! iCalendar feeds and imports, end to end on both engines:
//!
//! - the feed, fetched over HTTP and expanded by an independent implementation (Python's
//!   recurring-ical-events, pinned in `tests/ics-oracle/requirements.txt`), gives exactly the
//!   occurrences the GraphQL API gives for the same window — DST changes, last-Friday rules,
//!   all-day, RDATE/EXDATE, moved and cancelled occurrences and a split included — and its
//!   VTIMEZONEs agree with the tz database;
//! - import → export → import keeps every occurrence (hand-written Outlook- and Google-style
//!   fixtures in `tests/data/ics/`), and importing a file again updates instead of duplicating;
//! - feed URLs are secret (only a hash stored), revocable and scoped to their organization;
//! - malformed and oversized files are refused, unusable events skipped with a reason.
//!
//! The oracle runs in a virtualenv under the target directory (`ics-oracle-venv`), created and
//! pip-installed on first use. Without python3, venv or network access for that first install the
//! oracle test fails: it never skips.

use almanac_e2e::{engine_tests, to_utc, Engine, TestApp};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const CREATE_FEED: &str = "mutation($i: CreateIcsFeedInput!) { createIcsFeed(input: $i) { feed { id url calendar { id } createdAt revokedAt } secretUrl userErrors { field code message } } }";
const REVOKE_FEED: &str = "mutation($i: RevokeIcsFeedInput!) { revokeIcsFeed(input: $i) { feed { id revokedAt } userErrors { code } } }";
const IMPORT: &str = "mutation($i: ImportIcsInput!) { importIcs(input: $i) {
    series { id version title timeZone allDay kind showAs }
    skipped { uid recurrenceId reason }
    userErrors { field code message } } }";
const EDIT: &str = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { id } userErrors { code message } } }";
const DELETE: &str = "mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { id } userErrors { code message } } }";
const VERSION: &str = "query($id: ID!) { series(id: $id) { version } }";

// ---------------------------------------------------------------------------------------------
// The independent implementation.

/// What the oracle expands `ics` to in [from, to): sorted (start UTC, end UTC, summary), and the
/// VTIMEZONE problems it found.
fn oracle(
    ics: &str,
    from: &str,
    to: &str,
    floating_zone: &str,
) -> (Vec<(String, String, String)>, Vec<String>) {
    let python = almanac_e2e::oracle_python("ics-oracle");
    let file = std::env::temp_dir().join(format!(
        "almanac-feed-{}.ics",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, ics).expect("write the feed");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ics-oracle/expand.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&file)
        .args([from, to, floating_zone])
        .output()
        .expect("run the oracle");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the oracle prints JSON");
    let occurrences = v["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .map(|o| {
            (
                o[0].as_str().unwrap_or_default().to_string(),
                o[1].as_str().unwrap_or_default().to_string(),
                o[2].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let problems = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p.as_str().unwrap_or_default().to_string())
        .collect();
    (occurrences, problems)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async fn version(app: &TestApp, series: &str) -> i64 {
    app.ok(VERSION, json!({ "id": series })).await["series"]["version"]
        .as_i64()
        .expect("version")
}

async fn create_feed(app: &TestApp, cal: &str) -> (String, String) {
    let d = app
        .ok(CREATE_FEED, json!({ "i": { "calendarId": cal } }))
        .await;
    let p = &d["createIcsFeed"];
    assert_eq!(p["userErrors"], json!([]));
    (
        p["feed"]["id"].as_str().expect("feed id").to_string(),
        p["secretUrl"].as_str().expect("secretUrl").to_string(),
    )
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.http.get(url).send().await.expect("feed request")
}

async fn feed_text(app: &TestApp, url: &str) -> String {
    let res = fetch(app, url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/calendar; charset=utf-8")
    );
    res.text().await.expect("feed body")
}

async fn import(app: &TestApp, cal: &str, ics: &str) -> Value {
    app.graphql(IMPORT, json!({ "i": { "calendarId": cal, "ics": ics } }))
        .await
}

/// (start UTC, end UTC, title) of the calendar's occurrences in the window, as GraphQL lists them.
async fn listed(app: &TestApp, cal: &str, from: &str, to: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = app
        .all_occurrences(&[cal], from, to, 1000)
        .await
        .iter()
        .map(|o| {
            (
                to_utc(o["start"].as_str().unwrap_or_default()),
                to_utc(o["end"].as_str().unwrap_or_default()),
                o["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Everything an occurrence shows, for comparing two calendars.
async fn shown(app: &TestApp, cal: &str, from: &str, to: &str) -> Vec<Value> {
    let q = "query($c: [ID!]!, $from: DateTime!, $to: DateTime!) { occurrences(calendarIds: $c, from: $from, to: $to, first: 1000) {
        edges { node { start end localStart title description kind status allDay timeZone series { showAs } } } pageInfo { hasNextPage } } }";
    let d = app
        .ok(q, json!({ "c": [cal], "from": from, "to": to }))
        .await;
    assert_eq!(d["occurrences"]["pageInfo"]["hasNextPage"], json!(false));
    let mut v: Vec<Value> = d["occurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    v.sort_by_key(|o| {
        (
            o["start"].as_str().unwrap_or_default().to_string(),
            o["title"].as_str().unwrap_or_default().to_string(),
        )
    });
    v
}

fn diff<T: Ord + Clone + std::fmt::Debug>(a: &[T], b: &[T]) -> String {
    let only_a: Vec<&T> = a.iter().filter(|x| !b.contains(x)).collect();
    let only_b: Vec<&T> = b.iter().filter(|x| !a.contains(x)).collect();
    format!("only in the first: {only_a:#?}\nonly in the second: {only_b:#?}")
}

// ---------------------------------------------------------------------------------------------

/// The acceptance test of the issue: the feed, read by another implementation, lists the same
/// occurrences as the API.
async fn the_feed_expanded_by_an_independent_implementation_matches_the_api(app: TestApp) {
    let cal = app.create_calendar("Oracle", "America/New_York").await;
    let series = |input: Value| {
        let app = &app;
        let cal = cal.clone();
        async move { app.create_series(&cal, input).await.expect("series").0 }
    };
    // Weekly at 09:00 New York time across both DST changes of 2026.
    let weekly = series(json!({ "title": "Standup", "start": "2026-02-23T09:00:00", "duration": "PT45M", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=120" } })).await;
    // The last Friday of each month, its end given as a wall-clock end.
    let monthly = series(json!({ "title": "Review", "start": "2026-01-30T17:00:00", "end": "2026-01-30T18:30:00", "recurrence": { "rrule": "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231T235959Z" } })).await;
    // All-day, two days, yearly, shown as free.
    series(json!({ "title": "Conference", "allDay": true, "start": "2026-07-04", "duration": "P2D", "showAs": "FREE", "recurrence": { "rrule": "FREQ=YEARLY;COUNT=5" } })).await;
    // RDATE and EXDATE, in Berlin across its own DST change; a BLOCKED series.
    series(json!({ "kind": "BLOCKED", "title": "Maintenance", "timeZone": "Europe/Berlin", "start": "2026-03-01T08:00:00", "duration": "PT1H",
        "recurrence": { "rrule": "FREQ=DAILY;INTERVAL=3;COUNT=12", "rdates": ["2026-03-05T12:00:00"], "exdates": ["2026-03-07T08:00:00"] } })).await;
    // A single event at +05:30, a UTC series, and a DTSTART its rule does not generate.
    series(json!({ "title": "Call with Pune", "timeZone": "Asia/Kolkata", "start": "2026-05-12T18:30:00", "duration": "PT30M" })).await;
    let utc = series(json!({ "title": "Deploy", "timeZone": "UTC", "start": "2026-03-03T23:30:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=TU" } })).await;
    series(json!({ "title": "Rent", "start": "2026-01-10T12:00:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6" } })).await;

    // A moved occurrence, a renamed one, a cancelled one.
    let edit = |series: &str, rid: &str, scope: &str, changes: Value| json!({ "i": { "occurrence": { "seriesId": series, "recurrenceId": rid }, "scope": scope, "changes": changes } });
    let mut e = edit(
        &weekly,
        "2026-03-04T14:00:00Z",
        "THIS",
        json!({ "start": "2026-03-04T19:00:00Z", "end": "2026-03-04T20:00:00Z", "title": "Standup (moved)" }),
    );
    e["i"]["expectedVersion"] = json!(version(&app, &weekly).await);
    assert_eq!(
        app.ok(EDIT, e).await["editOccurrence"]["userErrors"],
        json!([])
    );
    let mut e = edit(
        &weekly,
        "2026-03-13T13:00:00Z",
        "THIS",
        json!({ "title": "Standup (demo)" }),
    );
    e["i"]["expectedVersion"] = json!(version(&app, &weekly).await);
    app.ok(EDIT, e).await;
    let d = json!({ "i": { "occurrence": { "seriesId": weekly, "recurrenceId": "2026-03-11T13:00:00Z" }, "scope": "THIS", "expectedVersion": version(&app, &weekly).await } });
    app.ok(DELETE, d).await;
    // This and following: Reviews from June on at 10:00, renamed (a continuation series).
    let mut e = edit(
        &monthly,
        "2026-06-26T21:00:00Z",
        "THIS_AND_FOLLOWING",
        json!({ "start": "2026-06-26T14:00:00Z", "title": "Review (mornings)" }),
    );
    e["i"]["expectedVersion"] = json!(version(&app, &monthly).await);
    assert_eq!(
        app.ok(EDIT, e).await["editOccurrence"]["userErrors"],
        json!([])
    );
    // And a rule cut short: no Deploys from May on.
    let d = json!({ "i": { "occurrence": { "seriesId": utc, "recurrenceId": "2026-05-05T23:30:00Z" }, "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1 } });
    app.ok(DELETE, d).await;

    let (_, url) = create_feed(&app, &cal).await;
    let text = feed_text(&app, &url).await;
    let (from, to) = ("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z");
    let expected = listed(&app, &cal, from, to).await;
    let (got, problems) = oracle(&text, from, to, "America/New_York");
    assert!(
        problems.is_empty(),
        "VTIMEZONEs disagree with the tz database: {problems:#?}\n{text}"
    );
    assert!(expected.len() > 150, "{}", expected.len());
    assert_eq!(
        got,
        expected,
        "the oracle and the API disagree:\n{}\n{text}",
        diff(&got, &expected)
    );
    // The cases above are really in there.
    for (start, title) in [
        ("2026-03-06T14:00:00Z", "Standup"), // EST
        ("2026-03-09T13:00:00Z", "Standup"), // EDT
        ("2026-03-04T19:00:00Z", "Standup (moved)"),
        ("2026-03-13T13:00:00Z", "Standup (demo)"),
        ("2026-05-29T21:00:00Z", "Review"),
        ("2026-06-26T14:00:00Z", "Review (mornings)"),
        ("2026-07-04T04:00:00Z", "Conference"),
        ("2026-03-05T11:00:00Z", "Maintenance"), // the RDATE
        ("2026-03-31T06:00:00Z", "Maintenance"), // CEST
        ("2026-05-12T13:00:00Z", "Call with Pune"),
        ("2026-01-15T17:00:00Z", "Rent"), // the rule's first; its DTSTART (10 January) is not one
    ] {
        assert!(
            expected.iter().any(|o| o.0 == start && o.2 == title),
            "{start} {title} missing from {expected:#?}"
        );
    }
    for gone in [
        "2026-03-11T13:00:00Z",
        "2026-03-04T14:00:00Z",
        "2026-03-07T07:00:00Z",
        "2026-05-05T23:30:00Z",
        "2026-01-10T17:00:00Z",
    ] {
        assert!(
            !expected.iter().any(|o| o.0 == gone),
            "{gone} should not be listed"
        );
    }
    assert_eq!(
        text.matches("BEGIN:VTIMEZONE").count(),
        3,
        "New York, Berlin and Kolkata:\n{text}"
    );
}

/// Hand-written files → calendar A → A's feed → calendar B: A and B show the same occurrences,
/// and importing a file again updates instead of duplicating.
async fn import_export_import_keeps_every_occurrence(app: TestApp) {
    let (from, to) = ("2025-12-01T00:00:00Z", "2027-03-01T00:00:00Z");
    for (fixture, events) in [("outlook-and-friends.ics", 6), ("google-export.ics", 3)] {
        let ics = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data/ics")
                .join(fixture),
        )
        .expect("fixture");
        let a = app.create_calendar("A", "Europe/Berlin").await;
        let first = import(&app, &a, &ics).await;
        let p = &first["data"]["importIcs"];
        assert_eq!(p["userErrors"], json!([]), "{first}");
        assert_eq!(p["skipped"], json!([]), "{fixture}: {first}");
        assert_eq!(
            p["series"].as_array().map(Vec::len),
            Some(events),
            "{fixture}: {first}"
        );

        let (_, url) = create_feed(&app, &a).await;
        let exported = feed_text(&app, &url).await;
        let b = app.create_calendar("B", "Europe/Berlin").await;
        let second = import(&app, &b, &exported).await;
        assert_eq!(
            second["data"]["importIcs"]["skipped"],
            json!([]),
            "{second}"
        );
        let (in_a, in_b) = (
            shown(&app, &a, from, to).await,
            shown(&app, &b, from, to).await,
        );
        assert!(in_a.len() > 20, "{fixture}: {}", in_a.len());
        assert_eq!(
            in_a,
            in_b,
            "{fixture}: A and B differ:\n{}\n{exported}",
            diff(
                &in_a.iter().map(Value::to_string).collect::<Vec<_>>(),
                &in_b.iter().map(Value::to_string).collect::<Vec<_>>()
            )
        );
        // And once more through B's feed, for good measure.
        let (_, url_b) = create_feed(&app, &b).await;
        let c = app.create_calendar("C", "Europe/Berlin").await;
        import(&app, &c, &feed_text(&app, &url_b).await).await;
        assert_eq!(
            shown(&app, &c, from, to).await,
            in_a,
            "{fixture}: the second round trip differs"
        );

        // Importing the same file again changes nothing: same series, same versions.
        let again = import(&app, &a, &ics).await;
        assert_eq!(
            again["data"]["importIcs"]["series"], p["series"],
            "{fixture}: re-import is idempotent"
        );
        assert_eq!(app.series_count(&a).await, events);
        assert_eq!(shown(&app, &a, from, to).await, in_a);
    }
}

/// What the fixtures mean, checked by hand.
async fn imported_fixtures_mean_what_they_say(app: TestApp) {
    let read = |f: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data/ics")
                .join(f),
        )
        .expect("fixture")
    };
    let cal = app.create_calendar("Work", "Europe/Berlin").await;
    let d = import(&app, &cal, &read("outlook-and-friends.ics")).await;
    let series = d["data"]["importIcs"]["series"]
        .as_array()
        .expect("series")
        .clone();
    let by_title = |t: &str| {
        series
            .iter()
            .find(|s| s["title"] == json!(t))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_title("Team meeting")["timeZone"],
        json!("Europe/Berlin"),
        "X-LIC-LOCATION names the zone"
    );
    assert_eq!(by_title("Month-end close")["kind"], json!("BLOCKED"));
    assert_eq!(by_title("Offsite")["showAs"], json!("FREE"));
    assert_eq!(by_title("Offsite")["allDay"], json!(true));
    assert_eq!(
        by_title("Gym (floating time)")["timeZone"],
        json!("Europe/Berlin"),
        "floating: the calendar's zone"
    );
    assert_eq!(by_title("Backup window")["timeZone"], json!("UTC"));
    let got = listed(&app, &cal, "2026-03-01T00:00:00Z", "2026-04-10T00:00:00Z").await;
    let team: Vec<(&str, &str)> = got
        .iter()
        .filter(|o| o.2.starts_with("Team"))
        .map(|o| (o.0.as_str(), o.2.as_str()))
        .collect();
    assert_eq!(
        team,
        [
            ("2026-03-02T09:00:00Z", "Team meeting"),
            ("2026-03-05T09:00:00Z", "Team meeting"),
            ("2026-03-07T09:00:00Z", "Team meeting"), // RDATE
            ("2026-03-09T09:00:00Z", "Team meeting"),
            ("2026-03-12T09:00:00Z", "Team meeting"),
            ("2026-03-16T13:00:00Z", "Team meeting (moved)"),
            // 19 March: EXDATE
            ("2026-03-23T09:00:00Z", "Team meeting"),
            ("2026-03-26T09:00:00Z", "Team meeting"),
            ("2026-03-30T08:00:00Z", "Team meeting"), // CEST
            // 2 April: cancelled
            ("2026-04-06T08:00:00Z", "Team meeting (maybe)"),
            ("2026-04-09T08:00:00Z", "Team meeting"),
        ]
    );
    let backup: Vec<(&str, &str)> = got
        .iter()
        .filter(|o| o.2 == "Backup window")
        .map(|o| (o.0.as_str(), o.1.as_str()))
        .collect();
    assert_eq!(
        backup.last(),
        Some(&("2026-03-20T02:00:00Z", "2026-03-20T04:00:00Z")),
        "an RDATE period keeps its own length"
    );
    let club: Vec<&str> = got
        .iter()
        .filter(|o| o.2.starts_with("Club"))
        .map(|o| o.0.as_str())
        .collect();
    assert_eq!(
        club,
        [
            "2026-03-02T17:00:00Z",
            "2026-03-03T17:00:00Z",
            "2026-03-10T17:00:00Z",
            "2026-03-17T17:00:00Z"
        ],
        "DTSTART is an occurrence; COUNT counts the rule's"
    );

    let fam = app.create_calendar("Family", "Europe/Berlin").await;
    let d = import(&app, &fam, &read("google-export.ics")).await;
    assert_eq!(d["data"]["importIcs"]["skipped"], json!([]), "{d}");
    let got = listed(&app, &fam, "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z").await;
    let bins: Vec<&str> = got
        .iter()
        .filter(|o| o.2 == "Recycling bins out")
        .map(|o| &o.0[..10])
        .collect();
    // UNTIL=20260301T230000Z is midnight of Monday 2 March in Berlin: the last one.
    assert_eq!(
        bins,
        [
            "2026-01-04",
            "2026-01-11",
            "2026-01-18",
            "2026-01-25",
            "2026-02-01",
            "2026-02-08",
            "2026-02-15",
            "2026-02-22",
            "2026-03-01"
        ]
    );
    let swim: Vec<(&str, &str)> = got
        .iter()
        .filter(|o| o.2.starts_with("Swimming"))
        .map(|o| (o.0.as_str(), o.2.as_str()))
        .collect();
    assert!(
        swim.contains(&("2026-01-28T18:00:00Z", "Swimming (late lane)")),
        "{swim:?}"
    );
    for gone in [
        "2026-01-28T16:30:00Z",
        "2026-02-11T16:30:00Z",
        "2026-02-16T16:30:00Z",
        "2026-03-04T16:30:00Z",
    ] {
        assert!(!swim.iter().any(|o| o.0 == gone), "{gone} in {swim:?}");
    }
    assert_eq!(
        swim.last(),
        Some(&("2026-03-30T15:30:00Z", "Swimming")),
        "UNTIL is inclusive: {swim:?}"
    );
    assert!(got
        .iter()
        .any(|o| o.0 == "2026-02-13T23:00:00Z" && o.2 == "Grandma's birthday 🎂"));
}

/// Feed URLs: a secret shown once, hashed at rest, revocable, scoped to the organization.
async fn feeds_are_secret_revocable_and_scoped(app: TestApp) {
    let cal = app.create_calendar("Private", "Europe/Berlin").await;
    app.create_series(
        &cal,
        json!({ "title": "Dentist", "start": "2026-02-02T09:00:00", "duration": "PT1H" }),
    )
    .await
    .expect("series");
    let d = app
        .ok(CREATE_FEED, json!({ "i": { "calendarId": cal } }))
        .await;
    let p = &d["createIcsFeed"];
    let (id, secret_url) = (
        p["feed"]["id"].as_str().expect("id").to_string(),
        p["secretUrl"].as_str().expect("url").to_string(),
    );
    assert!(
        secret_url.starts_with(&format!("{}/ics/", app.url)) && secret_url.ends_with(".ics"),
        "{secret_url}"
    );
    let token = secret_url
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".ics"))
        .expect("token")
        .to_string();
    assert!(
        token.len() >= 43
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "256 bits, base64url: {token}"
    );
    assert!(
        !p["feed"]["url"]
            .as_str()
            .unwrap_or_default()
            .contains(&token),
        "the listed URL hides the secret: {p}"
    );
    assert_eq!(p["feed"]["calendar"]["id"], json!(cal));

    // Only a hash of the token is stored.
    let row: (String, String) = match app.engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url)
                .await
                .expect("sqlite");
            sqlx::query_as("SELECT token_sha256, token_hint FROM ics_feeds WHERE id = $1")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .expect("row")
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url)
                .await
                .expect("postgres");
            sqlx::query_as("SELECT token_sha256, token_hint FROM ics_feeds WHERE id = $1")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .expect("row")
        }
    };
    assert_ne!(row.0, token);
    assert!(
        !row.0.contains(&token[..20]),
        "the stored hash is not the token"
    );
    assert_eq!(row.0, almanac_api::services::ics::token_sha256(&token));
    assert_eq!(row.1.len(), 4);

    // The feed is readable without credentials, and shows changes at once.
    let text = feed_text(&app, &secret_url).await;
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
            && text.contains("SUMMARY:Dentist\r\n"),
        "{text}"
    );
    app.create_series(
        &cal,
        json!({ "title": "Physio", "start": "2026-02-03T09:00:00", "duration": "PT1H" }),
    )
    .await
    .expect("series");
    assert!(feed_text(&app, &secret_url)
        .await
        .contains("SUMMARY:Physio\r\n"));

    // Listed without the secret.
    let d = app
        .ok(
            "query($c: ID!) { calendar(id: $c) { icsFeeds { id url revokedAt } } }",
            json!({ "c": cal }),
        )
        .await;
    assert_eq!(d["calendar"]["icsFeeds"][0]["id"], json!(id));
    assert!(!d.to_string().contains(&token), "{d}");

    // Another organization cannot list, revoke or read through its API what is ours.
    let (_, theirs) = app.organization_with_key("theirs", "read,write").await;
    let body = app
        .graphql_as(Some(&theirs), REVOKE_FEED, json!({ "i": { "id": id } }))
        .await;
    assert_eq!(
        body["data"]["revokeIcsFeed"]["userErrors"][0]["code"],
        json!("NOT_FOUND"),
        "{body}"
    );
    let body = app
        .graphql_as(
            Some(&theirs),
            "query($c: ID!) { calendar(id: $c) { icsFeeds { id } } }",
            json!({ "c": cal }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("NOT_FOUND"),
        "{body}"
    );
    let body = app
        .graphql_as(
            Some(&theirs),
            CREATE_FEED,
            json!({ "i": { "calendarId": cal } }),
        )
        .await;
    assert_eq!(
        body["data"]["createIcsFeed"]["userErrors"][0]["code"],
        json!("NOT_FOUND"),
        "{body}"
    );
    assert_eq!(
        fetch(&app, &secret_url).await.status(),
        200,
        "their failed revoke changed nothing"
    );

    // Unknown, malformed and revoked tokens all get the same bare 404.
    let unknown = format!("{}/ics/{}.ics", app.url, "A".repeat(43));
    let body_of = |r: reqwest::Response| async move {
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    let unknown_answer = body_of(fetch(&app, &unknown).await).await;
    assert_eq!(unknown_answer, (404, "not found".to_string()));
    for bad in [
        format!("{}/ics/{token}", app.url),
        format!("{}/ics/short.ics", app.url),
        format!("{}/ics/{token}.ics.ics", app.url),
    ] {
        assert_eq!(
            body_of(fetch(&app, &bad).await).await,
            unknown_answer,
            "{bad}"
        );
    }
    let d = app.ok(REVOKE_FEED, json!({ "i": { "id": id } })).await;
    assert!(d["revokeIcsFeed"]["feed"]["revokedAt"].is_string(), "{d}");
    assert_eq!(
        body_of(fetch(&app, &secret_url).await).await,
        unknown_answer,
        "a revoked feed looks like an unknown one"
    );
    // A second feed of the same calendar is independent.
    let (_, other_url) = create_feed(&app, &cal).await;
    assert_ne!(other_url, secret_url);
    assert_eq!(fetch(&app, &other_url).await.status(), 200);
    let e = app
        .err(REVOKE_FEED, json!({ "i": { "id": "feed_nope" } }))
        .await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    // Feed requests are counted under their route, never their URL.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("route=\"/ics/{file}\",status=\"2xx\"") && !metrics.contains(&token),
        "{metrics}"
    );
}

/// Malformed files are refused whole; oversized ones get their own code; unusable events are
/// skipped with a reason while the rest import.
async fn bad_files_are_refused_and_bad_events_skipped(app: TestApp) {
    let cal = app.create_calendar("c", "Europe/Berlin").await;
    for (what, ics) in [
        ("not iCalendar", "hello, this is a CSV file\r\n1,2,3\r\n".to_string()),
        ("unterminated", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260105T090000Z\r\nDURATION:PT1H\r\n".to_string()),
        ("mismatched END", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n".to_string()),
        ("junk line", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260105T090000Z\r\nDURATION:PT1H\r\n<html>\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".to_string()),
        ("empty", String::new()),
    ] {
        let body = import(&app, &cal, &ics).await;
        let errors = &body["data"]["importIcs"]["userErrors"];
        assert_eq!(errors[0]["code"], json!("BAD_USER_INPUT"), "{what}: {body}");
        assert_eq!(errors[0]["field"], json!(["input", "ics"]), "{what}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], json!("BAD_USER_INPUT"), "{what}: {body}");
        assert!(body["data"]["importIcs"]["series"].is_null());
    }
    assert_eq!(app.series_count(&cal).await, 0, "nothing was written");

    let event = |uid: &str, body: &str| {
        format!("BEGIN:VEVENT\r\nUID:{uid}\r\n{body}SUMMARY:{uid}\r\nEND:VEVENT\r\n")
    };
    let wrap = |events: String| {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
    };
    let big = wrap(event(
        "big",
        &format!(
            "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nDESCRIPTION:{}\r\n",
            "x".repeat(1024 * 1024)
        ),
    ));
    let body = import(&app, &cal, &big).await;
    assert_eq!(
        body["data"]["importIcs"]["userErrors"][0]["code"],
        json!("RANGE_TOO_LARGE"),
        "{}",
        &body.to_string()[..300.min(body.to_string().len())]
    );
    let many = wrap(
        (0..5_001)
            .map(|i| {
                event(
                    &format!("e{i}"),
                    "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\n",
                )
            })
            .collect(),
    );
    let body = import(&app, &cal, &many).await;
    assert_eq!(
        body["data"]["importIcs"]["userErrors"][0]["code"],
        json!("RANGE_TOO_LARGE"),
        "{body}"
    );
    assert!(
        body["data"]["importIcs"]["userErrors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("5000"),
        "{body}"
    );
    assert_eq!(app.series_count(&cal).await, 0);

    let ics = wrap(
        [
            event("good", "DTSTART;TZID=Europe/Berlin:20260105T090000\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"),
            event("mars", "DTSTART;TZID=Mars/Olympus_Mons:20260105T090000\r\nDURATION:PT1H\r\n"),
            event("bad-rule", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=FORTNIGHTLY\r\n"),
            event("also-good", "DTSTART;VALUE=DATE:20260110\r\n"),
        ]
        .concat(),
    );
    let body = import(&app, &cal, &ics).await;
    let p = &body["data"]["importIcs"];
    assert_eq!(p["userErrors"], json!([]), "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let titles: Vec<&str> = p["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| s["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, ["good", "also-good"]);
    let skipped = p["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 2, "{body}");
    assert_eq!(skipped[0]["uid"], json!("mars"));
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Mars/Olympus_Mons"),
        "{body}"
    );
    assert_eq!(skipped[1]["uid"], json!("bad-rule"));
    assert!(
        skipped[1]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("RRULE"),
        "{body}"
    );
    assert_eq!(app.series_count(&cal).await, 2);
    assert_eq!(
        app.all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 100)
            .await
            .len(),
        4
    );

    // Re-importing a changed event replaces its series in place (same id, next version).
    let good_id = p["series"][0]["id"].clone();
    let ics2 = wrap(event("good", "DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=2\r\n"));
    let body = import(&app, &cal, &ics2).await;
    assert_eq!(
        body["data"]["importIcs"]["series"][0]["id"], good_id,
        "{body}"
    );
    assert_eq!(
        body["data"]["importIcs"]["series"][0]["version"],
        json!(2),
        "{body}"
    );
    assert_eq!(app.series_count(&cal).await, 2);
    assert_eq!(
        app.all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 100)
            .await
            .len(),
        3
    );

    let missing = import(&app, "cal_0000000000007000800000000000dead", &ics).await;
    assert_eq!(
        missing["data"]["importIcs"]["userErrors"][0]["code"],
        json!("NOT_FOUND"),
        "{missing}"
    );
}

engine_tests!(
    the_feed_expanded_by_an_independent_implementation_matches_the_api,
    import_export_import_keeps_every_occurrence,
    imported_fixtures_mean_what_they_say,
    feeds_are_secret_revocable_and_scoped,
    bad_files_are_refused_and_bad_events_skipped,
);

/// In `--auth required` mode the feed URL still needs no credential: its token is one.
mod required_auth {
    use almanac_api::config::{AuthMode, Settings};
    use almanac_e2e::{engine_tests_with, TestApp};
    use serde_json::json;

    fn required(s: &mut Settings) {
        s.auth = AuthMode::Required;
        // Required mode also needs keys to seal provider tokens (32 zero bytes: tests only).
        s.sync.token_keys = Some(format!("test:{}", "A".repeat(43)).into());
    }

    async fn the_feed_needs_no_other_credential(app: TestApp) {
        let (_, key) = app.organization_with_key("acme", "read,write").await;
        let d = app.graphql_as(Some(&key), "mutation { createCalendar(input: { name: \"c\", timeZone: \"UTC\" }) { calendar { id } } }", json!({})).await;
        let cal = d["data"]["createCalendar"]["calendar"]["id"].clone();
        let d = app
            .graphql_as(
                Some(&key),
                super::CREATE_FEED,
                json!({ "i": { "calendarId": cal } }),
            )
            .await;
        let url = d["data"]["createIcsFeed"]["secretUrl"]
            .as_str()
            .expect("secretUrl")
            .to_string();
        assert_eq!(
            app.graphql(super::CREATE_FEED, json!({ "i": { "calendarId": cal } }))
                .await["errors"][0]["extensions"]["code"],
            json!("UNAUTHENTICATED")
        );
        let res = app.http.get(&url).send().await.expect("feed");
        assert_eq!(res.status(), 200);
        assert!(res
            .text()
            .await
            .unwrap_or_default()
            .starts_with("BEGIN:VCALENDAR"));
    }

    engine_tests_with!(required; the_feed_needs_no_other_credential);
}
