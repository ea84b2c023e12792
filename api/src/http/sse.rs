//! GraphQL over Server-Sent Events at `/graphql/stream`, in graphql-sse's "distinct connections
//! mode" (one operation per HTTP request, https://github.com/enisdenjo/graphql-sse/blob/master/PROTOCOL.md),
//! for networks and proxies that block WebSockets.
//!
//! POST a JSON `{query, variables, operationName}` or GET with those as URL parameters, with
//! `Accept: text/event-stream` and the same credential headers as `/graphql`. Refused credentials
//! and the rate limit answer as on `/graphql` (401, 429 with Retry-After) before the stream
//! starts; every result, validation errors included, is an `event: next`, and `event: complete`
//! ends the stream. A stream whose API key is revoked, or whose JWT expires, gets a last `next`
//! with an `UNAUTHENTICATED` error and `complete` (within `credential_recheck`; at `exp`).

use super::operation::{
    auth_refused, credential_lapsed, finish_response, prepare, rate_limit, rate_limited,
};
use super::{is_mutation, request_error, HttpState};
use crate::auth::{authenticate, credential};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(super) async fn graphql_stream_post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // The same rules as POST /graphql (CSRF, size): a mutation can be sent over SSE too.
    let bytes = match super::json_post_body(&headers, body) {
        Ok(b) => b,
        Err(refused) => return *refused,
    };
    match serde_json::from_slice::<async_graphql::Request>(&bytes) {
        Ok(r) => stream(state, &headers, peer, r).await,
        Err(e) => request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("the body is not one GraphQL request ({{\"query\": …}} as JSON): {e}"),
        ),
    }
}

pub(super) async fn graphql_stream_get(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(query) = params.get("query") else {
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "a GET request needs a `query` parameter".into(),
        );
    };
    let mut req = async_graphql::Request::new(query.clone());
    if let Some(name) = params.get("operationName") {
        req = req.operation_name(name.clone());
    }
    for (key, what) in [("variables", "variables"), ("extensions", "extensions")] {
        if let Some(text) = params.get(key) {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) if what == "variables" => {
                    req = req.variables(async_graphql::Variables::from_json(v))
                }
                Ok(v) => match serde_json::from_value(v) {
                    Ok(ext) => req.extensions = ext,
                    Err(e) => {
                        return request_error(
                            StatusCode::BAD_REQUEST,
                            "BAD_REQUEST",
                            format!("`extensions` is not an object: {e}"),
                        )
                    }
                },
                Err(e) => {
                    return request_error(
                        StatusCode::BAD_REQUEST,
                        "BAD_REQUEST",
                        format!("`{key}` is not JSON: {e}"),
                    )
                }
            }
        }
    }
    if is_mutation(query, params.get("operationName").map(String::as_str)) {
        // A mutation in a URL could be triggered by a mere link or image tag.
        return request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "mutations must be sent with POST".into(),
        );
    }
    stream(state, &headers, peer, req).await
}

/// Whether the client takes `text/event-stream` (no Accept header means anything).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .any(|t| t == "text/event-stream" || t == "text/*" || t == "*/*")
}

async fn stream(
    state: HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    request: async_graphql::Request,
) -> Response {
    if !accepts_event_stream(headers) {
        return request_error(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", "this endpoint answers with text/event-stream (Accept: text/event-stream); use /graphql for JSON".into());
    }
    let token = credential(headers);
    let viewer = match authenticate(&state.app.store, state.auth, &state.jwt, token.clone()).await {
        Ok(v) => v,
        Err(e) => return auth_refused(&e),
    };
    if let Err(wait) = rate_limit(&state, &viewer, Some(peer), 1) {
        return rate_limited(wait);
    }
    let mut results = state
        .schema
        .execute_stream(prepare(&state, &viewer, request));
    let mut lapsed = credential_lapsed(state.clone(), token, viewer);
    // The operation runs in its own task and hands events over a channel: when the client goes
    // away the body (and the receiver) is dropped, the task sees it and drops the operation.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
    tokio::spawn(async move {
        state.metrics.subscriptions.fetch_add(1, Ordering::Relaxed);
        // A comment line now and then keeps proxies from closing a quiet stream.
        let mut keep_alive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        loop {
            tokio::select! {
                r = results.next() => match r {
                    Some(mut response) => {
                        finish_response(&state, &mut response);
                        let payload = serde_json::to_value(&response).unwrap_or(serde_json::Value::Null);
                        if tx.send(next_event(&payload)).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = tx.send(COMPLETE.to_string()).await;
                        break;
                    }
                },
                e = &mut lapsed => {
                    e.log();
                    let payload = json!({ "data": null, "errors": [{ "message": e.to_string(), "extensions": { "code": e.code() } }] });
                    if tx.send(next_event(&payload)).await.is_ok() {
                        let _ = tx.send(COMPLETE.to_string()).await;
                    }
                    break;
                }
                _ = keep_alive.tick() => {
                    if tx.send(":\n\n".to_string()).await.is_err() {
                        break;
                    }
                }
                () = tx.closed() => break,
            }
        }
        state.metrics.subscriptions.fetch_sub(1, Ordering::Relaxed);
    });
    let chunks = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|c| c.map(|c| Ok::<_, Infallible>(axum::body::Bytes::from(c))))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `complete` with an empty `data:` line: EventSource ignores an event without one.
const COMPLETE: &str = "event: complete\ndata: \n\n";

/// A `next` event. Compact JSON has no raw newline, so one `data:` line holds it.
fn next_event(payload: &serde_json::Value) -> String {
    format!("event: next\ndata: {payload}\n\n")
}
