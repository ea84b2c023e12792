//! Provider callbacks: the OAuth redirects (`GET /oauth/{google,outlook}/callback`), Google push
//! notifications (`POST /webhooks/google`) and Graph change notifications with their validation
//! handshake (`POST /webhooks/outlook`). None carries an Almanac credential: the OAuth state, the
//! channel token and the subscription's clientState are the credentials.

use super::HttpState;
use crate::sync::inbound::{google_notification, outlook_notifications};
use crate::sync::oauth::complete_connect;
use crate::sync::{Provider, SyncError};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

#[derive(serde::Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>{0}</title><h1>{0}</h1><p>{1}</p>",
            escape(title),
            escape(text)
        )),
    )
        .into_response()
}

pub async fn google_callback(
    State(state): State<HttpState>,
    Query(p): Query<CallbackParams>,
) -> Response {
    callback(&state, Provider::Google, p).await
}

pub async fn outlook_callback(
    State(state): State<HttpState>,
    Query(p): Query<CallbackParams>,
) -> Response {
    callback(&state, Provider::Outlook, p).await
}

async fn callback(state: &HttpState, provider: Provider, p: CallbackParams) -> Response {
    if let Some(e) = p.error {
        return page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            &format!("The provider did not authorize the connection ({e})."),
        );
    }
    let (Some(code), Some(s)) = (p.code, p.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "The request is missing its code or state.",
        );
    };
    match complete_connect(&state.app, provider, &code, &s).await {
        Ok(c) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Account {} is connected (connection {}). You can close this window.",
                c.account, c.id
            ),
        ),
        Err(e @ SyncError::UnknownAuthorization) => {
            page(StatusCode::BAD_REQUEST, "Not connected", &e.to_string())
        }
        Err(SyncError::ProviderRefused { reason, .. }) => page(
            StatusCode::BAD_GATEWAY,
            "Not connected",
            &format!("the provider did not authorize the connection: {reason}"),
        ),
        // The rest is this server's fault (configuration, keys, database): logged, not shown.
        Err(e) => {
            tracing::error!(provider = provider.as_str(), error = %e, "an OAuth callback failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not connected",
                "internal error",
            )
        }
    }
}

pub async fn google_webhook(State(state): State<HttpState>, headers: HeaderMap) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(channel) = header("x-goog-channel-id") else {
        return StatusCode::BAD_REQUEST;
    };
    // Every state (the first `sync` message included) triggers a round: it is cheap when
    // nothing changed, and it catches up after a gap.
    if google_notification(&state.app, channel, header("x-goog-channel-token")).await {
        StatusCode::OK
    } else {
        // Unknown channel (stopped, replaced) or a wrong token: nothing is done, and the sender
        // learns the channel is not wanted here.
        StatusCode::NOT_FOUND
    }
}

#[derive(serde::Deserialize)]
pub struct ValidationParams {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

/// Graph's webhook. A request with `validationToken` is the subscription handshake: answer the
/// (already URL-decoded) token as text/plain. Anything else is a batch of notifications: answer
/// 202 at once (Graph wants an answer within 3 seconds) and sync in the background.
pub async fn outlook_webhook(
    State(state): State<HttpState>,
    Query(v): Query<ValidationParams>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(token) = v.validation_token {
        return (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            token,
        )
            .into_response();
    }
    let Ok(batch) = serde_json::from_slice::<
        almanac_providers::outlook::wire::ChangeNotificationCollection,
    >(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if outlook_notifications(&state.app, batch).await > 0 {
        StatusCode::ACCEPTED.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
