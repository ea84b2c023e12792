//! A Google Calendar API v3 emulator: a real HTTP server speaking Google's wire format, so the
//! Google adapter can be tested end to end (point its base URL at [`GoogleEmulator::base_url`]).
//!
//! Behaviour follows `PROVIDERS.md` §1 and the discovery document (revision 20230217, a copy is in
//! `emulators/data/`); request bodies are checked against that schema. Checklist items
//! (PROVIDERS.md §3) implemented:
//!
//! - **1** client ids `[a-v0-9]{5,1024}` (else 400 "Invalid resource id value."), 409 `duplicate`,
//!   generated ids otherwise;
//! - **2** recurring timed events need `start/end.timeZone`; `recurrence` lines need an `RRULE:`/`EXRULE:`
//!   /`RDATE`/`EXDATE` prefix; floating UNTIL, DTSTART lines → 400 "Invalid recurrence rule.";
//! - **3** RRULE/EXRULE/RDATE/EXDATE expanded by the workspace's own engine
//!   (`almanac_domain::recurrence::Schedule`) in the series' IANA zone, DST-correct; lenient
//!   RDATE/EXDATE forms (`;VALUE=DATE:`, `;TZID=…:`, `Z`, periods);
//! - **4** instance ids `<id>_<YYYYMMDDTHHMMSSZ>` / `<id>_<YYYYMMDD>`, or opaque (switch);
//! - **5–7** `events.list`: default contents (cancelled instances of live series included),
//!   `singleEvents`, `showDeleted`, `orderBy` rules, `timeMin` exclusive on end, `timeMax` exclusive
//!   on start, `q`, `iCalUID`, extended-property filters, `updatedMin`, `timeZone`, `maxAttendees`;
//! - **8** `events.instances` with `originalStart`, `showDeleted`, inclusive `timeMin`, paging, `timeZone`;
//! - **9** PATCH/PUT on an instance creates/updates an exception; `recurringEventId` and
//!   `originalStartTime` are immutable (400 when a body tries to change them);
//! - **10** DELETE instance → 204, cancelled exception, second DELETE → 410 `deleted`; the parent's
//!   `recurrence` is not rewritten;
//! - **11** DELETE parent → cancelled, instances gone, exceptions cancelled in the next sync;
//! - **12** trimming a parent (UNTIL/COUNT) removes later instances; a continuation that copies the
//!   trimmed UNTIL has zero instances (not papered over);
//! - **13** `etag`/`updated` change on every write; `If-Match` → 412 `conditionNotMet`;
//!   `If-None-Match` → 304;
//! - **14** PATCH merges objects key by key (`null` clears) and replaces arrays wholesale;
//! - **15** `maxResults` default 250, cap 2500; optional ragged (short/empty) pages; `nextSyncToken` only
//!   on the last page; changes during pagination are delivered by the next sync round;
//! - **16** `syncToken` rounds incl. cancelled items; forbidden parameters and `showDeleted=false` → 400;
//! - **17** hook to invalidate sync tokens → 410 `fullSyncRequired`, exact message;
//! - **18** faults (403/429 rate limits, 403 `quotaExceeded`, 500, timeouts, lost responses with 500 or a
//!   dropped connection; queued or seeded-random) and sliding-window quotas (`patch` = 3 units);
//! - **19** `events.watch` channels with `sync`/`exists` notifications, retries, expiry, `channels.stop`;
//! - **20** OAuth: auth endpoint (auto-consent), `authorization_code` with PKCE, `refresh_token`,
//!   `invalid_grant` "Token has been expired or revoked." after revocation/expiry; 401 `authError`;
//! - **21** all-day events (`date`, exclusive end; instances' `originalStartTime` carries `date`).
//!
//! Assumptions that are not documented by Google (tagged \[K\]/\[S\] in PROVIDERS.md) and can be switched
//! (see [`GoogleEmulatorConfig`] and the `set_*` hooks): opaque instance ids (Q3 2026);
//! what happens to exceptions trimmed off a series ([`TrimmedExceptions`], default: cancelled);
//! PATCH of `extendedProperties.private/shared` ([`ExtendedPropertiesPatch`], default: merge
//! keys); refresh tokens only on first consent or `prompt=consent`; refresh-token lifetime
//! ("Testing" apps: 7 days); sync-token lifetime; ragged pages; the expansion horizon for
//! unbounded series without `timeMax` (default 730 days); scope enforcement; HTTPS-only webhooks.
//! Fixed \[K\] choices: a timed recurring event needs both `start.timeZone` and `end.timeZone`;
//! `sequence` increases when start, end or recurrence change; cancelled items in incremental sync
//! carry only `kind`, `etag`, `id`, `status` (+ `recurringEventId`, `originalStartTime`) unless
//! `showDeleted=true`; `dateTime`s are rendered in the calendar's zone (or `timeZone=`);
//! exceptions keep their own copy of the parent's fields (later parent edits do not propagate);
//! DTSTART that does not match the RRULE is not an extra occurrence (the engine's reading);
//! changing `singleEvents` within a sync chain → 400; watch notifications are retried
//! `webhook_retries` times with doubling delays; a request without credentials gets 401 `required`
//! "Login Required." (a bad or expired token 401 `authError` "Invalid Credentials");
//! `instances` of a deleted recurring event → 410 `deleted`, of a single event → no items.
//!
//! Not implemented: `events.import/move/quickAdd`, ACLs, settings, colors, free/busy, the `fields`
//! partial-response parameter, batch requests.

mod config;
mod error;
mod expand;
mod list;
mod oauth;
mod quota;
mod render;
mod schema;
mod server;
mod state;
mod util;
mod watch;

pub use config::{
    ExtendedPropertiesPatch, FaultKind, FaultMatch, FaultPlan, GoogleEmulatorConfig, OAuthClient,
    Quotas, TrimmedExceptions,
};
pub use oauth::IssuedTokens;
pub use server::App;
pub use watch::NotificationRecord;

use crate::control::Emulator;
use serde_json::Value;
use tokio::net::TcpListener;

/// An account hosted by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub email: String,
    /// Equal to the address, as on Google.
    pub primary_calendar_id: String,
}

/// A running Google Calendar emulator: the shared [`Emulator`] handle (start, shutdown, request
/// log, faults, clock) plus the switches below, which exist on Google only.
pub type GoogleEmulator = Emulator<App>;

impl Emulator<App> {
    /// `http://127.0.0.1:PORT/calendar/v3/` — use it where the client would use
    /// `https://www.googleapis.com/calendar/v3/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/calendar/v3/", self.addr())
    }

    /// Authorization endpoint (Google: `https://accounts.google.com/o/oauth2/v2/auth`).
    pub fn auth_url(&self) -> String {
        format!("http://{}/o/oauth2/v2/auth", self.addr())
    }

    /// Token endpoint (Google: `https://oauth2.googleapis.com/token`).
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr())
    }

    /// Revocation endpoint (Google: `https://oauth2.googleapis.com/revoke`).
    pub fn revoke_url(&self) -> String {
        format!("http://{}/revoke", self.addr())
    }

    /// Adds an account (idempotent) with its primary calendar.
    pub fn add_account(&self, email: &str) -> Account {
        let id = self.app.lock().add_account(email);
        Account {
            email: id.clone(),
            primary_calendar_id: id,
        }
    }

    /// Access and refresh tokens for `email` with the full calendar scope and the default client,
    /// as if the browser flow had run (the account is created if needed).
    pub fn issue_tokens(&self, email: &str) -> IssuedTokens {
        let client = self
            .app
            .lock()
            .config
            .clients
            .first()
            .map(|c| c.client_id.clone())
            .unwrap_or_default();
        self.issue_tokens_with(email, &client, &[oauth::SCOPE_CALENDAR])
    }

    /// Like [`issue_tokens`](Self::issue_tokens) with a chosen client and scopes.
    pub fn issue_tokens_with(&self, email: &str, client_id: &str, scopes: &[&str]) -> IssuedTokens {
        let mut st = self.app.lock();
        st.add_account(email);
        st.issue(
            email,
            client_id,
            scopes.iter().map(|s| s.to_string()).collect(),
            true,
        )
    }

    /// Creates a secondary calendar for `email`; returns its id (`…@group.calendar.google.com`).
    pub fn add_calendar(&self, email: &str, summary: &str, time_zone: &str) -> String {
        let mut st = self.app.lock();
        st.add_account(email);
        let tz = time_zone.parse().ok();
        st.new_secondary_calendar(email, summary, tz)
    }

    /// Makes every sync token of a calendar stale (token expiry or an ACL change): the next
    /// incremental list answers 410 `fullSyncRequired`.
    pub fn invalidate_sync_tokens(&self, calendar_id: &str) {
        if let Some(c) = self.app.lock().calendars.get_mut(calendar_id) {
            c.sync_epoch += 1;
        }
    }

    /// Revokes every refresh token (and access token) of an account: refresh → 400 `invalid_grant`.
    pub fn revoke_refresh_tokens(&self, email: &str) {
        self.app.lock().revoke_refresh_tokens(email);
    }

    pub fn set_opaque_instance_ids(&self, on: bool) {
        self.app.lock().settings.opaque_instance_ids = on;
    }

    pub fn set_trimmed_exceptions(&self, policy: TrimmedExceptions) {
        self.app.lock().settings.trimmed_exceptions = policy;
    }

    pub fn set_extended_properties_patch(&self, mode: ExtendedPropertiesPatch) {
        self.app.lock().settings.extended_properties_patch = mode;
    }

    pub fn set_ragged_pages(&self, on: bool) {
        self.app.lock().settings.ragged_pages = on;
    }

    pub fn set_quotas(&self, quotas: Quotas) {
        self.app.lock().config.quotas = quotas;
    }

    /// Every stored event of a calendar (single events, parents, exceptions; cancelled ones
    /// included), rendered in full. Plain instances are not stored and not included.
    pub fn events_snapshot(&self, calendar_id: &str) -> Vec<Value> {
        self.app.lock().snapshot(calendar_id)
    }
}

/// Runs an emulator on `listener` until the returned future is dropped (for `almanac emulate
/// google`; print [`GoogleEmulator`] URLs from `listener.local_addr()` first).
pub async fn serve(listener: TcpListener, config: GoogleEmulatorConfig) -> std::io::Result<()> {
    crate::control::serve::<App>(listener, config).await
}
