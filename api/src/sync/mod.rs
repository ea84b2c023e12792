//! The application side of provider sync: how connections get their access tokens (sealed at
//! rest, refreshed single-flight), and the store-backed [`SyncPort`] the provider-neutral engine
//! in `almanac-providers` drives. Use cases (connect, link, sync now) are in `services::sync`.

pub mod port;
pub mod tokens;

use crate::config::SyncSettings;
use crate::secrets::Sealer;
use almanac_providers::google::{GoogleCalendarClient, GoogleClientConfig};
use almanac_providers::oauth::{OAuthClient, OAuthProviderConfig};
use almanac_providers::outlook::client::{GraphClient, GraphClientConfig, MailboxBudget};
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
    ) -> Result<GraphClient, String> {
        let config = GraphClientConfig {
            base_url: self.settings.graph_api_url.clone(),
            request_timeout: Duration::from_millis(self.settings.provider_timeout_ms.max(11_000)),
            connect_timeout: Duration::from_secs(5),
            retry: self.retry(),
            ..GraphClientConfig::default()
        };
        let client = GraphClient::new(config, tokens).map_err(|e| e.to_string())?;
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
    ) -> Result<GoogleCalendarClient, String> {
        let config = GoogleClientConfig {
            base_url: self.settings.google_api_url.clone(),
            request_timeout: Duration::from_millis(self.settings.provider_timeout_ms),
            connect_timeout: Duration::from_secs(5),
            retry: self.retry(),
        };
        GoogleCalendarClient::new(config, tokens).map_err(|e| e.to_string())
    }
}
