//! Change notifications: `/subscriptions` with the validation handshake, batched `value[]`
//! deliveries with retries, lifecycle notifications, renewal, deletion and `reauthorize`.

use super::config::LifecycleEvent;
use super::error::{GraphError, GraphResult};
use super::server::App;
use super::state::State;
use super::util::{self, utc_ms};
use crate::util::percent_encode;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub id: String,
    pub account: String,
    pub calendar: Option<String>,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration_ms: i64,
    pub immutable: bool,
    pub include_resource_data: bool,
    pub application_id: String,
    pub creator_id: String,
    pub encryption_certificate: Option<String>,
    pub encryption_certificate_id: Option<String>,
    pub latest_tls: String,
}

/// A notification waiting to be POSTed.
#[derive(Debug, Clone)]
pub(crate) struct PendingDelivery {
    pub url: String,
    pub subscription_id: String,
    pub kind: &'static str,
    pub notification: Value,
}

/// One POST the emulator made to a receiver, recorded for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub url: String,
    /// `validation`, `change` or `lifecycle`.
    pub kind: String,
    pub subscription_ids: Vec<String>,
    /// 0 for the first try.
    pub attempt: u32,
    /// HTTP status of the receiver's answer; `None` when the POST failed or timed out.
    pub status: Option<u16>,
    /// The JSON posted (`{"value": [...]}`), or the validation token.
    pub body: Value,
}

const CHANGE_TYPES: [&str; 3] = ["created", "updated", "deleted"];

/// `me/events`, `users/{id}/events`, `me/calendar/events`, `me/calendars/{id}/events` (and the
/// `users/{id}/…` forms): the mailbox and the optional calendar id.
fn parse_resource(resource: &str) -> Option<(Option<String>, Option<String>)> {
    let path = resource
        .split('?')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_start_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (user, rest) = match segs.as_slice() {
        [me, rest @ ..] if me.eq_ignore_ascii_case("me") => (None, rest),
        [users, u, rest @ ..] if users.eq_ignore_ascii_case("users") => (Some(u.to_string()), rest),
        _ => return None,
    };
    let cal = match rest {
        [e] if e.eq_ignore_ascii_case("events") => None,
        [c, e] if c.eq_ignore_ascii_case("calendar") && e.eq_ignore_ascii_case("events") => {
            Some(String::new())
        }
        [c, id, e] if c.eq_ignore_ascii_case("calendars") && e.eq_ignore_ascii_case("events") => {
            Some(id.to_string())
        }
        _ => return None,
    };
    Some((user, cal))
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("InvalidRequest", message)
}

impl State {
    fn max_minutes(&self, resource_data: bool) -> i64 {
        if resource_data {
            self.config.max_subscription_minutes_with_resource_data
        } else {
            self.config.max_subscription_minutes
        }
    }

    fn expiration(&self, body: &Value, resource_data: bool) -> GraphResult<i64> {
        let text = body
            .get("expirationDateTime")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("The expirationDateTime property is required."))?;
        let at = chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|_| invalid(format!("Invalid expirationDateTime '{text}'.")))?
            .timestamp_millis();
        let now = self.now_ms();
        if at <= now {
            return Err(invalid(
                "Subscription expiration can only be in the future.",
            ));
        }
        let max = self.max_minutes(resource_data);
        if at > now + max * 60_000 {
            return Err(invalid(format!(
                "Subscription expiration can only be {max} minutes in the future."
            )));
        }
        // Values under 45 minutes are raised to 45 [S].
        Ok(at.max(now + 45 * 60_000))
    }

    /// Checks a `POST /subscriptions` body; the caller runs the validation handshakes, then
    /// [`State::insert_subscription`].
    pub(crate) fn draft_subscription(
        &mut self,
        account: &str,
        body: &Value,
        immutable: bool,
        client_id: &str,
    ) -> GraphResult<Subscription> {
        let body = super::schema::check("subscription", body)?;
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .filter(|s| !s.trim().is_empty())
        };
        let change_type =
            text("changeType").ok_or_else(|| invalid("The changeType property is required."))?;
        for c in change_type.split(',') {
            if !CHANGE_TYPES.contains(&c.trim()) {
                return Err(invalid(format!(
                    "Invalid 'changeType' attribute: '{}'.",
                    c.trim()
                )));
            }
        }
        let resource =
            text("resource").ok_or_else(|| invalid("The resource property is required."))?;
        let (user, cal) = parse_resource(&resource).ok_or_else(|| {
            invalid(format!(
                "Resource '{resource}' is not supported for change notifications."
            ))
        })?;
        let account = self.user_of(account, user.as_deref())?;
        let calendar = match cal {
            None => None,
            Some(c) if c.is_empty() => Some(self.calendar_of(&account, None)?),
            Some(c) => Some(self.calendar_of(&account, Some(&c))?),
        };
        let https_only = self.config.require_https_notifications;
        let check_url = |u: &str| -> GraphResult<()> {
            let parsed = reqwest::Url::parse(u)
                .map_err(|_| invalid(format!("The notification URL '{u}' is not valid.")))?;
            if parsed.scheme() != "https" && (https_only || parsed.scheme() != "http") {
                return Err(invalid(
                    "Subscription validation request failed. Notification endpoint must be HTTPS.",
                ));
            }
            Ok(())
        };
        let notification_url = text("notificationUrl")
            .ok_or_else(|| invalid("The notificationUrl property is required."))?;
        check_url(&notification_url)?;
        let lifecycle_url = text("lifecycleNotificationUrl");
        if let Some(u) = &lifecycle_url {
            check_url(u)?;
        }
        let client_state = text("clientState");
        if client_state
            .as_ref()
            .is_some_and(|c| c.chars().count() > 128)
        {
            return Err(invalid(
                "The clientState property must not be longer than 128 characters.",
            ));
        }
        let include_resource_data = body
            .get("includeResourceData")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let encryption_certificate = text("encryptionCertificate");
        let encryption_certificate_id = text("encryptionCertificateId");
        if include_resource_data
            && (encryption_certificate.is_none() || encryption_certificate_id.is_none())
        {
            return Err(invalid("A subscription with includeResourceData needs encryptionCertificate and encryptionCertificateId."));
        }
        let expiration_ms = self.expiration(&body, include_resource_data)?;
        let creator_id = self
            .accounts
            .get(&account)
            .map(|a| a.user_id.clone())
            .unwrap_or_default();
        Ok(Subscription {
            id: util::guid(&mut self.rng),
            account,
            calendar,
            resource,
            change_type,
            notification_url,
            lifecycle_url,
            client_state,
            expiration_ms,
            immutable,
            include_resource_data,
            application_id: client_id.to_string(),
            creator_id,
            encryption_certificate,
            encryption_certificate_id,
            latest_tls: text("latestSupportedTlsVersion").unwrap_or_else(|| "v1_2".into()),
        })
    }

    pub(crate) fn render_subscription(&self, s: &Subscription) -> Value {
        json!({
            "id": s.id,
            "resource": s.resource,
            "applicationId": s.application_id,
            "changeType": s.change_type,
            "clientState": s.client_state,
            "notificationUrl": s.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": s.lifecycle_url,
            "expirationDateTime": utc_ms(s.expiration_ms),
            "creatorId": s.creator_id,
            "includeResourceData": s.include_resource_data,
            "latestSupportedTlsVersion": s.latest_tls,
            "encryptionCertificate": s.encryption_certificate,
            "encryptionCertificateId": s.encryption_certificate_id,
            "notificationUrlAppId": null,
        })
    }

    pub(crate) fn insert_subscription(&mut self, s: Subscription) -> Value {
        let v = self.render_subscription(&s);
        self.subscriptions.insert(s.id.clone(), s);
        v
    }

    /// A live subscription of `account` (expired ones are removed on sight).
    pub(crate) fn subscription(
        &mut self,
        account: &str,
        id: &str,
    ) -> GraphResult<&mut Subscription> {
        let now = self.now_ms();
        if self
            .subscriptions
            .get(id)
            .is_some_and(|s| s.expiration_ms <= now)
        {
            self.subscriptions.remove(id);
        }
        self.subscriptions
            .get_mut(id)
            .filter(|s| s.account == account)
            .ok_or_else(|| {
                GraphError::new(
                    404,
                    "ResourceNotFound",
                    format!("The object was not found. Subscription '{id}'."),
                )
            })
    }

    pub(crate) fn renew_subscription(
        &mut self,
        account: &str,
        id: &str,
        body: &Value,
    ) -> GraphResult<Value> {
        let body = super::schema::check("subscription", body)?;
        for k in body
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if !matches!(k.as_str(), "expirationDateTime" | "notificationUrl") {
                return Err(invalid(format!("The property '{k}' can't be updated.")));
            }
        }
        let resource_data = self.subscription(account, id)?.include_resource_data;
        let at = self.expiration(&body, resource_data)?;
        let s = self.subscription(account, id)?;
        s.expiration_ms = at;
        let s = s.clone();
        Ok(self.render_subscription(&s))
    }

    pub(crate) fn list_subscriptions(&mut self, account: &str) -> Vec<Value> {
        let now = self.now_ms();
        self.subscriptions.retain(|_, s| s.expiration_ms > now);
        self.subscriptions
            .values()
            .filter(|s| s.account == account)
            .map(|s| self.render_subscription(s))
            .collect()
    }

    /// Queues change notifications for a stored item.
    pub(crate) fn notify_change(&mut self, key: &str, change_type: &str) {
        let Some(ev) = self.events.get(key) else {
            return;
        };
        let (account, calendar, ck) = (
            ev.account.clone(),
            ev.calendar.clone(),
            ev.change_key.clone(),
        );
        let ids = (ev.rest_id.clone(), ev.key.clone());
        self.queue_change(&account, &calendar, ids, &ck, change_type);
    }

    /// Queues a `deleted` notification for a plain occurrence.
    pub(crate) fn notify_occurrence_deleted(&mut self, master: &str, orig: i64) {
        let Some(m) = self.events.get(master) else {
            return;
        };
        let ids = (
            util::occurrence_id(&m.rest_id, orig),
            util::occurrence_id(&m.key, orig),
        );
        let (account, calendar, ck) = (m.account.clone(), m.calendar.clone(), m.change_key.clone());
        self.queue_change(&account, &calendar, ids, &ck, "deleted");
    }

    fn queue_change(
        &mut self,
        account: &str,
        calendar: &str,
        (rest, immutable): (String, String),
        change_key: &str,
        change_type: &str,
    ) {
        let now = self.now_ms();
        let user_id = self
            .accounts
            .get(account)
            .map(|a| a.user_id.clone())
            .unwrap_or_default();
        let tenant = self.config.tenant_id.clone();
        let mut out = Vec::new();
        for s in self.subscriptions.values() {
            if s.account != account
                || s.expiration_ms <= now
                || s.calendar.as_ref().is_some_and(|c| c != calendar)
                || !s.change_type.split(',').any(|c| c.trim() == change_type)
            {
                continue;
            }
            let id = if s.immutable { &immutable } else { &rest };
            let resource = format!("Users/{user_id}/Events/{id}");
            let mut n = Map::new();
            n.insert("subscriptionId".into(), json!(s.id));
            n.insert(
                "subscriptionExpirationDateTime".into(),
                json!(utc_ms(s.expiration_ms)),
            );
            n.insert("changeType".into(), json!(change_type));
            n.insert("resource".into(), json!(resource));
            n.insert("resourceData".into(), json!({"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "@odata.etag": format!("W/\"{change_key}\""), "id": id}));
            if let Some(c) = &s.client_state {
                n.insert("clientState".into(), json!(c));
            }
            n.insert("tenantId".into(), json!(tenant));
            out.push(PendingDelivery {
                url: s.notification_url.clone(),
                subscription_id: s.id.clone(),
                kind: "change",
                notification: Value::Object(n),
            });
        }
        self.outbox.extend(out);
    }

    /// Test hook: queues a lifecycle notification (and, for `subscriptionRemoved`, removes the
    /// subscription). `false` when there is no such subscription.
    pub(crate) fn lifecycle(&mut self, id: &str, event: LifecycleEvent) -> bool {
        let Some(s) = self.subscriptions.get(id).cloned() else {
            return false;
        };
        if let Some(url) = &s.lifecycle_url {
            let mut n = Map::new();
            n.insert("subscriptionId".into(), json!(s.id));
            n.insert(
                "subscriptionExpirationDateTime".into(),
                json!(utc_ms(s.expiration_ms)),
            );
            n.insert("tenantId".into(), json!(self.config.tenant_id));
            if let Some(c) = &s.client_state {
                n.insert("clientState".into(), json!(c));
            }
            n.insert("lifecycleEvent".into(), json!(event.name()));
            self.outbox.push(PendingDelivery {
                url: url.clone(),
                subscription_id: s.id.clone(),
                kind: "lifecycle",
                notification: Value::Object(n),
            });
        }
        if event == LifecycleEvent::SubscriptionRemoved {
            self.subscriptions.remove(id);
        }
        true
    }
}

/// The validation handshake: POST `{url}?validationToken=…` (text/plain), expecting 200
/// `text/plain` with the decoded token within the configured time.
pub(crate) async fn validate(app: &App, url: &str, subscription_id: &str) -> GraphResult<()> {
    let (timeout, request_id) = {
        let mut st = app.lock();
        (st.config.validation_timeout, util::guid(&mut st.rng))
    };
    let token = format!("Validation: Testing client application reachability for subscription Request-Id: {request_id}");
    let sep = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{sep}validationToken={}", percent_encode(&token));
    let started = Instant::now();
    let sent = app
        .http
        .post(&target)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(timeout)
        .send()
        .await;
    let record = |status: Option<u16>| NotificationRecord {
        url: url.to_string(),
        kind: "validation".into(),
        subscription_ids: vec![subscription_id.to_string()],
        attempt: 0,
        status,
        body: json!(token),
    };
    let fail = |m: &str| GraphError::bad_request("ValidationError", m.to_string());
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            app.control.record_notification(record(None));
            return Err(if e.is_timeout() || started.elapsed() >= timeout {
                fail("Subscription validation request timed out.")
            } else {
                fail("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
            });
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = tokio::time::timeout(timeout.saturating_sub(started.elapsed()), resp.text()).await;
    app.control.record_notification(record(Some(status)));
    let body = match body {
        Ok(Ok(b)) => b,
        _ => return Err(fail("Subscription validation request timed out.")),
    };
    if status != 200 {
        return Err(fail("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."));
    }
    if !content_type.starts_with("text/plain") {
        return Err(fail(
            "Subscription validation request failed. Response must have Content-Type text/plain.",
        ));
    }
    if body != token {
        return Err(fail("Subscription validation request failed. Response must exactly match validationToken query parameter."));
    }
    Ok(())
}

/// Delivers queued notifications: waits for a kick, lets the batch window collect more, then POSTs
/// one `{"value": [...]}` per receiver URL (several subscriptions may share one POST).
pub(crate) async fn run_notifier(app: Arc<App>) {
    loop {
        app.outbox_ready.notified().await;
        let window = app.lock().config.notification_batch_window;
        tokio::time::sleep(window).await;
        let pending = std::mem::take(&mut app.lock().outbox);
        let mut by_url: BTreeMap<(String, &'static str), Vec<PendingDelivery>> = BTreeMap::new();
        for p in pending {
            by_url.entry((p.url.clone(), p.kind)).or_default().push(p);
        }
        for ((url, kind), items) in by_url {
            let app2 = app.clone();
            app.control
                .spawn(async move { deliver(app2, url, kind, items).await });
        }
    }
}

async fn deliver(app: Arc<App>, url: String, kind: &'static str, items: Vec<PendingDelivery>) {
    let (timeout, retries, mut delay) = {
        let st = app.lock();
        (
            st.config.notification_timeout,
            st.config.notification_retries,
            st.config.notification_retry_delay,
        )
    };
    let mut ids: Vec<String> = items.iter().map(|i| i.subscription_id.clone()).collect();
    ids.dedup();
    let body = json!({"value": items.iter().map(|i| i.notification.clone()).collect::<Vec<_>>()});
    for attempt in 0..=retries {
        let status = match app
            .http
            .post(&url)
            .json(&body)
            .timeout(timeout)
            .send()
            .await
        {
            Ok(r) => Some(r.status().as_u16()),
            Err(_) => None,
        };
        app.control.record_notification(NotificationRecord {
            url: url.clone(),
            kind: kind.into(),
            subscription_ids: ids.clone(),
            attempt,
            status,
            body: body.clone(),
        });
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        if attempt < retries {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2).min(Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        assert_eq!(parse_resource("me/events"), Some((None, None)));
        assert_eq!(
            parse_resource("/Users/abc/Events"),
            Some((Some("abc".into()), None))
        );
        assert_eq!(
            parse_resource("me/calendar/events"),
            Some((None, Some(String::new())))
        );
        assert_eq!(
            parse_resource("me/calendars/X1/events?$filter=x"),
            Some((None, Some("X1".into())))
        );
        assert_eq!(parse_resource("me/messages"), None);
        assert_eq!(parse_resource("me/calendarView"), None);
    }
}
