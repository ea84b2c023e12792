//! Provider sync in the application, one submodule per reason to change:
//!
//! * [`oauth`]: connecting an account (authorization URL with PKCE, the callback);
//! * [`links`]: linking and unlinking calendars, and their push channels / subscriptions;
//! * [`rounds`]: one push-then-pull round of a link through the provider-neutral engine;
//! * [`inbound`]: the provider's push notifications, which start rounds;
//! * [`worker`]: the background loop the application starts and stops;
//! * [`tokens`]: access tokens of a connection, sealed at rest and refreshed single-flight;
//! * [`port`]: the store-backed [`SyncPort`](almanac_providers::sync::engine::SyncPort) the
//!   engine in `almanac-providers` drives.
//!
//! Every use case answers a [`SyncError`]; the GraphQL and HTTP edges decide what callers see.

pub mod error;
pub mod inbound;
pub mod links;
pub mod oauth;
pub mod port;
pub mod rounds;
pub mod tokens;
pub mod worker;

pub use error::SyncError;

use crate::config::SyncSettings;
use crate::secrets::Sealer;
use crate::state::AppState;
use crate::store::sync::ConnectionRecord;
use almanac_providers::google::client::GoogleError;
use almanac_providers::google::{GoogleCalendarClient, GoogleClientConfig};
use almanac_providers::oauth::{OAuthClient, OAuthProviderConfig};
use almanac_providers::outlook::client::{
    GraphClient, GraphClientConfig, GraphError, MailboxBudget,
};
use almanac_providers::retry::RetryPolicy;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A calendar provider Almanac syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Outlook,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Outlook => "outlook",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Provider::Google),
            "outlook" => Some(Provider::Outlook),
            _ => None,
        }
    }
    /// The setting that turns sync with this provider on.
    pub fn client_id_variable(self) -> &'static str {
        match self {
            Provider::Google => "ALMANAC_GOOGLE_CLIENT_ID",
            Provider::Outlook => "ALMANAC_MICROSOFT_CLIENT_ID",
        }
    }
    /// The provider of a stored connection (rows written before Outlook existed say nothing
    /// else than "google").
    pub fn of(connection: &ConnectionRecord) -> Self {
        Provider::parse(&connection.provider).unwrap_or(Provider::Google)
    }
}

/// What sync needs at run time, built once at startup.
pub struct SyncRuntime {
    pub settings: SyncSettings,
    pub sealer: Sealer,
    /// One lock per connection: concurrent 401s on one node cause one refresh (several nodes
    /// are serialised by the compare-and-set on the stored token version).
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// One lock per link: a webhook, the worker and `syncCalendarLink` never run the same link's
    /// round at once on this node (rounds are idempotent, so nodes racing is only wasted work).
    link_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// One concurrency budget per Outlook connection (mailbox), shared by all of this node's
    /// rounds for it; Graph answers 429 past 4 requests in flight per mailbox.
    mailbox_budgets: Mutex<HashMap<String, MailboxBudget>>,
    /// Where OAuth redirects come back and webhooks are sent: this server's public URL.
    pub public_url: Arc<str>,
}

impl std::fmt::Debug for SyncRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRuntime")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn lock_for(
    map: &Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    key: &str,
) -> Arc<tokio::sync::Mutex<()>> {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(key.to_string()).or_default().clone()
}

impl SyncRuntime {
    pub fn new(settings: SyncSettings, sealer: Sealer, public_url: Arc<str>) -> Self {
        SyncRuntime {
            settings,
            sealer,
            refresh_locks: Mutex::default(),
            link_locks: Mutex::default(),
            mailbox_budgets: Mutex::default(),
            public_url,
        }
    }

    pub fn refresh_lock(&self, connection: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_for(&self.refresh_locks, connection)
    }

    pub fn link_lock(&self, link: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_for(&self.link_locks, link)
    }

    pub fn redirect_url(&self, provider: Provider) -> String {
        format!("{}/oauth/{}/callback", self.public_url, provider.as_str())
    }

    pub fn webhook_url(&self, provider: Provider) -> String {
        format!("{}/webhooks/{}", self.public_url, provider.as_str())
    }

    /// The OAuth client for a provider, when it is configured.
    pub fn oauth(&self, provider: Provider) -> Option<OAuthClient> {
        let s = &self.settings;
        let cfg = match provider {
            Provider::Google => {
                let mut cfg = OAuthProviderConfig::google(
                    s.google_client_id.clone()?,
                    s.google_client_secret.clone().unwrap_or_default(),
                    self.redirect_url(provider),
                );
                cfg.auth_url = s.google_auth_url.clone();
                cfg.token_url = s.google_token_url.clone();
                cfg
            }
            Provider::Outlook => {
                let mut cfg = OAuthProviderConfig::microsoft(
                    &s.microsoft_tenant,
                    s.microsoft_client_id.clone()?,
                    s.microsoft_client_secret.clone().unwrap_or_default(),
                    self.redirect_url(provider),
                );
                let login = s.microsoft_login_url.trim_end_matches('/');
                cfg.auth_url = format!("{login}/{}/oauth2/v2.0/authorize", s.microsoft_tenant);
                cfg.token_url = format!("{login}/{}/oauth2/v2.0/token", s.microsoft_tenant);
                cfg
            }
        };
        OAuthClient::new(cfg).ok()
    }

    fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.settings.provider_max_attempts,
            base_delay: Duration::from_millis(self.settings.provider_retry_base_ms),
            max_delay: Duration::from_secs(30),
        }
    }

    /// A Graph client for a connection's mailbox (`None`: no connection yet, as while an OAuth
    /// callback probes `/me`).
    pub fn graph_client(
        &self,
        connection: Option<&str>,
        tokens: Arc<dyn almanac_providers::oauth::AccessTokenSource>,
    ) -> Result<GraphClient, GraphError> {
        let config = GraphClientConfig {
            base_url: self.settings.graph_api_url.clone(),
            request_timeout: Duration::from_millis(self.settings.provider_timeout_ms.max(11_000)),
            connect_timeout: Duration::from_secs(5),
            retry: self.retry(),
            ..GraphClientConfig::default()
        };
        let client = GraphClient::new(config, tokens)?;
        Ok(match connection {
            Some(id) => {
                let mut budgets = self
                    .mailbox_budgets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                client.sharing_mailbox_budget(budgets.entry(id.to_string()).or_default().clone())
            }
            None => client,
        })
    }

    pub fn google_client(
        &self,
        tokens: Arc<dyn almanac_providers::oauth::AccessTokenSource>,
    ) -> Result<GoogleCalendarClient, GoogleError> {
        let config = GoogleClientConfig {
            base_url: self.settings.google_api_url.clone(),
            request_timeout: Duration::from_millis(self.settings.provider_timeout_ms),
            connect_timeout: Duration::from_secs(5),
            retry: self.retry(),
        };
        GoogleCalendarClient::new(config, tokens)
    }
}

/// The access tokens of a stored connection.
fn connection_tokens(app: &AppState, c: &ConnectionRecord) -> Arc<tokens::ConnectionTokens> {
    Arc::new(tokens::ConnectionTokens::new(
        app.store.clone(),
        app.sync.clone(),
        app.sync.oauth(Provider::of(c)),
        c.id.clone(),
    ))
}

/// A Google Calendar client acting as a stored connection.
fn google_client_for(
    app: &AppState,
    c: &ConnectionRecord,
) -> Result<GoogleCalendarClient, SyncError> {
    app.sync
        .google_client(connection_tokens(app, c))
        .map_err(SyncError::GoogleSetup)
}

/// A Graph client acting as a stored connection, within its mailbox's concurrency budget.
fn graph_client_for(app: &AppState, c: &ConnectionRecord) -> Result<GraphClient, SyncError> {
    app.sync
        .graph_client(Some(&c.id), connection_tokens(app, c))
        .map_err(SyncError::GraphSetup)
}
