//! Google Calendar v3 HTTP client: typed calls, error classification, retries, 401 → one refresh.
//!
//! The client never logs headers or bodies, and its errors never contain the bearer token: the
//! token lives in a [`SecretString`] and is only exposed to build the `Authorization` header.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{CONTENT_TYPE, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{
    CalendarList, CalendarListEntry, Channel, ErrorResponse, Event, EventDateTime, Events,
};
use crate::oauth::{AccessTokenSource, SecretString, TokenSourceError};
use crate::retry::{parse_retry_after, RetryPolicy};

/// Production base URL (discovery `rootUrl` + `servicePath`).
pub const DEFAULT_BASE_URL: &str = "https://www.googleapis.com/calendar/v3/";

/// Upper bound on pages followed by the `*_all` helpers, so a misbehaving server (or emulator)
/// that keeps handing out page tokens cannot keep a worker busy forever.
const MAX_PAGES: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a 410 happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoneReason {
    /// The sync token is no longer valid (expiry, ACL change): wipe and full-sync.
    FullSyncRequired,
    /// `updatedMin` is too far in the past: full-sync.
    UpdatedMinTooLongAgo,
    /// The event was already deleted (e.g. a retried delete that had landed).
    Deleted,
    /// Any other or missing reason.
    Other(String),
}

impl fmt::Display for GoneReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FullSyncRequired => f.write_str("fullSyncRequired"),
            Self::UpdatedMinTooLongAgo => f.write_str("updatedMinTooLongAgo"),
            Self::Deleted => f.write_str("deleted"),
            Self::Other(reason) => f.write_str(reason),
        }
    }
}

/// A failed Google Calendar call, classified by what the caller should do next.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// 401 even after one token refresh: the account needs attention.
    #[error("Google rejected the access token (after one refresh)")]
    Unauthorized,
    /// The token source could not produce a token.
    #[error(transparent)]
    Token(#[from] TokenSourceError),
    /// 404: never existed, or no access.
    #[error("not found")]
    NotFound,
    /// 410: see [`GoneReason`].
    #[error("gone: {reason}")]
    Gone { reason: GoneReason },
    /// 412 `conditionNotMet`: the `If-Match` etag is stale. Re-fetch and re-apply.
    #[error("precondition failed: the event changed since the etag was read")]
    PreconditionFailed,
    /// 409 `duplicate`: the client-chosen id exists. After a retried insert this means the earlier
    /// attempt landed: GET the event and carry on.
    #[error("an event with this id already exists")]
    Duplicate,
    /// 403 `rateLimitExceeded` / `userRateLimitExceeded`, or 429. Returned once retries are
    /// exhausted or the server asked for a pause longer than the policy's `max_delay`.
    #[error("rate limited{}", retry_after_suffix(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 403 `quotaExceeded` / `dailyLimitExceeded`: general usage limits. Not retried inside the
    /// client: the caller should defer the whole job for a long while.
    #[error("Calendar usage limits exceeded{}", retry_after_suffix(.retry_after))]
    QuotaExceeded { retry_after: Option<Duration> },
    /// 5xx.
    #[error("Google server error {status}: {message}")]
    Server { status: u16, message: String },
    /// The request did not complete within the configured timeout (or the server said 408).
    #[error("request timed out")]
    Timeout,
    /// Connection or protocol failure.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// 400: permanent (e.g. "Invalid recurrence rule.", parameters not allowed with `syncToken`).
    #[error("bad request ({reason}): {message}")]
    BadRequest { reason: String, message: String },
    /// 403 other than usage limits (e.g. `forbiddenForNonOrganizer`).
    #[error("forbidden ({reason}): {message}")]
    Forbidden { reason: String, message: String },
    /// Any other status (e.g. 409 `conflict`).
    #[error("unexpected HTTP {status} ({reason}): {message}")]
    Http {
        status: u16,
        reason: String,
        message: String,
    },
    /// A 2xx response whose body is not what the API documents.
    #[error("unreadable response: {0}")]
    Decode(String),
    /// The client refused to send the request (bad base URL, empty id, …).
    #[error("invalid request: {0}")]
    InvalidInput(String),
}

fn retry_after_suffix(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {} s)", d.as_secs_f64()))
        .unwrap_or_default()
}

impl GoogleError {
    /// Worth retrying soon with backoff: rate limits, 5xx, timeouts, transport failures, and a
    /// token source that is temporarily unavailable. The client already did so within its
    /// [`RetryPolicy`]; a caller seeing one of these should reschedule, not fail permanently.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Token(TokenSourceError::Unavailable(_))
        )
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::QuotaExceeded { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A 410 that means "drop the sync token and run a full sync".
    pub fn is_full_sync_required(&self) -> bool {
        matches!(
            self,
            Self::Gone {
                reason: GoneReason::FullSyncRequired | GoneReason::UpdatedMinTooLongAgo
            }
        )
    }

    /// A 410 `deleted` (the event is already gone; a delete can count as done).
    pub fn is_already_deleted(&self) -> bool {
        matches!(
            self,
            Self::Gone {
                reason: GoneReason::Deleted
            }
        )
    }

    /// The user must reconnect the account (401 after refresh, or a dead refresh token).
    pub fn needs_reauthorization(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized | Self::Token(TokenSourceError::ReauthorizationRequired { .. })
        )
    }

    /// Failures where Google certainly did not apply the request, so even a non-idempotent call
    /// (an insert without a client-chosen id, a watch) may be retried.
    fn certainly_not_applied(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Token(_) => true,
            Self::Transport(e) => e.is_connect(),
            _ => false,
        }
    }

    fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(err)
        }
    }

    /// Classifies a non-2xx response from its status, `Retry-After` and error envelope.
    fn from_response(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let envelope = serde_json::from_slice::<ErrorResponse>(body)
            .ok()
            .map(|e| e.error);
        let reason = envelope
            .as_ref()
            .and_then(|e| e.reason())
            .unwrap_or_default()
            .to_owned();
        let message = envelope
            .as_ref()
            .and_then(|e| {
                e.message
                    .clone()
                    .or_else(|| e.errors.iter().find_map(|i| i.message.clone()))
            })
            // Not the body: a non-JSON error page can be large HTML and says nothing useful.
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        match status.as_u16() {
            400 => Self::BadRequest { reason, message },
            401 => Self::Unauthorized,
            403 => match reason.as_str() {
                "rateLimitExceeded" | "userRateLimitExceeded" => Self::RateLimited { retry_after },
                "quotaExceeded" | "dailyLimitExceeded" => Self::QuotaExceeded { retry_after },
                _ => Self::Forbidden { reason, message },
            },
            404 => Self::NotFound,
            408 => Self::Timeout,
            409 if reason == "duplicate" => Self::Duplicate,
            410 => Self::Gone {
                reason: match reason.as_str() {
                    "fullSyncRequired" => GoneReason::FullSyncRequired,
                    "updatedMinTooLongAgo" => GoneReason::UpdatedMinTooLongAgo,
                    "deleted" => GoneReason::Deleted,
                    _ => GoneReason::Other(reason),
                },
            },
            412 => Self::PreconditionFailed,
            429 if reason == "quotaExceeded" => Self::QuotaExceeded { retry_after },
            429 => Self::RateLimited { retry_after },
            code @ 500..=599 => Self::Server {
                status: code,
                message,
            },
            code => Self::Http {
                status: code,
                reason,
                message,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and queries
// ---------------------------------------------------------------------------------------------

/// Client settings. Point `base_url` at an emulator in tests.
#[derive(Clone, Debug)]
pub struct GoogleClientConfig {
    pub base_url: String,
    /// Whole-request timeout (connect + send + read body) per attempt.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for GoogleClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// Parameters of `events.list` (and `events.watch`). With `sync_token`, Google rejects `time_min`,
/// `time_max`, `updated_min`, `order_by`, `ical_uid`, `q` and the extended-property filters, and
/// every request of a sync chain must keep the same `single_events`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub sync_token: Option<String>,
    pub page_token: Option<String>,
    pub single_events: Option<bool>,
    pub show_deleted: Option<bool>,
    /// Exclusive lower bound on an event's end.
    pub time_min: Option<DateTime<Utc>>,
    /// Exclusive upper bound on an event's start.
    pub time_max: Option<DateTime<Utc>>,
    pub updated_min: Option<DateTime<Utc>>,
    /// Page size; Google's default is 250, maximum 2500.
    pub max_results: Option<u32>,
    /// `startTime` (only with `single_events`) or `updated`.
    pub order_by: Option<String>,
    pub ical_uid: Option<String>,
    /// `name=value` constraints on private extended properties (repeatable).
    pub private_extended_property: Vec<String>,
    pub shared_extended_property: Vec<String>,
    pub time_zone: Option<String>,
}

impl ListQuery {
    /// An incremental-sync query continuing from `sync_token`.
    pub fn incremental(sync_token: impl Into<String>) -> Self {
        Self {
            sync_token: Some(sync_token.into()),
            ..Self::default()
        }
    }

    fn apply(&self, url: &mut Url) {
        let mut q = url.query_pairs_mut();
        if let Some(v) = &self.sync_token {
            q.append_pair("syncToken", v);
        }
        if let Some(v) = &self.page_token {
            q.append_pair("pageToken", v);
        }
        if let Some(v) = self.single_events {
            q.append_pair("singleEvents", bool_str(v));
        }
        if let Some(v) = self.show_deleted {
            q.append_pair("showDeleted", bool_str(v));
        }
        if let Some(v) = &self.time_min {
            q.append_pair("timeMin", &rfc3339(v));
        }
        if let Some(v) = &self.time_max {
            q.append_pair("timeMax", &rfc3339(v));
        }
        if let Some(v) = &self.updated_min {
            q.append_pair("updatedMin", &rfc3339(v));
        }
        if let Some(v) = self.max_results {
            q.append_pair("maxResults", &v.to_string());
        }
        if let Some(v) = &self.order_by {
            q.append_pair("orderBy", v);
        }
        if let Some(v) = &self.ical_uid {
            q.append_pair("iCalUID", v);
        }
        for v in &self.private_extended_property {
            q.append_pair("privateExtendedProperty", v);
        }
        for v in &self.shared_extended_property {
            q.append_pair("sharedExtendedProperty", v);
        }
        if let Some(v) = &self.time_zone {
            q.append_pair("timeZone", v);
        }
    }
}

/// Parameters of `events.instances`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstancesQuery {
    /// Return only the instance the rule placed here (the way to find an instance's opaque id).
    pub original_start: Option<EventDateTime>,
    /// Include cancelled instances.
    pub show_deleted: Option<bool>,
    /// Inclusive lower bound on an instance's end (unlike `list`).
    pub time_min: Option<DateTime<Utc>>,
    /// Exclusive upper bound on an instance's start.
    pub time_max: Option<DateTime<Utc>>,
    pub page_token: Option<String>,
    pub max_results: Option<u32>,
    pub time_zone: Option<String>,
}

impl InstancesQuery {
    fn apply(&self, url: &mut Url) -> Result<(), GoogleError> {
        let original_start = match &self.original_start {
            Some(start) => Some(start.as_query_value().ok_or_else(|| {
                GoogleError::InvalidInput("originalStart has neither date nor dateTime".to_owned())
            })?),
            None => None,
        };
        let mut q = url.query_pairs_mut();
        if let Some(v) = &original_start {
            q.append_pair("originalStart", v);
        }
        if let Some(v) = self.show_deleted {
            q.append_pair("showDeleted", bool_str(v));
        }
        if let Some(v) = &self.time_min {
            q.append_pair("timeMin", &rfc3339(v));
        }
        if let Some(v) = &self.time_max {
            q.append_pair("timeMax", &rfc3339(v));
        }
        if let Some(v) = &self.page_token {
            q.append_pair("pageToken", v);
        }
        if let Some(v) = self.max_results {
            q.append_pair("maxResults", &v.to_string());
        }
        if let Some(v) = &self.time_zone {
            q.append_pair("timeZone", v);
        }
        Ok(())
    }
}

fn bool_str(v: bool) -> &'static str {
    if v {
        "true"
    } else {
        "false"
    }
}

fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// Google Calendar v3 client for one account (one [`AccessTokenSource`]). Cheap to clone; use
/// [`GoogleCalendarClient::with_token_source`] to share the connection pool across accounts.
#[derive(Clone)]
pub struct GoogleCalendarClient {
    http: reqwest::Client,
    base_url: Url,
    retry: RetryPolicy,
    tokens: Arc<dyn AccessTokenSource>,
}

impl fmt::Debug for GoogleCalendarClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleCalendarClient")
            .field("base_url", &self.base_url.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One logical API call, replayable across attempts.
struct Call<'a> {
    op: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
    if_match: Option<&'a str>,
    /// Whether repeating the request after it may have been applied is harmless.
    idempotent: bool,
}

impl GoogleCalendarClient {
    pub fn new(
        config: GoogleClientConfig,
        tokens: Arc<dyn AccessTokenSource>,
    ) -> Result<Self, GoogleError> {
        let mut base_url = Url::parse(&config.base_url).map_err(|e| {
            GoogleError::InvalidInput(format!("base URL {:?}: {e}", config.base_url))
        })?;
        if base_url.cannot_be_a_base() {
            return Err(GoogleError::InvalidInput(format!(
                "base URL {:?} cannot be a base",
                config.base_url
            )));
        }
        // A base without a trailing slash would make its last segment look like a file.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("almanac/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GoogleError::InvalidInput(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url,
            retry: config.retry,
            tokens,
        })
    }

    /// The same client (pool, base URL, policy) acting for another account.
    pub fn with_token_source(&self, tokens: Arc<dyn AccessTokenSource>) -> Self {
        Self {
            tokens,
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    // ---- events ------------------------------------------------------------------------------

    /// `events.insert`. With a client-chosen `event.id` the call is retried like any idempotent
    /// call; a 409 then surfaces as [`GoogleError::Duplicate`] (the earlier attempt landed: GET it).
    /// Without an id, it is only retried when Google certainly did not apply it.
    pub async fn insert_event(
        &self,
        calendar_id: &str,
        event: &Event,
    ) -> Result<Event, GoogleError> {
        let url = self.url(&["calendars", calendar_id, "events"])?;
        let body = encode(event)?;
        let call = Call {
            op: "events.insert",
            method: Method::POST,
            url,
            body: Some(body),
            if_match: None,
            idempotent: event.id.is_some(),
        };
        decode(&self.execute(&call).await?)
    }

    /// `events.get`. Returns cancelled events too; works with instance ids.
    pub async fn get_event(&self, calendar_id: &str, event_id: &str) -> Result<Event, GoogleError> {
        let url = self.url(&["calendars", calendar_id, "events", event_id])?;
        let call = Call {
            op: "events.get",
            method: Method::GET,
            url,
            body: None,
            if_match: None,
            idempotent: true,
        };
        decode(&self.execute(&call).await?)
    }

    /// `events.patch`: fields present in `patch` replace the stored ones; arrays replace whole.
    /// Pass an [`Event`] with only the changed fields, or a `serde_json::Value` when a field must
    /// be sent as `null` (e.g. `start.dateTime` when turning a timed event into an all-day one).
    pub async fn patch_event<P>(
        &self,
        calendar_id: &str,
        event_id: &str,
        patch: &P,
        if_match: Option<&str>,
    ) -> Result<Event, GoogleError>
    where
        P: Serialize + ?Sized + Sync,
    {
        let url = self.url(&["calendars", calendar_id, "events", event_id])?;
        let call = Call {
            op: "events.patch",
            method: Method::PATCH,
            url,
            body: Some(encode(patch)?),
            if_match,
            idempotent: true,
        };
        decode(&self.execute(&call).await?)
    }

    /// `events.update` (PUT, full replacement; `start`/`end` required). See the module note in
    /// [`super::wire`] about fields this client does not model.
    pub async fn update_event(
        &self,
        calendar_id: &str,
        event_id: &str,
        event: &Event,
        if_match: Option<&str>,
    ) -> Result<Event, GoogleError> {
        let url = self.url(&["calendars", calendar_id, "events", event_id])?;
        let call = Call {
            op: "events.update",
            method: Method::PUT,
            url,
            body: Some(encode(event)?),
            if_match,
            idempotent: true,
        };
        decode(&self.execute(&call).await?)
    }

    /// `events.delete`. An already-deleted event yields `Gone { reason: Deleted }`
    /// ([`GoogleError::is_already_deleted`]), which callers normally treat as success.
    pub async fn delete_event(
        &self,
        calendar_id: &str,
        event_id: &str,
        if_match: Option<&str>,
    ) -> Result<(), GoogleError> {
        let url = self.url(&["calendars", calendar_id, "events", event_id])?;
        let call = Call {
            op: "events.delete",
            method: Method::DELETE,
            url,
            body: None,
            if_match,
            idempotent: true,
        };
        self.execute(&call).await.map(drop)
    }

    /// `events.instances`: one page of a recurring event's instances.
    pub async fn instances(
        &self,
        calendar_id: &str,
        event_id: &str,
        query: &InstancesQuery,
    ) -> Result<Events, GoogleError> {
        let mut url = self.url(&["calendars", calendar_id, "events", event_id, "instances"])?;
        query.apply(&mut url)?;
        let call = Call {
            op: "events.instances",
            method: Method::GET,
            url,
            body: None,
            if_match: None,
            idempotent: true,
        };
        decode(&self.execute(&call).await?)
    }

    /// All pages of `events.instances` (`query.page_token` is the starting page, usually `None`).
    pub async fn all_instances(
        &self,
        calendar_id: &str,
        event_id: &str,
        query: &InstancesQuery,
    ) -> Result<Vec<Event>, GoogleError> {
        let mut query = query.clone();
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.instances(calendar_id, event_id, &query).await?;
            items.extend(page.items);
            match next_page(&query.page_token, page.next_page_token)? {
                Some(token) => query.page_token = Some(token),
                None => return Ok(items),
            }
        }
        Err(too_many_pages())
    }

    /// The instance of recurring event `event_id` that its rule placed at `original_start`
    /// (cancelled ones included), found via `instances?originalStart=`: the only supported way to
    /// learn an instance's id, which is opaque.
    pub async fn find_instance(
        &self,
        calendar_id: &str,
        event_id: &str,
        original_start: &EventDateTime,
    ) -> Result<Option<Event>, GoogleError> {
        let query = InstancesQuery {
            original_start: Some(original_start.clone()),
            show_deleted: Some(true),
            ..InstancesQuery::default()
        };
        let mut instances = self.all_instances(calendar_id, event_id, &query).await?;
        Ok(if instances.is_empty() {
            None
        } else {
            Some(instances.swap_remove(0))
        })
    }

    /// `events.list`: one page.
    pub async fn list_events(
        &self,
        calendar_id: &str,
        query: &ListQuery,
    ) -> Result<Events, GoogleError> {
        let mut url = self.url(&["calendars", calendar_id, "events"])?;
        query.apply(&mut url);
        let call = Call {
            op: "events.list",
            method: Method::GET,
            url,
            body: None,
            if_match: None,
            idempotent: true,
        };
        decode(&self.execute(&call).await?)
    }

    /// `events.list` followed to the last page: every item, and the last page's `nextSyncToken`.
    /// A 410 on any page (sync token invalidated mid-way) is returned as is: restart with a full sync.
    pub async fn list_all_events(
        &self,
        calendar_id: &str,
        query: &ListQuery,
    ) -> Result<(Vec<Event>, Option<String>), GoogleError> {
        let mut query = query.clone();
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.list_events(calendar_id, &query).await?;
            items.extend(page.items);
            match next_page(&query.page_token, page.next_page_token)? {
                Some(token) => query.page_token = Some(token),
                None => return Ok((items, page.next_sync_token)),
            }
        }
        Err(too_many_pages())
    }

    // ---- push channels -----------------------------------------------------------------------

    /// `events.watch`: opens a push channel on the calendar's events.
    pub async fn watch(
        &self,
        calendar_id: &str,
        channel: &Channel,
    ) -> Result<Channel, GoogleError> {
        let url = self.url(&["calendars", calendar_id, "events", "watch"])?;
        // A retried watch that had landed would open a second channel: only retry when the first
        // attempt certainly failed.
        let call = Call {
            op: "events.watch",
            method: Method::POST,
            url,
            body: Some(encode(channel)?),
            if_match: None,
            idempotent: false,
        };
        decode(&self.execute(&call).await?)
    }

    /// `channels.stop`. An unknown channel yields [`GoogleError::NotFound`].
    pub async fn stop_channel(&self, id: &str, resource_id: &str) -> Result<(), GoogleError> {
        let url = self.url(&["channels", "stop"])?;
        let channel = Channel {
            id: Some(id.to_owned()),
            resource_id: Some(resource_id.to_owned()),
            ..Channel::default()
        };
        let call = Call {
            op: "channels.stop",
            method: Method::POST,
            url,
            body: Some(encode(&channel)?),
            if_match: None,
            idempotent: true,
        };
        self.execute(&call).await.map(drop)
    }

    // ---- calendar list -----------------------------------------------------------------------

    /// `calendarList.list`, all pages.
    pub async fn calendar_list(&self) -> Result<Vec<CalendarListEntry>, GoogleError> {
        let mut items = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(&["users", "me", "calendarList"])?;
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let call = Call {
                op: "calendarList.list",
                method: Method::GET,
                url,
                body: None,
                if_match: None,
                idempotent: true,
            };
            let page: CalendarList = decode(&self.execute(&call).await?)?;
            items.extend(page.items);
            match next_page(&page_token, page.next_page_token)? {
                Some(token) => page_token = Some(token),
                None => return Ok(items),
            }
        }
        Err(too_many_pages())
    }

    // ---- plumbing ----------------------------------------------------------------------------

    /// `base_url` + percent-encoded path segments (calendar ids contain `@` and sometimes `#`).
    fn url(&self, segments: &[&str]) -> Result<Url, GoogleError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            return Err(GoogleError::InvalidInput(format!(
                "invalid path segment {bad:?}"
            )));
        }
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| GoogleError::InvalidInput("base URL cannot be a base".to_owned()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Runs `call` with the retry policy and the 401 → refresh → retry-once rule; returns the body
    /// of the 2xx response.
    async fn execute(&self, call: &Call<'_>) -> Result<Vec<u8>, GoogleError> {
        crate::retry::execute(
            &self.retry,
            self.tokens.as_ref(),
            "Google Calendar",
            call.op,
            call.idempotent,
            |token, attempt| async move { self.send_once(call, &token, attempt).await },
        )
        .await
    }

    async fn send_once(
        &self,
        call: &Call<'_>,
        token: &SecretString,
        attempt: u32,
    ) -> Result<Vec<u8>, GoogleError> {
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose_secret());
        if let Some(etag) = call.if_match {
            request = request.header(IF_MATCH, etag);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(GoogleError::from_reqwest)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response.bytes().await.map_err(GoogleError::from_reqwest)?;
        // Path only: the query may carry sync/page tokens, which are long and useless in logs.
        tracing::debug!(
            op = call.op,
            path = call.url.path(),
            attempt,
            status = status.as_u16(),
            "Google Calendar call"
        );
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(GoogleError::from_response(status, retry_after, &body))
        }
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, GoogleError> {
    serde_json::to_vec(value).map_err(|e| GoogleError::InvalidInput(format!("request body: {e}")))
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, GoogleError> {
    serde_json::from_slice(body).map_err(|e| GoogleError::Decode(e.to_string()))
}

/// The next page token, or `None` at the end; an unchanged token would loop forever.
fn next_page(
    current: &Option<String>,
    next: Option<String>,
) -> Result<Option<String>, GoogleError> {
    match next {
        Some(next) if current.as_deref() == Some(next.as_str()) => Err(GoogleError::Decode(
            "nextPageToken repeats the current page token".to_owned(),
        )),
        next => Ok(next),
    }
}

fn too_many_pages() -> GoogleError {
    GoogleError::Decode(format!("more than {MAX_PAGES} pages"))
}

impl crate::retry::CallError for GoogleError {
    fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized)
    }
    fn is_retryable(&self) -> bool {
        GoogleError::is_retryable(self)
    }
    fn certainly_not_applied(&self) -> bool {
        GoogleError::certainly_not_applied(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        GoogleError::retry_after(self)
    }
    fn from_token(error: TokenSourceError) -> Self {
        Self::Token(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> GoogleError {
        GoogleError::from_response(
            StatusCode::from_u16(status).expect("status"),
            None,
            body.as_bytes(),
        )
    }

    fn envelope(code: u16, reason: &str, message: &str) -> String {
        serde_json::json!({"error": {"errors": [{"domain": "global", "reason": reason, "message": message}], "code": code, "message": message}})
            .to_string()
    }

    #[test]
    fn classification_table() {
        assert!(
            matches!(classify(400, &envelope(400, "timeRangeEmpty", "The specified time range is empty.")),
            GoogleError::BadRequest { ref reason, ref message } if reason == "timeRangeEmpty" && message == "The specified time range is empty.")
        );
        assert!(matches!(
            classify(401, &envelope(401, "authError", "Invalid Credentials")),
            GoogleError::Unauthorized
        ));
        assert!(matches!(
            classify(403, &envelope(403, "userRateLimitExceeded", "x")),
            GoogleError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(403, &envelope(403, "rateLimitExceeded", "x")),
            GoogleError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(403, &envelope(403, "quotaExceeded", "x")),
            GoogleError::QuotaExceeded { .. }
        ));
        assert!(
            matches!(classify(403, &envelope(403, "forbiddenForNonOrganizer", "x")),
            GoogleError::Forbidden { ref reason, .. } if reason == "forbiddenForNonOrganizer")
        );
        assert!(matches!(
            classify(404, &envelope(404, "notFound", "Not Found")),
            GoogleError::NotFound
        ));
        assert!(matches!(
            classify(
                409,
                &envelope(409, "duplicate", "The requested identifier already exists.")
            ),
            GoogleError::Duplicate
        ));
        assert!(matches!(
            classify(409, &envelope(409, "conflict", "x")),
            GoogleError::Http { status: 409, .. }
        ));
        assert!(classify(
            410,
            &envelope(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required."
            )
        )
        .is_full_sync_required());
        assert!(classify(410, &envelope(410, "updatedMinTooLongAgo", "x")).is_full_sync_required());
        assert!(
            classify(410, &envelope(410, "deleted", "Resource has been deleted"))
                .is_already_deleted()
        );
        assert!(matches!(
            classify(
                412,
                &envelope(412, "conditionNotMet", "Precondition Failed")
            ),
            GoogleError::PreconditionFailed
        ));
        assert!(matches!(
            classify(429, &envelope(429, "rateLimitExceeded", "x")),
            GoogleError::RateLimited { .. }
        ));
        assert!(
            matches!(classify(500, &envelope(500, "backendError", "Backend Error")),
            GoogleError::Server { status: 500, ref message } if message == "Backend Error")
        );
        assert!(matches!(classify(502, "<html>bad gateway</html>"),
            GoogleError::Server { status: 502, ref message } if message == "Bad Gateway"));
    }

    #[test]
    fn retryability() {
        assert!(classify(429, "").is_retryable());
        assert!(classify(503, "").is_retryable());
        assert!(GoogleError::Timeout.is_retryable());
        assert!(!classify(403, &envelope(403, "quotaExceeded", "x")).is_retryable());
        assert!(!classify(400, "").is_retryable());
        assert!(!classify(409, &envelope(409, "duplicate", "x")).is_retryable());
        assert!(!classify(412, "").is_retryable());
        assert!(GoogleError::Token(TokenSourceError::Unavailable("down".into())).is_retryable());
        assert!(
            !GoogleError::Token(TokenSourceError::ReauthorizationRequired {
                description: "x".into()
            })
            .is_retryable()
        );
        assert!(GoogleError::Unauthorized.needs_reauthorization());
    }

    #[test]
    fn next_page_detects_loops() {
        assert_eq!(
            next_page(&None, Some("a".into())).ok(),
            Some(Some("a".to_owned()))
        );
        assert_eq!(next_page(&Some("a".into()), None).ok(), Some(None));
        assert!(next_page(&Some("a".into()), Some("a".into())).is_err());
    }
}
