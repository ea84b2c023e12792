//! Events as Graph renders them: full resources (singles, masters, exceptions, occurrences), the
//! skeletal occurrences of delta rounds, calendars and the user.
//!
//! Times: `start`/`end` in UTC unless `Prefer: outlook.timezone` named a zone; all-day events are
//! always midnight to midnight, unconverted. Occurrences take every property from their master;
//! exceptions take the master's, overridden by what was written to the exception.

use super::recurrence;
use super::state::{Calendar, Ev, Inst, Kind, State, Target, View};
use super::util::{graph_local, instant_to_local, stamp, utc_instant};
use super::zones::Zone;
use crate::util::percent_encode;
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

/// Which item to render.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Stored(String),
    Occurrence { master: String, orig: i64 },
}

impl From<Target> for Item {
    fn from(t: Target) -> Self {
        match t {
            Target::Stored(k) => Item::Stored(k),
            Target::Occurrence { master, orig } => Item::Occurrence { master, orig },
        }
    }
}

impl From<&Inst> for Item {
    fn from(i: &Inst) -> Self {
        match &i.exception {
            Some(x) => Item::Stored(x.clone()),
            None => Item::Occurrence {
                master: i.master.clone(),
                orig: i.orig,
            },
        }
    }
}

fn out_zone(view: &View) -> (Zone, String) {
    view.tz.clone().unwrap_or((Zone::UTC, "UTC".into()))
}

fn render_time(local: NaiveDateTime, instant: i64, all_day: bool, view: &View) -> Value {
    let (zone, name) = out_zone(view);
    let shown = if all_day {
        local
    } else {
        instant_to_local(instant, zone.tz)
    };
    json!({"dateTime": graph_local(shown), "timeZone": name})
}

fn text_of_html(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn html_of_text(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!("<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n<div>{escaped}</div>\r\n</body>\r\n</html>\r\n")
}

/// Graph stores bodies as HTML: a text body comes back wrapped (unless the client asked for text).
fn render_body(given: Option<&Value>, want_text: bool) -> (Value, String) {
    let content = given
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_html = given
        .and_then(|b| b.get("contentType"))
        .and_then(Value::as_str)
        .unwrap_or("text")
        == "html";
    let preview: String = if is_html {
        text_of_html(content)
    } else {
        content.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let preview: String = preview.chars().take(255).collect();
    if given.is_none() {
        return (
            json!({"contentType": if want_text { "text" } else { "html" }, "content": ""}),
            preview,
        );
    }
    let body = match (is_html, want_text) {
        (true, false) => json!({"contentType": "html", "content": content}),
        (true, true) => json!({"contentType": "text", "content": preview}),
        (false, false) => json!({"contentType": "html", "content": html_of_text(content)}),
        (false, true) => json!({"contentType": "text", "content": content}),
    };
    (body, preview)
}

fn render_location(given: Option<&Value>) -> Value {
    let g = given
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let name = g
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut m = Map::new();
    m.insert("displayName".into(), json!(name));
    m.insert(
        "locationType".into(),
        g.get("locationType").cloned().unwrap_or(json!("default")),
    );
    if !name.is_empty() {
        m.insert(
            "uniqueId".into(),
            g.get("uniqueId").cloned().unwrap_or(json!(name)),
        );
        m.insert(
            "uniqueIdType".into(),
            g.get("uniqueIdType").cloned().unwrap_or(json!("private")),
        );
    } else {
        m.insert(
            "uniqueIdType".into(),
            g.get("uniqueIdType").cloned().unwrap_or(json!("unknown")),
        );
    }
    for k in ["locationUri", "locationEmailAddress"] {
        if let Some(v) = g.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert(
        "address".into(),
        g.get("address").cloned().unwrap_or(json!({})),
    );
    m.insert(
        "coordinates".into(),
        g.get("coordinates").cloned().unwrap_or(json!({})),
    );
    Value::Object(m)
}

fn render_attendees(given: Option<&Value>) -> Value {
    let list = given.and_then(Value::as_array).cloned().unwrap_or_default();
    Value::Array(
        list.iter()
            .map(|a| {
                let addr = a
                    .pointer("/emailAddress/address")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = a
                    .pointer("/emailAddress/name")
                    .and_then(Value::as_str)
                    .unwrap_or(addr);
                json!({
                    "type": a.get("type").cloned().unwrap_or(json!("required")),
                    "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": name, "address": addr},
                })
            })
            .collect(),
    )
}

impl State {
    fn owner_address(&self, account: &str) -> Value {
        match self.accounts.get(account) {
            Some(a) => json!({"name": a.display_name, "address": a.email}),
            None => json!({"name": account, "address": account}),
        }
    }

    /// Renders an event; `None` when it no longer exists.
    pub(crate) fn render(
        &mut self,
        item: &Item,
        view: &View,
        want_text_body: bool,
    ) -> Option<Value> {
        // Gather what the item is made of.
        let (base, over, orig, kind): (Ev, Option<Ev>, Option<i64>, Kind) = match item {
            Item::Stored(k) => {
                let e = self.events.get(k)?.clone();
                match (&e.kind, &e.master) {
                    (Kind::Exception, Some(m)) => {
                        let master = self.events.get(m)?.clone();
                        let orig = e.orig;
                        (master, Some(e), Some(orig), Kind::Exception)
                    }
                    _ => {
                        let kind = e.kind;
                        (e, None, None, kind)
                    }
                }
            }
            Item::Occurrence { master, orig } => (
                self.events.get(master)?.clone(),
                None,
                Some(*orig),
                Kind::Single,
            ),
        };
        let occurrence = matches!(item, Item::Occurrence { .. });
        let inst = orig.and_then(|o| self.instance_at(&base.key, o));
        let id = match (item, &over) {
            (_, Some(x)) => x.id(view.immutable).to_string(),
            (Item::Occurrence { master, orig }, None) => {
                self.occurrence_id(master, *orig, view.immutable)
            }
            _ => base.id(view.immutable).to_string(),
        };
        let mut fields = base.fields.clone();
        if let Some(x) = &over {
            for (k, v) in &x.fields {
                fields.insert(k.clone(), v.clone());
            }
        }
        let stamps = over.as_ref().unwrap_or(&base);
        let change_key = stamps.change_key.clone();
        let all_day = over.as_ref().map(|x| x.all_day).unwrap_or(base.all_day);
        let (start, end) = match (&inst, &over) {
            (_, Some(x)) => (
                render_time(x.start.local, x.start.instant(), all_day, view),
                render_time(x.end.local, x.end.instant(), all_day, view),
            ),
            (Some(i), None) => (
                render_time(i.start_local, i.start, all_day, view),
                render_time(i.end_local, i.end, all_day, view),
            ),
            _ => (
                render_time(base.start.local, base.start.instant(), all_day, view),
                render_time(base.end.local, base.end.instant(), all_day, view),
            ),
        };
        let ty = match kind {
            Kind::Master => "seriesMaster",
            Kind::Exception => "exception",
            Kind::Single if occurrence => "occurrence",
            Kind::Single => "singleInstance",
        };
        let master_id = orig.map(|_| base.id(view.immutable).to_string());
        let ical = match (&over, orig) {
            (Some(x), _) => x.ical_uid.clone(),
            (None, Some(o)) => super::util::occurrence_ical_uid(
                &base.ical_uid,
                instant_to_local(o, base.start.zone.tz).date(),
            ),
            _ => base.ical_uid.clone(),
        };
        let (body, preview) = render_body(fields.get("body"), want_text_body);
        let get = |k: &str, d: Value| fields.get(k).cloned().unwrap_or(d);
        let location = render_location(fields.get("location"));
        let locations = match fields.get("locations") {
            Some(l) => Value::Array(
                l.as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|x| render_location(Some(x)))
                    .collect(),
            ),
            None if location["displayName"]
                .as_str()
                .is_some_and(|s| !s.is_empty()) =>
            {
                json!([location.clone()])
            }
            None => json!([]),
        };
        let organizer = match &base.organizer {
            Some(o) => json!({"emailAddress": o}),
            None => json!({"emailAddress": self.owner_address(&base.account)}),
        };
        let response = if base.is_organizer() {
            "organizer"
        } else {
            "notResponded"
        };
        let web_link = format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            percent_encode(&id)
        );
        let mut m = Map::new();
        m.insert("@odata.etag".into(), json!(format!("W/\"{change_key}\"")));
        m.insert("id".into(), json!(id));
        m.insert("createdDateTime".into(), json!(stamp(stamps.created_ms)));
        m.insert(
            "lastModifiedDateTime".into(),
            json!(stamp(stamps.modified_ms)),
        );
        m.insert("changeKey".into(), json!(change_key));
        m.insert("categories".into(), get("categories", json!([])));
        m.insert("transactionId".into(), json!(base.transaction_id));
        m.insert(
            "originalStartTimeZone".into(),
            json!(base.start.zone.windows),
        );
        m.insert("originalEndTimeZone".into(), json!(base.end.zone.windows));
        m.insert("iCalUId".into(), json!(ical));
        m.insert(
            "reminderMinutesBeforeStart".into(),
            get(
                "reminderMinutesBeforeStart",
                json!(if all_day { 1080 } else { 15 }),
            ),
        );
        m.insert("isReminderOn".into(), get("isReminderOn", json!(true)));
        m.insert("hasAttachments".into(), json!(false));
        m.insert("subject".into(), get("subject", json!("")));
        m.insert("bodyPreview".into(), json!(preview));
        m.insert("importance".into(), get("importance", json!("normal")));
        m.insert("sensitivity".into(), get("sensitivity", json!("normal")));
        m.insert("isAllDay".into(), json!(all_day));
        m.insert("isCancelled".into(), json!(false));
        m.insert("isOrganizer".into(), json!(base.is_organizer()));
        m.insert(
            "responseRequested".into(),
            get("responseRequested", json!(true)),
        );
        m.insert("seriesMasterId".into(), json!(master_id));
        m.insert(
            "showAs".into(),
            get("showAs", json!(if all_day { "free" } else { "busy" })),
        );
        m.insert("type".into(), json!(ty));
        m.insert("webLink".into(), json!(web_link));
        m.insert("onlineMeetingUrl".into(), Value::Null);
        m.insert(
            "isOnlineMeeting".into(),
            get("isOnlineMeeting", json!(false)),
        );
        m.insert(
            "onlineMeetingProvider".into(),
            get("onlineMeetingProvider", json!("unknown")),
        );
        m.insert(
            "allowNewTimeProposals".into(),
            get("allowNewTimeProposals", json!(true)),
        );
        m.insert("isDraft".into(), json!(false));
        m.insert("hideAttendees".into(), get("hideAttendees", json!(false)));
        if let Some(o) = orig {
            m.insert("originalStart".into(), json!(utc_instant(o)));
        }
        m.insert(
            "responseStatus".into(),
            json!({"response": response, "time": "0001-01-01T00:00:00Z"}),
        );
        m.insert("body".into(), body);
        m.insert("start".into(), start);
        m.insert("end".into(), end);
        m.insert("location".into(), location);
        m.insert("locations".into(), locations);
        m.insert(
            "recurrence".into(),
            if kind == Kind::Master {
                base.recurrence
                    .as_ref()
                    .map(recurrence::render)
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            },
        );
        m.insert(
            "attendees".into(),
            render_attendees(fields.get("attendees")),
        );
        m.insert("organizer".into(), organizer);
        m.insert("onlineMeeting".into(), Value::Null);
        if kind == Kind::Master {
            let zone = base.start.zone.tz;
            let bid = base.id(view.immutable).to_string();
            let list: Vec<String> = base
                .cancelled
                .iter()
                .map(|o| {
                    format!(
                        "OID.{bid}.{}",
                        instant_to_local(*o, zone).date().format("%Y-%m-%d")
                    )
                })
                .collect();
            m.insert("cancelledOccurrences".into(), json!(list));
        }
        if let Some(sel) = &view.select {
            m.retain(|k, _| {
                k == "id" || k == "@odata.etag" || sel.iter().any(|s| s.eq_ignore_ascii_case(k))
            });
        }
        if let Some(ids) = &view.expand_extended {
            let src = over.as_ref().map(|x| &x.extended).unwrap_or(&base.extended);
            let list: Vec<Value> = src
                .iter()
                .filter(|(pid, _)| {
                    ids.is_empty() || ids.iter().any(|w| w.eq_ignore_ascii_case(pid))
                })
                .map(|(pid, v)| json!({"id": pid, "value": v}))
                .collect();
            if !list.is_empty() {
                m.insert("singleValueExtendedProperties".into(), Value::Array(list));
            }
        }
        if view.expand_exceptions && kind == Kind::Master {
            let xs: Vec<String> = self
                .exceptions
                .iter()
                .filter(|((mk, _), _)| mk == &base.key)
                .map(|(_, x)| x.clone())
                .collect();
            let inner = View {
                expand_exceptions: false,
                select: None,
                expand_extended: None,
                ..view.clone()
            };
            let mut rendered: Vec<Value> = xs
                .iter()
                .filter_map(|x| self.render(&Item::Stored(x.clone()), &inner, want_text_body))
                .collect();
            rendered.sort_by(|a, b| {
                a["originalStart"]
                    .as_str()
                    .cmp(&b["originalStart"].as_str())
            });
            m.insert("exceptionOccurrences".into(), Value::Array(rendered));
        }
        Some(Value::Object(m))
    }

    /// The skeleton delta sends for a plain occurrence.
    pub(crate) fn render_skeletal(&mut self, inst: &Inst, view: &View) -> Value {
        let Some(m) = self.events.get(&inst.master).cloned() else {
            return Value::Null;
        };
        let id = self.occurrence_id(&inst.master, inst.orig, view.immutable);
        json!({
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": format!("W/\"{}\"", m.change_key),
            "id": id,
            "seriesMasterId": m.id(view.immutable),
            "type": "occurrence",
            "start": render_time(inst.start_local, inst.start, m.all_day, view),
            "end": render_time(inst.end_local, inst.end, m.all_day, view),
        })
    }

    pub(crate) fn render_calendar(&self, c: &Calendar) -> Value {
        json!({
            "id": c.id,
            "name": c.name,
            "color": c.color,
            "hexColor": c.hex_color,
            "isDefaultCalendar": c.is_default,
            "changeKey": c.change_key,
            "canShare": true,
            "canViewPrivateItems": true,
            "canEdit": true,
            "isRemovable": !c.is_default,
            "isTallyingResponses": true,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "owner": self.owner_address(&c.owner),
        })
    }
}
