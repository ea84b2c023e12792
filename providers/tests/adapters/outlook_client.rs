//! Microsoft Graph client: error classification, retries, 401 → refresh, Retry-After, the
//! per-mailbox concurrency limit, Prefer headers, delta paging and request shapes against a tiny
//! scripted axum fake (not an emulator: it replays canned responses in order and records what it
//! received), plus serde round-trips of the wire types.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use almanac_providers::oauth::{
    AccessTokenSource, SecretString, StaticAccessToken, TokenSourceError,
};
use almanac_providers::outlook::client::{
    GraphClient, GraphClientConfig, GraphError, DEFAULT_BASE_URL,
};
use almanac_providers::outlook::wire::{
    BodyType, Calendar, ChangeNotificationCollection, ChangeType, DateTimeTimeZone, DeltaPage,
    Event, EventType, FreeBusyStatus, GraphErrorResponse, ItemBody, LifecycleEventType,
    Subscription, User,
};
use almanac_providers::retry::RetryPolicy;
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Scripted fake
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    /// `{BASE}` is replaced by the fake's base URL (for nextLink / deltaLink / Location values).
    body: String,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"error": {"code": code, "message": message, "innerError": {
                "date": "2026-03-02T10:00:00", "request-id": "6b1c0f4e-0000-4000-8000-000000000001",
                "client-request-id": "6b1c0f4e-0000-4000-8000-000000000001"}}}),
        )
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Raw (still percent-encoded) path.
    path: String,
    /// Raw query string.
    raw_query: Option<String>,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    prefer: Option<String>,
    if_match: Option<String>,
    content_type: Option<String>,
    body: Option<Value>,
}

impl Seen {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    script: Mutex<VecDeque<Reply>>,
    /// Answer when the script is empty (instead of 599).
    fallback: Mutex<Option<Reply>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn replay(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = answer(&fake, request).await;
    fake.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn answer(fake: &Fake, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    fake.seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().map(str::to_owned),
        query: url_pairs(parts.uri.query().unwrap_or_default()),
        authorization: header("authorization"),
        prefer: header("prefer"),
        if_match: header("if-match"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let reply = fake.script.lock().expect("lock").pop_front();
    let reply = reply.or_else(|| fake.fallback.lock().expect("lock").clone());
    let Some(reply) = reply else {
        return Response::builder()
            .status(599)
            .body(Body::from("unscripted request"))
            .unwrap_or_default();
    };
    tokio::time::sleep(reply.delay).await;
    let base = fake.base.lock().expect("lock").clone();
    let mut response = Response::new(Body::from(reply.body.replace("{BASE}", &base)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value.replace("{BASE}", &base)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// Starts the fake on port 0 with `script`; returns its base URL (with the real service's `/v1.0`
/// prefix, no trailing slash, to check the client keeps it) and the fake.
async fn start(script: Vec<Reply>) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        script: Mutex::new(script.into()),
        ..Fake::default()
    });
    let app = Router::new().fallback(replay).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}/v1.0");
    *fake.base.lock().expect("lock") = base.clone();
    (base, fake)
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

fn config(base_url: &str, retry: RetryPolicy) -> GraphClientConfig {
    GraphClientConfig {
        base_url: base_url.to_owned(),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry,
        ..GraphClientConfig::default()
    }
}

fn client_with(
    base_url: &str,
    retry: RetryPolicy,
    tokens: Arc<dyn AccessTokenSource>,
) -> GraphClient {
    GraphClient::new(config(base_url, retry), tokens).expect("client")
}

const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJub25jZSI6InZlcnktc2VjcmV0LWFjY2Vzcy10b2tlbiJ9";

fn client(base_url: &str, retry: RetryPolicy) -> GraphClient {
    client_with(
        base_url,
        retry,
        Arc::new(StaticAccessToken::new(ACCESS_TOKEN)),
    )
}

const PREFER: &str =
    "outlook.timezone=\"UTC\", IdType=\"ImmutableId\", outlook.body-content-type=\"text\"";

/// Hands out `eyJ.secret-N`; a rejection of the current token moves to N+1 (single-flight style).
#[derive(Default)]
struct RotatingTokens {
    generation: Mutex<u32>,
    rejected: Mutex<Vec<String>>,
}

impl RotatingTokens {
    fn token(generation: u32) -> String {
        format!("eyJ.secret-{generation}")
    }
}

#[async_trait]
impl AccessTokenSource for RotatingTokens {
    async fn access_token(&self) -> Result<SecretString, TokenSourceError> {
        Ok(SecretString::new(Self::token(
            *self.generation.lock().expect("lock"),
        )))
    }

    async fn token_rejected(&self, rejected: &SecretString) {
        self.rejected
            .lock()
            .expect("lock")
            .push(rejected.expose_secret().to_owned());
        let mut generation = self.generation.lock().expect("lock");
        if rejected.expose_secret() == Self::token(*generation) {
            *generation += 1;
        }
    }
}

struct FailingTokens(TokenSourceError);

#[async_trait]
impl AccessTokenSource for FailingTokens {
    async fn access_token(&self) -> Result<SecretString, TokenSourceError> {
        Err(self.0.clone())
    }

    async fn token_rejected(&self, _rejected: &SecretString) {}
}

const MASTER_ID: &str = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AhOj8dy7ZsUO-tOnvlH7W3QAAAgENAAAA";

fn event_json(id: &str) -> Value {
    json!({
        "@odata.etag": "W/\"DwAAABYAAACE6Px3LtmxQ764$6e+Ufta3QAAAAC0aA==\"", "id": id,
        "changeKey": "DwAAABYAAACE6Px3LtmxQ764$6e+Ufta3QAAAAC0aA==", "type": "singleInstance",
        "subject": "Standup", "isAllDay": false, "showAs": "busy",
        "start": {"dateTime": "2026-03-02T14:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T14:15:00.0000000", "timeZone": "UTC"}
    })
}

fn new_event(transaction_id: Option<&str>) -> Event {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 14, 0, 0)
        .single()
        .expect("time");
    Event {
        subject: Some("Standup".into()),
        body: Some(ItemBody {
            content_type: Some(BodyType::Text),
            content: Some("Daily".into()),
        }),
        start: Some(DateTimeTimeZone::utc(start)),
        end: Some(DateTimeTimeZone::utc(start + chrono::Duration::minutes(15))),
        transaction_id: transaction_id.map(str::to_owned),
        ..Event::default()
    }
}

fn window() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    (
        Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0)
            .single()
            .expect("time"),
        Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0)
            .single()
            .expect("time"),
    )
}

// ---------------------------------------------------------------------------------------------
// Error classification over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn error_envelopes_are_classified() {
    let (base, fake) = start(vec![
        Reply::error(
            400,
            "ErrorOccurrenceCrossingBoundary",
            "Cannot reschedule an occurrence of the recurring appointment if it skips over a later occurrence.",
        ),
        Reply::error(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not supported: 'Mars/Olympus'.",
        ),
        Reply::error(404, "ErrorItemNotFound", "The specified object was not found in the store."),
        Reply::error(412, "ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."),
        Reply::error(409, "ErrorIrresolvableConflict", "Conflict."),
        Reply::error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
        Reply::error(404, "ErrorItemNotFound", "The specified object was not found in the store."),
        Reply::error(410, "ErrorItemNotFound", "Gone."),
        Reply::error(400, "syncStateNotFound", "The sync state could not be found."),
        Reply::error(400, "ErrorInvalidRequest", "Your request can't be completed. You need to be an organizer to cancel a meeting."),
    ])
    .await;
    let graph = client(&base, RetryPolicy::never());

    let patch = json!({"start": {"dateTime": "2026-03-20T14:00:00", "timeZone": "UTC"}});
    let err = graph
        .patch_event("occ-1", &patch, None)
        .await
        .expect_err("400");
    assert!(err.is_occurrence_crossing_boundary(), "{err:?}");
    assert_eq!(err.code(), Some("ErrorOccurrenceCrossingBoundary"));
    assert!(!err.is_retryable());

    let err = graph
        .create_event(None, &new_event(None))
        .await
        .expect_err("400");
    assert!(err.is_time_zone_not_supported(), "{err:?}");
    assert!(
        matches!(err, GraphError::BadRequest { ref message, .. } if message.contains("Mars/Olympus"))
    );

    let err = graph.get_event("missing", None).await.expect_err("404");
    assert!(matches!(err, GraphError::NotFound), "{err:?}");

    let err = graph
        .patch_event("evt-1", &json!({"subject": "x"}), Some("W/\"old\""))
        .await
        .expect_err("412");
    assert!(matches!(err, GraphError::PreconditionFailed), "{err:?}");

    let err = graph
        .patch_event("evt-1", &json!({"subject": "x"}), None)
        .await
        .expect_err("409");
    assert!(
        matches!(err, GraphError::Conflict { ref code, .. } if code == "ErrorIrresolvableConflict"),
        "{err:?}"
    );

    let err = graph.get_event("evt-1", None).await.expect_err("403");
    assert!(
        matches!(err, GraphError::Forbidden { ref code, .. } if code == "ErrorAccessDenied"),
        "{err:?}"
    );

    // Deletes: "not there" is a distinct, success-like variant.
    let err = graph.delete_event("evt-1", None).await.expect_err("404");
    assert!(
        err.is_already_deleted() && !err.is_resync_required(),
        "{err:?}"
    );
    let err = graph.delete_event("evt-1", None).await.expect_err("410");
    assert!(matches!(err, GraphError::AlreadyDeleted), "{err:?}");

    let err = graph
        .delta_from(&format!("{base}/me/calendarView/delta?$deltatoken=stale"))
        .await
        .expect_err("sync");
    assert!(
        err.is_resync_required() && err.resync_location().is_none(),
        "{err:?}"
    );
    assert_eq!(err.code(), Some("syncStateNotFound"));

    let err = graph
        .cancel_event("evt-1", Some("sorry"))
        .await
        .expect_err("attendee");
    assert!(
        matches!(err, GraphError::BadRequest { ref code, .. } if code == "ErrorInvalidRequest"),
        "{err:?}"
    );

    assert_eq!(
        fake.seen().len(),
        10,
        "never retried with RetryPolicy::never"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_503_is_retried_until_success() {
    let (base, fake) = start(vec![
        Reply::error(503, "UnknownError", "Service Unavailable"),
        Reply::error(503, "ServiceNotAvailable", "Service Unavailable").header("retry-after", "0"),
        Reply::error(500, "UnknownError", ""),
        Reply::json(200, event_json("evt-1")),
    ])
    .await;
    let event = client(&base, fast_policy(4))
        .get_event("evt-1", None)
        .await
        .expect("fourth attempt succeeds");
    assert_eq!(event.id.as_deref(), Some("evt-1"));
    assert_eq!(fake.seen().len(), 4);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let (base, fake) = start(vec![
        Reply::error(503, "UnknownError", "Service Unavailable");
        5
    ])
    .await;
    let err = client(&base, fast_policy(3))
        .get_event("evt-1", None)
        .await
        .expect_err("exhausted");
    assert!(
        matches!(
            err,
            GraphError::Throttled {
                status: 503,
                retry_after: None
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "the caller may reschedule");
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let (base, fake) = start(vec![
        Reply::error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        )
        .header("retry-after", "1"),
        Reply::json(200, event_json("evt-1")),
    ])
    .await;
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    };
    let started = Instant::now();
    client(&base, policy)
        .get_event("evt-1", None)
        .await
        .expect("second attempt succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn retry_after_beyond_max_delay_is_handed_to_the_caller() {
    let (base, fake) = start(vec![
        Reply::error(429, "TooManyRequests", "Too many requests").header("retry-after", "120"),
        Reply::json(200, event_json("evt-1")),
    ])
    .await;
    let started = Instant::now();
    let err = client(&base, fast_policy(5))
        .get_event("evt-1", None)
        .await
        .expect_err("not slept through");
    assert!(
        matches!(err, GraphError::Throttled { status: 429, retry_after: Some(d) } if d == Duration::from_secs(120)),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let (base, fake) = start(vec![
        Reply::error(400, "ErrorInvalidIdMalformed", "Id is malformed."),
        Reply::error(412, "ErrorIrresolvableConflict", "x"),
        Reply::error(410, "syncStateNotFound", "x"),
    ])
    .await;
    let graph = client(&base, fast_policy(5));
    assert!(matches!(
        graph.get_event("bad", None).await,
        Err(GraphError::BadRequest { .. })
    ));
    assert!(matches!(
        graph.delete_event("evt-1", Some("W/\"e\"")).await,
        Err(GraphError::PreconditionFailed)
    ));
    assert!(graph
        .delta_from(&format!("{base}/me/calendarView/delta?$deltatoken=t"))
        .await
        .is_err());
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let (base, fake) = start(vec![
        Reply::json(200, event_json("evt-1")).delayed(Duration::from_millis(800)),
        Reply::json(200, event_json("evt-1")).delayed(Duration::from_millis(800)),
    ])
    .await;
    let config = GraphClientConfig {
        request_timeout: Duration::from_millis(100),
        ..config(&base, fast_policy(2))
    };
    let graph =
        GraphClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN))).expect("client");
    let err = graph.get_event("evt-1", None).await.expect_err("timeout");
    assert!(matches!(err, GraphError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// transactionId: retry safety of creates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_create_with_transaction_id_is_retried_after_a_timeout() {
    // The first attempt reaches the server but the answer arrives after the client's timeout; the
    // retry carries the same transactionId, which is what lets Graph deduplicate it.
    let (base, fake) = start(vec![
        Reply::json(201, event_json("evt-1")).delayed(Duration::from_millis(800)),
        Reply::json(201, event_json("evt-1")),
    ])
    .await;
    let config = GraphClientConfig {
        request_timeout: Duration::from_millis(150),
        ..config(&base, fast_policy(3))
    };
    let graph =
        GraphClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN))).expect("client");
    let created = graph
        .create_event(None, &new_event(Some("almanac-0191c6a2-0001")))
        .await
        .expect("retried");
    assert_eq!(created.id.as_deref(), Some("evt-1"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body, seen[1].body,
        "the retry resends the same body"
    );
    assert_eq!(
        seen[1].body.as_ref().expect("body")["transactionId"],
        "almanac-0191c6a2-0001"
    );
}

#[tokio::test]
async fn a_create_without_transaction_id_is_not_retried_when_it_may_have_landed() {
    let (base, fake) = start(vec![
        Reply::error(503, "UnknownError", "Service Unavailable"),
        Reply::json(201, event_json("evt-1")),
    ])
    .await;
    let err = client(&base, fast_policy(3))
        .create_event(None, &new_event(None))
        .await
        .expect_err("503");
    assert!(
        matches!(err, GraphError::Throttled { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(fake.seen().len(), 1);

    // A timeout is not retried either: the first POST may have created the event.
    let (base, fake) = start(vec![
        Reply::json(201, event_json("evt-1")).delayed(Duration::from_millis(800)),
        Reply::json(201, event_json("evt-2")),
    ])
    .await;
    let config = GraphClientConfig {
        request_timeout: Duration::from_millis(150),
        ..config(&base, fast_policy(3))
    };
    let graph =
        GraphClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN))).expect("client");
    assert!(matches!(
        graph.create_event(None, &new_event(None)).await,
        Err(GraphError::Timeout)
    ));
    assert_eq!(fake.seen().len(), 1);

    // …but a 429 proves it was not applied, so that one is retried.
    let (base, fake) = start(vec![
        Reply::error(429, "ApplicationThrottled", "x").header("retry-after", "0"),
        Reply::json(201, event_json("evt-1")),
    ])
    .await;
    client(&base, fast_policy(3))
        .create_event(None, &new_event(None))
        .await
        .expect("retried after 429");
    assert_eq!(fake.seen().len(), 2);

    // Subscriptions are never blindly retried either.
    let (base, fake) = start(vec![
        Reply::error(500, "UnknownError", "x"),
        Reply::json(201, json!({})),
    ])
    .await;
    let subscription = Subscription::events(
        "me/events",
        "https://almanac.example/hooks/graph",
        None,
        None,
        Utc::now(),
    );
    assert!(client(&base, fast_policy(3))
        .create_subscription(&subscription)
        .await
        .is_err());
    assert_eq!(fake.seen().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 401 → one refresh, one retry; secrets stay out of errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_401_triggers_exactly_one_refresh_and_one_retry() {
    let (base, fake) = start(vec![
        Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        ),
        Reply::json(200, event_json("evt-1")),
    ])
    .await;
    let tokens = Arc::new(RotatingTokens::default());
    // max_attempts 1: the refresh retry is not part of the backoff budget.
    let graph = client_with(&base, RetryPolicy::never(), tokens.clone());
    graph
        .get_event("evt-1", None)
        .await
        .expect("retry with the refreshed token");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer eyJ.secret-0")
    );
    assert_eq!(
        seen[1].authorization.as_deref(),
        Some("Bearer eyJ.secret-1")
    );
    assert_eq!(
        *tokens.rejected.lock().expect("lock"),
        vec!["eyJ.secret-0".to_owned()]
    );
}

#[tokio::test]
async fn a_second_401_is_unauthorized_and_no_error_text_contains_a_token() {
    let (base, fake) = start(vec![
        Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ),
        Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ),
        Reply::json(200, event_json("evt-1")),
    ])
    .await;
    let tokens = Arc::new(RotatingTokens::default());
    let graph = client_with(&base, fast_policy(5), tokens.clone());
    let err = graph.get_event("evt-1", None).await.expect_err("401 twice");
    assert!(
        matches!(err, GraphError::Unauthorized) && err.needs_reauthorization(),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.seen().len(), 2, "one retry after one refresh, no more");
    assert_eq!(tokens.rejected.lock().expect("lock").len(), 1);
    let rendered = format!("{err} {err:?} {graph:?}");
    assert!(!rendered.contains("secret-"), "{rendered}");
}

#[tokio::test]
async fn token_source_failures_are_surfaced_without_calling_graph() {
    let (base, fake) = start(vec![]).await;
    let dead = TokenSourceError::ReauthorizationRequired {
        description: "AADSTS700082: The refresh token has expired due to inactivity.".into(),
    };
    let graph = client_with(&base, fast_policy(3), Arc::new(FailingTokens(dead)));
    let err = graph.me().await.expect_err("no token");
    assert!(
        err.needs_reauthorization() && !err.is_retryable(),
        "{err:?}"
    );

    let down = TokenSourceError::Unavailable("token endpoint answered HTTP 503".into());
    let graph = client_with(&base, fast_policy(3), Arc::new(FailingTokens(down)));
    let err = graph.me().await.expect_err("no token");
    assert!(
        matches!(err, GraphError::Token(TokenSourceError::Unavailable(_))) && err.is_retryable()
    );
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn transport_errors_do_not_mention_the_token_or_the_delta_link() {
    // Nothing listens on this port (bound, then dropped).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let base = format!("http://{addr}/v1.0");
    let graph = client(&base, fast_policy(2));
    let err = graph
        .delta_from(&format!(
            "{base}/me/calendarView/delta?$deltatoken=secret-delta-state"
        ))
        .await;
    let err = err.expect_err("connection refused");
    assert!(matches!(err, GraphError::Transport(_)), "{err:?}");
    let rendered = format!("{err} {err:?} {graph:?}");
    assert!(
        !rendered.contains(ACCESS_TOKEN) && !rendered.contains("eyJ"),
        "{rendered}"
    );
    assert!(!rendered.contains("secret-delta-state"), "{rendered}");
}

// ---------------------------------------------------------------------------------------------
// Concurrency limit
// ---------------------------------------------------------------------------------------------

async fn fire_twenty(graph: &GraphClient) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let graph = graph.clone();
        tasks.spawn(async move { graph.get_event(&format!("evt-{i}"), None).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("get");
    }
}

#[tokio::test]
async fn never_more_than_four_requests_in_flight_per_mailbox() {
    let (base, fake) = start(vec![]).await;
    *fake.fallback.lock().expect("lock") =
        Some(Reply::json(200, event_json("evt-x")).delayed(Duration::from_millis(40)));
    let graph = client(&base, RetryPolicy::never());
    fire_twenty(&graph).await;
    assert_eq!(fake.seen().len(), 20);
    assert_eq!(
        fake.max_in_flight.load(Ordering::SeqCst),
        4,
        "the limit is reached but never exceeded"
    );

    // Configurable, and a separate mailbox gets its own budget.
    let (base, fake) = start(vec![]).await;
    *fake.fallback.lock().expect("lock") =
        Some(Reply::json(200, event_json("evt-x")).delayed(Duration::from_millis(20)));
    let config = GraphClientConfig {
        max_concurrent_per_mailbox: 2,
        ..config(&base, RetryPolicy::never())
    };
    let graph =
        GraphClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN))).expect("client");
    let other = graph.with_token_source(
        Arc::new(StaticAccessToken::new("other")),
        Some("ada@contoso.com".into()),
    );
    tokio::join!(fire_twenty(&graph), fire_twenty(&other));
    assert_eq!(
        fake.max_in_flight.load(Ordering::SeqCst),
        4,
        "2 per mailbox, two mailboxes"
    );
    assert_eq!(
        fake.seen()
            .iter()
            .filter(|s| s.path.starts_with("/v1.0/users/ada@contoso.com/"))
            .count(),
        20
    );
}

// ---------------------------------------------------------------------------------------------
// Request shapes, Prefer header
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_request_carries_the_prefer_header_and_the_documented_shape() {
    let (base, fake) = start(vec![
        Reply::json(200, json!({"id": "48d31887-5fad-4d73-a9f5-3c356e68a038", "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com"})),
        Reply::json(200, json!({"value": [{"id": "cal-1", "name": "Calendar", "isDefaultCalendar": true, "canEdit": true}], "@odata.nextLink": "{BASE}/me/calendars?$skip=1"})),
        Reply::json(200, json!({"value": [{"id": "cal-2", "name": "Birthdays", "canEdit": false}]})),
        Reply::json(201, event_json("evt-1")),
        Reply::json(201, event_json("evt-2")),
        Reply::json(200, event_json("evt-1")),
        Reply::json(200, event_json("evt-1")),
        Reply::empty(204),
        Reply::empty(202),
        Reply::json(200, json!({"value": [event_json("occ-1")], "@odata.nextLink": "{BASE}/me/events/m/instances?$skiptoken=p2"})),
        Reply::json(200, json!({"value": [event_json("occ-2")]})),
    ])
    .await;
    let graph = client(&base, RetryPolicy::never());
    let me: User = graph.me().await.expect("me");
    assert_eq!(me.user_principal_name.as_deref(), Some("ada@contoso.com"));
    let calendars = graph.calendars().await.expect("calendars");
    assert_eq!(calendars.len(), 2);
    assert!(calendars[0].is_writable() && !calendars[1].is_writable());
    graph
        .create_event(None, &new_event(Some("tx-1")))
        .await
        .expect("create");
    graph
        .create_event(Some("cal/2=="), &new_event(None))
        .await
        .expect("create in calendar");
    let property = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac.series";
    graph
        .get_event(MASTER_ID, Some(property))
        .await
        .expect("get");
    graph
        .patch_event(
            "evt-1",
            &json!({"subject": "Renamed", "recurrence": null}),
            Some("W/\"ck-1\""),
        )
        .await
        .expect("patch");
    graph
        .delete_event("evt-1", Some("W/\"ck-2\""))
        .await
        .expect("delete");
    graph
        .cancel_event("evt-2", Some("Moved to Thursday"))
        .await
        .expect("cancel");
    let (start, end) = window();
    let instances = graph
        .instances(MASTER_ID, start, end)
        .await
        .expect("instances");
    assert_eq!(
        instances
            .iter()
            .filter_map(|e| e.id.as_deref())
            .collect::<Vec<_>>(),
        vec!["occ-1", "occ-2"]
    );

    let seen = fake.seen();
    assert_eq!(seen.len(), 11);
    for s in &seen {
        assert_eq!(s.prefer.as_deref(), Some(PREFER), "{} {}", s.method, s.path);
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
    }
    let shape: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("GET", "/v1.0/me"),
            ("GET", "/v1.0/me/calendars"),
            ("GET", "/v1.0/me/calendars"),
            ("POST", "/v1.0/me/events"),
            ("POST", "/v1.0/me/calendars/cal%2F2==/events"),
            ("GET", &*format!("/v1.0/me/events/{MASTER_ID}")),
            ("PATCH", "/v1.0/me/events/evt-1"),
            ("DELETE", "/v1.0/me/events/evt-1"),
            ("POST", "/v1.0/me/events/evt-2/cancel"),
            ("GET", &*format!("/v1.0/me/events/{MASTER_ID}/instances")),
            ("GET", "/v1.0/me/events/m/instances"),
        ]
    );
    assert_eq!(seen[2].query("$skip"), Some("1"));
    assert_eq!(seen[3].content_type.as_deref(), Some("application/json"));
    let body = seen[3].body.as_ref().expect("json body");
    assert_eq!(body["transactionId"], "tx-1");
    assert_eq!(
        body["start"],
        json!({"dateTime": "2026-03-02T14:00:00.0000000", "timeZone": "UTC"})
    );
    assert_eq!(
        body["body"],
        json!({"contentType": "text", "content": "Daily"})
    );
    assert!(
        body.get("id").is_none() && body.get("@odata.etag").is_none(),
        "None fields are omitted: {body}"
    );
    assert_eq!(
        seen[5].query("$expand"),
        Some("singleValueExtendedProperties($filter=id eq 'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac.series')")
    );
    assert!(seen[5]
        .raw_query
        .as_deref()
        .is_some_and(|q| q.starts_with("$expand=") && !q.contains('+')));
    assert_eq!(seen[6].if_match.as_deref(), Some("W/\"ck-1\""));
    assert_eq!(
        seen[6].body,
        Some(json!({"subject": "Renamed", "recurrence": null}))
    );
    assert_eq!(seen[7].if_match.as_deref(), Some("W/\"ck-2\""));
    assert_eq!(seen[8].body, Some(json!({"comment": "Moved to Thursday"})));
    assert_eq!(seen[9].query("startDateTime"), Some("2026-02-01T00:00:00Z"));
    assert_eq!(seen[9].query("endDateTime"), Some("2027-02-01T00:00:00Z"));
    assert_eq!(seen[10].query("$skiptoken"), Some("p2"));
}

#[tokio::test]
async fn subscriptions_create_renew_reauthorize_delete() {
    let (base, fake) = start(vec![
        Reply::json(201, json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "resource": "me/events",
            "applicationId": "24d3b144-21ae-4080-943f-7067b395b913", "changeType": "created,updated,deleted",
            "clientState": "client-state-secret-value", "notificationUrl": "https://almanac.example/hooks/graph",
            "lifecycleNotificationUrl": "https://almanac.example/hooks/graph/lifecycle",
            "expirationDateTime": "2026-03-08T18:23:45.9356913Z", "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
            "latestSupportedTlsVersion": "v1_2"
        })),
        Reply::json(200, json!({"id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "expirationDateTime": "2026-03-10T00:00:00Z"})),
        Reply::empty(204),
        Reply::error(404, "ResourceNotFound", "The object was not found."),
    ])
    .await;
    let graph = client(&base, RetryPolicy::never());
    let expiration = Utc
        .with_ymd_and_hms(2026, 3, 8, 18, 0, 0)
        .single()
        .expect("time");
    let request = Subscription::events(
        "me/events",
        "https://almanac.example/hooks/graph",
        Some("https://almanac.example/hooks/graph/lifecycle".into()),
        Some("client-state-secret-value".into()),
        expiration,
    );
    assert!(!format!("{request:?}").contains("client-state-secret-value"));
    let created = graph.create_subscription(&request).await.expect("create");
    assert_eq!(
        created.id.as_deref(),
        Some("7f105c7d-2dc5-4530-97cd-4e7ae6534c07")
    );
    assert_eq!(
        created.expiration_date_time.as_ref().map(|t| t.to_utc()),
        Utc.with_ymd_and_hms(2026, 3, 8, 18, 23, 45)
            .single()
            .map(|t| t + chrono::Duration::nanoseconds(935_691_300))
    );
    let renewed_until = Utc
        .with_ymd_and_hms(2026, 3, 10, 0, 0, 0)
        .single()
        .expect("time");
    let renewed = graph
        .renew_subscription("7f105c7d-2dc5-4530-97cd-4e7ae6534c07", renewed_until)
        .await
        .expect("renew");
    assert_eq!(
        renewed.expiration_date_time.map(|t| t.to_utc()),
        Some(renewed_until)
    );
    graph
        .reauthorize_subscription("7f105c7d-2dc5-4530-97cd-4e7ae6534c07")
        .await
        .expect("reauthorize");
    let err = graph
        .delete_subscription("7f105c7d-2dc5-4530-97cd-4e7ae6534c07")
        .await
        .expect_err("404");
    assert!(err.is_already_deleted(), "{err:?}");

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v1.0/subscriptions")
    );
    assert_eq!(
        seen[0].body,
        Some(json!({
            "resource": "me/events", "changeType": "created,updated,deleted",
            "clientState": "client-state-secret-value", "notificationUrl": "https://almanac.example/hooks/graph",
            "lifecycleNotificationUrl": "https://almanac.example/hooks/graph/lifecycle",
            "expirationDateTime": "2026-03-08T18:00:00Z"
        }))
    );
    assert_eq!(
        seen[0].prefer.as_deref(),
        Some(PREFER),
        "subscriptions are created with ImmutableId"
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        (
            "PATCH",
            "/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
        )
    );
    assert_eq!(
        seen[1].body,
        Some(json!({"expirationDateTime": "2026-03-10T00:00:00Z"}))
    );
    assert_eq!(
        (seen[2].method.as_str(), seen[2].path.as_str()),
        (
            "POST",
            "/v1.0/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07/reauthorize"
        )
    );
    assert_eq!(seen[3].method, "DELETE");
}

// ---------------------------------------------------------------------------------------------
// Delta
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delta_follows_next_links_to_the_delta_link_and_continues_verbatim() {
    let (base, fake) = start(vec![
        Reply::json(200, json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
            "@odata.nextLink": "{BASE}/me/calendars/cal-1/calendarView/delta?$skiptoken=R0usmcCM996atia_s",
            "value": [event_json("evt-1")]
        })),
        // A page may be empty and still have a next one.
        Reply::json(200, json!({"@odata.nextLink": "{BASE}/me/calendars/cal-1/calendarView/delta?$skiptoken=R0usmci39OQxqJrxK4", "value": []})),
        Reply::json(200, json!({
            "@odata.deltaLink": "{BASE}/me/calendars/cal-1/calendarView/delta?$deltatoken=R0usmcMDNGg0J1E",
            "value": [{"@odata.type": "#microsoft.graph.event", "id": "evt-gone", "@removed": {"reason": "deleted"}}]
        })),
        Reply::json(200, json!({"@odata.deltaLink": "{BASE}/me/calendars/cal-1/calendarView/delta?$deltatoken=R0usmcMDNGg0J1F", "value": []})),
    ])
    .await;
    let graph = client(&base, RetryPolicy::never());
    let (start, end) = window();
    let round = graph
        .calendar_view_delta(Some("cal-1"), start, end)
        .await
        .expect("first round");
    assert_eq!(round.pages, 3);
    assert_eq!(
        round
            .events
            .iter()
            .filter_map(|e| e.id.as_deref())
            .collect::<Vec<_>>(),
        vec!["evt-1", "evt-gone"]
    );
    assert!(round.events[1].is_removed());
    assert_eq!(
        round.delta_link,
        format!("{base}/me/calendars/cal-1/calendarView/delta?$deltatoken=R0usmcMDNGg0J1E")
    );

    let next = graph
        .delta_from(&round.delta_link)
        .await
        .expect("next round");
    assert!(next.events.is_empty() && next.delta_link.ends_with("J1F"));

    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    let expected_prefer = format!("{PREFER}, odata.maxpagesize=100");
    assert!(
        seen.iter()
            .all(|s| s.prefer.as_deref() == Some(expected_prefer.as_str())),
        "{seen:?}"
    );
    assert_eq!(seen[0].path, "/v1.0/me/calendars/cal-1/calendarView/delta");
    assert_eq!(seen[0].query("startDateTime"), Some("2026-02-01T00:00:00Z"));
    assert_eq!(seen[0].query("endDateTime"), Some("2027-02-01T00:00:00Z"));
    // Links are called verbatim: only the token, no window repeated.
    assert_eq!(
        seen[1].raw_query.as_deref(),
        Some("$skiptoken=R0usmcCM996atia_s")
    );
    assert_eq!(
        seen[2].raw_query.as_deref(),
        Some("$skiptoken=R0usmci39OQxqJrxK4")
    );
    assert_eq!(
        seen[3].raw_query.as_deref(),
        Some("$deltatoken=R0usmcMDNGg0J1E")
    );
}

#[tokio::test]
async fn default_calendar_delta_page_by_page_and_page_size_setting() {
    let (base, fake) = start(vec![
        Reply::json(
            200,
            json!({"@odata.nextLink": "{BASE}/me/calendarView/delta?$skiptoken=a", "value": [event_json("evt-1")]}),
        ),
        Reply::json(200, json!({"@odata.deltaLink": "{BASE}/me/calendarView/delta?$deltatoken=b", "value": []})),
    ])
    .await;
    let config = GraphClientConfig {
        delta_page_size: Some(2),
        ..config(&base, RetryPolicy::never())
    };
    let graph =
        GraphClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN))).expect("client");
    let page = graph
        .delta_page(&format!(
            "{base}/me/calendarView/delta?startDateTime=x&endDateTime=y"
        ))
        .await
        .expect("page");
    let next = page.next_link.expect("next link");
    let page = graph.delta_page(&next).await.expect("page");
    assert!(page.delta_link.is_some());
    let seen = fake.seen();
    assert_eq!(
        seen[0].prefer.as_deref(),
        Some(format!("{PREFER}, odata.maxpagesize=2").as_str())
    );
    assert_eq!(seen[1].raw_query.as_deref(), Some("$skiptoken=a"));
}

#[tokio::test]
async fn a_410_with_location_is_surfaced_for_a_full_resync() {
    let (base, fake) = start(vec![
        Reply::error(410, "SyncStateNotFound", "The sync state is no longer valid.")
            .header("location", "{BASE}/me/calendarView/delta?$skiptoken=fresh-initial-state"),
        Reply::json(
            200,
            json!({"@odata.deltaLink": "{BASE}/me/calendarView/delta?$deltatoken=after-resync", "value": []}),
        ),
    ])
    .await;
    let graph = client(&base, fast_policy(3));
    let err = graph
        .delta_from(&format!("{base}/me/calendarView/delta?$deltatoken=old"))
        .await
        .expect_err("410");
    assert!(err.is_resync_required() && !err.is_retryable(), "{err:?}");
    let location = err.resync_location().expect("Location kept").to_owned();
    assert_eq!(
        location,
        format!("{base}/me/calendarView/delta?$skiptoken=fresh-initial-state")
    );
    assert!(
        !format!("{err}").contains("fresh-initial-state"),
        "Display stays free of state tokens"
    );
    assert_eq!(fake.seen().len(), 1, "not retried");

    let round = graph
        .delta_from(&location)
        .await
        .expect("resync from the Location");
    assert!(round.delta_link.ends_with("after-resync"));
}

#[tokio::test]
async fn links_to_other_origins_are_refused_so_the_token_stays_home() {
    let (base, fake) = start(vec![Reply::json(
        200,
        json!({"@odata.nextLink": "https://evil.example/v1.0/me/calendarView/delta?$skiptoken=x", "value": []}),
    )])
    .await;
    let graph = client(&base, RetryPolicy::never());
    let (start, end) = window();
    let err = graph
        .calendar_view_delta(None, start, end)
        .await
        .expect_err("foreign link");
    assert!(matches!(err, GraphError::InvalidInput(_)), "{err:?}");
    assert!(matches!(
        graph.delta_from("https://evil.example/v1.0/x").await,
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        graph.delta_from("not a url").await,
        Err(GraphError::InvalidInput(_))
    ));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn bad_inputs_are_refused_locally() {
    let (base, fake) = start(vec![]).await;
    let graph = client(&base, RetryPolicy::never());
    assert!(matches!(
        graph.get_event("", None).await,
        Err(GraphError::InvalidInput(_))
    ));
    assert!(matches!(
        graph.delete_event("..", None).await,
        Err(GraphError::InvalidInput(_))
    ));
    let (start, end) = window();
    assert!(matches!(
        graph.instances("m", end, start).await,
        Err(GraphError::InvalidInput(_))
    ));
    assert!(fake.seen().is_empty());

    let tokens: Arc<dyn AccessTokenSource> = Arc::new(StaticAccessToken::new(ACCESS_TOKEN));
    let bad = GraphClientConfig {
        base_url: "not a url".into(),
        ..GraphClientConfig::default()
    };
    assert!(matches!(
        GraphClient::new(bad, tokens.clone()),
        Err(GraphError::InvalidInput(_))
    ));
    let bad = GraphClientConfig {
        time_zone_preference: "UTC\", x=\"y".into(),
        ..GraphClientConfig::default()
    };
    assert!(matches!(
        GraphClient::new(bad, tokens.clone()),
        Err(GraphError::InvalidInput(_))
    ));
    let graph = GraphClient::new(GraphClientConfig::default(), tokens).expect("client");
    assert_eq!(graph.base_url().as_str(), format!("{DEFAULT_BASE_URL}/"));
}

// ---------------------------------------------------------------------------------------------
// Wire round-trips
// ---------------------------------------------------------------------------------------------

/// Parses `value` as `T` and checks it serialises back to exactly the same JSON.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> T {
    let parsed: T = serde_json::from_value(value.clone()).expect("parses");
    let back = serde_json::to_value(&parsed).expect("serialises");
    assert_eq!(back, value, "round-trip changed the JSON");
    parsed
}

#[test]
fn series_master_with_patterned_recurrence_round_trips() {
    let event: Event = round_trip(json!({
        "@odata.etag": "W/\"DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0aA==\"",
        "id": MASTER_ID,
        "createdDateTime": "2026-02-20T09:00:01.2345678Z",
        "lastModifiedDateTime": "2026-02-20T09:05:02.1234567Z",
        "changeKey": "DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0aA==",
        "categories": [],
        "transactionId": "almanac-0191c6a2-7a2e-7000-8000-000000000001",
        "originalStartTimeZone": "Eastern Standard Time",
        "originalEndTimeZone": "Eastern Standard Time",
        "iCalUId": "040000008200E00074C5B7101A82E00800000000D0B2A1C2F3A7DC01000000000000000010000000",
        "reminderMinutesBeforeStart": 15, "isReminderOn": true,
        "subject": "Standup", "bodyPreview": "Daily sync",
        "importance": "normal", "sensitivity": "normal",
        "isAllDay": false, "isCancelled": false, "isOrganizer": true,
        "showAs": "busy", "type": "seriesMaster",
        "webLink": "https://outlook.office365.com/owa/?itemid=AAkALg&exvsurl=1&path=/calendar/item",
        "body": {"contentType": "html", "content": "<html><body>Daily sync</body></html>"},
        "start": {"dateTime": "2026-03-02T14:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T14:15:00.0000000", "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                        "daysOfWeek": ["monday", "wednesday", "friday"], "firstDayOfWeek": "monday", "index": "first"},
            "range": {"type": "endDate", "startDate": "2026-03-02", "endDate": "2026-06-30",
                      "recurrenceTimeZone": "Eastern Standard Time", "numberOfOccurrences": 0}
        },
        "organizer": {"emailAddress": {"name": "Ada Lovelace", "address": "ada@contoso.com"}},
        "cancelledOccurrences": ["OID.AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AhOj8dy7ZsUO-tOnvlH7W3QAAAgENAAAA.2026-03-04"],
        "singleValueExtendedProperties": [
            {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac.series", "value": "0191c6a2"}
        ]
    }));
    assert!(event.is_series_master() && !event.is_instance());
    assert_eq!(event.event_type, Some(EventType::SeriesMaster));
    assert_eq!(event.show_as, Some(FreeBusyStatus::Busy));
    assert_eq!(
        event
            .recurrence
            .as_ref()
            .and_then(|r| r["pattern"]["type"].as_str()),
        Some("weekly")
    );
    assert_eq!(
        event
            .extended_property("string {66F5A359-4659-4830-9070-00047EC6AC6E} name almanac.series"),
        Some("0191c6a2")
    );
    let start = event.start.as_ref().expect("start");
    assert_eq!(
        start.to_utc(),
        Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).single()
    );
    let created = event.created_date_time.as_ref().expect("created");
    assert_eq!(created.as_str(), "2026-02-20T09:00:01.2345678Z");
    assert_eq!(created.to_utc().timestamp_subsec_nanos(), 234_567_800);
}

#[test]
fn delta_page_with_skeletal_occurrence_exception_and_removed_item_round_trips() {
    let page: DeltaPage = round_trip(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=R0usmcMDNGg0J1E",
        "value": [
            {
                "@odata.type": "#microsoft.graph.event",
                "@odata.etag": "W/\"DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0bQ==\"",
                "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AhOj8dy7ZsUO-tOnvlH7W3QAAAgENAAAA=occ1",
                "seriesMasterId": MASTER_ID,
                "type": "occurrence",
                "start": {"dateTime": "2026-03-04T14:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-04T14:15:00.0000000", "timeZone": "UTC"}
            },
            {
                "@odata.type": "#microsoft.graph.event",
                "@odata.etag": "W/\"DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0bg==\"",
                "id": "exc1", "changeKey": "DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0bg==",
                "type": "exception", "seriesMasterId": MASTER_ID,
                "originalStart": "2026-03-06T14:00:00Z", "subject": "Standup (moved)",
                "start": {"dateTime": "2026-03-06T16:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-06T16:15:00.0000000", "timeZone": "UTC"}
            },
            {"@odata.type": "#microsoft.graph.event", "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-gone", "@removed": {"reason": "deleted"}}
        ]
    }));
    assert_eq!(page.next_link, None);
    assert!(page
        .delta_link
        .as_deref()
        .is_some_and(|l| l.contains("$deltatoken=")));
    let [occurrence, exception, removed] = &page.value[..] else {
        panic!("three items")
    };
    assert!(
        occurrence.is_instance()
            && occurrence.subject.is_none()
            && occurrence.original_start.is_none()
    );
    assert_eq!(occurrence.series_master_id.as_deref(), Some(MASTER_ID));
    assert_eq!(exception.event_type, Some(EventType::Exception));
    assert_eq!(
        exception.original_start.as_ref().map(|t| t.to_utc()),
        Utc.with_ymd_and_hms(2026, 3, 6, 14, 0, 0).single()
    );
    assert!(
        removed.is_removed()
            && removed.removed.as_ref().and_then(|r| r.reason.as_deref()) == Some("deleted")
    );

    // Graph's explicit nulls decode as absent; unknown members and values do not break decoding.
    let event: Event = serde_json::from_value(json!({
        "id": "x", "recurrence": null, "transactionId": null, "seriesMasterId": null,
        "type": "someFutureType", "showAs": "workingElsewhere", "attendees": [], "locations": [],
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    }))
    .expect("decodes");
    assert_eq!(event.recurrence, None);
    assert_eq!(
        event.event_type,
        Some(EventType::Other("someFutureType".into()))
    );
    assert_eq!(event.show_as, Some(FreeBusyStatus::WorkingElsewhere));
    assert_eq!(
        serde_json::to_value(&event).expect("serialises")["type"],
        "someFutureType"
    );
    // A malformed instant is a decoding error, not a silently wrong value.
    assert!(serde_json::from_value::<Event>(json!({"originalStart": "2026-03-06 14:00"})).is_err());
}

#[test]
fn change_notification_collection_with_a_lifecycle_event_round_trips() {
    let collection: ChangeNotificationCollection = round_trip(json!({"value": [
        {
            "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "subscriptionExpirationDateTime": "2026-03-08T18:23:45.9356913Z",
            "changeType": "updated",
            "resource": "Users/48d31887-5fad-4d73-a9f5-3c356e68a038/Events/AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": "Users/48d31887-5fad-4d73-a9f5-3c356e68a038/Events/AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A",
                "@odata.etag": "W/\"DwAAABYAAACE6Px3LtmxQ764/6e+Ufta3QAAAAC0aA==\"",
                "id": "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A"
            },
            "clientState": "client-state-secret-value",
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"
        },
        {
            "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "subscriptionExpirationDateTime": "2026-03-08T18:23:45.9356913Z",
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "clientState": "client-state-secret-value",
            "lifecycleEvent": "reauthorizationRequired"
        }
    ]}));
    let [change, lifecycle] = &collection.value[..] else {
        panic!("two notifications")
    };
    assert_eq!(change.change_type, Some(ChangeType::Updated));
    assert!(!change.is_lifecycle() && change.client_state_matches("client-state-secret-value"));
    assert_eq!(
        change.resource_data.as_ref().and_then(|d| d.id.as_deref()),
        Some("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A")
    );
    assert!(lifecycle.is_lifecycle());
    assert_eq!(
        lifecycle.lifecycle_event,
        Some(LifecycleEventType::ReauthorizationRequired)
    );
    assert!(
        !format!("{collection:?}").contains("client-state-secret-value"),
        "clientState is redacted in Debug"
    );

    let missed: ChangeNotificationCollection = round_trip(
        json!({"value": [{"subscriptionId": "s", "lifecycleEvent": "missed"}], "validationTokens": ["eyJ0eXAi"]}),
    );
    assert_eq!(
        missed.value[0].lifecycle_event,
        Some(LifecycleEventType::Missed)
    );
}

#[test]
fn error_envelope_calendar_user_and_subscription_round_trip() {
    let error: GraphErrorResponse = round_trip(json!({"error": {
        "code": "ErrorOccurrenceCrossingBoundary",
        "message": "Cannot reschedule an occurrence of the recurring appointment if it skips over a later occurrence.",
        "innerError": {"date": "2026-03-02T10:00:00", "request-id": "6b1c0f4e-0000-4000-8000-000000000001",
                       "client-request-id": "6b1c0f4e-0000-4000-8000-000000000002", "somethingNew": {"a": 1}}
    }}));
    assert_eq!(
        error.error.code.as_deref(),
        Some("ErrorOccurrenceCrossingBoundary")
    );
    let inner = error.error.inner_error.as_ref().expect("innerError");
    assert_eq!(
        inner.request_id.as_deref(),
        Some("6b1c0f4e-0000-4000-8000-000000000001")
    );

    let calendar: Calendar = round_trip(json!({
        "id": "AAMkAGI2TGuLAAA=", "name": "Calendar", "color": "auto", "hexColor": "", "isDefaultCalendar": true,
        "changeKey": "nfZyf7VcrEKLNoU37KWlkQAAA0x0+w==", "canShare": true, "canViewPrivateItems": true,
        "canEdit": true, "isRemovable": false, "owner": {"name": "Ada Lovelace", "address": "ada@contoso.com"}
    }));
    assert!(calendar.is_writable());

    let user: User = round_trip(
        json!({"id": "48d31887-5fad-4d73-a9f5-3c356e68a038", "displayName": "Ada Lovelace",
        "userPrincipalName": "ada@contoso.com", "mail": "ada@contoso.com"}),
    );
    assert_eq!(user.mail.as_deref(), Some("ada@contoso.com"));

    let subscription: Subscription = round_trip(json!({
        "id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "resource": "me/events", "changeType": "created,updated,deleted",
        "clientState": "secret", "notificationUrl": "https://almanac.example/hooks/graph?org=7",
        "expirationDateTime": "2026-03-08T18:23:45.9356913Z", "includeResourceData": false,
        "applicationId": "24d3b144-21ae-4080-943f-7067b395b913", "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
        "latestSupportedTlsVersion": "v1_2"
    }));
    assert!(!format!("{subscription:?}").contains("\"secret\""));
}

#[test]
fn secret_strings_never_print() {
    let secret = SecretString::new(ACCESS_TOKEN);
    assert_eq!(format!("{secret:?}"), "SecretString([redacted])");
}
