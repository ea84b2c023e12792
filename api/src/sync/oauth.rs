//! Connecting a provider account: the authorization URL (OAuth 2.0 with PKCE) and the callback
//! that exchanges the code, identifies the account and stores the connection with its tokens
//! sealed.

use super::tokens::ACTIVE;
use super::{Provider, SyncError};
use crate::secrets::{new_token, sha256_hex};
use crate::state::AppState;
use crate::store::sync::{ConnectionRecord, OAuthStateRecord};
use almanac_domain::OrganizationId;
use almanac_providers::oauth::{AccessTokenSource, SecretString, StaticAccessToken};
use std::sync::Arc;

/// How long a started OAuth authorization stays usable.
const STATE_TTL_SECONDS: i64 = 600;
/// The longest `login_hint` passed on (an e-mail address is at most 320 characters).
const LOGIN_HINT_MAX: usize = 320;

/// Starts connecting an account: the URL to send the user to, and when it expires. The state is
/// single-use, bound to the organization, the user and the provider, and expires in ten minutes.
#[tracing::instrument(skip_all, fields(org = %org, provider = provider.as_str()))]
pub async fn begin_connect(
    app: &AppState,
    provider: Provider,
    org: OrganizationId,
    user: Option<String>,
    login_hint: Option<&str>,
) -> Result<(String, i64), SyncError> {
    let oauth = app
        .sync
        .oauth(provider)
        .ok_or(SyncError::NotConfigured(provider))?;
    let login_hint = login_hint.map(str::trim).filter(|h| !h.is_empty());
    if login_hint.is_some_and(|h| h.len() > LOGIN_HINT_MAX) {
        return Err(SyncError::invalid(
            "loginHint",
            "may be at most 320 characters",
        ));
    }
    let state = new_token();
    let mut request = oauth.begin(state.clone());
    if let Some(hint) = login_hint {
        request
            .url
            .query_pairs_mut()
            .append_pair("login_hint", hint);
    }
    let expires_at = chrono::Utc::now().timestamp() + STATE_TTL_SECONDS;
    app.store
        .insert_oauth_state(&OAuthStateRecord {
            state_sha256: sha256_hex(&state),
            organization_id: org.to_string(),
            user_id: user,
            provider: provider.as_str().into(),
            pkce_verifier: app.sync.sealer.seal(request.pkce_verifier.expose_secret()),
            expires_at,
        })
        .await?;
    Ok((request.url.to_string(), expires_at))
}

/// The OAuth redirect: exchanges the code, identifies the account and stores the connection.
#[tracing::instrument(skip_all, fields(org, connection, provider = provider.as_str()))]
pub async fn complete_connect(
    app: &AppState,
    provider: Provider,
    code: &str,
    state: &str,
) -> Result<ConnectionRecord, SyncError> {
    let now = chrono::Utc::now().timestamp();
    let pending = app
        .store
        .take_oauth_state(&sha256_hex(state), now)
        .await?
        .ok_or(SyncError::UnknownAuthorization)?;
    // A state issued for another provider is as unknown as a forged one.
    if pending.provider != provider.as_str() {
        return Err(SyncError::UnknownAuthorization);
    }
    tracing::Span::current().record("org", pending.organization_id.as_str());
    let oauth = app
        .sync
        .oauth(provider)
        .ok_or(SyncError::NotConfigured(provider))?;
    let verifier = app
        .sync
        .sealer
        .open(&pending.pkce_verifier)
        .map_err(|_| SyncError::Unsealable("PKCE verifier"))?;
    let grant = oauth
        .exchange_code(code, &SecretString::new(verifier))
        .await
        .map_err(|e| SyncError::ProviderRefused {
            action: "authorize the connection",
            reason: e.to_string(),
        })?;
    let account = account_name(app, provider, grant.access_token.clone()).await?;

    let record = ConnectionRecord {
        id: format!("con_{}", uuid::Uuid::now_v7().simple()),
        organization_id: pending.organization_id,
        user_id: pending.user_id,
        provider: provider.as_str().into(),
        account,
        state: ACTIVE.into(),
        access_token: Some(app.sync.sealer.seal(grant.access_token.expose_secret())),
        refresh_token: grant
            .refresh_token
            .as_ref()
            .map(|r| app.sync.sealer.seal(r.expose_secret())),
        access_expires_at: Some(grant.expires_at.timestamp()),
        token_version: 0,
        last_error: None,
        created_at: now,
    };
    let id = app.store.upsert_connection(&record).await?;
    tracing::Span::current().record("connection", id.as_str());
    // Reconnecting an account updates its existing connection: answer that one.
    app.store
        .connection_by_id(&id)
        .await?
        .ok_or(SyncError::NotFound("provider account"))
}

/// Who the new grant belongs to, as the provider names the account (its address).
async fn account_name(
    app: &AppState,
    provider: Provider,
    access_token: SecretString,
) -> Result<String, SyncError> {
    let refused = |e: &dyn std::fmt::Display| SyncError::ProviderRefused {
        action: "authorize the connection",
        reason: e.to_string(),
    };
    let probe: Arc<dyn AccessTokenSource> = Arc::new(StaticAccessToken::new(access_token));
    Ok(match provider {
        // The primary calendar's id is the Google account's address.
        Provider::Google => {
            let client = app
                .sync
                .google_client(probe)
                .map_err(SyncError::GoogleSetup)?;
            let calendars = client.calendar_list().await.map_err(|e| refused(&e))?;
            calendars
                .iter()
                .find(|c| c.primary == Some(true))
                .and_then(|c| c.id.clone())
                .unwrap_or_else(|| "unknown".into())
        }
        Provider::Outlook => {
            let client = app
                .sync
                .graph_client(None, probe)
                .map_err(SyncError::GraphSetup)?;
            let me = client.me().await.map_err(|e| refused(&e))?;
            me.mail
                .or(me.user_principal_name)
                .or(me.id)
                .unwrap_or_else(|| "unknown".into())
        }
    })
}
