//! Events as JSON: full resources, plain instances, and the skeletons incremental sync sends for
//! cancelled items. Times are rendered in the calendar's zone unless the request names one.

use super::expand::{Orig, When};
use super::state::{Calendar, Stored};
use super::util::{b64url, render_instant, rfc3339_ms};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

pub(crate) fn render_when(w: &When, out_tz: Tz) -> Value {
    match w {
        When::Date(d) => json!({"date": d.format("%Y-%m-%d").to_string()}),
        When::At { secs, tz } => {
            let mut m = Map::new();
            m.insert("dateTime".into(), json!(render_instant(*secs, out_tz)));
            if let Some(z) = tz {
                m.insert("timeZone".into(), json!(z.name()));
            }
            Value::Object(m)
        }
    }
}

fn render_orig(orig: Orig, parent: Option<&Stored>, out_tz: Tz) -> Value {
    match orig {
        Orig::Date(d) => json!({"date": d.format("%Y-%m-%d").to_string()}),
        Orig::At(s) => render_when(
            &When::At {
                secs: s,
                tz: parent.and_then(|p| p.start.tz()),
            },
            out_tz,
        ),
    }
}

fn person(cal: &Calendar) -> (Value, Value) {
    let creator = json!({"email": cal.owner, "self": true});
    let organizer = if cal.primary {
        json!({"email": cal.id, "self": true})
    } else {
        json!({"email": cal.id, "displayName": cal.summary, "self": true})
    };
    (creator, organizer)
}

fn html_link(cal: &Calendar, id: &str) -> String {
    format!(
        "https://www.google.com/calendar/event?eid={}",
        b64url(format!("{id} {}", cal.id).as_bytes())
    )
}

/// Renders a stored event. `minimal`: the skeleton incremental sync sends for cancelled items.
pub(crate) fn render_stored(cal: &Calendar, ev: &Stored, out_tz: Tz, minimal: bool) -> Value {
    let parent = ev.parent.as_ref().and_then(|(p, _)| cal.events.get(p));
    let mut m = Map::new();
    m.insert("kind".into(), json!("calendar#event"));
    m.insert("etag".into(), json!(ev.etag));
    m.insert("id".into(), json!(ev.id));
    m.insert("status".into(), json!(ev.status));
    if let Some((p, orig)) = &ev.parent {
        m.insert("recurringEventId".into(), json!(p));
        m.insert(
            "originalStartTime".into(),
            render_orig(*orig, parent, out_tz),
        );
    }
    if minimal {
        return Value::Object(m);
    }
    for (k, v) in &ev.fields {
        m.insert(k.clone(), v.clone());
    }
    let (creator, organizer) = person(cal);
    m.insert("htmlLink".into(), json!(html_link(cal, &ev.id)));
    m.insert("created".into(), json!(rfc3339_ms(ev.created_ms)));
    m.insert("updated".into(), json!(rfc3339_ms(ev.updated_ms)));
    m.insert("creator".into(), creator);
    m.insert("organizer".into(), organizer);
    m.insert("start".into(), render_when(&ev.start, out_tz));
    m.insert("end".into(), render_when(&ev.end, out_tz));
    if !ev.recurrence.is_empty() {
        m.insert("recurrence".into(), json!(ev.recurrence));
    }
    m.insert("iCalUID".into(), json!(ev.ical_uid));
    m.insert("sequence".into(), json!(ev.sequence));
    m.entry("reminders")
        .or_insert_with(|| json!({"useDefault": true}));
    m.entry("eventType").or_insert_with(|| json!("default"));
    Value::Object(m)
}

/// Renders a plain (unmodified) instance of `parent`.
pub(crate) fn render_virtual(
    cal: &Calendar,
    parent: &Stored,
    orig: Orig,
    id: &str,
    out_tz: Tz,
) -> Value {
    let mut v = render_stored(cal, parent, out_tz, false);
    if let (Value::Object(m), Some(exp)) = (&mut v, &parent.expansion) {
        let start = exp.start_of(orig);
        let (s, e) = exp.whens(start, parent.start.tz());
        m.remove("recurrence");
        m.insert("id".into(), json!(id));
        m.insert("htmlLink".into(), json!(html_link(cal, id)));
        m.insert("start".into(), render_when(&s, out_tz));
        m.insert("end".into(), render_when(&e, out_tz));
        m.insert("recurringEventId".into(), json!(parent.id));
        m.insert(
            "originalStartTime".into(),
            render_orig(orig, Some(parent), out_tz),
        );
    }
    v
}

/// The cancelled skeleton of an instance that vanished from a series.
pub(crate) fn render_stub(parent: &Stored, orig: Orig, id: &str, out_tz: Tz) -> Value {
    json!({
        "kind": "calendar#event",
        "etag": parent.etag,
        "id": id,
        "status": "cancelled",
        "recurringEventId": parent.id,
        "originalStartTime": render_orig(orig, Some(parent), out_tz),
    })
}

/// `maxAttendees`: beyond the limit only the participant (the calendar's own attendee) is shown.
pub(crate) fn limit_attendees(mut v: Value, max: Option<usize>) -> Value {
    let Some(max) = max else { return v };
    if let Value::Object(m) = &mut v {
        let too_many = m
            .get("attendees")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > max);
        if too_many {
            let keep: Vec<Value> = m
                .get("attendees")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|x| x.get("self") == Some(&json!(true)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            m.insert("attendees".into(), Value::Array(keep));
            m.insert("attendeesOmitted".into(), json!(true));
        }
    }
    v
}
