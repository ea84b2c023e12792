//! Access tokens of a provider connection: opened from their sealed form, refreshed when they
//! expire or are rejected. Refresh is single-flight: the first caller refreshes under the
//! connection's lock; the others wait and then find the new token. Across nodes the stored
//! token_version is compared-and-set, and a node that loses the race reloads the winner's token.
//! `invalid_grant` moves the connection to NEEDS_REAUTH (its links pause; nothing is deleted).

use super::SyncRuntime;
use crate::store::sync::ConnectionRecord;
use crate::store::Store;
use almanac_providers::oauth::{
    AccessTokenSource, OAuthClient, OAuthError, SecretString, TokenSourceError,
};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub const ACTIVE: &str = "ACTIVE";
pub const NEEDS_REAUTH: &str = "NEEDS_REAUTH";

/// Refresh this long before the provider's expiry, so a token does not die mid-round.
const EXPIRY_SKEW_SECONDS: i64 = 60;

pub struct ConnectionTokens {
    store: Arc<dyn Store>,
    runtime: Arc<SyncRuntime>,
    oauth: Option<OAuthClient>,
    connection: String,
    /// How many refreshes this source made (tests check single-flight with it).
    pub refreshes: AtomicU64,
}

impl ConnectionTokens {
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Arc<SyncRuntime>,
        oauth: Option<OAuthClient>,
        connection: String,
    ) -> Self {
        ConnectionTokens {
            store,
            runtime,
            oauth,
            connection,
            refreshes: AtomicU64::new(0),
        }
    }

    async fn load(&self) -> Result<ConnectionRecord, TokenSourceError> {
        match self.store.connection_by_id(&self.connection).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(TokenSourceError::Failed(
                "the connection no longer exists".into(),
            )),
            Err(e) => Err(TokenSourceError::Unavailable(format!("database: {e}"))),
        }
    }

    fn usable(&self, c: &ConnectionRecord, now: i64) -> Option<SecretString> {
        if c.state != ACTIVE
            || c.access_expires_at
                .is_none_or(|t| t - EXPIRY_SKEW_SECONDS <= now)
        {
            return None;
        }
        c.access_token
            .as_deref()
            .and_then(|s| self.runtime.sealer.open(s).ok())
            .map(SecretString::new)
    }

    /// Refreshes unless someone already did since `seen_version`.
    async fn refresh(&self, seen_version: i64) -> Result<SecretString, TokenSourceError> {
        let lock = self.runtime.refresh_lock(&self.connection);
        let _guard = lock.lock().await;
        let c = self.load().await?;
        if c.state == NEEDS_REAUTH {
            return Err(TokenSourceError::ReauthorizationRequired {
                description: c
                    .last_error
                    .unwrap_or_else(|| "the account must be reconnected".into()),
            });
        }
        let now = chrono::Utc::now().timestamp();
        if c.token_version != seen_version {
            if let Some(t) = self.usable(&c, now) {
                return Ok(t);
            }
        }
        let oauth = self.oauth.as_ref().ok_or_else(|| {
            TokenSourceError::Failed("the provider is not configured on this server".into())
        })?;
        let refresh = c
            .refresh_token
            .as_deref()
            .and_then(|s| self.runtime.sealer.open(s).ok())
            .ok_or_else(|| TokenSourceError::ReauthorizationRequired {
                description: "no refresh token is stored for this connection".into(),
            })?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        match oauth.refresh(&SecretString::new(refresh)).await {
            Ok(grant) => {
                let access = self.runtime.sealer.seal(grant.access_token.expose_secret());
                let refresh = grant
                    .refresh_token
                    .as_ref()
                    .map(|r| self.runtime.sealer.seal(r.expose_secret()));
                let stored = self
                    .store
                    .store_tokens(
                        &self.connection,
                        c.token_version,
                        &access,
                        refresh.as_deref(),
                        grant.expires_at.timestamp(),
                    )
                    .await
                    .map_err(|e| TokenSourceError::Unavailable(format!("database: {e}")))?;
                if stored {
                    return Ok(grant.access_token);
                }
                // Another node refreshed first; its token is as good as ours (both are valid).
                let c = self.load().await?;
                self.usable(&c, now).map_or(Ok(grant.access_token), Ok)
            }
            Err(OAuthError::InvalidGrant { description }) => {
                let why =
                    format!("the provider refused the stored grant (invalid_grant): {description}");
                if let Err(e) = self
                    .store
                    .set_connection_state(&self.connection, NEEDS_REAUTH, Some(&why))
                    .await
                {
                    tracing::error!(error = %e, "could not mark the connection as needing re-authorization");
                }
                Err(TokenSourceError::ReauthorizationRequired { description: why })
            }
            Err(OAuthError::Transport(e)) => Err(TokenSourceError::Unavailable(e)),
            Err(e) => Err(TokenSourceError::Failed(e.to_string())),
        }
    }
}

#[async_trait]
impl AccessTokenSource for ConnectionTokens {
    async fn access_token(&self) -> Result<SecretString, TokenSourceError> {
        let c = self.load().await?;
        if c.state == NEEDS_REAUTH {
            return Err(TokenSourceError::ReauthorizationRequired {
                description: c
                    .last_error
                    .unwrap_or_else(|| "the account must be reconnected".into()),
            });
        }
        match self.usable(&c, chrono::Utc::now().timestamp()) {
            Some(t) => Ok(t),
            None => self.refresh(c.token_version).await,
        }
    }

    async fn token_rejected(&self, rejected: &SecretString) {
        let c = match self.load().await {
            Ok(c) => c,
            Err(e) => {
                // The next `access_token` call meets the same failure and reports it.
                tracing::warn!(connection = %self.connection, error = %e, "could not reload a connection after its token was rejected");
                return;
            }
        };
        let current = c
            .access_token
            .as_deref()
            .and_then(|s| self.runtime.sealer.open(s).ok());
        // Only the holder of the current token triggers a refresh; a stale one just reloads.
        if current.as_deref() == Some(rejected.expose_secret()) {
            if let Err(e) = self.refresh(c.token_version).await {
                tracing::warn!(connection = %self.connection, error = %e, "refresh after a rejected token failed");
            }
        }
    }
}
