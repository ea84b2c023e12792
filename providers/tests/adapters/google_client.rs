//! Google Calendar client: error classification, retries, 401 → refresh, Retry-After, jitter
//! bounds and request shapes against a tiny scripted axum fake (not an emulator: it replays canned
//! responses in order and records what it received), plus serde round-trips of the wire types.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use almanac_providers::google::wire::{
    CalendarList, Channel, ErrorResponse, Event, EventDateTime, EventStatus, Events, Transparency,
};
use almanac_providers::google::{
    AccessTokenSource, GoneReason, GoogleCalendarClient, GoogleClientConfig, GoogleError,
    InstancesQuery, ListQuery, SecretString, StaticAccessToken, TokenSourceError,
};
use almanac_providers::retry::RetryPolicy;
use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Scripted fake
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Reply {
    status: u16,
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

    fn error(status: u16, reason: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"error": {"errors": [{"domain": "global", "reason": reason, "message": message}], "code": status, "message": message}}),
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
    query: Vec<(String, String)>,
    authorization: Option<String>,
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
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn replay(State(fake): State<Arc<Fake>>, request: Request) -> Response {
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
        query: url_pairs(parts.uri.query().unwrap_or_default()),
        authorization: header("authorization"),
        if_match: header("if-match"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&bytes).ok(),
    });
    let reply = fake.script.lock().expect("lock").pop_front();
    let Some(reply) = reply else {
        return Response::builder()
            .status(599)
            .body(Body::from("unscripted request"))
            .unwrap_or_default();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
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

/// Starts the fake on port 0 with `script`; returns its base URL (with the real service's path
/// prefix, to check the client keeps it) and the fake.
async fn start(script: Vec<Reply>) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        script: Mutex::new(script.into()),
        seen: Mutex::default(),
    });
    let app = Router::new().fallback(replay).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/calendar/v3/"), fake)
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
    }
}

fn client_with(
    base_url: &str,
    retry: RetryPolicy,
    tokens: Arc<dyn AccessTokenSource>,
) -> GoogleCalendarClient {
    let config = GoogleClientConfig {
        base_url: base_url.to_owned(),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        retry,
    };
    GoogleCalendarClient::new(config, tokens).expect("client")
}

const ACCESS_TOKEN: &str = "ya29.a0AfH6SMBx-very-secret-access-token";

fn client(base_url: &str, retry: RetryPolicy) -> GoogleCalendarClient {
    client_with(
        base_url,
        retry,
        Arc::new(StaticAccessToken::new(ACCESS_TOKEN)),
    )
}

/// Hands out `ya29.secret-N`; a rejection of the current token moves to N+1 (single-flight style).
#[derive(Default)]
struct RotatingTokens {
    generation: Mutex<u32>,
    rejected: Mutex<Vec<String>>,
}

impl RotatingTokens {
    fn token(generation: u32) -> String {
        format!("ya29.secret-{generation}")
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

fn event_json(id: &str) -> Value {
    json!({
        "kind": "calendar#event", "etag": "\"3181161784712000\"", "id": id, "status": "confirmed",
        "summary": "Standup", "start": {"dateTime": "2026-03-02T09:00:00-05:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2026-03-02T09:15:00-05:00", "timeZone": "America/New_York"}
    })
}

fn sample_event(id: Option<&str>) -> Event {
    let tz = chrono::FixedOffset::west_opt(5 * 3600).expect("offset");
    let start = tz
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("time");
    Event {
        id: id.map(str::to_owned),
        summary: Some("Standup".into()),
        start: Some(EventDateTime::timed(start, Some("America/New_York"))),
        end: Some(EventDateTime::timed(
            start + chrono::Duration::minutes(15),
            Some("America/New_York"),
        )),
        recurrence: Some(vec!["RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR".into()]),
        ..Event::default()
    }
}

const CAL: &str = "team@example.com";

// ---------------------------------------------------------------------------------------------
// Error classification over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn error_envelopes_are_classified() {
    let (base, fake) = start(vec![
        Reply::error(
            410,
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        ),
        Reply::error(412, "conditionNotMet", "Precondition Failed"),
        Reply::error(409, "duplicate", "The requested identifier already exists."),
        Reply::error(410, "deleted", "Resource has been deleted"),
        Reply::error(
            403,
            "forbiddenForNonOrganizer",
            "Shared properties can only be changed by the organizer of the event.",
        ),
        Reply::error(404, "notFound", "Not Found"),
        Reply::error(400, "invalid", "Invalid recurrence rule."),
        Reply::error(403, "quotaExceeded", "Calendar usage limits exceeded."),
    ])
    .await;
    let google = client(&base, RetryPolicy::never());

    let err = google
        .list_events(CAL, &ListQuery::incremental("stale-sync-token"))
        .await
        .expect_err("410");
    assert!(err.is_full_sync_required(), "{err:?}");
    assert!(matches!(
        err,
        GoogleError::Gone {
            reason: GoneReason::FullSyncRequired
        }
    ));

    let patch = Event {
        summary: Some("Renamed".into()),
        ..Event::default()
    };
    let err = google
        .patch_event(CAL, "evt00001", &patch, Some("\"etag-1\""))
        .await
        .expect_err("412");
    assert!(matches!(err, GoogleError::PreconditionFailed), "{err:?}");

    let err = google
        .insert_event(CAL, &sample_event(Some("abc12345")))
        .await
        .expect_err("409");
    assert!(matches!(err, GoogleError::Duplicate), "{err:?}");

    let err = google
        .delete_event(CAL, "evt00001", None)
        .await
        .expect_err("410");
    assert!(
        err.is_already_deleted() && !err.is_full_sync_required(),
        "{err:?}"
    );

    let err = google
        .update_event(CAL, "evt00001", &sample_event(None), None)
        .await
        .expect_err("403");
    assert!(
        matches!(err, GoogleError::Forbidden { ref reason, .. } if reason == "forbiddenForNonOrganizer"),
        "{err:?}"
    );

    let err = google.get_event(CAL, "missing01").await.expect_err("404");
    assert!(matches!(err, GoogleError::NotFound), "{err:?}");

    let err = google
        .insert_event(CAL, &sample_event(None))
        .await
        .expect_err("400");
    assert!(
        matches!(err, GoogleError::BadRequest { ref reason, ref message } if reason == "invalid" && message == "Invalid recurrence rule."),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("403 quota");
    assert!(
        matches!(err, GoogleError::QuotaExceeded { retry_after: None }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    assert_eq!(
        fake.seen().len(),
        8,
        "never retried with RetryPolicy::never"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (base, fake) = start(vec![
        Reply::error(503, "backendError", "Backend Error"),
        Reply::error(500, "backendError", "Backend Error"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    let event = client(&base, fast_policy(3))
        .get_event(CAL, "evt00001")
        .await
        .expect("third attempt succeeds");
    assert_eq!(event.id.as_deref(), Some("evt00001"));
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let (base, fake) = start(vec![Reply::error(503, "backendError", "Backend Error"); 5]).await;
    let err = client(&base, fast_policy(3))
        .get_event(CAL, "evt00001")
        .await
        .expect_err("exhausted");
    assert!(
        matches!(err, GoogleError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable(), "the caller may reschedule");
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let (base, fake) = start(vec![
        Reply::error(400, "timeRangeEmpty", "The specified time range is empty."),
        Reply::error(412, "conditionNotMet", "Precondition Failed"),
    ])
    .await;
    let google = client(&base, fast_policy(5));
    let err = google
        .list_events(CAL, &ListQuery::default())
        .await
        .expect_err("400");
    assert!(matches!(err, GoogleError::BadRequest { .. }));
    let err = google
        .delete_event(CAL, "evt00001", Some("\"e\""))
        .await
        .expect_err("412");
    assert!(matches!(err, GoogleError::PreconditionFailed));
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn rate_limits_403_and_429_are_retried() {
    let (base, fake) = start(vec![
        Reply::error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
        Reply::error(403, "rateLimitExceeded", "Rate Limit Exceeded"),
        Reply::error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    client(&base, fast_policy(4))
        .get_event(CAL, "evt00001")
        .await
        .expect("fourth attempt succeeds");
    assert_eq!(fake.seen().len(), 4);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (base, fake) = start(vec![
        Reply::error(429, "rateLimitExceeded", "Rate Limit Exceeded").header("retry-after", "1"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    };
    let started = Instant::now();
    client(&base, policy)
        .get_event(CAL, "evt00001")
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
        Reply::error(403, "rateLimitExceeded", "Rate Limit Exceeded").header("retry-after", "120"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    let started = Instant::now();
    let err = client(&base, fast_policy(5))
        .get_event(CAL, "evt00001")
        .await
        .expect_err("not slept through");
    assert!(
        matches!(err, GoogleError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(120)),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let (base, fake) = start(vec![
        Reply::json(200, event_json("evt00001")).delayed(Duration::from_millis(800)),
        Reply::json(200, event_json("evt00001")).delayed(Duration::from_millis(800)),
    ])
    .await;
    let config = GoogleClientConfig {
        base_url: base,
        request_timeout: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(1),
        retry: fast_policy(2),
    };
    let google = GoogleCalendarClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN)))
        .expect("client");
    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("timeout");
    assert!(matches!(err, GoogleError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn a_retried_insert_that_had_landed_reports_duplicate() {
    // The first attempt reaches the server but the answer arrives after the client's timeout; the
    // retry then hits the id uniqueness check.
    let (base, fake) = start(vec![
        Reply::json(200, event_json("abcdef0123")).delayed(Duration::from_millis(800)),
        Reply::error(409, "duplicate", "The requested identifier already exists."),
    ])
    .await;
    let config = GoogleClientConfig {
        base_url: base,
        request_timeout: Duration::from_millis(150),
        connect_timeout: Duration::from_secs(1),
        retry: fast_policy(3),
    };
    let google = GoogleCalendarClient::new(config, Arc::new(StaticAccessToken::new(ACCESS_TOKEN)))
        .expect("client");
    let err = google
        .insert_event(CAL, &sample_event(Some("abcdef0123")))
        .await
        .expect_err("duplicate");
    assert!(matches!(err, GoogleError::Duplicate), "{err:?}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body, seen[1].body,
        "the retry resends the same body, same id"
    );
}

#[tokio::test]
async fn an_insert_without_id_is_not_retried_when_it_may_have_landed() {
    let (base, fake) = start(vec![
        Reply::error(503, "backendError", "Backend Error"),
        Reply::json(200, event_json("server0001")),
    ])
    .await;
    let err = client(&base, fast_policy(3))
        .insert_event(CAL, &sample_event(None))
        .await
        .expect_err("503");
    assert!(matches!(err, GoogleError::Server { status: 503, .. }));
    assert_eq!(fake.seen().len(), 1);

    // …but a rate limit proves it was not applied, so that one is retried.
    let (base, fake) = start(vec![
        Reply::error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
        Reply::json(200, event_json("server0001")),
    ])
    .await;
    client(&base, fast_policy(3))
        .insert_event(CAL, &sample_event(None))
        .await
        .expect("retried after 429");
    assert_eq!(fake.seen().len(), 2);
}

#[test]
fn jitter_stays_within_the_truncated_exponential_window() {
    let policy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(1000),
    };
    for retry in 1..=8u32 {
        let cap = policy.backoff_cap(retry);
        assert_eq!(
            cap,
            Duration::from_millis(100 * 2u64.pow(retry - 1)).min(Duration::from_millis(1000))
        );
        let samples: Vec<Duration> = (0..2000).map(|_| policy.backoff_delay(retry)).collect();
        assert!(
            samples.iter().all(|d| *d <= cap),
            "retry {retry}: a delay exceeded {cap:?}"
        );
        let mean = samples.iter().sum::<Duration>().as_secs_f64() / samples.len() as f64;
        // Full jitter is uniform on [0, cap]: the mean is cap/2, and the spread covers both halves.
        assert!(
            (0.4..0.6).contains(&(mean / cap.as_secs_f64())),
            "retry {retry}: mean {mean} for cap {cap:?}"
        );
        assert!(samples.iter().any(|d| *d < cap / 4) && samples.iter().any(|d| *d > cap * 3 / 4));
    }
    // Retry-After is a floor on the jittered delay.
    for _ in 0..200 {
        let delay = policy
            .delay_before_retry(1, Some(Duration::from_millis(500)))
            .expect("within max_delay");
        assert!(
            delay >= Duration::from_millis(500)
                && delay <= Duration::from_millis(500).max(policy.backoff_cap(1))
        );
    }
    assert_eq!(
        policy.delay_before_retry(1, Some(Duration::from_secs(2))),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// 401 → one refresh, one retry; secrets stay out of errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_401_triggers_exactly_one_refresh_and_one_retry() {
    let (base, fake) = start(vec![
        Reply::error(401, "authError", "Invalid Credentials"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    let tokens = Arc::new(RotatingTokens::default());
    // max_attempts 1: the refresh retry is not part of the backoff budget.
    let google = client_with(&base, RetryPolicy::never(), tokens.clone());
    google
        .get_event(CAL, "evt00001")
        .await
        .expect("retry with the refreshed token");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer ya29.secret-0")
    );
    assert_eq!(
        seen[1].authorization.as_deref(),
        Some("Bearer ya29.secret-1")
    );
    assert_eq!(
        *tokens.rejected.lock().expect("lock"),
        vec!["ya29.secret-0".to_owned()]
    );
}

#[tokio::test]
async fn a_second_401_is_unauthorized_and_no_error_text_contains_a_token() {
    let (base, fake) = start(vec![
        Reply::error(401, "authError", "Invalid Credentials"),
        Reply::error(401, "authError", "Invalid Credentials"),
        Reply::json(200, event_json("evt00001")),
    ])
    .await;
    let tokens = Arc::new(RotatingTokens::default());
    let google = client_with(&base, fast_policy(5), tokens.clone());
    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("401 twice");
    assert!(
        matches!(err, GoogleError::Unauthorized) && err.needs_reauthorization(),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.seen().len(), 2, "one retry after one refresh, no more");
    assert_eq!(tokens.rejected.lock().expect("lock").len(), 1);
    let rendered = format!("{err} {err:?} {google:?}");
    assert!(!rendered.contains("ya29"), "{rendered}");
}

#[tokio::test]
async fn token_source_failures_are_surfaced_without_calling_google() {
    let (base, fake) = start(vec![]).await;
    let dead = TokenSourceError::ReauthorizationRequired {
        description: "Token has been expired or revoked.".into(),
    };
    let google = client_with(&base, fast_policy(3), Arc::new(FailingTokens(dead)));
    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("no token");
    assert!(
        err.needs_reauthorization() && !err.is_retryable(),
        "{err:?}"
    );

    let down = TokenSourceError::Unavailable("token endpoint answered HTTP 503".into());
    let google = client_with(&base, fast_policy(3), Arc::new(FailingTokens(down)));
    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("no token");
    assert!(
        matches!(err, GoogleError::Token(TokenSourceError::Unavailable(_))) && err.is_retryable()
    );
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn transport_errors_do_not_mention_the_token() {
    // Nothing listens on this port (bound, then dropped).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let google = client(&format!("http://{addr}/calendar/v3/"), fast_policy(2));
    let err = google
        .get_event(CAL, "evt00001")
        .await
        .expect_err("connection refused");
    assert!(matches!(err, GoogleError::Transport(_)), "{err:?}");
    let rendered = format!("{err} {err:?}");
    assert!(
        !rendered.contains(ACCESS_TOKEN) && !rendered.contains("ya29"),
        "{rendered}"
    );
}

// ---------------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn requests_have_the_documented_shape() {
    let (base, fake) = start(vec![
        Reply::json(200, event_json("abcdef0123")),
        Reply::json(200, event_json("abcdef0123")),
        Reply::json(200, event_json("abcdef0123")),
        Reply::json(200, event_json("abcdef0123")),
        Reply::empty(204),
        Reply::json(200, json!({"kind": "calendar#events", "items": [event_json("abcdef0123_20260304T140000Z")]})),
        Reply::json(200, json!({"kind": "calendar#events", "items": [], "nextSyncToken": "sync-1"})),
    ])
    .await;
    let google = client(&base, RetryPolicy::never());
    let holiday_calendar = "en.usa#holiday@group.v.calendar.google.com";

    google
        .insert_event(holiday_calendar, &sample_event(Some("abcdef0123")))
        .await
        .expect("insert");
    google.get_event(CAL, "abcdef0123").await.expect("get");
    let patch = json!({"start": {"date": "2026-03-02", "dateTime": null}, "end": {"date": "2026-03-03", "dateTime": null}});
    google
        .patch_event(CAL, "abcdef0123", &patch, Some("\"etag-7\""))
        .await
        .expect("patch");
    google
        .update_event(CAL, "abcdef0123", &sample_event(Some("abcdef0123")), None)
        .await
        .expect("update");
    google
        .delete_event(CAL, "abcdef0123", Some("\"etag-8\""))
        .await
        .expect("delete");
    let original = Utc
        .with_ymd_and_hms(2026, 3, 4, 14, 0, 0)
        .single()
        .expect("time");
    let found = google
        .find_instance(CAL, "abcdef0123", &EventDateTime::timed(original, None))
        .await
        .expect("instances")
        .expect("one instance");
    assert_eq!(found.id.as_deref(), Some("abcdef0123_20260304T140000Z"));
    let query = ListQuery {
        single_events: Some(false),
        show_deleted: Some(true),
        time_min: Some(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
        ),
        max_results: Some(2500),
        private_extended_property: vec!["almanac=1".into(), "org=7".into()],
        ..ListQuery::default()
    };
    google.list_events(CAL, &query).await.expect("list");

    let seen = fake.seen();
    for s in &seen {
        assert_eq!(
            s.authorization.as_deref(),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
    }
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].path,
        "/calendar/v3/calendars/en.usa%23holiday@group.v.calendar.google.com/events"
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    let body = seen[0].body.as_ref().expect("json body");
    assert_eq!(body["id"], "abcdef0123");
    assert_eq!(
        body["start"],
        json!({"dateTime": "2026-03-02T09:00:00-05:00", "timeZone": "America/New_York"})
    );
    assert_eq!(
        body["recurrence"],
        json!(["RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR"])
    );
    assert!(
        body.get("etag").is_none() && body.get("status").is_none(),
        "None fields are omitted: {body}"
    );

    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        (
            "GET",
            "/calendar/v3/calendars/team@example.com/events/abcdef0123"
        )
    );
    assert_eq!(seen[1].if_match, None);
    assert_eq!(seen[2].method, "PATCH");
    assert_eq!(seen[2].if_match.as_deref(), Some("\"etag-7\""));
    assert_eq!(
        seen[2].body.as_ref().expect("body")["start"],
        json!({"date": "2026-03-02", "dateTime": null})
    );
    assert_eq!(seen[3].method, "PUT");
    assert_eq!(seen[4].method, "DELETE");
    assert_eq!(seen[4].if_match.as_deref(), Some("\"etag-8\""));
    assert_eq!(
        seen[5].path,
        "/calendar/v3/calendars/team@example.com/events/abcdef0123/instances"
    );
    assert_eq!(seen[5].query("originalStart"), Some("2026-03-04T14:00:00Z"));
    assert_eq!(seen[5].query("showDeleted"), Some("true"));
    assert_eq!(seen[6].query("singleEvents"), Some("false"));
    assert_eq!(seen[6].query("timeMin"), Some("2026-01-01T00:00:00Z"));
    assert_eq!(seen[6].query("maxResults"), Some("2500"));
    let props: Vec<&str> = seen[6]
        .query
        .iter()
        .filter(|(k, _)| k == "privateExtendedProperty")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(props, vec!["almanac=1", "org=7"]);
}

#[tokio::test]
async fn list_all_events_follows_pages_to_the_sync_token() {
    let (base, fake) = start(vec![
        Reply::json(
            200,
            json!({"items": [event_json("evt00001")], "nextPageToken": "p2"}),
        ),
        // Google may return an empty page that still has a next page.
        Reply::json(200, json!({"items": [], "nextPageToken": "p3"})),
        Reply::json(
            200,
            json!({"items": [event_json("evt00002")], "nextSyncToken": "sync-2"}),
        ),
    ])
    .await;
    let (items, sync_token) = client(&base, RetryPolicy::never())
        .list_all_events(CAL, &ListQuery::incremental("sync-1"))
        .await
        .expect("list");
    assert_eq!(
        items
            .iter()
            .filter_map(|e| e.id.as_deref())
            .collect::<Vec<_>>(),
        vec!["evt00001", "evt00002"]
    );
    assert_eq!(sync_token.as_deref(), Some("sync-2"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    // Every page request repeats the same parameters plus the page token.
    assert!(seen.iter().all(|s| s.query("syncToken") == Some("sync-1")));
    assert_eq!(
        seen.iter()
            .map(|s| s.query("pageToken"))
            .collect::<Vec<_>>(),
        vec![None, Some("p2"), Some("p3")]
    );
}

#[tokio::test]
async fn a_sync_token_invalidated_mid_pagination_asks_for_a_full_sync() {
    let (base, _) = start(vec![
        Reply::json(
            200,
            json!({"items": [event_json("evt00001")], "nextPageToken": "p2"}),
        ),
        Reply::error(
            410,
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        ),
    ])
    .await;
    let err = client(&base, RetryPolicy::never())
        .list_all_events(CAL, &ListQuery::incremental("sync-1"))
        .await
        .expect_err("410");
    assert!(err.is_full_sync_required());
}

#[tokio::test]
async fn watch_stop_and_calendar_list() {
    let (base, fake) = start(vec![
        Reply::json(200, json!({
            "kind": "api#channel", "id": "0191c6a2-channel", "resourceId": "o3hgv1538sdjfh",
            "resourceUri": "https://www.googleapis.com/calendar/v3/calendars/team@example.com/events?alt=json",
            "token": "channel-verification-secret", "expiration": "1767225600000"
        })),
        Reply::empty(204),
        Reply::json(200, json!({"kind": "calendar#calendarList", "items": [{"id": CAL, "accessRole": "owner", "primary": true}], "nextPageToken": "c2"})),
        Reply::json(200, json!({"kind": "calendar#calendarList", "items": [{"id": "en.usa#holiday@group.v.calendar.google.com", "accessRole": "reader"}], "nextSyncToken": "cs"})),
    ])
    .await;
    let google = client(&base, RetryPolicy::never());
    let mut request = Channel::web_hook(
        "0191c6a2-channel",
        "https://almanac.example/hooks/google",
        Some("channel-verification-secret".into()),
    );
    request.params = Some([("ttl".to_owned(), "604800".to_owned())].into());
    let channel = google.watch(CAL, &request).await.expect("watch");
    assert_eq!(channel.resource_id.as_deref(), Some("o3hgv1538sdjfh"));
    assert_eq!(channel.expiration, Some(1_767_225_600_000));
    assert_eq!(
        channel.expires_at(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single()
    );
    assert!(!format!("{channel:?}").contains("channel-verification-secret"));
    google
        .stop_channel("0191c6a2-channel", "o3hgv1538sdjfh")
        .await
        .expect("stop");
    let calendars = google.calendar_list().await.expect("calendar list");
    assert_eq!(calendars.len(), 2);
    assert!(calendars[0].is_writable() && !calendars[1].is_writable());

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        (
            "POST",
            "/calendar/v3/calendars/team@example.com/events/watch"
        )
    );
    assert_eq!(
        seen[0].body,
        Some(
            json!({"id": "0191c6a2-channel", "type": "web_hook", "address": "https://almanac.example/hooks/google",
                    "token": "channel-verification-secret", "params": {"ttl": "604800"}})
        )
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("POST", "/calendar/v3/channels/stop")
    );
    assert_eq!(
        seen[1].body,
        Some(json!({"id": "0191c6a2-channel", "resourceId": "o3hgv1538sdjfh"}))
    );
    assert_eq!(seen[2].path, "/calendar/v3/users/me/calendarList");
    assert_eq!(seen[3].query("pageToken"), Some("c2"));
}

#[test]
fn bad_inputs_are_refused_locally() {
    let tokens: Arc<dyn AccessTokenSource> = Arc::new(StaticAccessToken::new(ACCESS_TOKEN));
    let config = GoogleClientConfig {
        base_url: "not a url".into(),
        ..GoogleClientConfig::default()
    };
    assert!(matches!(
        GoogleCalendarClient::new(config, tokens.clone()),
        Err(GoogleError::InvalidInput(_))
    ));
    // A base without a trailing slash keeps its last segment.
    let config = GoogleClientConfig {
        base_url: "http://127.0.0.1:9/calendar/v3".into(),
        ..GoogleClientConfig::default()
    };
    let google = GoogleCalendarClient::new(config, tokens).expect("client");
    assert_eq!(
        google.base_url().as_str(),
        "http://127.0.0.1:9/calendar/v3/"
    );
}

#[tokio::test]
async fn empty_ids_are_refused_without_a_request() {
    let (base, fake) = start(vec![]).await;
    let google = client(&base, RetryPolicy::never());
    assert!(matches!(
        google.get_event(CAL, "").await,
        Err(GoogleError::InvalidInput(_))
    ));
    assert!(matches!(
        google.get_event("..", "abc").await,
        Err(GoogleError::InvalidInput(_))
    ));
    let query = InstancesQuery {
        original_start: Some(EventDateTime::default()),
        ..InstancesQuery::default()
    };
    assert!(matches!(
        google.instances(CAL, "abc01", &query).await,
        Err(GoogleError::InvalidInput(_))
    ));
    assert!(fake.seen().is_empty());
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
fn all_day_event_round_trips() {
    let event: Event = round_trip(json!({
        "kind": "calendar#event", "etag": "\"3298765432100000\"", "id": "q3d2f4n6ug1b7v8o9m0k",
        "status": "confirmed", "htmlLink": "https://www.google.com/calendar/event?eid=cTNk",
        "created": "2026-02-01T12:00:00.000Z", "updated": "2026-02-01T12:00:00.123Z",
        "summary": "Offsite", "start": {"date": "2026-06-01"}, "end": {"date": "2026-06-03"},
        "transparency": "transparent", "iCalUID": "q3d2f4n6ug1b7v8o9m0k@google.com", "sequence": 0,
        "reminders": {"useDefault": true}, "eventType": "default"
    }));
    let start = event.start.as_ref().expect("start");
    assert!(start.is_all_day());
    assert_eq!(start.date, NaiveDate::from_ymd_opt(2026, 6, 1));
    assert_eq!(
        event.end.as_ref().and_then(|e| e.date),
        NaiveDate::from_ymd_opt(2026, 6, 3)
    );
    assert_eq!(event.transparency, Some(Transparency::Transparent));
    assert_eq!(
        event.updated.as_ref().map(|u| u.as_str()),
        Some("2026-02-01T12:00:00.123Z")
    );
    assert!(!event.is_recurring_parent() && !event.is_instance());
}

#[test]
fn recurring_event_with_time_zone_round_trips() {
    // The recurring-events guide's example, plus Almanac's private marker.
    let event: Event = round_trip(json!({
        "id": "almanac0series0001", "summary": "Appointment", "location": "Somewhere",
        "start": {"dateTime": "2011-06-03T10:00:00.000-07:00", "timeZone": "America/Los_Angeles"},
        "end": {"dateTime": "2011-06-03T10:25:00.000-07:00", "timeZone": "America/Los_Angeles"},
        "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20110701T170000Z", "EXDATE;TZID=America/Los_Angeles:20110610T100000"],
        "extendedProperties": {"private": {"almanac.series": "0191c6a2", "almanac.org": "7"}, "shared": {}},
        "organizer": {"email": "me@example.com", "self": true}, "sequence": 2
    }));
    assert!(event.is_recurring_parent());
    assert_eq!(event.recurrence_lines().len(), 2);
    assert_eq!(event.private_property("almanac.series"), Some("0191c6a2"));
    let start = event
        .start
        .as_ref()
        .and_then(|s| s.date_time.as_ref())
        .expect("dateTime");
    assert_eq!(start.as_str(), "2011-06-03T10:00:00.000-07:00");
    assert_eq!(
        start.to_utc(),
        Utc.with_ymd_and_hms(2011, 6, 3, 17, 0, 0)
            .single()
            .expect("time")
    );
    assert_eq!(start.as_fixed().offset().local_minus_utc(), -7 * 3600);
    assert_eq!(event.organizer.as_ref().and_then(|o| o.is_self), Some(true));
}

#[test]
fn cancelled_instance_with_only_identity_fields_round_trips() {
    let event: Event = round_trip(json!({
        "kind": "calendar#event", "etag": "\"3181161784712000\"", "id": "almanac0series0001_20110610T170000Z",
        "status": "cancelled", "recurringEventId": "almanac0series0001",
        "originalStartTime": {"dateTime": "2011-06-10T10:00:00-07:00", "timeZone": "America/Los_Angeles"}
    }));
    assert!(event.is_cancelled() && event.is_instance());
    assert_eq!(event.start, None);
    let original = event
        .original_start_time
        .as_ref()
        .expect("originalStartTime");
    assert_eq!(
        original.as_query_value().as_deref(),
        Some("2011-06-10T10:00:00-07:00")
    );

    // All-day series: originalStartTime carries a date.
    let event: Event = round_trip(
        json!({"id": "x", "status": "cancelled", "recurringEventId": "p", "originalStartTime": {"date": "2026-03-09"}}),
    );
    assert_eq!(
        event
            .original_start_time
            .and_then(|o| o.as_query_value())
            .as_deref(),
        Some("2026-03-09")
    );
}

#[test]
fn events_pages_round_trip() {
    let last: Events = round_trip(json!({
        "kind": "calendar#events", "etag": "\"p33g9b1pkvbvfg0g\"", "summary": "team@example.com",
        "description": "", "updated": "2026-03-01T08:00:00.512Z", "timeZone": "Europe/Berlin",
        "accessRole": "owner", "defaultReminders": [{"method": "popup", "minutes": 10}],
        "nextSyncToken": "CPDAlvWDx70CEPDAlvWDx70CGAU=",
        "items": [
            {"id": "evt00001", "status": "confirmed", "start": {"dateTime": "2026-03-02T09:00:00+01:00"}, "end": {"dateTime": "2026-03-02T10:00:00+01:00"}},
            {"id": "evt00002", "status": "cancelled"}
        ]
    }));
    assert_eq!(
        last.next_sync_token.as_deref(),
        Some("CPDAlvWDx70CEPDAlvWDx70CGAU=")
    );
    assert_eq!(last.next_page_token, None);
    assert_eq!(last.items.len(), 2);
    assert_eq!(last.items[1].status, Some(EventStatus::Cancelled));

    let middle: Events = round_trip(
        json!({"kind": "calendar#events", "nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA", "items": []}),
    );
    assert!(middle.items.is_empty() && middle.next_page_token.is_some());

    // `items` missing altogether is read as empty.
    let bare: Events = serde_json::from_value(json!({"nextSyncToken": "s"})).expect("parses");
    assert!(bare.items.is_empty());
}

#[test]
fn unknown_values_and_fields_do_not_break_decoding() {
    let event: Event = serde_json::from_value(json!({
        "id": "evt00001", "status": "someFutureStatus", "transparency": "opaque",
        "attendees": [{"email": "a@example.com"}], "conferenceData": {"entryPoints": []},
        "eventType": "birthday"
    }))
    .expect("unknown fields are ignored");
    assert_eq!(
        event.status,
        Some(EventStatus::Other("someFutureStatus".into()))
    );
    assert_eq!(
        serde_json::to_value(&event).expect("serialises")["status"],
        "someFutureStatus"
    );
    assert_eq!(event.event_type.as_deref(), Some("birthday"));
    // A malformed timestamp is a decoding error, not a silently wrong value.
    assert!(
        serde_json::from_value::<Event>(json!({"start": {"dateTime": "2026-03-02 09:00"}}))
            .is_err()
    );
}

#[test]
fn channel_calendar_list_and_error_envelope_round_trip() {
    let channel: Channel = round_trip(json!({
        "kind": "api#channel", "id": "01234567-89ab-cdef-0123456789ab", "resourceId": "o3hgv1538sdjfh",
        "resourceUri": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        "token": "target=myApp-myCalendarChannelDest", "expiration": "1426325213000", "type": "web_hook",
        "address": "https://mydomain.com/notifications", "params": {"ttl": "604800"}, "payload": false
    }));
    assert_eq!(channel.expiration, Some(1_426_325_213_000));
    // A numeric expiration is accepted too, and written back as Google's string form.
    let numeric: Channel =
        serde_json::from_value(json!({"expiration": 1426325213000i64})).expect("parses");
    assert_eq!(
        serde_json::to_value(&numeric).expect("serialises"),
        json!({"expiration": "1426325213000"})
    );

    let list: CalendarList = round_trip(json!({
        "kind": "calendar#calendarList", "etag": "\"p32c\"", "nextSyncToken": "CKC",
        "items": [{
            "kind": "calendar#calendarListEntry", "etag": "\"1\"", "id": "team@example.com", "summary": "Team",
            "timeZone": "Europe/Berlin", "colorId": "14", "backgroundColor": "#9fe1e7", "foregroundColor": "#000000",
            "selected": true, "accessRole": "owner", "defaultReminders": [], "primary": true
        }]
    }));
    assert_eq!(list.items[0].time_zone.as_deref(), Some("Europe/Berlin"));

    let error: ErrorResponse = round_trip(json!({"error": {
        "errors": [{"domain": "calendar", "reason": "fullSyncRequired", "message": "Sync token is no longer valid, a full sync is required.", "locationType": "parameter", "location": "syncToken"}],
        "code": 410, "message": "Sync token is no longer valid, a full sync is required."
    }}));
    assert_eq!(error.error.reason(), Some("fullSyncRequired"));
    assert_eq!(error.error.code, Some(410));
}

#[test]
fn secret_strings_never_print() {
    let secret = SecretString::new(ACCESS_TOKEN);
    assert_eq!(format!("{secret:?}"), "SecretString([redacted])");
    let map: HashMap<&str, SecretString> = [("t", secret)].into();
    assert!(!format!("{map:?}").contains("ya29"));
}
