//! The sync runs Google and Outlook share, written once over [`SyncWorld`] and run for each
//! provider on each engine (`sync_matrix::google::sqlite::…`, `sync_matrix::outlook::postgres::…`).
//!
//! What differs between the providers — how their emulator is started and scripted, which faults
//! their wire has, the year their fixtures live in — is in each provider's world
//! (`google_sync.rs`, `outlook_sync.rs`), next to the runs only that provider has.

use almanac_e2e::sync::{make_due_now, pending, version};
use almanac_e2e::{Engine, TestApp};
use chrono::{Datelike, NaiveDate, Weekday};
use serde_json::{json, Value};
use std::time::Duration;

/// Changes the link's channel secret, so the provider's later notifications fail verification
/// and only the test's own rounds run. `after_first_round` first waits for the round linking
/// itself started (a provider that notifies on subscribing).
pub async fn mute_notifications(app: &TestApp, link: &str, after_first_round: bool) {
    let org = almanac_domain::OrganizationId::DEFAULT;
    let store = &app.state.store;
    for _ in 0..400 {
        let l = store
            .link(org, link.parse().expect("link id"))
            .await
            .expect("db")
            .expect("link");
        if !after_first_round || l.last_synced_at.is_some() {
            store
                .set_channel(
                    org,
                    l.id,
                    l.channel_id.as_deref(),
                    l.channel_resource_id.as_deref(),
                    Some("muted"),
                    l.channel_expires_at,
                )
                .await
                .expect("db");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the sync notification never ran a round");
}

/// One request the provider's emulator answered, in provider-neutral terms.
pub struct Exchange {
    pub method: String,
    pub status: u16,
    /// An injected fault answered it.
    pub faulted: bool,
}

/// A provider's emulator with one connected account, and the app configured to sync with it.
///
/// Remote state is read through the emulator (what the provider really holds) and written through
/// the provider's own wire (as the user would, in the provider's UI).
pub trait SyncWorld: Sized {
    /// The provider's name as people say it, for assertion messages.
    const PROVIDER: &'static str;
    /// The year the provider's fixtures live in (each provider's runs keep their own dates).
    const YEAR: i32;

    /// The emulator started, the app started on `engine` and the account connected through the
    /// real OAuth flow.
    async fn start(engine: Engine) -> Self;
    fn app(&self) -> &TestApp;
    /// Links a local calendar to the account's main remote calendar.
    async fn link(&self, calendar: &str, direction: &str) -> String;
    /// Titles of the live series (recurring masters and single events) the provider holds.
    fn remote_titles(&self) -> Vec<String>;
    /// Creates a single timed event (UTC instants) as the user would, in the provider itself.
    async fn create_remote_event(&self, title: &str, start: &str, end: &str);
    /// Requests the emulator answered so far.
    fn exchanges(&self) -> Vec<Exchange>;
    fn clear_exchanges(&self);
    /// Lifts the provider's own quotas, so that only injected faults refuse requests.
    fn lift_quotas(&self);
    /// Fails `rate` of the requests at random with every transient failure the provider has
    /// (throttling, server errors, timeouts, writes whose response is lost after they applied).
    fn inject_random_faults(&self, rate: f64);
    /// The next `times` requests with this method fail with a server error.
    fn fail_next(&self, method: &str, times: usize);
    /// The next request with this method is applied, and its response is lost.
    fn lose_next_response(&self, method: &str);
    fn clear_faults(&self);
    /// The provider forgets the incremental-sync state it handed out (Google's sync token,
    /// Graph's delta token): the next incremental read is refused with 410.
    fn invalidate_sync_state(&self);
    /// The provider's round-trip fixture: a calendar of series exercising DST, exceptions, splits,
    /// all-day and single events, in the provider's years; its id and the series' ids (the
    /// single event last).
    async fn rich_calendar(&self) -> (String, Vec<String>);
    /// What only this provider's copy of the round-trip fixture shows, checked once both
    /// calendars agree.
    async fn round_trip_spot_checks(&self, trip: &RoundTrip);
    /// Lets the rounds that linking itself started (a provider that notifies on subscribing)
    /// finish, and keeps later notifications from starting more: for runs whose assertions are
    /// about the test's own rounds.
    async fn quiet_notifications(&self, link: &str);
    /// A notification for `channel` with a wrong secret, as anyone could post it: its HTTP status.
    async fn forge_notification(&self, channel: &str) -> u16;

    /// Forces a round and returns its report.
    async fn sync(&self, link: &str) -> Value {
        almanac_e2e::sync::round(self.app(), link).await
    }

    /// What a calendar shows over the provider's fixture years.
    async fn shown(&self, calendar: &str) -> Vec<(String, String, String)> {
        let from = format!("{}-01-01T00:00:00Z", Self::YEAR);
        let to = format!("{}-01-01T00:00:00Z", Self::YEAR + 2);
        almanac_e2e::sync::shown(self.app(), calendar, &from, &to).await
    }
}

/// The round trip under way: the fixture calendar, its linked mirror, and their links.
pub struct RoundTrip {
    pub calendar: String,
    pub link: String,
    pub mirror: String,
    pub mirror_link: String,
    pub series: Vec<String>,
}

/// Generates, for each shared run `f<W: SyncWorld>(w: W)`, a test per provider and engine.
macro_rules! sync_matrix {
    ($($name:ident),* $(,)?) => {
        sync_matrix!(@provider google, crate::google_sync::World; $($name),*);
        sync_matrix!(@provider outlook, crate::outlook_sync::World; $($name),*);
    };
    (@provider $provider:ident, $world:ty; $($name:ident),*) => {
        mod $provider {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let world = <$world as super::super::SyncWorld>::start(almanac_e2e::Engine::Sqlite).await;
                        super::super::$name(world).await
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let world = <$world as super::super::SyncWorld>::start(almanac_e2e::Engine::Postgres).await;
                        super::super::$name(world).await
                    }
                )*
            }
        }
    };
}

const EDIT: &str = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { id version } userErrors { code message } } }";
const DELETE: &str = "mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { id version } deletedSeriesId userErrors { code message } } }";
const UPDATE: &str =
    "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { version } } }";

fn occ(series: &str, rid: &str) -> Value {
    json!({ "seriesId": series, "recurrenceId": rid })
}

/// What Almanac shows in a calendar, pushed to the provider and pulled back into a second, empty
/// Almanac calendar, shows the same occurrences; the echo of our own writes changes nothing; a
/// deleted series is deleted remotely and in the mirror.
async fn what_almanac_shows_comes_back_into_an_empty_calendar<W: SyncWorld>(w: W) {
    let app = w.app();
    let (cal, series) = w.rich_calendar().await;
    let mirror = app.create_calendar("Mirror", "America/New_York").await;
    let link = w.link(&cal, "TWO_WAY").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;

    // Linking also started notifications, whose rounds may run before or beside the forced ones
    // (rounds of one link never overlap): assertions are about state, not about which round did
    // the work.
    let round = w.sync(&link).await;
    assert_eq!(round["error"], Value::Null, "{round}");
    assert_eq!(pending(app, &link).await, 0);
    assert_eq!(
        w.remote_titles().len(),
        series.len(),
        "one {} event per series, no duplicates",
        W::PROVIDER
    );
    for s in &series {
        let d = app.ok("query($id: ID!) { series(id: $id) { providerCopies { linkId fidelity fidelityDetail remoteId } } }", json!({ "id": s })).await;
        assert_eq!(
            d["series"]["providerCopies"][0]["fidelity"], "EXACT",
            "{s}: {d}"
        );
    }

    let pulled = w.sync(&mirror_link).await;
    assert_eq!(pulled["error"], Value::Null, "{pulled}");
    assert_eq!(app.series_count(&mirror).await, series.len(), "{pulled}");
    let shown = w.shown(&cal).await;
    assert!(shown.len() > 20, "the fixture shows a lot: {}", shown.len());
    assert_eq!(
        w.shown(&mirror).await,
        shown,
        "the mirror shows exactly what the calendar shows"
    );
    let trip = RoundTrip {
        calendar: cal,
        link,
        mirror,
        mirror_link,
        series,
    };
    w.round_trip_spot_checks(&trip).await;
    let RoundTrip {
        calendar: cal,
        link,
        mirror,
        mirror_link,
        series,
    } = &trip;

    // A further round is quiet: our own writes coming back change nothing and push nothing.
    let versions: Vec<i64> =
        futures_util::future::join_all(series.iter().map(|s| version(app, s))).await;
    let again = w.sync(link).await;
    assert_eq!(
        (
            again["pushed"].as_i64(),
            again["updatedLocally"].as_i64(),
            again["createdLocally"].as_i64()
        ),
        (Some(0), Some(0), Some(0)),
        "{again}"
    );
    let after: Vec<i64> =
        futures_util::future::join_all(series.iter().map(|s| version(app, s))).await;
    assert_eq!(
        after, versions,
        "no local series was rewritten by its own echo"
    );

    // Deleting a series deletes it at the provider; the mirror follows.
    let single = series.last().expect("the single event");
    let v = version(app, single).await;
    app.ok(
        "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }",
        json!({ "i": { "id": single, "expectedVersion": v } }),
    )
    .await;
    w.sync(link).await;
    assert_eq!(w.remote_titles().len(), series.len() - 1);
    w.sync(mirror_link).await;
    assert_eq!(app.series_count(mirror).await, series.len() - 1);
    assert_eq!(w.shown(mirror).await, w.shown(cal).await);
}

/// 1,000 local changes pushed while 5 % of the provider's answers fail (throttling, server
/// errors, timeouts, writes whose response is lost): once faults stop, at most three rounds
/// converge, with no duplicate and no lost event.
async fn a_thousand_changes_under_faults_converge_without_duplicates_or_losses<W: SyncWorld>(w: W) {
    let app = w.app();
    let cal = app.create_calendar("Busy", "UTC").await;
    let link = w.link(&cal, "PUSH_ONLY").await;
    // The run is about faults; the provider's quotas would throttle this burst on their own (the
    // quota behaviour is covered by the emulators' tests).
    w.lift_quotas();
    w.inject_random_faults(0.05);
    let start = |i: usize| {
        NaiveDate::from_ymd_opt(W::YEAR, 7, 1)
            .expect("date")
            .and_hms_opt(8 + (i % 10) as u32, 0, 0)
            .expect("time")
            + chrono::Duration::days((i % 20) as i64)
    };
    let mut changes = 0;
    let mut ids = Vec::new();
    for i in 0..250 {
        let input = json!({ "title": format!("s{i}"), "start": start(i).format("%Y-%m-%dT%H:%M:%S").to_string(), "duration": "PT30M", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=4" } });
        ids.push(app.create_series(&cal, input).await.expect("series").0);
        changes += 1;
    }
    w.sync(&link).await;
    for (i, id) in ids.iter().enumerate() {
        app.ok(
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
            app.ok(DELETE, json!({ "i": { "occurrence": occ(id, &second), "scope": "THIS", "expectedVersion": 2 } })).await;
        } else {
            app.ok(EDIT, json!({ "i": { "occurrence": occ(id, &second), "scope": "THIS", "expectedVersion": 2, "changes": { "title": "special" } } })).await;
        }
        changes += 1;
    }
    w.sync(&link).await;
    for (i, id) in ids.iter().enumerate().take(200) {
        app.ok(
            UPDATE,
            json!({ "i": { "id": id, "expectedVersion": 3, "title": format!("u{i}") } }),
        )
        .await;
        changes += 1;
    }
    for id in ids.iter().skip(200) {
        app.ok(
            "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }",
            json!({ "i": { "id": id, "expectedVersion": 3 } }),
        )
        .await;
        changes += 1;
    }
    assert_eq!(changes, 1000);
    w.sync(&link).await;
    let faults = w.exchanges().iter().filter(|x| x.faulted).count();
    assert!(faults >= 10, "faults were injected: {faults}");
    w.clear_faults();

    // Faults stopped. Rows that failed wait out their backoff; the test makes them due now (the
    // backoff itself is the engine's unit-tested `retry_delay`).
    make_due_now(app).await;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let r = w.sync(&link).await;
        let left = pending(app, &link).await;
        if left == 0 {
            break;
        }
        assert!(
            rounds < 3,
            "not converged after {rounds} rounds: {left} pending, {r}"
        );
        make_due_now(app).await;
    }
    let mut titles = w.remote_titles();
    titles.sort();
    let total = titles.len();
    titles.dedup();
    assert_eq!(
        (total, titles.len()),
        (200, 200),
        "every live series exactly once, deleted ones gone"
    );
    // Everything Almanac shows is what the provider shows.
    let mirror = app.create_calendar("Mirror", "UTC").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);
}

/// The provider forgets its incremental-sync state (410) while a local edit waits to be pushed:
/// the full resync loses none of it.
async fn an_expired_sync_token_loses_no_pending_local_edit<W: SyncWorld>(w: W) {
    let app = w.app();
    let cal = app.create_calendar("Work", "UTC").await;
    let (s, _) = app.create_series(&cal, json!({ "title": "A", "start": format!("{}-09-01T09:00:00", W::YEAR), "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=5" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.quiet_notifications(&link).await;
    w.sync(&link).await;
    // A local edit that cannot be pushed yet (the provider answers 500 to it), while the sync
    // state is forgotten. Faults first, so that whichever round pushes first (ours, or one a
    // notification started) meets them.
    w.fail_next("PATCH", 3);
    w.invalidate_sync_state();
    app.ok(
        UPDATE,
        json!({ "i": { "id": s, "expectedVersion": 1, "title": "B" } }),
    )
    .await;
    w.sync(&link).await;
    assert!(
        w.exchanges().iter().any(|x| x.status == 410),
        "the sync state was refused (410) and a full resync followed"
    );
    let refused = w
        .exchanges()
        .iter()
        .filter(|x| x.method == "PATCH" && x.faulted)
        .count();
    assert_eq!(refused, 3, "the edit's push was tried and refused");
    assert_eq!(
        w.shown(&cal).await[0].2,
        "B",
        "the pending edit is still the local state"
    );
    // Not lost: still queued, unless a notification-started round retried it once its backoff
    // (about a second) had passed, in which case the provider already has it.
    let queued = pending(app, &link).await == 1;
    assert!(
        queued || w.remote_titles()[0] == "B",
        "the edit is neither queued nor at {}",
        W::PROVIDER
    );
    w.clear_faults();
    make_due_now(app).await;
    w.sync(&link).await;
    assert_eq!(pending(app, &link).await, 0);
    assert_eq!(
        w.remote_titles()[0],
        "B",
        "the edit reached {} after the resync",
        W::PROVIDER
    );
}

/// The round is killed (its future dropped) right after the provider applied the trim of a split
/// and before the continuation was created or anything was recorded; the next rounds recover with
/// no orphan continuation and no duplicate.
async fn a_round_killed_mid_split_recovers_without_orphans_or_duplicates<W: SyncWorld>(w: W) {
    let app = w.app();
    let cal = app.create_calendar("Work", "UTC").await;
    // Weekly from the first Monday of September; split at the fifth occurrence.
    let first = NaiveDate::from_weekday_of_month_opt(W::YEAR, 9, Weekday::Mon, 1).expect("date");
    let split = first + chrono::Duration::days(28);
    assert_eq!(split.weekday(), Weekday::Mon);
    let (s, _) = app.create_series(&cal, json!({ "title": "Class", "start": format!("{first}T09:00:00"), "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=10" } })).await.expect("series");
    let link = w.link(&cal, "TWO_WAY").await;
    w.sync(&link).await;
    app.ok(EDIT, json!({ "i": { "occurrence": occ(&s, &format!("{split}T09:00:00Z")), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "Class (new room)" } } })).await;

    w.clear_exchanges();
    let state = app.state.clone();
    let record = state
        .store
        .link(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
        )
        .await
        .expect("db")
        .expect("link");
    let round =
        tokio::spawn(async move { almanac_api::sync::rounds::run_round(&state, &record).await });
    // Kill it as soon as the provider has applied the trim.
    loop {
        if w.exchanges()
            .iter()
            .any(|x| x.method == "PATCH" && (200..300).contains(&x.status))
        {
            round.abort();
            break;
        }
        if round.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = round.await;
    // Recovery: the next rounds converge.
    w.sync(&link).await;
    w.sync(&link).await;
    assert_eq!(pending(app, &link).await, 0);
    let remote = w.remote_titles();
    assert_eq!(
        remote.len(),
        2,
        "the trimmed original and exactly one continuation: {remote:?}"
    );
    let mirror = app.create_calendar("Mirror", "UTC").await;
    let mirror_link = w.link(&mirror, "PULL_ONLY").await;
    w.sync(&mirror_link).await;
    assert_eq!(w.shown(&mirror).await, w.shown(&cal).await);
}

/// A create whose response was lost after the provider applied it is not duplicated by the
/// retry (Google: the client-chosen id makes the retry a 409 and the event is adopted; Graph: the
/// retry carries the same transactionId).
async fn a_lost_create_response_is_not_duplicated<W: SyncWorld>(w: W) {
    let app = w.app();
    let cal = app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    app.create_series(
        &cal,
        json!({ "title": "Once", "start": format!("{}-09-01T09:00:00", W::YEAR), "duration": "PT1H" }),
    )
    .await
    .expect("series");
    w.lose_next_response("POST");
    w.sync(&link).await;
    make_due_now(app).await;
    w.sync(&link).await;
    assert_eq!(pending(app, &link).await, 0);
    assert_eq!(w.remote_titles().len(), 1, "one event, not two");
}

/// Linking subscribes to the provider's change notifications; a change made at the provider
/// arrives without anyone forcing a round; a notification with a wrong secret is refused.
async fn notifications_trigger_a_sync<W: SyncWorld>(w: W) {
    let app = w.app();
    let cal = app.create_calendar("Work", "UTC").await;
    let link = w.link(&cal, "TWO_WAY").await;
    let d = app
        .ok("{ calendarLinks { notificationsUntil } }", json!({}))
        .await;
    assert!(
        d["calendarLinks"][0]["notificationsUntil"].is_string(),
        "a channel was created: {d}"
    );
    let channel = app
        .state
        .store
        .link(
            almanac_domain::OrganizationId::DEFAULT,
            link.parse().expect("link id"),
        )
        .await
        .expect("db")
        .expect("link")
        .channel_id
        .expect("a channel is recorded on the link");
    let day = format!("{}-09-02", W::YEAR);
    w.create_remote_event(
        &format!("From {}", W::PROVIDER),
        &format!("{day}T10:00:00Z"),
        &format!("{day}T11:00:00Z"),
    )
    .await;
    let mut seen = false;
    for _ in 0..200 {
        if !w.shown(&cal).await.is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen, "the notification ran a round that pulled the event");
    assert_eq!(
        w.forge_notification(&channel).await,
        404,
        "a forged notification is refused"
    );
}

sync_matrix!(
    what_almanac_shows_comes_back_into_an_empty_calendar,
    a_thousand_changes_under_faults_converge_without_duplicates_or_losses,
    an_expired_sync_token_loses_no_pending_local_edit,
    a_round_killed_mid_split_recovers_without_orphans_or_duplicates,
    a_lost_create_response_is_not_duplicated,
    notifications_trigger_a_sync,
);
