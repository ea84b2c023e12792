//! A Microsoft Graph v1.0 calendar emulator: a real HTTP server speaking Graph's wire format, so the
//! Outlook adapter can be tested end to end (point its base URL at [`OutlookEmulator::base_url`],
//! its token URL at [`OutlookEmulator::token_url`]).
//!
//! Behaviour follows `PROVIDERS.md` §2 and the v1.0 CSDL subset (a copy is in
//! `emulators/data/graph-v1.0-calendar-subset.json`); request bodies are checked against it.
//! This is an implementation of its own (JSON and private types), independent of the adapter in
//! `crate::outlook`, so that the two can check each other. Checklist items (PROVIDERS.md §3):
//!
//! - **22** series: `type` seriesMaster/occurrence/exception/singleInstance, `seriesMasterId`,
//!   `originalStart` (UTC instant), per-occurrence `iCalUId` (Exchange GlobalObjectId with the
//!   instance date in bytes 16–19);
//! - **23** `/events` lists singles and masters; `calendarView` and `instances` need
//!   `startDateTime`/`endDateTime` (400 `ErrorInvalidParameter` otherwise), return singles,
//!   occurrences and exceptions, never masters; `calendarView` is read-only (405);
//! - **24** `patternedRecurrence` validated per type (required properties, `index` without
//!   `fifth`, `month` 1–12, `dayOfMonth` 1–31 and valid for the month, range types); echoed with
//!   every property (0 / `first` / `sunday` / `0001-01-01` where unused);
//! - **25** Exchange expansion (see `recurrence`): month-end clamping, union semantics for relative
//!   patterns, `firstDayOfWeek`-aligned weeks, inclusive `endDate` in `recurrenceTimeZone`,
//!   `numbered` counted from the first pattern date on/after `startDate`, wall-clock times fixed
//!   across DST in the event's zone;
//! - **26** PATCH of an occurrence makes an exception (same id); a move onto or past the day of an
//!   adjacent occurrence → 400 `ErrorOccurrenceCrossingBoundary`;
//! - **27** DELETE of an occurrence → 204, gone from `instances`/`calendarView`, listed in the
//!   master's `cancelledOccurrences` (`OID.<masterId>.<yyyy-MM-dd>`, the beta format);
//! - **28** `POST …/cancel` → 202 for the organizer (also on occurrence ids), 400 with the
//!   documented message otherwise;
//! - **29** a master `recurrence` PATCH wipes exceptions (modified and deleted; switchable, see
//!   [`RecurrencePatch`]); other master fields propagate to occurrences and to the fields of
//!   exceptions that were not overridden;
//! - **30** UTC unless `Prefer: outlook.timezone`; all-day always midnight to midnight;
//!   `originalStartTimeZone`/`originalEndTimeZone`/`recurrenceTimeZone` hold the creation zone's
//!   Windows name; Windows names (CLDR table, 139 zones) and the documented IANA list accepted,
//!   others → 400 `TimeZoneNotSupportedException` (exact message); all-day with non-midnight → 400;
//! - **31** `changeKey` changes on every write, `@odata.etag` = `W/"<changeKey>"`,
//!   `lastModifiedDateTime` moves; `If-Match` mismatch → 412 (code configurable);
//! - **32** `transactionId` stored and echoed (also in delta); repeating a POST with it returns the
//!   first event (switchable);
//! - **33** `calendarView/delta` (see `delta`): `$skiptoken` pages, `$deltatoken`,
//!   `Prefer: odata.maxpagesize`, refused options → 400, skeletal occurrences, `@removed` inside
//!   and outside the window, replays switch, series never split across pages;
//! - **34** hooks: tokens → 410 `syncStateNotFound`, or 410 with `Location`; `/events/delta` → 400
//!   "Unsupported request: Change tracking is not supported against 'microsoft.graph.event'.";
//! - **35** ids are opaque and case-sensitive; `Prefer: IdType="ImmutableId"` gives ids that
//!   survive [`OutlookEmulator::move_event`], REST ids change with it;
//! - **36** subscriptions: validation handshake on both URLs (10 s, 200, `text/plain`, decoded
//!   token) else 400 `ValidationError`; `clientState` echo; lifetime > 10,080 min (1,440 with
//!   resource data) → 400; `value[]` batches; retries when the receiver does not answer 2xx within
//!   3 s; lifecycle notifications by hook; PATCH renew, DELETE 204, `reauthorize`;
//! - **37** per-mailbox throttling (> 4 concurrent or > 10,000 per 10 min → 429 `Retry-After`);
//!   injectable 429 with/without `Retry-After`, 503 with `Retry-After`, 500, 504, timeouts, lost
//!   responses (after the write applied), queued or seeded-random;
//! - **38** OAuth v2.0 endpoints: auto-consent authorize with PKCE, rotating refresh tokens (old
//!   ones keep working), `offline_access` required for one, `invalid_grant` AADSTS700082 /
//!   AADSTS50173 by hooks; API calls with a bad token → 401 `InvalidAuthenticationToken`;
//! - **39** extended properties only with `$expand=singleValueExtendedProperties($filter=id eq '…')`
//!   and `$filter=singleValueExtendedProperties/Any(ep: …)`; never in delta;
//! - **40** the error envelope with `innerError {date, request-id, client-request-id}`.
//!
//! Switchable assumptions (\[K\]/\[S\] in PROVIDERS.md; [`OutlookEmulatorConfig`] and `set_*`):
//! what a recurrence PATCH does to exceptions; `transactionId` de-duplication; the 412 error code;
//! delta replays; page size; token capacity; HTTPS-only notification URLs; throttling limits.
//! Fixed \[K\] choices: the master's `changeKey` changes when an occurrence is deleted (its
//! `cancelledOccurrences` changed) but not when one is modified; an exception keeps the id of the
//! occurrence it replaced; deleted occurrences are not neighbours for the crossing rule (which is
//! checked by local day in the series' zone); a master's `start`/`end` change counts as a
//! recurrence change; `@removed` is also sent for a changed master none of whose instances is in
//! the window; text bodies come back as HTML unless `Prefer: outlook.body-content-type="text"`;
//! an unknown `Prefer: outlook.timezone` is ignored; subscription lifetimes under 45 minutes are
//! raised to 45; notifications carry `resource` `Users/{id}/Events/{id}`; error codes of recurrence
//! validation (`ErrorPropertyValidationFailure`), all-day checks (`ErrorInvalidRequest`) and
//! throttling (`ApplicationThrottled` / `TooManyRequests`).
//!
//! Not implemented: attachments, online meetings, attendee responses (`accept`/`decline`),
//! `findMeetingTimes`, `$search`, `$batch`, encrypted resource data in notifications, beta-only
//! `/events/delta`.

mod config;
mod delta;
mod error;
mod oauth;
mod recurrence;
mod render;
mod schema;
mod server;
mod state;
mod subs;
mod util;
mod zones;

pub use config::{
    FaultKind, FaultMatch, FaultPlan, LifecycleEvent, OAuthClient, OutlookEmulatorConfig,
    RecurrencePatch, Throttling,
};
pub use oauth::IssuedTokens;
pub use server::App;
pub use subs::NotificationRecord;

use crate::control::Emulator;
use render::Item;
use serde_json::Value;
use state::View;
use std::time::Duration;
use tokio::net::TcpListener;

/// The scopes [`OutlookEmulator::issue_tokens`] grants.
pub const DEFAULT_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "User.Read",
    "Calendars.ReadWrite",
];

/// A mailbox hosted by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The address (`userPrincipalName` and `mail`), lower case.
    pub email: String,
    /// The directory object id (a GUID), as in `/users/{id}`.
    pub user_id: String,
    /// The id of the default calendar ("Calendar", `isDefaultCalendar: true`).
    pub default_calendar_id: String,
}

/// A running Microsoft Graph emulator: the shared [`Emulator`] handle (start, shutdown, request
/// log, faults, clock) plus the switches below, which exist on Graph only.
pub type OutlookEmulator = Emulator<App>;

impl Emulator<App> {
    /// `http://127.0.0.1:PORT/v1.0` — use it where the client would use
    /// `https://graph.microsoft.com/v1.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr())
    }

    /// Authorization endpoint for a tenant (`common`, `organizations`, `consumers` or the
    /// configured tenant id); Microsoft: `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize`.
    pub fn auth_url(&self) -> String {
        format!("http://{}/common/oauth2/v2.0/authorize", self.addr())
    }

    /// Token endpoint (Microsoft: `https://login.microsoftonline.com/common/oauth2/v2.0/token`).
    pub fn token_url(&self) -> String {
        format!("http://{}/common/oauth2/v2.0/token", self.addr())
    }

    /// The directory (tenant) id of notifications and tokens.
    pub fn tenant_id(&self) -> String {
        self.app.lock().config.tenant_id.clone()
    }

    /// Adds a mailbox (idempotent) with its default calendar.
    pub fn add_account(&self, email: &str) -> Account {
        let mut st = self.app.lock();
        let key = st.add_account(email);
        let a = &st.accounts[&key];
        Account {
            email: a.email.clone(),
            user_id: a.user_id.clone(),
            default_calendar_id: a.default_calendar.clone(),
        }
    }

    /// Tokens for `email` with [`DEFAULT_SCOPES`] and the first configured client, as if the
    /// browser flow had run (the mailbox is created if needed).
    pub fn issue_tokens(&self, email: &str) -> IssuedTokens {
        let client = self
            .app
            .lock()
            .config
            .clients
            .first()
            .map(|c| c.client_id.clone())
            .unwrap_or_default();
        self.issue_tokens_with(email, &client, DEFAULT_SCOPES)
    }

    /// Like [`issue_tokens`](Self::issue_tokens) with a chosen client and scopes (a refresh token
    /// only with `offline_access`).
    pub fn issue_tokens_with(&self, email: &str, client_id: &str, scopes: &[&str]) -> IssuedTokens {
        let mut st = self.app.lock();
        let key = st.add_account(email);
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        st.issue(&key, client_id, &scopes)
    }

    /// Creates another calendar for `email`; returns its id.
    pub fn add_calendar(&self, email: &str, name: &str) -> String {
        let mut st = self.app.lock();
        let key = st.add_account(email);
        st.create_calendar(&key, name, false)
    }

    /// Creates an event organised by `organizer` in `email`'s default calendar (the mailbox is an
    /// attendee: `isOrganizer: false`, `cancel` refused). `event` is a Graph event body. Returns the
    /// REST id.
    pub fn add_invitation(
        &self,
        email: &str,
        organizer: &str,
        event: &Value,
    ) -> Result<String, String> {
        let mut st = self.app.lock();
        let key = st.add_account(email);
        let k = st
            .add_invitation(&key, organizer, event)
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        Ok(st.events[&k].rest_id.clone())
    }

    /// Moves an event (single or series, by any of its ids) to another calendar of its mailbox, as
    /// the Outlook UI would: the REST id changes, the immutable id does not. Returns the new REST id.
    pub fn move_event(&self, event_id: &str, calendar_id: &str) -> Result<String, String> {
        let mut st = self.app.lock();
        let key = match st.ids.get(event_id) {
            Some(state::Target::Stored(k)) => k.clone(),
            _ => return Err("no such event".into()),
        };
        let r = st.move_event(&key, calendar_id).map_err(|e| e.message);
        drop(st);
        self.app.kick();
        r
    }

    /// Every delta and skip token issued so far answers 410 `syncStateNotFound` (token expiry).
    pub fn expire_delta_tokens(&self) {
        self.app.lock().delta.mark_all(delta::TokenStatus::Expired);
    }

    /// Every delta and skip token issued so far answers 410 with a `Location` header holding a
    /// fresh initial URL (tenant maintenance).
    pub fn relocate_delta_tokens(&self) {
        self.app
            .lock()
            .delta
            .mark_all(delta::TokenStatus::Relocated);
    }

    /// Refresh tokens of the mailbox are revoked: `invalid_grant` AADSTS50173.
    pub fn revoke_refresh_tokens(&self, email: &str) {
        self.app
            .lock()
            .revoke_refresh_tokens(&email.to_ascii_lowercase());
    }

    /// Refresh tokens of the mailbox expire for inactivity: `invalid_grant` AADSTS700082.
    pub fn expire_refresh_tokens(&self, email: &str) {
        self.app
            .lock()
            .expire_refresh_tokens(&email.to_ascii_lowercase());
    }

    /// Sends a lifecycle notification to the subscription's `lifecycleNotificationUrl`
    /// (`SubscriptionRemoved` also removes it). `false` if there is no such subscription.
    pub fn send_lifecycle_notification(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
    ) -> bool {
        let ok = self.app.lock().lifecycle(subscription_id, event);
        self.app.kick();
        ok
    }

    /// Every API request is held this long after admission (makes concurrency observable).
    pub fn set_processing_delay(&self, delay: Duration) {
        self.app.lock().settings.processing_delay = delay;
    }

    pub fn set_throttling(&self, throttling: Throttling) {
        self.app.lock().config.throttling = throttling;
    }

    pub fn set_recurrence_patch(&self, policy: RecurrencePatch) {
        self.app.lock().settings.recurrence_patch = policy;
    }

    pub fn set_transaction_id_dedup(&self, on: bool) {
        self.app.lock().settings.transaction_id_dedup = on;
    }

    pub fn set_delta_replays(&self, on: bool) {
        self.app.lock().settings.delta_replays = on;
    }

    pub fn set_precondition_failed_code(&self, code: &str) {
        self.app.lock().settings.precondition_failed_code = code.to_string();
    }

    /// Every stored, live event of a calendar (by id, or an address for the default calendar):
    /// singles, masters and exceptions, rendered in full in UTC with REST ids. Plain occurrences
    /// are not stored and not included.
    pub fn events_snapshot(&self, calendar: &str) -> Vec<Value> {
        let mut st = self.app.lock();
        let cal = match st.accounts.get(&calendar.to_ascii_lowercase()) {
            Some(a) => a.default_calendar.clone(),
            None => calendar.to_string(),
        };
        let Some(owner) = st.calendars.get(&cal).map(|c| c.owner.clone()) else {
            return vec![];
        };
        let keys: Vec<String> = st
            .order
            .iter()
            .filter(|k| {
                st.events
                    .get(*k)
                    .is_some_and(|e| !e.deleted && e.account == owner && e.calendar == cal)
            })
            .cloned()
            .collect();
        let view = View::default();
        let mut out: Vec<Value> = keys
            .into_iter()
            .filter_map(|k| st.render(&Item::Stored(k), &view, false))
            .collect();
        // Masters first, then their exceptions, then singles, each in creation order.
        out.sort_by_key(|v| match v["type"].as_str() {
            Some("seriesMaster") => 0,
            Some("exception") => 1,
            _ => 2,
        });
        out
    }
}

/// Runs an emulator on `listener` until the returned future is dropped (for `almanac emulate
/// outlook`; print [`OutlookEmulator`] URLs from `listener.local_addr()` first).
pub async fn serve(listener: TcpListener, config: OutlookEmulatorConfig) -> std::io::Result<()> {
    crate::control::serve::<App>(listener, config).await
}
