//! Two-way sync with Google Calendar, end to end: GraphQL on the real app, the Google adapter,
//! and the Google emulator (a real HTTP server speaking Calendar v3). Every test runs on SQLite and
//! on PostgreSQL. The runs Google shares with Outlook are in `sync_matrix.rs`, over this file's
//! [`World`].
//!
//! The round-trip check is the point of the file: what Almanac shows in a calendar, pushed to
//! Google and pulled back into a second, empty Almanac calendar, shows the same occurrences.

use crate::sync_matrix::{Exchange, RoundTrip, SyncWorld};
use almanac_e2e::sync::pending;
use almanac_e2e::{spawn_app_with, Engine, TestApp};
use almanac_emulators::google::{
    FaultKind, FaultMatch, FaultPlan, GoogleEmulator, GoogleEmulatorConfig,
};
use almanac_providers::google::wire::{Event, EventDateTime};
use almanac_providers::google::{GoogleCalendarClient, GoogleClientConfig, StaticAccessToken};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const ACCOUNT: &str = "ada@example.com";

pub struct World {
    app: TestApp,
    google: GoogleEmulator,
    connection: String,
    logs: CapturingLogs,
}

macro_rules! google_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(<super::World as crate::sync_matrix::SyncWorld>::start(almanac_e2e::Engine::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(<super::World as crate::sync_matrix::SyncWorld>::start(almanac_e2e::Engine::Postgres).await).await
                }
            )*
        }
    };
}

/// Everything the process logs while a Google world is alive, at every level (ours, sqlx,
/// reqwest, hyper), so a test can check that no token ever reaches a log line. The whole suite is
/// one process: while no Google world is alive nothing is recorded, so the other tests neither
/// pay for TRACE formatting nor grow the buffer.
struct LogCapture {
    buffer: Mutex<Vec<u8>>,
    worlds: AtomicUsize,
}

static LOGS: OnceLock<Arc<LogCapture>> = OnceLock::new();

#[derive(Clone)]
struct LogSink(Arc<LogCapture>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_capture() -> Arc<LogCapture> {
    LOGS.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        let capture = Arc::new(LogCapture {
            buffer: Mutex::new(Vec::new()),
            worlds: AtomicUsize::new(0),
        });
        let sink = LogSink(capture.clone());
        let recording = capture.clone();
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || sink.clone())
                    .with_filter(tracing_subscriber::filter::filter_fn(move |_| {
                        recording.worlds.load(Ordering::Relaxed) > 0
                    })),
            )
            .try_init();
        capture
    })
    .clone()
}

/// Records the process's logs for as long as it lives. The count changes under the buffer's
/// lock, so the last world's clearing never wipes what a newer world has already recorded.
struct CapturingLogs(Arc<LogCapture>);

impl CapturingLogs {
    fn start() -> Self {
        let capture = log_capture();
        {
            let _buffer = capture.buffer.lock().unwrap_or_else(|p| p.into_inner());
            capture.worlds.fetch_add(1, Ordering::Relaxed);
        }
        CapturingLogs(capture)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.buffer.lock().unwrap_or_else(|p| p.into_inner()))
            .to_string()
    }
}

impl Drop for CapturingLogs {
    fn drop(&mut self) {
        let mut buffer = self.0.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if self.0.worlds.fetch_sub(1, Ordering::Relaxed) == 1 {
            *buffer = Vec::new();
        }
    }
}

async fn connect(app: &TestApp) -> String {
    almanac_e2e::sync::connect(app, "connectGoogle", ACCOUNT).await
}

impl SyncWorld for World {
    const PROVIDER: &'static str = "Google";
    const YEAR: i32 = 2026;

    async fn start(engine: Engine) -> Self {
        let logs = CapturingLogs::start();
        let google = GoogleEmulator::start(GoogleEmulatorConfig::default())
            .await
            .expect("emulator starts");
        google.add_account(ACCOUNT);
        let (auth, token, api) = (google.auth_url(), google.token_url(), google.base_url());
        let app = spawn_app_with(engine, move |s| {
            s.sync.google_client_id = Some("almanac-dev".into());
            s.sync.google_client_secret = Some("almanac-dev-secret".into());
            s.sync.google_auth_url = auth;
            s.sync.google_token_url = token;
            s.sync.google_api_url = api;
            // Injected timeouts hold a response for 2 s: give up on it sooner.
            s.sync.provider_timeout_ms = 800;
        })
        .await;
        let connection = connect(&app).await;
        World {
            app,
            google,
            connection,
            logs,
        }
    }

    fn app(&self) -> &TestApp {
        &self.app
    }

    async fn link(&self, calendar: &str, direction: &str) -> String {
        almanac_e2e::sync::link(&self.app, &self.connection, calendar, ACCOUNT, direction).await
    }

    fn remote_titles(&self) -> Vec<String> {
        self.google_parents()
            .iter()
            .map(|e| e["summary"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn create_remote_event(&self, title: &str, start: &str, end: &str) {
        let at = |t: &str| {
            EventDateTime::timed(
                chrono::DateTime::parse_from_rfc3339(t).expect("t"),
                Some("UTC"),
            )
        };
        let e = Event {
            summary: Some(title.into()),
            start: Some(at(start)),
            end: Some(at(end)),
            ..Event::default()
        };
        self.google_user()
            .insert_event(ACCOUNT, &e)
            .await
            .expect("insert");
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.google
            .requests()
            .into_iter()
            .map(|r| Exchange {
                method: r.method,
                status: r.status,
                faulted: r.fault.is_some(),
            })
            .collect()
    }

    fn clear_exchanges(&self) {
        self.google.clear_requests();
    }

    fn lift_quotas(&self) {
        self.google
            .set_quotas(almanac_emulators::google::Quotas::unlimited());
    }

    fn inject_random_faults(&self, rate: f64) {
        self.google.inject_faults(FaultPlan::random(
            rate,
            vec![
                FaultKind::RateLimit429,
                FaultKind::RateLimit403,
                FaultKind::BackendError500,
                FaultKind::Timeout(Duration::from_secs(2)),
                FaultKind::LostResponse500,
                FaultKind::LostResponseDrop,
            ],
            7,
        ));
    }

    fn fail_next(&self, method: &str, times: usize) {
        let plan = (0..times).fold(FaultPlan::default(), |plan, _| {
            plan.then(FaultMatch::method(method), FaultKind::BackendError500)
        });
        self.google.inject_faults(plan);
    }

    fn lose_next_response(&self, method: &str) {
        self.google.inject_faults(
            FaultPlan::default().then(FaultMatch::method(method), FaultKind::LostResponseDrop),
        );
    }

    fn clear_faults(&self) {
        self.google.clear_faults();
    }

    fn invalidate_sync_state(&self) {
        self.google.invalidate_sync_tokens(ACCOUNT);
    }

    async fn rich_calendar(&self) -> (String, Vec<String>) {
        rich_calendar(self).await
    }

    async fn round_trip_spot_checks(&self, _trip: &RoundTrip) {
        round_trip_spot_checks(self).await
    }

    /// Google sends a `sync` notification when a channel is created: its round is waited for.
    async fn quiet_notifications(&self, link: &str) {
        crate::sync_matrix::mute_notifications(&self.app, link, true).await
    }

    async fn forge_notification(&self, channel: &str) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/webhooks/google", self.app.url))
            .header("X-Goog-Channel-ID", channel)
            .header("X-Goog-Channel-Token", "forged")
            .header("X-Goog-Resource-State", "exists")
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    }
}

impl World {
    /// A client acting as the user in Google's own UI.
    fn google_user(&self) -> GoogleCalendarClient {
        let tokens = self.google.issue_tokens(ACCOUNT);
        let config = GoogleClientConfig {
            base_url: self.google.base_url(),
            ..GoogleClientConfig::default()
        };
        GoogleCalendarClient::new(
            config,
            Arc::new(StaticAccessToken::new(tokens.access_token)),
        )
        .expect("client")
    }

    /// Live (not cancelled) parent events in the Google calendar.
    fn google_parents(&self) -> Vec<Value> {
        self.google
            .events_snapshot(ACCOUNT)
            .into_iter()
            .filter(|e| e.get("recurringEventId").is_none() && e["status"] != "cancelled")
            .collect()
    }
}

const EDIT: &str = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { id version } originalSeries { id } userErrors { code message } } }";
const DELETE: &str = "mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { id version } deletedSeriesId userErrors { code message } } }";

fn occ(series: &str, rid: &str) -> Value {
    json!({ "seriesId": series, "recurrenceId": rid })
}

async fn version(app: &TestApp, series: &str) -> i64 {
    almanac_e2e::sync::version(app, series).await
}

/// The calendar every round-trip test starts from: a DST-crossing weekly series with a moved,
/// a cancelled and a retitled occurrence, a split with changes and a cancel-from on the
/// continuation, an all-day yearly series edited as a whole after one exception, a daily 02:30
/// series across the spring-forward night, and a single event.
async fn rich_calendar(w: &World) -> (String, Vec<String>) {
    let app = &w.app;
    let cal = app.create_calendar("Work", "America/New_York").await;
    let (weekly, _) = app
        .create_series(&cal, json!({ "title": "Standup", "start": "2026-03-02T09:00:00", "duration": "PT30M", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=30" } }))
        .await
        .expect("weekly");
    // Move one (after the DST change: 09:00 EDT is 13:00Z), cancel one, retitle one.
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2026-03-09T13:00:00Z"), "scope": "THIS", "expectedVersion": 1,
        "changes": { "start": "2026-03-09T15:00:00Z", "end": "2026-03-09T15:45:00Z", "title": "Standup (late)" } } })).await;
    app.ok(DELETE, json!({ "i": { "occurrence": occ(&weekly, "2026-03-11T13:00:00Z"), "scope": "THIS", "expectedVersion": 2 } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2026-03-16T13:00:00Z"), "scope": "THIS", "expectedVersion": 3, "changes": { "title": "Planning" } } })).await;
    // This and following from April 6th: new title, 10:00.
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": occ(&weekly, "2026-04-06T13:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 4,
            "changes": { "title": "Standup v2", "start": "2026-04-06T14:00:00Z", "end": "2026-04-06T14:30:00Z" } } }))
        .await;
    let continuation = d["editOccurrence"]["series"]["id"]
        .as_str()
        .expect("continuation")
        .to_string();
    // Cancel from May 4th on the continuation.
    let v = version(app, &continuation).await;
    app.ok(DELETE, json!({ "i": { "occurrence": occ(&continuation, "2026-05-04T14:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": v } })).await;

    let (yearly, _) = app.create_series(&cal, json!({ "title": "Anniversary", "start": "2026-05-01T00:00:00", "allDay": true, "duration": "P1D", "recurrence": { "rrule": "FREQ=YEARLY" } })).await.expect("all-day");
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&yearly, "2027-05-01T04:00:00Z"), "scope": "THIS", "expectedVersion": 1, "changes": { "title": "Anniversary (big one)" } } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&yearly, "2026-05-01T04:00:00Z"), "scope": "ALL", "expectedVersion": 2, "changes": { "title": "Founding day" } } })).await;

    let (night, _) = app
        .create_series(&cal, json!({ "title": "Backup", "start": "2026-03-06T02:30:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=DAILY;UNTIL=20260312T070000Z" } }))
        .await
        .expect("daily at 02:30");
    let (single, _) = app
        .create_series(
            &cal,
            json!({ "title": "Dentist", "start": "2026-06-10T16:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("single");
    (cal, vec![weekly, continuation, yearly, night, single])
}

/// What only Google's copy of the round-trip fixture shows: the wall-clock time kept across DST
/// and the split's trimmed rule.
async fn round_trip_spot_checks(w: &World) {
    let standup = w
        .google_parents()
        .into_iter()
        .find(|e| e["summary"] == "Standup")
        .expect("standup event");
    assert_eq!(standup["start"]["timeZone"], "America/New_York");
    let rule = standup["recurrence"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // A COUNT series is trimmed by its count: the ten occurrences before April 6th stay.
    assert_eq!(
        rule, "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE",
        "trimmed before the split"
    );
}

async fn edits_made_in_google_flow_back(w: World) {
    let cal = w.app.create_calendar("Work", "Europe/Berlin").await;
    let (series, _) = w
        .app
        .create_series(&cal, json!({ "title": "Review", "start": "2026-10-19T10:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=6" } }))
        .await
        .expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    // Only the test's own rounds pull: a notification round that pulled the EXRULE event first
    // would leave the test's round with nothing to refuse, and it would clear the link's error.
    w.quiet_notifications(&link).await;
    w.sync(&link).await;
    let parent = w.google_parents().pop().expect("pushed");
    let parent_id = parent["id"].as_str().expect("id").to_string();

    let google = w.google_user();
    // In Google: retitle the whole series, move one occurrence, cancel another (across the
    // Oct 25 DST change: 10:00 CEST is 08:00Z before, 10:00 CET is 09:00Z after).
    google
        .patch_event(
            ACCOUNT,
            &parent_id,
            &json!({ "summary": "Design review" }),
            None,
        )
        .await
        .expect("retitle");
    let second = google
        .find_instance(
            ACCOUNT,
            &parent_id,
            &EventDateTime::timed(
                chrono::DateTime::parse_from_rfc3339("2026-10-26T09:00:00Z").expect("t"),
                None,
            ),
        )
        .await
        .expect("lookup")
        .expect("instance on Oct 26");
    let moved = Event {
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-27T13:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-27T14:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        ..Event::default()
    };
    google
        .patch_event(ACCOUNT, second.id.as_deref().expect("id"), &moved, None)
        .await
        .expect("move");
    let third = google
        .find_instance(
            ACCOUNT,
            &parent_id,
            &EventDateTime::timed(
                chrono::DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z").expect("t"),
                None,
            ),
        )
        .await
        .expect("lookup")
        .expect("instance on Nov 2");
    google
        .delete_event(ACCOUNT, third.id.as_deref().expect("id"), None)
        .await
        .expect("cancel");
    // And a brand-new event made in Google.
    let new_event = Event {
        summary: Some("Lunch".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-21T11:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-21T12:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        ..Event::default()
    };
    google
        .insert_event(ACCOUNT, &new_event)
        .await
        .expect("insert");
    // One Almanac cannot represent exactly (EXRULE): reported on the link, never guessed at.
    let exrule = Event {
        summary: Some("Odd".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-20T07:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-10-20T08:00:00Z").expect("t"),
            Some("Europe/Berlin"),
        )),
        recurrence: Some(vec![
            "RRULE:FREQ=DAILY;COUNT=4".into(),
            "EXRULE:FREQ=DAILY;INTERVAL=2;COUNT=2".into(),
        ]),
        ..Event::default()
    };
    google.insert_event(ACCOUNT, &exrule).await.expect("insert");

    let round = w.sync(&link).await;
    assert_eq!(round["error"], Value::Null, "{round}");
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
                "2026-10-19T08:00:00Z".to_string(),
                "Design review".to_string()
            ),
            ("2026-10-21T11:00:00Z".into(), "Lunch".into()),
            ("2026-10-27T13:00:00Z".into(), "Design review".into()),
            ("2026-11-09T09:00:00Z".into(), "Design review".into()),
            ("2026-11-16T09:00:00Z".into(), "Design review".into()),
            ("2026-11-23T09:00:00Z".into(), "Design review".into()),
        ]
    );
    let d = w.app.ok("{ calendarLinks { lastError } }", json!({})).await;
    assert!(
        d["calendarLinks"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("EXRULE")),
        "{d}"
    );
    // Pulled changes are local changes like any other, but they are not pushed back.
    assert!(version(&w.app, &series).await > 1);
    let quiet = w.sync(&link).await;
    assert_eq!(
        quiet["pushed"],
        json!(0),
        "nothing echoes back to Google: {quiet}"
    );
}

/// Tokens are sealed: neither the database nor any API answer contains them.
async fn tokens_never_appear_in_plaintext(w: World) {
    let tokens = w.google.issue_tokens(ACCOUNT);
    let rows = w
        .app
        .state
        .store
        .connections(almanac_domain::OrganizationId::DEFAULT)
        .await
        .expect("connections");
    let stored = format!("{rows:?}");
    assert!(
        rows[0]
            .access_token
            .as_deref()
            .is_some_and(|t| t.starts_with("dev.")),
        "sealed with the dev key: {stored}"
    );
    // The emulator's tokens share a recognisable prefix; none of it is stored.
    let prefix: String = tokens.access_token.chars().take(12).collect();
    assert!(!stored.contains(&prefix), "no access token in the database");
    if let Some(refresh) = tokens.refresh_token {
        assert!(
            !stored.contains(&refresh.chars().take(12).collect::<String>()),
            "no refresh token in the database"
        );
    }
    // Revoke the grant and force a refresh: the error shown says what happened, without tokens.
    w.google.revoke_refresh_tokens(ACCOUNT);
    w.google.expire_access_tokens();
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    w.app
        .create_series(
            &cal,
            json!({ "title": "Kept", "start": "2026-09-01T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    let r = w.sync(&link).await;
    let error = r["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("invalid_grant") || error.contains("authorized again"),
        "{r}"
    );
    assert!(!error.contains(&prefix));
    let d = w
        .app
        .ok(
            "{ providerAccounts { state lastError } calendarLinks { lastError pendingChanges } }",
            json!({}),
        )
        .await;
    assert_eq!(d["providerAccounts"][0]["state"], "NEEDS_REAUTH", "{d}");
    assert_eq!(
        d["calendarLinks"][0]["pendingChanges"],
        json!(1),
        "the local change is kept for after reconnecting: {d}"
    );
    assert_eq!(w.shown(&cal).await.len(), 1, "nothing local was deleted");
    let all = format!("{d}");
    assert!(!all.contains(&prefix));
    let logs = w.logs.text();
    assert!(
        logs.len() > 10_000,
        "the capture works: {} bytes of logs",
        logs.len()
    );
    assert!(!logs.contains(&prefix), "an access token reached the logs");
    // Reconnecting resumes the link.
    connect(&w.app).await;
    let r = w.sync(&link).await;
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!(pending(&w.app, &link).await, 0);
}

/// Many requests that hit an expired access token at once cause one refresh.
async fn concurrent_expired_tokens_refresh_once(w: World) {
    let mut links = Vec::new();
    for i in 0..6 {
        let cal = w.app.create_calendar(&format!("c{i}"), "UTC").await;
        w.app.create_series(&cal, json!({ "title": format!("s{i}"), "start": "2026-09-01T09:00:00", "duration": "PT1H" })).await.expect("series");
        links.push(w.link(&cal, "TWO_WAY").await);
    }
    w.google.expire_access_tokens();
    w.google.clear_requests();
    futures_util::future::join_all(links.iter().map(|l| w.sync(l))).await;
    let refreshes = w
        .google
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/token"))
        .count();
    assert_eq!(refreshes, 1, "one refresh for six concurrent rounds");
    for l in &links {
        assert_eq!(pending(&w.app, l).await, 0);
    }
}

/// "This and following" done in Google (trim the rule, insert a new series from the split day)
/// arrives as a split: the new series continues the local one's lineage.
async fn a_split_made_in_google_arrives_as_a_split(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "Class", "start": "2026-09-07T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=8" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    let parent = w.google_parents().pop().expect("pushed");
    let google = w.google_user();
    google
        .patch_event(
            ACCOUNT,
            parent["id"].as_str().expect("id"),
            &json!({ "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20260927T235959Z"] }),
            None,
        )
        .await
        .expect("trim");
    let continuation = Event {
        summary: Some("Class (room 2)".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-28T10:00:00Z").expect("t"),
            Some("UTC"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-28T11:00:00Z").expect("t"),
            Some("UTC"),
        )),
        recurrence: Some(vec!["RRULE:FREQ=WEEKLY;COUNT=5".into()]),
        ..Event::default()
    };
    google
        .insert_event(ACCOUNT, &continuation)
        .await
        .expect("insert");
    w.sync(&link).await;
    let d = w.app.ok("query($id: ID!) { series(id: $id) { continuations { title lineage { rootSeriesId parentSeriesId splitAt } } } }", json!({ "id": s })).await;
    let c = &d["series"]["continuations"];
    assert_eq!(c.as_array().map(Vec::len), Some(1), "{d}");
    assert_eq!(c[0]["title"], "Class (room 2)");
    assert_eq!(c[0]["lineage"]["rootSeriesId"], json!(s));
    assert_eq!(c[0]["lineage"]["parentSeriesId"], json!(s));
    assert_eq!(
        almanac_e2e::to_utc(c[0]["lineage"]["splitAt"].as_str().unwrap_or_default()),
        "2026-09-28T09:00:00Z"
    );
    let shown = w.shown(&cal).await;
    assert_eq!(shown.len(), 3 + 5, "three kept, five continued: {shown:?}");
}

/// The same split, with a round between Google's two calls (each call notifies, so rounds can
/// fall between them): the new series still continues the trimmed one.
async fn a_split_made_in_google_across_two_rounds_is_still_a_split(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let (s, _) = w.app.create_series(&cal, json!({ "title": "Class", "start": "2026-09-07T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=8" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    let parent = w.google_parents().pop().expect("pushed");
    let google = w.google_user();
    google
        .patch_event(
            ACCOUNT,
            parent["id"].as_str().expect("id"),
            &json!({ "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20260927T235959Z"] }),
            None,
        )
        .await
        .expect("trim");
    w.sync(&link).await;
    assert_eq!(w.shown(&cal).await.len(), 3, "the trim arrived on its own");
    let continuation = Event {
        summary: Some("Class (room 2)".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-28T10:00:00Z").expect("t"),
            Some("UTC"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-28T11:00:00Z").expect("t"),
            Some("UTC"),
        )),
        recurrence: Some(vec!["RRULE:FREQ=WEEKLY;COUNT=5".into()]),
        ..Event::default()
    };
    google
        .insert_event(ACCOUNT, &continuation)
        .await
        .expect("insert");
    w.sync(&link).await;
    let d = w.app.ok("query($id: ID!) { series(id: $id) { continuations { title lineage { parentSeriesId } } } }", json!({ "id": s })).await;
    assert_eq!(
        d["series"]["continuations"][0]["lineage"]["parentSeriesId"],
        json!(s),
        "{d}"
    );
    assert_eq!(w.shown(&cal).await.len(), 8);
}

/// A remote calendar that suddenly lists every series as deleted (a wiped or swapped calendar)
/// does not empty the local one.
async fn an_emptied_remote_calendar_does_not_delete_everything_locally(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    for i in 0..20 {
        w.app.create_series(&cal, json!({ "title": format!("s{i}"), "start": format!("2026-09-{:02}T09:00:00", i + 1), "duration": "PT1H" })).await.expect("series");
    }
    let link = w.link(&cal, "TWO_WAY").await;
    w.quiet_notifications(&link).await;
    w.sync(&link).await;
    assert_eq!(w.google_parents().len(), 20);
    let google = w.google_user();
    for e in w.google_parents() {
        google
            .delete_event(ACCOUNT, e["id"].as_str().expect("id"), None)
            .await
            .expect("delete");
    }
    // The deletions may arrive in one round or several (each deletion notifies); either way no
    // more than half of the calendar goes within the hour, and the rest are held.
    let r = w.sync(&link).await;
    let left = w.app.series_count(&cal).await;
    assert!(
        left >= 10,
        "at most half deleted, {left} of 20 series left: {r}"
    );
    let d = w.app.ok("{ calendarLinks { lastError } }", json!({})).await;
    assert!(
        d["calendarLinks"][0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("held back")),
        "{d}"
    );
    // One deletion is an ordinary change and goes through.
    // (Its own Google calendar: the first one's link would otherwise import it as well.)
    let small = w.google.add_calendar(ACCOUNT, "Small", "UTC");
    let cal2 = w.app.create_calendar("Small", "UTC").await;
    let (one, _) = w
        .app
        .create_series(
            &cal2,
            json!({ "title": "only", "start": "2026-09-01T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series");
    let link2 = almanac_e2e::sync::link(&w.app, &w.connection, &cal2, &small, "TWO_WAY").await;
    w.quiet_notifications(&link2).await;
    w.sync(&link2).await;
    let event = w
        .google
        .events_snapshot(&small)
        .into_iter()
        .find(|e| e["summary"] == "only" && e["status"] != "cancelled")
        .expect("pushed");
    google
        .delete_event(&small, event["id"].as_str().expect("id"), None)
        .await
        .expect("delete");
    w.sync(&link2).await;
    assert_eq!(w.app.series_count(&cal2).await, 0, "{one} was deleted");
}

/// Changes pulled from Google reach GraphQL subscribers like any other change.
async fn pulled_changes_fire_subscriptions(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "PULL_ONLY").await;
    w.sync(&link).await;
    let mut sub = almanac_e2e::WsSubscription::start(&w.app.url, json!({}), "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { change seriesId series { title } } }", json!({ "c": [cal] }))
        .await
        .expect("subscribed");
    let e = Event {
        summary: Some("From Google".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-02T10:00:00Z").expect("t"),
            Some("UTC"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-02T11:00:00Z").expect("t"),
            Some("UTC"),
        )),
        ..Event::default()
    };
    w.google_user()
        .insert_event(ACCOUNT, &e)
        .await
        .expect("insert");
    w.sync(&link).await;
    let msg = sub.next(10).await.expect("an event");
    assert_eq!(
        msg["payload"]["data"]["seriesChanged"]["series"]["title"], "From Google",
        "{msg}"
    );
}

/// The background worker renews a watch channel before it expires (the old one is stopped) and
/// runs the periodic round that catches what notifications missed.
async fn the_worker_renews_channels_and_runs_the_safety_net_round(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    // Let the round that the channel's first (`sync`) notification started finish, so that no
    // round is in flight when the notifications stop arriving below.
    let mut first_round_done = false;
    for _ in 0..400 {
        let l = w
            .app
            .state
            .store
            .link(
                almanac_domain::OrganizationId::DEFAULT,
                link.parse().expect("link id"),
            )
            .await
            .expect("db")
            .expect("link");
        if l.last_synced_at.is_some() {
            first_round_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(first_round_done, "the sync notification ran a round");
    let before = w
        .app
        .state
        .store
        .link(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
        )
        .await
        .expect("db")
        .expect("link");
    let old_channel = before.channel_id.clone().expect("a channel");
    // Pretend the channel expires within the renewal margin, and make its notifications fail
    // verification (as if they were lost): only the worker can bring the next change in.
    let soon = chrono::Utc::now().timestamp() + 3600;
    w.app
        .state
        .store
        .set_channel(
            almanac_domain::OrganizationId::DEFAULT,
            before.id,
            before.channel_id.as_deref(),
            before.channel_resource_id.as_deref(),
            Some("lost"),
            Some(soon),
        )
        .await
        .expect("db");
    let e = Event {
        summary: Some("Missed".into()),
        start: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-02T10:00:00Z").expect("t"),
            Some("UTC"),
        )),
        end: Some(EventDateTime::timed(
            chrono::DateTime::parse_from_rfc3339("2026-09-02T11:00:00Z").expect("t"),
            Some("UTC"),
        )),
        ..Event::default()
    };
    w.google_user()
        .insert_event(ACCOUNT, &e)
        .await
        .expect("insert");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        w.shown(&cal).await.len(),
        0,
        "the notification was refused, nothing pulled yet"
    );
    almanac_api::sync::worker::worker_pass(&w.app.state).await;
    let after = w
        .app
        .state
        .store
        .link(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
        )
        .await
        .expect("db")
        .expect("link");
    assert_ne!(
        after.channel_id.as_deref(),
        Some(old_channel.as_str()),
        "a new channel"
    );
    assert!(
        after.channel_expires_at.is_some_and(|t| t > soon + 86_400),
        "good for days again"
    );
    assert!(
        w.google
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/channels/stop")),
        "the old channel was stopped"
    );
    assert_eq!(
        w.shown(&cal).await.len(),
        1,
        "the periodic round pulled the change"
    );
}

/// The provider objects are Relay nodes: an account, its remote calendars (looked up at Google)
/// and a link resolve through `node(id:)`, and `linkCalendar` takes a remote calendar's global id
/// as well as Google's own id (but not one of another account).
async fn accounts_remote_calendars_and_links_are_nodes(w: World) {
    let d = w
        .app
        .ok(
            "{ providerAccounts { id remoteCalendars { id remoteCalendarId name } } }",
            json!({}),
        )
        .await;
    let account = &d["providerAccounts"][0];
    assert_eq!(account["id"], json!(w.connection), "{d}");
    let remote = account["remoteCalendars"]
        .as_array()
        .expect("remote calendars")
        .iter()
        .find(|c| c["remoteCalendarId"] == json!(ACCOUNT))
        .expect("the primary calendar")
        .clone();
    let global = remote["id"].as_str().expect("id").to_string();
    assert!(
        global.starts_with("rcal_") && !global.contains(ACCOUNT),
        "an opaque global id: {global}"
    );
    let node = "query($id: ID!) { node(id: $id) { __typename id ... on RemoteCalendar { remoteCalendarId name } ... on ProviderAccount { account } ... on CalendarLink { remoteCalendarId account { id } } } }";
    let d = w.app.ok(node, json!({ "id": global })).await;
    assert_eq!(
        d["node"],
        json!({ "__typename": "RemoteCalendar", "id": global, "remoteCalendarId": ACCOUNT, "name": remote["name"] }),
        "{d}"
    );
    let d = w.app.ok(node, json!({ "id": w.connection })).await;
    assert_eq!(
        d["node"],
        json!({ "__typename": "ProviderAccount", "id": w.connection, "account": ACCOUNT }),
        "{d}"
    );

    let cal = w.app.create_calendar("linked by global id", "UTC").await;
    let link = almanac_e2e::sync::link(&w.app, &w.connection, &cal, &global, "TWO_WAY").await;
    let d = w.app.ok(node, json!({ "id": link })).await;
    assert_eq!(
        d["node"],
        json!({ "__typename": "CalendarLink", "id": link, "remoteCalendarId": ACCOUNT, "account": { "id": w.connection } }),
        "{d}"
    );

    // A remote calendar id naming another account is refused, and nothing is linked.
    let foreign = {
        use base64::Engine;
        format!(
            "rcal_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("con_{}\n{ACCOUNT}", uuid::Uuid::now_v7().simple()))
        )
    };
    let other = w.app.create_calendar("not linked", "UTC").await;
    let e = w
        .app
        .err("mutation($i: LinkCalendarInput!) { linkCalendar(input: $i) { link { id } } }", json!({ "i": { "calendarId": other, "accountId": w.connection, "remoteCalendarId": foreign } }))
        .await;
    assert_eq!(
        (e.code.as_str(), e.field.as_deref()),
        ("BAD_USER_INPUT", Some("remoteCalendarId")),
        "{}",
        e.message
    );
    let d = w
        .app
        .ok(
            "query($c: ID!) { calendar(id: $c) { links { id } } }",
            json!({ "c": other }),
        )
        .await;
    assert_eq!(d["calendar"]["links"], json!([]), "{d}");
    // A remote calendar the account does not see is null, not an error.
    let missing = {
        use base64::Engine;
        format!(
            "rcal_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{}\nnobody@example.com", w.connection))
        )
    };
    assert_eq!(
        w.app.ok(node, json!({ "id": missing })).await["node"],
        Value::Null
    );
}

google_tests!(
    accounts_remote_calendars_and_links_are_nodes,
    a_split_made_in_google_across_two_rounds_is_still_a_split,
    the_worker_renews_channels_and_runs_the_safety_net_round,
    a_split_made_in_google_arrives_as_a_split,
    an_emptied_remote_calendar_does_not_delete_everything_locally,
    pulled_changes_fire_subscriptions,
    edits_made_in_google_flow_back,
    tokens_never_appear_in_plaintext,
    concurrent_expired_tokens_refresh_once,
);
