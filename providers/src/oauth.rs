//! Provider-agnostic OAuth 2.0 (authorization code + PKCE S256, refresh) over the `oauth2` crate,
//! and the [`AccessTokenSource`] port through which the provider clients obtain bearer tokens.
//!
//! Secrets (access tokens, refresh tokens, client secrets, PKCE verifiers) travel as
//! [`SecretString`], whose `Debug` is redacted and which has no `Display`, so they cannot end up in
//! logs or error messages by accident. Error types here never carry a token endpoint's raw body.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpClientError, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::Url;

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A string that must never be logged: tokens, client secrets, PKCE verifiers.
///
/// `Debug` prints `SecretString([redacted])`; there is deliberately no `Display` and no serde
/// implementation. Read the value with [`SecretString::expose_secret`] at the one place that needs it
/// (an `Authorization` header, a token-endpoint form, an encrypted column).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Access-token port
// ---------------------------------------------------------------------------------------------

/// Supplies bearer tokens for one connected account. Implemented by the application (which stores
/// the refresh token and refreshes single-flight); the provider clients only call it.
///
/// Contract with the clients: a request that gets HTTP 401 calls [`token_rejected`] with the token
/// it sent, then calls [`access_token`] once more and retries once. The implementation should
/// refresh only if `rejected` is still its current token, so concurrent 401s cause one refresh.
///
/// [`access_token`]: AccessTokenSource::access_token
/// [`token_rejected`]: AccessTokenSource::token_rejected
#[async_trait]
pub trait AccessTokenSource: Send + Sync {
    /// A currently valid access token (refreshing first if the cached one is expired or was rejected).
    async fn access_token(&self) -> Result<SecretString, TokenSourceError>;

    /// The provider answered 401 to a request carrying `rejected`: stop handing it out.
    async fn token_rejected(&self, rejected: &SecretString);
}

/// Why no access token could be produced. Variants are the decisions callers make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSourceError {
    /// The grant is dead (revoked, expired refresh token, consent withdrawn): the user must reconnect.
    #[error("the account must be reconnected: {description}")]
    ReauthorizationRequired { description: String },
    /// A token could not be obtained right now (token endpoint unreachable or failing); try later.
    #[error("access token temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else (misconfigured client, unreadable token response); retrying will not help.
    #[error("access token could not be obtained: {0}")]
    Failed(String),
}

impl From<OAuthError> for TokenSourceError {
    fn from(err: OAuthError) -> Self {
        match err {
            OAuthError::InvalidGrant { description } => {
                Self::ReauthorizationRequired { description }
            }
            OAuthError::Transport(message) => Self::Unavailable(message),
            other @ (OAuthError::Config(_) | OAuthError::Other(_)) => {
                Self::Failed(other.to_string())
            }
        }
    }
}

/// A fixed token that is never refreshed: for tests, emulators and service-to-service setups.
#[derive(Clone, Debug)]
pub struct StaticAccessToken(SecretString);

impl StaticAccessToken {
    pub fn new(token: impl Into<SecretString>) -> Self {
        Self(token.into())
    }
}

#[async_trait]
impl AccessTokenSource for StaticAccessToken {
    async fn access_token(&self) -> Result<SecretString, TokenSourceError> {
        Ok(self.0.clone())
    }

    async fn token_rejected(&self, _rejected: &SecretString) {}
}

// ---------------------------------------------------------------------------------------------
// OAuth client
// ---------------------------------------------------------------------------------------------

/// Endpoints and client registration for one OAuth provider (Google, Microsoft, or an emulator).
#[derive(Clone, Debug)]
pub struct OAuthProviderConfig {
    pub auth_url: String,
    pub token_url: String,
    pub client_id: String,
    /// `None` for public clients that rely on PKCE alone.
    pub client_secret: Option<SecretString>,
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// Extra query parameters on the authorization URL (Google: `access_type=offline`, `prompt=consent`).
    pub extra_auth_params: Vec<(String, String)>,
    /// Send `scope` on refresh requests too. Microsoft's v2.0 endpoint expects it in practice;
    /// Google does not need it.
    pub scopes_on_refresh: bool,
    /// Timeout for one token-endpoint request.
    pub request_timeout: Duration,
}

/// Google's calendar scopes: events read/write, plus read-only access to the calendar list.
pub const GOOGLE_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
];

/// Microsoft Graph scopes: `offline_access` is what makes the token endpoint return a refresh token.
/// `User.Read` identifies the account (`GET /me`); `offline_access` yields a refresh token.
pub const MICROSOFT_SCOPES: [&str; 3] = [
    "offline_access",
    "https://graph.microsoft.com/User.Read",
    "https://graph.microsoft.com/Calendars.ReadWrite",
];

impl OAuthProviderConfig {
    /// Google's production endpoints. A refresh token is only issued with `access_type=offline`,
    /// and reliably only on (re)consent, hence `prompt=consent`.
    pub fn google(
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_url: impl Into<String>,
    ) -> Self {
        Self {
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            client_id: client_id.into(),
            client_secret: Some(client_secret),
            redirect_url: redirect_url.into(),
            scopes: GOOGLE_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            extra_auth_params: vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
            ],
            scopes_on_refresh: false,
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Microsoft identity platform v2.0 for `tenant` (`common`, `organizations`, `consumers` or a
    /// tenant id).
    pub fn microsoft(
        tenant: &str,
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_url: impl Into<String>,
    ) -> Self {
        Self {
            auth_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"),
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            client_id: client_id.into(),
            client_secret: Some(client_secret),
            redirect_url: redirect_url.into(),
            scopes: MICROSOFT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            extra_auth_params: Vec::new(),
            scopes_on_refresh: true,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Where to send the user, and what to keep (server-side) until the callback arrives.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: Url,
    /// The caller-supplied state, echoed back by the provider on the redirect.
    pub csrf_state: String,
    /// Needed by [`OAuthClient::exchange_code`]; store it with the state, never send it to the browser.
    pub pkce_verifier: SecretString,
}

/// The result of a code exchange or a refresh.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    /// After [`OAuthClient::exchange_code`]: whatever the provider issued (Google issues none without
    /// `access_type=offline` + consent). After [`OAuthClient::refresh`]: always `Some`: the rotated
    /// token when the provider sent one (Microsoft does on every refresh), else the one passed in,
    /// so persisting this field unconditionally is always correct.
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    /// Granted scopes; the requested ones when the provider omitted `scope` (RFC 6749 §5.1).
    pub scopes: Vec<String>,
}

impl TokenGrant {
    /// True when the access token expires within `skew` of `now` (refresh a little early so a
    /// request does not race the expiry).
    pub fn expires_within(&self, now: DateTime<Utc>, skew: Duration) -> bool {
        let skew = chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::MAX);
        now.checked_add_signed(skew)
            .is_none_or(|deadline| deadline >= self.expires_at)
    }
}

/// OAuth failures, by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`: the code or refresh token is expired, revoked or was issued to someone else.
    /// The account must be reconnected. `description` is the provider's first description line,
    /// e.g. `AADSTS700082: The refresh token has expired due to inactivity…` or
    /// `Token has been expired or revoked.`
    #[error("invalid_grant: {description}")]
    InvalidGrant { description: String },
    /// Network failure, timeout, or a 5xx/429 from the token endpoint; retry later.
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
    /// A malformed endpoint URL or similar local configuration problem.
    #[error("OAuth configuration error: {0}")]
    Config(String),
    /// Any other OAuth error response (`invalid_client`, `invalid_scope`, …) or an unreadable response.
    #[error("OAuth error: {0}")]
    Other(String),
}

impl OAuthError {
    /// Microsoft's `AADSTS<digits>` code, when the description carries one.
    pub fn aadsts_code(&self) -> Option<&str> {
        match self {
            Self::InvalidGrant { description } => aadsts_code(description),
            _ => None,
        }
    }
}

fn aadsts_code(description: &str) -> Option<&str> {
    let start = description.find("AADSTS")?;
    let rest = &description[start..];
    let digits = rest["AADSTS".len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    (digits > 0).then(|| &rest[.."AADSTS".len() + digits])
}

type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Authorization-code flow with PKCE and refresh for one provider registration. Cheap to clone.
#[derive(Clone)]
pub struct OAuthClient {
    client: ConfiguredClient,
    http: reqwest::Client,
    scopes: Vec<String>,
    extra_auth_params: Vec<(String, String)>,
    scopes_on_refresh: bool,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client.client_id().as_str())
            .field("token_url", &self.client.token_uri().as_str())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// Builds the client and its own HTTP client (redirects disabled: following a token endpoint's
    /// redirect would be an SSRF vector, as the `oauth2` docs warn).
    pub fn new(config: OAuthProviderConfig) -> Result<Self, OAuthError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| OAuthError::Config(format!("HTTP client: {e}")))?;
        Self::with_http_client(config, http)
    }

    /// Like [`OAuthClient::new`] with a caller-built HTTP client, which must not follow redirects.
    pub fn with_http_client(
        config: OAuthProviderConfig,
        http: reqwest::Client,
    ) -> Result<Self, OAuthError> {
        let auth_url = AuthUrl::new(config.auth_url)
            .map_err(|e| OAuthError::Config(format!("authorization URL: {e}")))?;
        let token_url = TokenUrl::new(config.token_url)
            .map_err(|e| OAuthError::Config(format!("token URL: {e}")))?;
        let redirect_url = RedirectUrl::new(config.redirect_url)
            .map_err(|e| OAuthError::Config(format!("redirect URL: {e}")))?;
        let mut client = BasicClient::new(ClientId::new(config.client_id))
            .set_auth_uri(auth_url)
            .set_token_uri(token_url)
            .set_redirect_uri(redirect_url)
            // Credentials in the form body: the method both Google and Microsoft document.
            .set_auth_type(oauth2::AuthType::RequestBody);
        if let Some(secret) = config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
        }
        Ok(Self {
            client,
            http,
            scopes: config.scopes,
            extra_auth_params: config.extra_auth_params,
            scopes_on_refresh: config.scopes_on_refresh,
        })
    }

    /// Starts an authorization: the URL to redirect the user to, with a fresh PKCE S256 challenge.
    /// `csrf_state` is chosen by the caller so it can bind it to the organization/user starting the
    /// flow; it must be unguessable.
    pub fn begin(&self, csrf_state: impl Into<String>) -> AuthorizationRequest {
        let csrf_state = csrf_state.into();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state_for_url = csrf_state.clone();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state_for_url))
            .set_pkce_challenge(challenge)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        for (name, value) in &self.extra_auth_params {
            request = request.add_extra_param(name.as_str(), value.as_str());
        }
        let (url, _state) = request.url();
        AuthorizationRequest {
            url,
            csrf_state,
            pkce_verifier: SecretString::new(verifier.secret().as_str()),
        }
    }

    /// Exchanges the authorization code from the redirect for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenGrant, OAuthError> {
        let http = self.http_client();
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http)
            .await
            .map_err(|e| map_token_error(e, &[code, pkce_verifier.expose_secret()]))?;
        Ok(self.grant_from(&response, None))
    }

    /// Obtains a new access token. If the provider rotated the refresh token (Microsoft always
    /// does), the new one is in the grant; otherwise the grant carries `refresh_token` back.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenGrant, OAuthError> {
        let http = self.http_client();
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = self.client.exchange_refresh_token(&token);
        if self.scopes_on_refresh {
            request = request.add_scopes(self.scopes.iter().cloned().map(Scope::new));
        }
        let response = request
            .request_async(&http)
            .await
            .map_err(|e| map_token_error(e, &[refresh_token.expose_secret()]))?;
        Ok(self.grant_from(&response, Some(refresh_token)))
    }

    fn grant_from(
        &self,
        response: &oauth2::basic::BasicTokenResponse,
        previous: Option<&SecretString>,
    ) -> TokenGrant {
        // RFC 6749 recommends `expires_in` but does not require it; assume Google's and
        // Microsoft's usual hour when it is missing rather than treating the token as eternal.
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        let now = Utc::now();
        let expires_at = chrono::Duration::from_std(lifetime)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let scopes = match response.scopes() {
            Some(granted) => granted.iter().map(|s| s.as_str().to_owned()).collect(),
            None => self.scopes.clone(),
        };
        let refresh_token = response
            .refresh_token()
            .map(|t| SecretString::new(t.secret().as_str()))
            .or_else(|| previous.cloned());
        TokenGrant {
            access_token: SecretString::new(response.access_token().secret().as_str()),
            refresh_token,
            expires_at,
            scopes,
        }
    }

    /// oauth2's reqwest client, plus classification of 5xx/429 answers as transport failures:
    /// oauth2 itself would try to parse an HTML 503 page as an OAuth error and report a parse
    /// error, hiding that the failure is transient.
    fn http_client(&self) -> TokenHttp {
        TokenHttp(self.http.clone())
    }
}

/// A named (not `impl Trait`) client whose future is `Send`, so token requests can run inside
/// spawned tasks and `async_trait` methods.
struct TokenHttp(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<HttpResponse, TokenHttpError>>
                + Send
                + Sync
                + 'c,
        >,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response: HttpResponse =
                self.0.call(request).await.map_err(TokenHttpError::Client)?;
            let status = response.status();
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(TokenHttpError::Status(status.as_u16()));
            }
            Ok(response)
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("{}", error_chain(.0))]
    Client(HttpClientError<reqwest::Error>),
    #[error("token endpoint answered HTTP {0}")]
    Status(u16),
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Maps oauth2's error to ours without ever copying the response body (a successful-but-unreadable
/// response would contain the new tokens). `secrets` are the values we sent; they are scrubbed from
/// provider descriptions in case an endpoint echoes them.
fn map_token_error(
    err: RequestTokenError<TokenHttpError, BasicErrorResponse>,
    secrets: &[&str],
) -> OAuthError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            let description = response
                .error_description()
                .and_then(|d| d.lines().next())
                .map(|line| scrub(line.trim(), secrets))
                .unwrap_or_default();
            match response.error() {
                BasicErrorResponseType::InvalidGrant => OAuthError::InvalidGrant { description },
                other if description.is_empty() => OAuthError::Other(other.to_string()),
                other => OAuthError::Other(format!("{other}: {description}")),
            }
        }
        RequestTokenError::Request(http) => {
            OAuthError::Transport(scrub(&http.to_string(), secrets))
        }
        RequestTokenError::Parse(parse, _body) => OAuthError::Other(format!(
            "unreadable token endpoint response (at `{}`)",
            parse.path()
        )),
        RequestTokenError::Other(message) => OAuthError::Other(scrub(&message, secrets)),
    }
}

fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = Cow::Borrowed(text);
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        if text.contains(secret) {
            text = Cow::Owned(text.replace(secret, "[redacted]"));
        }
    }
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use base64::Engine as _;
    use sha2::Digest as _;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Forms = Arc<Mutex<Vec<HashMap<String, String>>>>;

    /// A token endpoint whose answer is chosen by `grant_type` / `refresh_token`, recording forms.
    async fn token_endpoint(
        State(forms): State<Forms>,
        Form(form): Form<HashMap<String, String>>,
    ) -> axum::response::Response {
        forms.lock().expect("lock").push(form.clone());
        let grant = form
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or_default();
        let refresh = form
            .get("refresh_token")
            .map(String::as_str)
            .unwrap_or_default();
        match (grant, refresh) {
            ("authorization_code", _) => Json(serde_json::json!({
                "access_token": "ya29.access-one", "refresh_token": "1//refresh-one", "expires_in": 3599,
                "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/calendar.events"
            }))
            .into_response(),
            ("refresh_token", "rotating-refresh-token") => Json(serde_json::json!({
                "access_token": "eyJ.access-two", "refresh_token": "rotated-refresh-token-2", "expires_in": 4000,
                "token_type": "Bearer"
            }))
            .into_response(),
            ("refresh_token", "google-refresh-token") => Json(serde_json::json!({
                "access_token": "ya29.access-three", "expires_in": 3599, "token_type": "Bearer"
            }))
            .into_response(),
            ("refresh_token", "expired-ms-refresh-token") => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": "invalid_grant",
                    "error_description": "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2026-01-01.\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2026-05-01 00:00:00Z",
                    "error_codes": [700082]
                })),
            )
                .into_response(),
            ("refresh_token", "revoked-google-refresh-token") => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})),
            )
                .into_response(),
            ("refresh_token", "unlucky-refresh-token") => {
                (StatusCode::SERVICE_UNAVAILABLE, "<html>try again</html>").into_response()
            }
            _ => (StatusCode::BAD_REQUEST, Json(serde_json::json!({"error": "invalid_client"}))).into_response(),
        }
    }

    async fn start() -> (OAuthClient, Forms) {
        let forms: Forms = Arc::default();
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .with_state(forms.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config = OAuthProviderConfig::google(
            "client-123",
            SecretString::new("client-secret-xyz"),
            "https://almanac.example/oauth/google/callback",
        );
        config.token_url = format!("http://{addr}/token");
        config.auth_url = format!("http://{addr}/auth");
        (OAuthClient::new(config).expect("client"), forms)
    }

    #[tokio::test]
    async fn begin_builds_a_pkce_s256_url_with_caller_state_and_extra_params() {
        let (client, _) = start().await;
        let request = client.begin("org-1.user-2.nonce");
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(
            query.get("client_id").map(String::as_str),
            Some("client-123")
        );
        assert_eq!(
            query.get("state").map(String::as_str),
            Some("org-1.user-2.nonce")
        );
        assert_eq!(request.csrf_state, "org-1.user-2.nonce");
        assert_eq!(
            query.get("access_type").map(String::as_str),
            Some("offline")
        );
        assert_eq!(query.get("prompt").map(String::as_str), Some("consent"));
        assert_eq!(
            query.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_eq!(
            query.get("scope").map(String::as_str),
            Some(GOOGLE_SCOPES.join(" ").as_str())
        );
        let expected_challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            sha2::Sha256::digest(request.pkce_verifier.expose_secret().as_bytes()),
        );
        assert_eq!(query.get("code_challenge"), Some(&expected_challenge));
        assert!(!request
            .url
            .as_str()
            .contains(request.pkce_verifier.expose_secret()));
        assert_eq!(
            format!("{:?}", request.pkce_verifier),
            "SecretString([redacted])"
        );
    }

    #[tokio::test]
    async fn exchange_code_sends_verifier_and_secret_in_body_and_redacts_debug() {
        let (client, forms) = start().await;
        let verifier = SecretString::new("verifier-abcdefghijklmnopqrstuvwxyz-0123456789");
        let grant = client
            .exchange_code("auth-code-1", &verifier)
            .await
            .expect("grant");
        assert_eq!(grant.access_token.expose_secret(), "ya29.access-one");
        assert_eq!(
            grant
                .refresh_token
                .as_ref()
                .map(SecretString::expose_secret),
            Some("1//refresh-one")
        );
        assert_eq!(
            grant.scopes,
            vec!["https://www.googleapis.com/auth/calendar.events".to_owned()]
        );
        let lifetime = grant.expires_at - Utc::now();
        assert!(
            lifetime > chrono::Duration::seconds(3500)
                && lifetime <= chrono::Duration::seconds(3599)
        );
        assert!(!grant.expires_within(Utc::now(), Duration::from_secs(60)));
        assert!(grant.expires_within(Utc::now(), Duration::from_secs(3600)));
        let debug = format!("{grant:?}");
        assert!(
            !debug.contains("ya29") && !debug.contains("refresh-one"),
            "{debug}"
        );

        let form = forms.lock().expect("lock")[0].clone();
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some("authorization_code")
        );
        assert_eq!(form.get("code").map(String::as_str), Some("auth-code-1"));
        assert_eq!(
            form.get("code_verifier").map(String::as_str),
            Some(verifier.expose_secret())
        );
        assert_eq!(
            form.get("client_secret").map(String::as_str),
            Some("client-secret-xyz")
        );
        assert_eq!(
            form.get("redirect_uri").map(String::as_str),
            Some("https://almanac.example/oauth/google/callback")
        );
    }

    #[tokio::test]
    async fn refresh_keeps_a_rotated_refresh_token_or_returns_the_old_one() {
        let (client, forms) = start().await;
        let rotated = client
            .refresh(&SecretString::new("rotating-refresh-token"))
            .await
            .expect("grant");
        assert_eq!(rotated.access_token.expose_secret(), "eyJ.access-two");
        assert_eq!(
            rotated
                .refresh_token
                .as_ref()
                .map(SecretString::expose_secret),
            Some("rotated-refresh-token-2")
        );
        // No `scope` in the response: the requested scopes are reported.
        assert_eq!(rotated.scopes.len(), GOOGLE_SCOPES.len());

        let kept = client
            .refresh(&SecretString::new("google-refresh-token"))
            .await
            .expect("grant");
        assert_eq!(
            kept.refresh_token.as_ref().map(SecretString::expose_secret),
            Some("google-refresh-token")
        );
        // Google config: no scope on refresh.
        assert!(forms
            .lock()
            .expect("lock")
            .iter()
            .all(|f| !f.contains_key("scope")));
    }

    #[tokio::test]
    async fn invalid_grant_is_classified_with_the_aadsts_code() {
        let (client, _) = start().await;
        let err = client
            .refresh(&SecretString::new("expired-ms-refresh-token"))
            .await
            .expect_err("must fail");
        assert_eq!(err.aadsts_code(), Some("AADSTS700082"));
        match &err {
            OAuthError::InvalidGrant { description } => {
                assert!(
                    description.starts_with("AADSTS700082: The refresh token has expired"),
                    "{description}"
                );
                assert!(!description.contains("Trace ID"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!format!("{err:?}{err}").contains("expired-ms-refresh-token"));
        assert!(matches!(
            TokenSourceError::from(err),
            TokenSourceError::ReauthorizationRequired { .. }
        ));

        let err = client
            .refresh(&SecretString::new("revoked-google-refresh-token"))
            .await
            .expect_err("must fail");
        assert_eq!(
            err,
            OAuthError::InvalidGrant {
                description: "Token has been expired or revoked.".into()
            }
        );
        assert_eq!(err.aadsts_code(), None);
    }

    #[tokio::test]
    async fn server_errors_are_transport_and_other_errors_are_other() {
        let (client, _) = start().await;
        let err = client
            .refresh(&SecretString::new("unlucky-refresh-token"))
            .await
            .expect_err("must fail");
        assert!(
            matches!(err, OAuthError::Transport(ref m) if m.contains("503")),
            "{err:?}"
        );
        assert!(matches!(
            TokenSourceError::from(err),
            TokenSourceError::Unavailable(_)
        ));

        let err = client
            .refresh(&SecretString::new("unknown-refresh-token"))
            .await
            .expect_err("must fail");
        assert_eq!(err, OAuthError::Other("invalid_client".into()));
    }

    #[tokio::test]
    async fn microsoft_config_sends_scopes_on_refresh() {
        let forms: Forms = Arc::default();
        let app = Router::new()
            .route("/common/oauth2/v2.0/token", post(token_endpoint))
            .with_state(forms.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config = OAuthProviderConfig::microsoft(
            "common",
            "ms-client",
            SecretString::new("s"),
            "https://a.example/cb",
        );
        config.token_url = config.token_url.replace(
            "https://login.microsoftonline.com",
            &format!("http://{addr}"),
        );
        let client = OAuthClient::new(config).expect("client");
        client
            .refresh(&SecretString::new("rotating-refresh-token"))
            .await
            .expect("grant");
        let form = forms.lock().expect("lock")[0].clone();
        assert_eq!(
            form.get("scope").map(String::as_str),
            Some(MICROSOFT_SCOPES.join(" ").as_str())
        );
    }

    #[test]
    fn config_and_client_debug_do_not_leak_the_client_secret() {
        let config = OAuthProviderConfig::google(
            "id",
            SecretString::new("super-secret-value"),
            "https://a.example/cb",
        );
        assert!(!format!("{config:?}").contains("super-secret-value"));
        let client = OAuthClient::new(config).expect("client");
        assert!(!format!("{client:?}").contains("super-secret-value"));
    }

    #[test]
    fn aadsts_code_extraction() {
        assert_eq!(
            aadsts_code("AADSTS70008: The provided authorization code has expired"),
            Some("AADSTS70008")
        );
        assert_eq!(aadsts_code("prefix AADSTS50173: x"), Some("AADSTS50173"));
        assert_eq!(aadsts_code("AADSTS: nothing"), None);
        assert_eq!(aadsts_code("Token has been expired or revoked."), None);
    }
}
