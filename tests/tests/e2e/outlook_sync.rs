//! Two-way sync with Outlook (Microsoft Graph), end to end: GraphQL on the real app, the Outlook
//! adapter (RRULE ↔ patternedRecurrence), and the Graph emulator (a real HTTP server with
//! Exchange's expansion rules, exception wiping, delta and subscriptions). Every test runs on
//! SQLite and on PostgreSQL. The runs Outlook shares with Google are in `sync_matrix.rs`, over
//! this file's [`World`]. The last test links one calendar to Google and Outlook at once.

use crate::sync_matrix::{Exchange, RoundTrip, SyncWorld};
use almanac_e2e::sync::{link, pending, round, version};
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

pub struct World {
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

impl SyncWorld for World {
    const PROVIDER: &'static str = "Outlook";
    const YEAR: i32 = 2027;

    async fn start(engine: Engine) -> Self {
        world(engine, false).await
    }

    fn app(&self) -> &TestApp {
        &self.app
    }

    async fn link(&self, calendar: &str, direction: &str) -> String {
        link(&self.app, &self.connection, calendar, "primary", direction).await
    }

    fn remote_titles(&self) -> Vec<String> {
        self.outlook_events()
            .iter()
            .map(|e| e["subject"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn create_remote_event(&self, title: &str, start: &str, end: &str) {
        let wall = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("t")
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        };
        let event = json!({ "subject": title, "start": { "dateTime": wall(start), "timeZone": "UTC" }, "end": { "dateTime": wall(end), "timeZone": "UTC" } });
        self.outlook_user()
            .create_event(None, &serde_json::from_value(event).expect("event"))
            .await
            .expect("create");
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.outlook
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
        self.outlook.clear_requests();
    }

    fn lift_quotas(&self) {
        self.outlook
            .set_throttling(almanac_emulators::outlook::Throttling::unlimited());
    }

    fn inject_random_faults(&self, rate: f64) {
        self.outlook.inject_faults(FaultPlan::random(
            rate,
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
    }

    fn fail_next(&self, method: &str, times: usize) {
        let plan = (0..times).fold(FaultPlan::default(), |plan, _| {
            plan.then(
                FaultMatch::method(method),
                FaultKind::InternalServerError500,
            )
        });
        self.outlook.inject_faults(plan);
    }

    fn lose_next_response(&self, method: &str) {
        self.outlook.inject_faults(
            FaultPlan::default().then(FaultMatch::method(method), FaultKind::LostResponseDrop),
        );
    }

    fn clear_faults(&self) {
        self.outlook.clear_faults();
    }

    fn invalidate_sync_state(&self) {
        self.outlook.expire_delta_tokens();
    }

    async fn rich_calendar(&self) -> (String, Vec<String>) {
        rich_calendar(self).await
    }

    async fn round_trip_spot_checks(&self, trip: &RoundTrip) {
        round_trip_spot_checks(self, trip).await
    }

    /// Graph sends nothing when a subscription is created, but each change a round pushes comes
    /// back as a change notification, whose round would race the test's own (a delta request in
    /// flight while the tokens expire is answered with a fresh token, and no 410 is ever seen).
    /// No round is in flight yet, so changing the subscription's secret is enough: from now on
    /// its notifications are refused as forged.
    async fn quiet_notifications(&self, link: &str) {
        crate::sync_matrix::mute_notifications(&self.app, link, false).await
    }

    async fn forge_notification(&self, subscription: &str) -> u16 {
        let forged = json!({ "value": [{ "subscriptionId": subscription, "clientState": "forged", "changeType": "updated", "resource": "me/events/x" }] });
        reqwest::Client::new()
            .post(format!("{}/webhooks/outlook", self.app.url))
            .json(&forged)
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    }
}

impl World {
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

/// What only Outlook does to the round-trip fixture: an edit of a whole series with a changed
/// rule wipes its exceptions in Exchange, and the adapter puts them back.
async fn round_trip_spot_checks(w: &World, trip: &RoundTrip) {
    let yearly = &trip.series[2];
    let v = version(&w.app, yearly).await;
    w.app
        .ok(EDIT, json!({ "i": { "occurrence": occ(yearly, "2027-05-01T04:00:00Z"), "scope": "ALL", "expectedVersion": v, "changes": { "title": "Founding day", "recurrence": { "rrule": "FREQ=YEARLY;COUNT=3" } } } }))
        .await;
    w.sync(&trip.link).await;
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
    w.sync(&trip.mirror_link).await;
    assert_eq!(w.shown(&trip.mirror).await, w.shown(&trip.calendar).await);
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
        .link(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
        )
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
        .save_cursor(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
            Some(&format!("{week_ago}|{delta_link}")),
            None,
        )
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

/// A subscription Graph removes (a lifecycle notification) is recreated, and the removed one's
/// notifications are refused. (That a change made in Outlook arrives through a notification is
/// `sync_matrix::notifications_trigger_a_sync`.)
async fn a_removed_subscription_is_recreated(w: World) {
    let cal = w.app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
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
    let subscription = before
        .channel_id
        .clone()
        .expect("a subscription was created");
    assert!(w
        .outlook
        .send_lifecycle_notification(&subscription, LifecycleEvent::SubscriptionRemoved));
    let mut renewed = false;
    for _ in 0..200 {
        let now = w
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
        if now.channel_id.is_some() && now.channel_id != Some(subscription.clone()) {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(renewed, "a new subscription replaced the removed one");
    assert_eq!(w.forge_notification(&subscription).await, 404);
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
        .connection(
            almanac_domain::OrganizationId::DEFAULT,
            w.connection.parse().expect("connection id"),
        )
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
        .connection(
            almanac_domain::OrganizationId::DEFAULT,
            w.connection.parse().expect("connection id"),
        )
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
    rounds_for_one_mailbox_share_its_concurrency_limit,
    edits_made_in_outlook_flow_back,
    a_rule_outlook_cannot_express_is_refused_with_the_reason,
    a_removed_subscription_is_recreated,
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
