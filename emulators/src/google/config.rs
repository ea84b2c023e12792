//! Configuration, switchable assumptions and fault plans.

use crate::control::{EmulatorConfig, Fault, FaultEffect};
use std::net::SocketAddr;
use std::time::Duration;

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// Allowed redirect URIs; empty accepts any (handy for loopback redirects on random ports).
    pub redirect_uris: Vec<String>,
}

impl OAuthClient {
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![],
        }
    }
}

/// Per-minute quotas over a sliding one-minute window, in quota units (`patch` costs 3).
/// Google's published figures have changed over time (and differ for projects created after
/// 1 May 2026), so they are configuration, not constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Per user (account) per minute; exceeding it gives 403 `userRateLimitExceeded`.
    pub per_user_per_minute: Option<u32>,
    /// Per project (the whole emulator) per minute; exceeding it gives 429 `rateLimitExceeded`.
    pub per_project_per_minute: Option<u32>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            per_user_per_minute: Some(600),
            per_project_per_minute: Some(10_000),
        }
    }
}

impl Quotas {
    pub fn unlimited() -> Self {
        Quotas {
            per_user_per_minute: None,
            per_project_per_minute: None,
        }
    }
}

/// What happens to exceptions of a recurring event whose original start no longer belongs to the
/// series after the parent's `recurrence`/`start` changed (e.g. the parent was trimmed for a
/// "this and following" split). Undocumented by Google (PROVIDERS.md 1.4, open question).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrimmedExceptions {
    /// They become cancelled and appear as such in the next incremental sync (default assumption).
    #[default]
    Cancel,
    /// They stay as they are, still pointing at the parent.
    Keep,
}

/// How PATCH treats `extendedProperties.private` / `.shared`. Google documents merge semantics for
/// patch in general ("fields you specify replace, others stay; arrays are replaced") but not for
/// these string maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExtendedPropertiesPatch {
    /// Keys are merged like any nested object: given keys are set, `null` removes a key, others stay
    /// (default; consistent with how `start` must be patched with `"dateTime": null`).
    #[default]
    Merge,
    /// A given `private`/`shared` map replaces the stored one wholesale.
    Replace,
}

/// A fault to inject into an API response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 403 `rateLimitExceeded` (usageLimits).
    RateLimit403,
    /// 403 `userRateLimitExceeded` (usageLimits).
    UserRateLimit403,
    /// 429 `rateLimitExceeded` (usageLimits).
    RateLimit429,
    /// 403 `quotaExceeded` (usageLimits) "Calendar usage limits exceeded.".
    QuotaExceeded403,
    /// 500 `backendError`.
    BackendError500,
    /// Hold the request this long before handling it (longer than the client's timeout).
    Timeout(Duration),
    /// Apply the request, then answer 500 `backendError` instead of the real response.
    LostResponse500,
    /// Apply the request, then close the connection without answering.
    LostResponseDrop,
}

impl Fault for FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::RateLimit403 => "rateLimitExceeded/403",
            FaultKind::UserRateLimit403 => "userRateLimitExceeded/403",
            FaultKind::RateLimit429 => "rateLimitExceeded/429",
            FaultKind::QuotaExceeded403 => "quotaExceeded/403",
            FaultKind::BackendError500 => "backendError/500",
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

pub use crate::control::FaultMatch;

/// Faults for API calls (`/calendar/v3/…`; OAuth endpoints are never faulted): see
/// [`FaultPlan`](crate::FaultPlan) for how queued and seeded random faults are drawn.
pub type FaultPlan = crate::control::FaultPlan<FaultKind>;

/// Emulator configuration. `Default` gives Google's documented behaviour plus the default
/// assumptions flagged \[K\]/\[S\] in PROVIDERS.md.
#[derive(Debug, Clone)]
pub struct GoogleEmulatorConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    pub clients: Vec<OAuthClient>,
    /// Accounts created at start (each with a primary calendar named after the address).
    pub accounts: Vec<String>,
    /// IANA zone of newly created calendars.
    pub default_time_zone: String,
    pub quotas: Quotas,
    /// Lifetime of access tokens (Google: 3599 s).
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens; `Some(7 days)` emulates an app whose consent screen is in
    /// "Testing" status. `None`: until revoked.
    pub refresh_token_ttl: Option<Duration>,
    /// A refresh token is issued only for `access_type=offline`, and then only on the first consent
    /// of an account to a client or with `prompt=consent` \[S\].
    pub refresh_token_only_on_consent: bool,
    /// API calls need a bearer token. Off: unauthenticated calls act as the first account.
    pub require_auth: bool,
    /// Check OAuth scopes per method (read vs write, events vs calendar list).
    pub enforce_scopes: bool,
    /// Q3 2026 change: instance ids are opaque random strings instead of `<id>_<start>`.
    pub opaque_instance_ids: bool,
    pub trimmed_exceptions: TrimmedExceptions,
    pub extended_properties_patch: ExtendedPropertiesPatch,
    /// Return short and empty pages (that still carry `nextPageToken`) in a fixed pattern, as the
    /// documentation allows.
    pub ragged_pages: bool,
    /// How far past "now" (or `timeMin`) unbounded series are expanded when no `timeMax` is given
    /// (`singleEvents=true`, `instances`, incremental sync). Undocumented \[K\].
    pub expansion_horizon_days: u32,
    /// Sync tokens older than this give 410 `fullSyncRequired`; `None`: they never expire.
    pub sync_token_ttl: Option<Duration>,
    /// Refuse `http://` webhook addresses like Google does (off by default so tests can receive).
    pub require_https_webhooks: bool,
    /// Extra delivery attempts after a non-2xx answer or a failed POST.
    pub webhook_retries: u32,
    /// Delay before the first retry; doubles each time.
    pub webhook_retry_delay: Duration,
    pub webhook_timeout: Duration,
    /// Seeds generated ids and tokens.
    pub seed: u64,
}

impl EmulatorConfig for GoogleEmulatorConfig {
    fn bind(&self) -> SocketAddr {
        self.bind
    }
}

impl Default for GoogleEmulatorConfig {
    fn default() -> Self {
        GoogleEmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            clients: vec![OAuthClient::new("almanac-dev", "almanac-dev-secret")],
            accounts: vec![],
            default_time_zone: "UTC".into(),
            quotas: Quotas::default(),
            access_token_ttl: Duration::from_secs(3599),
            refresh_token_ttl: None,
            refresh_token_only_on_consent: true,
            require_auth: true,
            enforce_scopes: true,
            opaque_instance_ids: false,
            trimmed_exceptions: TrimmedExceptions::Cancel,
            extended_properties_patch: ExtendedPropertiesPatch::Merge,
            ragged_pages: false,
            expansion_horizon_days: 730,
            sync_token_ttl: None,
            require_https_webhooks: false,
            webhook_retries: 3,
            webhook_retry_delay: Duration::from_millis(50),
            webhook_timeout: Duration::from_secs(5),
            seed: 0x5EED,
        }
    }
}
