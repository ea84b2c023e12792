//! Configuration, switchable assumptions and fault kinds.

use crate::control::{EmulatorConfig, Fault, FaultEffect};
use std::net::SocketAddr;
use std::time::Duration;

pub use crate::control::FaultMatch;

/// A registered Microsoft identity platform application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    /// `None`: a public client (native/SPA): no secret, PKCE required.
    pub client_secret: Option<String>,
    /// Allowed redirect URIs; empty accepts any (handy for loopback redirects on random ports).
    pub redirect_uris: Vec<String>,
}

impl OAuthClient {
    pub fn confidential(client_id: &str, client_secret: &str) -> Self {
        OAuthClient {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            redirect_uris: vec![],
        }
    }
    pub fn public(client_id: &str) -> Self {
        OAuthClient {
            client_id: client_id.into(),
            client_secret: None,
            redirect_uris: vec![],
        }
    }
}

/// Outlook's per app-and-mailbox limits (PROVIDERS.md 2.8). Exceeding either answers 429 with
/// `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Requests of one mailbox being served at once (Outlook: 4); the next one gets 429
    /// `ApplicationThrottled` "MailboxConcurrency".
    pub max_concurrent: Option<u32>,
    /// Requests per mailbox per `window` (Outlook: 10,000 per 10 minutes).
    pub max_requests: Option<u32>,
    pub window: Duration,
    /// The `Retry-After` value (seconds) sent with throttling answers.
    pub retry_after_secs: u32,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            max_concurrent: Some(4),
            max_requests: Some(10_000),
            window: Duration::from_secs(600),
            retry_after_secs: 1,
        }
    }
}

impl Throttling {
    pub fn unlimited() -> Self {
        Throttling {
            max_concurrent: None,
            max_requests: None,
            ..Default::default()
        }
    }
}

/// What a PATCH of a series master's `recurrence` (or of its `start`/`end`, which moves every
/// occurrence) does to the series' exceptions. MS-OXOCAL says a pattern change drops every
/// exception; Outlook warns about it even for an end-date change; whether deleted occurrences
/// reappear is undocumented (PROVIDERS.md 2.4, \[K\]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecurrencePatch {
    /// Any PATCH whose body has `recurrence` (or moves the master) drops all modified and deleted
    /// occurrences, even when the value is unchanged (default).
    #[default]
    WipeExceptions,
    /// Only an actual change of the recurrence (or of the master's start/end) wipes them.
    WipeWhenChanged,
    /// Exceptions whose original start still belongs to the series survive; the rest are dropped.
    KeepMatching,
}

/// Lifecycle events a test can make the emulator send (`lifecycleNotificationUrl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    Missed,
    /// Also removes the subscription.
    SubscriptionRemoved,
}

impl LifecycleEvent {
    pub fn name(&self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::Missed => "missed",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
        }
    }
}

/// A fault to inject into an API response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 `TooManyRequests` with `Retry-After`.
    Throttled429 { retry_after_secs: u32 },
    /// 429 `TooManyRequests` without `Retry-After` (seen in the field \[S\]).
    Throttled429WithoutRetryAfter,
    /// 503 `serviceNotAvailable` with `Retry-After`.
    ServiceUnavailable503 { retry_after_secs: u32 },
    /// 500 `ErrorInternalServerError`.
    InternalServerError500,
    /// 504 `UnknownError` (gateway timeout).
    GatewayTimeout504,
    /// Hold the request this long before handling it (longer than the client's timeout).
    Timeout(Duration),
    /// Apply the request, then answer 500 instead of the real response.
    LostResponse500,
    /// Apply the request, then close the connection without answering.
    LostResponseDrop,
}

impl Fault for FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::Throttled429 { .. } => "throttled/429",
            FaultKind::Throttled429WithoutRetryAfter => "throttled/429/no-retry-after",
            FaultKind::ServiceUnavailable503 { .. } => "serviceNotAvailable/503",
            FaultKind::InternalServerError500 => "internalServerError/500",
            FaultKind::GatewayTimeout504 => "gatewayTimeout/504",
            FaultKind::Timeout(_) => "timeout",
            FaultKind::LostResponse500 => "lostResponse/500",
            FaultKind::LostResponseDrop => "lostResponse/drop",
        }
    }

    fn effect(&self) -> FaultEffect {
        match self {
            FaultKind::Timeout(d) => FaultEffect::Hold(*d),
            FaultKind::LostResponse500 => FaultEffect::LoseResponse,
            FaultKind::LostResponseDrop => FaultEffect::DropConnection,
            _ => FaultEffect::Refuse,
        }
    }
}

/// Faults for API calls (`/v1.0/…`; OAuth endpoints are never faulted): see
/// [`FaultPlan`](crate::FaultPlan) for how queued and seeded random faults are drawn.
pub type FaultPlan = crate::control::FaultPlan<FaultKind>;

/// Emulator configuration. `Default` gives Graph's documented behaviour plus the default
/// assumptions flagged \[K\]/\[S\] in PROVIDERS.md.
#[derive(Debug, Clone)]
pub struct OutlookEmulatorConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    pub clients: Vec<OAuthClient>,
    /// Mailboxes created at start (each with its default calendar "Calendar").
    pub accounts: Vec<String>,
    /// The directory (tenant) id, a GUID; `tenantId` of notifications, `tid` of tokens.
    pub tenant_id: String,
    pub throttling: Throttling,
    /// Access tokens live 60–90 minutes on the real service; `expires_in` is this.
    pub access_token_ttl: Duration,
    /// Refresh tokens expire after this long unused (90 days): AADSTS700082.
    pub refresh_token_ttl: Duration,
    /// API calls need a bearer token. Off: unauthenticated calls act as the first account.
    pub require_auth: bool,
    /// Check delegated scopes (`Calendars.Read`/`Calendars.ReadWrite`/`User.Read`).
    pub enforce_scopes: bool,
    /// A repeated POST with the same `transactionId` returns the event created the first time
    /// instead of a duplicate \[K\].
    pub transaction_id_dedup: bool,
    pub recurrence_patch: RecurrencePatch,
    /// Error code of the 412 answered to an `If-Match` mismatch (undocumented; community fakes use
    /// `ErrorIrresolvableConflict`).
    pub precondition_failed_code: String,
    /// Delta rounds re-deliver the previous round's changes once more and repeat one entity within
    /// a round ("replays happen", PROVIDERS.md 2.6).
    pub delta_replays: bool,
    /// Page size of lists and delta rounds without `$top` / `Prefer: odata.maxpagesize` (10).
    pub default_page_size: usize,
    /// Delta and skip tokens kept; older ones answer 410 `syncStateNotFound` (the service's token
    /// lifetime is not fixed).
    pub delta_token_capacity: usize,
    /// Refuse `http://` notification URLs like Graph does (off so tests can receive).
    pub require_https_notifications: bool,
    /// The validation handshake must be answered within this (Graph: 10 s).
    pub validation_timeout: Duration,
    /// A notification POST must be answered 2xx within this (Graph: 3 s), else it is retried.
    pub notification_timeout: Duration,
    /// Extra delivery attempts after a failed notification POST.
    pub notification_retries: u32,
    /// Delay before the first retry; doubles each time.
    pub notification_retry_delay: Duration,
    /// Changes arriving within this window share one POST (`value[]` batching).
    pub notification_batch_window: Duration,
    /// Longest subscription lifetime for events (10,080 minutes; 1,440 with resource data).
    pub max_subscription_minutes: i64,
    pub max_subscription_minutes_with_resource_data: i64,
    /// Seeds generated ids, keys and tokens.
    pub seed: u64,
}

impl EmulatorConfig for OutlookEmulatorConfig {
    fn bind(&self) -> SocketAddr {
        self.bind
    }
}

impl Default for OutlookEmulatorConfig {
    fn default() -> Self {
        OutlookEmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            clients: vec![OAuthClient::confidential(
                "almanac-dev",
                "almanac-dev-secret",
            )],
            accounts: vec![],
            tenant_id: "9188040d-6c67-4c5b-b112-36a304b66dad".into(),
            throttling: Throttling::default(),
            access_token_ttl: Duration::from_secs(3599),
            refresh_token_ttl: Duration::from_secs(90 * 86_400),
            require_auth: true,
            enforce_scopes: true,
            transaction_id_dedup: true,
            recurrence_patch: RecurrencePatch::WipeExceptions,
            precondition_failed_code: "ErrorIrresolvableConflict".into(),
            delta_replays: false,
            default_page_size: 10,
            delta_token_capacity: 10_000,
            require_https_notifications: false,
            validation_timeout: Duration::from_secs(10),
            notification_timeout: Duration::from_secs(3),
            notification_retries: 3,
            notification_retry_delay: Duration::from_millis(50),
            notification_batch_window: Duration::from_millis(20),
            max_subscription_minutes: 10_080,
            max_subscription_minutes_with_resource_data: 1_440,
            seed: 0x0075_7400,
        }
    }
}
