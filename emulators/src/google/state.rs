//! The emulator's data: accounts, calendars, stored events, and the event write paths
//! (insert, update, patch, delete, get) with Google's semantics.
//!
//! Storage model: single events, recurring parents and *exceptions* (instances that were modified
//! or cancelled) are stored; plain instances are computed from the parent's expansion. Nothing is
//! ever physically deleted: deletion sets `status: cancelled`, which is what incremental sync needs.
//! Every write takes the next value of a global change counter (`seq`); sync tokens are that
//! counter, so "what changed since the token" is `seq > token`.

use super::config::{ExtendedPropertiesPatch, GoogleEmulatorConfig, TrimmedExceptions};
use super::error::{ApiError, ApiResult};
use super::expand::{parse_recurrence, Expansion, Orig, When};
use super::oauth::OAuthState;
use super::quota::QuotaState;
use super::render::{limit_attendees, render_stored, render_virtual, render_when};
use super::schema::sanitize;
use super::util::{
    local_to_instant, new_event_id, parse_date, parse_rfc3339, render_instant, SplitMix64,
};
use super::watch::ChannelRec;
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One stored event: a single event, a recurring parent, or an exception of a parent.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub id: String,
    /// Client-owned fields as last written (schema-checked, nulls removed), minus those kept typed
    /// below and the server-owned ones.
    pub fields: Map<String, Value>,
    /// `start`/`end` exactly as written, so that PATCH merges into what the client sent.
    pub start_raw: Value,
    pub end_raw: Value,
    pub start: When,
    pub end: When,
    pub status: String,
    pub recurrence: Vec<String>,
    pub expansion: Option<Arc<Expansion>>,
    /// Expansions this event had before, with the change counter of the write that replaced them;
    /// `singleEvents=true` incremental sync reports their vanished instances as cancelled.
    pub history: Vec<(u64, Arc<Expansion>)>,
    pub ical_uid: String,
    pub sequence: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub seq: u64,
    pub etag: String,
    /// For exceptions: the parent and the original start.
    pub parent: Option<(String, Orig)>,
    /// An exception that no longer belongs to its parent's series (trimmed away or parent deleted).
    pub orphaned: bool,
}

impl Stored {
    pub(crate) fn cancelled(&self) -> bool {
        self.status == "cancelled"
    }
}

#[derive(Debug)]
pub(crate) struct Calendar {
    pub id: String,
    pub owner: String,
    pub summary: String,
    pub description: Option<String>,
    pub tz: Tz,
    pub primary: bool,
    pub events: BTreeMap<String, Stored>,
    /// (parent id, original start) → exception id.
    pub exceptions: HashMap<(String, Orig), String>,
    /// Opaque instance ids handed out (opaque mode), both ways.
    pub opaque: HashMap<String, (String, Orig)>,
    pub opaque_rev: HashMap<(String, Orig), String>,
    /// Bumped by the "invalidate sync tokens" hook: older tokens get 410.
    pub sync_epoch: u32,
    pub updated_ms: i64,
    pub created_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct AccountRec {
    pub calendars: Vec<String>,
}

/// Switches that tests may flip while the emulator runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub opaque_instance_ids: bool,
    pub trimmed_exceptions: TrimmedExceptions,
    pub extended_properties_patch: ExtendedPropertiesPatch,
    pub ragged_pages: bool,
    pub horizon_days: u32,
    pub sync_token_ttl_ms: Option<i64>,
    pub enforce_scopes: bool,
    pub require_auth: bool,
    pub deny_consent: bool,
}

pub(crate) struct State {
    pub config: GoogleEmulatorConfig,
    pub settings: Settings,
    pub clock: Clock,
    pub accounts: BTreeMap<String, AccountRec>,
    pub calendars: HashMap<String, Calendar>,
    pub rng: SplitMix64,
    pub oauth: OAuthState,
    pub channels: HashMap<String, ChannelRec>,
    pub quota: QuotaState,
    /// Where the emulator is reachable, for `resourceUri`.
    pub base_url: String,
}

/// Per-request options of the write and read paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    pub conference_data_version: u32,
    pub supports_attachments: bool,
    pub out_tz: Option<Tz>,
    pub if_match: Option<String>,
    pub max_attendees: Option<usize>,
}

/// What an event id in a URL refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Stored(String),
    Virtual { parent: String, orig: Orig },
}

/// Fields the server owns or keeps in typed form; never copied into `Stored::fields`.
const NOT_CLIENT_FIELDS: &[&str] = &[
    "kind",
    "etag",
    "id",
    "htmlLink",
    "created",
    "updated",
    "creator",
    "organizer",
    "iCalUID",
    "recurringEventId",
    "originalStartTime",
    "start",
    "end",
    "status",
    "recurrence",
    "sequence",
    "hangoutLink",
];

use crate::control::Clock;

impl State {
    pub(crate) fn new(config: GoogleEmulatorConfig, base_url: String) -> Self {
        let settings = Settings {
            opaque_instance_ids: config.opaque_instance_ids,
            trimmed_exceptions: config.trimmed_exceptions,
            extended_properties_patch: config.extended_properties_patch,
            ragged_pages: config.ragged_pages,
            horizon_days: config.expansion_horizon_days,
            sync_token_ttl_ms: config.sync_token_ttl.map(|d| d.as_millis() as i64),
            enforce_scopes: config.enforce_scopes,
            require_auth: config.require_auth,
            deny_consent: false,
        };
        let mut s = State {
            rng: SplitMix64::new(config.seed),
            settings,
            clock: Clock::default(),
            accounts: BTreeMap::new(),
            calendars: HashMap::new(),
            oauth: OAuthState::default(),
            channels: HashMap::new(),
            quota: QuotaState::default(),
            base_url,
            config,
        };
        for email in s.config.accounts.clone() {
            s.add_account(&email);
        }
        s
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn current_seq(&self) -> u64 {
        self.clock.current_seq()
    }

    pub(crate) fn stamp(&mut self) -> (u64, i64) {
        self.clock.stamp()
    }

    fn default_tz(&self) -> Tz {
        self.config
            .default_time_zone
            .parse()
            .unwrap_or(chrono_tz::UTC)
    }

    pub(crate) fn add_account(&mut self, email: &str) -> String {
        if self.accounts.contains_key(email) {
            return email.to_string();
        }
        let tz = self.default_tz();
        self.accounts
            .insert(email.to_string(), AccountRec::default());
        self.create_calendar(email, email.to_string(), email.to_string(), tz, true);
        email.to_string()
    }

    pub(crate) fn create_calendar(
        &mut self,
        owner: &str,
        id: String,
        summary: String,
        tz: Tz,
        primary: bool,
    ) -> String {
        let (_, ms) = self.stamp();
        self.calendars.insert(
            id.clone(),
            Calendar {
                id: id.clone(),
                owner: owner.to_string(),
                summary,
                description: None,
                tz,
                primary,
                events: BTreeMap::new(),
                exceptions: HashMap::new(),
                opaque: HashMap::new(),
                opaque_rev: HashMap::new(),
                sync_epoch: 0,
                updated_ms: ms,
                created_ms: ms,
            },
        );
        if let Some(acc) = self.accounts.get_mut(owner) {
            acc.calendars.push(id.clone());
        }
        id
    }

    pub(crate) fn new_secondary_calendar(
        &mut self,
        owner: &str,
        summary: &str,
        tz: Option<Tz>,
    ) -> String {
        let id = format!(
            "{}@group.calendar.google.com",
            self.rng.string(super::util::BASE32HEX, 26)
        );
        let tz = tz.unwrap_or_else(|| self.default_tz());
        self.create_calendar(owner, id, summary.to_string(), tz, false)
    }

    /// Resolves a calendar id from a URL (`primary` included) for `account`. Calendars of other
    /// accounts are reported as not found, as Google does for calendars one cannot see.
    pub(crate) fn calendar_id(&self, account: &str, requested: &str) -> ApiResult<String> {
        let id = if requested == "primary" {
            account
        } else {
            requested
        };
        match self.calendars.get(id) {
            Some(c) if c.owner == account => Ok(c.id.clone()),
            _ => Err(ApiError::not_found()),
        }
    }

    pub(crate) fn cal(&self, id: &str) -> ApiResult<&Calendar> {
        self.calendars.get(id).ok_or_else(ApiError::not_found)
    }

    fn cal_mut(&mut self, id: &str) -> ApiResult<&mut Calendar> {
        self.calendars.get_mut(id).ok_or_else(ApiError::not_found)
    }

    /// Wakes the watch channels of a calendar after a change.
    pub(crate) fn changed(&mut self, cal_id: &str, ms: i64) {
        if let Some(c) = self.calendars.get_mut(cal_id) {
            c.updated_ms = ms;
        }
        for ch in self.channels.values() {
            if ch.calendar_id == cal_id {
                ch.changes.notify_one();
            }
        }
    }

    // ----- reads -----

    pub(crate) fn get_event(
        &mut self,
        cal_id: &str,
        event_id: &str,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let opaque = self.settings.opaque_instance_ids;
        let cal = self.cal(cal_id)?;
        let out_tz = opts.out_tz.unwrap_or(cal.tz);
        match resolve(cal, opaque, event_id).ok_or_else(ApiError::not_found)? {
            Target::Stored(id) => {
                let ev = cal.events.get(&id).ok_or_else(ApiError::not_found)?;
                Ok(limit_attendees(
                    render_stored(cal, ev, out_tz, false),
                    opts.max_attendees,
                ))
            }
            Target::Virtual { parent, orig } => {
                let p = cal.events.get(&parent).ok_or_else(ApiError::not_found)?;
                if p.cancelled() {
                    return Err(ApiError::not_found());
                }
                let id = self.instance_id(cal_id, &parent, orig);
                let cal = self.cal(cal_id)?;
                let p = cal.events.get(&parent).ok_or_else(ApiError::not_found)?;
                Ok(limit_attendees(
                    render_virtual(cal, p, orig, &id, out_tz),
                    opts.max_attendees,
                ))
            }
        }
    }

    /// The id an instance is shown with (see the module doc of `google` for the two formats).
    pub(crate) fn instance_id(&mut self, cal_id: &str, parent: &str, orig: Orig) -> String {
        let opaque = self.settings.opaque_instance_ids;
        let State { calendars, rng, .. } = self;
        match calendars.get_mut(cal_id) {
            Some(cal) => instance_id(rng, cal, opaque, parent, orig),
            None => format!("{parent}_{}", orig.suffix()),
        }
    }

    // ----- writes -----

    pub(crate) fn insert_event(
        &mut self,
        cal_id: &str,
        body: &Value,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let body = object(sanitize("Event", body)?)?;
        let d = draft(body, opts)?;
        let cal_tz = self.cal(cal_id)?.tz;
        let id = match &d.id {
            Some(id) => {
                if !super::util::is_valid_event_id(id) {
                    return Err(ApiError::invalid("Invalid resource id value."));
                }
                if self.cal(cal_id)?.events.contains_key(id) {
                    return Err(ApiError::duplicate());
                }
                id.clone()
            }
            None => loop {
                let id = new_event_id(&mut self.rng);
                if !self.cal(cal_id)?.events.contains_key(&id) {
                    break id;
                }
            },
        };
        let t = timing(&d, cal_tz)?;
        let status = check_status(d.status.as_deref())?;
        let (seq, ms) = self.stamp();
        let ev = Stored {
            ical_uid: d
                .ical_uid
                .clone()
                .unwrap_or_else(|| format!("{id}@google.com")),
            id: id.clone(),
            fields: d.fields,
            start_raw: t.start_raw,
            end_raw: t.end_raw,
            start: t.start,
            end: t.end,
            status,
            recurrence: t.recurrence,
            expansion: t.expansion,
            history: vec![],
            sequence: d.sequence.unwrap_or(0).max(0),
            created_ms: ms,
            updated_ms: ms,
            seq,
            etag: etag(seq, ms),
            parent: None,
            orphaned: false,
        };
        let cal = self.cal_mut(cal_id)?;
        cal.events.insert(id.clone(), ev);
        self.changed(cal_id, ms);
        self.get_event(cal_id, &id, opts)
    }

    /// PUT (`patch == false`) or PATCH of any event id.
    pub(crate) fn modify_event(
        &mut self,
        cal_id: &str,
        event_id: &str,
        body: &Value,
        patch: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let body = object(sanitize("Event", body)?)?;
        let opaque = self.settings.opaque_instance_ids;
        let target =
            resolve(self.cal(cal_id)?, opaque, event_id).ok_or_else(ApiError::not_found)?;
        let (parent, orig, existing) = match target {
            Target::Stored(id) => {
                let ev = self
                    .cal(cal_id)?
                    .events
                    .get(&id)
                    .ok_or_else(ApiError::not_found)?;
                match ev.parent.clone() {
                    None => {
                        check_if_match(opts, &ev.etag)?;
                        let merged = if patch {
                            merged_view(
                                client_view(ev),
                                &body,
                                self.settings.extended_properties_patch,
                            )
                        } else {
                            body
                        };
                        self.replace_event(cal_id, &id, merged, opts)?;
                        return self.get_event(cal_id, &id, opts);
                    }
                    Some((p, o)) => (p, o, Some(id)),
                }
            }
            Target::Virtual { parent, orig } => (parent, orig, None),
        };
        self.write_instance(cal_id, &parent, orig, existing, body, patch, opts)
    }

    /// Full replacement of a single event or recurring parent (PATCH arrives here already merged).
    fn replace_event(
        &mut self,
        cal_id: &str,
        id: &str,
        body: Map<String, Value>,
        opts: &WriteOpts,
    ) -> ApiResult<()> {
        let cal_tz = self.cal(cal_id)?.tz;
        let d = draft(body, opts)?;
        let t = timing(&d, cal_tz)?;
        let status = check_status(d.status.as_deref())?;
        let policy = self.settings.trimmed_exceptions;
        let (seq, ms) = self.stamp();
        let cal = self.cal_mut(cal_id)?;
        let ev = cal.events.get_mut(id).ok_or_else(ApiError::not_found)?;
        let timing_changed =
            ev.start != t.start || ev.end != t.end || ev.recurrence != t.recurrence;
        let schedule_changed = ev.start != t.start
            || ev.recurrence != t.recurrence
            || ev.end.is_date() != t.end.is_date();
        let mut sequence = d.sequence.unwrap_or(ev.sequence).max(ev.sequence);
        if timing_changed && sequence == ev.sequence {
            sequence += 1;
        }
        if schedule_changed {
            if let Some(old) = ev.expansion.take() {
                ev.history.push((seq, old));
                // Old expansions only matter to incremental sync; keep the list short.
                if ev.history.len() > 16 {
                    ev.history.remove(0);
                }
            }
        }
        ev.fields = d.fields;
        ev.start_raw = t.start_raw;
        ev.end_raw = t.end_raw;
        ev.start = t.start;
        ev.end = t.end;
        ev.recurrence = t.recurrence;
        ev.expansion = t.expansion.clone();
        ev.status = status;
        ev.sequence = sequence;
        ev.seq = seq;
        ev.updated_ms = ms;
        ev.etag = etag(seq, ms);
        let parent_cancelled = ev.cancelled();
        // Exceptions whose original start left the series (trimmed UNTIL/COUNT, moved start,
        // recurrence removed), or all of them when the parent was cancelled.
        let affected: Vec<String> = cal
            .events
            .values()
            .filter(|e| !e.orphaned && e.parent.as_ref().is_some_and(|(p, _)| p == id))
            .filter(|e| {
                let orig = e.parent.as_ref().map(|(_, o)| *o);
                parent_cancelled
                    || orig
                        .is_none_or(|o| !t.expansion.as_ref().is_some_and(|x| x.contains_orig(o)))
            })
            .map(|e| e.id.clone())
            .collect();
        if parent_cancelled || policy == TrimmedExceptions::Cancel {
            for ex in affected {
                self.orphan(cal_id, &ex);
            }
        }
        self.changed(cal_id, ms);
        Ok(())
    }

    fn orphan(&mut self, cal_id: &str, ex_id: &str) {
        let (seq, ms) = self.stamp();
        if let Some(ex) = self
            .calendars
            .get_mut(cal_id)
            .and_then(|c| c.events.get_mut(ex_id))
        {
            ex.orphaned = true;
            ex.status = "cancelled".into();
            ex.seq = seq;
            ex.updated_ms = ms;
            ex.etag = etag(seq, ms);
        }
    }

    /// PATCH/PUT on an instance: creates the exception on first write, updates it afterwards.
    #[allow(clippy::too_many_arguments)]
    fn write_instance(
        &mut self,
        cal_id: &str,
        parent_id: &str,
        orig: Orig,
        existing: Option<String>,
        body: Map<String, Value>,
        patch: bool,
        opts: &WriteOpts,
    ) -> ApiResult<Value> {
        let cal = self.cal(cal_id)?;
        let parent = cal.events.get(parent_id).ok_or_else(ApiError::not_found)?;
        let orphaned = existing
            .as_ref()
            .and_then(|id| cal.events.get(id))
            .is_some_and(|e| e.orphaned);
        if parent.cancelled() || orphaned {
            return Err(ApiError::deleted());
        }
        let exp = parent.expansion.clone().ok_or_else(ApiError::not_found)?;
        let current = match &existing {
            Some(id) => cal.events.get(id).ok_or_else(ApiError::not_found)?,
            None => parent,
        };
        let view = match &existing {
            Some(_) => client_view(current),
            None => virtual_view(parent, &exp, orig),
        };
        let current_etag = current.etag.clone();
        check_if_match(opts, &current_etag)?;
        check_instance_immutables(&body, parent_id, orig, &exp)?;
        let merged = if patch {
            merged_view(view, &body, self.settings.extended_properties_patch)
        } else {
            body
        };
        let d = draft(merged, opts)?;
        if d.recurrence.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(ApiError::invalid(
                "Invalid recurrence rule. Instances of a recurring event cannot have a recurrence.",
            ));
        }
        let cal_tz = cal.tz;
        let t = timing(&d, cal_tz)?;
        let status = check_status(d.status.as_deref())?;
        let sequence = d.sequence.unwrap_or(current.sequence).max(current.sequence);
        let ical_uid = parent.ical_uid.clone();
        let created = existing.as_ref().map(|_| current.created_ms);
        let id = match existing {
            Some(id) => id,
            None => self.instance_id(cal_id, parent_id, orig),
        };
        let (seq, ms) = self.stamp();
        let ev = Stored {
            id: id.clone(),
            fields: d.fields,
            start_raw: t.start_raw,
            end_raw: t.end_raw,
            start: t.start,
            end: t.end,
            status,
            recurrence: vec![],
            expansion: None,
            history: vec![],
            ical_uid,
            sequence,
            created_ms: created.unwrap_or(ms),
            updated_ms: ms,
            seq,
            etag: etag(seq, ms),
            parent: Some((parent_id.to_string(), orig)),
            orphaned: false,
        };
        let cal = self.cal_mut(cal_id)?;
        cal.events.insert(id.clone(), ev);
        cal.exceptions
            .insert((parent_id.to_string(), orig), id.clone());
        self.changed(cal_id, ms);
        self.get_event(cal_id, &id, opts)
    }

    pub(crate) fn delete_event(
        &mut self,
        cal_id: &str,
        event_id: &str,
        opts: &WriteOpts,
    ) -> ApiResult<()> {
        let opaque = self.settings.opaque_instance_ids;
        let target =
            resolve(self.cal(cal_id)?, opaque, event_id).ok_or_else(ApiError::not_found)?;
        match target {
            Target::Stored(id) => {
                let cal = self.cal(cal_id)?;
                let ev = cal.events.get(&id).ok_or_else(ApiError::not_found)?;
                if ev.cancelled() {
                    return Err(ApiError::deleted());
                }
                check_if_match(opts, &ev.etag)?;
                let is_parent = ev.expansion.is_some();
                let (seq, ms) = self.stamp();
                let cal = self.cal_mut(cal_id)?;
                if let Some(ev) = cal.events.get_mut(&id) {
                    ev.status = "cancelled".into();
                    ev.seq = seq;
                    ev.updated_ms = ms;
                    ev.etag = etag(seq, ms);
                }
                if is_parent {
                    let exceptions: Vec<String> = cal
                        .events
                        .values()
                        .filter(|e| !e.orphaned && e.parent.as_ref().is_some_and(|(p, _)| *p == id))
                        .map(|e| e.id.clone())
                        .collect();
                    for ex in exceptions {
                        self.orphan(cal_id, &ex);
                    }
                }
                self.changed(cal_id, ms);
                Ok(())
            }
            Target::Virtual { parent, orig } => {
                let cal = self.cal(cal_id)?;
                let p = cal.events.get(&parent).ok_or_else(ApiError::not_found)?;
                if p.cancelled() {
                    return Err(ApiError::deleted());
                }
                let mut body = Map::new();
                body.insert("status".into(), json!("cancelled"));
                self.write_instance(cal_id, &parent, orig, None, body, true, opts)
                    .map(|_| ())
            }
        }
    }

    /// Every stored event of a calendar, fully rendered (cancelled ones included), for assertions.
    pub(crate) fn snapshot(&self, cal_id: &str) -> Vec<Value> {
        let Some(cal) = self.calendars.get(cal_id) else {
            return vec![];
        };
        cal.events
            .values()
            .map(|e| render_stored(cal, e, cal.tz, false))
            .collect()
    }
}

pub(crate) fn etag(seq: u64, ms: i64) -> String {
    format!(
        "\"{}\"",
        ms.saturating_mul(1000).saturating_add((seq % 1000) as i64)
    )
}

fn object(v: Value) -> ApiResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::parse_error()),
    }
}

fn check_if_match(opts: &WriteOpts, current: &str) -> ApiResult<()> {
    match &opts.if_match {
        Some(want) if !etag_matches(want, current) => Err(ApiError::condition_not_met()),
        _ => Ok(()),
    }
}

/// Compares an `If-Match`/`If-None-Match` header with an etag: `*`, lists, weak and unquoted forms.
pub(crate) fn etag_matches(header: &str, etag: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    header
        .split(',')
        .any(|h| h.trim() == "*" || norm(h) == norm(etag))
}

fn check_status(s: Option<&str>) -> ApiResult<String> {
    match s.unwrap_or("confirmed") {
        v @ ("confirmed" | "tentative" | "cancelled") => Ok(v.to_string()),
        _ => Err(ApiError::invalid("Invalid value for: status").at("body", "status")),
    }
}

/// A request body split into typed parts.
struct Draft {
    fields: Map<String, Value>,
    start_raw: Option<Value>,
    end_raw: Option<Value>,
    status: Option<String>,
    recurrence: Option<Vec<String>>,
    sequence: Option<i64>,
    id: Option<String>,
    ical_uid: Option<String>,
}

fn strip_nulls(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| strip_nulls(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(strip_nulls).collect(),
        )),
        other => Some(other),
    }
}

fn draft(body: Map<String, Value>, opts: &WriteOpts) -> ApiResult<Draft> {
    let Some(Value::Object(mut body)) = strip_nulls(Value::Object(body)) else {
        return Err(ApiError::parse_error());
    };
    let take_str = |m: &mut Map<String, Value>, k: &str| {
        m.remove(k).and_then(|v| v.as_str().map(str::to_string))
    };
    let id = take_str(&mut body, "id");
    let ical_uid = take_str(&mut body, "iCalUID");
    let status = take_str(&mut body, "status");
    let recurrence = body.remove("recurrence").map(|v| match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => vec![],
    });
    let sequence = body.remove("sequence").and_then(|v| v.as_i64());
    let start_raw = body.remove("start");
    let end_raw = body.remove("end");
    for k in NOT_CLIENT_FIELDS {
        body.remove(*k);
    }
    // Google ignores these unless the client declares it understands them.
    if opts.conference_data_version == 0 {
        body.remove("conferenceData");
    }
    if !opts.supports_attachments {
        body.remove("attachments");
    }
    validate_fields(&mut body)?;
    Ok(Draft {
        fields: body,
        start_raw,
        end_raw,
        status,
        recurrence,
        sequence,
        id,
        ical_uid,
    })
}

fn one_of(v: Option<&Value>, field: &str, allowed: &[&str]) -> ApiResult<()> {
    match v.and_then(Value::as_str) {
        Some(s) if !allowed.contains(&s) => {
            Err(ApiError::invalid(format!("Invalid value for: {field}")).at("body", field))
        }
        _ => Ok(()),
    }
}

/// The checks Google applies to client fields that matter for adapters.
fn validate_fields(f: &mut Map<String, Value>) -> ApiResult<()> {
    one_of(
        f.get("transparency"),
        "transparency",
        &["opaque", "transparent"],
    )?;
    one_of(
        f.get("visibility"),
        "visibility",
        &["default", "public", "private", "confidential"],
    )?;
    one_of(
        f.get("eventType"),
        "eventType",
        &[
            "default",
            "outOfOffice",
            "focusTime",
            "workingLocation",
            "fromGmail",
            "birthday",
        ],
    )?;
    if let Some(c) = f.get("colorId").and_then(Value::as_str) {
        if !c.parse::<u8>().is_ok_and(|n| (1..=11).contains(&n)) {
            return Err(ApiError::invalid("Invalid value for: colorId").at("body", "colorId"));
        }
    }
    if let Some(Value::Object(r)) = f.get("reminders") {
        let overrides = r
            .get("overrides")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if r.get("useDefault").and_then(Value::as_bool) == Some(true) && !overrides.is_empty() {
            return Err(ApiError::new(
                400,
                "calendar",
                "cannotUseDefaultRemindersAndSpecifyOverride",
                "Cannot specify both default reminders and overrides at the same time.",
            ));
        }
        if overrides.len() > 5 {
            return Err(ApiError::new(
                400,
                "calendar",
                "tooManyReminders",
                "Too many reminders.",
            ));
        }
        for o in &overrides {
            one_of(
                o.get("method"),
                "reminders.overrides.method",
                &["email", "popup"],
            )?;
            match o.get("minutes").and_then(Value::as_i64) {
                Some(m) if (0..=40_320).contains(&m) => {}
                _ => {
                    return Err(
                        ApiError::invalid("Invalid value for: reminders.overrides.minutes")
                            .at("body", "reminders.overrides.minutes"),
                    )
                }
            }
        }
    }
    if let Some(Value::Array(attendees)) = f.get_mut("attendees") {
        for a in attendees.iter_mut() {
            let Value::Object(a) = a else { continue };
            if a.get("email")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::required("Missing attendee email."));
            }
            one_of(
                a.get("responseStatus"),
                "attendees.responseStatus",
                &["needsAction", "declined", "tentative", "accepted"],
            )?;
            a.entry("responseStatus")
                .or_insert_with(|| json!("needsAction"));
        }
    }
    Ok(())
}

/// Parsed `start`/`end`/`recurrence` of a draft.
struct Timing {
    start: When,
    end: When,
    start_raw: Value,
    end_raw: Value,
    recurrence: Vec<String>,
    expansion: Option<Arc<Expansion>>,
}

fn timing(d: &Draft, cal_tz: Tz) -> ApiResult<Timing> {
    let start_raw = d
        .start_raw
        .clone()
        .ok_or_else(|| ApiError::required("Missing start time."))?;
    let end_raw = d
        .end_raw
        .clone()
        .ok_or_else(|| ApiError::required("Missing end time."))?;
    let start = parse_when(&start_raw, "start")?;
    let end = parse_when(&end_raw, "end")?;
    match (start, end) {
        (When::Date(s), When::Date(e)) if e <= s => return Err(ApiError::time_range_empty()),
        (When::At { secs: s, .. }, When::At { secs: e, .. }) if e < s => {
            return Err(ApiError::time_range_empty())
        }
        (When::Date(_), When::At { .. }) | (When::At { .. }, When::Date(_)) => {
            return Err(ApiError::invalid(
                "Start and end times must either both be date or both be dateTime.",
            ))
        }
        _ => {}
    }
    let recurrence: Vec<String> = d.recurrence.clone().unwrap_or_default();
    let expansion = if recurrence.is_empty() {
        None
    } else {
        let spec = parse_recurrence(&recurrence)?;
        if let (When::At { tz: stz, .. }, When::At { tz: etz, .. }) = (start, end) {
            // The zone the recurrence is expanded in; without it "09:00 every Monday" is undefined.
            if stz.is_none() {
                return Err(
                    ApiError::required("Missing time zone definition for start time.")
                        .at("body", "start.timeZone"),
                );
            }
            if etz.is_none() {
                return Err(
                    ApiError::required("Missing time zone definition for end time.")
                        .at("body", "end.timeZone"),
                );
            }
        }
        Some(Arc::new(Expansion::build(&spec, &start, &end, cal_tz)?))
    };
    Ok(Timing {
        start,
        end,
        start_raw,
        end_raw,
        recurrence,
        expansion,
    })
}

/// Parses an `EventDateTime`.
pub(crate) fn parse_when(v: &Value, which: &str) -> ApiResult<When> {
    let invalid = || ApiError::invalid(format!("Invalid {which} time.")).at("body", which);
    let Value::Object(m) = v else {
        return Err(invalid());
    };
    let tz = match m.get("timeZone").and_then(Value::as_str) {
        Some(name) => Some(name.parse::<Tz>().map_err(|_| {
            ApiError::invalid(format!("Invalid time zone definition for {which} time."))
                .at("body", format!("{which}.timeZone"))
        })?),
        None => None,
    };
    let date = m.get("date").and_then(Value::as_str);
    let date_time = m.get("dateTime").and_then(Value::as_str);
    match (date, date_time) {
        (Some(_), Some(_)) => Err(invalid()),
        (None, None) => Err(ApiError::required(format!("Missing {which} time."))),
        (Some(d), None) => parse_date(d).map(When::Date).ok_or_else(invalid),
        (None, Some(t)) => {
            if let Some(secs) = parse_rfc3339(t) {
                return Ok(When::At { secs, tz });
            }
            // No offset: the wall clock is in `timeZone`, which is then mandatory.
            let local = NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .map_err(|_| invalid())?;
            let zone = tz.ok_or_else(|| {
                ApiError::required(format!("Missing time zone definition for {which} time."))
                    .at("body", format!("{which}.timeZone"))
            })?;
            Ok(When::At {
                secs: local_to_instant(local, zone),
                tz,
            })
        }
    }
}

/// The client-owned part of a stored event, in request form (PATCH merges into this).
fn client_view(ev: &Stored) -> Map<String, Value> {
    let mut m = ev.fields.clone();
    m.insert("start".into(), ev.start_raw.clone());
    m.insert("end".into(), ev.end_raw.clone());
    m.insert("status".into(), json!(ev.status));
    if !ev.recurrence.is_empty() {
        m.insert("recurrence".into(), json!(ev.recurrence));
    }
    m.insert("sequence".into(), json!(ev.sequence));
    m
}

/// What a plain instance looks like in request form: the parent's fields at the instance's time.
fn virtual_view(parent: &Stored, exp: &Expansion, orig: Orig) -> Map<String, Value> {
    let mut m = client_view(parent);
    m.remove("recurrence");
    let (s, e) = exp.whens(exp.start_of(orig), parent.start.tz());
    let raw = |w: &When| -> Value {
        match w {
            When::At { secs, tz } => {
                let zone = tz.unwrap_or(exp.zone());
                let mut v = json!({"dateTime": render_instant(*secs, zone)});
                if let (Some(z), Value::Object(o)) = (tz, &mut v) {
                    o.insert("timeZone".into(), json!(z.name()));
                }
                v
            }
            When::Date(_) => render_when(w, exp.zone()),
        }
    };
    m.insert("start".into(), raw(&s));
    m.insert("end".into(), raw(&e));
    m
}

/// `recurringEventId` and `originalStartTime` identify an instance and cannot change.
fn check_instance_immutables(
    body: &Map<String, Value>,
    parent: &str,
    orig: Orig,
    exp: &Expansion,
) -> ApiResult<()> {
    if let Some(r) = body.get("recurringEventId").and_then(Value::as_str) {
        if r != parent {
            return Err(ApiError::invalid(
                "The recurringEventId of an instance cannot be changed.",
            )
            .at("body", "recurringEventId"));
        }
    }
    if let Some(o) = body.get("originalStartTime").filter(|v| !v.is_null()) {
        let same = match (parse_when(o, "originalStart")?, orig) {
            (When::At { secs, .. }, Orig::At(s)) => secs == s,
            (When::Date(d), Orig::Date(x)) => d == x,
            (When::At { secs, .. }, Orig::Date(_)) => {
                exp.orig_of(secs) == orig && exp.start_of(orig) == secs
            }
            _ => false,
        };
        if !same {
            return Err(ApiError::invalid(
                "The originalStartTime of an instance cannot be changed.",
            )
            .at("body", "originalStartTime"));
        }
    }
    Ok(())
}

/// PATCH semantics: objects merge key by key (`null` removes), everything else — arrays included —
/// replaces. `extendedProperties.private/shared` follow the configured policy.
fn merged_view(
    mut view: Map<String, Value>,
    patch: &Map<String, Value>,
    ext: ExtendedPropertiesPatch,
) -> Map<String, Value> {
    merge_into(&mut view, patch, "", ext);
    view
}

fn merge_into(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &str,
    ext: ExtendedPropertiesPatch,
) {
    for (k, v) in patch {
        let sub = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let replace_map = ext == ExtendedPropertiesPatch::Replace
            && (sub == "extendedProperties.private" || sub == "extendedProperties.shared");
        match (v, target.get_mut(k)) {
            (Value::Null, _) => {
                target.remove(k);
            }
            (Value::Object(p), Some(Value::Object(t))) if !replace_map => {
                merge_into(t, p, &sub, ext)
            }
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Resolves an event id: stored events first, then instance ids (opaque ones handed out before,
/// or `<parent>_<suffix>` unless opaque mode is on).
pub(crate) fn resolve(cal: &Calendar, opaque: bool, id: &str) -> Option<Target> {
    if cal.events.contains_key(id) {
        return Some(Target::Stored(id.to_string()));
    }
    let (parent, orig) = match cal.opaque.get(id) {
        Some((p, o)) => (p.clone(), *o),
        None if !opaque => {
            let (p, suffix) = id.rsplit_once('_')?;
            (p.to_string(), Orig::parse_suffix(suffix)?)
        }
        None => return None,
    };
    if let Some(ex) = cal.exceptions.get(&(parent.clone(), orig)) {
        return Some(Target::Stored(ex.clone()));
    }
    let p = cal.events.get(&parent)?;
    let exp = p.expansion.as_ref()?;
    exp.contains_orig(orig)
        .then_some(Target::Virtual { parent, orig })
}

pub(crate) fn instance_id(
    rng: &mut SplitMix64,
    cal: &mut Calendar,
    opaque: bool,
    parent: &str,
    orig: Orig,
) -> String {
    let key = (parent.to_string(), orig);
    if let Some(id) = cal.exceptions.get(&key) {
        return id.clone();
    }
    if !opaque {
        return format!("{parent}_{}", orig.suffix());
    }
    if let Some(id) = cal.opaque_rev.get(&key) {
        return id.clone();
    }
    let id = loop {
        let id = new_event_id(rng);
        if !cal.events.contains_key(&id) && !cal.opaque.contains_key(&id) {
            break id;
        }
    };
    cal.opaque.insert(id.clone(), key.clone());
    cal.opaque_rev.insert(key, id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_arrays_and_merges_objects() {
        let view = json!({"a": [1, 2], "start": {"date": "2026-01-01"}, "extendedProperties": {"private": {"x": "1", "y": "2"}}});
        let patch = json!({"a": [3], "start": {"date": null, "dateTime": "2026-01-01T10:00:00Z"}, "extendedProperties": {"private": {"y": null, "z": "3"}}});
        let (Value::Object(v), Value::Object(p)) = (view, patch) else {
            unreachable!()
        };
        let m = merged_view(v.clone(), &p, ExtendedPropertiesPatch::Merge);
        assert_eq!(
            Value::Object(m),
            json!({"a": [3], "start": {"dateTime": "2026-01-01T10:00:00Z"}, "extendedProperties": {"private": {"x": "1", "z": "3"}}})
        );
        let m = merged_view(v, &p, ExtendedPropertiesPatch::Replace);
        assert_eq!(
            m["extendedProperties"],
            json!({"private": {"y": null, "z": "3"}})
        );
    }

    #[test]
    fn etag_comparison_forms() {
        assert!(etag_matches("\"1\"", "\"1\""));
        assert!(etag_matches("W/\"1\"", "\"1\""));
        assert!(etag_matches("1", "\"1\""));
        assert!(etag_matches("*", "\"1\""));
        assert!(!etag_matches("\"2\"", "\"1\""));
    }
}
