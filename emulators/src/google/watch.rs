//! Push notifications: `events.watch`, `channels.stop`, and the delivery task of each channel.
//!
//! Each channel has a task that first sends `sync` (message 1), then one `exists` message per
//! burst of changes (changes arriving while a message is in flight are coalesced into the next
//! one), until the channel expires or is stopped. Deliveries are POSTs without a body; a non-2xx
//! answer or a failed connection is retried with doubling delays.

use super::error::{ApiError, ApiResult};
use super::server::App;
use super::state::State;
use super::util::{http_date, percent_encode, sha256_b64url};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const DEFAULT_TTL_SECS: i64 = 604_800;

#[derive(Debug)]
pub(crate) struct ChannelRec {
    pub id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub calendar_id: String,
    pub account: String,
    pub address: String,
    pub token: Option<String>,
    pub expiration_ms: i64,
    pub stopped: bool,
    /// Signalled on every change to the calendar (permits coalesce).
    pub changes: Arc<Notify>,
    /// Signalled on stop, so the task notices without waiting for the next change.
    pub wake: Arc<Notify>,
}

/// One delivery attempt, recorded for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub channel_id: String,
    pub resource_state: String,
    pub message_number: u64,
    pub attempt: u32,
    /// HTTP status of the receiver's answer; `None` when the POST itself failed.
    pub status: Option<u16>,
}

/// Validates a watch request and registers the channel; the caller starts its task.
pub(crate) fn create_channel(
    st: &mut State,
    account: &str,
    cal_id: &str,
    requested_cal: &str,
    body: &Value,
) -> ApiResult<(Value, Arc<Notify>, Arc<Notify>)> {
    let body = super::schema::sanitize("Channel", body)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .filter(|s| !s.is_empty())
    };
    let id = text("id").ok_or_else(|| ApiError::required("Required").at("body", "id"))?;
    match text("type").as_deref() {
        Some(t) if t.eq_ignore_ascii_case("web_hook") || t.eq_ignore_ascii_case("webhook") => {}
        Some(t) => {
            return Err(ApiError::invalid(format!("Unknown channel type: {t}")).at("body", "type"))
        }
        None => return Err(ApiError::required("Required").at("body", "type")),
    }
    let address =
        text("address").ok_or_else(|| ApiError::required("Required").at("body", "address"))?;
    let url = reqwest::Url::parse(&address).map_err(|_| {
        ApiError::invalid(format!("Invalid value for: address {address}")).at("body", "address")
    })?;
    let https_only = st.config.require_https_webhooks;
    if url.scheme() != "https" && (https_only || url.scheme() != "http") {
        return Err(ApiError::new(
            400,
            "push",
            "push.webhookUrlNotHttps",
            format!("WebHook callback must be HTTPS: {address}"),
        ));
    }
    if st.channels.contains_key(&id) {
        return Err(ApiError::new(
            400,
            "global",
            "channelIdNotUnique",
            "Channel id not unique",
        ));
    }
    let ttl = match body
        .get("params")
        .and_then(|p| p.get("ttl"))
        .and_then(Value::as_str)
    {
        Some(t) => t
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ApiError::invalid("Invalid value for: params.ttl").at("body", "params.ttl")
            })?,
        None => DEFAULT_TTL_SECS,
    };
    let now = st.now_ms();
    let expiration_ms = match body.get("expiration").and_then(Value::as_str) {
        Some(e) => e.trim().parse::<i64>().map_err(|_| {
            ApiError::invalid("Invalid value for: expiration").at("body", "expiration")
        })?,
        None => now.saturating_add(ttl.saturating_mul(1000)),
    };
    let token = text("token");
    // Stable per watched collection, like Google's opaque resource ids.
    let resource_id = sha256_b64url(format!("events:{cal_id}").as_bytes())[..27].to_string();
    let resource_uri = format!(
        "{}calendars/{}/events?alt=json",
        st.base_url,
        percent_encode(requested_cal)
    );
    let changes = Arc::new(Notify::new());
    let wake = Arc::new(Notify::new());
    st.channels.insert(
        id.clone(),
        ChannelRec {
            id: id.clone(),
            resource_id: resource_id.clone(),
            resource_uri: resource_uri.clone(),
            calendar_id: cal_id.to_string(),
            account: account.to_string(),
            address,
            token: token.clone(),
            expiration_ms,
            stopped: false,
            changes: changes.clone(),
            wake: wake.clone(),
        },
    );
    let mut out = json!({"kind": "api#channel", "id": id, "resourceId": resource_id, "resourceUri": resource_uri, "expiration": expiration_ms.to_string()});
    if let Some(t) = token {
        out["token"] = json!(t);
    }
    Ok((out, changes, wake))
}

/// `channels.stop`: the id and resource id must both match a channel of the caller.
pub(crate) fn stop_channel(st: &mut State, account: &str, body: &Value) -> ApiResult<()> {
    let body = super::schema::sanitize("Channel", body)?;
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    let resource_id = body
        .get("resourceId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match st.channels.get_mut(id) {
        Some(c) if c.resource_id == resource_id && c.account == account && !c.stopped => {
            c.stopped = true;
            c.wake.notify_one();
            Ok(())
        }
        _ => Err(ApiError::new(
            404,
            "global",
            "notFound",
            format!("Channel '{id}' not found for project 'almanac-emulator'"),
        )),
    }
}

struct Delivery {
    address: String,
    headers: Vec<(&'static str, String)>,
}

enum Next {
    Deliver(Delivery),
    Wait(i64),
    Done,
}

fn next_step(app: &App, id: &str, state: &str, number: u64) -> Next {
    let st = app.lock();
    let Some(c) = st.channels.get(id) else {
        return Next::Done;
    };
    let remaining = c.expiration_ms - st.now_ms();
    if c.stopped || remaining <= 0 {
        return Next::Done;
    }
    if state.is_empty() {
        return Next::Wait(remaining);
    }
    let mut headers = vec![
        ("X-Goog-Channel-ID", c.id.clone()),
        ("X-Goog-Channel-Expiration", http_date(c.expiration_ms)),
        ("X-Goog-Resource-ID", c.resource_id.clone()),
        ("X-Goog-Resource-URI", c.resource_uri.clone()),
        ("X-Goog-Resource-State", state.to_string()),
        ("X-Goog-Message-Number", number.to_string()),
    ];
    if let Some(t) = &c.token {
        headers.push(("X-Goog-Channel-Token", t.clone()));
    }
    Next::Deliver(Delivery {
        address: c.address.clone(),
        headers,
    })
}

/// The life of one channel.
pub(crate) async fn run_channel(
    app: Arc<App>,
    id: String,
    changes: Arc<Notify>,
    wake: Arc<Notify>,
) {
    let mut number = 1u64;
    let mut state = "sync";
    loop {
        match next_step(&app, &id, state, number) {
            Next::Deliver(d) => deliver(&app, &id, d, state, number).await,
            _ => return,
        }
        number += 1;
        state = "exists";
        // Wait for a change, re-checking stop and expiry whenever something may have moved them.
        loop {
            let remaining = match next_step(&app, &id, "", number) {
                Next::Wait(ms) => ms,
                _ => return,
            };
            tokio::select! {
                _ = changes.notified() => break,
                _ = wake.notified() => {}
                _ = app.clock_changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(remaining.clamp(1, 3_600_000) as u64)) => {}
            }
        }
    }
}

async fn deliver(app: &App, channel_id: &str, d: Delivery, state: &str, number: u64) {
    let (retries, mut delay) = {
        let st = app.lock();
        (st.config.webhook_retries, st.config.webhook_retry_delay)
    };
    for attempt in 0..=retries {
        let mut req = app
            .http
            .post(&d.address)
            .header(reqwest::header::CONTENT_LENGTH, "0");
        for (k, v) in &d.headers {
            req = req.header(*k, v.as_str());
        }
        let status = req.send().await.ok().map(|r| r.status().as_u16());
        app.control.record_notification(NotificationRecord {
            channel_id: channel_id.to_string(),
            resource_state: state.to_string(),
            message_number: number,
            attempt,
            status,
        });
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        if attempt < retries {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
}
