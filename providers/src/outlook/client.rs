//! Microsoft Graph v1.0 calendar HTTP client: typed calls, error classification, retries with
//! `Retry-After`, 401 → one refresh, and Outlook's per-mailbox concurrency limit.
//!
//! Every request carries `Prefer: outlook.timezone="UTC", IdType="ImmutableId", outlook.body-content-type="text"` (plus
//! `odata.maxpagesize=N` on delta), so start/end always come back in one zone and ids survive moves.
//!
//! The client never logs headers, bodies or query strings (delta links carry state tokens), and its
//! errors never contain the bearer token: the token lives in a [`SecretString`] and is only exposed
//! to build the `Authorization` header. Follow-up links returned by the server (`@odata.nextLink`,
//! `@odata.deltaLink`, a 410's `Location`) are only requested when they point at the configured
//! base URL's origin, so the token is never sent elsewhere.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderValue, CONTENT_TYPE, IF_MATCH, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::wire::{
    Calendar, CollectionPage, DeltaPage, Event, GraphErrorResponse, Subscription, User,
};
use crate::oauth::{AccessTokenSource, SecretString, TokenSourceError};
use crate::retry::{parse_retry_after, RetryPolicy};

/// Production base URL.
pub const DEFAULT_BASE_URL: &str = "https://graph.microsoft.com/v1.0";

/// Outlook's documented limit of concurrent requests per app and mailbox.
pub const DEFAULT_MAX_CONCURRENT_PER_MAILBOX: usize = 4;

/// Upper bound on pages followed, so a server that keeps handing out links cannot keep a worker
/// busy forever.
const MAX_PAGES: usize = 10_000;

/// Error codes meaning "the delta state is gone: resync from scratch", whatever the status.
const SYNC_STATE_CODES: [&str; 3] = ["syncStateNotFound", "syncStateInvalid", "resyncRequired"];

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failed Graph call, classified by what the caller should do next.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// 401 even after one token refresh: the account needs attention.
    #[error("Microsoft Graph rejected the access token (after one refresh)")]
    Unauthorized,
    /// The token source could not produce a token.
    #[error(transparent)]
    Token(#[from] TokenSourceError),
    /// 404 (`ErrorItemNotFound`): never existed, or no access.
    #[error("not found")]
    NotFound,
    /// A delete or cancel found the item already gone (404/410): normally counts as done, e.g.
    /// after a retried delete whose first attempt had landed.
    #[error("already deleted")]
    AlreadyDeleted,
    /// 410, or any status with code `syncStateNotFound` (delta token expired or invalidated):
    /// drop the stored delta link and run a full sync. `location` is the `Location` header Graph
    /// sends during tenant maintenance: a fresh initial delta URL (pass it to
    /// [`GraphClient::delta_from`]).
    #[error("delta sync state is gone ({}); a full resync is required", code.as_deref().unwrap_or("410"))]
    Gone {
        code: Option<String>,
        location: Option<String>,
    },
    /// 412: the `If-Match` etag is stale. Re-fetch and re-apply.
    #[error("precondition failed: the item changed since the etag was read")]
    PreconditionFailed,
    /// 409 (e.g. `ErrorIrresolvableConflict` on concurrent writes).
    #[error("conflict ({code}): {message}")]
    Conflict { code: String, message: String },
    /// 429, or 503 (Graph's throttling answers, usually with `Retry-After`). Returned once retries
    /// are exhausted or the server asked for a pause longer than the policy's `max_delay`.
    #[error("throttled (HTTP {status}){}", retry_after_suffix(.retry_after))]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Other 5xx.
    #[error("Graph server error {status} ({code}): {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// The request did not complete within the configured timeout (or the server said 408).
    #[error("request timed out")]
    Timeout,
    /// Connection or protocol failure (the URL is stripped: delta links carry state tokens).
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// 400: permanent. Notable codes: `ErrorOccurrenceCrossingBoundary` (an occurrence moved over
    /// an adjacent one), `TimeZoneNotSupportedException`, `ErrorInvalidIdMalformed`.
    #[error("bad request ({code}): {message}")]
    BadRequest { code: String, message: String },
    /// 403 (`ErrorAccessDenied`, missing scope, not the organizer…).
    #[error("forbidden ({code}): {message}")]
    Forbidden { code: String, message: String },
    /// Any other status.
    #[error("unexpected HTTP {status} ({code}): {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    /// A 2xx response whose body is not what the API documents.
    #[error("unreadable response: {0}")]
    Decode(String),
    /// The client refused to send the request (bad base URL, empty id, foreign link, …).
    #[error("invalid request: {0}")]
    InvalidInput(String),
}

fn retry_after_suffix(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(", retry after {} s", d.as_secs_f64()))
        .unwrap_or_default()
}

impl GraphError {
    /// Worth retrying soon with backoff: throttling, 5xx, timeouts, transport failures, and a
    /// token source that is temporarily unavailable. The client already did so within its
    /// [`RetryPolicy`]; a caller seeing one of these should reschedule, not fail permanently.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Token(TokenSourceError::Unavailable(_))
        )
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The delta link is dead: wipe the stored link and run a full sync.
    pub fn is_resync_required(&self) -> bool {
        matches!(self, Self::Gone { .. })
    }

    /// The fresh initial delta URL of a 410, when Graph sent one.
    pub fn resync_location(&self) -> Option<&str> {
        match self {
            Self::Gone { location, .. } => location.as_deref(),
            _ => None,
        }
    }

    /// A delete/cancel whose target was already gone.
    pub fn is_already_deleted(&self) -> bool {
        matches!(self, Self::AlreadyDeleted)
    }

    /// The user must reconnect the account (401 after refresh, or a dead refresh token).
    pub fn needs_reauthorization(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized | Self::Token(TokenSourceError::ReauthorizationRequired { .. })
        )
    }

    /// The Graph error code (`ErrorOccurrenceCrossingBoundary`, …), when the error carries one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Conflict { code, .. }
            | Self::Server { code, .. }
            | Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Http { code, .. } => Some(code.as_str()),
            Self::Gone { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// 400 `ErrorOccurrenceCrossingBoundary`: Outlook refuses to move an occurrence over an
    /// adjacent one; fall back to "delete occurrence + standalone event".
    pub fn is_occurrence_crossing_boundary(&self) -> bool {
        matches!(self, Self::BadRequest { code, .. } if code == "ErrorOccurrenceCrossingBoundary")
    }

    /// 400 `TimeZoneNotSupportedException`: send a Windows zone name instead.
    pub fn is_time_zone_not_supported(&self) -> bool {
        matches!(self, Self::BadRequest { code, .. } if code == "TimeZoneNotSupportedException")
    }

    /// Failures where Graph certainly did not apply the request, so even a non-idempotent call (a
    /// create without `transactionId`, a subscription) may be retried. A 503 is not one of them:
    /// it can come from a front end after the mailbox applied the write.
    fn certainly_not_applied(&self) -> bool {
        match self {
            Self::Throttled { status: 429, .. } | Self::Token(_) => true,
            Self::Transport(e) => e.is_connect(),
            _ => false,
        }
    }

    fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Transport(err.without_url())
        }
    }

    /// Classifies a non-2xx response from its status, `Retry-After`, `Location` and error envelope.
    fn from_response(
        status: StatusCode,
        retry_after: Option<Duration>,
        location: Option<String>,
        body: &[u8],
    ) -> Self {
        let envelope = serde_json::from_slice::<GraphErrorResponse>(body)
            .ok()
            .map(|e| e.error);
        let code = envelope.as_ref().and_then(|e| e.code.clone());
        let message = envelope
            .as_ref()
            .and_then(|e| e.message.clone())
            // Not the body: a non-JSON error page can be large HTML and says nothing useful.
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        if status == StatusCode::GONE
            || code
                .as_deref()
                .is_some_and(|c| SYNC_STATE_CODES.contains(&c))
        {
            return Self::Gone { code, location };
        }
        let code = code.unwrap_or_default();
        match status.as_u16() {
            400 => Self::BadRequest { code, message },
            401 => Self::Unauthorized,
            403 => Self::Forbidden { code, message },
            404 => Self::NotFound,
            408 => Self::Timeout,
            409 => Self::Conflict { code, message },
            412 => Self::PreconditionFailed,
            s @ (429 | 503) => Self::Throttled {
                status: s,
                retry_after,
            },
            s @ 500..=599 => Self::Server {
                status: s,
                code,
                message,
            },
            s => Self::Http {
                status: s,
                code,
                message,
            },
        }
    }
}

/// Maps "not there" answers to [`GraphError::AlreadyDeleted`] for deletes and cancels.
fn deleted_is_done(result: Result<Vec<u8>, GraphError>) -> Result<(), GraphError> {
    match result {
        Ok(_) => Ok(()),
        Err(GraphError::NotFound | GraphError::Gone { .. }) => Err(GraphError::AlreadyDeleted),
        Err(other) => Err(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Client settings. Point `base_url` at an emulator in tests.
#[derive(Clone, Debug)]
pub struct GraphClientConfig {
    /// `https://graph.microsoft.com/v1.0` (a trailing slash is optional).
    pub base_url: String,
    /// Whole-request timeout (connect + send + read body) per attempt. Creating a subscription
    /// includes Graph's validation round-trip to the notification URL (up to 10 s).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests in flight at once for this client's mailbox (Outlook allows 4 per app and mailbox).
    /// `0` is treated as `1`.
    pub max_concurrent_per_mailbox: usize,
    /// The `outlook.timezone` preference: the zone start/end come back in.
    pub time_zone_preference: String,
    /// `odata.maxpagesize` on delta requests; `None` leaves the server's default.
    pub delta_page_size: Option<u32>,
    /// The mailbox: `None` for `/me`, or a user id / UPN for `/users/{user}` (app-only tokens).
    pub user: Option<String>,
}

impl Default for GraphClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_concurrent_per_mailbox: DEFAULT_MAX_CONCURRENT_PER_MAILBOX,
            time_zone_preference: "UTC".to_owned(),
            delta_page_size: Some(100),
            user: None,
        }
    }
}

/// A completed delta round: every item of every page, and the `@odata.deltaLink` to store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeltaRound {
    /// In server order. The same event may appear more than once; the last one wins.
    pub events: Vec<Event>,
    /// Call it verbatim (with [`GraphClient::delta_from`]) for the next round.
    pub delta_link: String,
    /// Pages fetched.
    pub pages: usize,
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// One mailbox's budget of concurrent requests ([`DEFAULT_MAX_CONCURRENT_PER_MAILBOX`]), to be
/// shared by every client acting for that mailbox in a process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MailboxBudget(Arc<Semaphore>);

impl Default for MailboxBudget {
    fn default() -> Self {
        MailboxBudget(Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT_PER_MAILBOX)))
    }
}

/// Microsoft Graph client for one mailbox (one [`AccessTokenSource`]). Cheap to clone; clones share
/// the connection pool and the mailbox's concurrency budget.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: Url,
    retry: RetryPolicy,
    tokens: Arc<dyn AccessTokenSource>,
    limiter: Arc<Semaphore>,
    max_concurrent: usize,
    user: Option<String>,
    prefer: HeaderValue,
    prefer_delta: HeaderValue,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.base_url.as_str())
            .field("user", &self.user)
            .field("retry", &self.retry)
            .field("max_concurrent", &self.max_concurrent)
            .field("prefer", &self.prefer)
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
    delta: bool,
}

impl<'a> Call<'a> {
    fn get(op: &'static str, url: Url) -> Self {
        Self {
            op,
            method: Method::GET,
            url,
            body: None,
            if_match: None,
            idempotent: true,
            delta: false,
        }
    }
}

impl GraphClient {
    pub fn new(
        config: GraphClientConfig,
        tokens: Arc<dyn AccessTokenSource>,
    ) -> Result<Self, GraphError> {
        let mut base_url = Url::parse(&config.base_url).map_err(|e| {
            GraphError::InvalidInput(format!("base URL {:?}: {e}", config.base_url))
        })?;
        if base_url.cannot_be_a_base() || !matches!(base_url.scheme(), "http" | "https") {
            return Err(GraphError::InvalidInput(format!(
                "base URL {:?} cannot be a base",
                config.base_url
            )));
        }
        // A base without a trailing slash would make its last segment (`v1.0`) look like a file.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        let zone = config.time_zone_preference.trim();
        if zone.is_empty()
            || zone
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(GraphError::InvalidInput(format!(
                "time zone preference {zone:?}"
            )));
        }
        // Bodies as text: Almanac descriptions are plain text, and Graph defaults to HTML.
        let prefer = format!("outlook.timezone=\"{zone}\", IdType=\"ImmutableId\", outlook.body-content-type=\"text\"");
        let prefer_delta = match config.delta_page_size {
            Some(n) => format!("{prefer}, odata.maxpagesize={}", n.max(1)),
            None => prefer.clone(),
        };
        let header = |v: String| {
            HeaderValue::from_str(&v)
                .map_err(|_| GraphError::InvalidInput(format!("Prefer header {v:?}")))
        };
        if let Some(user) = &config.user {
            if user.is_empty() {
                return Err(GraphError::InvalidInput("empty user".to_owned()));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("almanac/", env!("CARGO_PKG_VERSION")))
            // Graph does not redirect API calls; a redirect would carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::InvalidInput(format!("HTTP client: {e}")))?;
        let max_concurrent = config.max_concurrent_per_mailbox.max(1);
        Ok(Self {
            http,
            base_url,
            retry: config.retry,
            tokens,
            limiter: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            user: config.user,
            prefer: header(prefer)?,
            prefer_delta: header(prefer_delta)?,
        })
    }

    /// The same client (pool, base URL, policy) acting for another mailbox, with its own
    /// concurrency budget.
    pub fn with_token_source(
        &self,
        tokens: Arc<dyn AccessTokenSource>,
        user: Option<String>,
    ) -> Self {
        Self {
            tokens,
            user,
            limiter: Arc::new(Semaphore::new(self.max_concurrent)),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// How many requests this mailbox may have in flight (reads fan out to this many).
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// The same client drawing on a concurrency budget shared with other clients of the same
    /// mailbox (Graph counts concurrent requests per app and mailbox, not per client), e.g. a
    /// webhook's round and the worker's round for two calendars of one account.
    pub fn sharing_mailbox_budget(self, budget: MailboxBudget) -> Self {
        Self {
            limiter: budget.0,
            ..self
        }
    }

    // ---- mailbox -----------------------------------------------------------------------------

    /// `GET /me` (or `/users/{user}`): who the token acts for.
    pub async fn me(&self) -> Result<User, GraphError> {
        let url = self.mailbox_url(&[])?;
        decode(&self.execute(&Call::get("user.get", url)).await?)
    }

    /// `GET /me/calendars`, all pages.
    pub async fn calendars(&self) -> Result<Vec<Calendar>, GraphError> {
        let url = self.mailbox_url(&["calendars"])?;
        self.collect_pages("calendars.list", url).await
    }

    // ---- events ------------------------------------------------------------------------------

    /// `POST /me/events` (default calendar) or `/me/calendars/{calendar}/events`.
    ///
    /// With `event.transaction_id` set, the call is retried like an idempotent one: Graph uses the
    /// value to avoid creating a second event when a retried POST had already landed. Without it,
    /// the create is only retried when Graph certainly did not apply it (429, connection refused).
    pub async fn create_event(
        &self,
        calendar: Option<&str>,
        event: &Event,
    ) -> Result<Event, GraphError> {
        let url = match calendar {
            Some(id) => self.mailbox_url(&["calendars", id, "events"])?,
            None => self.mailbox_url(&["events"])?,
        };
        let idempotent = event
            .transaction_id
            .as_deref()
            .is_some_and(|t| !t.is_empty());
        let call = Call {
            op: "events.create",
            method: Method::POST,
            url,
            body: Some(encode(event)?),
            if_match: None,
            idempotent,
            delta: false,
        };
        decode(&self.execute(&call).await?)
    }

    /// `GET /me/events/{id}` (any event type). With `expand_extended_property` = a property id such
    /// as `String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac.series`, that
    /// single-value extended property is expanded into `singleValueExtendedProperties`.
    pub async fn get_event(
        &self,
        id: &str,
        expand_extended_property: Option<&str>,
    ) -> Result<Event, GraphError> {
        let mut url = self.mailbox_url(&["events", id])?;
        if let Some(property) = expand_extended_property {
            if property.is_empty() {
                return Err(GraphError::InvalidInput(
                    "empty extended property id".to_owned(),
                ));
            }
            let expand = format!(
                "singleValueExtendedProperties($filter=id eq '{}')",
                odata_string(property)
            );
            set_query(&mut url, &[("$expand", &expand)]);
        }
        decode(&self.execute(&Call::get("events.get", url)).await?)
    }

    /// `PATCH /me/events/{id}`: fields present in `patch` replace the stored ones. Pass an
    /// [`Event`] with only the changed fields, or a `serde_json::Value` when a field must be sent
    /// as `null`. `if_match` is the `@odata.etag` read earlier (stale → [`GraphError::PreconditionFailed`]).
    pub async fn patch_event<P>(
        &self,
        id: &str,
        patch: &P,
        if_match: Option<&str>,
    ) -> Result<Event, GraphError>
    where
        P: Serialize + ?Sized + Sync,
    {
        let url = self.mailbox_url(&["events", id])?;
        let call = Call {
            op: "events.patch",
            method: Method::PATCH,
            url,
            body: Some(encode(patch)?),
            if_match,
            idempotent: true,
            delta: false,
        };
        decode(&self.execute(&call).await?)
    }

    /// `DELETE /me/events/{id}` (an occurrence id deletes that occurrence). An event that is
    /// already gone (404/410) yields [`GraphError::AlreadyDeleted`], which callers normally treat
    /// as success. Graph answers 404 for "no access" too; the two cannot be told apart.
    pub async fn delete_event(&self, id: &str, if_match: Option<&str>) -> Result<(), GraphError> {
        let url = self.mailbox_url(&["events", id])?;
        let call = Call {
            op: "events.delete",
            method: Method::DELETE,
            url,
            body: None,
            if_match,
            idempotent: true,
            delta: false,
        };
        deleted_is_done(self.execute(&call).await)
    }

    /// `POST /me/events/{id}/cancel` (organizer only; 202): deletes the event or occurrence and
    /// sends attendees a cancellation with `comment`. Already gone → [`GraphError::AlreadyDeleted`].
    pub async fn cancel_event(&self, id: &str, comment: Option<&str>) -> Result<(), GraphError> {
        let url = self.mailbox_url(&["events", id, "cancel"])?;
        let body = match comment {
            Some(comment) => serde_json::json!({ "comment": comment }),
            None => serde_json::json!({}),
        };
        // Repeating a cancel that landed finds the event gone: harmless.
        let call = Call {
            op: "events.cancel",
            method: Method::POST,
            url,
            body: Some(encode(&body)?),
            if_match: None,
            idempotent: true,
            delta: false,
        };
        deleted_is_done(self.execute(&call).await)
    }

    /// `GET /me/events/{master_id}/instances?startDateTime=…&endDateTime=…`, all pages:
    /// occurrences and exceptions in the window (deleted occurrences are absent).
    pub async fn instances(
        &self,
        master_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Event>, GraphError> {
        let mut url = self.mailbox_url(&["events", master_id, "instances"])?;
        set_window(&mut url, start, end)?;
        self.collect_pages("events.instances", url).await
    }

    // ---- delta -------------------------------------------------------------------------------

    /// First round of `GET /me/calendarView/delta` (or `/me/calendars/{calendar}/calendarView/delta`)
    /// over `[start, end)`, followed through every `@odata.nextLink` to the `@odata.deltaLink`.
    /// The window is encoded in the links: roll it forward with a fresh first round.
    pub async fn calendar_view_delta(
        &self,
        calendar: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeltaRound, GraphError> {
        let mut url = match calendar {
            Some(id) => self.mailbox_url(&["calendars", id, "calendarView", "delta"])?,
            None => self.mailbox_url(&["calendarView", "delta"])?,
        };
        set_window(&mut url, start, end)?;
        self.follow_delta(url).await
    }

    /// Continues from a stored `@odata.deltaLink` (next round) or `@odata.nextLink` (an
    /// interrupted round), called verbatim, through every further page. A dead link yields
    /// [`GraphError::Gone`] ([`GraphError::is_resync_required`]).
    pub async fn delta_from(&self, link: &str) -> Result<DeltaRound, GraphError> {
        let url = self.checked_link(link)?;
        self.follow_delta(url).await
    }

    /// One page of a delta round from a stored link, for callers that persist `@odata.nextLink`
    /// after every page.
    pub async fn delta_page(&self, link: &str) -> Result<DeltaPage, GraphError> {
        let url = self.checked_link(link)?;
        self.fetch_delta_page(url).await
    }

    async fn fetch_delta_page(&self, url: Url) -> Result<DeltaPage, GraphError> {
        let call = Call {
            delta: true,
            ..Call::get("calendarView.delta", url)
        };
        decode(&self.execute(&call).await?)
    }

    async fn follow_delta(&self, first: Url) -> Result<DeltaRound, GraphError> {
        let mut url = first;
        let mut events = Vec::new();
        for pages in 1..=MAX_PAGES {
            let page = self.fetch_delta_page(url.clone()).await?;
            events.extend(page.value);
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    let next = self.checked_link(&next)?;
                    if next == url {
                        return Err(GraphError::Decode(
                            "@odata.nextLink repeats the current link".to_owned(),
                        ));
                    }
                    url = next;
                }
                (None, Some(delta_link)) => {
                    return Ok(DeltaRound {
                        events,
                        delta_link,
                        pages,
                    })
                }
                (None, None) => {
                    return Err(GraphError::Decode(
                        "delta page has neither @odata.nextLink nor @odata.deltaLink".into(),
                    ))
                }
            }
        }
        Err(too_many_pages())
    }

    // ---- subscriptions -----------------------------------------------------------------------

    /// `POST /subscriptions` (201). Graph validates the notification URL(s) before answering. Not
    /// retried unless Graph certainly did not apply it (a retry could create a second subscription).
    pub async fn create_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<Subscription, GraphError> {
        let url = self.url(&["subscriptions"])?;
        let call = Call {
            op: "subscriptions.create",
            method: Method::POST,
            url,
            body: Some(encode(subscription)?),
            if_match: None,
            idempotent: false,
            delta: false,
        };
        decode(&self.execute(&call).await?)
    }

    /// `PATCH /subscriptions/{id} {expirationDateTime}` (200).
    pub async fn renew_subscription(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<Subscription, GraphError> {
        let url = self.url(&["subscriptions", id])?;
        let body = Subscription {
            expiration_date_time: Some(expiration.into()),
            ..Subscription::default()
        };
        let call = Call {
            op: "subscriptions.renew",
            method: Method::PATCH,
            url,
            body: Some(encode(&body)?),
            if_match: None,
            idempotent: true,
            delta: false,
        };
        decode(&self.execute(&call).await?)
    }

    /// `DELETE /subscriptions/{id}` (204). Unknown → [`GraphError::AlreadyDeleted`].
    pub async fn delete_subscription(&self, id: &str) -> Result<(), GraphError> {
        let url = self.url(&["subscriptions", id])?;
        let call = Call {
            op: "subscriptions.delete",
            method: Method::DELETE,
            url,
            body: None,
            if_match: None,
            idempotent: true,
            delta: false,
        };
        deleted_is_done(self.execute(&call).await)
    }

    /// `POST /subscriptions/{id}/reauthorize` (204), the answer to a `reauthorizationRequired`
    /// lifecycle notification.
    pub async fn reauthorize_subscription(&self, id: &str) -> Result<(), GraphError> {
        let url = self.url(&["subscriptions", id, "reauthorize"])?;
        let call = Call {
            op: "subscriptions.reauthorize",
            method: Method::POST,
            url,
            body: None,
            if_match: None,
            idempotent: true,
            delta: false,
        };
        self.execute(&call).await.map(drop)
    }

    // ---- plumbing ----------------------------------------------------------------------------

    /// `base_url` + percent-encoded path segments.
    fn url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            return Err(GraphError::InvalidInput(format!(
                "invalid path segment {bad:?}"
            )));
        }
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::InvalidInput("base URL cannot be a base".to_owned()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `me/…` or `users/{user}/…`.
    fn mailbox_url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        let mut all: Vec<&str> = match &self.user {
            Some(user) => vec!["users", user.as_str()],
            None => vec!["me"],
        };
        all.extend_from_slice(segments);
        self.url(&all)
    }

    /// A server-provided link, accepted only on the base URL's origin (the bearer token goes
    /// with it). The link itself is never echoed in the error: it carries state tokens.
    fn checked_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link.trim())
            .map_err(|e| GraphError::InvalidInput(format!("unparseable link: {e}")))?;
        if url.origin() != self.base_url.origin() {
            return Err(GraphError::InvalidInput(
                "link points outside the configured Graph base URL".to_owned(),
            ));
        }
        Ok(url)
    }

    /// Every item of a paged collection, following `@odata.nextLink`.
    async fn collect_pages<T: DeserializeOwned>(
        &self,
        op: &'static str,
        first: Url,
    ) -> Result<Vec<T>, GraphError> {
        let mut url = first;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: CollectionPage<T> =
                decode(&self.execute(&Call::get(op, url.clone())).await?)?;
            items.extend(page.value);
            match page.next_link {
                Some(next) => {
                    let next = self.checked_link(&next)?;
                    if next == url {
                        return Err(GraphError::Decode(
                            "@odata.nextLink repeats the current link".to_owned(),
                        ));
                    }
                    url = next;
                }
                None => return Ok(items),
            }
        }
        Err(too_many_pages())
    }

    /// Runs `call` with the retry policy and the 401 → refresh → retry-once rule; returns the body
    /// of the 2xx response.
    async fn execute(&self, call: &Call<'_>) -> Result<Vec<u8>, GraphError> {
        crate::retry::execute(
            &self.retry,
            self.tokens.as_ref(),
            "Microsoft Graph",
            call.op,
            call.idempotent,
            |token, attempt| async move { self.send_once(call, &token, attempt).await },
        )
        .await
    }

    /// One HTTP exchange, holding one of the mailbox's concurrency permits for its whole duration
    /// (not during backoff sleeps or token refreshes).
    async fn send_once(
        &self,
        call: &Call<'_>,
        token: &SecretString,
        attempt: u32,
    ) -> Result<Vec<u8>, GraphError> {
        let _permit = self.limiter.acquire().await.map_err(|_| {
            GraphError::InvalidInput("the client's concurrency limiter is closed".to_owned())
        })?;
        let prefer = if call.delta {
            &self.prefer_delta
        } else {
            &self.prefer
        };
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose_secret())
            .header("Prefer", prefer.clone());
        if let Some(etag) = call.if_match {
            request = request.header(IF_MATCH, etag);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(GraphError::from_reqwest)?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let retry_after = header(RETRY_AFTER).and_then(|v| parse_retry_after(v, Utc::now()));
        let location = header(LOCATION).map(str::to_owned);
        let body = response.bytes().await.map_err(GraphError::from_reqwest)?;
        // Path only: the query may carry delta/skip tokens.
        tracing::debug!(
            op = call.op,
            path = call.url.path(),
            attempt,
            status = status.as_u16(),
            "Microsoft Graph call"
        );
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(GraphError::from_response(
                status,
                retry_after,
                location,
                &body,
            ))
        }
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, GraphError> {
    serde_json::to_vec(value).map_err(|e| GraphError::InvalidInput(format!("request body: {e}")))
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|e| GraphError::Decode(e.to_string()))
}

fn too_many_pages() -> GraphError {
    GraphError::Decode(format!("more than {MAX_PAGES} pages"))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn set_window(url: &mut Url, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), GraphError> {
    if end <= start {
        return Err(GraphError::InvalidInput(
            "the window's end must be after its start".to_owned(),
        ));
    }
    set_query(
        url,
        &[
            ("startDateTime", &rfc3339(start)),
            ("endDateTime", &rfc3339(end)),
        ],
    );
    Ok(())
}

/// Sets the query from our own literal keys (`$expand` stays `$expand`) and percent-encoded values
/// (spaces as `%20`: OData servers do not all read `+` as a space).
fn set_query(url: &mut Url, pairs: &[(&str, &str)]) {
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    url.set_query(Some(&query));
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An OData string literal's content: single quotes are doubled.
fn odata_string(value: &str) -> String {
    value.replace('\'', "''")
}

impl crate::retry::CallError for GraphError {
    fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized)
    }
    fn is_retryable(&self) -> bool {
        GraphError::is_retryable(self)
    }
    fn certainly_not_applied(&self) -> bool {
        GraphError::certainly_not_applied(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        GraphError::retry_after(self)
    }
    fn from_token(error: TokenSourceError) -> Self {
        Self::Token(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> GraphError {
        GraphError::from_response(
            StatusCode::from_u16(status).expect("status"),
            None,
            None,
            body.as_bytes(),
        )
    }

    fn envelope(code: &str, message: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": message, "innerError": {"request-id": "r", "date": "2026-03-02T10:00:00"}}})
            .to_string()
    }

    #[test]
    fn classification_table() {
        assert!(
            matches!(classify(400, &envelope("ErrorOccurrenceCrossingBoundary", "x")), ref e if e.is_occurrence_crossing_boundary())
        );
        assert!(
            classify(400, &envelope("TimeZoneNotSupportedException", "x"))
                .is_time_zone_not_supported()
        );
        assert!(matches!(
            classify(401, &envelope("InvalidAuthenticationToken", "x")),
            GraphError::Unauthorized
        ));
        assert!(
            matches!(classify(403, &envelope("ErrorAccessDenied", "x")), GraphError::Forbidden { ref code, .. } if code == "ErrorAccessDenied")
        );
        assert!(matches!(
            classify(404, &envelope("ErrorItemNotFound", "x")),
            GraphError::NotFound
        ));
        assert!(matches!(
            classify(409, &envelope("ErrorIrresolvableConflict", "x")),
            GraphError::Conflict { .. }
        ));
        assert!(classify(410, "").is_resync_required());
        assert!(classify(400, &envelope("syncStateNotFound", "x")).is_resync_required());
        assert!(classify(404, &envelope("syncStateNotFound", "x")).is_resync_required());
        assert!(matches!(
            classify(412, &envelope("ErrorIrresolvableConflict", "x")),
            GraphError::PreconditionFailed
        ));
        assert!(matches!(
            classify(429, &envelope("ApplicationThrottled", "x")),
            GraphError::Throttled { status: 429, .. }
        ));
        assert!(matches!(
            classify(503, "<html/>"),
            GraphError::Throttled { status: 503, .. }
        ));
        assert!(
            matches!(classify(502, "<html/>"), GraphError::Server { status: 502, ref message, .. } if message == "Bad Gateway")
        );
        assert!(matches!(
            classify(405, ""),
            GraphError::Http { status: 405, .. }
        ));
    }

    #[test]
    fn retryability_and_safety() {
        assert!(classify(429, "").is_retryable() && classify(429, "").certainly_not_applied());
        assert!(classify(503, "").is_retryable() && !classify(503, "").certainly_not_applied());
        assert!(classify(500, "").is_retryable());
        assert!(!classify(400, "").is_retryable());
        assert!(!classify(410, "").is_retryable());
        assert!(!classify(412, "").is_retryable());
        assert!(GraphError::Timeout.is_retryable() && !GraphError::Timeout.certainly_not_applied());
        assert!(GraphError::Unauthorized.needs_reauthorization());
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            percent_encode("2026-03-02T10:00:00Z"),
            "2026-03-02T10%3A00%3A00Z"
        );
        assert_eq!(percent_encode("a b'"), "a%20b%27");
        assert_eq!(odata_string("it's"), "it''s");
    }
}
