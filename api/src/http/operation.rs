//! What every transport does around an operation, in one place: the rate-limit bucket, the
//! answers to a refused credential or an exhausted budget, the watch on an open connection's
//! credential, and the per-operation request (caller, loaders, introspection policy).

use super::{classify_errors, insert_loaders, request_error, HttpState};
use crate::auth::{authenticate, AuthError, Viewer};
use axum::http::{header, StatusCode};
use axum::response::Response;
use std::net::SocketAddr;

/// The rate-limit bucket of a caller: its API key, its JWT user, or (dev mode, no credential)
/// its address.
pub(super) fn rate_key(viewer: &Viewer, peer: Option<SocketAddr>) -> String {
    match (&viewer.api_key, &viewer.user) {
        (Some(k), _) => format!("key:{k}"),
        (None, Some(u)) => format!("user:{}:{u}", viewer.organization),
        (None, None) => format!(
            "addr:{}",
            peer.map(|p| p.ip().to_string()).unwrap_or_default()
        ),
    }
}

/// Takes `operations` tokens for the caller, or says how long to wait (seconds).
pub(super) fn rate_limit(
    state: &HttpState,
    viewer: &Viewer,
    peer: Option<SocketAddr>,
    operations: usize,
) -> Result<(), u64> {
    state.rate_limiter.take(&rate_key(viewer, peer), operations)
}

pub(super) fn rate_limited_message(wait: u64) -> String {
    format!("too many requests; retry in {wait} s")
}

/// The plain-HTTP answer to a credential that was refused (or could not be checked).
pub(super) fn auth_refused(e: &AuthError) -> Response {
    e.log();
    match e {
        AuthError::Unauthenticated(m) => {
            request_error(StatusCode::UNAUTHORIZED, e.code(), m.clone())
        }
        _ => request_error(
            StatusCode::SERVICE_UNAVAILABLE,
            e.code(),
            "internal error".into(),
        ),
    }
}

pub(super) fn rate_limited(wait: u64) -> Response {
    let mut r = request_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        rate_limited_message(wait),
    );
    if let Ok(v) = wait.to_string().parse() {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Resolves when the credential behind an open socket or stream stops being valid: at a JWT's
/// `exp`, or at the first re-check (every `credential_recheck`) that refuses an API key. Without
/// a credential (dev mode) it never does. A store failure during a re-check is logged and
/// retried, not taken for a refusal: a database blip must not drop every subscriber.
pub(super) fn credential_lapsed(
    state: HttpState,
    token: Option<String>,
    viewer: Viewer,
) -> futures_util::future::BoxFuture<'static, AuthError> {
    Box::pin(async move {
        if let Some(exp) = viewer.expires_at {
            let left = exp
                .saturating_mul(1000)
                .saturating_sub(chrono::Utc::now().timestamp_millis())
                .max(0);
            tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
            return AuthError::Unauthenticated("the JWT expired".into());
        }
        if viewer.api_key.is_none() {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(state.credential_recheck).await;
            match authenticate(&state.app.store, state.auth, &state.jwt, token.clone()).await {
                Ok(_) => {}
                Err(AuthError::Store(e)) => {
                    tracing::warn!(error = %e, "could not re-check an open connection's API key; trying again")
                }
                Err(e) => return e,
            }
        }
    })
}

/// One operation as every transport runs it: the caller, its organization's loaders, and the
/// introspection policy. (Write access is the schema's `WriteGuard`.)
pub(super) fn prepare(
    state: &HttpState,
    viewer: &Viewer,
    mut request: async_graphql::Request,
) -> async_graphql::Request {
    if !state.introspection {
        request = request.disable_introspection();
    }
    let mut request = request.data(viewer.clone());
    insert_loaders(&mut request.data, &state.app, viewer.organization);
    request
}

/// Counts the response's errors by code, after giving every error one.
pub(super) fn finish_response(state: &HttpState, response: &mut async_graphql::Response) {
    classify_errors(&mut response.errors);
    for e in &response.errors {
        let code = e
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|c| c.to_string().trim_matches('"').to_string())
            .unwrap_or_default();
        state.metrics.error(&code);
    }
}
