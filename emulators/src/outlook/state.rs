//! The emulator's data — mailboxes, calendars, stored events — and the event write paths with
//! Exchange's semantics.
//!
//! Storage model: single events, series masters and exceptions are stored; plain occurrences are
//! computed from the master's pattern (minus `cancelled` original starts and minus exceptions).
//! Deleted items stay as tombstones so that delta rounds and notifications can report them.
//! Every write takes the next value of a global change counter (`seq`).

use super::config::{OutlookEmulatorConfig, RecurrencePatch};
use super::delta::DeltaState;
use super::error::{GraphError, GraphResult};
use super::oauth::OAuthState;
use super::recurrence::{self, PatternDates, RangeType, Recurrence};
use super::schema;
use super::subs::{PendingDelivery, Subscription};
use super::util::{self, instant_to_local, local_to_instant, parse_wall_clock};
use super::zones::{self, Zone};
use crate::control::Clock;
use crate::util::SplitMix64;
use chrono::{Duration, NaiveDateTime, NaiveTime};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A wall-clock time in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment {
    pub local: NaiveDateTime,
    pub zone: Zone,
}

impl Moment {
    pub(crate) fn instant(&self) -> i64 {
        local_to_instant(self.local, self.zone.tz)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Single,
    Master,
    Exception,
}

/// One stored event.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    /// Internal key; equal to the immutable id.
    pub key: String,
    pub rest_id: String,
    pub calendar: String,
    pub account: String,
    pub kind: Kind,
    /// Client-owned properties as last written (for an exception: only those it overrides).
    pub fields: Map<String, Value>,
    pub start: Moment,
    pub end: Moment,
    pub all_day: bool,
    pub recurrence: Option<Recurrence>,
    /// Master: original starts (instants) of deleted occurrences.
    pub cancelled: BTreeSet<i64>,
    /// Exception: the master's key and the original start.
    pub master: Option<String>,
    pub orig: i64,
    pub ical_uid: String,
    pub transaction_id: Option<String>,
    pub extended: Vec<(String, String)>,
    /// `None`: organised by the mailbox owner; else the organizer's `emailAddress`.
    pub organizer: Option<Value>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub change_key: String,
    pub seq: u64,
    pub deleted: bool,
}

impl Ev {
    pub(crate) fn id(&self, immutable: bool) -> &str {
        if immutable {
            &self.key
        } else {
            &self.rest_id
        }
    }
    pub(crate) fn is_organizer(&self) -> bool {
        self.organizer.is_none()
    }
    fn duration_secs(&self) -> i64 {
        self.end.instant() - self.start.instant()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub color: String,
    pub hex_color: String,
    pub change_key: String,
    pub is_default: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub email: String,
    pub user_id: String,
    pub display_name: String,
    pub calendars: Vec<String>,
    pub default_calendar: String,
}

/// What an id in a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Stored(String),
    Occurrence { master: String, orig: i64 },
}

/// One instance of a series in a window: a plain occurrence or an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inst {
    pub master: String,
    pub orig: i64,
    pub exception: Option<String>,
    pub start: i64,
    pub end: i64,
    pub start_local: NaiveDateTime,
    pub end_local: NaiveDateTime,
}

/// Switches tests may flip while the emulator runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub transaction_id_dedup: bool,
    pub recurrence_patch: RecurrencePatch,
    pub precondition_failed_code: String,
    pub delta_replays: bool,
    pub require_auth: bool,
    pub enforce_scopes: bool,
    pub deny_consent: bool,
    pub processing_delay: std::time::Duration,
}

/// How a response should look: id kind, output zone, `$select`, `$expand`.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub immutable: bool,
    /// The zone asked for with `Prefer: outlook.timezone`, and the name as given.
    pub tz: Option<(Zone, String)>,
    pub select: Option<Vec<String>>,
    /// `$expand=singleValueExtendedProperties(...)`: the property ids asked for (empty: all).
    pub expand_extended: Option<Vec<String>>,
    pub expand_exceptions: bool,
}

pub(crate) struct State {
    pub config: OutlookEmulatorConfig,
    pub settings: Settings,
    pub clock: Clock,
    pub rng: SplitMix64,
    /// By lower-cased address.
    pub accounts: BTreeMap<String, Account>,
    pub calendars: HashMap<String, Calendar>,
    pub events: HashMap<String, Ev>,
    /// Creation order of `events` (keys), for stable listing.
    pub order: Vec<String>,
    /// Every id handed out (REST, immutable, occurrence) → what it names.
    pub ids: HashMap<String, Target>,
    /// (master key, original start) → exception key.
    pub exceptions: HashMap<(String, i64), String>,
    pub oauth: OAuthState,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub outbox: Vec<PendingDelivery>,
    pub delta: DeltaState,
    /// `http://127.0.0.1:PORT/v1.0`.
    pub base_url: String,
}

/// Properties the client owns that are stored verbatim (everything else is typed, derived or
/// read-only and ignored on input).
const CLIENT_FIELDS: &[&str] = &[
    "subject",
    "body",
    "importance",
    "sensitivity",
    "showAs",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "categories",
    "location",
    "locations",
    "attendees",
    "isOnlineMeeting",
    "onlineMeetingProvider",
];

fn draft_ev() -> Ev {
    let m = Moment {
        local: NaiveDateTime::default(),
        zone: Zone::UTC,
    };
    Ev {
        key: String::new(),
        rest_id: String::new(),
        calendar: String::new(),
        account: String::new(),
        kind: Kind::Single,
        fields: Map::new(),
        start: m,
        end: m,
        all_day: false,
        recurrence: None,
        cancelled: BTreeSet::new(),
        master: None,
        orig: 0,
        ical_uid: String::new(),
        transaction_id: None,
        extended: vec![],
        organizer: None,
        created_ms: 0,
        modified_ms: 0,
        change_key: String::new(),
        seq: 0,
        deleted: false,
    }
}

/// Parses a `dateTimeTimeZone` body value.
fn parse_dtz(v: &Value, name: &str) -> GraphResult<Moment> {
    let text = v.get("dateTime").and_then(Value::as_str).ok_or_else(|| {
        GraphError::invalid_request(format!("The {name} property requires a dateTime value."))
    })?;
    let zone = match v.get("timeZone").and_then(Value::as_str) {
        Some(z) if !z.trim().is_empty() => {
            zones::resolve(z).ok_or_else(|| GraphError::time_zone(z))?
        }
        _ => Zone::UTC,
    };
    let local = parse_wall_clock(text, zone.tz).ok_or_else(|| {
        GraphError::bad_request(
            "RequestBodyRead",
            format!(
                "Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
            ),
        )
    })?;
    Ok(Moment { local, zone })
}

fn validate_times(start: &Moment, end: &Moment, all_day: bool) -> GraphResult<()> {
    // Exchange stores dates between 1601 and 4500.
    use chrono::Datelike;
    for m in [start, end] {
        if !(1601..=4500).contains(&m.local.year()) {
            return Err(GraphError::invalid_request(format!(
                "The date {} is outside the supported range (1601–4500).",
                m.local.date()
            )));
        }
    }
    if all_day {
        let midnight = |m: &Moment| m.local.time() == NaiveTime::MIN;
        if !midnight(start) || !midnight(end) {
            return Err(GraphError::invalid_request(
                "Your request can't be completed. An all-day event must start and end at midnight.",
            ));
        }
        if start
            .local
            .checked_add_signed(Duration::days(1))
            .is_none_or(|min_end| end.local < min_end)
        {
            return Err(GraphError::invalid_request(
                "The duration of an event marked as All day must be at least 24 hours.",
            ));
        }
        return Ok(());
    }
    if end.instant() < start.instant() {
        return Err(GraphError::bad_request(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The end date occurs before the start date.",
        ));
    }
    Ok(())
}

fn extended_from_body(body: &Value) -> GraphResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for p in body
        .get("singleValueExtendedProperties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = p
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::invalid_request("An extended property needs an id."))?;
        if id.split_whitespace().count() < 3 {
            return Err(GraphError::bad_request(
                "ErrorInvalidExtendedPropertyValue",
                format!("The extended property id '{id}' is not valid."),
            ));
        }
        out.push((
            id.to_string(),
            p.get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ));
    }
    Ok(out)
}

fn upsert_extended(list: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (id, value) in new {
        match list.iter_mut().find(|(i, _)| i.eq_ignore_ascii_case(&id)) {
            Some(slot) => slot.1 = value,
            None => list.push((id, value)),
        }
    }
}

fn copy_client_fields(body: &Value, into: &mut Map<String, Value>) {
    for k in CLIENT_FIELDS {
        match body.get(*k) {
            Some(Value::Null) => {
                into.remove(*k);
            }
            Some(v) => {
                into.insert(k.to_string(), v.clone());
            }
            None => {}
        }
    }
}

impl State {
    pub(crate) fn new(config: OutlookEmulatorConfig, base_url: String) -> Self {
        let settings = Settings {
            transaction_id_dedup: config.transaction_id_dedup,
            recurrence_patch: config.recurrence_patch,
            precondition_failed_code: config.precondition_failed_code.clone(),
            delta_replays: config.delta_replays,
            require_auth: config.require_auth,
            enforce_scopes: config.enforce_scopes,
            deny_consent: false,
            processing_delay: std::time::Duration::ZERO,
        };
        let mut s = State {
            rng: SplitMix64::new(config.seed),
            settings,
            clock: Clock::default(),
            accounts: BTreeMap::new(),
            calendars: HashMap::new(),
            events: HashMap::new(),
            order: Vec::new(),
            ids: HashMap::new(),
            exceptions: HashMap::new(),
            oauth: OAuthState::default(),
            subscriptions: BTreeMap::new(),
            outbox: Vec::new(),
            delta: DeltaState::default(),
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

    // ----- mailboxes and calendars -----

    pub(crate) fn add_account(&mut self, email: &str) -> String {
        let key = email.trim().to_ascii_lowercase();
        if self.accounts.contains_key(&key) {
            return key;
        }
        let user_id = util::guid(&mut self.rng);
        let local = key.split('@').next().unwrap_or(&key);
        let mut name: Vec<char> = local.chars().collect();
        if let Some(c) = name.first_mut() {
            *c = c.to_ascii_uppercase();
        }
        let display_name: String = name.into_iter().collect();
        self.accounts.insert(
            key.clone(),
            Account {
                email: key.clone(),
                user_id,
                display_name,
                calendars: vec![],
                default_calendar: String::new(),
            },
        );
        let cal = self.create_calendar(&key, "Calendar", true);
        if let Some(a) = self.accounts.get_mut(&key) {
            a.default_calendar = cal;
        }
        key
    }

    pub(crate) fn create_calendar(&mut self, owner: &str, name: &str, is_default: bool) -> String {
        let id = format!(
            "AAMkAG{}AAA=",
            self.rng.string(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                60
            )
        );
        let change_key = util::change_key(&mut self.rng);
        self.calendars.insert(
            id.clone(),
            Calendar {
                id: id.clone(),
                owner: owner.to_string(),
                name: name.to_string(),
                color: "auto".into(),
                hex_color: String::new(),
                change_key,
                is_default,
            },
        );
        if let Some(a) = self.accounts.get_mut(owner) {
            a.calendars.push(id.clone());
        }
        id
    }

    /// Resolves `me` / `users/{id|upn}` for the caller: another existing mailbox is 403 (no
    /// delegation is emulated), an unknown one 404.
    pub(crate) fn user_of(&self, caller: &str, requested: Option<&str>) -> GraphResult<String> {
        let Some(r) = requested else {
            return Ok(caller.to_string());
        };
        let acc = self
            .accounts
            .get(caller)
            .ok_or_else(GraphError::access_denied)?;
        if r.eq_ignore_ascii_case(&acc.email) || r.eq_ignore_ascii_case(&acc.user_id) {
            return Ok(caller.to_string());
        }
        if self
            .accounts
            .values()
            .any(|a| r.eq_ignore_ascii_case(&a.email) || r.eq_ignore_ascii_case(&a.user_id))
        {
            return Err(GraphError::access_denied());
        }
        Err(GraphError::new(
            404,
            "ErrorInvalidUser",
            format!("The requested user '{r}' is invalid."),
        ))
    }

    pub(crate) fn calendar_of(&self, account: &str, id: Option<&str>) -> GraphResult<String> {
        let acc = self
            .accounts
            .get(account)
            .ok_or_else(GraphError::item_not_found)?;
        match id {
            None => Ok(acc.default_calendar.clone()),
            Some(id) => {
                if !util::id_well_formed(id) {
                    return Err(GraphError::id_malformed());
                }
                match self.calendars.get(id) {
                    Some(c) if c.owner == account => Ok(c.id.clone()),
                    _ => Err(GraphError::item_not_found()),
                }
            }
        }
    }

    // ----- ids -----

    fn register(&mut self, id: &str, t: Target) {
        self.ids.insert(id.to_string(), t);
    }

    /// The id an occurrence is shown with (registered so that it resolves later).
    pub(crate) fn occurrence_id(&mut self, master_key: &str, orig: i64, immutable: bool) -> String {
        let Some(m) = self.events.get(master_key) else {
            return String::new();
        };
        let id = util::occurrence_id(m.id(immutable), orig);
        if !self.ids.contains_key(&id) {
            let target = match self.exceptions.get(&(master_key.to_string(), orig)) {
                Some(x) => Target::Stored(x.clone()),
                None => Target::Occurrence {
                    master: master_key.to_string(),
                    orig,
                },
            };
            self.register(&id, target);
        }
        id
    }

    /// What `id` names for `account` (and, when given, inside `calendar`).
    pub(crate) fn resolve(
        &self,
        account: &str,
        calendar: Option<&str>,
        id: &str,
    ) -> GraphResult<Target> {
        if !util::id_well_formed(id) {
            return Err(GraphError::id_malformed());
        }
        let t = self
            .ids
            .get(id)
            .cloned()
            .ok_or_else(GraphError::item_not_found)?;
        let key = match &t {
            Target::Stored(k) => k,
            Target::Occurrence { master, .. } => master,
        };
        let ev = self
            .events
            .get(key)
            .filter(|e| !e.deleted && e.account == account)
            .ok_or_else(GraphError::item_not_found)?;
        if calendar.is_some_and(|c| c != ev.calendar) {
            return Err(GraphError::item_not_found());
        }
        // The stored id kinds must still be current (a move changes the REST id).
        if let Target::Stored(k) = &t {
            let e = &self.events[k];
            if e.key != id && e.rest_id != id {
                return Err(GraphError::item_not_found());
            }
        }
        if let Target::Occurrence { master, orig } = &t {
            if let Some(x) = self.exceptions.get(&(master.clone(), *orig)) {
                return Ok(Target::Stored(x.clone()));
            }
            let m = &self.events[master];
            let current = util::occurrence_id(&m.rest_id, *orig) == id
                || util::occurrence_id(&m.key, *orig) == id;
            if !current || m.cancelled.contains(orig) || !self.is_occurrence(m, *orig) {
                return Err(GraphError::item_not_found());
            }
        }
        Ok(t)
    }

    // ----- expansion -----

    /// Occurrence starts of a master, in order, while `keep(start)` holds, honouring the range end.
    fn walk(&self, m: &Ev, mut keep: impl FnMut(i64, NaiveDateTime) -> bool) {
        let Some(rec) = &m.recurrence else { return };
        let time = m.start.local.time();
        let mut resolver = almanac_domain::time::ZoneResolver::new(m.start.zone.tz);
        for (n, date) in PatternDates::new(rec).enumerate() {
            let local = date.and_time(time);
            let start = resolver.instant_of(local);
            match rec.range.ty {
                RangeType::Numbered if n >= rec.range.count as usize => return,
                RangeType::EndDate => {
                    let in_zone = if rec.range.zone == m.start.zone {
                        local.date()
                    } else {
                        instant_to_local(start, rec.range.zone.tz).date()
                    };
                    if rec.range.end.is_some_and(|e| in_zone > e) {
                        return;
                    }
                }
                _ => {}
            }
            if !keep(start, local) {
                return;
            }
        }
    }

    pub(crate) fn is_occurrence(&self, m: &Ev, orig: i64) -> bool {
        let mut found = false;
        self.walk(m, |s, _| {
            found = s == orig;
            s < orig
        });
        found
    }

    fn span_of(&self, m: &Ev, start: i64, start_local: NaiveDateTime) -> (i64, NaiveDateTime, i64) {
        if m.all_day {
            let end_local = start_local
                .checked_add_signed(m.end.local - m.start.local)
                .unwrap_or(start_local);
            (
                start,
                end_local,
                local_to_instant(end_local, m.start.zone.tz),
            )
        } else {
            let end = start + m.duration_secs();
            (start, instant_to_local(end, m.start.zone.tz), end)
        }
    }

    /// Instances (occurrences and exceptions) of a master overlapping `[from, to)`, by start.
    pub(crate) fn instances(&self, master_key: &str, from: i64, to: i64) -> Vec<Inst> {
        let Some(m) = self
            .events
            .get(master_key)
            .filter(|m| m.kind == Kind::Master)
        else {
            return vec![];
        };
        let mut out = Vec::new();
        let overlaps = |s: i64, e: i64| s < to && (e > from || (s == e && s >= from));
        let dur = m.duration_secs().max(0);
        self.walk(m, |start, local| {
            if start >= to {
                return false;
            }
            if start + dur.max(86_400 * 2) < from {
                return true;
            }
            if m.cancelled.contains(&start)
                || self
                    .exceptions
                    .contains_key(&(master_key.to_string(), start))
            {
                return true;
            }
            let (s, end_local, e) = self.span_of(m, start, local);
            if overlaps(s, e) {
                out.push(Inst {
                    master: master_key.to_string(),
                    orig: start,
                    exception: None,
                    start: s,
                    end: e,
                    start_local: local,
                    end_local,
                });
            }
            true
        });
        for ((mk, orig), xk) in &self.exceptions {
            if mk != master_key {
                continue;
            }
            let Some(x) = self.events.get(xk).filter(|x| !x.deleted) else {
                continue;
            };
            let (s, e) = (x.start.instant(), x.end.instant());
            if overlaps(s, e) {
                out.push(Inst {
                    master: mk.clone(),
                    orig: *orig,
                    exception: Some(xk.clone()),
                    start: s,
                    end: e,
                    start_local: x.start.local,
                    end_local: x.end.local,
                });
            }
        }
        out.sort_by_key(|i| (i.start, i.orig));
        out
    }

    /// The instance of a master at an original start (occurrence or exception).
    pub(crate) fn instance_at(&self, master_key: &str, orig: i64) -> Option<Inst> {
        let m = self.events.get(master_key)?;
        if let Some(xk) = self.exceptions.get(&(master_key.to_string(), orig)) {
            let x = self.events.get(xk)?;
            return Some(Inst {
                master: master_key.into(),
                orig,
                exception: Some(xk.clone()),
                start: x.start.instant(),
                end: x.end.instant(),
                start_local: x.start.local,
                end_local: x.end.local,
            });
        }
        let local = instant_to_local(orig, m.start.zone.tz);
        let (s, end_local, e) = self.span_of(m, orig, local);
        Some(Inst {
            master: master_key.into(),
            orig,
            exception: None,
            start: s,
            end: e,
            start_local: local,
            end_local,
        })
    }

    /// The current starts of the live instances just before and after `orig`.
    fn neighbours(&self, master_key: &str, orig: i64) -> (Option<i64>, Option<i64>) {
        let Some(m) = self.events.get(master_key) else {
            return (None, None);
        };
        let (mut prev, mut next) = (None, None);
        let mut after = 0;
        self.walk(m, |s, _| {
            let live = !m.cancelled.contains(&s);
            if s < orig && live {
                prev = Some(s);
            } else if s > orig && live {
                next = Some(s);
                return false;
            }
            if s > orig {
                after += 1;
            }
            after < 5000
        });
        let current = |o: i64| self.instance_at(master_key, o).map(|i| i.start);
        (prev.and_then(current), next.and_then(current))
    }

    /// Outlook refuses to move an occurrence onto or past the day of an adjacent one.
    fn check_crossing(&self, master_key: &str, orig: i64, new_start: i64) -> GraphResult<()> {
        let Some(m) = self.events.get(master_key) else {
            return Ok(());
        };
        let tz = m.start.zone.tz;
        let day = |t: i64| instant_to_local(t, tz).date();
        let (prev, next) = self.neighbours(master_key, orig);
        let crosses = prev.is_some_and(|p| day(new_start) <= day(p))
            || next.is_some_and(|n| day(new_start) >= day(n));
        if crosses {
            return Err(GraphError::bad_request("ErrorOccurrenceCrossingBoundary", "An occurrence of a recurring series can't be moved to or beyond the day of an adjacent occurrence."));
        }
        Ok(())
    }

    /// Live events of a mailbox (optionally one calendar) in creation order.
    pub(crate) fn live_in_scope(&self, account: &str, calendar: Option<&str>) -> Vec<String> {
        self.order
            .iter()
            .filter(|k| {
                self.events.get(*k).is_some_and(|e| {
                    !e.deleted && e.account == account && calendar.is_none_or(|c| c == e.calendar)
                })
            })
            .cloned()
            .collect()
    }

    // ----- writes -----

    fn precondition(&self, if_match: Option<&str>, change_key: &str) -> GraphResult<()> {
        let Some(want) = if_match else { return Ok(()) };
        let ok = want.split(',').map(str::trim).any(|w| {
            w == "*"
                || w == change_key
                || w == format!("W/\"{change_key}\"")
                || w == format!("\"{change_key}\"")
        });
        if ok {
            Ok(())
        } else {
            Err(GraphError::new(
                412,
                self.settings.precondition_failed_code.clone(),
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            ))
        }
    }

    fn bump(&mut self, key: &str) {
        let (seq, ms) = self.stamp();
        let ck = util::change_key(&mut self.rng);
        if let Some(e) = self.events.get_mut(key) {
            e.seq = seq;
            e.modified_ms = ms;
            e.change_key = ck;
        }
    }

    /// `POST …/events`. Returns the key of the new (or, with a repeated `transactionId`, the
    /// existing) event.
    pub(crate) fn create_event(
        &mut self,
        account: &str,
        calendar: &str,
        body: &Value,
    ) -> GraphResult<String> {
        let body = schema::check("event", body)?;
        let txn = body
            .get("transactionId")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (Some(t), true) = (&txn, self.settings.transaction_id_dedup) {
            let existing = self.order.iter().find(|k| {
                self.events.get(*k).is_some_and(|e| {
                    !e.deleted && e.account == account && e.transaction_id.as_ref() == Some(t)
                })
            });
            if let Some(k) = existing {
                return Ok(k.clone());
            }
        }
        let start = parse_dtz(
            body.get("start").filter(|v| !v.is_null()).ok_or_else(|| {
                GraphError::invalid_request(
                    "Your request can't be completed. The start time is required.",
                )
            })?,
            "start",
        )?;
        let end = parse_dtz(
            body.get("end").filter(|v| !v.is_null()).ok_or_else(|| {
                GraphError::invalid_request(
                    "Your request can't be completed. The end time is required.",
                )
            })?,
            "end",
        )?;
        let all_day = body
            .get("isAllDay")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        validate_times(&start, &end, all_day)?;
        let recurrence = match body.get("recurrence") {
            Some(r) if !r.is_null() => Some(recurrence::parse(r, start.zone)?),
            _ => None,
        };
        let extended = extended_from_body(&body)?;
        let (seq, ms) = self.stamp();
        let mut ev = draft_ev();
        ev.key = util::immutable_id(&mut self.rng);
        ev.rest_id = util::rest_id(&mut self.rng);
        ev.calendar = calendar.to_string();
        ev.account = account.to_string();
        ev.kind = if recurrence.is_some() {
            Kind::Master
        } else {
            Kind::Single
        };
        copy_client_fields(&body, &mut ev.fields);
        ev.start = start;
        ev.end = end;
        ev.all_day = all_day;
        ev.recurrence = recurrence;
        ev.ical_uid = util::new_ical_uid(&mut self.rng, ms);
        ev.transaction_id = txn;
        ev.extended = extended;
        ev.created_ms = ms;
        ev.modified_ms = ms;
        ev.change_key = util::change_key(&mut self.rng);
        ev.seq = seq;
        let key = ev.key.clone();
        self.register(&ev.key.clone(), Target::Stored(key.clone()));
        self.register(&ev.rest_id.clone(), Target::Stored(key.clone()));
        self.events.insert(key.clone(), ev);
        self.order.push(key.clone());
        self.notify_change(&key, "created");
        Ok(key)
    }

    /// An event organised by someone else (the mailbox is an attendee), for `cancel` tests.
    pub(crate) fn add_invitation(
        &mut self,
        account: &str,
        organizer: &str,
        body: &Value,
    ) -> GraphResult<String> {
        let cal = self.calendar_of(account, None)?;
        let key = self.create_event(account, &cal, body)?;
        if let Some(e) = self.events.get_mut(&key) {
            e.organizer = Some(json!({"name": organizer, "address": organizer}));
        }
        Ok(key)
    }

    /// `PATCH …/events/{id}`. Returns the key of the stored item now holding the data.
    pub(crate) fn patch_event(
        &mut self,
        account: &str,
        target: Target,
        body: &Value,
        if_match: Option<&str>,
    ) -> GraphResult<String> {
        let body = schema::check("event", body)?;
        match target {
            Target::Occurrence { master, orig } => {
                let ck = self
                    .events
                    .get(&master)
                    .map(|m| m.change_key.clone())
                    .unwrap_or_default();
                self.precondition(if_match, &ck)?;
                self.make_exception(account, &master, orig, &body)
            }
            Target::Stored(key) => {
                let ev = self
                    .events
                    .get(&key)
                    .cloned()
                    .ok_or_else(GraphError::item_not_found)?;
                self.precondition(if_match, &ev.change_key)?;
                match ev.kind {
                    Kind::Exception => self.patch_exception(ev, &body),
                    _ => self.patch_item(ev, &body),
                }
            }
        }
    }

    fn new_times(
        ev_start: Moment,
        ev_end: Moment,
        all_day: bool,
        body: &Value,
    ) -> GraphResult<(Moment, Moment, bool)> {
        let start = match body.get("start") {
            Some(v) if !v.is_null() => parse_dtz(v, "start")?,
            _ => ev_start,
        };
        let end = match body.get("end") {
            Some(v) if !v.is_null() => parse_dtz(v, "end")?,
            _ => ev_end,
        };
        let all_day = body
            .get("isAllDay")
            .and_then(Value::as_bool)
            .unwrap_or(all_day);
        validate_times(&start, &end, all_day)?;
        Ok((start, end, all_day))
    }

    fn make_exception(
        &mut self,
        account: &str,
        master_key: &str,
        orig: i64,
        body: &Value,
    ) -> GraphResult<String> {
        if body.get("recurrence").is_some_and(|r| !r.is_null()) {
            return Err(GraphError::invalid_request("The recurrence of an occurrence can't be changed; update the series master instead."));
        }
        let inst = self
            .instance_at(master_key, orig)
            .ok_or_else(GraphError::item_not_found)?;
        let m = self
            .events
            .get(master_key)
            .cloned()
            .ok_or_else(GraphError::item_not_found)?;
        let cur_start = Moment {
            local: inst.start_local,
            zone: m.start.zone,
        };
        let cur_end = Moment {
            local: inst.end_local,
            zone: m.end.zone,
        };
        let (start, end, all_day) = Self::new_times(cur_start, cur_end, m.all_day, body)?;
        if start.instant() != inst.start {
            self.check_crossing(master_key, orig, start.instant())?;
        }
        let (seq, ms) = self.stamp();
        let mut x = draft_ev();
        x.key = util::occurrence_id(&m.key, orig);
        x.rest_id = util::occurrence_id(&m.rest_id, orig);
        x.calendar = m.calendar.clone();
        x.account = account.to_string();
        x.kind = Kind::Exception;
        copy_client_fields(body, &mut x.fields);
        x.start = start;
        x.end = end;
        x.all_day = all_day;
        x.master = Some(master_key.to_string());
        x.orig = orig;
        x.ical_uid =
            util::occurrence_ical_uid(&m.ical_uid, instant_to_local(orig, m.start.zone.tz).date());
        x.transaction_id = m.transaction_id.clone();
        x.extended = extended_from_body(body)?;
        x.organizer = m.organizer.clone();
        x.created_ms = m.created_ms;
        x.modified_ms = ms;
        x.change_key = util::change_key(&mut self.rng);
        x.seq = seq;
        let key = x.key.clone();
        // A patched exception that was deleted earlier (or wiped) starts from scratch.
        self.events.remove(&key);
        self.order.retain(|k| k != &key);
        self.register(&x.key.clone(), Target::Stored(key.clone()));
        self.register(&x.rest_id.clone(), Target::Stored(key.clone()));
        self.events.insert(key.clone(), x);
        self.order.push(key.clone());
        self.exceptions
            .insert((master_key.to_string(), orig), key.clone());
        self.notify_change(&key, "updated");
        Ok(key)
    }

    fn patch_exception(&mut self, x: Ev, body: &Value) -> GraphResult<String> {
        if body.get("recurrence").is_some_and(|r| !r.is_null()) {
            return Err(GraphError::invalid_request("The recurrence of an occurrence can't be changed; update the series master instead."));
        }
        let (start, end, all_day) = Self::new_times(x.start, x.end, x.all_day, body)?;
        let master = x.master.clone().unwrap_or_default();
        if start.instant() != x.start.instant() {
            self.check_crossing(&master, x.orig, start.instant())?;
        }
        let ext = extended_from_body(body)?;
        let key = x.key.clone();
        if let Some(e) = self.events.get_mut(&key) {
            copy_client_fields(body, &mut e.fields);
            e.start = start;
            e.end = end;
            e.all_day = all_day;
            upsert_extended(&mut e.extended, ext);
        }
        self.bump(&key);
        self.notify_change(&key, "updated");
        Ok(key)
    }

    fn patch_item(&mut self, ev: Ev, body: &Value) -> GraphResult<String> {
        let (start, end, all_day) = Self::new_times(ev.start, ev.end, ev.all_day, body)?;
        let recurrence = match body.get("recurrence") {
            None => ev.recurrence.clone(),
            Some(Value::Null) => None,
            Some(r) => Some(recurrence::parse(r, start.zone)?),
        };
        let ext = extended_from_body(body)?;
        let key = ev.key.clone();
        let moved = start != ev.start || end != ev.end || all_day != ev.all_day;
        let rec_in_body = body.get("recurrence").is_some();
        let series_changed = ev.kind == Kind::Master && (rec_in_body || moved);
        let actually_changed = recurrence != ev.recurrence || moved;
        if let Some(e) = self.events.get_mut(&key) {
            copy_client_fields(body, &mut e.fields);
            e.start = start;
            e.end = end;
            e.all_day = all_day;
            e.kind = if recurrence.is_some() {
                Kind::Master
            } else {
                Kind::Single
            };
            e.recurrence = recurrence;
            upsert_extended(&mut e.extended, ext);
        }
        if series_changed {
            let wipe_all = match self.settings.recurrence_patch {
                RecurrencePatch::WipeExceptions => true,
                RecurrencePatch::WipeWhenChanged => actually_changed,
                RecurrencePatch::KeepMatching => false,
            };
            if wipe_all
                || actually_changed
                || self
                    .events
                    .get(&key)
                    .is_some_and(|e| e.kind != Kind::Master)
            {
                self.prune_exceptions(&key, wipe_all);
            }
        }
        self.bump(&key);
        self.notify_change(&key, "updated");
        Ok(key)
    }

    /// Drops a master's exceptions and deleted occurrences: all of them, or (`all == false`) those
    /// whose original start no longer belongs to the series.
    fn prune_exceptions(&mut self, master_key: &str, all: bool) {
        let Some(m) = self.events.get(master_key).cloned() else {
            return;
        };
        let keep =
            |st: &State, orig: i64| !all && m.kind == Kind::Master && st.is_occurrence(&m, orig);
        let cancelled: BTreeSet<i64> = m
            .cancelled
            .iter()
            .copied()
            .filter(|o| keep(self, *o))
            .collect();
        if let Some(e) = self.events.get_mut(master_key) {
            e.cancelled = cancelled;
        }
        let doomed: Vec<((String, i64), String)> = self
            .exceptions
            .iter()
            .filter(|((mk, o), _)| mk == master_key && !keep(self, *o))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((mk, orig), xk) in doomed {
            self.exceptions.remove(&(mk.clone(), orig));
            if self.events.get(&xk).is_some_and(|x| !x.deleted) {
                self.tombstone(&xk);
            }
            // The id names the plain occurrence again (if the series still has it).
            for id in [
                util::occurrence_id(&m.key, orig),
                util::occurrence_id(&m.rest_id, orig),
            ] {
                self.ids.insert(
                    id,
                    Target::Occurrence {
                        master: mk.clone(),
                        orig,
                    },
                );
            }
        }
    }

    fn tombstone(&mut self, key: &str) {
        let (seq, ms) = self.stamp();
        if let Some(e) = self.events.get_mut(key) {
            e.deleted = true;
            e.seq = seq;
            e.modified_ms = ms;
        }
        self.notify_change(key, "deleted");
    }

    /// `DELETE …/events/{id}` (and `cancel`).
    pub(crate) fn delete_event(
        &mut self,
        target: Target,
        if_match: Option<&str>,
    ) -> GraphResult<()> {
        match target {
            Target::Occurrence { master, orig } => {
                let ck = self
                    .events
                    .get(&master)
                    .map(|m| m.change_key.clone())
                    .unwrap_or_default();
                self.precondition(if_match, &ck)?;
                if let Some(m) = self.events.get_mut(&master) {
                    m.cancelled.insert(orig);
                }
                self.bump(&master);
                self.notify_occurrence_deleted(&master, orig);
                self.notify_change(&master, "updated");
            }
            Target::Stored(key) => {
                let ev = self
                    .events
                    .get(&key)
                    .cloned()
                    .ok_or_else(GraphError::item_not_found)?;
                self.precondition(if_match, &ev.change_key)?;
                match ev.kind {
                    Kind::Exception => {
                        let master = ev.master.clone().unwrap_or_default();
                        self.exceptions.remove(&(master.clone(), ev.orig));
                        self.tombstone(&key);
                        if let Some(m) = self.events.get_mut(&master) {
                            m.cancelled.insert(ev.orig);
                        }
                        self.bump(&master);
                        self.notify_change(&master, "updated");
                    }
                    Kind::Master => {
                        let exc: Vec<String> = self
                            .exceptions
                            .iter()
                            .filter(|((m, _), _)| m == &key)
                            .map(|(_, x)| x.clone())
                            .collect();
                        for x in exc {
                            self.tombstone(&x);
                        }
                        self.exceptions.retain(|(m, _), _| m != &key);
                        self.tombstone(&key);
                    }
                    Kind::Single => self.tombstone(&key),
                }
            }
        }
        Ok(())
    }

    /// Test hook: moves an event (single or series) to another calendar of the same mailbox. The
    /// REST id changes (old ids answer 404); the immutable id stays.
    pub(crate) fn move_event(&mut self, key: &str, calendar: &str) -> GraphResult<String> {
        let ev = self
            .events
            .get(key)
            .filter(|e| !e.deleted && e.kind != Kind::Exception)
            .cloned()
            .ok_or_else(GraphError::item_not_found)?;
        if self
            .calendars
            .get(calendar)
            .is_none_or(|c| c.owner != ev.account)
        {
            return Err(GraphError::item_not_found());
        }
        let old_rest = ev.rest_id.clone();
        self.ids.remove(&old_rest);
        // Occurrence and exception REST ids derive from the master's.
        self.ids.retain(|id, t| {
            !(id.starts_with("AAMkAG")
                && matches!(t, Target::Occurrence { master, .. } if master == key))
        });
        let new_rest = util::rest_id(&mut self.rng);
        let exc: Vec<(i64, String)> = self
            .exceptions
            .iter()
            .filter(|((m, _), _)| m == key)
            .map(|((_, o), x)| (*o, x.clone()))
            .collect();
        for (orig, xk) in exc {
            let old = util::occurrence_id(&old_rest, orig);
            self.ids.remove(&old);
            let new = util::occurrence_id(&new_rest, orig);
            self.ids.insert(new.clone(), Target::Stored(xk.clone()));
            if let Some(x) = self.events.get_mut(&xk) {
                x.rest_id = new;
                x.calendar = calendar.to_string();
            }
        }
        if let Some(e) = self.events.get_mut(key) {
            e.rest_id = new_rest.clone();
            e.calendar = calendar.to_string();
        }
        self.ids
            .insert(new_rest.clone(), Target::Stored(key.to_string()));
        self.bump(key);
        self.notify_change(key, "updated");
        Ok(new_rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn state() -> State {
        let mut s = State::new(OutlookEmulatorConfig::default(), "http://x/v1.0".into());
        s.add_account("a@example.com");
        s
    }

    fn weekly(s: &mut State) -> String {
        let cal = s.calendar_of("a@example.com", None).expect("cal");
        s.create_event(
            "a@example.com",
            &cal,
            &json!({"subject": "w", "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "Eastern Standard Time"}, "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "Eastern Standard Time"},
                "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, "range": {"type": "numbered", "startDate": "2027-03-01", "numberOfOccurrences": 4}}}),
        )
        .expect("created")
    }

    #[test]
    fn occurrences_follow_wall_clock_and_count() {
        let mut s = state();
        let k = weekly(&mut s);
        let inst = s.instances(&k, 0, i64::MAX / 4);
        let hours: Vec<u32> = inst
            .iter()
            .map(|i| instant_to_local(i.start, chrono_tz::UTC).hour())
            .collect();
        assert_eq!(hours, [14, 14, 13, 13]);
    }

    #[test]
    fn crossing_and_exceptions() {
        let mut s = state();
        let k = weekly(&mut s);
        let inst = s.instances(&k, 0, i64::MAX / 4);
        let t = Target::Occurrence {
            master: k.clone(),
            orig: inst[1].orig,
        };
        let moved = json!({"start": {"dateTime": "2027-03-15T09:00:00", "timeZone": "Eastern Standard Time"}, "end": {"dateTime": "2027-03-15T10:00:00", "timeZone": "Eastern Standard Time"}});
        let e = s
            .patch_event("a@example.com", t.clone(), &moved, None)
            .expect_err("crosses");
        assert_eq!(e.code, "ErrorOccurrenceCrossingBoundary");
        let x = s
            .patch_event("a@example.com", t, &json!({"subject": "x"}), None)
            .expect("exception");
        assert_eq!(s.events[&x].kind, Kind::Exception);
        assert_eq!(
            s.instances(&k, 0, i64::MAX / 4)[1].exception.as_deref(),
            Some(x.as_str())
        );
    }
}
