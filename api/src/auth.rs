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

/// The caller, resolved once per request (and once per operation on a socket or stream); every
/// resolver scopes by `organization`.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub organization: OrganizationId,
    pub user: Option<String>,
    pub scopes: Scopes,
    /// The API key used, if any (rate limits are per key).
    pub api_key: Option<String>,
    /// When the credential stops being valid (a JWT's `exp`, Unix seconds); open sockets and
    /// streams end then.
    pub expires_at: Option<i64>,
}

impl Viewer {
    pub fn can_write(&self) -> bool {
        self.scopes.write
    }

    pub fn can_read(&self) -> bool {
        self.scopes.read
    }
}

/// What a credential may do. `write` implies `read`: a key that may change the calendar may also
/// look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    read: bool,
    write: bool,
}

/// One scope name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{0:?} is not a scope (the scopes are read and write)")]
    Unknown(String),
    #[error("give at least one scope: read, write")]
    Empty,
}

impl std::str::FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            _ => Err(ScopeError::Unknown(s.to_string())),
        }
    }
}

impl Scopes {
    pub const READ: Scopes = Scopes {
        read: true,
        write: false,
    };
    pub const READ_WRITE: Scopes = Scopes {
        read: true,
        write: true,
    };

    /// The names in a scope list: comma- or whitespace-separated, both accepted everywhere
    /// ("read,write", "read write", "read, write").
    fn names(s: &str) -> impl Iterator<Item = &str> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
    }

    fn from_scopes(list: impl IntoIterator<Item = Scope>) -> Result<Scopes, ScopeError> {
        let mut out = Scopes {
            read: false,
            write: false,
        };
        for scope in list {
            match scope {
                Scope::Read => out.read = true,
                Scope::Write => out = Scopes::READ_WRITE,
            }
        }
        if out.read {
            Ok(out)
        } else {
            Err(ScopeError::Empty)
        }
    }

    /// Strict: every name must be a scope. For keys (created, and read back from the store).
    pub fn parse(s: &str) -> Result<Scopes, ScopeError> {
        Self::from_scopes(
            Self::names(s)
                .map(str::parse)
                .collect::<Result<Vec<Scope>, _>>()?,
        )
    }

    /// A JWT's `scope` claim: the host's identity provider may grant scopes for other services
    /// in the same token ("openid profile read"), so names that are not Almanac's are skipped;
    /// a token that grants none of Almanac's is still refused.
    pub fn parse_granted(s: &str) -> Result<Scopes, ScopeError> {
        Self::from_scopes(Self::names(s).filter_map(|n| n.parse().ok()))
    }

    /// The stored and displayed form: "read" or "read write".
    pub fn as_str(&self) -> &'static str {
        if self.write {
            "read write"
        } else {
            "read"
        }
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("internal error")]
    Store(#[from] StoreError),
    /// A stored key whose scopes do not parse: never guessed at, refused and logged.
    #[error("internal error")]
    CorruptKey { id: String, scopes: String },
}

impl AuthError {
    /// The `extensions.code` clients see, on every transport.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Unauthenticated(_) => "UNAUTHENTICATED",
            AuthError::Store(_) | AuthError::CorruptKey { .. } => "INTERNAL",
        }
    }

    /// Logs the cause of an internal failure (never shown to the client).
    pub fn log(&self) {
        match self {
            AuthError::Unauthenticated(_) => {}
            AuthError::Store(e) => tracing::error!(error = %e, "authentication failed"),
            AuthError::CorruptKey { id, scopes } => {
                tracing::error!(api_key = %id, scopes = %scopes, "a stored API key has scopes that do not parse; refusing it")
            }
        }
    }
}

/// Keys for verifying JWTs, parsed once at startup.
#[derive(Clone, Default)]
pub struct JwtKeys {
    hs256: Option<Arc<DecodingKey>>,
    rs256: Option<Arc<DecodingKey>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    leeway: i64,
    /// Organizations a JWT has named and the store has; organizations are never deleted, so a
    /// name found once needs no second look-up.
    known_organizations: Arc<std::sync::RwLock<std::collections::HashSet<OrganizationId>>>,
}

impl JwtKeys {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let hs256 = s
            .jwt_hs256_secret
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(|k| Arc::new(DecodingKey::from_secret(k.expose_secret().as_bytes())));
        let rs256 = match s.jwt_rs256_public_key.as_ref().filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => {
                let pem = if k.contains("-----BEGIN") {
                    k.clone()
                } else {
                    std::fs::read_to_string(k)?
                };
                Some(Arc::new(DecodingKey::from_rsa_pem(pem.as_bytes())?))
            }
        };
        Ok(JwtKeys {
            hs256,
            rs256,
            leeway: i64::from(s.jwt_leeway_seconds),
            known_organizations: Default::default(),
        })
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    org: String,
    sub: Option<String>,
    /// "read", "write" (comma- or space-separated). Absent: both.
    scope: Option<String>,
    exp: i64,
    /// Not valid before this instant (seconds since the epoch), when present.
    nbf: Option<i64>,
}

pub const API_KEY_PREFIX: &str = "alm_";

/// A new API key: its id, the secret to show once, and the hash to store.
pub fn new_api_key() -> (String, String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let token = format!("{API_KEY_PREFIX}{id}_{secret}");
    (id, token, hash(&secret))
}

use crate::secrets::sha256_hex as hash;

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Resolves the caller from a credential (header value or connection-init payload).
pub async fn authenticate(
    store: &Arc<dyn Store>,
    mode: AuthMode,
    keys: &JwtKeys,
    token: Option<String>,
) -> Result<Viewer, AuthError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return match mode {
            AuthMode::Dev => Ok(Viewer {
                organization: OrganizationId::DEFAULT,
                user: None,
                scopes: Scopes::READ_WRITE,
                api_key: None,
                expires_at: None,
            }),
            AuthMode::Required => Err(AuthError::Unauthenticated(
                "send an API key (Authorization: Bearer alm_…) or a JWT".into(),
            )),
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
        let scopes = Scopes::parse(&key.scopes).map_err(|_| AuthError::CorruptKey {
            id: key.id.clone(),
            scopes: key.scopes.clone(),
        })?;
        return Ok(Viewer {
            organization,
            user: None,
            scopes,
            api_key: Some(key.id),
            expires_at: None,
        });
    }
    let header = jsonwebtoken::decode_header(&token).map_err(|_| {
        AuthError::Unauthenticated("the credential is neither an API key nor a JWT".into())
    })?;
    let key = match header.alg {
        Algorithm::HS256 => keys.hs256.as_ref(),
        Algorithm::RS256 => keys.rs256.as_ref(),
        _ => None,
    }
    .ok_or_else(|| {
        AuthError::Unauthenticated(format!(
            "JWTs signed with {:?} are not accepted by this server",
            header.alg
        ))
    })?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    // `exp` and `nbf` are checked below, with the configured leeway, the same on every transport.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Claims>(&token, key, &validation)
        .map_err(|e| AuthError::Unauthenticated(format!("the JWT is not valid: {e}")))?;
    let now = chrono::Utc::now().timestamp();
    // RFC 7519: not accepted "on or after" `exp` (jsonwebtoken accepts during that second). An
    // open socket closes at the same instant (`expires_at`), so HTTP and sockets agree.
    let expires_at = data.claims.exp.saturating_add(keys.leeway);
    if expires_at <= now {
        return Err(AuthError::Unauthenticated(
            "the JWT is not valid: ExpiredSignature".into(),
        ));
    }
    if data
        .claims
        .nbf
        .is_some_and(|nbf| nbf.saturating_sub(keys.leeway) > now)
    {
        return Err(AuthError::Unauthenticated(
            "the JWT is not valid yet (its `nbf` is in the future)".into(),
        ));
    }
    let organization: OrganizationId = data.claims.org.parse().map_err(|_| {
        AuthError::Unauthenticated("the JWT's `org` claim is not an organization id".into())
    })?;
    let scopes = match data.claims.scope.as_deref() {
        None => Scopes::READ_WRITE,
        Some(s) => Scopes::parse_granted(s).map_err(|_| {
            AuthError::Unauthenticated(
                "the JWT's `scope` claim grants neither read nor write".into(),
            )
        })?,
    };
    let known = keys
        .known_organizations
        .read()
        .map(|k| k.contains(&organization))
        .unwrap_or(false);
    if !known {
        if !store.organization_exists(organization).await? {
            return Err(AuthError::Unauthenticated(
                "the JWT's `org` claim names no organization on this server".into(),
            ));
        }
        if let Ok(mut k) = keys.known_organizations.write() {
            k.insert(organization);
        }
    }
    Ok(Viewer {
        organization,
        user: data.claims.sub,
        scopes,
        api_key: None,
        expires_at: Some(expires_at),
    })
}

/// The credential in request headers.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    bearer(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_accept_commas_and_spaces_and_refuse_unknown_names() {
        for s in [
            "read,write",
            "read write",
            " write , read ",
            "READ\tWrite",
            "write",
        ] {
            assert_eq!(Scopes::parse(s), Ok(Scopes::READ_WRITE), "{s:?}");
        }
        for s in ["read", "read,read", "Read"] {
            assert_eq!(Scopes::parse(s), Ok(Scopes::READ), "{s:?}");
        }
        assert_eq!(
            Scopes::parse("read,admin"),
            Err(ScopeError::Unknown("admin".into()))
        );
        assert_eq!(
            Scopes::parse("read;write"),
            Err(ScopeError::Unknown("read;write".into()))
        );
        assert_eq!(Scopes::parse(" , "), Err(ScopeError::Empty));
        assert_eq!(
            Scopes::parse_granted("openid profile read"),
            Ok(Scopes::READ)
        );
        assert_eq!(
            Scopes::parse_granted("openid,write"),
            Ok(Scopes::READ_WRITE)
        );
        assert_eq!(
            Scopes::parse_granted("openid profile"),
            Err(ScopeError::Empty)
        );
        assert_eq!(Scopes::parse(Scopes::READ.as_str()), Ok(Scopes::READ));
        assert_eq!(
            Scopes::parse(Scopes::READ_WRITE.as_str()),
            Ok(Scopes::READ_WRITE)
        );
    }
}
