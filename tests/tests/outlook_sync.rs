//! Two-way sync with Outlook (Microsoft Graph), end to end: GraphQL on the real app, the Outlook
//! adapter (RRULE ↔ patternedRecurrence), and the Graph emulator (a real HTTP server with
//! Exchange's expansion rules, exception wiping, delta and subscriptions). Every test runs on
//! SQLite and on PostgreSQL. The last test links one calendar to Google and Outlook at once.

use almanac_e2e::sync::{link, make_due_now, pending, round, shown, version};
use almanac_e2e::{spawn_app_with, Engine, TestApp};
use almanac_emulators::google::{GoogleEmulator, GoogleEmulatorConfig};
use almanac_emulators::outlook::{
    FaultKind, FaultMatch, FaultPlan, LifecycleEvent, OutlookEmulator, OutlookEmulatorConfig,
};
use almanac_providers::oauth::StaticAccessToken;
use almanac_providers::outlook::client::{GraphClient, GraphClientConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const ACCOUNT: &str = "grace@example.com";
const WINDOW: (&str, &str) = ("2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z");

struct World {
    app: TestApp,
    outlook: OutlookEmulator,
    connection: String,
}

macro_rules! outlook_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::world(almanac_e2e::Engine::Sqlite, false).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::world(almanac_e2e::Engine::Postgres, false).await).await
                }
            )*
        }
    };
}

async fn world(engine: Engine, nearest: bool) -> World {
    let outlook = OutlookEmulator::start(OutlookEmulatorConfig::default())
        .await
        .expect("emulator starts");
    outlook.add_account(ACCOUNT);
    let (login, api) = (format!("http://{}", outlook.addr()), outlook.base_url());
    let app = spawn_app_with(engine, move |s| {
        s.sync.microsoft_client_id = Some("almanac-dev".into());
        s.sync.microsoft_client_secret = Some("almanac-dev-secret".into());
        s.sync.microsoft_login_url = login;
        s.sync.graph_api_url = api;
        // The fixtures live in 2027–2028 whatever today is: read Outlook over a wide window.
        s.sync.outlook_window_past_days = 3650;
        s.sync.outlook_window_future_days = 3650;
        s.sync.provider_timeout_ms = 800;
        if nearest {
            s.sync.outlook_fallback = almanac_api::config::OutlookFallback::Nearest;
        }
    })
    .await;
    let connection = almanac_e2e::sync::connect(&app, "connectOutlook", ACCOUNT).await;
    World {
        app,
        outlook,
        connection,
    }
}

impl World {
    async fn link(&self, calendar: &str, direction: &str) -> String {
        link(&self.app, &self.connection, calendar, "primary", direction).await
    }
    async fn sync(&self, link: &str) -> Value {
        round(&self.app, link).await
    }
    async fn shown(&self, calendar: &str) -> Vec<(String, String, String)> {
        shown(&self.app, calendar, WINDOW.0, WINDOW.1).await
    }
    /// A client acting as the user in Outlook itself.
    fn outlook_user(&self) -> GraphClient {
        let tokens = self.outlook.issue_tokens(ACCOUNT);
        let config = GraphClientConfig {
            base_url: self.outlook.base_url(),
            ..GraphClientConfig::default()
        };
        GraphClient::new(
            config,
            Arc::new(StaticAccessToken::new(tokens.access_token)),
        )
        .expect("client")
    }
    /// Series masters and single events in the Outlook calendar.
    fn outlook_events(&self) -> Vec<Value> {
        self.outlook
            .events_snapshot(ACCOUNT)
            .into_iter()
            .filter(|e| e["type"] == "seriesMaster" || e["type"] == "singleInstance")
            .collect()
    }
}

const EDIT: &str = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { id version } userErrors { code message } } }";
const DELETE: &str = "mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { id version } deletedSeriesId userErrors { code message } } }";

fn occ(series: &str, rid: &str) -> Value {
    json!({ "seriesId": series, "recurrenceId": rid })
}

/// A DST-crossing weekly series with a moved, a cancelled and a retitled occurrence, a split with
/// changes and a cancel-from; an all-day yearly series edited as a whole after an exception; a
/// daily 02:30 series across the spring-forward night; a single event.
async fn rich_calendar(w: &World) -> (String, Vec<String>) {
    let app = &w.app;
    let cal = app.create_calendar("Work", "America/New_York").await;
    let (weekly, _) = app
        .create_series(&cal, json!({ "title": "Standup", "start": "2027-03-01T09:00:00", "duration": "PT30M", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=30" } }))
        .await
        .expect("weekly");
    // After the 2027-03-14 DST change 09:00 EDT is 13:00Z. A move within its own day (Outlook
    // refuses moves across a neighbour), a cancellation, a retitle.
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2027-03-15T13:00:00Z"), "scope": "THIS", "expectedVersion": 1,
        "changes": { "start": "2027-03-15T15:00:00Z", "end": "2027-03-15T15:45:00Z", "title": "Standup (late)" } } })).await;
    app.ok(DELETE, json!({ "i": { "occurrence": occ(&weekly, "2027-03-17T13:00:00Z"), "scope": "THIS", "expectedVersion": 2 } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2027-03-22T13:00:00Z"), "scope": "THIS", "expectedVersion": 3, "changes": { "title": "Planning" } } })).await;
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2027-04-05T13:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 4,
            "changes": { "title": "Standup v2", "start": "2027-04-05T14:00:00Z", "end": "2027-04-05T14:30:00Z" } } }))
        .await;
    let continuation = d["editOccurrence"]["series"]["id"]
        .as_str()
        .expect("continuation")
        .to_string();
    let v = version(app, &continuation).await;
    app.ok(DELETE, json!({ "i": { "occurrence": occ(&continuation, "2027-05-03T14:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": v } })).await;

    let (yearly, _) = app
        .create_series(&cal, json!({ "title": "Anniversary", "start": "2027-05-01T00:00:00", "allDay": true, "duration": "P1D", "recurrence": { "rrule": "FREQ=YEARLY;COUNT=2" } }))
        .await
        .expect("all-day");
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&yearly, "2028-05-01T04:00:00Z"), "scope": "THIS", "expectedVersion": 1, "changes": { "title": "Anniversary (big one)" } } })).await;

    let (night, _) = app
        .create_series(&cal, json!({ "title": "Backup", "start": "2027-03-12T02:30:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=DAILY;UNTIL=20270318T070000Z" } }))
        .await
        .expect("daily at 02:30");
    let (single, _) = app
        .create_series(
            &cal,
            json!({ "title": "Dentist", "start": "2027-06-10T16:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("single");
    (cal, vec![weekly, continuation, yearly, night, single])
}

async fn what_almanac_shows_comes_back_from_outlook_into_an_empty_calendar(w: World) {
    let (cal, series) = rich_calendar(&w).await;
    let mirror = w.app.create_calendar("Mirror", "America/New_York").await;
    let link = w.link(&cal, "TWO_WAY").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;

    let r = w.sync(&link).await;
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!(pending(&w.app, &link).await, 0);
    assert_eq!(
        w.outlook_events().len(),
        series.len(),
        "one Outlook event per series, no duplicates"
    );
    for s in &series {
        let d = w.app.ok("query($id: ID!) { series(id: $id) { providerCopies { fidelity fidelityDetail } } }", json!({ "id": s })).await;
        assert_eq!(
            d["series"]["providerCopies"][0]["fidelity"], "EXACT",
            "{s}: {d}"
        );
    }

    let pulled = w.sync(&mirror_link).await;
    assert_eq!(pulled["error"], Value::Null, "{pulled}");
    assert_eq!(w.app.series_count(&mirror).await, series.len(), "{pulled}");
    let shown = w.shown(&cal).await;
    assert!(shown.len() > 20, "the fixture shows a lot: {}", shown.len());
    assert_eq!(
        w.shown(&mirror).await,
        shown,
        "the mirror shows exactly what the calendar shows"
    );

    // Edit all of the yearly series: Outlook wipes its exceptions on a recurrence change, and the
    // adapter puts them back.
    let v = version(&w.app, &series[2]).await;
    w.app
        .ok(EDIT, json!({ "i": { "occurrence": occ(&series[2], "2027-05-01T04:00:00Z"), "scope": "ALL", "expectedVersion": v, "changes": { "title": "Founding day", "recurrence": { "rrule": "FREQ=YEARLY;COUNT=3" } } } }))
        .await;
    w.sync(&link).await;
    let exceptions: Vec<Value> = w
        .outlook
        .events_snapshot(ACCOUNT)
        .into_iter()
        .filter(|e| e["type"] == "exception")
        .collect();
    assert!(
        exceptions
            .iter()
            .any(|e| e["subject"] == "Anniversary (big one)"),
        "the exception is still in Outlook after the edit of all: {exceptions:?}"
    );
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);

    // Quiet afterwards: our own writes coming back change nothing.
    let versions: Vec<i64> =
        futures_util::future::join_all(series.iter().map(|s| version(&w.app, s))).await;
    let again = w.sync(&link).await;
    assert_eq!(again["pushed"], json!(0), "{again}");
    let after: Vec<i64> =
        futures_util::future::join_all(series.iter().map(|s| version(&w.app, s))).await;
    assert_eq!(
        after, versions,
        "no local series was rewritten by its own echo"
    );

    // Deleting a series deletes it in Outlook; the mirror follows.
    let v = version(&w.app, &series[4]).await;
    w.app
        .ok(
            "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }",
            json!({ "i": { "id": series[4], "expectedVersion": v } }),
        )
        .await;
    w.sync(&link).await;
    assert_eq!(w.outlook_events().len(), series.len() - 1);
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);
}

async fn edits_made_in_outlook_flow_back(w: World) {
    let cal = w.app.create_calendar("Work", "Europe/Berlin").await;
    let (series, _) = w
        .app
        .create_series(&cal, json!({ "title": "Review", "start": "2027-10-18T10:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=6" } }))
        .await
        .expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    let master = w.outlook_events().pop().expect("pushed");
    let master_id = master["id"].as_str().expect("id").to_string();
    let user = w.outlook_user();
    // Across the Oct 31 2027 DST change: 10:00 CEST is 08:00Z before, 10:00 CET is 09:00Z after.
    let from = chrono::DateTime::parse_from_rfc3339("2027-10-01T00:00:00Z")
        .expect("t")
        .with_timezone(&chrono::Utc);
    let to = chrono::DateTime::parse_from_rfc3339("2027-12-31T00:00:00Z")
        .expect("t")
        .with_timezone(&chrono::Utc);
    let instances = user
        .instances(&master_id, from, to)
        .await
        .expect("instances");
    let at = |utc: &str| {
        instances
            .iter()
            .find(|o| {
                o.original_start
                    .as_ref()
                    .is_some_and(|t| t.to_utc().to_rfc3339() == utc)
            })
            .and_then(|o| o.id.clone())
            .expect("occurrence")
    };
    user.patch_event(&at("2027-10-25T08:00:00+00:00"), &json!({ "subject": "Review (moved)", "start": { "dateTime": "2027-10-25T13:00:00", "timeZone": "UTC" }, "end": { "dateTime": "2027-10-25T14:00:00", "timeZone": "UTC" } }), None)
        .await
        .expect("move");
    user.delete_event(&at("2027-11-08T09:00:00+00:00"), None)
        .await
        .expect("delete occurrence");
    user.patch_event(&master_id, &json!({ "subject": "Design review" }), None)
        .await
        .expect("retitle");
    let lunch = json!({ "subject": "Lunch", "start": { "dateTime": "2027-10-20T11:00:00", "timeZone": "UTC" }, "end": { "dateTime": "2027-10-20T12:00:00", "timeZone": "UTC" } });
    user.create_event(None, &serde_json::from_value(lunch).expect("event"))
        .await
        .expect("create");

    let r = w.sync(&link).await;
    assert_eq!(r["error"], Value::Null, "{r}");
    let shown: Vec<(String, String)> = w
        .shown(&cal)
        .await
        .into_iter()
        .map(|(s, _, t)| (s, t))
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                "2027-10-18T08:00:00Z".to_string(),
                "Design review".to_string()
            ),
            ("2027-10-20T11:00:00Z".into(), "Lunch".into()),
            ("2027-10-25T13:00:00Z".into(), "Review (moved)".into()),
            ("2027-11-01T09:00:00Z".into(), "Design review".into()),
            ("2027-11-15T09:00:00Z".into(), "Design review".into()),
            ("2027-11-22T09:00:00Z".into(), "Design review".into()),
        ]
    );
    assert!(version(&w.app, &series).await > 1);
    let quiet = w.sync(&link).await;
    assert_eq!(
        quiet["pushed"],
        json!(0),
        "nothing echoes back to Outlook: {quiet}"
    );
    assert_eq!(quiet["fullSync"], json!(false), "{quiet}");
    // A week later the delta window is re-centred on today with a fresh (full) round, which
    // finds nothing new.
    let stored = w
        .app
        .state
        .store
        .link(almanac_domain::OrganizationId::DEFAULT, &link)
        .await
        .expect("db")
        .expect("link")
        .sync_cursor
        .expect("a cursor");
    let (_, delta_link) = stored.split_once('|').expect("window start and deltaLink");
    let week_ago = chrono::Utc::now().timestamp() - 8 * 86_400;
    w.app
        .state
        .store
        .save_cursor(&link, Some(&format!("{week_ago}|{delta_link}")), None)
        .await
        .expect("db");
    let rolled = w.sync(&link).await;
    assert_eq!(rolled["fullSync"], json!(true), "{rolled}");
    assert_eq!(
        (
            rolled["updatedLocally"].as_i64(),
            rolled["createdLocally"].as_i64(),
            rolled["deletedLocally"].as_i64()
        ),
        (Some(0), Some(0), Some(0)),
        "{rolled}"
    );
}

/// "The 31st of every month" cannot be said in Outlook (Exchange clamps to the month's end, RFC
/// 5545 skips short months). With the default policy the push is refused and says why.
async fn a_rule_outlook_cannot_express_is_refused_with_the_reason(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "Month end", "start": "2027-01-31T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=MONTHLY;COUNT=6" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    let r = w.sync(&link).await;
    assert_eq!(
        r["error"],
        Value::Null,
        "a refused series does not fail the round: {r}"
    );
    let d = w
        .app
        .ok(
            "query($id: ID!) { series(id: $id) { providerCopies { fidelity fidelityDetail } } }",
            json!({ "id": s }),
        )
        .await;
    assert_eq!(
        d["series"]["providerCopies"][0]["fidelity"], "REJECTED",
        "{d}"
    );
    let why = d["series"]["providerCopies"][0]["fidelityDetail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("31") || why.to_lowercase().contains("month"),
        "the reason names the problem: {why}"
    );
    assert!(w.outlook_events().is_empty(), "nothing was pushed");
    assert_eq!(
        pending(&w.app, &link).await,
        0,
        "a refusal is final, not retried forever"
    );
}

/// With `--outlook-fallback nearest` the same rule is pushed as "day 31, clamped" plus deletions
/// of the clamped occurrences: Outlook then shows exactly Almanac's occurrences, and the fidelity
/// result says DEGRADED and why.
async fn the_nearest_fallback_gives_the_same_occurrences(engine: Engine) {
    let w = world(engine, true).await;
    let cal = w.app.create_calendar("Work", "UTC").await;
    let mirror = w.app.create_calendar("Mirror", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "Month end", "start": "2027-01-31T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=MONTHLY;COUNT=6" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;
    w.sync(&link).await;
    let d = w
        .app
        .ok(
            "query($id: ID!) { series(id: $id) { providerCopies { fidelity fidelityDetail } } }",
            json!({ "id": s }),
        )
        .await;
    assert_eq!(
        d["series"]["providerCopies"][0]["fidelity"], "DEGRADED",
        "{d}"
    );
    w.sync(&mirror_link).await;
    let expected = w.shown(&cal).await;
    assert_eq!(expected.len(), 6);
    assert_eq!(
        w.shown(&mirror).await,
        expected,
        "Outlook shows the RFC occurrences (Jan 31, Mar 31, May 31, …)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_nearest_fallback_gives_the_same_occurrences() {
    the_nearest_fallback_gives_the_same_occurrences(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_nearest_fallback_gives_the_same_occurrences() {
    the_nearest_fallback_gives_the_same_occurrences(Engine::Postgres).await
}

/// 1,000 local changes pushed while 5 % of Graph's answers fail (429 with and without
/// Retry-After, 503, 500, timeouts, writes whose response is lost): once faults stop, at most
/// three rounds converge, with no duplicate and no lost event.
async fn a_thousand_changes_under_faults_converge_without_duplicates_or_losses(w: World) {
    let cal = w.app.create_calendar("Busy", "UTC").await;
    let link = w.link(&cal, "PUSH_ONLY").await;
    w.outlook
        .set_throttling(almanac_emulators::outlook::Throttling::unlimited());
    w.outlook.inject_faults(FaultPlan::random(
        0.05,
        vec![
            FaultKind::Throttled429 {
                retry_after_secs: 0,
            },
            FaultKind::Throttled429WithoutRetryAfter,
            FaultKind::ServiceUnavailable503 {
                retry_after_secs: 0,
            },
            FaultKind::InternalServerError500,
            FaultKind::Timeout(Duration::from_secs(2)),
            FaultKind::LostResponse500,
            FaultKind::LostResponseDrop,
        ],
        11,
    ));
    let start = |i: usize| {
        chrono::NaiveDate::from_ymd_opt(2027, 7, 1)
            .expect("date")
            .and_hms_opt(8 + (i % 10) as u32, 0, 0)
            .expect("time")
            + chrono::Duration::days((i % 20) as i64)
    };
    let mut changes = 0;
    let mut ids = Vec::new();
    for i in 0..250 {
        let input = json!({ "title": format!("s{i}"), "start": start(i).format("%Y-%m-%dT%H:%M:%S").to_string(), "duration": "PT30M", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=4" } });
        ids.push(w.app.create_series(&cal, input).await.expect("series").0);
        changes += 1;
    }
    w.sync(&link).await;
    const UPDATE: &str =
        "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { version } } }";
    for (i, id) in ids.iter().enumerate() {
        w.app
            .ok(
                UPDATE,
                json!({ "i": { "id": id, "expectedVersion": 1, "title": format!("t{i}") } }),
            )
            .await;
        changes += 1;
    }
    w.sync(&link).await;
    for (i, id) in ids.iter().enumerate() {
        let second = (start(i) + chrono::Duration::days(7))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        if i % 2 == 0 {
            w.app.ok(DELETE, json!({ "i": { "occurrence": occ(id, &second), "scope": "THIS", "expectedVersion": 2 } })).await;
        } else {
            w.app.ok(EDIT, json!({ "i": { "occurrence": occ(id, &second), "scope": "THIS", "expectedVersion": 2, "changes": { "title": "special" } } })).await;
        }
        changes += 1;
    }
    w.sync(&link).await;
    for (i, id) in ids.iter().enumerate().take(200) {
        w.app
            .ok(
                UPDATE,
                json!({ "i": { "id": id, "expectedVersion": 3, "title": format!("u{i}") } }),
            )
            .await;
        changes += 1;
    }
    for id in ids.iter().skip(200) {
        w.app
            .ok(
                "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }",
                json!({ "i": { "id": id, "expectedVersion": 3 } }),
            )
            .await;
        changes += 1;
    }
    assert_eq!(changes, 1000);
    w.sync(&link).await;
    let faults = w
        .outlook
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faults >= 10, "faults were injected: {faults}");
    w.outlook.clear_faults();

    make_due_now(&w.app).await;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let r = w.sync(&link).await;
        let left = pending(&w.app, &link).await;
        if left == 0 {
            break;
        }
        assert!(
            rounds < 3,
            "not converged after {rounds} rounds: {left} pending, {r}"
        );
        make_due_now(&w.app).await;
    }
    let events = w.outlook_events();
    let mut subjects: Vec<String> = events
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    subjects.sort();
    let total = subjects.len();
    subjects.dedup();
    assert_eq!(
        (total, subjects.len()),
        (200, 200),
        "every live series exactly once, deleted ones gone"
    );
    let mirror = w.app.create_calendar("Mirror", "UTC").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);
}

/// Graph forgets the delta token (410 syncStateNotFound) while a local edit waits to be pushed:
/// the full resync loses nothing.
async fn an_expired_delta_token_loses_no_pending_local_edit(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "A", "start": "2027-09-01T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=5" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    // Faults and the expired token first, so whichever round runs next (ours, or one a
    // notification started) meets them.
    let plan = (0..3).fold(FaultPlan::default(), |p, _| {
        p.then(
            FaultMatch::method("PATCH"),
            FaultKind::InternalServerError500,
        )
    });
    w.outlook.inject_faults(plan);
    w.outlook.expire_delta_tokens();
    w.app
        .ok(
            "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { version } } }",
            json!({ "i": { "id": s, "expectedVersion": 1, "title": "B" } }),
        )
        .await;
    w.sync(&link).await;
    assert!(
        w.outlook.requests().iter().any(|q| q.status == 410),
        "the delta token was refused (410) and a full round followed"
    );
    assert_eq!(
        w.outlook
            .requests()
            .iter()
            .filter(|q| q.method == "PATCH" && q.fault.is_some())
            .count(),
        3,
        "the edit's push was refused"
    );
    assert_eq!(
        w.shown(&cal).await[0].2,
        "B",
        "the pending edit is still the local state"
    );
    // Not lost: still queued, unless a notification-started round retried it once its backoff
    // (about a second) had passed, in which case Outlook already has it.
    let queued = pending(&w.app, &link).await == 1;
    assert!(
        queued || w.outlook_events()[0]["subject"] == "B",
        "the edit is neither queued nor in Outlook"
    );
    w.outlook.clear_faults();
    make_due_now(&w.app).await;
    w.sync(&link).await;
    assert_eq!(pending(&w.app, &link).await, 0);
    assert_eq!(
        w.outlook_events()[0]["subject"],
        "B",
        "the edit reached Outlook after the resync"
    );
}

/// The round is killed right after Outlook applied the trim of a split, before the continuation
/// was created or anything recorded; the next rounds recover with no orphan and no duplicate.
async fn a_round_killed_mid_split_recovers_without_orphans_or_duplicates(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "Class", "start": "2027-09-06T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=10" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    w.app.ok(EDIT, json!({ "i": { "occurrence": occ(&s, "2027-10-04T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "Class (new room)" } } })).await;
    w.outlook.clear_requests();
    let app = w.app.state.clone();
    let record = app
        .store
        .link(almanac_domain::OrganizationId::DEFAULT, &link)
        .await
        .expect("db")
        .expect("link");
    let task =
        tokio::spawn(async move { almanac_api::services::sync::run_round(&app, &record).await });
    loop {
        if w.outlook
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && (200..300).contains(&r.status))
        {
            task.abort();
            break;
        }
        if task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = task.await;
    w.sync(&link).await;
    w.sync(&link).await;
    assert_eq!(pending(&w.app, &link).await, 0);
    assert_eq!(
        w.outlook_events().len(),
        2,
        "the trimmed original and exactly one continuation"
    );
    let mirror = w.app.create_calendar("Mirror", "UTC").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);
}

/// A create whose response was lost after Graph applied it is not duplicated: the retry carries
/// the same transactionId.
async fn a_lost_create_response_is_not_duplicated(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    w.app
        .create_series(
            &cal,
            json!({ "title": "Once", "start": "2027-09-01T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    w.outlook.inject_faults(
        FaultPlan::default().then(FaultMatch::method("POST"), FaultKind::LostResponseDrop),
    );
    w.sync(&link).await;
    make_due_now(&w.app).await;
    w.sync(&link).await;
    assert_eq!(pending(&w.app, &link).await, 0);
    assert_eq!(w.outlook_events().len(), 1, "one event, not two");
}

/// Graph allows 4 requests in flight per mailbox, not per round: two calendars of one account
/// pulling at the same time (master reads fan out 4 at a time) share that budget, so Graph never
/// has to throttle them.
async fn rounds_for_one_mailbox_share_its_concurrency_limit(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    for i in 0..12 {
        let rule = format!("FREQ=DAILY;INTERVAL={};COUNT=5", 1 + i % 3);
        w.app.create_series(&cal, json!({ "title": format!("s{i}"), "start": format!("2027-09-{:02}T{:02}:00:00", 1 + i, 8 + i % 8), "duration": "PT30M", "recurrence": { "rrule": rule } })).await.expect("series");
    }
    let link = w.link(&cal, "TWO_WAY").await;
    let pushed = w.sync(&link).await;
    assert_eq!(pushed["pushed"], json!(12), "{pushed}");
    let mirrors = [
        w.app.create_calendar("Mirror A", "UTC").await,
        w.app.create_calendar("Mirror B", "UTC").await,
    ];
    let links = [
        w.link(&mirrors[0], "PULL_ONLY").await,
        w.link(&mirrors[1], "PULL_ONLY").await,
    ];
    // Every request is held a while, so the two rounds' reads overlap.
    w.outlook
        .set_processing_delay(std::time::Duration::from_millis(40));
    w.outlook.clear_requests();
    let (a, b) = futures_util::future::join(w.sync(&links[0]), w.sync(&links[1])).await;
    w.outlook.set_processing_delay(std::time::Duration::ZERO);
    assert_eq!(
        (a["error"].clone(), b["error"].clone()),
        (Value::Null, Value::Null),
        "{a} {b}"
    );
    let requests = w.outlook.requests();
    let masters_read = requests
        .iter()
        .filter(|q| q.method == "GET" && !q.path.contains("delta"))
        .count();
    assert!(
        masters_read >= 24,
        "both rounds read every master: {masters_read}"
    );
    let throttled: Vec<_> = requests
        .iter()
        .filter(|q| q.status == 429)
        .map(|q| (q.method.clone(), q.path.clone()))
        .collect();
    assert_eq!(throttled, Vec::new(), "Graph had to throttle the mailbox");
    let shown = w.shown(&cal).await;
    assert_eq!(w.shown(&mirrors[0]).await, shown);
    assert_eq!(w.shown(&mirrors[1]).await, shown);
}

/// Linking subscribes to change notifications (through the validation handshake); a change made
/// in Outlook arrives without a forced sync; a removed subscription is recreated.
async fn change_notifications_trigger_a_sync_and_subscriptions_are_kept_alive(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    let before = w
        .app
        .state
        .store
        .link(almanac_domain::OrganizationId::DEFAULT, &link)
        .await
        .expect("db")
        .expect("link");
    let subscription = before
        .channel_id
        .clone()
        .expect("a subscription was created");
    let event = json!({ "subject": "From Outlook", "start": { "dateTime": "2027-09-02T10:00:00", "timeZone": "UTC" }, "end": { "dateTime": "2027-09-02T11:00:00", "timeZone": "UTC" } });
    w.outlook_user()
        .create_event(None, &serde_json::from_value(event).expect("event"))
        .await
        .expect("create");
    let mut seen = false;
    for _ in 0..200 {
        if !w.shown(&cal).await.is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen, "the notification ran a round that pulled the event");
    assert!(w
        .outlook
        .send_lifecycle_notification(&subscription, LifecycleEvent::SubscriptionRemoved));
    let mut renewed = false;
    for _ in 0..200 {
        let now = w
            .app
            .state
            .store
            .link(almanac_domain::OrganizationId::DEFAULT, &link)
            .await
            .expect("db")
            .expect("link");
        if now.channel_id.is_some() && now.channel_id != Some(subscription.clone()) {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(renewed, "a new subscription replaced the removed one");
    // A notification with the wrong clientState is refused.
    let forged = json!({ "value": [{ "subscriptionId": subscription, "clientState": "forged", "changeType": "updated", "resource": "me/events/x" }] });
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/outlook", w.app.url))
        .json(&forged)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 404);
}

/// Microsoft rotates the refresh token on every refresh: the new one is stored (sealed) and used
/// next time; a revoked grant pauses the connection without deleting anything.
async fn rotating_refresh_tokens_are_persisted(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    let sealed_before = w
        .app
        .state
        .store
        .connection_by_id(&w.connection)
        .await
        .expect("db")
        .expect("c")
        .refresh_token;
    w.outlook.expire_access_tokens();
    w.app
        .create_series(
            &cal,
            json!({ "title": "x", "start": "2027-09-01T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    let r = w.sync(&link).await;
    assert_eq!(r["error"], Value::Null, "{r}");
    let sealed_after = w
        .app
        .state
        .store
        .connection_by_id(&w.connection)
        .await
        .expect("db")
        .expect("c")
        .refresh_token;
    assert_ne!(
        sealed_before, sealed_after,
        "the rotated refresh token was stored"
    );
    w.outlook.expire_access_tokens();
    w.app
        .create_series(
            &cal,
            json!({ "title": "y", "start": "2027-09-02T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    let r = w.sync(&link).await;
    assert_eq!(
        r["error"],
        Value::Null,
        "the stored (rotated) token refreshes again: {r}"
    );
    w.outlook.revoke_refresh_tokens(ACCOUNT);
    w.outlook.expire_access_tokens();
    w.app
        .create_series(
            &cal,
            json!({ "title": "z", "start": "2027-09-03T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    let r = w.sync(&link).await;
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid_grant") || e.contains("authorized again")),
        "{r}"
    );
    let d = w.app.ok("{ providerAccounts { state } }", json!({})).await;
    assert_eq!(d["providerAccounts"][0]["state"], "NEEDS_REAUTH");
    assert_eq!(w.shown(&cal).await.len(), 3, "nothing local was deleted");
}

outlook_tests!(
    what_almanac_shows_comes_back_from_outlook_into_an_empty_calendar,
    rounds_for_one_mailbox_share_its_concurrency_limit,
    edits_made_in_outlook_flow_back,
    a_rule_outlook_cannot_express_is_refused_with_the_reason,
    a_thousand_changes_under_faults_converge_without_duplicates_or_losses,
    an_expired_delta_token_loses_no_pending_local_edit,
    a_round_killed_mid_split_recovers_without_orphans_or_duplicates,
    a_lost_create_response_is_not_duplicated,
    change_notifications_trigger_a_sync_and_subscriptions_are_kept_alive,
    rotating_refresh_tokens_are_persisted,
);

/// One calendar linked to Google and to Outlook at once: a change made in either reaches the
/// other, and the links settle (no echo loop: a further round pushes nothing anywhere).
async fn one_calendar_syncs_to_google_and_outlook_without_echo_loops(engine: Engine) {
    let google = GoogleEmulator::start(GoogleEmulatorConfig::default())
        .await
        .expect("google");
    google.add_account(ACCOUNT);
    let outlook = OutlookEmulator::start(OutlookEmulatorConfig::default())
        .await
        .expect("outlook");
    outlook.add_account(ACCOUNT);
    let (g_auth, g_token, g_api) = (google.auth_url(), google.token_url(), google.base_url());
    let (login, api) = (format!("http://{}", outlook.addr()), outlook.base_url());
    let app = spawn_app_with(engine, move |s| {
        s.sync.google_client_id = Some("almanac-dev".into());
        s.sync.google_client_secret = Some("almanac-dev-secret".into());
        s.sync.google_auth_url = g_auth;
        s.sync.google_token_url = g_token;
        s.sync.google_api_url = g_api;
        s.sync.microsoft_client_id = Some("almanac-dev".into());
        s.sync.microsoft_client_secret = Some("almanac-dev-secret".into());
        s.sync.microsoft_login_url = login;
        s.sync.graph_api_url = api;
        s.sync.outlook_window_past_days = 3650;
        s.sync.outlook_window_future_days = 3650;
    })
    .await;
    let g = almanac_e2e::sync::connect(&app, "connectGoogle", ACCOUNT).await;
    let o = almanac_e2e::sync::connect(&app, "connectOutlook", ACCOUNT).await;
    let cal = app.create_calendar("Both", "UTC").await;
    let (s, _) = app.create_series(&cal, json!({ "title": "Sync me", "start": "2027-09-06T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=4" } })).await.expect("series");
    let gl = link(&app, &g, &cal, ACCOUNT, "TWO_WAY").await;
    let ol = link(&app, &o, &cal, "primary", "TWO_WAY").await;
    let settle = || async {
        for _ in 0..3 {
            round(&app, &gl).await;
            round(&app, &ol).await;
        }
    };
    settle().await;
    // Edit in Google: it comes back here and goes on to Outlook.
    let g_user = {
        let t = google.issue_tokens(ACCOUNT);
        let cfg = almanac_providers::google::GoogleClientConfig {
            base_url: google.base_url(),
            ..Default::default()
        };
        almanac_providers::google::GoogleCalendarClient::new(
            cfg,
            Arc::new(StaticAccessToken::new(t.access_token)),
        )
        .expect("client")
    };
    let parent = google
        .events_snapshot(ACCOUNT)
        .into_iter()
        .find(|e| e.get("recurringEventId").is_none() && e["status"] != "cancelled")
        .expect("pushed to Google");
    g_user
        .patch_event(
            ACCOUNT,
            parent["id"].as_str().expect("id"),
            &json!({ "summary": "Renamed in Google" }),
            None,
        )
        .await
        .expect("patch");
    settle().await;
    let in_outlook: Vec<Value> = outlook
        .events_snapshot(ACCOUNT)
        .into_iter()
        .filter(|e| e["type"] == "seriesMaster")
        .collect();
    assert_eq!(in_outlook.len(), 1, "{in_outlook:?}");
    assert_eq!(
        in_outlook[0]["subject"], "Renamed in Google",
        "Google's edit reached Outlook"
    );
    // And nothing keeps bouncing: one more pass pushes nothing and changes nothing.
    let v = version(&app, &s).await;
    let (a, b) = (round(&app, &gl).await, round(&app, &ol).await);
    assert_eq!(
        (a["pushed"].as_i64(), b["pushed"].as_i64()),
        (Some(0), Some(0)),
        "{a} {b}"
    );
    assert_eq!(
        (a["updatedLocally"].as_i64(), b["updatedLocally"].as_i64()),
        (Some(0), Some(0)),
        "{a} {b}"
    );
    assert_eq!(version(&app, &s).await, v);
    assert_eq!(
        google
            .events_snapshot(ACCOUNT)
            .into_iter()
            .filter(|e| e.get("recurringEventId").is_none() && e["status"] != "cancelled")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_calendar_syncs_to_google_and_outlook_without_echo_loops() {
    one_calendar_syncs_to_google_and_outlook_without_echo_loops(Engine::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_calendar_syncs_to_google_and_outlook_without_echo_loops() {
    one_calendar_syncs_to_google_and_outlook_without_echo_loops(Engine::Postgres).await
}
