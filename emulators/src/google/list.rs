//! `events.list` (full and incremental), `events.instances`, and their page and sync tokens.
//!
//! Each request computes the complete ordered result, then cuts the page after the cursor stored in
//! the page token. Tokens are self-contained (base64url JSON): a page token carries the change
//! counter at the first page, so the final `nextSyncToken` covers every change made while the
//! client was paginating (those items may be delivered twice, never lost).

use super::error::{ApiError, ApiResult};
use super::expand::{Orig, EXPANSION_CAP};
use super::render::{limit_attendees, render_stored, render_stub, render_virtual};
use super::state::{instance_id, Calendar, State, Stored};
use super::util::{b64url, b64url_decode, parse_date, parse_rfc3339, rfc3339_ms};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub(crate) const DEFAULT_MAX_RESULTS: usize = 250;
pub(crate) const MAX_RESULTS_CAP: usize = 2500;

/// Parameters that may not accompany `syncToken`.
const SYNC_FORBIDDEN: &[&str] = &[
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
];

/// Parameters that do not change which items a listing contains; a page token stays valid if
/// they differ between pages.
const NOT_IN_FINGERPRINT: &[&str] = &[
    "pageToken",
    // The page token carries the sync position itself; clients differ in repeating it.
    "syncToken",
    "maxResults",
    "timeZone",
    "maxAttendees",
    "fields",
    "prettyPrint",
    "alt",
    "key",
    "access_token",
    "oauth_token",
    "quotaUser",
    "userIp",
    "alwaysIncludeEmail",
    "showHiddenInvitations",
];

#[derive(Debug, Clone, Default)]
pub(crate) struct ListParams {
    pub single_events: bool,
    pub show_deleted: Option<bool>,
    pub time_min: Option<i64>,
    pub time_max: Option<i64>,
    pub updated_min_ms: Option<i64>,
    pub order_by: Option<String>,
    pub ical_uid: Option<String>,
    pub q: Option<String>,
    pub private_props: Vec<(String, String)>,
    pub shared_props: Vec<(String, String)>,
    pub max_results: usize,
    pub page_token: Option<String>,
    pub sync_token: Option<String>,
    pub out_tz: Option<Tz>,
    pub max_attendees: Option<usize>,
    pub original_start: Option<String>,
    pub fingerprint: String,
}

fn parse_bool(name: &str, v: &str) -> ApiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_param(name)),
    }
}

fn parse_time(name: &str, v: &str) -> ApiResult<i64> {
    parse_rfc3339(v).ok_or_else(|| ApiError::bad_request("Bad Request").at("parameter", name))
}

impl ListParams {
    pub(crate) fn parse(pairs: &[(String, String)]) -> ApiResult<ListParams> {
        let mut p = ListParams {
            max_results: DEFAULT_MAX_RESULTS,
            ..Default::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "singleEvents" => p.single_events = parse_bool(k, v)?,
                "showDeleted" => p.show_deleted = Some(parse_bool(k, v)?),
                "timeMin" => p.time_min = Some(parse_time(k, v)?),
                "timeMax" => p.time_max = Some(parse_time(k, v)?),
                "updatedMin" => {
                    // Compared with `updated`, which has milliseconds.
                    let t = chrono::DateTime::parse_from_rfc3339(v.trim()).map_err(|_| {
                        ApiError::bad_request("Bad Request").at("parameter", k.clone())
                    })?;
                    p.updated_min_ms = Some(t.timestamp_millis());
                }
                "orderBy" => match v.as_str() {
                    "startTime" | "updated" => p.order_by = Some(v.clone()),
                    _ => return Err(ApiError::invalid_param(k)),
                },
                "iCalUID" => p.ical_uid = Some(v.clone()),
                "q" => p.q = Some(v.clone()),
                "privateExtendedProperty" | "sharedExtendedProperty" => {
                    let (name, value) = v
                        .split_once('=')
                        .ok_or_else(|| ApiError::invalid_param(k))?;
                    let list = if k == "privateExtendedProperty" {
                        &mut p.private_props
                    } else {
                        &mut p.shared_props
                    };
                    list.push((name.to_string(), value.to_string()));
                }
                "maxResults" => {
                    let n: i64 = v.trim().parse().map_err(|_| ApiError::invalid_param(k))?;
                    if n < 1 {
                        return Err(ApiError::invalid_param(k));
                    }
                    // Larger values are accepted and silently capped, as documented.
                    p.max_results = (n as usize).min(MAX_RESULTS_CAP);
                }
                "maxAttendees" => {
                    let n: i64 = v.trim().parse().map_err(|_| ApiError::invalid_param(k))?;
                    if n < 1 {
                        return Err(ApiError::invalid_param(k));
                    }
                    p.max_attendees = Some(n as usize);
                }
                "pageToken" => p.page_token = Some(v.clone()),
                "syncToken" => p.sync_token = Some(v.clone()),
                "timeZone" => p.out_tz = Some(v.parse().map_err(|_| ApiError::invalid_param(k))?),
                "originalStart" => p.original_start = Some(v.clone()),
                _ => {}
            }
        }
        if let (Some(a), Some(b)) = (p.time_min, p.time_max) {
            if a >= b {
                return Err(ApiError::time_range_empty().at("parameter", "timeMax"));
            }
        }
        let mut fp: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| !NOT_IN_FINGERPRINT.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        fp.sort();
        p.fingerprint = super::util::sha256_b64url(fp.join("&").as_bytes())[..16].to_string();
        Ok(p)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    /// Calendar.
    c: String,
    /// Change counter when the listing started.
    s: u64,
    /// Incremental listing: changes after this counter.
    y: Option<u64>,
    /// Sync epoch of the calendar.
    e: u32,
    /// Cursor: sort key of the last item delivered.
    k: i64,
    i: String,
    /// Page number (drives the ragged-page pattern).
    n: u32,
    /// Fingerprint of the query.
    f: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncToken {
    c: String,
    s: u64,
    e: u32,
    /// Issued for singleEvents=true.
    m: bool,
    /// Issued at (ms), for the optional expiry.
    t: i64,
}

fn encode<T: Serialize>(t: &T) -> String {
    b64url(&serde_json::to_vec(t).unwrap_or_default())
}

fn decode<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    b64url_decode(s).and_then(|b| serde_json::from_slice(&b).ok())
}

#[derive(Debug, Clone)]
enum Item {
    Stored(String),
    Virtual { parent: String, orig: Orig },
    Stub { parent: String, orig: Orig },
}

#[derive(Debug, Clone)]
struct Pending {
    start: i64,
    updated: i64,
    item: Item,
    minimal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Id,
    Start,
    Updated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `events.list`: an event must end after `timeMin`.
    Exclusive,
    /// `events.instances`: an event may end exactly at `timeMin`.
    Inclusive,
}

fn overlaps(start: i64, end: i64, p: &ListParams, b: Bound) -> bool {
    let after_min = match (p.time_min, b) {
        (None, _) => true,
        (Some(t), Bound::Exclusive) => end > t,
        (Some(t), Bound::Inclusive) => end >= t,
    };
    after_min && p.time_max.is_none_or(|t| start < t)
}

/// q / iCalUID / extended-property filters, on an event's own fields.
fn content_matches(ev: &Stored, p: &ListParams) -> bool {
    if p.ical_uid.as_ref().is_some_and(|u| *u != ev.ical_uid) {
        return false;
    }
    let props = |kind: &str, want: &[(String, String)]| {
        want.iter().all(|(k, v)| {
            ev.fields
                .get("extendedProperties")
                .and_then(|e| e.get(kind))
                .and_then(|m| m.get(k))
                .and_then(Value::as_str)
                == Some(v.as_str())
        })
    };
    if !props("private", &p.private_props) || !props("shared", &p.shared_props) {
        return false;
    }
    if let Some(q) = &p.q {
        let q = q.to_lowercase();
        let mut hay = String::new();
        for k in ["summary", "description", "location"] {
            if let Some(s) = ev.fields.get(k).and_then(Value::as_str) {
                hay.push_str(&s.to_lowercase());
                hay.push('\n');
            }
        }
        for a in ev
            .fields
            .get("attendees")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for k in ["displayName", "email"] {
                if let Some(s) = a.get(k).and_then(Value::as_str) {
                    hay.push_str(&s.to_lowercase());
                    hay.push('\n');
                }
            }
        }
        if !q.split_whitespace().all(|w| hay.contains(w)) {
            return false;
        }
    }
    true
}

fn parent_live(cal: &Calendar, ev: &Stored) -> bool {
    ev.parent
        .as_ref()
        .and_then(|(p, _)| cal.events.get(p))
        .is_some_and(|p| !p.cancelled())
}

fn horizon(state: &State, from: Option<i64>) -> i64 {
    let now = state.now_ms() / 1000;
    from.unwrap_or(now).max(now) + i64::from(state.settings.horizon_days) * 86_400
}

/// Full (non-incremental) listing.
fn full_rows(state: &State, cal: &Calendar, p: &ListParams) -> Vec<Pending> {
    let mut rows = Vec::new();
    let upper = p.time_max.unwrap_or_else(|| horizon(state, p.time_min));
    for ev in cal.events.values() {
        if !content_matches(ev, p) {
            continue;
        }
        let cancelled = ev.cancelled();
        if let Some(u) = p.updated_min_ms {
            if ev.updated_ms < u {
                continue;
            }
        }
        // updatedMin always includes deletions.
        let deleted_ok = p.show_deleted == Some(true) || p.updated_min_ms.is_some();
        let (start, end) = (ev.start.instant(cal.tz), ev.end.instant(cal.tz));
        match (&ev.expansion, p.single_events) {
            (Some(exp), false) => {
                if cancelled && !deleted_ok {
                    continue;
                }
                let from = p
                    .time_min
                    .map_or(i64::MIN, |t| t.saturating_sub(exp.max_len() + 1));
                let to = p.time_max.unwrap_or(i64::MAX);
                // Without a window every recurring event is listed, even one whose rule yields
                // nothing (e.g. a continuation that copied a trimmed UNTIL).
                let unbounded = p.time_min.is_none() && p.time_max.is_none();
                let hit = unbounded
                    || exp
                        .starts_in(from, to, 8)
                        .into_iter()
                        .any(|s| overlaps(s, exp.end_of(s), p, Bound::Exclusive));
                if hit {
                    rows.push(Pending {
                        start,
                        updated: ev.updated_ms,
                        item: Item::Stored(ev.id.clone()),
                        minimal: false,
                    });
                }
            }
            (Some(exp), true) => {
                // Deleted recurring events are never expanded, not even with showDeleted.
                if cancelled {
                    continue;
                }
                let from = p
                    .time_min
                    .map_or(i64::MIN, |t| t.saturating_sub(exp.max_len() + 1));
                for s in exp.starts_in(from, upper, EXPANSION_CAP) {
                    let orig = exp.orig_of(s);
                    if cal.exceptions.contains_key(&(ev.id.clone(), orig))
                        || !overlaps(s, exp.end_of(s), p, Bound::Exclusive)
                    {
                        continue;
                    }
                    rows.push(Pending {
                        start: s,
                        updated: ev.updated_ms,
                        item: Item::Virtual {
                            parent: ev.id.clone(),
                            orig,
                        },
                        minimal: false,
                    });
                }
            }
            (None, single_events) => {
                let visible = if !cancelled {
                    ev.parent.is_none() || parent_live(cal, ev)
                } else if deleted_ok {
                    true
                } else {
                    // Cancelled instances of live recurring events stay visible when neither
                    // showDeleted nor singleEvents is set (discovery text of `showDeleted`).
                    !single_events && ev.parent.is_some() && !ev.orphaned && parent_live(cal, ev)
                };
                if visible && overlaps(start, end, p, Bound::Exclusive) {
                    rows.push(Pending {
                        start,
                        updated: ev.updated_ms,
                        item: Item::Stored(ev.id.clone()),
                        minimal: false,
                    });
                }
            }
        }
    }
    rows
}

/// Incremental listing: everything whose change counter is above `since`.
fn sync_rows(state: &State, cal: &Calendar, since: u64, p: &ListParams) -> Vec<Pending> {
    let mut rows = Vec::new();
    let upper = horizon(state, None);
    let full_cancelled = p.show_deleted == Some(true);
    for ev in cal.events.values().filter(|e| e.seq > since) {
        let start = ev.start.instant(cal.tz);
        let minimal = ev.cancelled() && !full_cancelled;
        if !p.single_events {
            rows.push(Pending {
                start,
                updated: ev.updated_ms,
                item: Item::Stored(ev.id.clone()),
                minimal,
            });
            continue;
        }
        let has_exception = |orig: Orig| cal.exceptions.contains_key(&(ev.id.clone(), orig));
        match &ev.expansion {
            Some(exp) => {
                for s in exp.starts_in(i64::MIN, upper, EXPANSION_CAP) {
                    let orig = exp.orig_of(s);
                    if has_exception(orig) {
                        continue;
                    }
                    let item = if ev.cancelled() {
                        Item::Stub {
                            parent: ev.id.clone(),
                            orig,
                        }
                    } else {
                        Item::Virtual {
                            parent: ev.id.clone(),
                            orig,
                        }
                    };
                    rows.push(Pending {
                        start: s,
                        updated: ev.updated_ms,
                        item,
                        minimal: false,
                    });
                }
            }
            None => rows.push(Pending {
                start,
                updated: ev.updated_ms,
                item: Item::Stored(ev.id.clone()),
                minimal,
            }),
        }
        // Instances of earlier versions of the series that no longer exist.
        let current = ev.expansion.as_ref().filter(|_| !ev.cancelled());
        for (_, old) in ev.history.iter().filter(|(s, _)| *s > since) {
            for s in old.starts_in(i64::MIN, upper, EXPANSION_CAP) {
                let orig = old.orig_of(s);
                if has_exception(orig) || current.is_some_and(|c| c.contains_orig(orig)) {
                    continue;
                }
                rows.push(Pending {
                    start: s,
                    updated: ev.updated_ms,
                    item: Item::Stub {
                        parent: ev.id.clone(),
                        orig,
                    },
                    minimal: false,
                });
            }
        }
    }
    rows
}

/// One recurring event's instances (`events.instances`).
fn instance_rows(
    state: &State,
    cal: &Calendar,
    parent: &Stored,
    p: &ListParams,
) -> ApiResult<Vec<Pending>> {
    let Some(exp) = parent.expansion.as_ref() else {
        return Ok(vec![]);
    };
    let wanted: Option<Orig> = match &p.original_start {
        None => None,
        Some(s) => Some(match (parse_date(s), exp.all_day()) {
            (Some(d), _) => Orig::Date(d),
            (None, all_day) => {
                let t = parse_time("originalStart", s)?;
                if all_day {
                    exp.orig_of(t)
                } else {
                    Orig::At(t)
                }
            }
        }),
    };
    let mut rows = Vec::new();
    let upper = p.time_max.unwrap_or_else(|| horizon(state, p.time_min));
    let from = p
        .time_min
        .map_or(i64::MIN, |t| t.saturating_sub(exp.max_len() + 1));
    let candidates = match wanted {
        Some(o) => vec![exp.start_of(o)]
            .into_iter()
            .filter(|s| exp.contains(*s))
            .collect(),
        None => exp.starts_in(from, upper, EXPANSION_CAP),
    };
    for s in candidates {
        let orig = exp.orig_of(s);
        if cal.exceptions.contains_key(&(parent.id.clone(), orig))
            || !overlaps(s, exp.end_of(s), p, Bound::Inclusive)
        {
            continue;
        }
        rows.push(Pending {
            start: s,
            updated: parent.updated_ms,
            item: Item::Virtual {
                parent: parent.id.clone(),
                orig,
            },
            minimal: false,
        });
    }
    for ev in cal.events.values() {
        let Some((pid, orig)) = &ev.parent else {
            continue;
        };
        if *pid != parent.id || wanted.is_some_and(|w| w != *orig) {
            continue;
        }
        if (ev.cancelled() || ev.orphaned) && p.show_deleted != Some(true) {
            continue;
        }
        let (start, end) = (ev.start.instant(cal.tz), ev.end.instant(cal.tz));
        if overlaps(start, end, p, Bound::Inclusive) {
            rows.push(Pending {
                start,
                updated: ev.updated_ms,
                item: Item::Stored(ev.id.clone()),
                minimal: false,
            });
        }
    }
    Ok(rows)
}

struct Page {
    items: Vec<Value>,
    next_cursor: Option<(i64, String)>,
}

/// Orders rows, cuts the page after `cursor`, renders it.
fn paginate(
    state: &mut State,
    cal_id: &str,
    rows: Vec<Pending>,
    order: Order,
    cursor: Option<&(i64, String)>,
    size: usize,
    p: &ListParams,
) -> ApiResult<Page> {
    let opaque = state.settings.opaque_instance_ids;
    let State { calendars, rng, .. } = state;
    let cal = calendars.get_mut(cal_id).ok_or_else(ApiError::not_found)?;
    let mut keyed: Vec<((i64, String), Pending)> = rows
        .into_iter()
        .map(|r| {
            let id = match &r.item {
                Item::Stored(id) => id.clone(),
                Item::Virtual { parent, orig } | Item::Stub { parent, orig } => {
                    instance_id(rng, cal, opaque, parent, *orig)
                }
            };
            let k = match order {
                Order::Id => 0,
                Order::Start => r.start,
                Order::Updated => r.updated,
            };
            ((k, id), r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    let rest: Vec<_> = keyed
        .into_iter()
        .filter(|(k, _)| cursor.is_none_or(|c| k > c))
        .collect();
    let more = rest.len() > size;
    let page: Vec<_> = rest.into_iter().take(size).collect();
    // An empty (ragged) page keeps the previous cursor; "before everything" is (MIN, "").
    let next_cursor = more.then(|| {
        page.last()
            .map(|(k, _)| k.clone())
            .or_else(|| cursor.cloned())
            .unwrap_or((i64::MIN, String::new()))
    });
    let out_tz = p.out_tz.unwrap_or(cal.tz);
    let cal = &*cal;
    let items = page
        .iter()
        .filter_map(|((_, id), r)| {
            let v = match &r.item {
                Item::Stored(sid) => render_stored(cal, cal.events.get(sid)?, out_tz, r.minimal),
                Item::Virtual { parent, orig } => {
                    render_virtual(cal, cal.events.get(parent)?, *orig, id, out_tz)
                }
                Item::Stub { parent, orig } => {
                    render_stub(cal.events.get(parent)?, *orig, id, out_tz)
                }
            };
            Some(limit_attendees(v, p.max_attendees))
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// How many items the page with this number holds: the documented "fewer results or none while
/// nextPageToken is still present", in a fixed pattern when ragged pages are on.
fn page_size(state: &State, n: u32, max: usize) -> usize {
    if !state.settings.ragged_pages {
        return max;
    }
    match n % 3 {
        1 => 0,
        2 => (max / 2).max(1),
        _ => max,
    }
}

fn events_envelope(cal: &Calendar, items: Vec<Value>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), json!("calendar#events"));
    m.insert("etag".into(), json!(format!("\"p{}\"", cal.updated_ms)));
    m.insert("summary".into(), json!(cal.summary));
    if let Some(d) = &cal.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("updated".into(), json!(rfc3339_ms(cal.updated_ms)));
    m.insert("timeZone".into(), json!(cal.tz.name()));
    m.insert("accessRole".into(), json!("owner"));
    let reminders = if cal.primary {
        json!([{"method": "popup", "minutes": 10}])
    } else {
        json!([])
    };
    m.insert("defaultReminders".into(), reminders);
    m.insert("items".into(), Value::Array(items));
    m
}

fn check_sync_token(state: &State, cal: &Calendar, token: &str, p: &ListParams) -> ApiResult<u64> {
    let t: SyncToken = decode(token).ok_or_else(|| {
        ApiError::invalid("Invalid sync token value.").at("parameter", "syncToken")
    })?;
    if t.c != cal.id {
        return Err(ApiError::invalid("Invalid sync token value.").at("parameter", "syncToken"));
    }
    if t.e != cal.sync_epoch {
        return Err(ApiError::full_sync_required());
    }
    if state
        .settings
        .sync_token_ttl_ms
        .is_some_and(|ttl| state.now_ms() - t.t > ttl)
    {
        return Err(ApiError::full_sync_required());
    }
    if t.m != p.single_events {
        return Err(ApiError::invalid(
            "The sync token was issued for a different value of singleEvents.",
        )
        .at("parameter", "singleEvents"));
    }
    Ok(t.s)
}

pub(crate) fn list_events(
    state: &mut State,
    cal_id: &str,
    pairs: &[(String, String)],
) -> ApiResult<Value> {
    let p = ListParams::parse(pairs)?;
    if p.sync_token.is_some() {
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, _)| SYNC_FORBIDDEN.contains(&k.as_str()))
        {
            return Err(ApiError::invalid(format!(
                "The parameter {name} cannot be used together with syncToken."
            ))
            .at("parameter", name.clone()));
        }
        if p.show_deleted == Some(false) {
            return Err(ApiError::invalid(
                "showDeleted=false cannot be used together with syncToken.",
            )
            .at("parameter", "showDeleted"));
        }
    }
    if p.order_by.as_deref() == Some("startTime") && !p.single_events {
        return Err(ApiError::bad_request(
            "The requested ordering is not available for the particular query.",
        )
        .at("parameter", "orderBy"));
    }
    let cal = state.cal(cal_id)?;
    let since = match &p.sync_token {
        Some(t) => Some(check_sync_token(state, cal, t, &p)?),
        None => None,
    };
    let (since, snapshot, cursor, page_no) = match &p.page_token {
        Some(t) => {
            let pt: PageToken = decode(t).ok_or_else(|| {
                ApiError::invalid("Invalid page token value.").at("parameter", "pageToken")
            })?;
            if pt.c != cal.id || pt.f != p.fingerprint {
                return Err(
                    ApiError::invalid("Invalid page token value.").at("parameter", "pageToken")
                );
            }
            if pt.y.is_some() && pt.e != cal.sync_epoch {
                return Err(ApiError::full_sync_required());
            }
            (pt.y, pt.s, Some((pt.k, pt.i)), pt.n)
        }
        None => (since, state.current_seq(), None, 0),
    };
    let rows = match since {
        Some(s) => sync_rows(state, cal, s, &p),
        None => full_rows(state, cal, &p),
    };
    let order = match (p.order_by.as_deref(), p.single_events) {
        (Some("updated"), _) => Order::Updated,
        (_, true) => Order::Start,
        _ => Order::Id,
    };
    let size = page_size(state, page_no, p.max_results);
    let epoch = cal.sync_epoch;
    let page = paginate(state, cal_id, rows, order, cursor.as_ref(), size, &p)?;
    let cal = state.cal(cal_id)?;
    let mut env = events_envelope(cal, page.items);
    match page.next_cursor {
        Some((k, i)) => {
            let pt = PageToken {
                c: cal.id.clone(),
                s: snapshot,
                y: since,
                e: epoch,
                k,
                i,
                n: page_no + 1,
                f: p.fingerprint.clone(),
            };
            env.insert("nextPageToken".into(), json!(encode(&pt)));
        }
        None => {
            let st = SyncToken {
                c: cal.id.clone(),
                s: snapshot,
                e: epoch,
                m: p.single_events,
                t: state.now_ms(),
            };
            env.insert("nextSyncToken".into(), json!(encode(&st)));
        }
    }
    Ok(Value::Object(env))
}

pub(crate) fn list_instances(
    state: &mut State,
    cal_id: &str,
    event_id: &str,
    pairs: &[(String, String)],
) -> ApiResult<Value> {
    let p = ListParams::parse(pairs)?;
    let cal = state.cal(cal_id)?;
    let parent = cal
        .events
        .get(event_id)
        .filter(|e| e.parent.is_none())
        .ok_or_else(ApiError::not_found)?;
    if parent.cancelled() {
        return Err(ApiError::deleted());
    }
    let (cursor, page_no) = match &p.page_token {
        Some(t) => {
            let pt: PageToken = decode(t).ok_or_else(|| {
                ApiError::invalid("Invalid page token value.").at("parameter", "pageToken")
            })?;
            if pt.c != cal.id || pt.f != p.fingerprint {
                return Err(
                    ApiError::invalid("Invalid page token value.").at("parameter", "pageToken")
                );
            }
            (Some((pt.k, pt.i)), pt.n)
        }
        None => (None, 0),
    };
    let rows = instance_rows(state, cal, parent, &p)?;
    let size = page_size(state, page_no, p.max_results);
    let (epoch, snapshot) = (cal.sync_epoch, state.current_seq());
    let page = paginate(state, cal_id, rows, Order::Start, cursor.as_ref(), size, &p)?;
    let cal = state.cal(cal_id)?;
    let mut env = events_envelope(cal, page.items);
    if let Some((k, i)) = page.next_cursor {
        let pt = PageToken {
            c: cal.id.clone(),
            s: snapshot,
            y: None,
            e: epoch,
            k,
            i,
            n: page_no + 1,
            f: p.fingerprint.clone(),
        };
        env.insert("nextPageToken".into(), json!(encode(&pt)));
    }
    Ok(Value::Object(env))
}
