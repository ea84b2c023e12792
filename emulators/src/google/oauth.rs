//! Google's OAuth 2.0 endpoints: `/o/oauth2/v2/auth` (auto-consent), `/token` (authorization code
//! with PKCE, refresh token) and `/revoke`; bearer-token checks for API calls.

use super::error::ApiError;
use super::server::App;
use super::state::State;
use super::util::{parse_form, token as new_token};
use crate::oauth::{client_credentials, verifier_matches, CODE_TTL_MS};
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub(crate) const SCOPE_CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

#[derive(Debug, Clone)]
struct CodeRec {
    client_id: String,
    redirect_uri: String,
    account: String,
    scopes: Vec<String>,
    challenge: Option<(String, String)>,
    with_refresh: bool,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct AccessRec {
    account: String,
    scopes: Vec<String>,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct RefreshRec {
    account: String,
    client_id: String,
    scopes: Vec<String>,
    issued_ms: i64,
    revoked: bool,
}

#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    codes: HashMap<String, CodeRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    consented: HashSet<(String, String)>,
}

/// Who is calling the API, and with which scopes.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub account: String,
    scopes: Vec<String>,
    enforce: bool,
}

/// What an API method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    EventsRead,
    EventsWrite,
    CalendarsRead,
    CalendarsWrite,
}

impl Auth {
    pub(crate) fn need(&self, need: Need) -> Result<(), ApiError> {
        if !self.enforce {
            return Ok(());
        }
        let ok = self.scopes.iter().any(|s| {
            let s = s.strip_prefix(SCOPE_PREFIX).unwrap_or(s);
            match s {
                "calendar" => true,
                "calendar.readonly" => matches!(need, Need::EventsRead | Need::CalendarsRead),
                "calendar.events" => matches!(need, Need::EventsRead | Need::EventsWrite),
                "calendar.events.readonly" => need == Need::EventsRead,
                "calendar.calendarlist" | "calendar.calendars" => {
                    matches!(need, Need::CalendarsRead | Need::CalendarsWrite)
                }
                "calendar.calendarlist.readonly" | "calendar.calendars.readonly" => {
                    need == Need::CalendarsRead
                }
                _ => false,
            }
        });
        if ok {
            Ok(())
        } else {
            Err(ApiError::insufficient_scopes())
        }
    }
}

/// Access/refresh tokens handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

impl State {
    pub(crate) fn authenticate(&self, bearer: Option<&str>) -> Result<Auth, ApiError> {
        let enforce = self.settings.enforce_scopes;
        let Some(token) = bearer else {
            if !self.settings.require_auth {
                if let Some(first) = self.accounts.keys().next() {
                    return Ok(Auth {
                        account: first.clone(),
                        scopes: vec![SCOPE_CALENDAR.into()],
                        enforce: false,
                    });
                }
            }
            return Err(ApiError::login_required());
        };
        match self.oauth.access.get(token) {
            Some(a) if a.expires_ms > self.now_ms() && self.accounts.contains_key(&a.account) => {
                Ok(Auth {
                    account: a.account.clone(),
                    scopes: a.scopes.clone(),
                    enforce,
                })
            }
            _ => Err(ApiError::auth_error()),
        }
    }

    pub(crate) fn issue(
        &mut self,
        account: &str,
        client_id: &str,
        scopes: Vec<String>,
        with_refresh: bool,
    ) -> IssuedTokens {
        let now = self.now_ms();
        let ttl = self.config.access_token_ttl.as_secs() as i64;
        let access = new_token(&mut self.rng, "ya29.", 64);
        self.oauth.access.insert(
            access.clone(),
            AccessRec {
                account: account.into(),
                scopes: scopes.clone(),
                expires_ms: now + ttl * 1000,
            },
        );
        let refresh = with_refresh.then(|| {
            let r = new_token(&mut self.rng, "1//", 48);
            self.oauth.refresh.insert(
                r.clone(),
                RefreshRec {
                    account: account.into(),
                    client_id: client_id.into(),
                    scopes: scopes.clone(),
                    issued_ms: now,
                    revoked: false,
                },
            );
            r
        });
        self.oauth
            .consented
            .insert((account.into(), client_id.into()));
        IssuedTokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: ttl,
            scope: scopes.join(" "),
        }
    }

    pub(crate) fn revoke_refresh_tokens(&mut self, account: &str) {
        for r in self
            .oauth
            .refresh
            .values_mut()
            .filter(|r| r.account == account)
        {
            r.revoked = true;
        }
        // Revoking a grant also kills its access tokens.
        self.oauth.access.retain(|_, a| a.account != account);
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        let now = self.now_ms();
        for a in self.oauth.access.values_mut() {
            a.expires_ms = a.expires_ms.min(now);
        }
    }

    fn client_ok(&self, id: &str, secret: Option<&str>) -> bool {
        self.config
            .clients
            .iter()
            .any(|c| c.client_id == id && secret.is_none_or(|s| s == c.client_secret))
    }
}

fn oauth_json(status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    oauth_json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// The error page Google shows instead of redirecting (bad client or redirect URI).
fn error_page(status: StatusCode, error: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<html><body><h1>Error {}: {error}</h1><p>{detail}</p></body></html>",
            status.as_u16()
        ),
    )
        .into_response()
}

fn redirect(uri: &str, params: &[(&str, String)]) -> Response {
    crate::oauth::redirect(uri, params).unwrap_or_else(|| {
        error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not a valid URI",
        )
    })
}

/// `GET /o/oauth2/v2/auth`: checks the request like Google, then consents at once (no UI) for the
/// account named by `login_hint` (created if new) or the first account.
pub(crate) async fn authorize(AxState(app): AxState<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.lock();
    let Some(client_id) = get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: client_id",
        );
    };
    let Some(client) = st
        .config
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .cloned()
    else {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: redirect_uri",
        );
    };
    if !client.redirect_uris.is_empty() && !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri_mismatch", "The redirect URI in the request does not match the ones authorized for the OAuth client.");
    }
    if reqwest::Url::parse(redirect_uri).is_err() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid parameter value for redirect_uri",
        );
    }
    let state_param = get("state");
    let with_state = |mut v: Vec<(&'static str, String)>| {
        if let Some(s) = state_param {
            v.push(("state", s.to_string()));
        }
        v
    };
    let send = |v: Vec<(&'static str, String)>| redirect(redirect_uri, &v);
    if get("response_type") != Some("code") {
        return send(with_state(vec![(
            "error",
            "unsupported_response_type".into(),
        )]));
    }
    let scopes: Vec<String> = get("scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: scope",
        );
    }
    let challenge = match (
        get("code_challenge"),
        get("code_challenge_method").unwrap_or("plain"),
    ) {
        (None, _) => None,
        (Some(c), m @ ("S256" | "plain")) => Some((c.to_string(), m.to_string())),
        (Some(_), _) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid code_challenge_method",
            )
        }
    };
    if st.settings.deny_consent {
        return send(with_state(vec![("error", "access_denied".into())]));
    }
    let account = match get("login_hint").filter(|h| h.contains('@')) {
        Some(h) => st.add_account(h),
        None => match st.accounts.keys().next() {
            Some(a) => a.clone(),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The emulator has no account to sign in with; add one or pass login_hint.",
                )
            }
        },
    };
    let offline = get("access_type") == Some("offline");
    let prompt_consent =
        get("prompt").is_some_and(|p| p.split_whitespace().any(|x| x == "consent"));
    let first_consent = !st
        .oauth
        .consented
        .contains(&(account.clone(), client_id.to_string()));
    let with_refresh =
        offline && (!st.config.refresh_token_only_on_consent || prompt_consent || first_consent);
    let code = new_token(&mut st.rng, "4/0A", 60);
    let expires_ms = st.now_ms() + CODE_TTL_MS;
    st.oauth
        .consented
        .insert((account.clone(), client_id.to_string()));
    st.oauth.codes.insert(
        code.clone(),
        CodeRec {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            account,
            scopes: scopes.clone(),
            challenge,
            with_refresh,
            expires_ms,
        },
    );
    drop(st);
    send(with_state(vec![
        ("code", code),
        ("scope", scopes.join(" ")),
    ]))
}

/// `POST /token`.
pub(crate) async fn token(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut st = app.lock();
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    };
    // Installed-app clients may omit the secret when they use PKCE; Google accepts that.
    if !st.client_ok(&client_id, secret.as_deref()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let now = st.now_ms();
    match field("grant_type") {
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: code",
                );
            };
            // Single use: the code is consumed whatever happens next.
            let Some(rec) = st.oauth.codes.remove(code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            };
            if rec.expires_ms < now || rec.client_id != client_id {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
            }
            if field("redirect_uri") != Some(rec.redirect_uri.as_str()) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    "Bad Request",
                );
            }
            if let Some(challenge) = &rec.challenge {
                let Some(verifier) = field("code_verifier") else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Missing code verifier.",
                    );
                };
                if !verifier_matches(challenge, verifier) {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code verifier.",
                    );
                }
            }
            let t = st.issue(&rec.account, &client_id, rec.scopes, rec.with_refresh);
            let mut body = json!({"access_token": t.access_token, "expires_in": t.expires_in, "scope": t.scope, "token_type": "Bearer"});
            if let Some(r) = t.refresh_token {
                body["refresh_token"] = json!(r);
            }
            oauth_json(StatusCode::OK, body)
        }
        Some("refresh_token") => {
            let Some(rt) = field("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                );
            };
            let ttl = st.config.refresh_token_ttl.map(|d| d.as_millis() as i64);
            let rec = match st.oauth.refresh.get(rt) {
                Some(r)
                    if !r.revoked
                        && ttl.is_none_or(|t| now - r.issued_ms < t)
                        && st.accounts.contains_key(&r.account) =>
                {
                    r.clone()
                }
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Token has been expired or revoked.",
                    )
                }
            };
            if rec.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "Unauthorized",
                );
            }
            // A refresh answer carries no new refresh token: the old one stays valid.
            let t = st.issue(&rec.account, &client_id, rec.scopes, false);
            oauth_json(
                StatusCode::OK,
                json!({"access_token": t.access_token, "expires_in": t.expires_in, "scope": t.scope, "token_type": "Bearer"}),
            )
        }
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        ),
    }
}

/// `POST /revoke?token=…` (or form body): revokes a refresh token (and its grant) or an access token.
pub(crate) async fn revoke(
    AxState(app): AxState<Arc<App>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut pairs = parse_form(q.as_deref().unwrap_or(""));
    pairs.extend(parse_form(&String::from_utf8_lossy(&body)));
    let Some(token) = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token",
        );
    };
    let mut st = app.lock();
    if let Some(account) = st.oauth.refresh.get(&token).map(|r| r.account.clone()) {
        st.revoke_refresh_tokens(&account);
        return oauth_json(StatusCode::OK, json!({}));
    }
    if st.oauth.access.remove(&token).is_some() {
        return oauth_json(StatusCode::OK, json!({}));
    }
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        "Token expired or revoked",
    )
}
