//! The Microsoft identity platform v2.0 endpoints: `/{tenant}/oauth2/v2.0/authorize` (auto-consent)
//! and `/{tenant}/oauth2/v2.0/token` (authorization code with PKCE, rotating refresh tokens), and
//! bearer-token checks for API calls.
//!
//! Refresh tokens: issued only when `offline_access` was granted; every refresh answers a *new*
//! refresh token while the old one keeps working until it expires (90 days unused →
//! `invalid_grant` AADSTS700082); hooks revoke them (AADSTS50173) or age them out.

use super::error::GraphError;
use super::server::App;
use super::state::State;
use super::util::{self, guid, jwt};
use crate::oauth::{client_credentials, verifier_matches, CODE_TTL_MS};
use crate::util::parse_form;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

const GRAPH: &str = "https://graph.microsoft.com/";
/// Scopes that are not Graph permissions (OpenID Connect and `offline_access`).
const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

#[derive(Debug, Clone)]
struct CodeRec {
    client_id: String,
    redirect_uri: String,
    account: String,
    scopes: Vec<String>,
    challenge: Option<(String, String)>,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct AccessRec {
    account: String,
    scopes: Vec<String>,
    expires_ms: i64,
    client_id: String,
}

#[derive(Debug, Clone)]
struct RefreshRec {
    account: String,
    client_id: String,
    scopes: Vec<String>,
    issued_ms: i64,
    revoked_ms: Option<i64>,
    /// Set by the inactivity hook.
    inactive: bool,
}

#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    codes: HashMap<String, CodeRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
}

/// Who is calling the API, and with which delegated permissions.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub account: String,
    pub client_id: String,
    scopes: Vec<String>,
    enforce: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    User,
    CalendarsRead,
    CalendarsWrite,
}

impl Auth {
    pub(crate) fn need(&self, need: Need) -> Result<(), GraphError> {
        if !self.enforce {
            return Ok(());
        }
        let has = |s: &str| self.scopes.iter().any(|x| x.eq_ignore_ascii_case(s));
        let ok = match need {
            Need::User => {
                has("User.Read")
                    || has("User.ReadWrite")
                    || has("User.ReadBasic.All")
                    || has("User.Read.All")
            }
            Need::CalendarsRead => {
                has("Calendars.Read")
                    || has("Calendars.ReadWrite")
                    || has("Calendars.Read.Shared")
                    || has("Calendars.ReadWrite.Shared")
                    || has("Calendars.ReadBasic")
            }
            Need::CalendarsWrite => has("Calendars.ReadWrite") || has("Calendars.ReadWrite.Shared"),
        };
        if ok {
            Ok(())
        } else {
            Err(GraphError::access_denied())
        }
    }
}

/// Tokens handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

/// `Calendars.ReadWrite` from `https://graph.microsoft.com/Calendars.ReadWrite`.
fn short(scope: &str) -> String {
    scope.strip_prefix(GRAPH).unwrap_or(scope).to_string()
}

impl State {
    pub(crate) fn authenticate(&self, bearer: Option<&str>) -> Result<Auth, GraphError> {
        let enforce = self.settings.enforce_scopes;
        let Some(token) = bearer.filter(|t| !t.is_empty()) else {
            if !self.settings.require_auth {
                if let Some(first) = self.accounts.keys().next() {
                    return Ok(Auth {
                        account: first.clone(),
                        client_id: String::new(),
                        scopes: vec![],
                        enforce: false,
                    });
                }
            }
            return Err(GraphError::unauthenticated("Access token is empty."));
        };
        match self.oauth.access.get(token) {
            Some(a) if a.expires_ms <= self.now_ms() => Err(GraphError::unauthenticated(
                "Lifetime validation failed, the token is expired.",
            )),
            Some(a) if self.accounts.contains_key(&a.account) => Ok(Auth {
                account: a.account.clone(),
                client_id: a.client_id.clone(),
                scopes: a.scopes.clone(),
                enforce,
            }),
            _ if token.split('.').count() != 3 => Err(GraphError::unauthenticated(
                "IDX14100: JWT is not well formed, there are no dots (.).",
            )),
            _ => Err(GraphError::unauthenticated("Invalid signature.")),
        }
    }

    /// Issues tokens for `scopes` (as requested: short or `https://graph.microsoft.com/…` names).
    pub(crate) fn issue(
        &mut self,
        account: &str,
        client_id: &str,
        scopes: &[String],
    ) -> IssuedTokens {
        let now = self.now_ms();
        let ttl = self.config.access_token_ttl.as_secs() as i64;
        let graph: Vec<String> = scopes
            .iter()
            .filter(|s| !OIDC.contains(&s.as_str()))
            .map(|s| short(s))
            .collect();
        let (user_id, name) = self
            .accounts
            .get(account)
            .map(|a| (a.user_id.clone(), a.display_name.clone()))
            .unwrap_or_default();
        let tenant = self.config.tenant_id.clone();
        let claims = json!({
            "aud": "00000003-0000-0000-c000-000000000000",
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now / 1000, "nbf": now / 1000, "exp": now / 1000 + ttl,
            "appid": client_id, "name": name, "oid": user_id, "tid": tenant,
            "scp": graph.join(" "), "upn": account, "unique_name": account, "ver": "1.0",
            "uti": util::token(&mut self.rng, "", 22),
        });
        let access = jwt(&claims, &mut self.rng);
        self.oauth.access.insert(
            access.clone(),
            AccessRec {
                account: account.into(),
                scopes: graph.clone(),
                expires_ms: now + ttl * 1000,
                client_id: client_id.into(),
            },
        );
        let refresh = scopes.iter().any(|s| s == "offline_access").then(|| {
            let r = util::token(&mut self.rng, "0.AXEA", 160);
            self.oauth.refresh.insert(
                r.clone(),
                RefreshRec {
                    account: account.into(),
                    client_id: client_id.into(),
                    scopes: scopes.to_vec(),
                    issued_ms: now,
                    revoked_ms: None,
                    inactive: false,
                },
            );
            r
        });
        let id_token = scopes.iter().any(|s| s == "openid").then(|| {
            let c = json!({"aud": client_id, "iss": format!("https://login.microsoftonline.com/{tenant}/v2.0"), "iat": now / 1000, "exp": now / 1000 + ttl, "oid": user_id, "tid": tenant, "preferred_username": account, "email": account, "name": name, "ver": "2.0"});
            jwt(&c, &mut self.rng)
        });
        let mut granted: Vec<String> = graph.iter().map(|s| s.to_string()).collect();
        granted.extend(
            scopes
                .iter()
                .filter(|s| matches!(s.as_str(), "openid" | "profile" | "email"))
                .cloned(),
        );
        IssuedTokens {
            access_token: access,
            refresh_token: refresh,
            id_token,
            expires_in: ttl,
            scope: granted.join(" "),
        }
    }

    pub(crate) fn revoke_refresh_tokens(&mut self, account: &str) {
        let now = self.now_ms();
        for r in self
            .oauth
            .refresh
            .values_mut()
            .filter(|r| r.account == account)
        {
            r.revoked_ms.get_or_insert(now);
        }
    }

    pub(crate) fn expire_refresh_tokens(&mut self, account: &str) {
        for r in self
            .oauth
            .refresh
            .values_mut()
            .filter(|r| r.account == account)
        {
            r.inactive = true;
        }
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        let now = self.now_ms();
        for a in self.oauth.access.values_mut() {
            a.expires_ms = a.expires_ms.min(now);
        }
    }

    fn client(&self, id: &str) -> Option<&super::config::OAuthClient> {
        self.config.clients.iter().find(|c| c.client_id == id)
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}

/// Microsoft's token error body (`error`, `error_description` with the AADSTS code, `error_codes`…).
fn aad_error(st: &mut State, status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = guid(&mut st.rng);
    let correlation = guid(&mut st.rng);
    let ts = iso(st.now_ms());
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {ts}"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    token_json(status, body)
}

fn token_json(status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error_page(status: StatusCode, code: u32, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<html><body><h1>Sign in</h1><p>AADSTS{code}: {detail}</p></body></html>"),
    )
        .into_response()
}

fn redirect(uri: &str, params: &[(&str, String)]) -> Response {
    crate::oauth::redirect(uri, params).unwrap_or_else(|| {
        error_page(
            StatusCode::BAD_REQUEST,
            50011,
            "The redirect URI is not valid.",
        )
    })
}

fn tenant_ok(st: &State, tenant: &str) -> bool {
    matches!(tenant, "common" | "organizations" | "consumers")
        || tenant.eq_ignore_ascii_case(&st.config.tenant_id)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: checks the request, then consents at once (no UI) for the
/// account named by `login_hint` (created if new) or the first account.
pub(crate) async fn authorize(
    AxState(app): AxState<Arc<App>>,
    Path(tenant): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.lock();
    if !tenant_ok(&st, &tenant) {
        return error_page(
            StatusCode::BAD_REQUEST,
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let Some(client_id) = get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(client) = st.client(client_id).cloned() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    if (!client.redirect_uris.is_empty() && !client.redirect_uris.iter().any(|u| u == redirect_uri))
        || reqwest::Url::parse(redirect_uri).is_err()
    {
        return error_page(StatusCode::BAD_REQUEST, 50011, &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."));
    }
    let mut tail: Vec<(&str, String)> = Vec::new();
    if let Some(s) = get("state") {
        tail.push(("state", s.to_string()));
    }
    let fail = |code: &str, desc: String| {
        let mut p = vec![("error", code.to_string()), ("error_description", desc)];
        p.extend(tail.iter().cloned());
        redirect(redirect_uri, &p)
    };
    if get("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required.".into(),
        );
    }
    let scopes: Vec<String> = get("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return fail(
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'scope'.".into(),
        );
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method").unwrap_or("plain")) {
        (None, _) if client.client_secret.is_none() => return fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.".into()),
        (None, _) => None,
        (Some(c), m @ ("S256" | "plain")) => Some((c.to_string(), m.to_string())),
        (Some(_), _) => return fail("invalid_request", "AADSTS501491: Invalid code_challenge_method.".into()),
    };
    if st.settings.deny_consent {
        return fail(
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.".into(),
        );
    }
    let account = match get("login_hint").filter(|h| h.contains('@')) {
        Some(h) => st.add_account(h),
        None => match st.accounts.keys().next() {
            Some(a) => a.clone(),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    50058,
                    "The emulator has no account to sign in with; add one or pass login_hint.",
                )
            }
        },
    };
    let code = util::token(&mut st.rng, "0.AXEA", 120);
    let expires_ms = st.now_ms() + CODE_TTL_MS;
    st.oauth.codes.insert(
        code.clone(),
        CodeRec {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            account,
            scopes,
            challenge,
            expires_ms,
        },
    );
    drop(st);
    let mut p = vec![("code", code)];
    p.extend(tail);
    redirect(redirect_uri, &p)
}

fn success(t: IssuedTokens) -> Response {
    let mut body = json!({"token_type": "Bearer", "scope": t.scope, "expires_in": t.expires_in, "ext_expires_in": t.expires_in, "access_token": t.access_token});
    if let Some(r) = t.refresh_token {
        body["refresh_token"] = json!(r);
    }
    if let Some(i) = t.id_token {
        body["id_token"] = json!(i);
    }
    token_json(StatusCode::OK, body)
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    AxState(app): AxState<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.lock();
    if !tenant_ok(&st, &tenant) {
        return aad_error(
            &mut st,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return aad_error(
            &mut st,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(client) = st.client(&client_id).cloned() else {
        return aad_error(
            &mut st,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    match (&client.client_secret, &secret) {
        (Some(want), Some(got)) if want != got => {
            return aad_error(&mut st, StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.");
        }
        (None, Some(_)) => return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_request", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."),
        _ => {}
    }
    let now = st.now_ms();
    match field("grant_type") {
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'code'.",
                );
            };
            let Some(rec) = st.oauth.codes.remove(code) else {
                return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
            };
            if rec.expires_ms < now {
                return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
            }
            if rec.client_id != client_id {
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "The provided value for the 'code' parameter is not valid.",
                );
            }
            if field("redirect_uri") != Some(rec.redirect_uri.as_str()) {
                return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 50011, "The redirect URI specified in the request does not match the redirect URI used to obtain the authorization code.");
            }
            if secret.is_none() && client.client_secret.is_some() && rec.challenge.is_none() {
                return aad_error(&mut st, StatusCode::UNAUTHORIZED, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
            }
            if let Some(challenge) = &rec.challenge {
                let Some(verifier) = field("code_verifier") else {
                    return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
                };
                if !verifier_matches(challenge, verifier) {
                    return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
                }
            }
            let t = st.issue(&rec.account, &client_id, &rec.scopes);
            success(t)
        }
        Some("refresh_token") => {
            let Some(rt) = field("refresh_token") else {
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'refresh_token'.",
                );
            };
            let ttl = st.config.refresh_token_ttl.as_millis() as i64;
            let Some(rec) = st.oauth.refresh.get(rt).cloned() else {
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if let Some(revoked) = rec.revoked_ms {
                let msg = format!("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.", iso(rec.issued_ms), iso(revoked));
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50173,
                    &msg,
                );
            }
            if rec.inactive || now - rec.issued_ms >= ttl {
                let days = (now - rec.issued_ms) / 86_400_000;
                let msg = format!("The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {}.00:00:00.", iso(rec.issued_ms), days.max(90));
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    700082,
                    &msg,
                );
            }
            if rec.client_id != client_id {
                return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 70000, "The provided value for the 'refresh_token' parameter is not valid: it was issued to another client.");
            }
            if !st.accounts.contains_key(&rec.account) {
                return aad_error(
                    &mut st,
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50034,
                    "The user account does not exist in the directory.",
                );
            }
            // A narrower scope may be asked for; offline_access carries over (rotation).
            let mut scopes = rec.scopes.clone();
            if let Some(s) = field("scope") {
                let asked: Vec<String> = s.split_whitespace().map(str::to_string).collect();
                if asked.iter().any(|a| {
                    !OIDC.contains(&a.as_str())
                        && !rec
                            .scopes
                            .iter()
                            .any(|g| short(g).eq_ignore_ascii_case(&short(a)))
                }) {
                    return aad_error(&mut st, StatusCode::BAD_REQUEST, "invalid_grant", 65001, "The user or administrator has not consented to use the application for the requested scopes.");
                }
                scopes = asked;
                if !scopes.iter().any(|x| x == "offline_access") {
                    scopes.push("offline_access".into());
                }
            }
            let t = st.issue(&rec.account, &client_id, &scopes);
            success(t)
        }
        Some(other) => aad_error(
            &mut st,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
        None => aad_error(
            &mut st,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
    }
}
