//! HTTP surface: routes, the API gate (auth → quota → faults) and the request log.

use super::config::{FaultKind, GoogleEmulatorConfig};
use super::error::{ApiError, ApiResult};
use super::list::{list_events, list_instances};
use super::oauth::{self, Auth, Need};
use super::quota::fault_error;
use super::state::{etag_matches, State, WriteOpts};
use super::util::parse_form;
use super::watch::{self, NotificationRecord};
use crate::control::{Control, Fault, RequestRecord, Served};
use crate::server::{run_faulted, with_note, Note};
use crate::util::relock;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The Google emulator's server state, shared by handlers, channel tasks and the public handle.
pub struct App {
    pub(crate) state: Mutex<State>,
    pub(crate) control: Control<FaultKind, NotificationRecord>,
    pub(crate) http: reqwest::Client,
    /// Channel timers wait on it, so expiry follows [`crate::Emulator::advance_clock`].
    pub(crate) clock_changed: Notify,
}

impl App {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }
}

impl Served for App {
    type Config = GoogleEmulatorConfig;
    type Fault = FaultKind;
    type Notification = NotificationRecord;

    fn build(config: GoogleEmulatorConfig, addr: SocketAddr) -> std::io::Result<Arc<App>> {
        let http = reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let base_url = format!("http://{addr}/calendar/v3/");
        Ok(Arc::new(App {
            state: Mutex::new(State::new(config, base_url)),
            control: Control::default(),
            http,
            clock_changed: Notify::new(),
        }))
    }

    fn router(app: Arc<App>) -> Router {
        router(app)
    }

    fn control(&self) -> &Control<FaultKind, NotificationRecord> {
        &self.control
    }

    fn advance_clock(&self, by: Duration) {
        self.lock().clock.advance(by);
        self.clock_changed.notify_waiters();
    }

    fn expire_access_tokens(&self) {
        self.lock().expire_access_tokens();
    }

    fn set_deny_consent(&self, deny: bool) {
        self.lock().settings.deny_consent = deny;
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/users/me/calendarList", get(calendar_list))
        .route(
            "/users/me/calendarList/{calendar_id}",
            get(calendar_list_get),
        )
        .route("/calendars", post(calendars_insert))
        .route("/calendars/{calendar_id}", get(calendars_get))
        .route(
            "/calendars/{calendar_id}/events",
            get(events_list).post(events_insert),
        )
        .route("/calendars/{calendar_id}/events/watch", post(events_watch))
        .route(
            "/calendars/{calendar_id}/events/{event_id}/instances",
            get(events_instances),
        )
        .route(
            "/calendars/{calendar_id}/events/{event_id}",
            get(events_get)
                .put(events_update)
                .patch(events_patch)
                .delete(events_delete),
        )
        .route("/channels/stop", post(channels_stop))
        .fallback(|| async { ApiError::not_found() })
        .layer(middleware::from_fn_with_state(app.clone(), api_gate));
    Router::new()
        .nest("/calendar/v3", api)
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route("/token", post(oauth::token))
        .route("/revoke", post(oauth::revoke))
        .fallback(|| async { ApiError::not_found() })
        .layer(middleware::from_fn_with_state(app.clone(), log_requests))
        .with_state(app)
}

async fn log_requests(AxState(app): AxState<Arc<App>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let resp = next.run(req).await;
    let note = resp.extensions().get::<Note>().cloned().unwrap_or_default();
    app.control.record_request(RequestRecord {
        method,
        path,
        query,
        status: resp.status().as_u16(),
        fault: note.fault.map(str::to_string),
        account: note.account,
        request_id: None,
    });
    resp
}

/// The bearer header, or Google's legacy `access_token`/`oauth_token` query parameters.
fn bearer(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    crate::server::bearer(headers).or_else(|| {
        parse_form(query.unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k == "access_token" || k == "oauth_token")
            .map(|(_, v)| v)
    })
}

/// Auth, then quota, then faults — the order in which Google's front end refuses a request.
async fn api_gate(AxState(app): AxState<Arc<App>>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let token = bearer(req.headers(), req.uri().query());
    let units = if req.method() == Method::PATCH { 3 } else { 1 };
    let (auth, fault) = {
        let mut st = app.lock();
        let auth = match st.authenticate(token.as_deref()) {
            Ok(a) => a,
            Err(e) => return with_note(e.into_response(), Note::default()),
        };
        let note = Note {
            fault: None,
            account: Some(auth.account.clone()),
        };
        let (quotas, now) = (st.config.quotas, st.now_ms());
        if let Err(e) = st.quota.charge(&quotas, &auth.account, units, now) {
            return with_note(e.into_response(), note);
        }
        (auth, app.control.next_fault(&method, &path))
    };
    let note = Note {
        fault: fault.as_ref().map(FaultKind::name),
        account: Some(auth.account.clone()),
    };
    if let Some(e) = fault.as_ref().and_then(fault_error) {
        return with_note(e.into_response(), note);
    }
    req.extensions_mut().insert(auth);
    run_faulted(fault.as_ref(), req, next, note, || {
        ApiError::backend_error().into_response()
    })
    .await
}

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::parse_error())
}

fn write_opts(headers: &HeaderMap, query: Option<&str>) -> ApiResult<WriteOpts> {
    let mut o = WriteOpts::default();
    for (k, v) in parse_form(query.unwrap_or("")) {
        match k.as_str() {
            "conferenceDataVersion" => {
                o.conference_data_version = v.parse().map_err(|_| ApiError::invalid_param(&k))?
            }
            "supportsAttachments" => o.supports_attachments = v.eq_ignore_ascii_case("true"),
            "timeZone" => o.out_tz = Some(v.parse().map_err(|_| ApiError::invalid_param(&k))?),
            "maxAttendees" => {
                o.max_attendees = Some(
                    v.parse()
                        .ok()
                        .filter(|n: &usize| *n >= 1)
                        .ok_or_else(|| ApiError::invalid_param(&k))?,
                )
            }
            "sendUpdates" if !matches!(v.as_str(), "all" | "externalOnly" | "none") => {
                return Err(ApiError::invalid_param(&k))
            }
            _ => {}
        }
    }
    o.if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(o)
}

fn with_etag(v: Value) -> Response {
    let etag = v
        .get("etag")
        .and_then(Value::as_str)
        .and_then(|e| HeaderValue::from_str(e).ok());
    let mut r = Json(v).into_response();
    if let Some(e) = etag {
        r.headers_mut().insert(header::ETAG, e);
    }
    r
}

type Q = RawQuery;

async fn events_list(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path(cal): Path<String>,
    RawQuery(q): Q,
) -> ApiResult<Json<Value>> {
    auth.need(Need::EventsRead)?;
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    list_events(&mut st, &cal_id, &pairs).map(Json)
}

async fn events_instances(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path((cal, ev)): Path<(String, String)>,
    RawQuery(q): Q,
) -> ApiResult<Json<Value>> {
    auth.need(Need::EventsRead)?;
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    list_instances(&mut st, &cal_id, &ev, &pairs).map(Json)
}

async fn events_insert(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path(cal): Path<String>,
    RawQuery(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    auth.need(Need::EventsWrite)?;
    let opts = write_opts(&headers, q.as_deref())?;
    let body = parse_body(&body)?;
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    st.insert_event(&cal_id, &body, &opts).map(with_etag)
}

async fn events_get(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path((cal, ev)): Path<(String, String)>,
    RawQuery(q): Q,
    headers: HeaderMap,
) -> ApiResult<Response> {
    auth.need(Need::EventsRead)?;
    let opts = write_opts(&headers, q.as_deref())?;
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    let v = st.get_event(&cal_id, &ev, &opts)?;
    let etag = v
        .get("etag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if etag_matches(inm, &etag) {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(e) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, e);
            }
            return Ok(r);
        }
    }
    Ok(with_etag(v))
}

#[allow(clippy::too_many_arguments)] // the extractors of two handlers, passed through
async fn modify(
    app: Arc<App>,
    auth: Auth,
    cal: String,
    ev: String,
    q: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    patch: bool,
) -> ApiResult<Response> {
    auth.need(Need::EventsWrite)?;
    let opts = write_opts(&headers, q.as_deref())?;
    let body = parse_body(&body)?;
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    st.modify_event(&cal_id, &ev, &body, patch, &opts)
        .map(with_etag)
}

async fn events_update(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path((cal, ev)): Path<(String, String)>,
    RawQuery(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    modify(app, auth, cal, ev, q, headers, body, false).await
}

async fn events_patch(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path((cal, ev)): Path<(String, String)>,
    RawQuery(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    modify(app, auth, cal, ev, q, headers, body, true).await
}

async fn events_delete(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path((cal, ev)): Path<(String, String)>,
    RawQuery(q): Q,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    auth.need(Need::EventsWrite)?;
    let opts = write_opts(&headers, q.as_deref())?;
    let mut st = app.lock();
    let cal_id = st.calendar_id(&auth.account, &cal)?;
    st.delete_event(&cal_id, &ev, &opts)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn events_watch(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path(cal): Path<String>,
    RawQuery(q): Q,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.need(Need::EventsRead)?;
    // Watch takes the list parameters; reject the ones list would reject.
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    super::list::ListParams::parse(&pairs)?;
    let body = parse_body(&body)?;
    let (channel, id, changes, wake) = {
        let mut st = app.lock();
        let cal_id = st.calendar_id(&auth.account, &cal)?;
        let (channel, changes, wake) =
            watch::create_channel(&mut st, &auth.account, &cal_id, &cal, &body)?;
        let id = channel
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        (channel, id, changes, wake)
    };
    app.control
        .spawn(watch::run_channel(app.clone(), id, changes, wake));
    Ok(Json(channel))
}

async fn channels_stop(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let body = parse_body(&body)?;
    let mut st = app.lock();
    watch::stop_channel(&mut st, &auth.account, &body)?;
    Ok(StatusCode::NO_CONTENT)
}

fn list_entry(st: &State, cal_id: &str) -> Option<Value> {
    let c = st.calendars.get(cal_id)?;
    let mut v = json!({
        "kind": "calendar#calendarListEntry",
        "etag": format!("\"{}\"", c.created_ms),
        "id": c.id,
        "summary": c.summary,
        "timeZone": c.tz.name(),
        "colorId": if c.primary { "14" } else { "1" },
        "backgroundColor": if c.primary { "#9fe1e7" } else { "#ac725e" },
        "foregroundColor": "#000000",
        "selected": true,
        "accessRole": "owner",
        "defaultReminders": if c.primary { json!([{"method": "popup", "minutes": 10}]) } else { json!([]) },
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    if c.primary {
        v["primary"] = json!(true);
        v["notificationSettings"] = json!({"notifications": [
            {"type": "eventCreation", "method": "email"},
            {"type": "eventChange", "method": "email"},
            {"type": "eventCancellation", "method": "email"},
            {"type": "eventResponse", "method": "email"}
        ]});
    }
    Some(v)
}

fn calendar_resource(st: &State, cal_id: &str) -> Option<Value> {
    let c = st.calendars.get(cal_id)?;
    let mut v = json!({
        "kind": "calendar#calendar",
        "etag": format!("\"{}\"", c.created_ms),
        "id": c.id,
        "summary": c.summary,
        "timeZone": c.tz.name(),
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    Some(v)
}

async fn calendar_list(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    RawQuery(q): Q,
) -> ApiResult<Json<Value>> {
    auth.need(Need::CalendarsRead)?;
    let pairs = parse_form(q.as_deref().unwrap_or(""));
    let max = match pairs.iter().find(|(k, _)| k == "maxResults") {
        Some((k, v)) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::invalid_param(k))?
            .min(250),
        None => 100,
    };
    let offset = match pairs.iter().find(|(k, _)| k == "pageToken") {
        Some((k, v)) => v.parse::<usize>().map_err(|_| ApiError::invalid_param(k))?,
        None => 0,
    };
    let st = app.lock();
    let ids = st
        .accounts
        .get(&auth.account)
        .map(|a| a.calendars.clone())
        .unwrap_or_default();
    let items: Vec<Value> = ids
        .iter()
        .skip(offset)
        .take(max)
        .filter_map(|id| list_entry(&st, id))
        .collect();
    let mut out = json!({"kind": "calendar#calendarList", "etag": format!("\"p{}\"", ids.len()), "items": items});
    if offset + max < ids.len() {
        out["nextPageToken"] = json!((offset + max).to_string());
    } else {
        // The calendar list is small; a sync round simply returns it whole again.
        out["nextSyncToken"] = json!(format!("cl{}", st.current_seq()));
    }
    Ok(Json(out))
}

async fn calendar_list_get(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path(cal): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.need(Need::CalendarsRead)?;
    let st = app.lock();
    let id = st.calendar_id(&auth.account, &cal)?;
    list_entry(&st, &id)
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn calendars_get(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Path(cal): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.need(Need::CalendarsRead)?;
    let st = app.lock();
    let id = st.calendar_id(&auth.account, &cal)?;
    calendar_resource(&st, &id)
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

async fn calendars_insert(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.need(Need::CalendarsWrite)?;
    let body = super::schema::sanitize("Calendar", &parse_body(&body)?)?;
    let summary = body
        .get("summary")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::required("Missing title.").at("body", "summary"))?;
    let tz = match body.get("timeZone").and_then(Value::as_str) {
        Some(z) => Some(z.parse().map_err(|_| {
            ApiError::invalid("Invalid time zone definition.").at("body", "timeZone")
        })?),
        None => None,
    };
    let mut st = app.lock();
    let id = st.new_secondary_calendar(&auth.account, summary, tz);
    if let (Some(d), Some(c)) = (
        body.get("description").and_then(Value::as_str),
        st.calendars.get_mut(&id),
    ) {
        c.description = Some(d.to_string());
    }
    calendar_resource(&st, &id)
        .map(Json)
        .ok_or_else(ApiError::not_found)
}
