//! The HTTP surface: GraphQL over POST and GET, GraphiQL in a browser, health checks.

pub mod apq;
pub mod cors;
mod graphiql;
mod ics;
pub mod metrics;
mod operation;
mod providers;
mod sse;
pub mod wire;
mod ws;

use crate::auth::{authenticate, credential, JwtKeys};
use crate::config::AuthMode;
use crate::graphql::loaders::{CalendarLoader, ContinuationsLoader};
use crate::graphql::AlmanacSchema;
use crate::state::AppState;
use almanac_domain::OrganizationId;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use operation::{auth_refused, finish_response, prepare, rate_limit, rate_limited};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: AlmanacSchema,
    pub auth: AuthMode,
    pub jwt: JwtKeys,
    pub introspection: bool,
    pub rate_limiter: Arc<RateLimiter>,
    pub metrics: Arc<metrics::Metrics>,
    pub persisted_queries: Arc<apq::PersistedQueries>,
    pub cors_origins: cors::AllowedOrigins,
    /// How often an open socket or stream re-checks an API key (revocation ends it within this);
    /// a JWT's is checked at its `exp`.
    pub credential_recheck: std::time::Duration,
    /// How long a WebSocket may wait before sending `connection_init` (then 4408).
    pub ws_init_timeout: std::time::Duration,
}

/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;

/// A token bucket per credential, in this process (each API node limits on its own).
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token per operation (a batch of ten costs ten); `Err(seconds to wait)` when
    /// the caller has fewer left, and then takes none.
    fn take(&self, who: &str, operations: usize) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let need = operations as f64;
        let cap = f64::from(self.per_minute);
        let rate = cap / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 120);
        }
        let (tokens, at) = buckets.entry(who.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(cap);
        *at = now;
        if *tokens >= need {
            *tokens -= need;
            Ok(())
        } else {
            // A batch larger than the whole budget never fits; the wait is a full refill.
            Err(((need.min(cap) - *tokens).max(0.0) / rate).ceil().max(1.0) as u64)
        }
    }
}

/// Request bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub fn router(state: HttpState) -> Router {
    let cors = state.cors_origins.layer();
    let router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphql") }))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route(
            "/graphql/stream",
            get(sse::graphql_stream_get).post(sse::graphql_stream_post),
        )
        .route("/graphiql/{digest}/{file}", get(graphiql::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/ics/{file}", get(ics::feed))
        .route("/oauth/google/callback", get(providers::google_callback))
        .route(
            "/webhooks/google",
            axum::routing::post(providers::google_webhook),
        )
        .route("/oauth/outlook/callback", get(providers::outlook_callback))
        .route(
            "/webhooks/outlook",
            axum::routing::post(providers::outlook_webhook),
        )
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.cors_origins.clone(),
            cors::guard_websocket_origin,
        ));
    // Outside the routes, so a preflight is answered whatever methods a route has.
    let router = match cors {
        Some(layer) => router.layer(layer).layer(axum::middleware::map_response(
            cors::only_for_allowed_origins,
        )),
        None => router,
    };
    // The last layer runs first: the request gets its id (the caller's `x-request-id`, or a new
    // UUID), then its span, which records the id, and the response carries the id back.
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The id `SetRequestIdLayer` gave the request (or the caller sent).
fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok())
}

/// The request's trace span, as tower-http's default one with the request id, except that a feed
/// URL's secret token is never logged. At INFO, so that every line the request logs carries the
/// id, whatever the level of the line.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let uri = if req.uri().path().starts_with("/ics/") {
        "/ics/{token}".to_string()
    } else {
        req.uri().to_string()
    };
    tracing::info_span!(
        "request",
        request_id = request_id(req.headers()).unwrap_or(""),
        method = %req.method(),
        uri = %uri,
        version = ?req.version()
    )
}

/// An INTERNAL error names the request that failed, so a client's report leads to the server's
/// log lines for it.
fn tag_internal_errors(errors: &mut [async_graphql::ServerError], request_id: Option<&str>) {
    let Some(id) = request_id else { return };
    for e in errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        let internal = ext
            .get("code")
            .is_some_and(|c| *c == async_graphql::Value::from("INTERNAL"));
        if internal {
            ext.set("requestId", id);
        }
    }
}

/// Counts every request by its matched route (never the raw path: ids stay out of labels).
async fn record(
    State(state): State<HttpState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(
        &route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    let body = state.metrics.render(state.app.store.pool_stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state
        .app
        .store
        .calendars_page(OrganizationId::DEFAULT, None, 1)
        .await
    {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Authenticates, rate-limits (each operation of a batch counts), and executes one operation or
/// a batch of them.
async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    batch: async_graphql::BatchRequest,
    media: wire::ResponseMedia,
) -> Response {
    let viewer = match authenticate(
        &state.app.store,
        state.auth,
        &state.jwt,
        credential(headers),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return auth_refused(&e),
    };
    let (requests, is_batch) = match batch {
        async_graphql::BatchRequest::Single(r) => (vec![r], false),
        async_graphql::BatchRequest::Batch(v) => (v, true),
    };
    if requests.len() > MAX_BATCH {
        return request_error(
            StatusCode::BAD_REQUEST,
            "BATCH_TOO_LARGE",
            format!("a batch may hold at most {MAX_BATCH} operations"),
        );
    }
    if let Err(wait) = rate_limit(state, &viewer, peer, requests.len()) {
        return rate_limited(wait);
    }
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        let mut response = state.schema.execute(prepare(state, &viewer, request)).await;
        finish_response(state, &mut response);
        tag_internal_errors(&mut response.errors, request_id(headers));
        responses.push(response);
    }
    let out = match (is_batch, responses.pop()) {
        (false, Some(one)) => async_graphql::BatchResponse::Single(one),
        (_, last) => {
            responses.extend(last);
            async_graphql::BatchResponse::Batch(responses)
        }
    };
    wire::respond(out, media)
}

/// The per-request (per-connection for subscriptions) DataLoaders, scoped to the viewer's
/// organization. Cached for the request: connections prime them for a whole page in one batch (see
/// `prime_series_loaders`), and nested resolvers then read the cache.
fn insert_loaders(
    data: &mut async_graphql::Data,
    app: &AppState,
    organization: almanac_domain::OrganizationId,
) {
    let (store, org) = (app.store.clone(), organization);
    data.insert(DataLoader::with_cache(
        CalendarLoader {
            app: app.clone(),
            organization: org,
        },
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        ContinuationsLoader {
            app: app.clone(),
            organization: org,
        },
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        crate::graphql::ics::IcsFeedsLoader {
            app: app.clone(),
            organization: org,
        },
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        crate::graphql::sync::LinksLoader {
            store: store.clone(),
            organization: org,
        },
        tokio::spawn,
        HashMapCache::default(),
    ));
    data.insert(DataLoader::with_cache(
        crate::graphql::sync::ProviderCopiesLoader {
            store,
            organization: org,
        },
        tokio::spawn,
        HashMapCache::default(),
    ));
}

/// Errors raised by async-graphql itself (syntax, validation, input coercion, limits) carry no
/// code; give each one, so every error a client sees has `extensions.code`.
fn classify_errors(errors: &mut [async_graphql::ServerError]) {
    for e in errors {
        let has_code = e
            .extensions
            .as_ref()
            .is_some_and(|x| x.get("code").is_some());
        if has_code {
            continue;
        }
        let m = e.message.as_str();
        let code = if m.contains("Failed to parse")
            || m.starts_with("Invalid value")
            || m.contains("Invalid value for argument")
        {
            "BAD_USER_INPUT"
        } else if m.contains("Query is nested too deep")
            || m.contains("Query is too complex")
            || m.contains("recursion limit exceeded")
        {
            "QUERY_TOO_COMPLEX"
        } else if m.contains("-->")
            || m.contains("expected")
                && e.path.is_empty()
                && e.locations.len() <= 1
                && m.contains("Syntax")
        {
            "GRAPHQL_PARSE_FAILED"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        let mut ext = e.extensions.take().unwrap_or_default();
        ext.set("code", code);
        e.extensions = Some(ext);
    }
}

fn request_error(status: StatusCode, code: &str, message: String) -> Response {
    let body =
        serde_json::json!({ "errors": [ { "message": message, "extensions": { "code": code } } ] });
    (status, Json(body)).into_response()
}

/// The body of a POST that may run operations (`/graphql`, `/graphql/stream`): refused unless it is
/// JSON (CSRF: no web page can send that cross-site without a preflight) and within the size limit.
fn json_post_body(
    headers: &HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Box<Response>> {
    wire::check_post_content_type(headers).map_err(|refused| Box::new(refused.into_response()))?;
    match body {
        Ok(b) => Ok(b),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Box::new(request_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        ))),
        Err(e) => Err(Box::new(request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("the request body could not be read: {e}"),
        ))),
    }
}

/// POST with a JSON body `{query, variables, operationName, extensions}` (or an array of them).
/// The body is read under the size limit and parsed only once the content type is JSON, so a
/// refused or oversized request is never parsed.
async fn graphql_post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let media = match wire::ResponseMedia::negotiate(&headers) {
        Ok(m) => m,
        Err(refused) => return refused.into_response(),
    };
    let bytes = match json_post_body(&headers, body) {
        Ok(b) => b,
        Err(refused) => return *refused,
    };
    match wire::parse_post_body(&bytes, media) {
        Err(refused) => refused.into_response(),
        Ok(wire::PostBody::Single(params)) => match params.into_request(&state.persisted_queries) {
            Ok(request) => {
                execute(
                    &state,
                    &headers,
                    Some(peer),
                    async_graphql::BatchRequest::Single(request),
                    media,
                )
                .await
            }
            Err(refusal) => refusal.into_response(media),
        },
        Ok(wire::PostBody::Batch(items)) => {
            // Counted before persisted queries are resolved, so refused operations count too.
            if items.len() > MAX_BATCH {
                return request_error(
                    StatusCode::BAD_REQUEST,
                    "BATCH_TOO_LARGE",
                    format!("a batch may hold at most {MAX_BATCH} operations"),
                );
            }
            let (mut runnable, mut refused) = (Vec::new(), Vec::new());
            for (at, params) in items.into_iter().enumerate() {
                match params.into_request(&state.persisted_queries) {
                    Ok(request) => runnable.push(request),
                    Err(refusal) => refused.push((at, refusal)),
                }
            }
            if runnable.is_empty() {
                let answers: Vec<serde_json::Value> = refused
                    .iter()
                    .map(|(_, r)| serde_json::json!({ "errors": [r.error_value()] }))
                    .collect();
                let mut res = (
                    StatusCode::OK,
                    serde_json::Value::Array(answers).to_string(),
                )
                    .into_response();
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, media.content_type());
                return res;
            }
            let executed = execute(
                &state,
                &headers,
                Some(peer),
                async_graphql::BatchRequest::Batch(runnable),
                media,
            )
            .await;
            if refused.is_empty() {
                executed
            } else {
                wire::splice_refusals(executed, refused).await
            }
        }
    }
}

/// GET: GraphiQL for browsers (no `query` parameter), otherwise a query in the URL (a persisted
/// one too). GET never runs a mutation, so it needs no CSRF header: a page on another site may
/// send it, but a query changes nothing, carries no credential (Almanac reads no cookies) and
/// its answer is readable only by origins CORS allows.
async fn graphql_get(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !params.contains_key("query") && !params.contains_key("extensions") {
        if wants_html || params.is_empty() {
            return graphiql::page();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "a GET request needs a `query` parameter".into(),
        );
    }
    let media = match wire::ResponseMedia::negotiate(&headers) {
        Ok(m) => m,
        Err(refused) => return refused.into_response(),
    };
    let req = match wire::parse_get_params(&params, media)
        .map(|p| p.into_request(&state.persisted_queries))
    {
        Err(refused) => return refused.into_response(),
        Ok(Err(refusal)) => return refusal.into_response(media),
        Ok(Ok(req)) => req,
    };
    if is_mutation(&req.query, req.operation_name.as_deref()) {
        // A mutation in a URL could be triggered by a mere link or image tag.
        let mut res = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "mutations must be sent with POST".into(),
        );
        res.headers_mut()
            .insert(header::ALLOW, axum::http::HeaderValue::from_static("POST"));
        return res;
    }
    execute(
        &state,
        &headers,
        Some(peer),
        async_graphql::BatchRequest::Single(req),
        media,
    )
    .await
}

fn is_mutation(query: &str, operation: Option<&str>) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    doc.operations.iter().any(|(name, op)| {
        let selected = match (operation, name) {
            (Some(want), Some(n)) => n.as_str() == want,
            (Some(_), None) => false,
            (None, _) => true,
        };
        selected && op.node.ty == async_graphql::parser::types::OperationType::Mutation
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internal_errors_are_tagged_with_the_request_id() {
        let error = |code: &str| {
            let mut e = async_graphql::ServerError::new("x", None);
            let mut ext = async_graphql::ErrorExtensionValues::default();
            ext.set("code", code);
            e.extensions = Some(ext);
            e
        };
        let mut errors = vec![error("INTERNAL"), error("NOT_FOUND")];
        tag_internal_errors(&mut errors, Some("req-1"));
        let id = |e: &async_graphql::ServerError| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("requestId").cloned())
        };
        assert_eq!(id(&errors[0]), Some(async_graphql::Value::from("req-1")));
        assert_eq!(id(&errors[1]), None);
    }
}
