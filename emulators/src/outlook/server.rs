//! HTTP surface: the `/v1.0` resource tree, the API gate (auth → throttling → faults), the
//! error-envelope finisher and the request log.

use super::config::{FaultKind, OutlookEmulatorConfig};
use super::delta::{Call, Scope};
use super::error::{GraphError, GraphResult};
use super::oauth::{self, Auth, Need};
use super::render::Item;
use super::state::{Kind, State, Target, View};
use super::subs::{self, NotificationRecord};
use super::util::{parse_query_instant, prefs, Prefs};
use super::zones;
use crate::control::{Control, Fault, RequestRecord, Served};
use crate::server::{bearer, run_faulted, with_note, Note};
use crate::util::{parse_form, percent_decode, percent_encode, relock};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Per-mailbox concurrency and request-rate accounting.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    inflight: HashMap<String, u32>,
    recent: HashMap<String, VecDeque<i64>>,
}

/// The Outlook emulator's server state, shared by handlers, background tasks and the public handle.
pub struct App {
    pub(crate) state: Mutex<State>,
    pub(crate) control: Control<FaultKind, NotificationRecord>,
    pub(crate) http: reqwest::Client,
    pub(crate) outbox_ready: Notify,
    pub(crate) throttle: Mutex<Throttle>,
}

impl Served for App {
    type Config = OutlookEmulatorConfig;
    type Fault = FaultKind;
    type Notification = NotificationRecord;

    fn build(config: OutlookEmulatorConfig, addr: SocketAddr) -> std::io::Result<Arc<App>> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(std::io::Error::other)?;
        let base_url = format!("http://{addr}/v1.0");
        let app = Arc::new(App {
            state: Mutex::new(State::new(config, base_url)),
            control: Control::default(),
            http,
            outbox_ready: Notify::new(),
            throttle: Mutex::new(Default::default()),
        });
        app.control.spawn(subs::run_notifier(app.clone()));
        Ok(app)
    }

    fn router(app: Arc<App>) -> Router {
        router(app)
    }

    fn control(&self) -> &Control<FaultKind, NotificationRecord> {
        &self.control
    }

    fn advance_clock(&self, by: Duration) {
        self.lock().clock.advance(by);
    }

    fn expire_access_tokens(&self) {
        self.lock().expire_access_tokens();
    }

    fn set_deny_consent(&self, deny: bool) {
        self.lock().settings.deny_consent = deny;
    }
}

impl App {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }
    /// Wakes the notifier when writes queued notifications.
    pub(crate) fn kick(&self) {
        if !self.lock().outbox.is_empty() {
            self.outbox_ready.notify_one();
        }
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/", any(api))
        .route("/{*path}", any(api))
        .layer(middleware::from_fn_with_state(app.clone(), api_gate));
    Router::new()
        .nest("/v1.0", api)
        .route("/{tenant}/oauth2/v2.0/authorize", get(oauth::authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::token))
        .fallback(|| async {
            GraphError::new(404, "NotFound", "The requested resource was not found.")
        })
        .layer(middleware::from_fn_with_state(app.clone(), finish))
        .with_state(app)
}

/// Outermost layer: request ids, the full error envelope, the log.
async fn finish(AxState(app): AxState<Arc<App>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions().get::<GraphError>().cloned() {
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let body = err.body(&request_id, &client_request_id, &date);
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        resp = Response::from_parts(parts, axum::body::Body::from(body.to_string()));
    }
    for (k, v) in [
        ("request-id", &request_id),
        ("client-request-id", &client_request_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(HeaderName::from_static(k), v);
        }
    }
    let note = resp.extensions().get::<Note>().cloned().unwrap_or_default();
    app.control.record_request(RequestRecord {
        method,
        path,
        query,
        status: resp.status().as_u16(),
        fault: note.fault.map(str::to_string),
        account: note.account,
        request_id: Some(request_id),
    });
    resp
}

/// Releases a mailbox's concurrency slot when the request ends (also when the client hangs up).
struct InFlight {
    app: Arc<App>,
    account: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut t = relock(&self.app.throttle);
        if let Some(n) = t.inflight.get_mut(&self.account) {
            *n = n.saturating_sub(1);
        }
    }
}

fn admit(app: &Arc<App>, account: &str) -> Result<InFlight, GraphError> {
    let (limits, now) = {
        let st = app.lock();
        (st.config.throttling, st.now_ms())
    };
    let throttled = |code: &str, msg: &str| {
        GraphError::new(429, code, msg)
            .with_header("retry-after", limits.retry_after_secs.to_string())
    };
    let mut t = relock(&app.throttle);
    if let Some(max) = limits.max_concurrent {
        if t.inflight.get(account).copied().unwrap_or(0) >= max {
            return Err(throttled(
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            ));
        }
    }
    if let Some(max) = limits.max_requests {
        let window = limits.window.as_millis() as i64;
        let recent = t.recent.entry(account.to_string()).or_default();
        while recent.front().is_some_and(|s| *s <= now - window) {
            recent.pop_front();
        }
        if recent.len() >= max as usize {
            return Err(throttled(
                "ApplicationThrottled",
                "Application is over its MailboxRequests limit.",
            ));
        }
        recent.push_back(now);
    }
    *t.inflight.entry(account.to_string()).or_default() += 1;
    Ok(InFlight {
        app: app.clone(),
        account: account.to_string(),
    })
}

fn fault_error(kind: &FaultKind) -> Option<GraphError> {
    Some(match kind {
        FaultKind::Throttled429 { retry_after_secs } => GraphError::new(429, "TooManyRequests", "Too many requests.").with_header("retry-after", retry_after_secs.to_string()),
        FaultKind::Throttled429WithoutRetryAfter => GraphError::new(429, "TooManyRequests", "Too many requests."),
        FaultKind::ServiceUnavailable503 { retry_after_secs } => {
            GraphError::new(503, "serviceNotAvailable", "The service is temporarily unavailable. Try again after the delay in the Retry-After header.").with_header("retry-after", retry_after_secs.to_string())
        }
        FaultKind::InternalServerError500 => GraphError::internal(),
        FaultKind::GatewayTimeout504 => GraphError::new(504, "UnknownError", "The gateway timed out."),
        FaultKind::Timeout(_) | FaultKind::LostResponse500 | FaultKind::LostResponseDrop => return None,
    })
}

/// Auth, then throttling, then faults.
async fn api_gate(AxState(app): AxState<Arc<App>>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let token = bearer(req.headers());
    let auth = match app.lock().authenticate(token.as_deref()) {
        Ok(a) => a,
        Err(e) => return with_note(e.into_response(), Note::default()),
    };
    let mut note = Note {
        fault: None,
        account: Some(auth.account.clone()),
    };
    let _slot = match admit(&app, &auth.account) {
        Ok(s) => s,
        Err(e) => return with_note(e.into_response(), note),
    };
    let fault = app.control.next_fault(&method, &path);
    let delay = app.lock().settings.processing_delay;
    note.fault = fault.as_ref().map(FaultKind::name);
    if let Some(e) = fault.as_ref().and_then(fault_error) {
        return with_note(e.into_response(), note);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    req.extensions_mut().insert(auth);
    let resp = run_faulted(fault.as_ref(), req, next, note, || {
        GraphError::internal().into_response()
    })
    .await;
    app.kick();
    resp
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// `$`-options other than the allowed ones → 400 (Graph refuses unknown system query options).
    fn only(&self, allowed: &[&str]) -> GraphResult<()> {
        for (k, _) in &self.0 {
            if k.starts_with('$') && !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!("Query option '{k}' is not allowed here."),
                ));
            }
        }
        Ok(())
    }
}

fn parse_body(body: &Bytes) -> GraphResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(GraphError::unable_to_deserialize()),
    }
}

/// Splits at top-level commas (not inside parentheses or quotes).
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `id eq 'a' or id eq 'b'` → the quoted ids.
fn quoted_ids(filter: &str) -> GraphResult<Vec<String>> {
    let mut out = Vec::new();
    for clause in split_words(filter, " or ") {
        let c = clause.trim();
        let rest = c
            .strip_prefix("id eq ")
            .or_else(|| c.strip_prefix("Id eq "))
            .ok_or_else(|| invalid_filter(filter))?;
        out.push(unquote(rest).ok_or_else(|| invalid_filter(filter))?);
    }
    Ok(out)
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .map(|x| x.replace("''", "'"))
}

fn split_words(s: &str, sep: &str) -> Vec<String> {
    // Case-insensitive split outside quotes and parentheses.
    let lower = s.to_ascii_lowercase();
    let (mut out, mut start, mut depth, mut quoted) = (Vec::new(), 0usize, 0i32, false);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && lower[i..].starts_with(sep) => {
                out.push(s[start..i].to_string());
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s[start..].to_string());
    out
}

fn invalid_filter(f: &str) -> GraphError {
    GraphError::bad_request("BadRequest", format!("Invalid filter clause: {f}"))
}

/// A parsed `$filter`: a conjunction of clauses.
#[derive(Debug, Clone)]
enum Clause {
    /// `singleValueExtendedProperties/Any(ep: ep/id eq '…' [and ep/value eq '…'])`
    Extended { id: String, value: Option<String> },
    /// `<path> <op> <literal>` on the rendered event (`subject`, `start/dateTime`…).
    Compare {
        path: String,
        op: String,
        literal: Value,
    },
}

fn parse_filter(f: &str) -> GraphResult<Vec<Clause>> {
    let mut out = Vec::new();
    for c in split_words(f, " and ") {
        let c = c.trim();
        let lower = c.to_ascii_lowercase();
        if lower.starts_with("singlevalueextendedproperties/any(") {
            let inner = &c[c.find('(').unwrap_or(0) + 1..c.rfind(')').unwrap_or(c.len())];
            let (var, body) = inner.split_once(':').ok_or_else(|| invalid_filter(f))?;
            let var = var.trim();
            let (mut id, mut value) = (None, None);
            for part in split_words(body, " and ") {
                let p = part.trim();
                if let Some(rest) = p.strip_prefix(&format!("{var}/id eq ")) {
                    id = unquote(rest);
                } else if let Some(rest) = p.strip_prefix(&format!("{var}/value eq ")) {
                    value = unquote(rest);
                } else {
                    return Err(invalid_filter(f));
                }
            }
            out.push(Clause::Extended {
                id: id.ok_or_else(|| invalid_filter(f))?,
                value,
            });
            continue;
        }
        let mut words = c.splitn(3, ' ');
        let (path, op, lit) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default().to_ascii_lowercase(),
            words.next().unwrap_or_default().trim(),
        );
        const PATHS: [&str; 13] = [
            "subject",
            "type",
            "transactionId",
            "iCalUId",
            "seriesMasterId",
            "showAs",
            "importance",
            "sensitivity",
            "isAllDay",
            "isOrganizer",
            "start/dateTime",
            "end/dateTime",
            "lastModifiedDateTime",
        ];
        if !PATHS.iter().any(|p| p.eq_ignore_ascii_case(path))
            || !["eq", "ne", "ge", "gt", "le", "lt"].contains(&op.as_str())
        {
            return Err(invalid_filter(f));
        }
        let literal = match lit {
            "true" => json!(true),
            "false" => json!(false),
            "null" => Value::Null,
            _ => json!(unquote(lit).ok_or_else(|| invalid_filter(f))?),
        };
        out.push(Clause::Compare {
            path: path.to_string(),
            op,
            literal,
        });
    }
    Ok(out)
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path.split('/') {
        cur = cur
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(seg))?
            .1;
    }
    Some(cur)
}

fn clause_holds(c: &Clause, v: &Value, extended: &[(String, String)]) -> bool {
    match c {
        Clause::Extended { id, value } => extended
            .iter()
            .any(|(i, x)| i.eq_ignore_ascii_case(id) && value.as_ref().is_none_or(|w| w == x)),
        Clause::Compare { path, op, literal } => {
            let got = lookup(v, path).cloned().unwrap_or(Value::Null);
            let ord = match (&got, literal) {
                // Times compare as instants when both parse, else as text.
                (Value::String(a), Value::String(b)) => {
                    match (parse_query_instant(a), parse_query_instant(b)) {
                        (Some(x), Some(y)) => Some(x.cmp(&y)),
                        _ => Some(a.cmp(b)),
                    }
                }
                (a, b) if a == b => Some(std::cmp::Ordering::Equal),
                _ => None,
            };
            match op.as_str() {
                "eq" => ord == Some(std::cmp::Ordering::Equal),
                "ne" => ord != Some(std::cmp::Ordering::Equal),
                "ge" => ord.is_some_and(|o| o.is_ge()),
                "gt" => ord.is_some_and(|o| o.is_gt()),
                "le" => ord.is_some_and(|o| o.is_le()),
                "lt" => ord.is_some_and(|o| o.is_lt()),
                _ => false,
            }
        }
    }
}

/// Builds the view of a request from its `Prefer` headers and `$select` / `$expand`.
fn view_of(p: &Prefs, q: &Query) -> GraphResult<View> {
    let mut v = View {
        immutable: p.immutable_ids,
        ..Default::default()
    };
    if let Some(name) = &p.time_zone {
        // An unknown preferred zone is ignored (times stay in UTC).
        v.tz = zones::resolve(name).map(|z| (z, name.clone()));
    }
    if let Some(sel) = q.get("$select") {
        v.select = Some(
            sel.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        );
    }
    if let Some(exp) = q.get("$expand") {
        for item in split_top(exp) {
            let lower = item.to_ascii_lowercase();
            if lower == "singlevalueextendedproperties" {
                v.expand_extended = Some(vec![]);
            } else if lower.starts_with("singlevalueextendedproperties(") {
                let inner = item
                    [item.find('(').unwrap_or(0) + 1..item.rfind(')').unwrap_or(item.len())]
                    .trim();
                let f = inner
                    .strip_prefix("$filter=")
                    .or_else(|| inner.strip_prefix("$FILTER="))
                    .ok_or_else(|| invalid_filter(inner))?;
                v.expand_extended = Some(quoted_ids(f)?);
            } else if lower == "exceptionoccurrences" {
                v.expand_exceptions = true;
            } else {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!(
                        "Could not find a property named '{item}' on type 'microsoft.graph.event'."
                    ),
                ));
            }
        }
    }
    Ok(v)
}

fn want_text(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.to_ascii_lowercase()
                .contains("outlook.body-content-type=\"text\"")
                || v.to_ascii_lowercase()
                    .contains("outlook.body-content-type=text")
        })
}

fn window(q: &Query) -> GraphResult<(i64, i64)> {
    let s = q.get("startDateTime").and_then(parse_query_instant);
    let e = q.get("endDateTime").and_then(parse_query_instant);
    match (s, e) {
        (Some(s), Some(e)) => Ok((s, e)),
        _ => Err(GraphError::window_required()),
    }
}

fn json_status(status: StatusCode, v: Value, p: &Prefs) -> Response {
    let mut r = (status, Json(v)).into_response();
    let mut applied = Vec::new();
    if let Some(z) = &p.time_zone {
        if zones::resolve(z).is_some() {
            applied.push(format!("outlook.timezone=\"{z}\""));
        }
    }
    if p.immutable_ids {
        applied.push("IdType=\"ImmutableId\"".into());
    }
    if let Some(n) = p.max_page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if !applied.is_empty() {
        if let Ok(h) = HeaderValue::from_str(&applied.join(", ")) {
            r.headers_mut().insert("preference-applied", h);
        }
    }
    r
}

// ---------------------------------------------------------------------------------------------
// The resource tree
// ---------------------------------------------------------------------------------------------

/// Everything a handler needs about the request.
struct Ctx {
    app: Arc<App>,
    auth: Auth,
    method: Method,
    path: String,
    q: Query,
    prefs: Prefs,
    headers: HeaderMap,
    body: Bytes,
}

async fn api(
    AxState(app): AxState<Arc<App>>,
    Extension(auth): Extension<Auth>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/v1.0")
        .unwrap_or(uri.path())
        .to_string();
    let q = Query(parse_form(uri.query().unwrap_or("")));
    let prefs = prefs(&headers);
    let ctx = Ctx {
        app,
        auth,
        method,
        path,
        q,
        prefs,
        headers,
        body,
    };
    match route(&ctx).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(c: &Ctx) -> GraphResult<Response> {
    let segs: Vec<String> = c
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).trim_end_matches("()").to_string())
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (user, rest): (Option<&str>, &[&str]) = match s.as_slice() {
        ["me", rest @ ..] => (None, rest),
        ["users", u, rest @ ..] => (Some(*u), rest),
        ["subscriptions", rest @ ..] => return subscriptions(c, rest).await,
        [] => return Err(GraphError::segment("")),
        [x, ..] => return Err(GraphError::segment(x)),
    };
    let account = c.app.lock().user_of(&c.auth.account, user)?;
    let m = &c.method;
    match rest {
        [] if m == Method::GET => me(c, &account),
        ["calendar", tail @ ..] => {
            if tail.is_empty() {
                c.auth.need(Need::CalendarsRead)?;
                return calendar_get(c, &account, None);
            }
            let cal = c.app.lock().calendar_of(&account, None)?;
            events_scope(c, &account, Some(&cal), tail)
        }
        ["calendars"] if m == Method::GET => calendars_list(c, &account),
        ["calendars"] if m == Method::POST => calendars_create(c, &account),
        ["calendars", id] if m == Method::GET => {
            c.auth.need(Need::CalendarsRead)?;
            calendar_get(c, &account, Some(id))
        }
        ["calendars", id, tail @ ..] if !tail.is_empty() => {
            let cal = c.app.lock().calendar_of(&account, Some(id))?;
            events_scope(c, &account, Some(&cal), tail)
        }
        [] | ["calendars", ..] => Err(GraphError::method_not_allowed()),
        tail => events_scope(c, &account, None, tail),
    }
}

fn me(c: &Ctx, account: &str) -> GraphResult<Response> {
    c.auth.need(Need::User)?;
    let st = c.app.lock();
    let a = st
        .accounts
        .get(account)
        .ok_or_else(GraphError::item_not_found)?;
    let v = json!({
        "@odata.context": format!("{}/$metadata#users/$entity", st.base_url),
        "id": a.user_id,
        "displayName": a.display_name,
        "userPrincipalName": a.email,
        "mail": a.email,
    });
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

fn calendar_get(c: &Ctx, account: &str, id: Option<&str>) -> GraphResult<Response> {
    let st = c.app.lock();
    let cal_id = st.calendar_of(account, id)?;
    let cal = st
        .calendars
        .get(&cal_id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut v = st.render_calendar(cal);
    v["@odata.context"] = json!(format!(
        "{}/$metadata#users('{}')/calendars/$entity",
        st.base_url,
        percent_encode(account)
    ));
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

fn calendars_list(c: &Ctx, account: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    c.q.only(&["$top", "$skip", "$select"])?;
    let st = c.app.lock();
    let ids = st
        .accounts
        .get(account)
        .map(|a| a.calendars.clone())
        .unwrap_or_default();
    let value: Vec<Value> = ids
        .iter()
        .filter_map(|i| st.calendars.get(i))
        .map(|cal| st.render_calendar(cal))
        .collect();
    let v = json!({"@odata.context": format!("{}/$metadata#users('{}')/calendars", st.base_url, percent_encode(account)), "value": value});
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

fn calendars_create(c: &Ctx, account: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsWrite)?;
    let body = super::schema::check("calendar", &parse_body(&c.body)?)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidRequest", "The calendar name is required.")
        })?;
    let mut st = c.app.lock();
    let id = st.create_calendar(account, name, false);
    let v = st
        .calendars
        .get(&id)
        .map(|cal| st.render_calendar(cal))
        .unwrap_or_default();
    Ok(json_status(StatusCode::CREATED, v, &c.prefs))
}

fn context(st: &State, account: &str, what: &str) -> String {
    format!(
        "{}/$metadata#users('{}')/{what}",
        st.base_url,
        percent_encode(account)
    )
}

/// `…/events…` and `…/calendarView…`, for the whole mailbox (`cal == None`) or one calendar.
fn events_scope(c: &Ctx, account: &str, cal: Option<&str>, rest: &[&str]) -> GraphResult<Response> {
    let m = &c.method;
    match rest {
        ["events"] if m == Method::GET => list_events(c, account, cal),
        ["events"] if m == Method::POST => create_event(c, account, cal),
        ["events", "delta"] => Err(GraphError::bad_request("BadRequest", "Unsupported request: Change tracking is not supported against 'microsoft.graph.event'.")),
        ["events", id] if m == Method::GET => get_event(c, account, cal, id),
        ["events", id] if m == Method::PATCH => patch_event(c, account, cal, id),
        ["events", id] if m == Method::DELETE => delete_event(c, account, cal, id),
        ["events", id, "instances"] if m == Method::GET => instances(c, account, cal, id),
        ["events", id, "cancel"] if m == Method::POST => cancel_event(c, account, cal, id),
        ["calendarView"] if m == Method::GET => calendar_view(c, account, cal),
        ["calendarView", "delta"] if m == Method::GET => delta(c, account, cal),
        ["events", ..] | ["calendarView", ..] => Err(GraphError::method_not_allowed()),
        [x, ..] => Err(GraphError::segment(x)),
        [] => Err(GraphError::method_not_allowed()),
    }
}

/// Paging through an already computed list: `$top` (default 10, ≤ 1000) / `$skip`, with a
/// `@odata.nextLink` that repeats the query.
fn page(c: &Ctx, items: Vec<Value>, ctx_url: String) -> GraphResult<Response> {
    let default = c.app.lock().config.default_page_size;
    let top = match c.q.get("$top") {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                GraphError::bad_request("BadRequest", format!("Invalid $top value '{t}'."))
            })?,
        None => c.prefs.max_page_size.unwrap_or(default).min(1000),
    };
    let skip = match c.q.get("$skip") {
        Some(s) => s.parse::<usize>().map_err(|_| {
            GraphError::bad_request("BadRequest", format!("Invalid $skip value '{s}'."))
        })?,
        None => 0,
    };
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut v = json!({"@odata.context": ctx_url, "value": value});
    if c.q
        .get("$count")
        .is_some_and(|x| x.eq_ignore_ascii_case("true"))
    {
        v["@odata.count"] = json!(total);
    }
    if skip + top < total {
        let base = c.app.lock().base_url.clone();
        let mut pairs: Vec<String> = c
            .q
            .0
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip") && !k.eq_ignore_ascii_case("$top"))
            .map(|(k, x)| format!("{}={}", percent_encode(k), percent_encode(x)))
            .collect();
        pairs.push(format!("%24top={top}"));
        pairs.push(format!("%24skip={}", skip + top));
        v["@odata.nextLink"] = json!(format!("{base}{}?{}", c.path, pairs.join("&")));
    }
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

/// Renders, filters and orders a list of items.
fn render_list(st: &mut State, c: &Ctx, items: Vec<Item>, view: &View) -> GraphResult<Vec<Value>> {
    let filter = match c.q.get("$filter") {
        Some(f) => parse_filter(f)?,
        None => vec![],
    };
    let text = want_text(&c.headers);
    let mut out = Vec::new();
    for it in items {
        if !filter.is_empty() {
            let full_view = View {
                select: None,
                expand_extended: None,
                expand_exceptions: false,
                ..view.clone()
            };
            let Some(full) = st.render(&it, &full_view, text) else {
                continue;
            };
            let ext = match &it {
                Item::Stored(k) => st
                    .events
                    .get(k)
                    .map(|e| e.extended.clone())
                    .unwrap_or_default(),
                Item::Occurrence { master, .. } => st
                    .events
                    .get(master)
                    .map(|e| e.extended.clone())
                    .unwrap_or_default(),
            };
            if !filter.iter().all(|cl| clause_holds(cl, &full, &ext)) {
                continue;
            }
        }
        if let Some(v) = st.render(&it, view, text) {
            out.push(v);
        }
    }
    if let Some(ob) = c.q.get("$orderby") {
        let mut words = ob.split_whitespace();
        let field = words.next().unwrap_or_default().to_string();
        let desc = words.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        const ORDERABLE: [&str; 5] = [
            "start/dateTime",
            "end/dateTime",
            "lastModifiedDateTime",
            "createdDateTime",
            "subject",
        ];
        let f = ORDERABLE
            .iter()
            .find(|o| o.eq_ignore_ascii_case(&field))
            .ok_or_else(|| {
                GraphError::bad_request(
                    "BadRequest",
                    format!("The $orderby expression '{ob}' is not supported."),
                )
            })?;
        let ptr = format!("/{f}");
        out.sort_by(|a, b| {
            let (x, y) = (
                a.pointer(&ptr).map(|v| v.to_string()),
                b.pointer(&ptr).map(|v| v.to_string()),
            );
            if desc {
                y.cmp(&x)
            } else {
                x.cmp(&y)
            }
        });
    }
    Ok(out)
}

fn list_events(c: &Ctx, account: &str, cal: Option<&str>) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    c.q.only(&[
        "$top", "$skip", "$select", "$filter", "$orderby", "$expand", "$count",
    ])?;
    let view = view_of(&c.prefs, &c.q)?;
    let mut st = c.app.lock();
    // Singles and masters only: exceptions and occurrences are not listed.
    let items: Vec<Item> = st
        .live_in_scope(account, cal)
        .into_iter()
        .filter(|k| st.events.get(k).is_some_and(|e| e.kind != Kind::Exception))
        .map(Item::Stored)
        .collect();
    let values = render_list(&mut st, c, items, &view)?;
    let ctx = context(&st, account, "events");
    drop(st);
    page(c, values, ctx)
}

fn create_event(c: &Ctx, account: &str, cal: Option<&str>) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsWrite)?;
    let body = parse_body(&c.body)?;
    let view = view_of(&c.prefs, &Query(vec![]))?;
    let mut st = c.app.lock();
    let cal = match cal {
        Some(x) => x.to_string(),
        None => st.calendar_of(account, None)?,
    };
    let key = st.create_event(account, &cal, &body)?;
    let mut v = st
        .render(&Item::Stored(key), &view, want_text(&c.headers))
        .ok_or_else(GraphError::internal)?;
    v["@odata.context"] = json!(format!("{}/$entity", context(&st, account, "events")));
    Ok(json_status(StatusCode::CREATED, v, &c.prefs))
}

fn get_event(c: &Ctx, account: &str, cal: Option<&str>, id: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    c.q.only(&["$select", "$expand"])?;
    let view = view_of(&c.prefs, &c.q)?;
    let mut st = c.app.lock();
    let t = st.resolve(account, cal, id)?;
    let mut v = st
        .render(&Item::from(t), &view, want_text(&c.headers))
        .ok_or_else(GraphError::item_not_found)?;
    v["@odata.context"] = json!(format!("{}/$entity", context(&st, account, "events")));
    let mut r = json_status(StatusCode::OK, v.clone(), &c.prefs);
    if let Some(etag) = v
        .get("@odata.etag")
        .and_then(Value::as_str)
        .and_then(|e| HeaderValue::from_str(e).ok())
    {
        r.headers_mut().insert(header::ETAG, etag);
    }
    Ok(r)
}

fn if_match(c: &Ctx) -> Option<String> {
    c.headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn patch_event(c: &Ctx, account: &str, cal: Option<&str>, id: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsWrite)?;
    let body = parse_body(&c.body)?;
    let view = view_of(&c.prefs, &Query(vec![]))?;
    let mut st = c.app.lock();
    let t = st.resolve(account, cal, id)?;
    let key = st.patch_event(account, t, &body, if_match(c).as_deref())?;
    let mut v = st
        .render(&Item::Stored(key), &view, want_text(&c.headers))
        .ok_or_else(GraphError::internal)?;
    v["@odata.context"] = json!(format!("{}/$entity", context(&st, account, "events")));
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

fn delete_event(c: &Ctx, account: &str, cal: Option<&str>, id: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsWrite)?;
    let mut st = c.app.lock();
    let t = st.resolve(account, cal, id)?;
    st.delete_event(t, if_match(c).as_deref())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn cancel_event(c: &Ctx, account: &str, cal: Option<&str>, id: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsWrite)?;
    let body = parse_body(&c.body)?;
    for k in body
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !k.eq_ignore_ascii_case("comment") && !k.starts_with('@') {
            return Err(GraphError::bad_request("RequestBodyRead", format!("The parameter '{k}' in the request payload is not a valid parameter for the operation 'cancel'.")));
        }
    }
    let mut st = c.app.lock();
    let t = st.resolve(account, cal, id)?;
    let key = match &t {
        Target::Stored(k) => k.clone(),
        Target::Occurrence { master, .. } => master.clone(),
    };
    if !st.events.get(&key).is_some_and(|e| e.is_organizer()) {
        return Err(GraphError::bad_request(
            "ErrorAccessDenied",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        ));
    }
    st.delete_event(t, None)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn instances(c: &Ctx, account: &str, cal: Option<&str>, id: &str) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    c.q.only(&["$top", "$skip", "$select", "$filter", "$orderby", "$expand"])?;
    let view = view_of(&c.prefs, &c.q)?;
    let (from, to) = window(&c.q)?;
    let mut st = c.app.lock();
    let items: Vec<Item> = match st.resolve(account, cal, id)? {
        Target::Stored(k) if st.events.get(&k).is_some_and(|e| e.kind == Kind::Master) => {
            st.instances(&k, from, to).iter().map(Item::from).collect()
        }
        _ => vec![],
    };
    let values = render_list(&mut st, c, items, &view)?;
    let ctx = context(
        &st,
        account,
        &format!("events('{}')/instances", percent_encode(id)),
    );
    drop(st);
    page(c, values, ctx)
}

/// The expanded view of a window: singles, occurrences and exceptions (never masters), by start.
fn view_items(st: &State, account: &str, cal: Option<&str>, from: i64, to: i64) -> Vec<Item> {
    let mut items: Vec<(i64, Item)> = Vec::new();
    for k in st.live_in_scope(account, cal) {
        let Some(e) = st.events.get(&k) else { continue };
        match e.kind {
            Kind::Single => {
                let (s, en) = (e.start.instant(), e.end.instant());
                if s < to && (en > from || (s == en && s >= from)) {
                    items.push((s, Item::Stored(k.clone())));
                }
            }
            Kind::Master => items.extend(
                st.instances(&k, from, to)
                    .iter()
                    .map(|i| (i.start, Item::from(i))),
            ),
            Kind::Exception => {}
        }
    }
    items.sort_by_key(|(s, _)| *s);
    items.into_iter().map(|(_, i)| i).collect()
}

fn calendar_view(c: &Ctx, account: &str, cal: Option<&str>) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    c.q.only(&[
        "$top", "$skip", "$select", "$filter", "$orderby", "$expand", "$count",
    ])?;
    let view = view_of(&c.prefs, &c.q)?;
    let (from, to) = window(&c.q)?;
    let mut st = c.app.lock();
    let items = view_items(&st, account, cal, from, to);
    let values = render_list(&mut st, c, items, &view)?;
    let ctx = context(&st, account, "calendarView");
    drop(st);
    page(c, values, ctx)
}

fn delta(c: &Ctx, account: &str, cal: Option<&str>) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    const REFUSED: [&str; 6] = [
        "$select", "$filter", "$orderby", "$expand", "$search", "$top",
    ];
    let bad: Vec<&str> =
        c.q.0
            .iter()
            .filter(|(k, _)| REFUSED.iter().any(|r| r.eq_ignore_ascii_case(k)))
            .map(|(k, _)| k.as_str())
            .collect();
    if !bad.is_empty() {
        return Err(GraphError::bad_request(
            "ErrorInvalidUrlQuery",
            format!("The following parameters are not supported with change tracking over the 'CalendarView' resource: '{}'.", bad.join(", ")),
        ));
    }
    c.q.only(&["$skiptoken", "$deltatoken"])?;
    let view = View {
        immutable: c.prefs.immutable_ids,
        tz: c
            .prefs
            .time_zone
            .as_deref()
            .and_then(|n| zones::resolve(n).map(|z| (z, n.to_string()))),
        ..Default::default()
    };
    let call = if let Some(t) = c.q.get("$skiptoken") {
        Call::Skip(t.to_string())
    } else if let Some(t) = c.q.get("$deltatoken") {
        Call::Delta(t.to_string())
    } else {
        let (from, to) = window(&c.q)?;
        Call::Initial(Scope {
            account: account.to_string(),
            calendar: cal.map(str::to_string),
            from,
            to,
            path: c.path.clone(),
        })
    };
    let mut st = c.app.lock();
    let size = c.prefs.max_page_size.unwrap_or(st.config.default_page_size);
    let p = st.delta_page(call, size, &view)?;
    let mut v = json!({"@odata.context": format!("{}/$metadata#Collection(event)", st.base_url), "value": p.value});
    if let Some(n) = p.next_link {
        v["@odata.nextLink"] = json!(n);
    }
    if let Some(d) = p.delta_link {
        v["@odata.deltaLink"] = json!(d);
    }
    Ok(json_status(StatusCode::OK, v, &c.prefs))
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

async fn subscriptions(c: &Ctx, rest: &[&str]) -> GraphResult<Response> {
    c.auth.need(Need::CalendarsRead)?;
    let account = c.auth.account.clone();
    let m = &c.method;
    match rest {
        [] if m == Method::POST => {
            let body = parse_body(&c.body)?;
            let draft = c.app.lock().draft_subscription(
                &account,
                &body,
                c.prefs.immutable_ids,
                &c.auth.client_id,
            )?;
            subs::validate(&c.app, &draft.notification_url, &draft.id).await?;
            if let Some(u) = &draft.lifecycle_url {
                subs::validate(&c.app, u, &draft.id).await?;
            }
            let mut st = c.app.lock();
            let mut v = st.insert_subscription(draft);
            v["@odata.context"] = json!(format!("{}/$metadata#subscriptions/$entity", st.base_url));
            Ok(json_status(StatusCode::CREATED, v, &c.prefs))
        }
        [] if m == Method::GET => {
            let mut st = c.app.lock();
            let value = st.list_subscriptions(&account);
            Ok(json_status(
                StatusCode::OK,
                json!({"@odata.context": format!("{}/$metadata#subscriptions", st.base_url), "value": value}),
                &c.prefs,
            ))
        }
        [id] if m == Method::GET => {
            let mut st = c.app.lock();
            let s = st.subscription(&account, id)?.clone();
            let mut v = st.render_subscription(&s);
            v["@odata.context"] = json!(format!("{}/$metadata#subscriptions/$entity", st.base_url));
            Ok(json_status(StatusCode::OK, v, &c.prefs))
        }
        [id] if m == Method::PATCH => {
            let body = parse_body(&c.body)?;
            let v = c.app.lock().renew_subscription(&account, id, &body)?;
            Ok(json_status(StatusCode::OK, v, &c.prefs))
        }
        [id] if m == Method::DELETE => {
            let mut st = c.app.lock();
            st.subscription(&account, id)?;
            st.subscriptions.remove(*id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        [id, "reauthorize"] if m == Method::POST => {
            c.app.lock().subscription(&account, id)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        [] | [_] | [_, "reauthorize"] => Err(GraphError::method_not_allowed()),
        [_, x, ..] => Err(GraphError::segment(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = parse_filter("singleValueExtendedProperties/Any(ep: ep/id eq 'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color' and ep/value eq 'Green')").expect("parses");
        assert!(matches!(&f[0], Clause::Extended { value: Some(v), .. } if v == "Green"));
        let f = parse_filter("subject eq 'a b' and isAllDay eq false").expect("parses");
        assert_eq!(f.len(), 2);
        assert!(parse_filter("startswith(subject,'x')").is_err());
        assert_eq!(
            quoted_ids("id eq 'a' or id eq 'b''c'").expect("ids"),
            ["a", "b'c"]
        );
        assert_eq!(
            split_top("a($filter=id eq 'x,y'),b"),
            ["a($filter=id eq 'x,y')", "b"]
        );
    }
}
