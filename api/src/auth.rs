//! Who is calling. Two ways in: an organization's API key (`Authorization: Bearer alm_…` or
//! `X-Api-Key`), or a JWT issued by the host application (HS256 with a shared secret or RS256 with
//! its public key) whose claims name the organization (`org`) and the user (`sub`). In dev mode
//! (the default, so the README's first command needs no setup) a request without credentials acts
//! for the default organization; with `--auth required` it is refused as UNAUTHENTICATED.

use crate::config::{AuthMode, Settings};
use crate::store::{ApiKeyRecord, Store, StoreError};
use almanac_domain::OrganizationId;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::sync::Arc;

/// The caller, resolved once per request; every resolver scopes by `organization`.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub organization: OrganizationId,
    pub user: Option<String>,
    pub can_write: bool,
    pub can_read: bool,
    /// The API key used, if any (rate limits are per key).
    pub api_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("internal error")]
    Store(#[from] StoreError),
}

/// Keys for verifying JWTs, parsed once at startup.
#[derive(Clone, Default)]
pub struct JwtKeys {
    hs256: Option<Arc<DecodingKey>>,
    rs256: Option<Arc<DecodingKey>>,
}

impl JwtKeys {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let hs256 = s.jwt_hs256_secret.as_ref().filter(|k| !k.is_empty()).map(|k| Arc::new(DecodingKey::from_secret(k.as_bytes())));
        let rs256 = match s.jwt_rs256_public_key.as_ref().filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => {
                let pem = if k.contains("-----BEGIN") { k.clone() } else { std::fs::read_to_string(k)? };
                Some(Arc::new(DecodingKey::from_rsa_pem(pem.as_bytes())?))
            }
        };
        Ok(JwtKeys { hs256, rs256 })
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    org: String,
    sub: Option<String>,
    /// Space-separated; "read", "write". Absent: both.
    scope: Option<String>,
}

pub const API_KEY_PREFIX: &str = "alm_";

/// A new API key: its id, the secret to show once, and the hash to store.
pub fn new_api_key() -> (String, String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let token = format!("{API_KEY_PREFIX}{id}_{secret}");
    (id, token, hash(&secret))
}

use crate::secrets::sha256_hex as hash;

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// Resolves the caller from a credential (header value or connection-init payload).
pub async fn authenticate(store: &Arc<dyn Store>, mode: AuthMode, keys: &JwtKeys, token: Option<String>) -> Result<Viewer, AuthError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return match mode {
            AuthMode::Dev => Ok(Viewer { organization: OrganizationId::DEFAULT, user: None, can_write: true, can_read: true, api_key: None }),
            AuthMode::Required => Err(AuthError::Unauthenticated("send an API key (Authorization: Bearer alm_…) or a JWT".into())),
        };
    };
    if let Some(rest) = token.strip_prefix(API_KEY_PREFIX) {
        let bad = || AuthError::Unauthenticated("the API key is not valid".into());
        let (id, secret) = rest.split_once('_').ok_or_else(bad)?;
        let key: ApiKeyRecord = store.api_key(id).await?.ok_or_else(bad)?;
        if key.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated("the API key was revoked".into()));
        }
        if !constant_time_eq(&key.secret_sha256, &hash(secret)) {
            return Err(bad());
        }
        let organization = key.organization_id.parse().map_err(|_| bad())?;
        return Ok(Viewer { organization, user: None, can_write: key.scopes.contains("write"), can_read: key.scopes.contains("read") || key.scopes.contains("write"), api_key: Some(key.id) });
    }
    let header = jsonwebtoken::decode_header(&token).map_err(|_| AuthError::Unauthenticated("the credential is neither an API key nor a JWT".into()))?;
    let key = match header.alg {
        Algorithm::HS256 => keys.hs256.as_ref(),
        Algorithm::RS256 => keys.rs256.as_ref(),
        _ => None,
    }
    .ok_or_else(|| AuthError::Unauthenticated(format!("JWTs signed with {:?} are not accepted by this server", header.alg)))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Claims>(&token, key, &validation).map_err(|e| AuthError::Unauthenticated(format!("the JWT is not valid: {e}")))?;
    let organization: OrganizationId = data.claims.org.parse().map_err(|_| AuthError::Unauthenticated("the JWT's `org` claim is not an organization id".into()))?;
    let scope = data.claims.scope.unwrap_or_else(|| "read write".into());
    Ok(Viewer { organization, user: data.claims.sub, can_write: scope.split(' ').any(|s| s == "write"), can_read: true, api_key: None })
}

/// The credential in request headers.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    bearer(headers)
}
