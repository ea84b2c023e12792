//! The Microsoft Graph v1.0 calendar emulator over real HTTP: fidelity against the CSDL subset,
//! then focused tests per checklist item of PROVIDERS.md §3 (items 22–40).
//!
//! Tests named `…_k_…`/`…_s_…` exercise behaviour PROVIDERS.md marks [K]/[S] (assumed or
//! secondary evidence, switchable in the emulator).
#![allow(clippy::unwrap_used)]

use super::harness::{self, send, Resp};
use almanac_emulators::outlook::{
    FaultKind, FaultMatch, FaultPlan, LifecycleEvent, OutlookEmulator, OutlookEmulatorConfig,
    RecurrencePatch, Throttling,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALICE: &str = "alice@example.com";
const EST: &str = "Eastern Standard Time";
const PST: &str = "Pacific Standard Time";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct T {
    emu: OutlookEmulator,
    http: reqwest::Client,
    token: String,
}

impl Resp {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl T {
    async fn new() -> T {
        T::with(OutlookEmulatorConfig::default()).await
    }

    async fn with(config: OutlookEmulatorConfig) -> T {
        let emu = OutlookEmulator::start(config).await.unwrap();
        let token = emu.issue_tokens(ALICE).access_token;
        T {
            emu,
            http: reqwest::Client::new(),
            token,
        }
    }

    /// `path` is relative to the base (`/me/events`) or absolute (a nextLink).
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.emu.base_url(), path)
        }
    }

    async fn req(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        send(
            &self.http,
            method,
            self.url(path),
            &self.token,
            body,
            headers,
        )
        .await
    }

    async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, None, &[]).await
    }
    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.req(Method::GET, path, None, headers).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(body), &[]).await
    }
    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(body), &[]).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.req(Method::DELETE, path, None, &[]).await
    }

    async fn create(&self, body: Value) -> Value {
        let r = self.post("/me/events", body).await;
        assert_eq!(r.status, 201, "create failed: {}", r.body);
        r.body
    }

    async fn ok(&self, path: &str) -> Value {
        self.ok_with(path, &[]).await
    }

    async fn ok_with(&self, path: &str, headers: &[(&str, &str)]) -> Value {
        let r = self.get_with(path, headers).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// Follows `@odata.nextLink` to the end.
    async fn all(&self, path: &str, headers: &[(&str, &str)]) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(p) = next {
            let page = self.ok_with(&p, headers).await;
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        out
    }

    async fn instances(&self, id: &str, from: &str, to: &str) -> Vec<Value> {
        self.all(
            &format!("/me/events/{id}/instances?startDateTime={from}&endDateTime={to}"),
            &[],
        )
        .await
    }

    async fn view(&self, from: &str, to: &str) -> Vec<Value> {
        self.all(
            &format!("/me/calendarView?startDateTime={from}&endDateTime={to}"),
            &[],
        )
        .await
    }

    /// A whole delta round: pages (values) and the deltaLink.
    async fn delta_round(
        &self,
        first: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Vec<Value>>, String) {
        let mut pages = Vec::new();
        let mut url = first.to_string();
        for _ in 0..1000 {
            let page = self.ok_with(&url, headers).await;
            pages.push(page["value"].as_array().cloned().unwrap_or_default());
            if let Some(n) = page["@odata.nextLink"].as_str() {
                assert!(
                    n.contains("$skiptoken=") && page.get("@odata.deltaLink").is_none(),
                    "{page}"
                );
                url = n.to_string();
            } else {
                let d = page["@odata.deltaLink"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no deltaLink: {page}"));
                assert!(d.contains("$deltatoken="));
                return (pages, d.to_string());
            }
        }
        panic!("delta round did not end");
    }
}

fn dtz(dt: &str, tz: &str) -> Value {
    json!({"dateTime": dt, "timeZone": tz})
}

fn single(subject: &str, start: &str, end: &str) -> Value {
    json!({"subject": subject, "start": dtz(start, "UTC"), "end": dtz(end, "UTC")})
}

fn series(subject: &str, start: &str, end: &str, tz: &str, pattern: Value, range: Value) -> Value {
    json!({"subject": subject, "start": dtz(start, tz), "end": dtz(end, tz), "recurrence": {"pattern": pattern, "range": range}})
}

fn weekly_mondays(subject: &str, count: u32) -> Value {
    series(
        subject,
        "2027-03-01T09:00:00",
        "2027-03-01T10:00:00",
        EST,
        json!({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}),
        json!({"type": "numbered", "startDate": "2027-03-01", "numberOfOccurrences": count}),
    )
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn starts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["start"]["dateTime"].as_str().unwrap()[..19].to_string())
        .collect()
}

fn dates(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["start"]["dateTime"].as_str().unwrap()[..10].to_string())
        .collect()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const FROM: &str = "2027-01-01T00:00:00Z";
const TO: &str = "2028-12-31T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// A webhook receiver
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    /// 200 text/plain with the decoded token (correct).
    Echo,
    /// Answers the token still URL-encoded.
    EchoEncoded,
    /// 200 but `text/html`.
    WrongType,
    Status500,
    /// Answers correctly, too late.
    Slow,
}

struct Receiver {
    base: String,
    mode: Arc<Mutex<Validation>>,
    /// Notification POSTs answered 500 before succeeding.
    fail: Arc<Mutex<usize>>,
    /// Notification POSTs answered only after a delay.
    slow: Arc<Mutex<usize>>,
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
    /// Received for another hook than the one waited for.
    parked: Vec<(String, Value)>,
}

async fn receiver() -> Receiver {
    let mode = Arc::new(Mutex::new(Validation::Echo));
    let fail = Arc::new(Mutex::new(0usize));
    let slow = Arc::new(Mutex::new(0usize));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (m, f, s) = (mode.clone(), fail.clone(), slow.clone());
    let handler = move |axum::extract::Path(hook): axum::extract::Path<String>,
                        axum::extract::RawQuery(q): axum::extract::RawQuery,
                        body: axum::body::Bytes| {
        let (m, f, s, tx) = (m.clone(), f.clone(), s.clone(), tx.clone());
        async move {
            use axum::response::IntoResponse;
            let q = q.unwrap_or_default();
            if let Some(raw) = q
                .split('&')
                .find_map(|p| p.strip_prefix("validationToken="))
            {
                let decoded = url_decode(raw);
                let mode = *m.lock().unwrap();
                return match mode {
                    Validation::Echo => ([("content-type", "text/plain")], decoded).into_response(),
                    Validation::EchoEncoded => {
                        ([("content-type", "text/plain")], raw.to_string()).into_response()
                    }
                    Validation::WrongType => {
                        ([("content-type", "text/html")], decoded).into_response()
                    }
                    Validation::Status500 => {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                    Validation::Slow => {
                        tokio::time::sleep(Duration::from_millis(800)).await;
                        ([("content-type", "text/plain")], decoded).into_response()
                    }
                };
            }
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = tx.send((hook, v));
            let slow_now = {
                let mut s = s.lock().unwrap();
                let yes = *s > 0;
                *s = s.saturating_sub(1);
                yes
            };
            if slow_now {
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            let mut f = f.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            axum::http::StatusCode::ACCEPTED.into_response()
        }
    };
    let app = axum::Router::new().route("/{hook}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        base,
        mode,
        fail,
        slow,
        rx,
        parked: vec![],
    }
}

fn url_decode(s: &str) -> String {
    let url = reqwest::Url::parse(&format!("http://x/?v={s}")).unwrap();
    url.query_pairs()
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Receiver {
    fn url(&self, hook: &str) -> String {
        format!("{}/{hook}", self.base)
    }
    /// The next POSTed notification body for `hook`.
    async fn next(&mut self, hook: &str) -> Value {
        if let Some(pos) = self.parked.iter().position(|(h, _)| h == hook) {
            return self.parked.remove(pos).1;
        }
        loop {
            let (h, v) = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
                .await
                .expect("a notification")
                .expect("receiver open");
            if h == hook {
                return v;
            }
            self.parked.push((h, v));
        }
    }
}

fn subscription_body(rx: &Receiver, minutes: i64) -> Value {
    let exp = (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339();
    json!({"changeType": "created,updated,deleted", "notificationUrl": rx.url("hook"), "lifecycleNotificationUrl": rx.url("life"), "resource": "me/events", "expirationDateTime": exp, "clientState": "secret-state"})
}

// ---------------------------------------------------------------------------------------------
// Fidelity against the CSDL subset
// ---------------------------------------------------------------------------------------------

struct Schema {
    types: HashMap<String, Value>,
}

impl Schema {
    fn load() -> Schema {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/graph-v1.0-calendar-subset.json"
        );
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let types = doc["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
            .collect();
        Schema { types }
    }

    fn member(&self, ty: &str, name: &str) -> Option<Value> {
        let mut cur = self.types.get(ty);
        while let Some(t) = cur {
            if let Some(m) = t["members"]
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["name"] == name))
            {
                return Some(m.clone());
            }
            cur = t["BaseType"]
                .as_str()
                .and_then(|b| self.types.get(b.trim_start_matches("graph.")));
        }
        None
    }

    /// Checks every property of `v` (an instance of `ty`) exists with the right type and
    /// nullability. Instance annotations (`@odata.*`, `@removed`) are not properties.
    fn check(&self, ty: &str, v: &Value, path: &str, errs: &mut Vec<String>) {
        let Some(def) = self.types.get(ty) else {
            return errs.push(format!("{path}: unknown type {ty}"));
        };
        if def["kind"] == "EnumType" {
            let ok = v.as_str().is_some_and(|s| def["members"].get(s).is_some());
            if !ok {
                errs.push(format!("{path}: {v} is not a {ty} member"));
            }
            return;
        }
        let Some(obj) = v.as_object() else {
            return errs.push(format!("{path}: expected a {ty} object, got {v}"));
        };
        for (k, x) in obj {
            if k.starts_with('@') || k.contains("@odata.") {
                continue;
            }
            let sub = format!("{path}.{k}");
            match self.member(ty, k) {
                Some(m) => {
                    if x.is_null() {
                        if m["Nullable"] == "false" {
                            errs.push(format!("{sub}: null for a non-nullable property"));
                        }
                        continue;
                    }
                    self.check_value(m["type"].as_str().unwrap(), x, &sub, errs);
                }
                None if def["OpenType"] == "true" && ty != "event" => {}
                None => errs.push(format!("{sub}: not a property of {ty}")),
            }
        }
    }

    fn check_value(&self, ty: &str, x: &Value, path: &str, errs: &mut Vec<String>) {
        if let Some(inner) = ty
            .strip_prefix("Collection(")
            .and_then(|s| s.strip_suffix(')'))
        {
            match x.as_array() {
                Some(items) => items
                    .iter()
                    .enumerate()
                    .for_each(|(i, it)| self.check_value(inner, it, &format!("{path}[{i}]"), errs)),
                None => errs.push(format!("{path}: expected a collection, got {x}")),
            }
            return;
        }
        let ok = match ty {
            "Edm.String" => x.is_string(),
            "Edm.Boolean" => x.is_boolean(),
            "Edm.Int32" => x.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "Edm.Double" => x.is_number(),
            "Edm.Date" => x
                .as_str()
                .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
            "Edm.DateTimeOffset" => x
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "Edm.Guid" => x
                .as_str()
                .is_some_and(|s| s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4),
            t => {
                self.check(t.trim_start_matches("graph."), x, path, errs);
                true
            }
        };
        if !ok {
            errs.push(format!("{path}: {x} is not a {ty}"));
        }
    }
}

#[tokio::test]
async fn fidelity_every_emitted_property_is_in_the_csdl_subset() {
    let mut rx = receiver().await;
    let t = T::new().await;
    let sub = t.post("/subscriptions", subscription_body(&rx, 60)).await;
    assert_eq!(sub.status, 201, "{}", sub.body);
    let mut seen: Vec<(&str, Value)> = vec![("subscription", sub.body.clone())];

    let rich = json!({
        "subject": "Planning", "body": {"contentType": "text", "content": "Agenda <b>x</b>"},
        "start": dtz("2027-04-05T10:00:00", PST), "end": dtz("2027-04-05T11:00:00", PST),
        "location": {"displayName": "Room 1", "address": {"city": "Oslo"}}, "categories": ["Red category"],
        "attendees": [{"emailAddress": {"address": "bob@example.com", "name": "Bob"}, "type": "optional"}],
        "importance": "high", "showAs": "tentative", "transactionId": "txn-rich",
        "singleValueExtendedProperties": [{"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac", "value": "s1"}],
    });
    let a = t.create(rich).await;
    let s = t.create(weekly_mondays("Weekly", 5)).await;
    let d = t.create(json!({"subject": "Holiday", "isAllDay": true, "start": dtz("2027-04-06T00:00:00", EST), "end": dtz("2027-04-07T00:00:00", EST),
        "recurrence": {"pattern": {"type": "absoluteYearly", "interval": 1, "month": 4, "dayOfMonth": 6}, "range": {"type": "endDate", "startDate": "2027-04-06", "endDate": "2029-04-06"}}})).await;
    let inst = t.instances(&id(&s), FROM, TO).await;
    let ex = t
        .patch(
            &format!("/me/events/{}", id(&inst[1])),
            json!({"subject": "Moved"}),
        )
        .await;
    assert_eq!(ex.status, 200);
    assert_eq!(
        t.delete(&format!("/me/events/{}", id(&inst[2])))
            .await
            .status,
        204
    );
    let (_, delta) = t
        .delta_round(
            &format!("/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}"),
            &[("Prefer", "odata.maxpagesize=3")],
        )
        .await;
    let gone = t
        .create(single("Gone", "2027-04-07T10:00:00", "2027-04-07T11:00:00"))
        .await;
    t.delete(&format!("/me/events/{}", id(&gone))).await;
    t.create(single(
        "Outside",
        "2030-01-01T10:00:00",
        "2030-01-01T11:00:00",
    ))
    .await;
    for e in [&a, &s, &d, &ex.body] {
        seen.push(("event", e.clone()));
    }
    seen.push(("event", t.ok(&format!("/me/events/{}?$expand=singleValueExtendedProperties($filter=id eq 'String {{66f5a359-4659-4830-9070-00047ec6ac6e}} Name almanac')", id(&a))).await));
    seen.push((
        "event",
        t.ok(&format!(
            "/me/events/{}?$expand=exceptionOccurrences",
            id(&s)
        ))
        .await,
    ));
    seen.push((
        "event",
        t.ok_with(
            &format!("/me/events/{}", id(&inst[0])),
            &[("Prefer", "outlook.timezone=\"Tokyo Standard Time\"")],
        )
        .await,
    ));
    let mut collections = vec![
        t.ok("/me/events").await,
        t.ok(&format!(
            "/me/calendarView?startDateTime={FROM}&endDateTime={TO}&$top=4"
        ))
        .await,
        t.ok(&format!(
            "/me/events/{}/instances?startDateTime={FROM}&endDateTime={TO}",
            id(&d)
        ))
        .await,
    ];
    let (pages, _) = t.delta_round(&delta, &[]).await;
    collections.extend(pages.into_iter().map(|p| json!({"value": p})));
    for c in &collections {
        for item in c["value"].as_array().unwrap() {
            seen.push(("event", item.clone()));
        }
    }
    for c in t.ok("/me/calendars").await["value"].as_array().unwrap() {
        seen.push(("calendar", c.clone()));
    }
    seen.push(("calendar", t.ok("/me/calendar").await));
    assert!(t
        .emu
        .send_lifecycle_notification(&id(&sub.body), LifecycleEvent::ReauthorizationRequired));
    for hook in ["hook", "life"] {
        let n = rx.next(hook).await;
        seen.push(("changeNotificationCollection", n));
    }

    let schema = Schema::load();
    let mut errs = Vec::new();
    for (ty, v) in &seen {
        schema.check(ty, v, ty, &mut errs);
    }
    assert!(
        errs.is_empty(),
        "properties outside the schema:\n{}",
        errs.join("\n")
    );
    let all = serde_json::to_string(&seen.iter().map(|s| &s.1).collect::<Vec<_>>()).unwrap();
    for needle in [
        "\"seriesMaster\"",
        "\"occurrence\"",
        "\"exception\"",
        "\"originalStart\"",
        "\"@removed\"",
        "\"cancelledOccurrences\"",
        "\"singleValueExtendedProperties\"",
        "\"lifecycleEvent\"",
        "\"resourceData\"",
        "\"exceptionOccurrences\"",
        "\"recurrenceTimeZone\"",
    ] {
        assert!(all.contains(needle), "scenario never emitted {needle}");
    }
    // Every event property the service always returns is there (the shape clients parse).
    for k in [
        "@odata.etag",
        "id",
        "createdDateTime",
        "lastModifiedDateTime",
        "changeKey",
        "categories",
        "transactionId",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "iCalUId",
        "reminderMinutesBeforeStart",
        "isReminderOn",
        "hasAttachments",
        "subject",
        "bodyPreview",
        "importance",
        "sensitivity",
        "isAllDay",
        "isCancelled",
        "isOrganizer",
        "responseRequested",
        "seriesMasterId",
        "showAs",
        "type",
        "webLink",
        "onlineMeetingUrl",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "allowNewTimeProposals",
        "isDraft",
        "hideAttendees",
        "responseStatus",
        "body",
        "start",
        "end",
        "location",
        "locations",
        "recurrence",
        "attendees",
        "organizer",
        "onlineMeeting",
    ] {
        assert!(a.get(k).is_some(), "event lacks {k}: {a}");
    }
}

#[tokio::test]
async fn fidelity_request_bodies_with_unknown_properties_are_refused() {
    let rx = receiver().await;
    let t = T::new().await;
    let base = single("x", "2027-04-05T10:00:00", "2027-04-05T11:00:00");
    for (path, bad) in [
        ("", json!({"subjet": "typo"})),
        (
            "start",
            json!({"dateTime": "2027-04-05T10:00:00", "timeZone": "UTC", "offset": 1}),
        ),
        (
            "recurrence",
            json!({"pattern": {"type": "daily", "interval": 1, "every": 2}, "range": {"type": "noEnd", "startDate": "2027-04-05"}}),
        ),
    ] {
        let mut body = base.clone();
        match path {
            "" => body
                .as_object_mut()
                .unwrap()
                .extend(bad.as_object().unwrap().clone()),
            p => body[p] = bad,
        }
        let r = t.post("/me/events", body).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "RequestBodyRead"),
            "{path}: {}",
            r.body
        );
        assert!(
            r.message().contains("does not exist on type"),
            "{}",
            r.message()
        );
    }
    let e = t.create(base.clone()).await;
    let r = t
        .patch(&format!("/me/events/{}", id(&e)), json!({"colour": "red"}))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "RequestBodyRead"));
    // Wrong types and enum literals.
    let r = t
        .post(
            "/me/events",
            json!({"subject": 5, "start": base["start"], "end": base["end"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .post(
            "/me/events",
            json!({"showAs": "sleeping", "start": base["start"], "end": base["end"]}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "RequestBodyRead"));
    let mut sub = subscription_body(&rx, 60);
    sub["bogus"] = json!(true);
    assert_eq!(
        t.post("/subscriptions", sub).await.code(),
        "RequestBodyRead"
    );
    // Annotations are allowed.
    let mut ok = base.clone();
    ok["@odata.type"] = json!("#microsoft.graph.event");
    assert_eq!(t.post("/me/events", ok).await.status, 201);
}

// ---------------------------------------------------------------------------------------------
// Checklist items
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item22_series_master_occurrences_and_per_occurrence_ids() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("Standup", 3)).await;
    assert_eq!(m["type"], "seriesMaster");
    assert!(m["seriesMasterId"].is_null() && m.get("originalStart").is_none());
    let inst = t.instances(&id(&m), FROM, TO).await;
    assert_eq!(inst.len(), 3);
    let mut ids = BTreeSet::new();
    let mut uids = BTreeSet::new();
    for (i, o) in inst.iter().enumerate() {
        assert_eq!(o["type"], "occurrence");
        assert_eq!(o["seriesMasterId"], m["id"]);
        assert!(o["recurrence"].is_null());
        // originalStart is the UTC instant of the original start (DateTimeOffset).
        let orig = o["originalStart"].as_str().unwrap();
        assert!(orig.ends_with('Z'), "{orig}");
        assert_eq!(
            orig[..19],
            o["start"]["dateTime"].as_str().unwrap()[..19],
            "unmoved occurrence {i}"
        );
        ids.insert(id(o));
        uids.insert(o["iCalUId"].as_str().unwrap().to_string());
        let got = t.ok(&format!("/me/events/{}", id(o))).await;
        assert_eq!(
            (got["type"].as_str(), got["id"].as_str()),
            (Some("occurrence"), o["id"].as_str())
        );
    }
    assert_eq!(ids.len(), 3);
    assert_eq!(uids.len(), 3, "iCalUId differs per occurrence");
    assert!(!uids.contains(m["iCalUId"].as_str().unwrap()));
    assert!(uids
        .iter()
        .all(|u| u.starts_with("040000008200E00074C5B7101A82E008")));
    assert_eq!(inst[0]["originalStart"], "2027-03-01T14:00:00Z");
}

#[tokio::test]
async fn item23_events_lists_masters_calendar_view_expands_and_needs_a_window() {
    let t = T::new().await;
    let s = t
        .create(single("One", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    let m = t.create(weekly_mondays("Series", 4)).await;
    let events = t.all("/me/events", &[]).await;
    let listed: BTreeSet<String> = events.iter().map(id).collect();
    assert_eq!(listed, [id(&s), id(&m)].into_iter().collect());
    assert!(events.iter().all(|e| e["type"] != "occurrence"));

    for path in [
        "/me/calendarView",
        "/me/calendarView?startDateTime=2027-03-01T00:00:00Z",
        &format!("/me/events/{}/instances", id(&m)),
    ] {
        let r = t.get(path).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "ErrorInvalidParameter"),
            "{path}"
        );
        assert_eq!(r.message(), "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
    }
    let v = t.view("2027-03-01T00:00:00Z", "2027-03-10T00:00:00Z").await;
    let types: Vec<&str> = v.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["occurrence", "singleInstance", "occurrence"]);
    assert!(v.iter().all(|e| e["type"] != "seriesMaster"));
    // Parameter names are case-insensitive; paging with $top.
    let page = t.ok("/me/calendarView?startdatetime=2027-03-01T00:00:00Z&enddatetime=2027-04-01T00:00:00Z&$top=2").await;
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert!(page["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("%24skip=2"));
    assert_eq!(t.all("/me/calendarView?startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-04-01T00:00:00Z&$top=2", &[]).await.len(), 5);
    // Read-only.
    let r = t
        .post(
            "/me/calendarView",
            single("x", "2027-03-02T10:00:00", "2027-03-02T11:00:00"),
        )
        .await;
    assert_eq!(r.status, 405);
    // Instances of a calendar-specific path agree with the mailbox-wide one.
    let cal = t.emu.add_account(ALICE).default_calendar_id;
    let inst = t
        .all(
            &format!(
                "/me/calendars/{cal}/events/{}/instances?startDateTime={FROM}&endDateTime={TO}",
                id(&m)
            ),
            &[],
        )
        .await;
    assert_eq!(inst.len(), 4);
}

#[tokio::test]
async fn item24_k_recurrence_is_validated_per_type_and_echoed_with_every_property() {
    let t = T::new().await;
    let d = t
        .create(series(
            "d",
            "2027-03-01T09:00:00",
            "2027-03-01T10:00:00",
            EST,
            json!({"type": "daily", "interval": 2}),
            json!({"type": "noEnd", "startDate": "2027-03-01"}),
        ))
        .await;
    assert_eq!(
        d["recurrence"],
        json!({"pattern": {"type": "daily", "interval": 2, "month": 0, "dayOfMonth": 0, "daysOfWeek": [], "firstDayOfWeek": "sunday", "index": "first"},
               "range": {"type": "noEnd", "startDate": "2027-03-01", "endDate": "0001-01-01", "recurrenceTimeZone": EST, "numberOfOccurrences": 0}})
    );
    let y = t.create(series("y", "2027-03-01T09:00:00", "2027-03-01T10:00:00", EST, json!({"type": "relativeYearly", "interval": 1, "month": 3, "daysOfWeek": ["monday"], "index": "first"}), json!({"type": "endDate", "startDate": "2027-03-01", "endDate": "2030-03-01"}))).await;
    assert_eq!(
        y["recurrence"]["pattern"],
        json!({"type": "relativeYearly", "interval": 1, "month": 3, "dayOfMonth": 0, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"})
    );
    assert_eq!(y["recurrence"]["range"]["endDate"], "2030-03-01");

    let range = json!({"type": "noEnd", "startDate": "2027-03-01"});
    for (why, pattern, range, code) in [
        (
            "weekly needs daysOfWeek",
            json!({"type": "weekly", "interval": 1}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "absoluteMonthly needs dayOfMonth",
            json!({"type": "absoluteMonthly", "interval": 1}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "absoluteYearly needs month",
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "month 1-12",
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3, "month": 13}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "dayOfMonth 1-31",
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "no fifth index",
            json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "fifth"}),
            range.clone(),
            "RequestBodyRead",
        ),
        (
            "interval required",
            json!({"type": "daily"}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
        (
            "unknown pattern type",
            json!({"type": "hourly", "interval": 1}),
            range.clone(),
            "RequestBodyRead",
        ),
        (
            "endDate range needs endDate",
            json!({"type": "daily", "interval": 1}),
            json!({"type": "endDate", "startDate": "2027-03-01"}),
            "ErrorPropertyValidationFailure",
        ),
        (
            "numbered needs a count",
            json!({"type": "daily", "interval": 1}),
            json!({"type": "numbered", "startDate": "2027-03-01"}),
            "ErrorPropertyValidationFailure",
        ),
        (
            "startDate required",
            json!({"type": "daily", "interval": 1}),
            json!({"type": "noEnd"}),
            "ErrorPropertyValidationFailure",
        ),
        (
            "Feb 30 does not exist",
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 30, "month": 2}),
            range.clone(),
            "ErrorPropertyValidationFailure",
        ),
    ] {
        let r = t
            .post(
                "/me/events",
                series(
                    "x",
                    "2027-03-01T09:00:00",
                    "2027-03-01T10:00:00",
                    EST,
                    pattern,
                    range,
                ),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, code),
            "{why}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn item25_s_absolute_monthly_day_31_and_yearly_feb_29_clamp_to_month_end() {
    let t = T::new().await;
    let m = t
        .create(series(
            "m",
            "2027-01-31T09:00:00",
            "2027-01-31T10:00:00",
            "UTC",
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}),
            json!({"type": "numbered", "startDate": "2027-01-31", "numberOfOccurrences": 4}),
        ))
        .await;
    assert_eq!(
        dates(&t.instances(&id(&m), FROM, TO).await),
        ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    );
    let leap = t
        .create(series(
            "l",
            "2028-01-30T09:00:00",
            "2028-01-30T10:00:00",
            "UTC",
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 30}),
            json!({"type": "numbered", "startDate": "2028-01-30", "numberOfOccurrences": 2}),
        ))
        .await;
    assert_eq!(
        dates(&t.instances(&id(&leap), FROM, "2029-01-01T00:00:00Z").await),
        ["2028-01-30", "2028-02-29"]
    );
    let y = t
        .create(series(
            "y",
            "2028-02-29T09:00:00",
            "2028-02-29T10:00:00",
            "UTC",
            json!({"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29}),
            json!({"type": "numbered", "startDate": "2028-02-29", "numberOfOccurrences": 3}),
        ))
        .await;
    assert_eq!(
        dates(&t.instances(&id(&y), FROM, "2031-01-01T00:00:00Z").await),
        ["2028-02-29", "2029-02-28", "2030-02-28"]
    );
}

#[tokio::test]
async fn item25_k_relative_patterns_use_union_semantics() {
    let t = T::new().await;
    let weekdays = json!(["monday", "tuesday", "wednesday", "thursday", "friday"]);
    let m = t.create(series("last weekday", "2027-01-01T17:00:00", "2027-01-01T17:30:00", "UTC", json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": weekdays, "index": "last"}), json!({"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 4}))).await;
    assert_eq!(
        dates(&t.instances(&id(&m), FROM, TO).await),
        ["2027-01-29", "2027-02-26", "2027-03-31", "2027-04-30"]
    );
    let weekend = t.create(series("first weekend day", "2027-01-01T10:00:00", "2027-01-01T11:00:00", "UTC", json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["saturday", "sunday"], "index": "first"}), json!({"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 3}))).await;
    assert_eq!(
        dates(&t.instances(&id(&weekend), FROM, TO).await),
        ["2027-01-02", "2027-02-06", "2027-03-06"]
    );
    let thanks = t.create(series("4th Thu Nov", "2027-01-01T12:00:00", "2027-01-01T13:00:00", "UTC", json!({"type": "relativeYearly", "interval": 1, "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"}), json!({"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 2}))).await;
    assert_eq!(
        dates(&t.instances(&id(&thanks), FROM, TO).await),
        ["2027-11-25", "2028-11-23"]
    );
}

#[tokio::test]
async fn item25_weekly_weeks_align_on_first_day_of_week() {
    let t = T::new().await;
    let range = json!({"type": "numbered", "startDate": "2027-03-02", "numberOfOccurrences": 4});
    // Start Tuesday 2027-03-02. Monday weeks: week 0 = Mar 1–7 → Thu 4, then Mon 15, Thu 18, Mon 29.
    let mon = t.create(series("mon", "2027-03-02T09:00:00", "2027-03-02T10:00:00", "UTC", json!({"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "monday"}), range.clone())).await;
    assert_eq!(
        dates(&t.instances(&id(&mon), FROM, TO).await),
        ["2027-03-04", "2027-03-15", "2027-03-18", "2027-03-29"]
    );
    assert_eq!(mon["recurrence"]["pattern"]["firstDayOfWeek"], "monday");
    // Sunday weeks: week 0 = Feb 28–Mar 6 → Thu 4, then Sun 14, Thu 18, Sun 28.
    let sun = t.create(series("sun", "2027-03-02T09:00:00", "2027-03-02T10:00:00", "UTC", json!({"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "thursday"], "firstDayOfWeek": "sunday"}), range)).await;
    assert_eq!(
        dates(&t.instances(&id(&sun), FROM, TO).await),
        ["2027-03-04", "2027-03-14", "2027-03-18", "2027-03-28"]
    );
}

#[tokio::test]
async fn item25_numbered_counts_from_the_first_pattern_date_and_end_date_is_inclusive() {
    let t = T::new().await;
    // startDate is a Wednesday; the pattern is Mondays: RFC 5545 would count DTSTART, Exchange does not.
    let n = t
        .create(series(
            "n",
            "2027-03-03T09:00:00",
            "2027-03-03T10:00:00",
            EST,
            json!({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}),
            json!({"type": "numbered", "startDate": "2027-03-03", "numberOfOccurrences": 3}),
        ))
        .await;
    assert_eq!(
        dates(&t.instances(&id(&n), FROM, TO).await),
        ["2027-03-08", "2027-03-15", "2027-03-22"]
    );
    // endDate is inclusive even though the occurrence is late in that day.
    let e = t
        .create(series(
            "e",
            "2027-03-01T23:00:00",
            "2027-03-01T23:30:00",
            EST,
            json!({"type": "daily", "interval": 1}),
            json!({"type": "endDate", "startDate": "2027-03-01", "endDate": "2027-03-04"}),
        ))
        .await;
    let got = t
        .all(
            &format!(
                "/me/events/{}/instances?startDateTime={FROM}&endDateTime={TO}",
                id(&e)
            ),
            &[("Prefer", &format!("outlook.timezone=\"{EST}\""))],
        )
        .await;
    assert_eq!(
        dates(&got),
        ["2027-03-01", "2027-03-02", "2027-03-03", "2027-03-04"]
    );
    // ...and compared in recurrenceTimeZone: in UTC the last occurrence is already on the 5th.
    assert_eq!(
        dates(&t.instances(&id(&e), FROM, TO).await).last().unwrap(),
        "2027-03-05"
    );
    // noEnd runs on.
    let open = t
        .create(series(
            "o",
            "2027-03-01T09:00:00",
            "2027-03-01T10:00:00",
            EST,
            json!({"type": "daily", "interval": 1}),
            json!({"type": "noEnd", "startDate": "2027-03-01"}),
        ))
        .await;
    assert_eq!(
        t.instances(&id(&open), "2030-01-01T00:00:00Z", "2030-01-11T00:00:00Z")
            .await
            .len(),
        10
    );
}

#[tokio::test]
async fn item25_wall_clock_stays_fixed_across_dst_in_eastern_standard_time() {
    let t = T::new().await;
    let m = t
        .create(series(
            "dst",
            "2027-03-01T09:00:00",
            "2027-03-01T09:30:00",
            EST,
            json!({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}),
            json!({"type": "endDate", "startDate": "2027-03-01", "endDate": "2027-11-30"}),
        ))
        .await;
    let march = t
        .instances(&id(&m), "2027-03-01T00:00:00Z", "2027-03-23T00:00:00Z")
        .await;
    assert_eq!(
        starts(&march),
        [
            "2027-03-01T14:00:00",
            "2027-03-08T14:00:00",
            "2027-03-15T13:00:00",
            "2027-03-22T13:00:00"
        ]
    );
    let nov = t
        .instances(&id(&m), "2027-10-25T00:00:00Z", "2027-11-16T00:00:00Z")
        .await;
    assert_eq!(
        starts(&nov),
        [
            "2027-10-25T13:00:00",
            "2027-11-01T13:00:00",
            "2027-11-08T14:00:00",
            "2027-11-15T14:00:00"
        ]
    );
    let local = t.all(&format!("/me/events/{}/instances?startDateTime=2027-03-01T00:00:00Z&endDateTime=2027-03-23T00:00:00Z", id(&m)), &[("Prefer", &format!("outlook.timezone=\"{EST}\""))]).await;
    for o in &local {
        assert_eq!(
            &o["start"]["dateTime"].as_str().unwrap()[11..],
            "09:00:00.0000000"
        );
        assert_eq!(o["start"]["timeZone"], EST);
        assert_eq!(
            &o["end"]["dateTime"].as_str().unwrap()[11..],
            "09:30:00.0000000"
        );
    }
    // originalStart identifies occurrences by their UTC instant, which moves with DST.
    assert_eq!(march[2]["originalStart"], "2027-03-15T13:00:00Z");
    // A 02:30 start on the spring-forward day does not exist: read as 03:30 EDT.
    let gap = t
        .create(series(
            "gap",
            "2027-03-13T02:30:00",
            "2027-03-13T03:00:00",
            EST,
            json!({"type": "daily", "interval": 1}),
            json!({"type": "numbered", "startDate": "2027-03-13", "numberOfOccurrences": 3}),
        ))
        .await;
    assert_eq!(
        starts(&t.instances(&id(&gap), FROM, TO).await),
        [
            "2027-03-13T07:30:00",
            "2027-03-14T07:30:00",
            "2027-03-15T06:30:00"
        ]
    );
}

#[tokio::test]
async fn item26_s_patching_an_occurrence_makes_an_exception_and_crossings_are_refused() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("Standup", 4)).await;
    let inst = t.instances(&id(&m), FROM, TO).await;
    let occ = id(&inst[1]);
    let r = t
        .patch(&format!("/me/events/{occ}"), json!({"subject": "Changed"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["type"].as_str(), r.body["id"].as_str()),
        (Some("exception"), Some(occ.as_str()))
    );
    assert_eq!(r.body["seriesMasterId"], m["id"]);
    assert_eq!(r.body["originalStart"], inst[1]["originalStart"]);
    let again = t.instances(&id(&m), FROM, TO).await;
    let types: Vec<&str> = again.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["occurrence", "exception", "occurrence", "occurrence"]
    );
    assert_eq!(again[1]["subject"], "Changed");

    // Onto the next occurrence's day, or past it: refused.
    for day in ["2027-03-15", "2027-03-17"] {
        let r = t.patch(&format!("/me/events/{occ}"), json!({"start": dtz(&format!("{day}T09:00:00"), EST), "end": dtz(&format!("{day}T10:00:00"), EST)})).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "ErrorOccurrenceCrossingBoundary"),
            "{day}"
        );
    }
    let r = t.patch(&format!("/me/events/{}", id(&inst[2])), json!({"start": dtz("2027-03-01T12:00:00", EST), "end": dtz("2027-03-01T13:00:00", EST)})).await;
    assert_eq!(
        r.code(),
        "ErrorOccurrenceCrossingBoundary",
        "backwards onto the first occurrence's day"
    );
    // Within the gap: fine, and the identity (originalStart) stays.
    let r = t.patch(&format!("/me/events/{occ}"), json!({"start": dtz("2027-03-10T15:00:00", EST), "end": dtz("2027-03-10T16:00:00", EST)})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["originalStart"], "2027-03-08T14:00:00Z");
    assert_eq!(r.body["start"]["dateTime"], "2027-03-10T20:00:00.0000000");
    // Plain occurrences never list in /events; exceptions neither.
    assert_eq!(t.all("/me/events", &[]).await.len(), 1);
}

#[tokio::test]
async fn item27_deleting_an_occurrence_removes_it_and_lists_it_on_the_master() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("Standup", 4)).await;
    let inst = t.instances(&id(&m), FROM, TO).await;
    let gone = id(&inst[2]);
    let r = t.delete(&format!("/me/events/{gone}")).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_null());
    let after = t.instances(&id(&m), FROM, TO).await;
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|i| id(i) != gone));
    assert!(t.view(FROM, TO).await.iter().all(|i| id(i) != gone));
    assert_eq!(
        t.get(&format!("/me/events/{gone}")).await.code(),
        "ErrorItemNotFound"
    );
    assert_eq!(t.delete(&format!("/me/events/{gone}")).await.status, 404);
    let master = t.ok(&format!("/me/events/{}", id(&m))).await;
    assert_eq!(
        master["cancelledOccurrences"],
        json!([format!("OID.{}.2027-03-15", id(&m))])
    );
    // Deleting an exception works the same way; deleting the master removes the series.
    t.patch(
        &format!("/me/events/{}", id(&inst[0])),
        json!({"subject": "x"}),
    )
    .await;
    assert_eq!(
        t.delete(&format!("/me/events/{}", id(&inst[0])))
            .await
            .status,
        204
    );
    assert_eq!(t.instances(&id(&m), FROM, TO).await.len(), 2);
    assert_eq!(
        t.delete(&format!("/me/events/{}", id(&m))).await.status,
        204
    );
    assert!(t.view(FROM, TO).await.is_empty());
    assert_eq!(
        t.get(&format!("/me/events/{}", id(&inst[1]))).await.status,
        404
    );
}

#[tokio::test]
async fn item28_cancel_is_for_organizers_and_works_on_occurrences() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("Standup", 3)).await;
    let inst = t.instances(&id(&m), FROM, TO).await;
    let r = t
        .post(
            &format!("/me/events/{}/cancel", id(&inst[1])),
            json!({"Comment": "Not this week"}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_null());
    assert_eq!(t.instances(&id(&m), FROM, TO).await.len(), 2);
    let s = t
        .create(single("Solo", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    assert_eq!(
        t.post(
            &format!("/me/events/{}/cancel", id(&s)),
            json!({"comment": "bye"})
        )
        .await
        .status,
        202
    );
    assert_eq!(t.get(&format!("/me/events/{}", id(&s))).await.status, 404);
    let r = t
        .post(
            &format!("/me/events/{}/cancel", id(&m)),
            json!({"Comment": "x", "notify": true}),
        )
        .await;
    assert_eq!(r.status, 400, "unknown action parameter");

    let inv = t
        .emu
        .add_invitation(
            ALICE,
            "boss@example.com",
            &single(
                "Their meeting",
                "2027-03-03T10:00:00",
                "2027-03-03T11:00:00",
            ),
        )
        .unwrap();
    let got = t.ok(&format!("/me/events/{inv}")).await;
    assert_eq!(got["isOrganizer"], false);
    assert_eq!(
        got["organizer"]["emailAddress"]["address"],
        "boss@example.com"
    );
    let r = t
        .post(&format!("/me/events/{inv}/cancel"), json!({"Comment": "x"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "Your request can't be completed. You need to be an organizer to cancel a meeting."
    );
    assert_eq!(
        t.get(&format!("/me/events/{inv}")).await.status,
        200,
        "still there"
    );
}

#[tokio::test]
async fn item29_k_recurrence_patch_wipes_exceptions_and_other_master_fields_propagate() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("Standup", 5)).await;
    let mid = id(&m);
    let inst = t.instances(&mid, FROM, TO).await;
    t.patch(
        &format!("/me/events/{}", id(&inst[1])),
        json!({"subject": "Special"}),
    )
    .await;
    t.delete(&format!("/me/events/{}", id(&inst[2]))).await;
    // A non-recurrence change of the master reaches occurrences and non-overridden exception fields.
    let r = t
        .patch(
            &format!("/me/events/{mid}"),
            json!({"subject": "Daily sync", "location": {"displayName": "Room 7"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let after = t.instances(&mid, FROM, TO).await;
    assert_eq!(after.len(), 4);
    let subjects: Vec<&str> = after
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["Daily sync", "Special", "Daily sync", "Daily sync"]
    );
    assert!(after
        .iter()
        .all(|i| i["location"]["displayName"] == "Room 7"));
    // Any recurrence PATCH wipes modified and deleted occurrences (default).
    let mut rec = m["recurrence"].clone();
    rec["range"]["numberOfOccurrences"] = json!(6);
    assert_eq!(
        t.patch(&format!("/me/events/{mid}"), json!({"recurrence": rec}))
            .await
            .status,
        200
    );
    let wiped = t.instances(&mid, FROM, TO).await;
    assert_eq!(wiped.len(), 6);
    assert!(wiped
        .iter()
        .all(|i| i["type"] == "occurrence" && i["subject"] == "Daily sync"));
    assert_eq!(
        t.ok(&format!("/me/events/{mid}")).await["cancelledOccurrences"],
        json!([])
    );
    assert_eq!(
        t.ok(&format!("/me/events/{}", id(&inst[1]))).await["type"],
        "occurrence",
        "the id names the plain occurrence again"
    );

    // Switch: an unchanged recurrence keeps exceptions.
    t.emu.set_recurrence_patch(RecurrencePatch::WipeWhenChanged);
    t.patch(
        &format!("/me/events/{}", id(&wiped[0])),
        json!({"subject": "Kept"}),
    )
    .await;
    t.patch(&format!("/me/events/{mid}"), json!({"recurrence": rec}))
        .await;
    assert_eq!(t.instances(&mid, FROM, TO).await[0]["subject"], "Kept");
    // Switch: exceptions still on the pattern survive a real change.
    t.emu.set_recurrence_patch(RecurrencePatch::KeepMatching);
    let mut shorter = rec.clone();
    shorter["range"]["numberOfOccurrences"] = json!(2);
    t.patch(&format!("/me/events/{mid}"), json!({"recurrence": shorter}))
        .await;
    let kept = t.instances(&mid, FROM, TO).await;
    assert_eq!((kept.len(), kept[0]["subject"].as_str()), (2, Some("Kept")));
}

#[tokio::test]
async fn item30_times_are_utc_unless_preferred_and_zones_are_windows_names() {
    let t = T::new().await;
    let e = t.create(json!({"subject": "NY", "start": dtz("2027-07-01T09:00:00", "America/New_York"), "end": dtz("2027-07-01T10:00:00", "America/New_York")})).await;
    assert_eq!(
        e["start"],
        json!({"dateTime": "2027-07-01T13:00:00.0000000", "timeZone": "UTC"})
    );
    assert_eq!(
        (
            e["originalStartTimeZone"].as_str(),
            e["originalEndTimeZone"].as_str()
        ),
        (Some(EST), Some(EST))
    );
    let r = t
        .get_with(
            &format!("/me/events/{}", id(&e)),
            &[("Prefer", &format!("outlook.timezone=\"{PST}\""))],
        )
        .await;
    assert_eq!(
        r.body["start"],
        json!({"dateTime": "2027-07-01T06:00:00.0000000", "timeZone": PST})
    );
    assert_eq!(
        r.header("preference-applied"),
        Some("outlook.timezone=\"Pacific Standard Time\"")
    );
    let r = t
        .get_with(
            &format!("/me/events/{}", id(&e)),
            &[("Prefer", "outlook.timezone=\"Asia/Kolkata\"")],
        )
        .await;
    assert_eq!(r.body["start"]["dateTime"], "2027-07-01T18:30:00.0000000");
    // Series keep their zone in recurrenceTimeZone (Windows name even for IANA input).
    let s = t
        .create(series(
            "s",
            "2027-07-01T09:00:00",
            "2027-07-01T10:00:00",
            "Europe/Berlin",
            json!({"type": "daily", "interval": 1}),
            json!({"type": "numbered", "startDate": "2027-07-01", "numberOfOccurrences": 2}),
        ))
        .await;
    assert_eq!(
        s["recurrence"]["range"]["recurrenceTimeZone"],
        "W. Europe Standard Time"
    );
    for (zone, windows) in [
        ("GMT Standard Time", "GMT Standard Time"),
        ("India Standard Time", "India Standard Time"),
        ("AUS Eastern Standard Time", "AUS Eastern Standard Time"),
        ("Tokyo Standard Time", "Tokyo Standard Time"),
        ("UTC", "UTC"),
        ("Australia/Sydney", "AUS Eastern Standard Time"),
    ] {
        let r = t.post("/me/events", json!({"start": dtz("2027-07-01T09:00:00", zone), "end": dtz("2027-07-01T10:00:00", zone)})).await;
        assert_eq!(
            (r.status.as_u16(), r.body["originalStartTimeZone"].as_str()),
            (201, Some(windows)),
            "{zone}"
        );
    }
    // All-day: midnight to midnight, whatever the preferred zone.
    let d = t.create(json!({"subject": "Off", "isAllDay": true, "start": dtz("2027-07-02T00:00:00", PST), "end": dtz("2027-07-03T00:00:00", PST)})).await;
    let r = t
        .get_with(
            &format!("/me/events/{}", id(&d)),
            &[("Prefer", "outlook.timezone=\"Tokyo Standard Time\"")],
        )
        .await;
    assert_eq!(
        r.body["start"],
        json!({"dateTime": "2027-07-02T00:00:00.0000000", "timeZone": "Tokyo Standard Time"})
    );
    assert_eq!(r.body["end"]["dateTime"], "2027-07-03T00:00:00.0000000");
    assert_eq!(d["start"]["dateTime"], "2027-07-02T00:00:00.0000000");
    // Refusals.
    for zone in ["Europe/Amsterdam", "Mars/Olympus_Mons", "EST5EDT"] {
        let r = t.post("/me/events", json!({"start": dtz("2027-07-01T09:00:00", zone), "end": dtz("2027-07-01T10:00:00", zone)})).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "TimeZoneNotSupportedException"),
            "{zone}"
        );
        assert_eq!(r.message(), format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'."));
    }
    let r = t.post("/me/events", json!({"isAllDay": true, "start": dtz("2027-07-02T09:00:00", PST), "end": dtz("2027-07-03T09:00:00", PST)})).await;
    assert_eq!(r.status, 400, "all-day needs midnight");
    let r = t.post("/me/events", json!({"isAllDay": true, "start": dtz("2027-07-02T00:00:00", PST), "end": dtz("2027-07-02T00:00:00", PST)})).await;
    assert_eq!(r.status, 400, "all-day needs at least a day");
    let mut bad_rec = s["recurrence"].clone();
    bad_rec["range"]["recurrenceTimeZone"] = json!("Nowhere Standard Time");
    let r = t.post("/me/events", json!({"start": dtz("2027-07-01T09:00:00", EST), "end": dtz("2027-07-01T10:00:00", EST), "recurrence": bad_rec})).await;
    assert_eq!(r.code(), "TimeZoneNotSupportedException");
}

#[tokio::test]
async fn item31_change_key_and_etag_move_on_every_write_with_if_match() {
    let t = T::new().await;
    let e = t
        .create(single("v1", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    let path = format!("/me/events/{}", id(&e));
    let mut keys = BTreeSet::new();
    let mut last = e.clone();
    keys.insert(e["changeKey"].as_str().unwrap().to_string());
    for n in 2..5 {
        let r = t.patch(&path, json!({"subject": format!("v{n}")})).await;
        assert_eq!(r.status, 200);
        let ck = r.body["changeKey"].as_str().unwrap();
        assert_eq!(r.body["@odata.etag"], format!("W/\"{ck}\""));
        assert!(
            r.body["lastModifiedDateTime"].as_str().unwrap()
                > last["lastModifiedDateTime"].as_str().unwrap()
        );
        assert_eq!(r.body["createdDateTime"], e["createdDateTime"]);
        keys.insert(ck.to_string());
        last = r.body;
    }
    assert_eq!(keys.len(), 4);
    let stale = e["@odata.etag"].as_str().unwrap();
    let r = t
        .req(
            Method::PATCH,
            &path,
            Some(json!({"subject": "x"})),
            &[("If-Match", stale)],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (412, "ErrorIrresolvableConflict")
    );
    assert_eq!(t.ok(&path).await["subject"], "v4");
    let r = t
        .req(
            Method::PATCH,
            &path,
            Some(json!({"subject": "ok"})),
            &[("If-Match", last["@odata.etag"].as_str().unwrap())],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.req(Method::DELETE, &path, None, &[("If-Match", stale)])
            .await
            .status,
        412
    );
    t.emu
        .set_precondition_failed_code("ErrorChangeKeyRequiredForWriteOperations");
    let r = t
        .req(Method::DELETE, &path, None, &[("If-Match", stale)])
        .await;
    assert_eq!(r.code(), "ErrorChangeKeyRequiredForWriteOperations");
    assert_eq!(
        t.req(
            Method::DELETE,
            &path,
            None,
            &[("If-Match", r#"W/"nope", *"#)]
        )
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn item32_k_transaction_id_is_echoed_and_deduplicates_posts() {
    let t = T::new().await;
    let mut body = single("Once", "2027-03-02T10:00:00", "2027-03-02T11:00:00");
    body["transactionId"] = json!("7E163156-7762-4BEB-A1C6-729EA81755A7");
    let a = t.create(body.clone()).await;
    assert_eq!(a["transactionId"], "7E163156-7762-4BEB-A1C6-729EA81755A7");
    let b = t.create(body.clone()).await;
    assert_eq!(id(&a), id(&b), "a retried POST returns the first event");
    assert_eq!(t.all("/me/events", &[]).await.len(), 1);
    let plain = t
        .create(single(
            "No txn",
            "2027-03-03T10:00:00",
            "2027-03-03T11:00:00",
        ))
        .await;
    assert!(plain["transactionId"].is_null());
    let (pages, _) = t
        .delta_round(
            &format!("/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}"),
            &[],
        )
        .await;
    let items: Vec<Value> = pages.concat();
    let txns: BTreeSet<String> = items
        .iter()
        .map(|i| i["transactionId"].to_string())
        .collect();
    assert_eq!(
        txns,
        [
            "\"7E163156-7762-4BEB-A1C6-729EA81755A7\"".to_string(),
            "null".to_string()
        ]
        .into_iter()
        .collect()
    );
    t.emu.set_transaction_id_dedup(false);
    assert_ne!(id(&t.create(body).await), id(&a));
}

#[tokio::test]
async fn item33_delta_pages_skeletal_occurrences_and_never_splits_a_series() {
    let t = T::new().await;
    for n in 0..3 {
        t.create(single(
            &format!("S{n}"),
            &format!("2027-03-0{}T10:00:00", n + 2),
            &format!("2027-03-0{}T11:00:00", n + 2),
        ))
        .await;
    }
    let m = t.create(weekly_mondays("Series", 4)).await;
    let inst = t.instances(&id(&m), FROM, TO).await;
    t.patch(
        &format!("/me/events/{}", id(&inst[3])),
        json!({"subject": "Exception"}),
    )
    .await;
    let first = format!("/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}");
    assert_eq!(
        t.get("/me/calendarView/delta").await.code(),
        "ErrorInvalidParameter",
        "the first call needs the window"
    );
    for opt in [
        "$select=subject",
        "$filter=subject eq 'x'",
        "$orderby=start/dateTime",
        "$expand=singleValueExtendedProperties",
        "$search=x",
        "$top=2",
    ] {
        let r = t.get(&format!("{first}&{opt}")).await;
        assert_eq!(r.status, 400, "{opt}");
    }
    let (pages, delta) = t
        .delta_round(&first, &[("Prefer", "odata.maxpagesize=2")])
        .await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 7);
    // The 4 series entries exceed the page size but share one page.
    let series_pages: BTreeSet<usize> = pages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.iter().any(|i| i["seriesMasterId"] == m["id"]))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(series_pages.len(), 1, "{sizes:?}");
    assert!(
        sizes.iter().filter(|s| **s != 4).all(|s| *s <= 2),
        "{sizes:?}"
    );
    for item in pages.concat() {
        assert_eq!(item["@odata.type"], "#microsoft.graph.event");
        match item["type"].as_str().unwrap() {
            "occurrence" => {
                let keys: BTreeSet<&str> = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(
                    keys,
                    [
                        "@odata.etag",
                        "@odata.type",
                        "end",
                        "id",
                        "seriesMasterId",
                        "start",
                        "type"
                    ]
                    .into_iter()
                    .collect(),
                    "skeletal"
                );
            }
            "exception" | "singleInstance" => assert!(
                item.get("subject").is_some()
                    && item.get("transactionId").is_some()
                    && item.get("body").is_some()
            ),
            other => panic!("unexpected {other}"),
        }
    }
    // Nothing changed: an empty round.
    let (pages, delta) = t.delta_round(&delta, &[]).await;
    assert_eq!(pages.concat().len(), 0);
    // A change made while a round is being paged is not lost: it arrives with the next round.
    let mut late = Vec::new();
    for n in 0..2 {
        late.push(
            t.create(single(
                &format!("S-late{n}"),
                "2027-03-05T10:00:00",
                "2027-03-05T11:00:00",
            ))
            .await,
        );
    }
    let one = [("Prefer", "odata.maxpagesize=1")];
    let first_page = t.ok_with(&delta, &one).await;
    assert_eq!(first_page["value"].as_array().unwrap().len(), 1);
    for e in &late {
        t.patch(
            &format!("/me/events/{}", id(e)),
            json!({"subject": "S-late v2"}),
        )
        .await;
    }
    let (rest, next) = t
        .delta_round(first_page["@odata.nextLink"].as_str().unwrap(), &one)
        .await;
    let this_round: Vec<Value> = first_page["value"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .chain(rest.concat())
        .collect();
    assert!(
        this_round.iter().all(|i| i["subject"] != "S-late v2"),
        "the round was computed when it started"
    );
    let (pages, _) = t.delta_round(&next, &[]).await;
    assert_eq!(
        pages
            .concat()
            .iter()
            .filter(|i| i["subject"] == "S-late v2")
            .count(),
        2
    );
}

#[tokio::test]
async fn item33_incremental_rounds_report_removals_inside_and_changes_outside_the_window() {
    let t = T::new().await;
    let from = "2027-03-01T00:00:00Z";
    let to = "2027-04-01T00:00:00Z";
    let keep = t
        .create(single("Keep", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    let del = t
        .create(single(
            "Delete",
            "2027-03-03T10:00:00",
            "2027-03-03T11:00:00",
        ))
        .await;
    let mover = t
        .create(single(
            "Move out",
            "2027-03-04T10:00:00",
            "2027-03-04T11:00:00",
        ))
        .await;
    let m = t.create(weekly_mondays("Series", 4)).await;
    let inst = t.instances(&id(&m), FROM, TO).await;
    let (_, delta) = t
        .delta_round(
            &format!("/me/calendarView/delta?startDateTime={from}&endDateTime={to}"),
            &[],
        )
        .await;

    t.patch(
        &format!("/me/events/{}", id(&keep)),
        json!({"subject": "Kept, renamed"}),
    )
    .await;
    t.delete(&format!("/me/events/{}", id(&del))).await;
    t.patch(&format!("/me/events/{}", id(&mover)), json!({"start": dtz("2027-05-04T10:00:00", "UTC"), "end": dtz("2027-05-04T11:00:00", "UTC")})).await;
    let outside = t
        .create(single(
            "Outside",
            "2027-06-01T10:00:00",
            "2027-06-01T11:00:00",
        ))
        .await;
    t.delete(&format!("/me/events/{}", id(&inst[1]))).await;
    let (pages, delta) = t.delta_round(&delta, &[]).await;
    let items = pages.concat();
    let removed: BTreeSet<String> = items
        .iter()
        .filter(|i| i.get("@removed").is_some())
        .map(|i| {
            assert_eq!(i["@removed"], json!({"reason": "deleted"}));
            id(i)
        })
        .collect();
    assert_eq!(
        removed,
        [id(&del), id(&mover), id(&outside), id(&inst[1])]
            .into_iter()
            .collect(),
        "{items:#?}"
    );
    let changed: Vec<&Value> = items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .collect();
    assert!(changed
        .iter()
        .any(|i| i["id"] == keep["id"] && i["subject"] == "Kept, renamed"));
    // The master changed (its cancelledOccurrences), so its remaining occurrences are re-sent.
    assert!(
        changed
            .iter()
            .all(|i| i["id"] == keep["id"] || i["seriesMasterId"] == m["id"]),
        "{changed:#?}"
    );
    assert!(items
        .iter()
        .all(|i| i.get("singleValueExtendedProperties").is_none()));
    let (pages, _) = t.delta_round(&delta, &[]).await;
    assert!(pages.concat().is_empty(), "{pages:?}");

    // Replays (switch): the previous round's changes come again.
    t.patch(
        &format!("/me/events/{}", id(&keep)),
        json!({"subject": "Again"}),
    )
    .await;
    let (_, d1) = t
        .delta_round(
            &format!("/me/calendarView/delta?startDateTime={from}&endDateTime={to}"),
            &[],
        )
        .await;
    t.emu.set_delta_replays(true);
    t.patch(
        &format!("/me/events/{}", id(&keep)),
        json!({"subject": "Once more"}),
    )
    .await;
    let (p1, d2) = t.delta_round(&d1, &[]).await;
    assert!(
        p1.concat().iter().filter(|i| i["id"] == keep["id"]).count() >= 2,
        "repeated within the round"
    );
    let (p2, _) = t.delta_round(&d2, &[]).await;
    assert!(
        p2.concat().iter().any(|i| i["id"] == keep["id"]),
        "replayed in the next round"
    );
}

#[tokio::test]
async fn item34_delta_token_hooks_and_events_delta_is_not_v1() {
    let t = T::new().await;
    t.create(single("A", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    t.create(single("B", "2027-03-03T10:00:00", "2027-03-03T11:00:00"))
        .await;
    let first = format!("/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}");
    let page = t
        .ok_with(&first, &[("Prefer", "odata.maxpagesize=1")])
        .await;
    let skip = page["@odata.nextLink"].as_str().unwrap().to_string();
    let (_, delta) = t.delta_round(&first, &[]).await;
    t.emu.expire_delta_tokens();
    for link in [&delta, &skip] {
        let r = t.get(link).await;
        assert_eq!((r.status.as_u16(), r.code()), (410, "syncStateNotFound"));
        assert!(r.body["error"]["innerError"]["request-id"].is_string());
    }
    let (_, delta) = t.delta_round(&first, &[]).await;
    t.emu.relocate_delta_tokens();
    let r = t.get(&delta).await;
    assert_eq!(r.status, 410);
    let location = r.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&t.emu.base_url())
            && location.contains("/me/calendarView/delta?startDateTime="),
        "{location}"
    );
    let (pages, _) = t.delta_round(&location, &[]).await;
    assert_eq!(pages.concat().len(), 2, "a fresh initial round");
    let r = t
        .get(&format!(
            "{}/me/calendarView/delta?$deltatoken=made-up",
            t.emu.base_url()
        ))
        .await;
    assert_eq!(r.code(), "syncStateNotFound");
    for path in [
        "/me/events/delta",
        "/me/calendar/events/delta",
        "/me/events/delta()",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status, 400, "{path}");
        assert!(
            r.message()
                .contains("Change tracking is not supported against 'microsoft.graph.event'"),
            "{}",
            r.message()
        );
    }
    // Calendar-scoped delta sees only that calendar.
    let other = t.emu.add_calendar(ALICE, "Other");
    t.post(
        &format!("/me/calendars/{other}/events"),
        single("C", "2027-03-04T10:00:00", "2027-03-04T11:00:00"),
    )
    .await;
    let (pages, _) = t
        .delta_round(
            &format!(
                "/me/calendars/{other}/calendarView/delta?startDateTime={FROM}&endDateTime={TO}"
            ),
            &[],
        )
        .await;
    let subjects: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["C"]);
}

#[tokio::test]
async fn item35_ids_are_case_sensitive_and_immutable_ids_survive_moves() {
    let t = T::new().await;
    let immutable = [("Prefer", "IdType=\"ImmutableId\"")];
    let e = t
        .create(single(
            "Movable",
            "2027-03-02T10:00:00",
            "2027-03-02T11:00:00",
        ))
        .await;
    let rest = id(&e);
    let imm = id(&t.ok_with(&format!("/me/events/{rest}"), &immutable).await);
    assert_ne!(rest, imm);
    assert_eq!(
        t.ok(&format!("/me/events/{imm}")).await["id"],
        rest.as_str(),
        "either id resolves; the answer uses the asked kind"
    );
    // Case matters.
    let pos = rest.find(|c: char| c.is_ascii_lowercase()).unwrap();
    let mut swapped = rest.clone();
    swapped.replace_range(pos..pos + 1, &rest[pos..pos + 1].to_ascii_uppercase());
    assert_eq!(
        t.get(&format!("/me/events/{swapped}")).await.code(),
        "ErrorItemNotFound"
    );
    assert_eq!(
        t.get("/me/events/not-an-id").await.code(),
        "ErrorInvalidIdMalformed"
    );

    let other = t.emu.add_calendar(ALICE, "Other");
    let new_rest = t.emu.move_event(&rest, &other).unwrap();
    assert_ne!(new_rest, rest);
    assert_eq!(
        t.get(&format!("/me/events/{rest}")).await.status,
        404,
        "the REST id changed with the move"
    );
    assert_eq!(
        t.ok(&format!("/me/events/{new_rest}")).await["subject"],
        "Movable"
    );
    let got = t.ok_with(&format!("/me/events/{imm}"), &immutable).await;
    assert_eq!(id(&got), imm, "the immutable id survived");
    let in_other = t.all(&format!("/me/calendars/{other}/events"), &[]).await;
    assert_eq!(in_other.len(), 1);
    let cal = t.emu.add_account(ALICE).default_calendar_id;
    assert!(t
        .all(&format!("/me/calendars/{cal}/events"), &[])
        .await
        .is_empty());
    // Occurrence ids follow the master's id kind and change with a move too.
    let m = t.create(weekly_mondays("S", 2)).await;
    let occ_rest = id(&t.instances(&id(&m), FROM, TO).await[0]);
    let occ_imm = id(&t
        .all(
            &format!(
                "/me/events/{}/instances?startDateTime={FROM}&endDateTime={TO}",
                id(&m)
            ),
            &immutable,
        )
        .await[0]);
    t.emu.move_event(&id(&m), &other).unwrap();
    assert_eq!(t.get(&format!("/me/events/{occ_rest}")).await.status, 404);
    assert_eq!(
        t.ok(&format!("/me/events/{occ_imm}")).await["type"],
        "occurrence"
    );
}

#[tokio::test]
async fn item36_subscriptions_validate_both_urls_and_deliver_batched_notifications() {
    let mut rx = receiver().await;
    // A generous batch window so that two quick requests surely share a POST on a busy machine.
    let t = T::with(OutlookEmulatorConfig {
        notification_batch_window: Duration::from_millis(250),
        ..Default::default()
    })
    .await;
    let r = t.post("/subscriptions", subscription_body(&rx, 4000)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub = r.body;
    assert_eq!(
        (
            sub["clientState"].as_str(),
            sub["resource"].as_str(),
            sub["changeType"].as_str()
        ),
        (
            Some("secret-state"),
            Some("me/events"),
            Some("created,updated,deleted")
        )
    );
    let validations: Vec<_> = t
        .emu
        .notifications()
        .into_iter()
        .filter(|n| n.kind == "validation")
        .collect();
    assert_eq!(
        validations.len(),
        2,
        "notificationUrl and lifecycleNotificationUrl"
    );
    assert!(validations.iter().all(|v| v.status == Some(200)
        && v.body
            .as_str()
            .unwrap()
            .starts_with("Validation: Testing client application reachability")));

    let a = t
        .create(single("A", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    t.patch(&format!("/me/events/{}", id(&a)), json!({"subject": "A2"}))
        .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = rx.next("hook").await;
        got.extend(batch["value"].as_array().unwrap().clone());
    }
    let types: Vec<&str> = got
        .iter()
        .map(|n| n["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["created", "updated"]);
    let user = t.emu.add_account(ALICE).user_id;
    for n in &got {
        assert_eq!(n["subscriptionId"], sub["id"]);
        assert_eq!(n["clientState"], "secret-state");
        assert_eq!(n["tenantId"], t.emu.tenant_id());
        assert_eq!(n["resource"], format!("Users/{user}/Events/{}", id(&a)));
        assert_eq!(n["resourceData"]["id"], a["id"]);
        assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Event");
        assert!(n["resourceData"]["@odata.etag"]
            .as_str()
            .unwrap()
            .starts_with("W/\""));
        assert!(n["subscriptionExpirationDateTime"].is_string());
    }
    // A subscription made with Prefer: IdType="ImmutableId" is notified with immutable ids.
    let mut imm_body = subscription_body(&rx, 60);
    imm_body["notificationUrl"] = json!(rx.url("imm"));
    let r = t
        .req(
            Method::POST,
            "/subscriptions",
            Some(imm_body),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(r.status, 201);
    let c = t
        .create(single("C", "2027-03-04T10:00:00", "2027-03-04T11:00:00"))
        .await;
    let c_imm = id(&t
        .ok_with(
            &format!("/me/events/{}", id(&c)),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await);
    let n = rx.next("imm").await;
    assert_eq!(n["value"][0]["resourceData"]["id"], c_imm.as_str());
    assert_eq!(
        rx.next("hook").await["value"][0]["resourceData"]["id"],
        c["id"]
    );
    // Two changes in quick succession share one POST.
    let b = t
        .create(single("B", "2027-03-03T10:00:00", "2027-03-03T11:00:00"))
        .await;
    t.delete(&format!("/me/events/{}", id(&b))).await;
    let batch = rx.next("hook").await;
    assert_eq!(batch["value"].as_array().unwrap().len(), 2, "{batch}");

    // Lifetime limits: 10,080 minutes, 1,440 with resource data.
    let r = t
        .post("/subscriptions", subscription_body(&rx, 10_090))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("10080"), "{}", r.message());
    let mut rd = subscription_body(&rx, 2000);
    rd["includeResourceData"] = json!(true);
    assert_eq!(
        t.post("/subscriptions", rd.clone()).await.status,
        400,
        "no certificate"
    );
    rd["encryptionCertificate"] = json!("MIIB");
    rd["encryptionCertificateId"] = json!("cert-1");
    let r = t.post("/subscriptions", rd).await;
    assert!(
        r.status == 400 && r.message().contains("1440"),
        "{}",
        r.body
    );
    let mut long_state = subscription_body(&rx, 60);
    long_state["clientState"] = json!("x".repeat(129));
    assert_eq!(t.post("/subscriptions", long_state).await.status, 400);
    let mut unsupported = subscription_body(&rx, 60);
    unsupported["resource"] = json!("me/messages");
    assert_eq!(t.post("/subscriptions", unsupported).await.status, 400);

    // Renew, reauthorize, list, delete.
    let sid = id(&sub);
    let later = (chrono::Utc::now() + chrono::Duration::minutes(9000)).to_rfc3339();
    let r = t
        .patch(
            &format!("/subscriptions/{sid}"),
            json!({"expirationDateTime": later}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.body["expirationDateTime"], sub["expirationDateTime"]);
    assert_eq!(t.patch(&format!("/subscriptions/{sid}"), json!({"expirationDateTime": (chrono::Utc::now() + chrono::Duration::minutes(20_000)).to_rfc3339()})).await.status, 400);
    assert_eq!(
        t.post(&format!("/subscriptions/{sid}/reauthorize"), json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        t.ok("/subscriptions").await["value"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "this one and the immutable-id one"
    );
    assert_eq!(t.delete(&format!("/subscriptions/{sid}")).await.status, 204);
    assert_eq!(t.get(&format!("/subscriptions/{sid}")).await.status, 404);
}

#[tokio::test]
async fn item36_validation_handshake_failures_refuse_the_subscription() {
    let rx = receiver().await;
    let config = OutlookEmulatorConfig {
        validation_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let t = T::with(config).await;
    for (mode, fragment) in [
        (
            Validation::EchoEncoded,
            "must exactly match validationToken",
        ),
        (Validation::Status500, "200 OK"),
        (Validation::WrongType, "text/plain"),
        (Validation::Slow, "timed out"),
    ] {
        *rx.mode.lock().unwrap() = mode;
        let r = t.post("/subscriptions", subscription_body(&rx, 60)).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "ValidationError"),
            "{mode:?}"
        );
        assert!(r.message().contains(fragment), "{mode:?}: {}", r.message());
    }
    assert!(t.ok("/subscriptions").await["value"]
        .as_array()
        .unwrap()
        .is_empty());
    // The lifecycle URL is validated too.
    *rx.mode.lock().unwrap() = Validation::Echo;
    let mut body = subscription_body(&rx, 60);
    body["lifecycleNotificationUrl"] = json!("http://127.0.0.1:9/nothing-listens");
    assert_eq!(
        t.post("/subscriptions", body).await.code(),
        "ValidationError"
    );
}

#[tokio::test]
async fn item36_s_slow_or_failing_receivers_get_retries_and_lifecycle_events_arrive() {
    let mut rx = receiver().await;
    let config = OutlookEmulatorConfig {
        notification_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let t = T::with(config).await;
    let sub = t
        .post("/subscriptions", subscription_body(&rx, 60))
        .await
        .body;
    *rx.fail.lock().unwrap() = 2;
    t.create(single("A", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    for _ in 0..3 {
        rx.next("hook").await;
    }
    let attempts = loop {
        let a: Vec<(u32, Option<u16>)> = t
            .emu
            .notifications()
            .iter()
            .filter(|n| n.kind == "change")
            .map(|n| (n.attempt, n.status))
            .collect();
        if a.len() >= 3 {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(attempts, [(0, Some(500)), (1, Some(500)), (2, Some(202))]);
    // A receiver slower than 3 s (here 200 ms) is treated as failed and retried.
    *rx.slow.lock().unwrap() = 1;
    t.create(single("B", "2027-03-03T10:00:00", "2027-03-03T11:00:00"))
        .await;
    let first = rx.next("hook").await;
    let retry = rx.next("hook").await;
    assert_eq!(first, retry, "the same batch again");
    // Lifecycle notifications go to the lifecycle URL.
    let sid = id(&sub);
    for ev in [
        LifecycleEvent::ReauthorizationRequired,
        LifecycleEvent::Missed,
        LifecycleEvent::SubscriptionRemoved,
    ] {
        assert!(t.emu.send_lifecycle_notification(&sid, ev));
        let n = rx.next("life").await;
        assert_eq!(n["value"][0]["lifecycleEvent"], ev.name());
        assert_eq!(n["value"][0]["subscriptionId"], sid.as_str());
        assert_eq!(n["value"][0]["clientState"], "secret-state");
    }
    assert_eq!(
        t.get(&format!("/subscriptions/{sid}")).await.status,
        404,
        "removed"
    );
    assert!(!t
        .emu
        .send_lifecycle_notification(&sid, LifecycleEvent::Missed));
    // Expired subscriptions vanish.
    let s2 = id(&t
        .post("/subscriptions", subscription_body(&rx, 60))
        .await
        .body);
    t.emu.advance_clock(Duration::from_secs(3 * 3600));
    let fresh = t.emu.issue_tokens(ALICE).access_token;
    let r = t
        .http
        .get(t.url(&format!("/subscriptions/{s2}")))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn item37_five_concurrent_requests_meet_one_429_and_rate_limits_apply() {
    let t = T::new().await;
    let e = t
        .create(single("A", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    let path = format!("/me/events/{}", id(&e));
    t.emu.set_processing_delay(Duration::from_millis(300));
    let (a, b, c, d, e5) = tokio::join!(
        t.get(&path),
        t.get(&path),
        t.get(&path),
        t.get(&path),
        t.get(&path)
    );
    let results = [a, b, c, d, e5];
    t.emu.set_processing_delay(Duration::ZERO);
    let throttled: Vec<&Resp> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        throttled.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 4);
    assert_eq!(throttled[0].code(), "ApplicationThrottled");
    assert!(throttled[0].header("retry-after").is_some());
    // Another mailbox is not affected by Alice's concurrency.
    // Request-rate window.
    t.emu.set_throttling(Throttling {
        max_requests: Some(3),
        ..Default::default()
    });
    t.emu.advance_clock(Duration::from_secs(601));
    for _ in 0..3 {
        assert_eq!(t.get(&path).await.status, 200);
    }
    let r = t.get(&path).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    t.emu.advance_clock(Duration::from_secs(601));
    assert_eq!(t.get(&path).await.status, 200, "the window slid");
    t.emu.set_throttling(Throttling::unlimited());

    // Injected faults.
    t.emu.inject_faults(FaultPlan::next([
        FaultKind::ServiceUnavailable503 {
            retry_after_secs: 7,
        },
        FaultKind::Throttled429WithoutRetryAfter,
        FaultKind::Throttled429 {
            retry_after_secs: 3,
        },
        FaultKind::InternalServerError500,
        FaultKind::GatewayTimeout504,
    ]));
    let r = t.get(&path).await;
    assert_eq!(
        (r.status.as_u16(), r.header("retry-after")),
        (503, Some("7"))
    );
    let r = t.get(&path).await;
    assert_eq!((r.status.as_u16(), r.header("retry-after")), (429, None));
    let r = t.get(&path).await;
    assert_eq!(
        (r.status.as_u16(), r.header("retry-after")),
        (429, Some("3"))
    );
    assert_eq!(t.get(&path).await.status, 500);
    assert_eq!(t.get(&path).await.status, 504);
    assert_eq!(t.get(&path).await.status, 200, "queue used up");
    // Lost responses: the write happened.
    t.emu.inject_faults(
        FaultPlan::default().then(FaultMatch::method("POST"), FaultKind::LostResponse500),
    );
    assert_eq!(
        t.post(
            "/me/events",
            single("lost", "2027-03-04T10:00:00", "2027-03-04T11:00:00")
        )
        .await
        .status,
        500
    );
    assert!(t
        .all("/me/events", &[])
        .await
        .iter()
        .any(|e| e["subject"] == "lost"));
    t.emu.inject_faults(
        FaultPlan::default().then(FaultMatch::method("PATCH"), FaultKind::LostResponseDrop),
    );
    let err = t
        .http
        .patch(t.url(&path))
        .bearer_auth(&t.token)
        .json(&json!({"subject": "applied"}))
        .send()
        .await;
    assert!(err.is_err(), "connection should have been dropped");
    assert_eq!(t.ok(&path).await["subject"], "applied");
    assert_eq!(
        t.emu
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count(),
        7
    );
    t.emu
        .inject_faults(FaultPlan::next([FaultKind::Timeout(Duration::from_secs(
            5,
        ))]));
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(quick
        .get(t.url(&path))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap_err()
        .is_timeout());
    assert_eq!(
        t.get(&path).await.status,
        200,
        "other requests are served meanwhile"
    );
}

fn pkce() -> (String, String) {
    harness::pkce("outlook-test")
}

async fn authorize(emu: &OutlookEmulator, scope: &str, challenge: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "{}?client_id=almanac-dev&response_type=code&redirect_uri={}&scope={}&state=s1&code_challenge={challenge}&code_challenge_method=S256&login_hint=bob%40example.com",
        emu.auth_url(),
        enc("http://127.0.0.1:1/callback"),
        enc(scope)
    );
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "s1");
    q["code"].clone()
}

async fn token(emu: &OutlookEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn item38_s_refresh_tokens_rotate_need_offline_access_and_fail_with_aadsts_codes() {
    let emu = OutlookEmulator::start(OutlookEmulatorConfig::default())
        .await
        .unwrap();
    let (verifier, challenge) = pkce();
    let base = [
        ("client_id", "almanac-dev"),
        ("client_secret", "almanac-dev-secret"),
        ("grant_type", "authorization_code"),
        ("redirect_uri", "http://127.0.0.1:1/callback"),
    ];
    let code = authorize(
        &emu,
        "openid offline_access https://graph.microsoft.com/Calendars.ReadWrite User.Read",
        &challenge,
    )
    .await;
    let (s, b) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                (
                    "code_verifier",
                    "wrong-verifier-wrong-verifier-wrong-verifier",
                ),
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let code = authorize(
        &emu,
        "openid offline_access https://graph.microsoft.com/Calendars.ReadWrite User.Read",
        &challenge,
    )
    .await;
    let (s, tok) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(s, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["scope"]
        .as_str()
        .unwrap()
        .contains("Calendars.ReadWrite"));
    assert!(tok["id_token"].is_string());
    let access = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(access.split('.').count(), 3, "JWT-shaped");
    let r1 = tok["refresh_token"].as_str().unwrap().to_string();
    let (s, b) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        (s, b["error_codes"][0].as_u64()),
        (400, Some(54005)),
        "codes are single-use"
    );
    let http = reqwest::Client::new();
    let me: Value = http
        .get(format!("{}/me", emu.base_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["userPrincipalName"].as_str(), me["mail"].as_str()),
        (Some("bob@example.com"), Some("bob@example.com"))
    );
    assert!(me["id"].is_string());

    // Rotation: each refresh answers a new refresh token; the old one still works.
    let refresh = |rt: String| {
        let emu = &emu;
        async move {
            token(
                emu,
                &[
                    ("client_id", "almanac-dev"),
                    ("client_secret", "almanac-dev-secret"),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ],
            )
            .await
        }
    };
    let (s, t2) = refresh(r1.clone()).await;
    assert_eq!(s, 200);
    let r2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r2, r1);
    let (s, t3) = refresh(r1.clone()).await;
    assert_eq!(s, 200, "the old refresh token keeps working");
    assert_ne!(t3["refresh_token"], t2["refresh_token"]);

    // No offline_access, no refresh token.
    let code = authorize(&emu, "Calendars.Read", &challenge).await;
    let (_, t4) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        ]
        .concat(),
    )
    .await;
    assert!(t4["access_token"].is_string() && t4.get("refresh_token").is_none());
    // Calendars.Read cannot write.
    let r = http
        .post(format!("{}/me/events", emu.base_url()))
        .bearer_auth(t4["access_token"].as_str().unwrap())
        .json(&single("x", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Hooks: inactivity → AADSTS700082; revocation → AADSTS50173; 90 days of clock too.
    emu.expire_refresh_tokens("bob@example.com");
    let (s, b) = refresh(r2.clone()).await;
    assert_eq!(
        (s, b["error"].as_str(), b["error_codes"][0].as_u64()),
        (400, Some("invalid_grant"), Some(700082))
    );
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS700082: The refresh token has expired due to inactivity."));
    let code = authorize(&emu, "offline_access Calendars.ReadWrite", &challenge).await;
    let (_, t5) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        ]
        .concat(),
    )
    .await;
    let r5 = t5["refresh_token"].as_str().unwrap().to_string();
    emu.revoke_refresh_tokens("bob@example.com");
    let (s, b) = refresh(r5).await;
    assert_eq!((s, b["error_codes"][0].as_u64()), (400, Some(50173)));
    let code = authorize(&emu, "offline_access Calendars.ReadWrite", &challenge).await;
    let (_, t6) = token(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        ]
        .concat(),
    )
    .await;
    emu.advance_clock(Duration::from_secs(91 * 86_400));
    let (_, b) = refresh(t6["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(b["error_codes"][0].as_u64(), Some(700082));
    let (s, b) = refresh("garbage".into()).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, b) = token(
        &emu,
        &[
            ("client_id", "almanac-dev"),
            ("client_secret", "nope"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));

    // API calls with a bad or expired token: 401 with the Graph envelope.
    for bad in ["garbage", access.as_str()] {
        let r = http
            .get(format!("{}/me/events", emu.base_url()))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
    let r = http
        .get(format!("{}/me/events", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn item39_k_extended_properties_only_with_expand_or_filter_never_in_delta() {
    let t = T::new().await;
    let pid = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name almanac.series";
    let mut body = single("Tagged", "2027-03-02T10:00:00", "2027-03-02T11:00:00");
    body["singleValueExtendedProperties"] = json!([{"id": pid, "value": "s-1"}]);
    let a = t.create(body).await;
    assert!(
        a.get("singleValueExtendedProperties").is_none(),
        "not returned by default"
    );
    t.create(single(
        "Plain",
        "2027-03-03T10:00:00",
        "2027-03-03T11:00:00",
    ))
    .await;
    assert!(t
        .ok(&format!("/me/events/{}", id(&a)))
        .await
        .get("singleValueExtendedProperties")
        .is_none());
    let expand = format!("$expand=singleValueExtendedProperties($filter=id eq '{pid}')");
    let got = t
        .ok(&format!(
            "/me/events/{}?{}",
            id(&a),
            enc(&expand).replace("%3D", "=").replace("%24", "$")
        ))
        .await;
    assert_eq!(
        got["singleValueExtendedProperties"],
        json!([{"id": pid, "value": "s-1"}])
    );
    let other = t.ok(&format!("/me/events/{}?$expand={}", id(&a), enc("singleValueExtendedProperties($filter=id eq 'String {00000000-0000-0000-0000-000000000000} Name other')"))).await;
    assert!(other.get("singleValueExtendedProperties").is_none());
    let filter =
        format!("singleValueExtendedProperties/Any(ep: ep/id eq '{pid}' and ep/value eq 's-1')");
    let found = t
        .all(&format!("/me/events?$filter={}", enc(&filter)), &[])
        .await;
    assert_eq!(found.iter().map(id).collect::<Vec<_>>(), [id(&a)]);
    let none = t
        .all(
            &format!("/me/events?$filter={}", enc(&filter.replace("s-1", "s-2"))),
            &[],
        )
        .await;
    assert!(none.is_empty());
    // PATCH updates the value.
    t.patch(
        &format!("/me/events/{}", id(&a)),
        json!({"singleValueExtendedProperties": [{"id": pid, "value": "s-2"}]}),
    )
    .await;
    assert_eq!(
        t.all(
            &format!("/me/events?$filter={}", enc(&filter.replace("s-1", "s-2"))),
            &[]
        )
        .await
        .len(),
        1
    );
    // Never in delta (and $expand there is refused).
    let (pages, _) = t
        .delta_round(
            &format!("/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}"),
            &[],
        )
        .await;
    assert!(pages
        .concat()
        .iter()
        .all(|i| i.get("singleValueExtendedProperties").is_none()));
    assert_eq!(
        t.get(&format!(
            "/me/calendarView/delta?startDateTime={FROM}&endDateTime={TO}&$expand={}",
            enc("singleValueExtendedProperties")
        ))
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn item40_errors_use_the_graph_envelope_with_inner_error() {
    let t = T::new().await;
    let r = t
        .req(
            Method::GET,
            "/me/events/AAMkAGnonexistent0000000000AAA=",
            None,
            &[("client-request-id", "my-corr-id")],
        )
        .await;
    assert_eq!(r.status, 404);
    let e = &r.body["error"];
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (
            Some("ErrorItemNotFound"),
            Some("The specified object was not found in the store.")
        )
    );
    let inner = e["innerError"].as_object().unwrap();
    let keys: BTreeSet<&str> = inner.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["client-request-id", "date", "request-id"]
            .into_iter()
            .collect()
    );
    assert_eq!(inner["client-request-id"], "my-corr-id");
    assert_eq!(r.header("client-request-id"), Some("my-corr-id"));
    assert_eq!(inner["request-id"].as_str(), r.header("request-id"));
    assert!(chrono::NaiveDateTime::parse_from_str(
        inner["date"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%S"
    )
    .is_ok());
    assert_eq!(
        t.emu.requests().last().unwrap().request_id.as_deref(),
        inner["request-id"].as_str()
    );
    // Malformed JSON, unknown segments, another user's mailbox.
    let r = t
        .http
        .post(t.url("/me/events"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "UnableToDeserializePostBody"
    );
    let r = t.get("/me/notathing").await;
    assert_eq!(
        (r.status.as_u16(), r.message()),
        (400, "Resource not found for the segment 'notathing'.")
    );
    t.emu.add_account("carol@example.com");
    assert_eq!(
        t.get("/users/carol@example.com/events").await.code(),
        "ErrorAccessDenied"
    );
    assert_eq!(
        t.get("/users/nobody@example.com/events").await.code(),
        "ErrorInvalidUser"
    );
    // The same mailbox through /users/{upn} and /users/{id}.
    let user = t.emu.add_account(ALICE).user_id;
    t.create(single("x", "2027-03-02T10:00:00", "2027-03-02T11:00:00"))
        .await;
    for who in [ALICE, user.as_str()] {
        assert_eq!(t.all(&format!("/users/{who}/events"), &[]).await.len(), 1);
    }
}

#[tokio::test]
async fn calendars_and_the_user_resource() {
    let t = T::new().await;
    let me = t.ok("/me").await;
    assert_eq!(
        (me["userPrincipalName"].as_str(), me["mail"].as_str()),
        (Some(ALICE), Some(ALICE))
    );
    let cals = t.ok("/me/calendars").await["value"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cals.len(), 1);
    assert_eq!(
        (
            cals[0]["name"].as_str(),
            cals[0]["isDefaultCalendar"].as_bool()
        ),
        (Some("Calendar"), Some(true))
    );
    assert_eq!(t.ok("/me/calendar").await["id"], cals[0]["id"]);
    let id2 = t.emu.add_calendar(ALICE, "Team");
    let r = t.post("/me/calendars", json!({"name": "Created"})).await;
    assert_eq!(r.status, 201);
    let names: Vec<String> = t.ok("/me/calendars").await["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Calendar", "Team", "Created"]);
    let e = t
        .post(
            &format!("/me/calendars/{id2}/events"),
            single("In team", "2027-03-02T10:00:00", "2027-03-02T11:00:00"),
        )
        .await;
    assert_eq!(e.status, 201);
    assert_eq!(
        t.all(
            &format!("/me/calendars/{id2}/calendarView?startDateTime={FROM}&endDateTime={TO}"),
            &[]
        )
        .await
        .len(),
        1
    );
    assert!(t.all("/me/calendar/events", &[]).await.is_empty());
    assert_eq!(
        t.all("/me/events", &[]).await.len(),
        1,
        "/me/events spans calendars"
    );
    assert_eq!(
        t.get(&format!("/me/calendar/events/{}", id(&e.body)))
            .await
            .status,
        404,
        "not in the default calendar"
    );
    assert_eq!(t.emu.events_snapshot(&id2).len(), 1);
}

#[tokio::test]
async fn garbage_input_gets_4xx_never_a_crash() {
    let t = T::new().await;
    let m = t.create(weekly_mondays("S", 3)).await;
    let mid = id(&m);
    let bodies = [
        json!([1, 2]),
        json!("text"),
        json!({"start": "2027-01-01", "end": {"dateTime": "2027-01-01T10:00:00"}}),
        json!({"start": dtz("9999-12-31T23:59:59", "UTC"), "end": dtz("9999-12-31T23:59:59", "UTC"), "isAllDay": true}),
        json!({"start": dtz("0001-01-01T00:00:00", "UTC"), "end": dtz("0001-01-02T00:00:00", "UTC")}),
        json!({"start": dtz("not a date", "UTC"), "end": dtz("2027-01-01T10:00:00", "UTC")}),
        json!({"start": dtz("2027-01-01T10:00:00", "UTC"), "end": dtz("2027-01-01T09:00:00", "UTC")}),
        json!({"start": dtz("2027-01-01T10:00:00", ""), "end": dtz("2027-01-01T11:00:00", "UTC"), "recurrence": {"pattern": {"type": "daily", "interval": 2147483647}, "range": {"type": "numbered", "startDate": "2027-01-01", "numberOfOccurrences": 2147483647}}}),
        json!({"start": dtz("2027-01-01T10:00:00", "UTC"), "end": dtz("2027-01-01T11:00:00", "UTC"), "recurrence": {"pattern": {"type": "daily", "interval": -1}, "range": {"type": "noEnd", "startDate": "2027-01-01"}}}),
        json!({"start": dtz("2027-01-01T10:00:00", "UTC"), "end": dtz("2027-01-01T11:00:00", "UTC"), "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]}, "range": {"type": "noEnd", "startDate": "2027-01-01"}}}),
        json!({"start": dtz("2027-01-01T10:00:00", "UTC"), "end": dtz("2027-01-01T11:00:00", "UTC"), "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "endDate", "startDate": "2027-01-05", "endDate": "2027-01-01"}}}),
        json!({"start": dtz("2027-01-01T10:00:00", "UTC"), "end": dtz("2027-01-01T11:00:00", "UTC"), "recurrence": null, "singleValueExtendedProperties": [{"value": "no id"}]}),
    ];
    for b in &bodies {
        let r = t.post("/me/events", b.clone()).await;
        assert!(
            r.status.is_client_error() || r.status == 201,
            "{b}: {} {}",
            r.status,
            r.body
        );
        let r = t.patch(&format!("/me/events/{mid}"), b.clone()).await;
        assert!(
            r.status.is_client_error() || r.status == 200,
            "{b}: {} {}",
            r.status,
            r.body
        );
    }
    for path in [
        "/me/calendarView?startDateTime=yesterday&endDateTime=tomorrow",
        "/me/calendarView?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z&$top=0",
        "/me/calendarView?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z&$top=abc",
        "/me/events?$filter=contains(subject,'x')",
        "/me/events?$orderby=bogus",
        "/me/events?$expand=attachments",
        "/me/events?$unknown=1",
        "/me/events/%00%01",
        "/me/calendars/AAMkAGnope00000000000AAA=/events",
        "/me/calendarView/delta?$skiptoken=nope",
        "/subscriptions/not-a-guid",
        "/me/events/AAMkAG/instances?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z",
    ] {
        let r = t.get(path).await;
        assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.body);
        assert!(r.body["error"]["code"].is_string(), "{path}: {}", r.body);
    }
    // Everything still works, and $count is honoured.
    let page = t.ok("/me/events?$count=true").await;
    assert_eq!(
        page["@odata.count"].as_u64(),
        Some(page["value"].as_array().unwrap().len() as u64)
    );
}
