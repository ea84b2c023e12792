//! The Google Calendar v3 emulator over real HTTP: fidelity against the discovery document, then
//! one focused test per checklist item of PROVIDERS.md §3 (items 1–21).
//!
//! Tests named `…_k_…`/`…_s_…` exercise behaviour PROVIDERS.md marks [K]/[S] (assumed, not
//! documented by Google).
#![allow(clippy::unwrap_used)]

use super::harness::{self, send, Resp};
use almanac_emulators::google::{
    ExtendedPropertiesPatch, FaultKind, FaultMatch, FaultPlan, GoogleEmulator,
    GoogleEmulatorConfig, Quotas, TrimmedExceptions,
};
use chrono::{DateTime, FixedOffset};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ALICE: &str = "alice@example.com";
const NY: &str = "America/New_York";
const LA: &str = "America/Los_Angeles";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct T {
    emu: GoogleEmulator,
    http: reqwest::Client,
    token: String,
}

impl Resp {
    fn reason(&self) -> &str {
        self.body["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or("")
    }
}

impl T {
    async fn new() -> T {
        T::with(GoogleEmulatorConfig::default()).await
    }

    async fn with(config: GoogleEmulatorConfig) -> T {
        let emu = GoogleEmulator::start(config).await.unwrap();
        let token = emu.issue_tokens(ALICE).access_token;
        T {
            emu,
            http: reqwest::Client::new(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
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
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(body), &[]).await
    }
    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(body), &[]).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.req(Method::PUT, path, Some(body), &[]).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.req(Method::DELETE, path, None, &[]).await
    }

    /// Inserts into the primary calendar and asserts success.
    async fn insert(&self, body: Value) -> Value {
        let r = self.post("calendars/primary/events", body).await;
        assert_eq!(r.status, 200, "insert failed: {}", r.body);
        r.body
    }

    async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// Follows `nextPageToken` to the end; returns all items, the page sizes and the sync token.
    async fn list_all(&self, path: &str) -> (Vec<Value>, Vec<usize>, String) {
        let mut items = Vec::new();
        let mut sizes = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = match &token {
                Some(t) => format!("{path}{sep}pageToken={t}"),
                None => path.to_string(),
            };
            let page = self.ok(&p).await;
            let got = page["items"].as_array().cloned().unwrap_or_default();
            sizes.push(got.len());
            items.extend(got);
            match page["nextPageToken"].as_str() {
                Some(t) => {
                    assert!(
                        page.get("nextSyncToken").is_none(),
                        "nextSyncToken on a non-final page"
                    );
                    token = Some(t.to_string());
                }
                None => {
                    return (
                        items,
                        sizes,
                        page["nextSyncToken"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                }
            }
        }
        panic!("pagination did not end");
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn id_set(items: &[Value]) -> BTreeSet<String> {
    ids(items).into_iter().collect()
}

fn instant(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(
        v["dateTime"]
            .as_str()
            .unwrap_or_else(|| panic!("no dateTime in {v}")),
    )
    .unwrap()
}

fn utc(v: &Value) -> String {
    instant(v)
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn timed(start: &str, end: &str, tz: Option<&str>) -> (Value, Value) {
    let mut s = json!({"dateTime": start});
    let mut e = json!({"dateTime": end});
    if let Some(z) = tz {
        s["timeZone"] = json!(z);
        e["timeZone"] = json!(z);
    }
    (s, e)
}

fn series(summary: &str, start: &str, end: &str, tz: &str, rules: &[&str]) -> Value {
    let (s, e) = timed(start, end, Some(tz));
    json!({"summary": summary, "start": s, "end": e, "recurrence": rules})
}

fn single(summary: &str, start: &str, end: &str) -> Value {
    let (s, e) = timed(start, end, None);
    json!({"summary": summary, "start": s, "end": e})
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

async fn instances(t: &T, id: &str, query: &str) -> Vec<Value> {
    let (items, _, _) = t
        .list_all(&format!("calendars/primary/events/{id}/instances?{query}"))
        .await;
    items
}

// ---------------------------------------------------------------------------------------------
// Fidelity against the discovery document
// ---------------------------------------------------------------------------------------------

fn discovery() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/google-calendar-v3.discovery.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks that every field of `v` exists in the schema with the right JSON type.
fn check_schema(schemas: &Value, def: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = def.get("$ref").and_then(Value::as_str) {
        return check_schema(schemas, &schemas[r], v, path, errs);
    }
    let ty = def.get("type").and_then(Value::as_str).unwrap_or("any");
    let format = def.get("format").and_then(Value::as_str);
    let ok = match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    };
    if !ok {
        errs.push(format!(
            "{path}: expected {ty}{}, got {v}",
            format.map(|f| format!(" ({f})")).unwrap_or_default()
        ));
        return;
    }
    match (ty, format, v) {
        ("string", Some("date-time"), Value::String(s))
            if DateTime::parse_from_rfc3339(s).is_err() =>
        {
            errs.push(format!("{path}: not RFC 3339: {s}"))
        }
        ("string", Some("date"), Value::String(s))
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() =>
        {
            errs.push(format!("{path}: not a date: {s}"))
        }
        ("string", Some("int64"), Value::String(s)) if s.parse::<i64>().is_err() => {
            errs.push(format!("{path}: not an int64 string: {s}"))
        }
        ("array", _, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_schema(schemas, &def["items"], item, &format!("{path}[{i}]"), errs);
            }
        }
        ("object", _, Value::Object(m)) => {
            for (k, x) in m {
                let sub = format!("{path}.{k}");
                if let Some(p) = def.get("properties").and_then(|p| p.get(k)) {
                    check_schema(schemas, p, x, &sub, errs);
                } else if let Some(a) = def.get("additionalProperties") {
                    check_schema(schemas, a, x, &sub, errs);
                } else {
                    errs.push(format!("{sub}: not in the schema"));
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn fidelity_every_emitted_field_is_in_the_discovery_schema() {
    let t = T::new().await;
    let mut seen: Vec<(&str, Value)> = Vec::new();
    let mut rich = single("Planning", "2027-04-05T10:00:00Z", "2027-04-05T11:00:00Z");
    rich["attendees"] = json!([{"email": "bob@example.com", "displayName": "Bob"}]);
    rich["extendedProperties"] = json!({"private": {"almanac": "1"}, "shared": {"k": "v"}});
    rich["reminders"] =
        json!({"useDefault": false, "overrides": [{"method": "popup", "minutes": 5}]});
    let a = t.insert(rich).await;
    let r = t
        .insert(series(
            "Weekly",
            "2027-04-05T09:00:00",
            "2027-04-05T09:30:00",
            NY,
            &[
                "RRULE:FREQ=WEEKLY;COUNT=6",
                "EXDATE;TZID=America/New_York:20270412T090000",
            ],
        ))
        .await;
    let d = t.insert(json!({"summary": "Holiday", "start": {"date": "2027-04-06"}, "end": {"date": "2027-04-07"}, "recurrence": ["RRULE:FREQ=YEARLY;COUNT=3"]})).await;
    let inst = instances(&t, r["id"].as_str().unwrap(), "").await;
    let ex = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[1]["id"].as_str().unwrap()
            ),
            json!({"summary": "Moved"}),
        )
        .await
        .body;
    let del = t
        .delete(&format!(
            "calendars/primary/events/{}",
            inst[2]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(del.status, 204);
    let gone = t
        .insert(single(
            "Gone",
            "2027-04-07T10:00:00Z",
            "2027-04-07T11:00:00Z",
        ))
        .await;
    let (_, _, token) = t.list_all("calendars/primary/events").await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        gone["id"].as_str().unwrap()
    ))
    .await;
    for e in [&a, &r, &d, &ex] {
        seen.push(("Event", e.clone()));
    }
    seen.push((
        "Event",
        t.ok(&format!(
            "calendars/primary/events/{}",
            inst[2]["id"].as_str().unwrap()
        ))
        .await,
    ));
    seen.push((
        "Event",
        t.ok(&format!(
            "calendars/primary/events/{}",
            gone["id"].as_str().unwrap()
        ))
        .await,
    ));
    for q in [
        "maxResults=2",
        "singleEvents=true&maxResults=3",
        "showDeleted=true",
        "singleEvents=true&showDeleted=true&orderBy=startTime",
        &format!("syncToken={token}"),
    ] {
        let page = t.ok(&format!("calendars/primary/events?{q}")).await;
        seen.push(("Events", page));
    }
    seen.push((
        "Events",
        t.ok(&format!(
            "calendars/primary/events/{}/instances?maxResults=2",
            r["id"].as_str().unwrap()
        ))
        .await,
    ));
    seen.push((
        "Events",
        t.ok(&format!(
            "calendars/primary/events/{}/instances?showDeleted=true&timeZone=Asia/Tokyo",
            d["id"].as_str().unwrap()
        ))
        .await,
    ));
    let ch = t.post("calendars/primary/events/watch", json!({"id": "c1", "type": "web_hook", "address": "http://127.0.0.1:9/hook", "token": "x"})).await;
    assert_eq!(ch.status, 200);
    seen.push(("Channel", ch.body));
    seen.push(("CalendarList", t.ok("users/me/calendarList").await));
    seen.push((
        "CalendarListEntry",
        t.ok("users/me/calendarList/primary").await,
    ));
    seen.push(("Calendar", t.ok("calendars/primary").await));

    let doc = discovery();
    let schemas = &doc["schemas"];
    let mut errs = Vec::new();
    for (name, v) in &seen {
        check_schema(schemas, &schemas[*name], v, name, &mut errs);
    }
    assert!(
        errs.is_empty(),
        "fields outside the schema:\n{}",
        errs.join("\n")
    );
    // The varied scenario really produced the interesting shapes.
    let all = serde_json::to_string(&seen.iter().map(|s| &s.1).collect::<Vec<_>>()).unwrap();
    for needle in [
        "\"originalStartTime\"",
        "\"recurringEventId\"",
        "\"cancelled\"",
        "\"nextPageToken\"",
        "\"nextSyncToken\"",
        "\"api#channel\"",
        "\"date\"",
    ] {
        assert!(all.contains(needle), "scenario never emitted {needle}");
    }
}

/// Asserts every part of `want` is in `got` (objects by key, arrays element-wise).
fn assert_subset(want: &Value, got: &Value, path: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let gv = g
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing from {got}"));
                assert_subset(v, gv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}: array lengths");
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                assert_subset(a, b, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(want, got, "{path}"),
    }
}

#[tokio::test]
async fn fidelity_insert_with_many_schema_fields_round_trips() {
    let t = T::new().await;
    let body = json!({
        "id": "roundtrip0001",
        "iCalUID": "custom-uid@example.com",
        "summary": "All the fields",
        "description": "desc",
        "location": "Room 1",
        "colorId": "5",
        "status": "tentative",
        "transparency": "transparent",
        "visibility": "private",
        "sequence": 2,
        "anyoneCanAddSelf": true,
        "guestsCanInviteOthers": false,
        "guestsCanModify": true,
        "guestsCanSeeOtherGuests": false,
        "endTimeUnspecified": false,
        "eventType": "default",
        "start": {"dateTime": "2027-04-05T10:00:00-04:00", "timeZone": NY},
        "end": {"dateTime": "2027-04-05T11:00:00-04:00", "timeZone": NY},
        "attendees": [
            {"email": "bob@example.com", "displayName": "Bob", "optional": true, "responseStatus": "accepted", "comment": "hi", "additionalGuests": 1},
            {"email": "carol@example.com", "resource": false}
        ],
        "reminders": {"useDefault": false, "overrides": [{"method": "popup", "minutes": 15}, {"method": "email", "minutes": 60}]},
        "extendedProperties": {"private": {"almanac.series": "s1"}, "shared": {"k": "v"}},
        "source": {"title": "Almanac", "url": "https://almanac.example/s1"},
        "gadget": {"title": "g", "type": "html", "width": 10, "height": 20, "display": "chip", "preferences": {"a": "b"}},
        "conferenceData": {
            "conferenceId": "abc-defg-hij",
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij", "label": "meet.google.com/abc-defg-hij"}]
        },
        "attachments": [{"fileUrl": "https://drive.google.com/file/1", "title": "Doc", "mimeType": "application/pdf"}]
    });
    let r = t
        .post(
            "calendars/primary/events?conferenceDataVersion=1&supportsAttachments=true",
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut expected = body.as_object().unwrap().clone();
    // Times come back in the calendar's zone; compare them as instants below.
    for k in ["start", "end"] {
        expected.remove(k);
    }
    let got = t.ok("calendars/primary/events/roundtrip0001").await;
    for v in [&r.body, &got] {
        assert_subset(&Value::Object(expected.clone()), v, "event");
        assert_eq!(instant(&v["start"]), instant(&body["start"]));
        assert_eq!(instant(&v["end"]), instant(&body["end"]));
        assert_eq!(v["start"]["timeZone"], NY);
    }
    // Without the opt-in parameters Google ignores conferenceData and attachments.
    let mut plain = body.clone();
    plain["id"] = json!("roundtrip0002");
    plain.as_object_mut().unwrap().remove("iCalUID");
    let r = t.insert(plain).await;
    assert!(r.get("conferenceData").is_none() && r.get("attachments").is_none());
    // Unknown fields are ignored, not stored and not refused.
    let r = t.insert(json!({"summary": "x", "notAField": 1, "start": {"date": "2027-01-01"}, "end": {"date": "2027-01-02"}})).await;
    assert!(r.get("notAField").is_none());
    // Wrong JSON shapes for known fields are refused.
    let r = t
        .post(
            "calendars/primary/events",
            json!({"summary": "x", "start": "2027-01-01", "end": {"date": "2027-01-02"}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------------------------------------
// Checklist items
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn item01_client_ids_are_validated_and_duplicates_conflict() {
    let t = T::new().await;
    let mut ev = single("x", "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z");
    ev["id"] = json!("abcde12345v");
    assert_eq!(t.insert(ev.clone()).await["id"], "abcde12345v");
    let r = t.post("calendars/primary/events", ev.clone()).await;
    assert_eq!((r.status, r.reason()), (StatusCode::CONFLICT, "duplicate"));
    assert_eq!(r.body["error"]["errors"][0]["domain"], "global");
    for bad in ["ABCDE", "abcw1", "abc", "abc_def12", &"a".repeat(1025)] {
        ev["id"] = json!(bad);
        let r = t.post("calendars/primary/events", ev.clone()).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.message(), "Invalid resource id value.");
    }
    ev["id"] = json!("a".repeat(1024));
    assert_eq!(
        t.post("calendars/primary/events", ev.clone()).await.status,
        200
    );
    // A deleted event keeps its id reserved.
    t.delete("calendars/primary/events/abcde12345v").await;
    ev["id"] = json!("abcde12345v");
    assert_eq!(
        t.post("calendars/primary/events", ev.clone()).await.status,
        409
    );
    // Without an id the server generates a valid one.
    ev.as_object_mut().unwrap().remove("id");
    let id = t.insert(ev).await["id"].as_str().unwrap().to_string();
    assert!(
        id.len() >= 5
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)),
        "{id}"
    );
}

#[tokio::test]
async fn item02_recurrence_and_time_zone_validation() {
    let t = T::new().await;
    let (s, e) = timed(
        "2027-03-01T09:00:00-05:00",
        "2027-03-01T10:00:00-05:00",
        None,
    );
    let r = t
        .post(
            "calendars/primary/events",
            json!({"summary": "x", "start": s, "end": e, "recurrence": ["RRULE:FREQ=WEEKLY"]}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.reason()), (400, "required"));
    assert_eq!(r.message(), "Missing time zone definition for start time.");
    for bad in [
        vec!["FREQ=WEEKLY"],
        vec!["RRULE:FREQ=WEEKLY;UNTIL=20270605T000000"],
        vec!["DTSTART:20270301T140000Z", "RRULE:FREQ=WEEKLY"],
        vec!["RRULE:FREQ=FORTNIGHTLY"],
        vec!["EXDATE:20270308T140000Z"],
        vec!["RRULE:FREQ=WEEKLY;COUNT=2;UNTIL=20270605T000000Z"],
    ] {
        let r = t
            .post(
                "calendars/primary/events",
                series("x", "2027-03-01T09:00:00", "2027-03-01T10:00:00", NY, &bad),
            )
            .await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.message(), "Invalid recurrence rule.", "{bad:?}");
        assert_eq!(r.body["error"]["code"], 400);
        assert_eq!(
            r.body["error"]["errors"][0]["message"],
            "Invalid recurrence rule."
        );
    }
    let ok = t
        .post(
            "calendars/primary/events",
            series(
                "x",
                "2027-03-01T09:00:00",
                "2027-03-01T10:00:00",
                NY,
                &[
                    "RRULE:FREQ=WEEKLY;UNTIL=20270605T000000Z",
                    "EXDATE;VALUE=DATE:20270308",
                    "RDATE;TZID=Europe/Berlin:20270310T150000",
                ],
            ),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // End before start.
    let r = t
        .post(
            "calendars/primary/events",
            single("x", "2027-03-01T10:00:00Z", "2027-03-01T09:00:00Z"),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.reason()), (400, "timeRangeEmpty"));
    let r = t
        .post(
            "calendars/primary/events",
            json!({"summary": "no end", "start": {"date": "2027-03-01"}}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.message()), (400, "Missing end time."));
}

#[tokio::test]
async fn item03_weekly_series_keeps_wall_clock_across_both_dst_changes() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "Standup",
            "2027-03-01T09:00:00",
            "2027-03-01T09:30:00",
            NY,
            &["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20271130T000000Z"],
        ))
        .await;
    let id = r["id"].as_str().unwrap();
    let march = instances(
        &t,
        id,
        "timeMin=2027-03-01T00:00:00Z&timeMax=2027-03-23T00:00:00Z&timeZone=America/New_York",
    )
    .await;
    let utcs: Vec<String> = march.iter().map(|i| utc(&i["start"])).collect();
    assert_eq!(
        utcs,
        [
            "2027-03-01T14:00:00Z",
            "2027-03-08T14:00:00Z",
            "2027-03-15T13:00:00Z",
            "2027-03-22T13:00:00Z"
        ]
    );
    let locals: Vec<&str> = march
        .iter()
        .map(|i| i["start"]["dateTime"].as_str().unwrap())
        .collect();
    assert_eq!(
        locals,
        [
            "2027-03-01T09:00:00-05:00",
            "2027-03-08T09:00:00-05:00",
            "2027-03-15T09:00:00-04:00",
            "2027-03-22T09:00:00-04:00"
        ]
    );
    let nov = instances(
        &t,
        id,
        "timeMin=2027-10-25T00:00:00Z&timeMax=2027-11-16T00:00:00Z",
    )
    .await;
    let utcs: Vec<String> = nov.iter().map(|i| utc(&i["start"])).collect();
    assert_eq!(
        utcs,
        [
            "2027-10-25T13:00:00Z",
            "2027-11-01T13:00:00Z",
            "2027-11-08T14:00:00Z",
            "2027-11-15T14:00:00Z"
        ]
    );
    // Instance id suffixes are UTC, so their hour moves with DST.
    assert!(march[1]["id"]
        .as_str()
        .unwrap()
        .ends_with("_20270308T140000Z"));
    assert!(march[2]["id"]
        .as_str()
        .unwrap()
        .ends_with("_20270315T130000Z"));
    for i in march.iter().chain(&nov) {
        assert_eq!(
            (instant(&i["end"]) - instant(&i["start"])).num_minutes(),
            30
        );
        assert_eq!(i["start"]["timeZone"], NY);
    }
}

#[tokio::test]
async fn item03_spring_forward_0230_start_and_lenient_exdate_rdate() {
    let t = T::new().await;
    // 02:30 does not exist on 2027-03-14 in New York: it is read as 03:30 EDT (RFC 5545).
    let r = t
        .insert(series(
            "Early",
            "2027-03-13T02:30:00",
            "2027-03-13T03:00:00",
            NY,
            &["RRULE:FREQ=DAILY;COUNT=3"],
        ))
        .await;
    let got: Vec<String> = instances(&t, r["id"].as_str().unwrap(), "")
        .await
        .iter()
        .map(|i| utc(&i["start"]))
        .collect();
    assert_eq!(
        got,
        [
            "2027-03-13T07:30:00Z",
            "2027-03-14T07:30:00Z",
            "2027-03-15T06:30:00Z"
        ]
    );
    let single_gap = t.insert(json!({"summary": "gap", "start": {"dateTime": "2027-03-14T02:30:00", "timeZone": NY}, "end": {"dateTime": "2027-03-14T04:00:00", "timeZone": NY}})).await;
    assert_eq!(utc(&single_gap["start"]), "2027-03-14T07:30:00Z");

    let r = t
        .insert(series(
            "Lenient",
            "2027-03-01T09:00:00",
            "2027-03-01T10:00:00",
            NY,
            &[
                "RRULE:FREQ=WEEKLY;COUNT=4",
                "EXDATE;TZID=America/New_York:20270308T090000",
                "RDATE:20270310T150000Z",
                "EXDATE;VALUE=DATE:20270315",
            ],
        ))
        .await;
    let got: Vec<String> = instances(&t, r["id"].as_str().unwrap(), "")
        .await
        .iter()
        .map(|i| utc(&i["start"]))
        .collect();
    assert_eq!(
        got,
        [
            "2027-03-01T14:00:00Z",
            "2027-03-10T15:00:00Z",
            "2027-03-22T13:00:00Z"
        ]
    );
    // EXRULE removes what it matches.
    let r = t
        .insert(series(
            "exrule",
            "2027-03-01T09:00:00",
            "2027-03-01T10:00:00",
            NY,
            &[
                "RRULE:FREQ=DAILY;COUNT=7",
                "EXRULE:FREQ=DAILY;INTERVAL=2;COUNT=4",
            ],
        ))
        .await;
    let got: Vec<String> = instances(&t, r["id"].as_str().unwrap(), "")
        .await
        .iter()
        .map(|i| i["start"]["dateTime"].as_str().unwrap()[..10].to_string())
        .collect();
    assert_eq!(got, ["2027-03-02", "2027-03-04", "2027-03-06"]);
}

#[tokio::test]
async fn item04_instance_ids_and_the_opaque_switch() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "d",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=3"],
        ))
        .await;
    let pid = r["id"].as_str().unwrap().to_string();
    let inst = instances(&t, &pid, "").await;
    assert_eq!(
        ids(&inst),
        [
            format!("{pid}_20270503T170000Z"),
            format!("{pid}_20270504T170000Z"),
            format!("{pid}_20270505T170000Z")
        ]
    );
    for i in &inst {
        assert_eq!(i["recurringEventId"], pid.as_str());
        assert!(i.get("recurrence").is_none());
    }
    assert_eq!(
        t.get(&format!("calendars/primary/events/{pid}_20270504T170000Z"))
            .await
            .status,
        200
    );
    assert_eq!(
        t.get(&format!("calendars/primary/events/{pid}_20270504T180000Z"))
            .await
            .status,
        404
    );

    t.emu.set_opaque_instance_ids(true);
    let opaque = instances(&t, &pid, "").await;
    for i in &opaque {
        let id = i["id"].as_str().unwrap();
        assert!(
            !id.contains('_') && !id.starts_with(&pid),
            "not opaque: {id}"
        );
        assert_eq!(
            t.get(&format!("calendars/primary/events/{id}"))
                .await
                .status,
            200
        );
    }
    // Ids are stable across calls, and constructed ids no longer resolve.
    assert_eq!(ids(&opaque), ids(&instances(&t, &pid, "").await));
    assert_eq!(
        t.get(&format!("calendars/primary/events/{pid}_20270504T170000Z"))
            .await
            .status,
        404
    );
    let oid = opaque[1]["id"].as_str().unwrap();
    let ex = t
        .patch(
            &format!("calendars/primary/events/{oid}"),
            json!({"summary": "changed"}),
        )
        .await;
    assert_eq!(
        (ex.status.as_u16(), ex.body["id"].as_str()),
        (200, Some(oid))
    );
    assert_eq!(utc(&ex.body["originalStartTime"]), "2027-05-04T17:00:00Z");
}

#[tokio::test]
async fn item05_default_list_has_singles_parents_exceptions_and_cancelled_instances() {
    let t = T::new().await;
    let a = t
        .insert(single("A", "2027-05-03T08:00:00Z", "2027-05-03T09:00:00Z"))
        .await;
    let b = t
        .insert(single("B", "2027-05-03T08:00:00Z", "2027-05-03T09:00:00Z"))
        .await;
    let r = t
        .insert(series(
            "R",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=5"],
        ))
        .await;
    let r2 = t
        .insert(series(
            "R2",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=5"],
        ))
        .await;
    let inst = instances(&t, r["id"].as_str().unwrap(), "").await;
    let ex = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[1]["id"].as_str().unwrap()
            ),
            json!({"summary": "R moved"}),
        )
        .await
        .body;
    t.delete(&format!(
        "calendars/primary/events/{}",
        inst[2]["id"].as_str().unwrap()
    ))
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        b["id"].as_str().unwrap()
    ))
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        r2["id"].as_str().unwrap()
    ))
    .await;

    let (items, _, _) = t.list_all("calendars/primary/events").await;
    let want: BTreeSet<String> = [&a["id"], &r["id"], &ex["id"], &inst[2]["id"]]
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(id_set(&items), want);
    let cancelled = items.iter().find(|i| i["id"] == inst[2]["id"]).unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["recurringEventId"], r["id"]);
    let (items, _, _) = t
        .list_all("calendars/primary/events?showDeleted=true")
        .await;
    assert!(id_set(&items).is_superset(
        &[
            b["id"].as_str().unwrap().to_string(),
            r2["id"].as_str().unwrap().to_string()
        ]
        .into()
    ));
}

#[tokio::test]
async fn item06_single_events_expands_and_order_by_start_time_needs_it() {
    let t = T::new().await;
    let a = t
        .insert(single("A", "2027-05-05T08:00:00Z", "2027-05-05T09:00:00Z"))
        .await;
    let b = t
        .insert(single("B", "2027-05-01T08:00:00Z", "2027-05-01T09:00:00Z"))
        .await;
    let r = t
        .insert(series(
            "R",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=5"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let inst = instances(&t, rid, "").await;
    t.patch(
        &format!(
            "calendars/primary/events/{}",
            inst[1]["id"].as_str().unwrap()
        ),
        json!({"summary": "ex"}),
    )
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        inst[2]["id"].as_str().unwrap()
    ))
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        b["id"].as_str().unwrap()
    ))
    .await;

    let (items, _, _) = t
        .list_all("calendars/primary/events?singleEvents=true&orderBy=startTime")
        .await;
    assert!(
        items
            .iter()
            .all(|i| i["id"] != rid && i.get("recurrence").is_none()),
        "no parents when singleEvents=true"
    );
    let got = ids(&items);
    let want = vec![
        inst[0]["id"].as_str().unwrap().to_string(),
        inst[1]["id"].as_str().unwrap().to_string(),
        a["id"].as_str().unwrap().to_string(),
        inst[3]["id"].as_str().unwrap().to_string(),
        inst[4]["id"].as_str().unwrap().to_string(),
    ];
    assert_eq!(got, want);
    let starts: Vec<_> = items.iter().map(|i| instant(&i["start"])).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));

    let r = t.get("calendars/primary/events?orderBy=startTime").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "The requested ordering is not available for the particular query."
    );
    // showDeleted with singleEvents: deleted single instances only, never deleted recurring events.
    let (items, _, _) = t
        .list_all("calendars/primary/events?singleEvents=true&showDeleted=true")
        .await;
    let got = id_set(&items);
    assert!(
        got.contains(inst[2]["id"].as_str().unwrap()) && got.contains(b["id"].as_str().unwrap())
    );
    assert_eq!(
        t.get("calendars/primary/events?orderBy=updated")
            .await
            .status,
        200
    );
    let (items, _, _) = t
        .list_all("calendars/primary/events?singleEvents=true&orderBy=updated")
        .await;
    let updated: Vec<_> = items
        .iter()
        .map(|i| DateTime::parse_from_rfc3339(i["updated"].as_str().unwrap()).unwrap())
        .collect();
    assert!(updated.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn item07_time_min_is_exclusive_on_end_time_max_exclusive_on_start_instances_inclusive() {
    let t = T::new().await;
    let e = t
        .insert(single("E", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let eid = e["id"].as_str().unwrap().to_string();
    let has = |items: &Value| {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == eid.as_str())
    };
    for (q, want) in [
        ("timeMin=2027-05-03T11:00:00Z", false),
        ("timeMin=2027-05-03T10:59:59Z", true),
        ("timeMax=2027-05-03T10:00:00Z", false),
        ("timeMax=2027-05-03T10:00:01Z", true),
        ("timeMin=2027-05-03T06:59:59-04:00", true),
        ("timeMin=2027-05-03T07:00:00-04:00", false),
    ] {
        assert_eq!(
            has(&t
                .ok(&format!(
                    "calendars/primary/events?{}",
                    q.replace('+', "%2B")
                ))
                .await),
            want,
            "{q}"
        );
    }
    let r = t
        .insert(series(
            "R",
            "2027-05-03T10:00:00Z",
            "2027-05-03T11:00:00Z",
            "UTC",
            &["RRULE:FREQ=DAILY;COUNT=3"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let via_instances = instances(&t, rid, "timeMin=2027-05-04T11:00:00Z").await;
    assert_eq!(
        utc(&via_instances[0]["start"]),
        "2027-05-04T10:00:00Z",
        "instances: timeMin inclusive"
    );
    let (listed, _, _) = t.list_all("calendars/primary/events?singleEvents=true&orderBy=startTime&timeMin=2027-05-04T11:00:00Z").await;
    let first = listed
        .iter()
        .find(|i| i["recurringEventId"] == rid)
        .unwrap();
    assert_eq!(
        utc(&first["start"]),
        "2027-05-05T10:00:00Z",
        "list: timeMin exclusive"
    );
    // A parent is listed when any instance overlaps the window.
    let (listed, _, _) = t
        .list_all(
            "calendars/primary/events?timeMin=2027-05-05T10:30:00Z&timeMax=2027-05-06T00:00:00Z",
        )
        .await;
    assert_eq!(ids(&listed), [rid]);
    let r = t
        .get("calendars/primary/events?timeMin=2027-05-05T00:00:00Z&timeMax=2027-05-04T00:00:00Z")
        .await;
    assert_eq!((r.status.as_u16(), r.reason()), (400, "timeRangeEmpty"));
    assert_eq!(
        t.get("calendars/primary/events?timeMin=2027-05-05T00:00:00")
            .await
            .status,
        400,
        "offset is mandatory"
    );
}

#[tokio::test]
async fn item08_instances_original_start_show_deleted_paging_and_time_zone() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "W",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY;COUNT=6"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let all = instances(&t, rid, "").await;
    assert_eq!(all.len(), 6);
    let third = all[2]["originalStartTime"]["dateTime"].as_str().unwrap();
    let one = instances(&t, rid, &format!("originalStart={}", enc(third))).await;
    assert_eq!(ids(&one), [all[2]["id"].as_str().unwrap()]);
    t.delete(&format!(
        "calendars/primary/events/{}",
        all[1]["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(instances(&t, rid, "").await.len(), 5);
    let with_deleted = instances(&t, rid, "showDeleted=true").await;
    assert_eq!(with_deleted.len(), 6);
    assert_eq!(
        with_deleted
            .iter()
            .filter(|i| i["status"] == "cancelled")
            .count(),
        1
    );
    let (items, sizes, sync) = t
        .list_all(&format!(
            "calendars/primary/events/{rid}/instances?maxResults=2"
        ))
        .await;
    assert_eq!(sizes, [2, 2, 1]);
    assert!(sync.is_empty(), "instances never carries nextSyncToken");
    assert_eq!(items.len(), 5);
    let tokyo = instances(&t, rid, "timeZone=Asia/Tokyo").await;
    assert!(tokyo
        .iter()
        .all(|i| i["start"]["dateTime"].as_str().unwrap().ends_with("+09:00")));
    // originalStart finds an instance even after it was moved.
    let fourth = &all[3];
    let moved = t.patch(&format!("calendars/primary/events/{}", fourth["id"].as_str().unwrap()), json!({"start": {"dateTime": "2027-06-29T12:00:00-07:00"}, "end": {"dateTime": "2027-06-29T13:00:00-07:00"}})).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let found = instances(
        &t,
        rid,
        &format!(
            "originalStart={}",
            enc(fourth["originalStartTime"]["dateTime"].as_str().unwrap())
        ),
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(utc(&found[0]["start"]), "2027-06-29T19:00:00Z");
    assert_eq!(
        t.get("calendars/primary/events/nosuchevent/instances")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn item09_writing_an_instance_creates_an_exception_with_immutable_identity() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "W",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY;COUNT=4"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let inst = instances(&t, rid, "").await;
    let iid = inst[1]["id"].as_str().unwrap();
    let ex = t
        .patch(
            &format!("calendars/primary/events/{iid}"),
            json!({"summary": "Special"}),
        )
        .await;
    assert_eq!(ex.status, 200);
    assert_eq!(
        (
            ex.body["id"].as_str(),
            ex.body["recurringEventId"].as_str(),
            ex.body["summary"].as_str()
        ),
        (Some(iid), Some(rid), Some("Special"))
    );
    assert_eq!(ex.body["originalStartTime"], inst[1]["originalStartTime"]);
    assert_eq!(
        t.ok(&format!("calendars/primary/events/{rid}")).await["summary"],
        "W",
        "parent untouched"
    );
    let (listed, _, _) = t.list_all("calendars/primary/events").await;
    assert_eq!(id_set(&listed), [rid.to_string(), iid.to_string()].into());

    // Full update of the fetched instance, moved by a day.
    let mut full = t.ok(&format!("calendars/primary/events/{iid}")).await;
    full["start"] = json!({"dateTime": "2027-06-15T10:00:00-07:00", "timeZone": LA});
    full["end"] = json!({"dateTime": "2027-06-15T11:00:00-07:00", "timeZone": LA});
    let put = t
        .put(&format!("calendars/primary/events/{iid}"), full)
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(utc(&put.body["start"]), "2027-06-15T17:00:00Z");
    assert_eq!(utc(&put.body["originalStartTime"]), "2027-06-14T17:00:00Z");

    let r = t
        .patch(
            &format!("calendars/primary/events/{iid}"),
            json!({"originalStartTime": {"dateTime": "2027-06-15T10:00:00-07:00", "timeZone": LA}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[2]["id"].as_str().unwrap()
            ),
            json!({"recurringEventId": "someotherevent"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[2]["id"].as_str().unwrap()
            ),
            json!({"recurrence": ["RRULE:FREQ=DAILY"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    // The guide's way of cancelling one occurrence.
    let c = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[3]["id"].as_str().unwrap()
            ),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(
        (c.status.as_u16(), c.body["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(instances(&t, rid, "").await.len(), 3);
}

#[tokio::test]
async fn item10_k_deleting_an_instance_leaves_a_cancelled_exception_and_the_rule_alone() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "W",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY;COUNT=4"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let iid = instances(&t, rid, "").await[2]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = t.delete(&format!("calendars/primary/events/{iid}")).await;
    assert_eq!(d.status, 204);
    assert_eq!(d.body, Value::Null, "204 has no body");
    let got = t.ok(&format!("calendars/primary/events/{iid}")).await;
    assert_eq!(
        (got["status"].as_str(), got["recurringEventId"].as_str()),
        (Some("cancelled"), Some(rid))
    );
    assert_eq!(utc(&got["originalStartTime"]), "2027-06-21T17:00:00Z");
    let again = t.delete(&format!("calendars/primary/events/{iid}")).await;
    assert_eq!(
        (again.status.as_u16(), again.reason(), again.message()),
        (410, "deleted", "Resource has been deleted")
    );
    assert_eq!(
        t.ok(&format!("calendars/primary/events/{rid}")).await["recurrence"],
        json!(["RRULE:FREQ=WEEKLY;COUNT=4"])
    );
}

#[tokio::test]
async fn item11_k_deleting_a_parent_cancels_it_and_its_exceptions() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "W",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY;COUNT=4"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let inst = instances(&t, rid, "").await;
    let ex = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[0]["id"].as_str().unwrap()
            ),
            json!({"summary": "ex"}),
        )
        .await
        .body;
    let (_, _, token) = t.list_all("calendars/primary/events").await;
    assert_eq!(
        t.delete(&format!("calendars/primary/events/{rid}"))
            .await
            .status,
        204
    );
    assert_eq!(
        t.ok(&format!("calendars/primary/events/{rid}")).await["status"],
        "cancelled"
    );
    assert_eq!(
        t.get(&format!(
            "calendars/primary/events/{}",
            inst[1]["id"].as_str().unwrap()
        ))
        .await
        .status,
        404
    );
    let (items, _, _) = t
        .list_all("calendars/primary/events?singleEvents=true")
        .await;
    assert!(
        items.is_empty(),
        "instances of a deleted series are gone: {items:?}"
    );
    assert_eq!(
        t.get(&format!("calendars/primary/events/{rid}/instances"))
            .await
            .status,
        410
    );
    let (changes, _, _) = t
        .list_all(&format!("calendars/primary/events?syncToken={token}"))
        .await;
    let parent = changes.iter().find(|i| i["id"] == rid).unwrap();
    assert_eq!(parent["status"], "cancelled");
    assert!(
        parent.get("summary").is_none() && parent.get("recurrence").is_none(),
        "minimal fields: {parent}"
    );
    let exc = changes.iter().find(|i| i["id"] == ex["id"]).unwrap();
    assert_eq!(
        (exc["status"].as_str(), exc["recurringEventId"].as_str()),
        (Some("cancelled"), Some(rid))
    );
    assert_eq!(
        t.delete(&format!("calendars/primary/events/{rid}"))
            .await
            .status,
        410
    );
}

#[tokio::test]
async fn item12_s_trimming_a_parent_splits_the_series_and_cancels_exceptions_past_the_end() {
    let t = T::new().await;
    let r = t
        .insert(series(
            "Guide",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY"],
        ))
        .await;
    let rid = r["id"].as_str().unwrap();
    let window = "timeMax=2027-08-01T00:00:00Z";
    let inst = instances(&t, rid, window).await;
    let early = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[1]["id"].as_str().unwrap()
            ),
            json!({"summary": "kept"}),
        )
        .await
        .body;
    let late = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[3]["id"].as_str().unwrap()
            ),
            json!({"summary": "lost"}),
        )
        .await
        .body;
    let (_, _, token) = t.list_all("calendars/primary/events").await;
    // The guide's recipe: UNTIL = local midnight of the split day − 1 s, in UTC.
    let trimmed = t
        .patch(
            &format!("calendars/primary/events/{rid}"),
            json!({"recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20270621T065959Z"]}),
        )
        .await;
    assert_eq!(trimmed.status, 200, "{}", trimmed.body);
    assert_eq!(instances(&t, rid, window).await.len(), 2);
    let cont = t
        .insert(series(
            "Guide",
            "2027-06-21T10:00:00",
            "2027-06-21T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY"],
        ))
        .await;
    assert_eq!(
        utc(&instances(&t, cont["id"].as_str().unwrap(), window).await[0]["start"]),
        "2027-06-21T17:00:00Z"
    );
    let (changes, _, _) = t
        .list_all(&format!("calendars/primary/events?syncToken={token}"))
        .await;
    let got = id_set(&changes);
    assert!(got.contains(rid) && got.contains(cont["id"].as_str().unwrap()));
    let lost = changes
        .iter()
        .find(|i| i["id"] == late["id"])
        .expect("trimmed exception reported");
    assert_eq!(lost["status"], "cancelled");
    assert!(
        !got.contains(early["id"].as_str().unwrap()),
        "an exception before the split is untouched"
    );
    assert_eq!(
        t.ok(&format!(
            "calendars/primary/events/{}",
            early["id"].as_str().unwrap()
        ))
        .await["status"],
        "confirmed"
    );

    // The guide's second request copies the trimmed UNTIL: the continuation has no instances.
    let broken = t
        .insert(series(
            "Copy",
            "2027-06-21T10:00:00",
            "2027-06-21T11:00:00",
            LA,
            &["RRULE:FREQ=WEEKLY;UNTIL=20270621T065959Z"],
        ))
        .await;
    assert!(instances(&t, broken["id"].as_str().unwrap(), "")
        .await
        .is_empty());

    // COUNT trimming.
    let c = t
        .insert(series(
            "Count",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=10"],
        ))
        .await;
    t.patch(
        &format!("calendars/primary/events/{}", c["id"].as_str().unwrap()),
        json!({"recurrence": ["RRULE:FREQ=DAILY;COUNT=3"]}),
    )
    .await;
    assert_eq!(instances(&t, c["id"].as_str().unwrap(), "").await.len(), 3);

    // The assumption is switchable: keep such exceptions instead.
    t.emu.set_trimmed_exceptions(TrimmedExceptions::Keep);
    let k = t
        .insert(series(
            "Keep",
            "2027-06-07T10:00:00",
            "2027-06-07T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=5"],
        ))
        .await;
    let kid = k["id"].as_str().unwrap();
    let kinst = instances(&t, kid, "").await;
    let kex = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                kinst[4]["id"].as_str().unwrap()
            ),
            json!({"summary": "x"}),
        )
        .await
        .body;
    t.patch(
        &format!("calendars/primary/events/{kid}"),
        json!({"recurrence": ["RRULE:FREQ=DAILY;COUNT=2"]}),
    )
    .await;
    assert_eq!(
        t.ok(&format!(
            "calendars/primary/events/{}",
            kex["id"].as_str().unwrap()
        ))
        .await["status"],
        "confirmed"
    );
}

#[tokio::test]
async fn item13_etag_and_updated_change_on_every_write_with_conditional_requests() {
    let t = T::new().await;
    let e = t
        .insert(single("E", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let path = format!("calendars/primary/events/{}", e["id"].as_str().unwrap());
    let (etag1, updated1) = (
        e["etag"].as_str().unwrap().to_string(),
        e["updated"].as_str().unwrap().to_string(),
    );
    let p = t.patch(&path, json!({"summary": "E2"})).await.body;
    let (etag2, updated2) = (
        p["etag"].as_str().unwrap().to_string(),
        p["updated"].as_str().unwrap().to_string(),
    );
    assert_ne!(etag1, etag2);
    assert!(
        DateTime::parse_from_rfc3339(&updated2).unwrap()
            > DateTime::parse_from_rfc3339(&updated1).unwrap()
    );
    let nm = t
        .req(Method::GET, &path, None, &[("If-None-Match", &etag2)])
        .await;
    assert_eq!(nm.status, 304);
    assert_eq!(
        t.req(Method::GET, &path, None, &[("If-None-Match", &etag1)])
            .await
            .status,
        200
    );
    for (m, body) in [
        (Method::PATCH, Some(json!({"summary": "x"}))),
        (
            Method::PUT,
            Some(single("x", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z")),
        ),
        (Method::DELETE, None),
    ] {
        let r = t.req(m.clone(), &path, body, &[("If-Match", &etag1)]).await;
        assert_eq!(
            (r.status.as_u16(), r.reason()),
            (412, "conditionNotMet"),
            "{m}"
        );
        assert_eq!(r.body["error"]["errors"][0]["location"], "If-Match");
    }
    let ok = t
        .req(
            Method::PATCH,
            &path,
            Some(json!({"summary": "E3"})),
            &[("If-Match", &etag2)],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.headers.get("etag").and_then(|v| v.to_str().ok()),
        ok.body["etag"].as_str()
    );
    // Instances carry the parent's version: editing the parent changes them.
    let r = t
        .insert(series(
            "R",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=2"],
        ))
        .await;
    let before = instances(&t, r["id"].as_str().unwrap(), "").await[0]["etag"].clone();
    t.patch(
        &format!("calendars/primary/events/{}", r["id"].as_str().unwrap()),
        json!({"summary": "R2"}),
    )
    .await;
    assert_ne!(
        instances(&t, r["id"].as_str().unwrap(), "").await[0]["etag"],
        before
    );
}

#[tokio::test]
async fn item14_patch_merges_objects_and_replaces_arrays() {
    let t = T::new().await;
    let mut body = single("P", "2027-07-01T10:00:00Z", "2027-07-01T11:00:00Z");
    body["description"] = json!("d");
    body["attendees"] = json!([{"email": "a@example.com"}, {"email": "b@example.com"}]);
    body["extendedProperties"] = json!({"private": {"x": "1", "y": "2"}});
    let e = t.insert(body).await;
    let path = format!("calendars/primary/events/{}", e["id"].as_str().unwrap());
    let p = t.patch(&path, json!({"summary": "P2"})).await.body;
    assert_eq!(
        (
            p["description"].as_str(),
            p["attendees"].as_array().unwrap().len()
        ),
        (Some("d"), 2)
    );
    let p = t
        .patch(&path, json!({"attendees": [{"email": "c@example.com"}]}))
        .await
        .body;
    assert_eq!(
        p["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["email"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["c@example.com"]
    );
    // Documented choice (switchable): extendedProperties.private merges key by key; null removes.
    let p = t
        .patch(
            &path,
            json!({"extendedProperties": {"private": {"z": "3", "x": null}}}),
        )
        .await
        .body;
    assert_eq!(
        p["extendedProperties"]["private"],
        json!({"y": "2", "z": "3"})
    );
    t.emu
        .set_extended_properties_patch(ExtendedPropertiesPatch::Replace);
    let p = t
        .patch(
            &path,
            json!({"extendedProperties": {"private": {"w": "4"}}}),
        )
        .await
        .body;
    assert_eq!(p["extendedProperties"]["private"], json!({"w": "4"}));
    // Timed → all-day needs dateTime: null, because start merges too.
    let bad = t
        .patch(
            &path,
            json!({"start": {"date": "2027-07-01"}, "end": {"date": "2027-07-02"}}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let p = t.patch(&path, json!({"start": {"date": "2027-07-01", "dateTime": null}, "end": {"date": "2027-07-02", "dateTime": null}})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["start"], json!({"date": "2027-07-01"}));
    let r = t
        .insert(series(
            "R",
            "2027-07-01T10:00:00",
            "2027-07-01T11:00:00",
            LA,
            &[
                "RRULE:FREQ=DAILY;COUNT=5",
                "EXDATE;TZID=America/Los_Angeles:20270702T100000",
            ],
        ))
        .await;
    let p = t
        .patch(
            &format!("calendars/primary/events/{}", r["id"].as_str().unwrap()),
            json!({"recurrence": ["RRULE:FREQ=DAILY;COUNT=2"]}),
        )
        .await
        .body;
    assert_eq!(
        p["recurrence"],
        json!(["RRULE:FREQ=DAILY;COUNT=2"]),
        "array replaced wholesale"
    );
}

#[tokio::test]
async fn item15_paging_limits_and_changes_during_pagination_are_not_lost() {
    let t = T::new().await;
    let mut made = Vec::new();
    for i in 0..7 {
        let mut e = single(
            &format!("e{i}"),
            "2027-05-03T10:00:00Z",
            "2027-05-03T11:00:00Z",
        );
        e["id"] = json!(format!("evt{i}0000"));
        made.push(t.insert(e).await["id"].as_str().unwrap().to_string());
    }
    let (items, sizes, sync) = t.list_all("calendars/primary/events?maxResults=3").await;
    assert_eq!((sizes, items.len()), (vec![3, 3, 1], 7));
    assert!(!sync.is_empty());

    // Paginate while changing things.
    let p1 = t.ok("calendars/primary/events?maxResults=3").await;
    let early = t.insert(json!({"id": "aaaa000000", "summary": "sorts first", "start": {"date": "2027-05-03"}, "end": {"date": "2027-05-04"}})).await;
    t.patch(
        "calendars/primary/events/evt60000",
        json!({"summary": "changed mid-way"}),
    )
    .await;
    t.delete("calendars/primary/events/evt00000").await;
    let mut seen = ids(p1["items"].as_array().unwrap());
    let mut token = p1["nextPageToken"].as_str().unwrap().to_string();
    let final_sync = loop {
        let page = t
            .ok(&format!(
                "calendars/primary/events?maxResults=3&pageToken={token}"
            ))
            .await;
        seen.extend(ids(page["items"].as_array().unwrap()));
        match page["nextPageToken"].as_str() {
            Some(n) => token = n.to_string(),
            None => break page["nextSyncToken"].as_str().unwrap().to_string(),
        }
    };
    assert!(
        !seen.contains(&early["id"].as_str().unwrap().to_string()),
        "inserted before the cursor: not in this listing"
    );
    let (changes, _, _) = t
        .list_all(&format!("calendars/primary/events?syncToken={final_sync}"))
        .await;
    let got = id_set(&changes);
    for id in ["aaaa000000", "evt60000", "evt00000"] {
        assert!(got.contains(id), "{id} lost: {got:?}");
    }

    // Short and empty pages that still carry nextPageToken.
    t.emu.set_ragged_pages(true);
    let (items, sizes, sync) = t
        .list_all("calendars/primary/events?maxResults=4&showDeleted=true")
        .await;
    assert_eq!(sizes, [4, 0, 2, 2]);
    assert_eq!(items.len(), 8);
    assert!(!sync.is_empty());
    t.emu.set_ragged_pages(false);

    // Default 250, cap 2500.
    t.insert(series(
        "many",
        "2027-01-01T10:00:00Z",
        "2027-01-01T10:30:00Z",
        "UTC",
        &["RRULE:FREQ=HOURLY;COUNT=2600"],
    ))
    .await;
    let page = t.ok("calendars/primary/events?singleEvents=true").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 250);
    let page = t
        .ok("calendars/primary/events?singleEvents=true&maxResults=5000")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2500);
    assert!(page["nextPageToken"].is_string());
    assert_eq!(
        t.get("calendars/primary/events?maxResults=0").await.status,
        400
    );
}

#[tokio::test]
async fn item16_sync_token_rounds_deliver_every_change_including_cancellations() {
    let t = T::new().await;
    let a = t
        .insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let b = t
        .insert(single("B", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let r = t
        .insert(series(
            "R",
            "2027-05-03T10:00:00",
            "2027-05-03T11:00:00",
            LA,
            &["RRULE:FREQ=DAILY;COUNT=3"],
        ))
        .await;
    let inst = instances(&t, r["id"].as_str().unwrap(), "").await;
    let (_, _, t1) = t.list_all("calendars/primary/events").await;
    let (none, _, t2) = t
        .list_all(&format!("calendars/primary/events?syncToken={t1}"))
        .await;
    assert!(none.is_empty());
    let x = t
        .insert(single("X", "2027-05-04T10:00:00Z", "2027-05-04T11:00:00Z"))
        .await;
    t.patch(
        &format!("calendars/primary/events/{}", a["id"].as_str().unwrap()),
        json!({"summary": "A2"}),
    )
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        b["id"].as_str().unwrap()
    ))
    .await;
    t.delete(&format!(
        "calendars/primary/events/{}",
        inst[1]["id"].as_str().unwrap()
    ))
    .await;
    let (changes, _, t3) = t
        .list_all(&format!("calendars/primary/events?syncToken={t2}"))
        .await;
    let want: BTreeSet<String> = [&x["id"], &a["id"], &b["id"], &inst[1]["id"]]
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(id_set(&changes), want);
    let bb = changes.iter().find(|i| i["id"] == b["id"]).unwrap();
    assert_eq!(bb["status"], "cancelled");
    assert!(bb.get("summary").is_none());
    let ii = changes.iter().find(|i| i["id"] == inst[1]["id"]).unwrap();
    assert_eq!(
        (ii["status"].as_str(), ii["recurringEventId"].as_str()),
        (Some("cancelled"), r["id"].as_str())
    );
    assert!(ii["originalStartTime"].is_object());
    // With showDeleted=true cancelled items keep their details.
    let (full, _, _) = t
        .list_all(&format!(
            "calendars/primary/events?syncToken={t2}&showDeleted=true"
        ))
        .await;
    assert_eq!(
        full.iter().find(|i| i["id"] == b["id"]).unwrap()["summary"],
        "B"
    );
    for forbidden in [
        "timeMin=2027-01-01T00:00:00Z",
        "timeMax=2027-01-01T00:00:00Z",
        "q=x",
        "iCalUID=x",
        "orderBy=updated",
        "updatedMin=2027-01-01T00:00:00Z",
        "privateExtendedProperty=a%3Db",
        "sharedExtendedProperty=a%3Db",
        "showDeleted=false",
    ] {
        let r = t
            .get(&format!(
                "calendars/primary/events?syncToken={t3}&{forbidden}"
            ))
            .await;
        assert_eq!(r.status, 400, "{forbidden}");
    }
    // A large change set paginates; the sync token comes on the last page.
    for i in 0..5 {
        t.insert(single(
            &format!("n{i}"),
            "2027-05-05T10:00:00Z",
            "2027-05-05T11:00:00Z",
        ))
        .await;
    }
    let (changes, sizes, t4) = t
        .list_all(&format!(
            "calendars/primary/events?syncToken={t3}&maxResults=2"
        ))
        .await;
    assert_eq!((sizes, changes.len()), (vec![2, 2, 1], 5));
    assert!(t
        .list_all(&format!("calendars/primary/events?syncToken={t4}"))
        .await
        .0
        .is_empty());
    // singleEvents=true chains report instances, including those that vanished.
    let (_, _, s1) = t
        .list_all("calendars/primary/events?singleEvents=true")
        .await;
    t.patch(
        &format!("calendars/primary/events/{}", r["id"].as_str().unwrap()),
        json!({"recurrence": ["RRULE:FREQ=DAILY;COUNT=1"]}),
    )
    .await;
    let (changes, _, _) = t
        .list_all(&format!(
            "calendars/primary/events?singleEvents=true&syncToken={s1}"
        ))
        .await;
    let by_id = |id: &Value| changes.iter().find(|i| i["id"] == *id).cloned();
    assert_eq!(by_id(&inst[0]["id"]).unwrap()["status"], "confirmed");
    assert_eq!(by_id(&inst[2]["id"]).unwrap()["status"], "cancelled");
    assert!(
        changes.iter().all(|i| i["id"] != r["id"]),
        "no parents in singleEvents mode"
    );
    let r = t
        .get(&format!("calendars/primary/events?syncToken={s1}"))
        .await;
    assert_eq!(r.status, 400, "a chain keeps its singleEvents value");
}

#[tokio::test]
async fn item17_invalidated_sync_tokens_answer_410_full_sync_required() {
    let config = GoogleEmulatorConfig {
        sync_token_ttl: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    let t = T::with(config).await;
    t.insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let (_, _, token) = t.list_all("calendars/primary/events").await;
    t.emu.invalidate_sync_tokens(ALICE);
    let r = t
        .get(&format!("calendars/primary/events?syncToken={token}"))
        .await;
    assert_eq!(r.status, 410);
    assert_eq!(
        r.body,
        json!({"error": {"errors": [{"domain": "calendar", "reason": "fullSyncRequired", "message": "Sync token is no longer valid, a full sync is required.", "locationType": "parameter", "location": "syncToken"}], "code": 410, "message": "Sync token is no longer valid, a full sync is required."}})
    );
    let (items, _, fresh) = t.list_all("calendars/primary/events").await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        t.get(&format!("calendars/primary/events?syncToken={fresh}"))
            .await
            .status,
        200
    );
    // Expiry by age.
    t.emu.advance_clock(Duration::from_secs(7200));
    // Two hours on, the access token has expired too: take a new one.
    let token = t.emu.issue_tokens(ALICE).access_token;
    let r = t
        .http
        .get(t.url(&format!("calendars/primary/events?syncToken={fresh}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["errors"][0]["reason"],
        "fullSyncRequired"
    );
}

#[tokio::test]
async fn item18_injected_faults_use_the_documented_envelopes() {
    let t = T::new().await;
    let e = t
        .insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let path = format!("calendars/primary/events/{}", e["id"].as_str().unwrap());
    t.emu.inject_faults(FaultPlan::next([
        FaultKind::RateLimit403,
        FaultKind::UserRateLimit403,
        FaultKind::RateLimit429,
        FaultKind::QuotaExceeded403,
        FaultKind::BackendError500,
    ]));
    for (code, domain, reason, message) in [
        (
            403,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        ),
        (
            403,
            "usageLimits",
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
        ),
        (
            429,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        ),
        (
            403,
            "usageLimits",
            "quotaExceeded",
            "Calendar usage limits exceeded.",
        ),
        (500, "global", "backendError", "Backend Error"),
    ] {
        let r = t.get(&path).await;
        assert_eq!(
            r.body,
            json!({"error": {"errors": [{"domain": domain, "reason": reason, "message": message}], "code": code, "message": message}})
        );
        assert_eq!(r.status.as_u16(), code);
    }
    assert_eq!(t.get(&path).await.status, 200, "the queue is used up");
    assert_eq!(
        t.emu
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count(),
        5
    );

    // Lost response: the write happened, the client saw a 500; a blind retry meets 409.
    t.emu
        .inject_faults(FaultPlan::next([FaultKind::LostResponse500]));
    let mut ev = single("lost", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z");
    ev["id"] = json!("lost000001");
    assert_eq!(
        t.post("calendars/primary/events", ev.clone()).await.status,
        500
    );
    assert_eq!(
        t.get("calendars/primary/events/lost000001").await.status,
        200
    );
    assert_eq!(t.post("calendars/primary/events", ev).await.status, 409);

    // Lost response by a dropped connection, on PATCH only.
    t.emu.inject_faults(
        FaultPlan::default().then(FaultMatch::method("PATCH"), FaultKind::LostResponseDrop),
    );
    assert_eq!(
        t.get(&path).await.status,
        200,
        "GET does not match the fault"
    );
    let err = t
        .http
        .patch(t.url(&path))
        .bearer_auth(&t.token)
        .json(&json!({"summary": "applied"}))
        .send()
        .await;
    assert!(err.is_err(), "connection should have been dropped: {err:?}");
    assert_eq!(t.ok(&path).await["summary"], "applied");

    // Timeout: the response is held longer than the client waits.
    t.emu
        .inject_faults(FaultPlan::next([FaultKind::Timeout(Duration::from_secs(
            5,
        ))]));
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = quick
        .get(t.url(&path))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(
        t.get(&path).await.status,
        200,
        "other requests are served meanwhile"
    );
}

#[tokio::test]
async fn item18_sliding_window_quota_counts_patch_as_three_units() {
    let t = T::new().await;
    let e = t
        .insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let path = format!("calendars/primary/events/{}", e["id"].as_str().unwrap());
    t.emu.set_quotas(Quotas {
        per_user_per_minute: Some(10),
        per_project_per_minute: None,
    });
    t.emu.advance_clock(Duration::from_secs(61));
    for _ in 0..3 {
        assert_eq!(t.patch(&path, json!({"summary": "p"})).await.status, 200);
    }
    assert_eq!(t.get(&path).await.status, 200, "9 + 1 = 10 units");
    let r = t.get(&path).await;
    assert_eq!(
        (r.status.as_u16(), r.reason()),
        (403, "userRateLimitExceeded")
    );
    assert_eq!(t.patch(&path, json!({"summary": "p"})).await.status, 403);
    t.emu.advance_clock(Duration::from_secs(61));
    assert_eq!(t.get(&path).await.status, 200, "the window slid");
    // The project-wide limit answers 429.
    t.emu.set_quotas(Quotas {
        per_user_per_minute: None,
        per_project_per_minute: Some(2),
    });
    t.emu.advance_clock(Duration::from_secs(61));
    let bob = t.emu.issue_tokens("bob@example.com").access_token;
    assert_eq!(t.get(&path).await.status, 200);
    assert_eq!(
        t.http
            .get(t.url("calendars/primary/events"))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = t.get(&path).await;
    assert_eq!((r.status.as_u16(), r.reason()), (429, "rateLimitExceeded"));
}

/// A webhook receiver recording every notification; answers 500 to the first `fail` requests.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<reqwest::header::HeaderMap>>>,
    rx: tokio::sync::mpsc::UnboundedReceiver<(reqwest::header::HeaderMap, usize)>,
    fail: Arc<std::sync::atomic::AtomicUsize>,
}

async fn receiver() -> Receiver {
    use axum::http::HeaderMap;
    let got: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let fail = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (g, f) = (got.clone(), fail.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (g, f, tx) = (g.clone(), f.clone(), tx.clone());
            async move {
                g.lock().unwrap().push(headers.clone());
                let _ = tx.send((headers, body.len()));
                let failing = f.load(std::sync::atomic::Ordering::SeqCst);
                if failing > 0 {
                    f.store(failing - 1, std::sync::atomic::Ordering::SeqCst);
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, got, rx, fail }
}

impl Receiver {
    /// The next notification for `channel` (others are skipped).
    async fn next_for(&mut self, channel: &str) -> (reqwest::header::HeaderMap, usize) {
        loop {
            let (h, len) = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("notification")
                .expect("receiver open");
            if h.get("x-goog-channel-id").and_then(|v| v.to_str().ok()) == Some(channel) {
                return (h, len);
            }
        }
    }
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, k: &str) -> &'a str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn item19_watch_channels_notify_sync_then_exists_and_stop() {
    let t = T::new().await;
    let mut rx = receiver().await;
    let ch = t.post("calendars/primary/events/watch", json!({"id": "chan-1", "type": "web_hook", "address": rx.url, "token": "tok-1", "params": {"ttl": "3600"}})).await;
    assert_eq!(ch.status, 200, "{}", ch.body);
    let c = ch.body;
    assert_eq!(
        (c["kind"].as_str(), c["id"].as_str(), c["token"].as_str()),
        (Some("api#channel"), Some("chan-1"), Some("tok-1"))
    );
    let resource_id = c["resourceId"].as_str().unwrap().to_string();
    let expiration: i64 = c["expiration"].as_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (expiration - now - 3_600_000).abs() < 60_000,
        "ttl honoured"
    );
    assert!(c["resourceUri"]
        .as_str()
        .unwrap()
        .contains("/calendars/primary/events"));

    let (h, body_len) = rx.next_for("chan-1").await;
    assert_eq!(
        (
            header(&h, "x-goog-resource-state"),
            header(&h, "x-goog-message-number")
        ),
        ("sync", "1")
    );
    assert_eq!(body_len, 0);
    assert_eq!(header(&h, "x-goog-channel-token"), "tok-1");
    assert_eq!(header(&h, "x-goog-resource-id"), resource_id);
    assert_eq!(
        header(&h, "x-goog-resource-uri"),
        c["resourceUri"].as_str().unwrap()
    );
    let exp_header = DateTime::parse_from_rfc2822(header(&h, "x-goog-channel-expiration")).unwrap();
    assert_eq!(exp_header.timestamp(), expiration / 1000);
    assert!(header(&h, "x-goog-channel-expiration").ends_with(" GMT"));

    t.insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let (h, _) = rx.next_for("chan-1").await;
    assert_eq!(
        (
            header(&h, "x-goog-resource-state"),
            header(&h, "x-goog-message-number")
        ),
        ("exists", "2")
    );

    // Default TTL, no token header when none was set.
    let c2 = t
        .post(
            "calendars/primary/events/watch",
            json!({"id": "chan-2", "type": "webhook", "address": rx.url}),
        )
        .await
        .body;
    let exp2: i64 = c2["expiration"].as_str().unwrap().parse().unwrap();
    assert!((exp2 - chrono::Utc::now().timestamp_millis() - 604_800_000).abs() < 60_000);
    let (h, _) = rx.next_for("chan-2").await;
    assert!(h.get("x-goog-channel-token").is_none());
    assert_eq!(
        t.post(
            "calendars/primary/events/watch",
            json!({"id": "chan-2", "type": "web_hook", "address": rx.url})
        )
        .await
        .reason(),
        "channelIdNotUnique"
    );

    // Stop chan-1; the next change reaches chan-2 only.
    assert_eq!(
        t.post(
            "channels/stop",
            json!({"id": "chan-1", "resourceId": "wrong"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        t.post(
            "channels/stop",
            json!({"id": "chan-1", "resourceId": resource_id})
        )
        .await
        .status,
        204
    );
    t.insert(single("B", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let (h, _) = rx.next_for("chan-2").await;
    assert_eq!(header(&h, "x-goog-resource-state"), "exists");
    let chan1_after_stop = rx
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|h| header(h, "x-goog-channel-id") == "chan-1")
        .count();
    assert_eq!(chan1_after_stop, 2, "sync + one exists, nothing after stop");
}

#[tokio::test]
async fn item19_k_failed_deliveries_are_retried_and_channels_expire() {
    let t = T::new().await;
    let mut rx = receiver().await;
    rx.fail.store(2, std::sync::atomic::Ordering::SeqCst);
    t.post(
        "calendars/primary/events/watch",
        json!({"id": "retry", "type": "web_hook", "address": rx.url}),
    )
    .await;
    for _ in 0..3 {
        let (h, _) = rx.next_for("retry").await;
        assert_eq!(
            header(&h, "x-goog-message-number"),
            "1",
            "a retry keeps its message number"
        );
    }
    // The emulator records an attempt once it has read the answer, just after the receiver saw it.
    let attempts = loop {
        let a: Vec<(u32, Option<u16>)> = t
            .emu
            .notifications()
            .iter()
            .filter(|n| n.channel_id == "retry")
            .map(|n| (n.attempt, n.status))
            .collect();
        if a.len() >= 3 {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(attempts, [(0, Some(500)), (1, Some(500)), (2, Some(200))]);

    // A short-lived channel stops after expiry; a long-lived one keeps going.
    t.post(
        "calendars/primary/events/watch",
        json!({"id": "short", "type": "web_hook", "address": rx.url, "params": {"ttl": "60"}}),
    )
    .await;
    rx.next_for("short").await;
    t.emu.advance_clock(Duration::from_secs(120));
    t.insert(single("A", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"))
        .await;
    let (h, _) = rx.next_for("retry").await;
    assert_eq!(header(&h, "x-goog-resource-state"), "exists");
    let short = rx
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|h| header(h, "x-goog-channel-id") == "short")
        .count();
    assert_eq!(short, 1, "only the sync message before expiry");

    let config = GoogleEmulatorConfig {
        require_https_webhooks: true,
        ..Default::default()
    };
    let strict = T::with(config).await;
    let r = strict
        .post(
            "calendars/primary/events/watch",
            json!({"id": "x", "type": "web_hook", "address": rx.url}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.reason()),
        (400, "push.webhookUrlNotHttps")
    );
}

fn pkce() -> (String, String) {
    harness::pkce("emulator-test")
}

async fn authorize(emu: &GoogleEmulator, extra: &str, challenge: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "{}?client_id=almanac-dev&redirect_uri={}&response_type=code&scope={}&state=st%2F1&code_challenge={challenge}&code_challenge_method=S256&login_hint=bob%40example.com{extra}",
        emu.auth_url(),
        enc("http://127.0.0.1:1/callback"),
        enc("https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.readonly"),
    );
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location
        .as_str()
        .starts_with("http://127.0.0.1:1/callback?"));
    let q: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st/1");
    (
        q["code"].clone(),
        q.get("scope").cloned().unwrap_or_default(),
    )
}

async fn token_request(emu: &GoogleEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn item20_oauth_code_with_pkce_refresh_and_invalid_grant() {
    let emu = GoogleEmulator::start(GoogleEmulatorConfig::default())
        .await
        .unwrap();
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:1/callback";
    let base = [
        ("client_id", "almanac-dev"),
        ("client_secret", "almanac-dev-secret"),
        ("grant_type", "authorization_code"),
        ("redirect_uri", redirect),
    ];

    let (bad_code, _) = authorize(&emu, "&access_type=offline&prompt=consent", &challenge).await;
    let (s, b) = token_request(
        &emu,
        &[
            base.as_slice(),
            &[
                ("code", bad_code.as_str()),
                (
                    "code_verifier",
                    "not-the-verifier-not-the-verifier-xxxxxxxx",
                ),
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));

    let (code, scope) = authorize(&emu, "&access_type=offline&prompt=consent", &challenge).await;
    assert!(scope.contains("calendar.events"));
    let (s, tok) = token_request(
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
    assert!((3500..=3599).contains(&tok["expires_in"].as_i64().unwrap()));
    let access = tok["access_token"].as_str().unwrap().to_string();
    let refresh = tok["refresh_token"].as_str().unwrap().to_string();
    let (s, b) = token_request(
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
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "codes are single-use"
    );

    let http = reqwest::Client::new();
    let list = http
        .get(format!("{}users/me/calendarList", emu.base_url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["items"][0]["id"], "bob@example.com");

    // Refresh, with client credentials in HTTP Basic this time.
    let r = http
        .post(emu.token_url())
        .basic_auth("almanac-dev", Some("almanac-dev-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert!(
        refreshed.get("refresh_token").is_none(),
        "no new refresh token on refresh"
    );
    let access2 = refreshed["access_token"].as_str().unwrap().to_string();
    assert_ne!(access2, access);

    // Expired access token → 401 authError.
    emu.expire_access_tokens();
    let r = http
        .get(format!("{}calendars/primary/events", emu.base_url()))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["errors"][0]["reason"], "authError");
    let r = http
        .get(format!("{}calendars/primary/events", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Wrong secret, revoked refresh token.
    let (s, b) = token_request(
        &emu,
        &[
            ("client_id", "almanac-dev"),
            ("client_secret", "nope"),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));
    emu.revoke_refresh_tokens("bob@example.com");
    let (s, b) = token_request(
        &emu,
        &[
            ("client_id", "almanac-dev"),
            ("client_secret", "almanac-dev-secret"),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        )
    );

    // [S] A repeat consent without prompt=consent yields no refresh token; online access never does.
    let (code, _) = authorize(&emu, "&access_type=offline", &challenge).await;
    let (_, tok) = token_request(
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
    assert!(tok["access_token"].is_string() && tok.get("refresh_token").is_none());
    let (code, _) = authorize(&emu, "&prompt=consent", &challenge).await;
    let (_, tok) = token_request(
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
    assert!(tok.get("refresh_token").is_none());
    let (code, _) = authorize(&emu, "&access_type=offline&prompt=consent", &challenge).await;
    let (s, b) = token_request(
        &emu,
        &[
            ("client_id", "almanac-dev"),
            ("client_secret", "almanac-dev-secret"),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "http://127.0.0.1:2/other"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("redirect_uri_mismatch"))
    );

    // The granted scopes are enforced: calendar.events cannot create calendars.
    let (code, _) = authorize(&emu, "&access_type=offline&prompt=consent", &challenge).await;
    let (_, tok) = token_request(
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
    let r = http
        .post(format!("{}calendars", emu.base_url()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .json(&json!({"summary": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    emu.shutdown().await;
}

#[tokio::test]
async fn item20_s_testing_apps_lose_refresh_tokens_after_seven_days() {
    let config = GoogleEmulatorConfig {
        refresh_token_ttl: Some(Duration::from_secs(7 * 86_400)),
        ..Default::default()
    };
    let emu = GoogleEmulator::start(config).await.unwrap();
    let tokens = emu.issue_tokens(ALICE);
    let refresh = tokens.refresh_token.unwrap();
    let form = [
        ("client_id", "almanac-dev"),
        ("client_secret", "almanac-dev-secret"),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(token_request(&emu, &form).await.0, 200);
    emu.advance_clock(Duration::from_secs(8 * 86_400));
    let (s, b) = token_request(&emu, &form).await;
    assert_eq!(
        (s, b["error_description"].as_str()),
        (400, Some("Token has been expired or revoked."))
    );
}

#[tokio::test]
async fn item21_all_day_events_use_dates_with_exclusive_ends() {
    let t = T::new().await;
    let r = t.insert(json!({"summary": "Off", "start": {"date": "2027-08-02"}, "end": {"date": "2027-08-03"}, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"]})).await;
    let rid = r["id"].as_str().unwrap();
    let inst = instances(&t, rid, "").await;
    assert_eq!(
        ids(&inst),
        [
            format!("{rid}_20270802"),
            format!("{rid}_20270809"),
            format!("{rid}_20270816")
        ]
    );
    for i in &inst {
        assert!(
            i["start"].get("dateTime").is_none()
                && i["originalStartTime"].get("dateTime").is_none()
        );
    }
    assert_eq!(inst[1]["start"], json!({"date": "2027-08-09"}));
    assert_eq!(inst[1]["end"], json!({"date": "2027-08-10"}));
    assert_eq!(inst[1]["originalStartTime"], json!({"date": "2027-08-09"}));
    let ex = t
        .patch(
            &format!(
                "calendars/primary/events/{}",
                inst[1]["id"].as_str().unwrap()
            ),
            json!({"start": {"date": "2027-08-10"}, "end": {"date": "2027-08-11"}}),
        )
        .await
        .body;
    assert_eq!(ex["originalStartTime"], json!({"date": "2027-08-09"}));
    assert_eq!(ex["start"], json!({"date": "2027-08-10"}));
    for until in ["UNTIL=20270805", "UNTIL=20270805T000000Z"] {
        let d = t.insert(json!({"summary": "u", "start": {"date": "2027-08-02"}, "end": {"date": "2027-08-03"}, "recurrence": [format!("RRULE:FREQ=DAILY;{until}")]})).await;
        assert_eq!(
            instances(&t, d["id"].as_str().unwrap(), "").await.len(),
            4,
            "{until}"
        );
    }
    let multi = t.insert(json!({"summary": "trip", "start": {"date": "2027-09-02"}, "end": {"date": "2027-09-04"}})).await;
    let has = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == multi["id"])
    };
    assert!(
        !has(&t
            .ok("calendars/primary/events?timeMin=2027-09-04T00:00:00Z")
            .await),
        "end date is exclusive"
    );
    assert!(has(&t
        .ok("calendars/primary/events?timeMin=2027-09-03T23:00:00Z")
        .await));
    let r = t
        .post(
            "calendars/primary/events",
            json!({"summary": "x", "start": {"date": "2027-09-02"}, "end": {"date": "2027-09-02"}}),
        )
        .await;
    assert_eq!(r.reason(), "timeRangeEmpty");
}

#[tokio::test]
async fn item05_list_filters_q_ical_uid_extended_properties_updated_min_and_max_attendees() {
    let t = T::new().await;
    let mut a = single(
        "Dentist appointment",
        "2027-05-03T10:00:00Z",
        "2027-05-03T11:00:00Z",
    );
    a["extendedProperties"] = json!({"private": {"almanac": "s1"}, "shared": {"team": "x"}});
    a["attendees"] =
        json!([{"email": "zed@example.com", "displayName": "Zed"}, {"email": "yan@example.com"}]);
    let a = t.insert(a).await;
    let b = t
        .insert(single(
            "Lunch",
            "2027-05-03T12:00:00Z",
            "2027-05-03T13:00:00Z",
        ))
        .await;
    let aid = a["id"].as_str().unwrap().to_string();
    let only_a = [aid.clone()].into_iter().collect::<BTreeSet<_>>();
    for q in [
        "q=dentist",
        "q=zed",
        "privateExtendedProperty=almanac%3Ds1",
        "sharedExtendedProperty=team%3Dx&privateExtendedProperty=almanac%3Ds1",
        &format!("iCalUID={}", enc(a["iCalUID"].as_str().unwrap())),
    ] {
        assert_eq!(
            id_set(&t.list_all(&format!("calendars/primary/events?{q}")).await.0),
            only_a,
            "{q}"
        );
    }
    assert!(t
        .list_all("calendars/primary/events?privateExtendedProperty=almanac%3Ds2")
        .await
        .0
        .is_empty());
    assert!(t.list_all("calendars/primary/events?privateExtendedProperty=almanac%3Ds1&sharedExtendedProperty=team%3Dy").await.0.is_empty());
    // updatedMin includes deletions even without showDeleted.
    let since = b["updated"].as_str().unwrap().to_string();
    t.delete(&format!("calendars/primary/events/{aid}")).await;
    let (items, _, _) = t
        .list_all(&format!(
            "calendars/primary/events?updatedMin={}",
            enc(&since)
        ))
        .await;
    assert_eq!(
        id_set(&items),
        [aid.clone(), b["id"].as_str().unwrap().to_string()]
            .into_iter()
            .collect()
    );
    assert_eq!(
        items.iter().find(|i| i["id"] == aid.as_str()).unwrap()["status"],
        "cancelled"
    );
    // maxAttendees: beyond the limit only the participant remains.
    let got = t
        .ok(&format!("calendars/primary/events/{aid}?maxAttendees=1"))
        .await;
    assert_eq!(
        (
            got["attendeesOmitted"].as_bool(),
            got["attendees"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
}

// ---------------------------------------------------------------------------------------------
// Calendars, accounts, robustness
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn calendar_list_primary_alias_and_account_isolation() {
    let t = T::new().await;
    let work = t.emu.add_calendar(ALICE, "Work", "Europe/Berlin");
    let created = t
        .post(
            "calendars",
            json!({"summary": "Made by API", "timeZone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let list = t.ok("users/me/calendarList").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        (items[0]["id"].as_str(), items[0]["primary"].as_bool()),
        (Some(ALICE), Some(true))
    );
    assert_eq!(items[1]["id"], work.as_str());
    assert_eq!(items[1]["timeZone"], "Europe/Berlin");
    assert!(items[1].get("primary").is_none());
    assert_eq!(t.ok("calendars/primary").await["id"], ALICE);
    let e = t
        .post(
            &format!("calendars/{}/events", enc(&work)),
            single("w", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z"),
        )
        .await;
    assert_eq!(e.status, 200);
    assert!(
        e.body["start"]["dateTime"]
            .as_str()
            .unwrap()
            .ends_with("+02:00"),
        "rendered in the calendar's zone"
    );
    assert_eq!(t.emu.events_snapshot(&work).len(), 1);
    // Bob sees neither Alice's calendars nor her events.
    let bob = t.emu.issue_tokens("bob@example.com").access_token;
    let r = t
        .http
        .get(t.url(&format!("calendars/{}/events", enc(&work))))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn garbage_input_gets_400s_never_a_crash() {
    let t = T::new().await;
    let raw = |body: &'static str| {
        t.http
            .post(t.url("calendars/primary/events"))
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        "{",
        "[]",
        "\"x\"",
        "{\"start\": {\"dateTime\": \"yesterday\"}, \"end\": {\"date\": \"2027-01-01\"}}",
        "{\"start\": {\"date\": \"2027-02-30\"}, \"end\": {\"date\": \"2027-03-01\"}}",
    ] {
        assert_eq!(raw(body).await.unwrap().status(), 400, "{body}");
    }
    for rules in [
        vec!["RRULE:FREQ=DAILY;COUNT=99999999999"],
        vec!["RRULE:FREQ=SECONDLY;BYHOUR=25"],
        vec!["RRULE:"],
        vec![":"],
        vec!["RDATE;TZID=:"],
        vec!["RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"],
    ] {
        let r = t
            .post(
                "calendars/primary/events",
                series(
                    "x",
                    "2027-03-01T09:00:00",
                    "2027-03-01T10:00:00",
                    NY,
                    &rules,
                ),
            )
            .await;
        assert!(
            r.status == 400 || r.status == 200,
            "{rules:?}: {}",
            r.status
        );
    }
    let r = t
        .post(
            "calendars/primary/events",
            series(
                "x",
                "2027-03-01T09:00:00",
                "2027-03-01T10:00:00",
                "Mars/Base",
                &["RRULE:FREQ=DAILY"],
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    for q in [
        "pageToken=garbage",
        "syncToken=garbage",
        "maxResults=abc",
        "singleEvents=maybe",
        "timeZone=Nowhere",
        "orderBy=magic",
        "privateExtendedProperty=novalue",
    ] {
        assert_eq!(
            t.get(&format!("calendars/primary/events?{q}")).await.status,
            400,
            "{q}"
        );
    }
    for p in [
        "calendars/primary/events/x_",
        "calendars/primary/events/_20270101",
        "calendars/primary/events/abcde_2027",
        "calendars/nobody%40example.com/events",
        "nothing/here",
    ] {
        assert_eq!(t.get(p).await.status, 404, "{p}");
    }
    assert_eq!(
        t.get("calendars/primary/events/abcde/instances?originalStart=nonsense")
            .await
            .status,
        404
    );
    // Still alive.
    assert_eq!(t.get("calendars/primary/events").await.status, 200);
}

#[tokio::test]
async fn concurrent_writes_are_all_applied() {
    let t = T::new().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http, url, token) = (
            t.http.clone(),
            t.url("calendars/primary/events"),
            t.token.clone(),
        );
        set.spawn(async move {
            let body = single(
                &format!("c{i}"),
                "2027-05-03T10:00:00Z",
                "2027-05-03T11:00:00Z",
            );
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        });
    }
    let mut made = BTreeSet::new();
    while let Some(r) = set.join_next().await {
        made.insert(r.unwrap()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(made.len(), 40);
    let (items, _, _) = t.list_all("calendars/primary/events?maxResults=7").await;
    assert_eq!(id_set(&items), made);
    let etags: BTreeSet<String> = items
        .iter()
        .map(|i| i["etag"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(etags.len(), 40, "every write has its own etag");
    assert!(t.emu.request_count() >= 40);
}
