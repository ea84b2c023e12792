//! An iCalendar file read into series.
//!
//! The file is unfolded and checked line by line here (so a malformed file is refused with the
//! line at fault), then parsed by the `icalendar` crate's RFC 5545 parser, which yields each
//! property's parameters and raw value: RRULE text goes to the domain's own strict parser, never
//! through a lenient re-serialisation. Each VEVENT (a UID with its RECURRENCE-ID overrides) is then
//! built with the domain constructors `createSeries` and `editOccurrence` use, so it is either
//! valid by the same rules or reported in `skipped` with the reason; the rest still import.
//!
//! Readings, in RFC 5545 terms:
//! - **Zones**: `TZID=` an IANA name, or a TZID whose VTIMEZONE names one in `X-LIC-LOCATION`
//!   (Outlook's "W. Europe Standard Time" with `X-LIC-LOCATION:Europe/Berlin`). Any other TZID
//!   skips the event with the reason: zones are never guessed. `…Z` is UTC (the series expands in
//!   UTC); floating times and all-day dates are read in the calendar's zone.
//! - **DTSTART is an occurrence** (RFC 5545). Almanac does not count a DTSTART its rule does not
//!   generate, so such a DTSTART is added as an RDATE (COUNT still counts the rule's occurrences,
//!   as python-dateutil and recurring-ical-events do).
//! - **Length**: DURATION is kept as a duration; a DTEND in DTSTART's zone as a wall-clock end;
//!   a DTEND in another zone as the exact elapsed time. Zero-length events are skipped.
//! - **EXDATE** values that are DATEs on a timed series exclude every occurrence on that date;
//!   one that names the second pass of a repeated hour becomes a cancelled occurrence.
//! - **RDATE;VALUE=PERIOD** whose length differs from the event's becomes a moved occurrence.
//! - **Overrides**: `STATUS:CANCELLED` cancels the occurrence; otherwise new times, SUMMARY,
//!   DESCRIPTION, `STATUS:TENTATIVE`, `X-ALMANAC-KIND` and `X-ALMANAC-STATUS:COMPLETED` become
//!   the occurrence's exception. An override of a time the event does not generate adds it as an
//!   RDATE; one of an EXDATE'd time is ignored (reported). `RANGE=THISANDFUTURE` is not supported.

use almanac_domain::edit::{cancel_occurrence, modify_occurrence, occurrence_at, OccurrenceChange};
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::recurrence::{parse_duration, Length, Recurrence, Schedule};
use almanac_domain::series::{Calendar, OccurrenceStatus, Series, SeriesKind};
use almanac_domain::text::{description as check_description, single_line as check_text};
use almanac_domain::time::{instant, ZoneResolver};
use almanac_domain::SeriesId;
use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use icalendar::parser::{Component, Property};
use std::collections::HashMap;

/// The largest file accepted.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The most VEVENTs (masters and overrides) one file may hold.
pub const MAX_EVENTS: usize = 5_000;
/// The longest UID kept.
const MAX_UID_CHARS: usize = 1_000;
/// COUNT rules are expanded once when their schedule is built; the COUNTs of one file may add
/// up to this many occurrences (as many as one series may have), so that a file of thousands of
/// huge COUNTs cannot keep the server busy.
pub const MAX_TOTAL_COUNT: u64 = almanac_domain::rrule::MAX_COUNT as u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file is not an iCalendar document; nothing is imported.
    Malformed(String),
    /// Over [`MAX_BYTES`] or [`MAX_EVENTS`].
    TooLarge(String),
}

/// An event (or one override of it) that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub uid: Option<String>,
    /// Set when only one override was left out (the event itself was imported).
    pub recurrence_id: Option<RecurrenceId>,
    pub reason: String,
}

/// One VEVENT (with its overrides) as a series. Its id is a placeholder: the caller gives it the
/// id it will have (a new one, or the series an earlier import of the UID made).
#[derive(Debug, Clone)]
pub struct Imported {
    pub uid: String,
    pub series: Series,
}

#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    pub events: Vec<Imported>,
    pub skipped: Vec<Skipped>,
}

/// Reads `text` into series of `calendar`.
pub fn plan(text: &str, calendar: &Calendar) -> Result<ImportPlan, ImportError> {
    if text.len() > MAX_BYTES {
        return Err(ImportError::TooLarge(format!(
            "the file is {} bytes; at most {MAX_BYTES} bytes (1 MiB) are accepted",
            text.len()
        )));
    }
    let chunks = lines(text)?;
    let mut roots = Vec::new();
    for chunk in &chunks {
        let parsed = icalendar::parser::read_components(chunk)
            .map_err(|e| ImportError::Malformed(parser_message(&e)))?;
        roots.extend(parsed);
    }
    let mut zones: HashMap<String, Option<Tz>> = HashMap::new();
    let mut events: Vec<&Component<'_>> = Vec::new();
    let mut plan = ImportPlan::default();
    for root in &roots {
        for c in &root.components {
            match c.name.as_str() {
                "VTIMEZONE" => {
                    if let Some(id) = value(c, "TZID") {
                        let iana = id.parse::<Tz>().ok().or_else(|| {
                            value(c, "X-LIC-LOCATION").and_then(|l| l.trim().parse::<Tz>().ok())
                        });
                        zones.insert(id.to_string(), iana);
                    }
                }
                "VEVENT" => events.push(c),
                other => plan.skipped.push(Skipped {
                    uid: value(c, "UID").map(str::to_string),
                    recurrence_id: None,
                    reason: format!("{other} components are not imported (only VEVENTs are)"),
                }),
            }
        }
    }
    // Group by UID, in the order UIDs first appear.
    let mut order: Vec<String> = Vec::new();
    let mut by_uid: HashMap<String, Vec<&Component<'_>>> = HashMap::new();
    for e in events {
        match value(e, "UID").map(str::trim).filter(|u| !u.is_empty()) {
            None => plan.skipped.push(Skipped {
                uid: None,
                recurrence_id: None,
                reason: "a VEVENT without a UID".into(),
            }),
            Some(uid) if uid.chars().count() > MAX_UID_CHARS => plan.skipped.push(Skipped {
                uid: Some(uid.chars().take(80).collect()),
                recurrence_id: None,
                reason: format!("the UID is longer than {MAX_UID_CHARS} characters"),
            }),
            Some(uid) => {
                if !by_uid.contains_key(uid) {
                    order.push(uid.to_string());
                }
                by_uid.entry(uid.to_string()).or_default().push(e);
            }
        }
    }
    let ctx = Ctx {
        calendar,
        zones: &zones,
        count_budget: std::cell::Cell::new(MAX_TOTAL_COUNT),
    };
    for uid in order {
        let components = by_uid.remove(&uid).unwrap_or_default();
        match ctx.event(&uid, &components) {
            Ok((series, notes)) => {
                plan.skipped.extend(notes);
                plan.events.push(Imported { uid, series });
            }
            Err(reason) => plan.skipped.push(Skipped {
                uid: Some(uid),
                recurrence_id: None,
                reason,
            }),
        }
    }
    Ok(plan)
}

/// Unfolds the file and checks each content line; returns each top-level component (normally
/// one VCALENDAR) as unfolded text with CRLF line ends and upper-case names, ready for the parser.
fn lines(text: &str) -> Result<Vec<String>, ImportError> {
    let bad = |n: usize, what: String| ImportError::Malformed(format!("line {n}: {what}"));
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (first physical line number, unfolded content line)
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            match logical.last_mut() {
                Some((_, line)) => line.push_str(rest),
                None if rest.trim().is_empty() => {}
                None => {
                    return Err(bad(
                        i + 1,
                        "a continuation line (starting with a space) before any content line"
                            .into(),
                    ))
                }
            }
            continue;
        }
        if !raw.trim().is_empty() {
            logical.push((i + 1, raw.to_string()));
        }
    }
    if logical.is_empty() {
        return Err(ImportError::Malformed("the file is empty; expected an iCalendar (RFC 5545) document starting with BEGIN:VCALENDAR".into()));
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut events = 0usize;
    for (n, line) in logical {
        let Some(split) = name_end(&line) else {
            let shown: String = line.chars().take(60).collect();
            return Err(bad(
                n,
                format!("{shown:?} is not an iCalendar content line (NAME[;PARAM=…]:VALUE)"),
            ));
        };
        let name = line[..split].to_ascii_uppercase();
        let rest = &line[split..];
        let normalised = match name.as_str() {
            "BEGIN" | "END" => {
                let component = rest
                    .strip_prefix(':')
                    .map(|c| c.trim().to_ascii_uppercase())
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        bad(n, format!("{name} needs a component name ({name}:VEVENT)"))
                    })?;
                if name == "BEGIN" {
                    if stack.is_empty() && component != "VCALENDAR" {
                        return Err(bad(n, format!("BEGIN:{component} outside a VCALENDAR; an iCalendar file holds VCALENDAR objects")));
                    }
                    if component == "VEVENT" {
                        events += 1;
                        if events > MAX_EVENTS {
                            return Err(ImportError::TooLarge(format!(
                                "the file holds more than {MAX_EVENTS} VEVENTs"
                            )));
                        }
                    }
                    stack.push((component.clone(), n));
                } else {
                    match stack.pop() {
                        Some((open, _)) if open == component => {}
                        Some((open, at)) => {
                            return Err(bad(
                                n,
                                format!("END:{component} does not close BEGIN:{open} (line {at})"),
                            ))
                        }
                        None => return Err(bad(n, format!("END:{component} without a BEGIN"))),
                    }
                }
                format!("{name}:{component}")
            }
            _ => {
                if stack.is_empty() {
                    return Err(bad(
                        n,
                        format!("the property {name} is outside any component"),
                    ));
                }
                format!("{name}{rest}")
            }
        };
        current.push_str(&normalised);
        current.push_str("\r\n");
        if stack.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
    }
    if let Some((open, at)) = stack.pop() {
        return Err(bad(
            at,
            format!("BEGIN:{open} is never closed (END:{open})"),
        ));
    }
    Ok(chunks)
}

/// Where a content line's name ends (at `;` or `:`), when the line is one: a name of letters,
/// digits and dashes, parameters whose quoted values may hold `:`, then `:` and the value.
fn name_end(line: &str) -> Option<usize> {
    let end = line.find([';', ':'])?;
    if end == 0
        || !line[..end]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return None;
    }
    let mut quoted = false;
    for c in line[end..].chars() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some(end),
            _ => {}
        }
    }
    None
}

/// The first line of the parser's message, which names the line.
fn parser_message(e: &str) -> String {
    let first = e
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != "error:")
        .unwrap_or("unreadable");
    format!(
        "the file is not valid iCalendar (RFC 5545): {}",
        first.trim_start_matches("error: ")
    )
}

fn props<'a>(c: &'a Component<'a>, name: &'a str) -> impl Iterator<Item = &'a Property<'a>> + 'a {
    c.properties.iter().filter(move |p| p.name.as_str() == name)
}

fn prop<'a>(c: &'a Component<'a>, name: &'a str) -> Option<&'a Property<'a>> {
    props(c, name).next()
}

fn value<'a>(c: &'a Component<'a>, name: &'a str) -> Option<&'a str> {
    prop(c, name).map(|p| p.val.as_str())
}

fn param<'a>(p: &'a Property<'a>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

/// A DATE or DATE-TIME value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Date(NaiveDate),
    Floating(NaiveDateTime),
    Zoned(NaiveDateTime, Tz),
    Utc(i64),
}

/// The end of an RDATE period.
#[derive(Debug, Clone, Copy)]
enum PeriodEnd {
    At(Moment),
    For(Length),
}

struct Ctx<'a> {
    calendar: &'a Calendar,
    zones: &'a HashMap<String, Option<Tz>>,
    /// What is left of [`MAX_TOTAL_COUNT`].
    count_budget: std::cell::Cell<u64>,
}

/// How a series reads values: its zone and whether it is all-day.
struct Frame {
    zone: Tz,
    all_day: bool,
    resolver: ZoneResolver,
}

impl Frame {
    fn instant(&mut self, m: Moment) -> i64 {
        match m {
            Moment::Date(d) => self.resolver.instant_of(d.and_time(NaiveTime::MIN)),
            Moment::Floating(t) => self.resolver.instant_of(t),
            Moment::Zoned(t, tz) if tz == self.zone => self.resolver.instant_of(t),
            Moment::Zoned(t, tz) => ZoneResolver::new(tz).instant_of(t),
            Moment::Utc(t) => t,
        }
    }

    /// A value as the series' wall clock (midnight of its date for all-day series); `None` for an
    /// instant no wall-clock time reads back as (the second pass of a repeated hour).
    fn local(&mut self, m: Moment) -> Option<NaiveDateTime> {
        let l = match m {
            Moment::Date(d) => d.and_time(NaiveTime::MIN),
            Moment::Floating(t) => t,
            Moment::Zoned(t, tz) if tz == self.zone => t,
            _ => {
                let i = self.instant(m);
                let l = instant(i).with_timezone(&self.zone).naive_local();
                if !self.all_day && self.resolver.instant_of(l) != i {
                    return None;
                }
                l
            }
        };
        Some(if self.all_day {
            l.date().and_time(NaiveTime::MIN)
        } else {
            l
        })
    }

    /// A recurrence id: an instant (for all-day series, local midnight of its date).
    fn recurrence_id(&mut self, m: Moment) -> i64 {
        match (self.all_day, m) {
            (true, Moment::Date(_)) | (false, _) => self.instant(m),
            (true, _) => {
                let i = self.instant(m);
                let d = instant(i).with_timezone(&self.zone).date_naive();
                self.resolver.instant_of(d.and_time(NaiveTime::MIN))
            }
        }
    }
}

fn parse_moment(raw: &str, tz: Option<Tz>) -> Result<Moment, String> {
    let v = raw.trim();
    let bad = || format!("{v:?} is not a DATE (YYYYMMDD) or DATE-TIME (YYYYMMDDTHHMMSS[Z])");
    match v.len() {
        8 => NaiveDate::parse_from_str(v, "%Y%m%d")
            .map(Moment::Date)
            .map_err(|_| bad()),
        15 => {
            let t = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
            Ok(tz.map_or(Moment::Floating(t), |z| Moment::Zoned(t, z)))
        }
        16 if v.ends_with(['Z', 'z']) => NaiveDateTime::parse_from_str(&v[..15], "%Y%m%dT%H%M%S")
            .map(|t| Moment::Utc(t.and_utc().timestamp()))
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn parse_length(raw: &str) -> Result<Length, String> {
    let v = raw.trim();
    if v.starts_with('-') {
        return Err(format!("the duration {v:?} is negative"));
    }
    parse_duration(v.trim_start_matches('+')).map_err(|e| e.to_string())
}

impl Ctx<'_> {
    fn zone(&self, tzid: &str) -> Result<Tz, String> {
        match self.zones.get(tzid) {
            Some(Some(tz)) => Ok(*tz),
            Some(None) => Err(format!("the time zone {tzid:?} is not an IANA name and its VTIMEZONE names none in X-LIC-LOCATION; zones are not guessed")),
            None => tzid.trim().parse::<Tz>().map_err(|_| format!("the time zone {tzid:?} is not an IANA name and no VTIMEZONE in the file defines it")),
        }
    }

    fn tz_of(&self, p: &Property<'_>) -> Result<Option<Tz>, String> {
        param(p, "TZID").map(|z| self.zone(z)).transpose()
    }

    fn moment(&self, p: &Property<'_>) -> Result<Moment, String> {
        let tz = self.tz_of(p)?;
        parse_moment(p.val.as_str(), tz).map_err(|e| format!("{}: {e}", p.name.as_str()))
    }

    /// The values of an RDATE or EXDATE line (periods for RDATE;VALUE=PERIOD).
    fn moments(&self, p: &Property<'_>) -> Result<Vec<(Moment, Option<PeriodEnd>)>, String> {
        let tz = self.tz_of(p)?;
        let name = p.name.as_str();
        p.val
            .as_str()
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(|v| match v.split_once('/') {
                None => parse_moment(v, tz).map(|m| (m, None)),
                Some((a, b)) => {
                    let start = parse_moment(a, tz)?;
                    let end = if b.trim_start().starts_with(['P', 'p', '+', '-']) {
                        PeriodEnd::For(parse_length(b)?)
                    } else {
                        PeriodEnd::At(parse_moment(b, tz)?)
                    };
                    Ok((start, Some(end)))
                }
            })
            .collect::<Result<_, String>>()
            .map_err(|e| format!("{name}: {e}"))
    }

    /// One UID: its master VEVENT and overrides → a series, plus notes on overrides left out.
    fn event(
        &self,
        uid: &str,
        components: &[&Component<'_>],
    ) -> Result<(Series, Vec<Skipped>), String> {
        let (overrides, masters): (Vec<&Component<'_>>, Vec<&Component<'_>>) = components
            .iter()
            .partition(|c| prop(c, "RECURRENCE-ID").is_some());
        let master = match masters.as_slice() {
            [m] => *m,
            [] => {
                return Err(
                    "only overrides (RECURRENCE-ID) and no recurring VEVENT they belong to".into(),
                )
            }
            _ => return Err("more than one VEVENT without RECURRENCE-ID for this UID".into()),
        };
        if prop(master, "EXRULE").is_some() {
            return Err("EXRULE is not supported (RFC 5545 removed it)".into());
        }
        if value(master, "STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")) {
            return Err("the event is cancelled (STATUS:CANCELLED)".into());
        }
        let dtstart = self.moment(prop(master, "DTSTART").ok_or("no DTSTART")?)?;
        let (zone, all_day, start) = match dtstart {
            Moment::Date(d) => (self.calendar.time_zone, true, d.and_time(NaiveTime::MIN)),
            Moment::Floating(t) => (self.calendar.time_zone, false, t),
            Moment::Zoned(t, tz) => (tz, false, t),
            Moment::Utc(t) => (Tz::UTC, false, instant(t).naive_utc()),
        };
        let mut f = Frame {
            zone,
            all_day,
            resolver: ZoneResolver::new(zone),
        };
        let length = self.length(master, dtstart, &mut f)?;

        let rrules: Vec<&Property<'_>> = props(master, "RRULE").collect();
        if rrules.len() > 1 {
            return Err("more than one RRULE (RFC 5545 allows one)".into());
        }
        let rrule = rrules.first().map(|p| p.val.as_str().to_string());
        if let Some(count) = rrule
            .as_deref()
            .and_then(|r| almanac_domain::rrule::parse_rule(r).ok())
            .and_then(|r| r.count())
        {
            let left = self.count_budget.get();
            if u64::from(count) > left {
                return Err(format!("its COUNT ({count}) would take the file's COUNTs past {MAX_TOTAL_COUNT} occurrences; import the file in parts"));
            }
            self.count_budget.set(left - u64::from(count));
        }
        let mut rdates: Vec<NaiveDateTime> = Vec::new();
        let mut periods: Vec<(i64, i64)> = Vec::new();
        for p in props(master, "RDATE") {
            for (m, end) in self.moments(p)? {
                if !all_day && matches!(m, Moment::Date(_)) {
                    return Err("RDATE is a DATE but DTSTART a DATE-TIME".into());
                }
                let local = f.local(m).ok_or_else(|| "an RDATE falls in the second pass of a repeated hour, which a wall-clock RDATE cannot name".to_string())?;
                rdates.push(local);
                if let Some(end) = end {
                    let s = f.instant(m);
                    let e = match end {
                        PeriodEnd::At(e) => f.instant(e),
                        PeriodEnd::For(l) => end_after(&mut f, s, l),
                    };
                    periods.push((s, e));
                }
            }
        }
        let mut exdates: Vec<NaiveDateTime> = Vec::new();
        let mut exdate_days: Vec<NaiveDate> = Vec::new();
        let mut cancelled: Vec<i64> = Vec::new();
        for p in props(master, "EXDATE") {
            for (m, _) in self.moments(p)? {
                match (all_day, m) {
                    (false, Moment::Date(d)) => exdate_days.push(d),
                    _ => match f.local(m) {
                        Some(l) => exdates.push(l),
                        None => cancelled.push(f.instant(m)),
                    },
                }
            }
        }
        let dtstart_rid = f.recurrence_id(dtstart);
        let has_recurrence = rrule.is_some() || !rdates.is_empty();
        if !has_recurrence
            && (exdates.contains(&start)
                || cancelled.contains(&dtstart_rid)
                || exdate_days.contains(&start.date()))
        {
            return Err("its only occurrence is excluded by its own EXDATE".into());
        }
        let build = |rdates: &[NaiveDateTime],
                     exdates: &[NaiveDateTime],
                     recurring: bool|
         -> Result<Schedule, String> {
            let recurrence = if recurring {
                Some(
                    Recurrence::parse(rrule.as_deref(), rdates.to_vec(), exdates.to_vec())
                        .map_err(|e| e.to_string())?,
                )
            } else {
                None
            };
            Schedule::new(start, zone, length, all_day, recurrence).map_err(|e| e.to_string())
        };
        let first = build(
            &rdates,
            if has_recurrence { &exdates } else { &[] },
            has_recurrence,
        )?;

        // DATE exclusions of a timed series: every occurrence on that local date.
        let mut changed = false;
        for d in exdate_days {
            let (a, b) = (
                f.instant(Moment::Date(d)),
                d.succ_opt()
                    .map_or(i64::MAX, |n| f.instant(Moment::Date(n))),
            );
            for inst in first.instances_from(a).take_while(|i| i.start < b) {
                exdates.push(instant(inst.local).naive_utc());
                changed = true;
            }
        }
        // RFC 5545 counts DTSTART as an occurrence; Almanac only when the rule generates it.
        if has_recurrence
            && first
                .first_rule_instance_from(dtstart_rid)
                .is_none_or(|i| i.start != dtstart_rid)
            && !rdates.contains(&start)
        {
            rdates.push(start);
            changed = true;
        }
        // Overrides by recurrence id; of two for one occurrence, the higher SEQUENCE (then the
        // later one in the file) wins.
        let mut ordered: Vec<(i64, i64, usize, &Component<'_>)> = Vec::new();
        for (i, o) in overrides.iter().enumerate() {
            let rid_prop = prop(o, "RECURRENCE-ID").ok_or("an override without RECURRENCE-ID")?;
            if param(rid_prop, "RANGE").is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE")) {
                return Err("overrides with RANGE=THISANDFUTURE are not supported".into());
            }
            let m = self.moment(rid_prop)?;
            if !all_day && matches!(m, Moment::Date(_)) {
                return Err("a RECURRENCE-ID is a DATE but DTSTART a DATE-TIME".into());
            }
            let seq = value(o, "SEQUENCE")
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or(0);
            ordered.push((f.recurrence_id(m), seq, i, o));
        }
        ordered.sort_by_key(|(rid, seq, i, _)| (*rid, *seq, *i));
        ordered.reverse();
        ordered.dedup_by_key(|(rid, ..)| *rid);
        ordered.reverse();
        let mut notes = Vec::new();
        let exdate_instants: Vec<i64> = exdates
            .iter()
            .map(|d| f.instant(Moment::Floating(*d)))
            .collect();
        let excluded = |rid: i64| exdate_instants.contains(&rid) || cancelled.contains(&rid);
        let mut recurring = has_recurrence;
        for (rid, ..) in &ordered {
            if first.instance_at(*rid).is_some() || excluded(*rid) {
                continue;
            }
            let local = f.local(Moment::Utc(*rid)).ok_or_else(|| "an override's RECURRENCE-ID falls in the second pass of a repeated hour, which a wall-clock RDATE cannot name".to_string())?;
            if !rdates.contains(&local) {
                if !recurring {
                    // A single event with an override of another time: both are occurrences.
                    rdates.push(start);
                    recurring = true;
                }
                rdates.push(local);
                changed = true;
            }
        }
        let schedule = if changed || recurring != has_recurrence {
            build(&rdates, &exdates, recurring)?
        } else {
            first
        };

        let kind = match value(master, "X-ALMANAC-KIND").map(str::trim) {
            None => SeriesKind::Event,
            Some(k) => SeriesKind::parse(&k.to_ascii_uppercase()).ok_or_else(|| {
                format!("X-ALMANAC-KIND {k:?} is not EVENT, BLOCKED or AVAILABLE")
            })?,
        };
        let title = check_text(
            "title",
            value(master, "SUMMARY")
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("(no title)"),
            500,
            true,
        )
        .map_err(|e| e.to_string())?;
        let description = check_description(value(master, "DESCRIPTION").map(str::to_string))
            .map_err(|e| e.to_string())?;
        let transparent =
            value(master, "TRANSP").is_some_and(|t| t.trim().eq_ignore_ascii_case("TRANSPARENT"));
        let mut series = Series::new(
            SeriesId::from_uuid(uuid::Uuid::now_v7()),
            self.calendar.organization,
            self.calendar.id,
            kind,
            title,
            description,
            schedule,
            1,
        )
        .shown_as(transparent);

        for &rid in &cancelled {
            if series.schedule().instance_at(rid).is_some() {
                series =
                    cancel_occurrence(&series, RecurrenceId(rid)).map_err(|e| e.to_string())?;
            }
        }
        for (s, e) in periods {
            let Some(occ) = occurrence_at(&series, RecurrenceId(s)) else {
                continue;
            };
            if occ.end.timestamp() != e {
                let change = OccurrenceChange {
                    start: Some(s),
                    end: Some(e),
                    ..Default::default()
                };
                series = modify_occurrence(&series, RecurrenceId(s), &change).map_err(|err| {
                    format!(
                        "the RDATE period at {}: {err}",
                        instant(s).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })?;
            }
        }
        for (rid, _, _, o) in ordered {
            let at = RecurrenceId(rid);
            let when = instant(rid).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if excluded(rid) {
                notes.push(Skipped {
                    uid: Some(uid.to_string()),
                    recurrence_id: Some(at),
                    reason: format!(
                        "the override of {when} was ignored: EXDATE excludes that occurrence"
                    ),
                });
                continue;
            }
            if value(o, "STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")) {
                series = cancel_occurrence(&series, at)
                    .map_err(|e| format!("the override of {when}: {e}"))?;
                continue;
            }
            let change = self
                .override_change(o, &series, at, &mut f)
                .map_err(|e| format!("the override of {when}: {e}"))?;
            if let Some(change) = change {
                series = modify_occurrence(&series, at, &change)
                    .map_err(|e| format!("the override of {when}: {e}"))?;
            }
        }
        series.version = 1;
        Ok((series, notes))
    }

    /// The master's length: DTEND or DURATION.
    fn length(
        &self,
        master: &Component<'_>,
        dtstart: Moment,
        f: &mut Frame,
    ) -> Result<Length, String> {
        match (prop(master, "DTEND"), prop(master, "DURATION")) {
            (Some(_), Some(_)) => Err("both DTEND and DURATION (RFC 5545 allows one)".into()),
            (Some(p), None) => {
                let end = self.moment(p)?;
                let length = match (dtstart, end) {
                    (Moment::Date(a), Moment::Date(b)) => Length::Duration {
                        days: (b - a).num_days(),
                        seconds: 0,
                    },
                    (Moment::Date(_), _) => {
                        return Err("DTSTART is a DATE but DTEND a DATE-TIME".into())
                    }
                    (_, Moment::Date(_)) => {
                        return Err("DTSTART is a DATE-TIME but DTEND a DATE".into())
                    }
                    (Moment::Floating(a), Moment::Floating(b)) => Length::WallClock {
                        seconds: (b - a).num_seconds(),
                    },
                    (Moment::Zoned(a, x), Moment::Zoned(b, y)) if x == y => Length::WallClock {
                        seconds: (b - a).num_seconds(),
                    },
                    (Moment::Utc(a), Moment::Utc(b)) => Length::WallClock { seconds: b - a },
                    (a, b) => Length::Duration {
                        days: 0,
                        seconds: f.instant(b) - f.instant(a),
                    },
                };
                match length {
                    Length::Duration { days, seconds } if days <= 0 && seconds <= 0 => {
                        Err("DTEND is not after DTSTART (Almanac has no zero-length events)".into())
                    }
                    Length::WallClock { seconds } if seconds <= 0 => {
                        Err("DTEND is not after DTSTART (Almanac has no zero-length events)".into())
                    }
                    l => Ok(l),
                }
            }
            (None, Some(p)) => {
                let l = parse_length(p.val.as_str()).map_err(|e| format!("DURATION: {e}"))?;
                match l {
                    Length::Duration { seconds, .. } if f.all_day && seconds != 0 => {
                        Err("an all-day event's DURATION must be whole days (P1D)".into())
                    }
                    Length::Duration {
                        days: 0,
                        seconds: 0,
                    } => Err("DURATION is zero (Almanac has no zero-length events)".into()),
                    l => Ok(l),
                }
            }
            (None, None) if f.all_day => Ok(Length::Duration {
                days: 1,
                seconds: 0,
            }),
            (None, None) => Err(
                "no DTEND or DURATION: a zero-length event, which Almanac does not store".into(),
            ),
        }
    }

    /// What an override changes about its occurrence; `None` when it changes nothing.
    fn override_change(
        &self,
        o: &Component<'_>,
        series: &Series,
        at: RecurrenceId,
        f: &mut Frame,
    ) -> Result<Option<OccurrenceChange>, String> {
        let occ = occurrence_at(series, at).ok_or("the event has no such occurrence")?;
        let (slot_start, slot_end) = (occ.start.timestamp(), occ.end.timestamp());
        let start = match prop(o, "DTSTART") {
            Some(p) => {
                let m = self.moment(p)?;
                f.instant(m)
            }
            None => slot_start,
        };
        let end = match (prop(o, "DTEND"), prop(o, "DURATION")) {
            (Some(p), _) => {
                let m = self.moment(p)?;
                f.instant(m)
            }
            (None, Some(p)) => end_after(
                f,
                start,
                parse_length(p.val.as_str()).map_err(|e| format!("DURATION: {e}"))?,
            ),
            (None, None) => start + (slot_end - slot_start),
        };
        let mut change = OccurrenceChange::default();
        if (start, end) != (slot_start, slot_end) {
            change.start = Some(start);
            change.end = Some(end);
        }
        if let Some(t) =
            value(o, "SUMMARY").filter(|t| !t.trim().is_empty() && t.trim() != series.title)
        {
            change.title = Some(check_text("title", t, 500, true).map_err(|e| e.to_string())?);
        }
        if let Some(d) = value(o, "DESCRIPTION") {
            let d = check_description(Some(d.to_string())).map_err(|e| e.to_string())?;
            if d != series.description {
                change.description = Some(d);
            }
        }
        if let Some(k) = value(o, "X-ALMANAC-KIND").map(str::trim) {
            let k = SeriesKind::parse(&k.to_ascii_uppercase()).ok_or_else(|| {
                format!("X-ALMANAC-KIND {k:?} is not EVENT, BLOCKED or AVAILABLE")
            })?;
            if k != series.kind {
                change.kind = Some(k);
            }
        }
        let completed = value(o, "X-ALMANAC-STATUS")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("COMPLETED"));
        let tentative =
            value(o, "STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("TENTATIVE"));
        change.status = if completed {
            Some(OccurrenceStatus::Completed)
        } else if tentative {
            Some(OccurrenceStatus::Tentative)
        } else {
            None
        };
        let unchanged = change.start.is_none()
            && change.title.is_none()
            && change.description.is_none()
            && change.kind.is_none()
            && change.status.is_none();
        Ok((!unchanged).then_some(change))
    }
}

/// `start` plus a length in the series' zone: nominal days on its wall clock, then exact time.
fn end_after(f: &mut Frame, start: i64, length: Length) -> i64 {
    match length {
        Length::Duration { days: 0, seconds } => start + seconds,
        Length::Duration { days, seconds } => {
            let local = instant(start).with_timezone(&f.zone).naive_local() + Duration::days(days);
            f.resolver.instant_of(local).max(start) + seconds
        }
        Length::WallClock { seconds } => {
            let local =
                instant(start).with_timezone(&f.zone).naive_local() + Duration::seconds(seconds);
            f.resolver.instant_of(local).max(start + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use almanac_domain::availability::AvailabilityMode;
    use almanac_domain::edit::{split, tail_schedule, SeriesFields};
    use almanac_domain::occurrence::occurrences_page;
    use almanac_domain::time::TimeWindow;
    use almanac_domain::{CalendarId, OrganizationId};
    use chrono::DateTime;

    fn calendar(zone: Tz) -> Calendar {
        Calendar {
            id: CalendarId::from_uuid(uuid::Uuid::now_v7()),
            organization: OrganizationId::DEFAULT,
            name: "c".into(),
            time_zone: zone,
            availability: AvailabilityMode::Default {
                working_hours: None,
            },
        }
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .unwrap_or_default()
    }

    /// (start, end, title, status) of every occurrence in the window, cancelled ones included.
    fn shown(
        series: &[Series],
        from: &str,
        to: &str,
    ) -> Vec<(String, String, String, OccurrenceStatus)> {
        let window = TimeWindow::new(instant(ts(from)), instant(ts(to))).expect("window");
        let titles: HashMap<SeriesId, &str> =
            series.iter().map(|s| (s.id, s.title.as_str())).collect();
        occurrences_page(series.iter(), window, None, 100_000, true)
            .occurrences
            .into_iter()
            .map(|o| {
                (
                    o.start.to_rfc3339(),
                    o.end.to_rfc3339(),
                    o.title
                        .clone()
                        .unwrap_or_else(|| titles[&o.series].to_string()),
                    o.status,
                )
            })
            .collect::<Vec<_>>()
    }

    fn import(doc: &str, cal: &Calendar) -> ImportPlan {
        plan(doc, cal).expect("a valid file")
    }

    fn ics(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
    }

    fn visible(
        v: Vec<(String, String, String, OccurrenceStatus)>,
    ) -> Vec<(String, String, String, OccurrenceStatus)> {
        v.into_iter()
            .filter(|o| o.3 != OccurrenceStatus::Cancelled)
            .collect()
    }

    #[test]
    fn export_then_import_keeps_every_occurrence() {
        let ny = chrono_tz::America::New_York;
        let cal = calendar(ny);
        let fixture = ics("BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART;TZID=America/New_York:20260302T090000\r\nDTEND;TZID=America/New_York:20260302T094500\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=30\r\nEXDATE;TZID=America/New_York:20260306T090000\r\nRDATE:20260307T170000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;TZID=America/New_York:20260304T090000\r\nDTSTART:20260304T200000Z\r\nDTEND:20260304T210000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;TZID=America/New_York:20260311T090000\r\nDTSTART;TZID=America/New_York:20260311T090000\r\nDURATION:PT45M\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;TZID=America/New_York:20260313T090000\r\nSTATUS:TENTATIVE\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:monthly\r\nDTSTART;TZID=Europe/Berlin:20260110T170000\r\nDURATION:PT1H30M\r\nRRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20261231T000000Z\r\nSUMMARY:Review\r\nX-ALMANAC-KIND:BLOCKED\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:allday\r\nDTSTART;VALUE=DATE:20260704\r\nDTEND;VALUE=DATE:20260706\r\nRRULE:FREQ=YEARLY;UNTIL=20290704T000000Z\r\nSUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:floating\r\nDTSTART:20260901T080000\r\nDTEND:20260901T083000\r\nSUMMARY:Floating\r\nEND:VEVENT\r\n");
        let first = import(&fixture, &cal);
        assert!(first.skipped.is_empty(), "{:?}", first.skipped);
        let a: Vec<Series> = first.events.iter().map(|e| e.series.clone()).collect();
        let exported = crate::ics::export::calendar(&cal, &a, chrono::Utc::now());
        let second = import(&exported, &cal);
        assert!(second.skipped.is_empty(), "{:?}", second.skipped);
        let b: Vec<Series> = second.events.iter().map(|e| e.series.clone()).collect();
        let (from, to) = ("2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z");
        let before = shown(&a, from, to);
        assert_eq!(
            visible(before.clone()),
            visible(shown(&b, from, to)),
            "\n{exported}"
        );
        // Cancelled occurrences are exported as EXDATEs: still not shown, still count for COUNT.
        assert_eq!(
            before
                .iter()
                .filter(|o| o.3 == OccurrenceStatus::Cancelled)
                .count(),
            1
        );
        // The DTSTART the monthly rule does not generate (Saturday 10 January) is an occurrence.
        assert!(
            before
                .iter()
                .any(|o| o.0 == "2026-01-10T16:00:00+00:00" && o.2 == "Review"),
            "{before:?}"
        );
        assert!(before
            .iter()
            .any(|o| o.0 == "2026-03-04T20:00:00+00:00" && o.2 == "Moved"));
        assert!(before
            .iter()
            .any(|o| o.0 == "2026-03-13T13:00:00+00:00" && o.3 == OccurrenceStatus::Tentative));
        // UNTIL=20290704T000000Z is 2029-07-03 20:00 in New York: 2029's holiday is not included.
        assert_eq!(
            before.iter().filter(|o| o.2 == "Holiday").count(),
            3,
            "{before:?}"
        );
        assert!(b.iter().any(|s| s.transparent && s.schedule().all_day()));
        assert!(b.iter().any(|s| s.kind == SeriesKind::Blocked));
        assert_eq!(
            a.iter()
                .find(|s| s.title == "Floating")
                .map(|s| s.schedule().zone()),
            Some(ny),
            "floating times are read in the calendar's zone"
        );
    }

    #[test]
    fn splits_survive_the_round_trip() {
        let ber = chrono_tz::Europe::Berlin;
        let cal = calendar(ber);
        let a = import(&ics("BEGIN:VEVENT\r\nUID:d\r\nDTSTART;TZID=Europe/Berlin:20260320T090000\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=20\r\nSUMMARY:Daily\r\nEND:VEVENT\r\n"), &cal).events.remove(0).series;
        let at = RecurrenceId(ts("2026-03-30T07:00:00Z"));
        let tail = tail_schedule(&a, at).expect("tail");
        let tail = almanac_domain::edit::reschedule(
            &tail,
            Some(tail.start() + Duration::hours(2)),
            None,
            None,
            None,
        )
        .expect("shifted");
        let fields = SeriesFields {
            title: Some("Later".into()),
            ..Default::default()
        };
        let (outcome, _) = split(
            &a,
            at,
            tail,
            &fields,
            SeriesId::from_uuid(uuid::Uuid::now_v7()),
        )
        .expect("split");
        let almanac_domain::edit::SplitOutcome::Split {
            original,
            continuation,
        } = outcome
        else {
            panic!("a split")
        };
        let series = vec![original, continuation];
        let doc = crate::ics::export::calendar(&cal, &series, chrono::Utc::now());
        let back: Vec<Series> = import(&doc, &cal)
            .events
            .into_iter()
            .map(|e| e.series)
            .collect();
        assert_eq!(back.len(), 2);
        let (from, to) = ("2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z");
        assert_eq!(shown(&series, from, to), shown(&back, from, to));
        assert_eq!(shown(&back, from, to).len(), 20);
    }

    #[test]
    fn zones_are_iana_names_or_named_by_x_lic_location_and_never_guessed() {
        let cal = calendar(chrono_tz::UTC);
        let doc = ics("BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nX-LIC-LOCATION:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VTIMEZONE\r\nTZID:Custom Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:outlook\r\nDTSTART;TZID=W. Europe Standard Time:20260105T090000\r\nDTEND;TZID=W. Europe Standard Time:20260105T100000\r\nSUMMARY:a\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:custom\r\nDTSTART;TZID=Custom Zone:20260105T090000\r\nDTEND;TZID=Custom Zone:20260105T100000\r\nSUMMARY:b\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:windows\r\nDTSTART;TZID=Eastern Standard Time:20260105T090000\r\nDTEND;TZID=Eastern Standard Time:20260105T100000\r\nSUMMARY:c\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:iana\r\nDTSTART;TZID=Asia/Kolkata:20260105T090000\r\nDTEND;TZID=Asia/Kolkata:20260105T100000\r\nSUMMARY:d\r\nEND:VEVENT\r\n");
        let p = import(&doc, &cal);
        let zones: Vec<(&str, Tz)> = p
            .events
            .iter()
            .map(|e| (e.uid.as_str(), e.series.schedule().zone()))
            .collect();
        assert_eq!(
            zones,
            [
                ("outlook", chrono_tz::Europe::Berlin),
                ("iana", chrono_tz::Asia::Kolkata)
            ]
        );
        let skipped: Vec<(&str, &str)> = p
            .skipped
            .iter()
            .map(|s| (s.uid.as_deref().unwrap_or(""), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped[0].0 == "custom"
                && skipped[0].1.contains("\"Custom Zone\"")
                && skipped[0].1.contains("X-LIC-LOCATION"),
            "{skipped:?}"
        );
        assert!(
            skipped[1].0 == "windows" && skipped[1].1.contains("not an IANA name"),
            "{skipped:?}"
        );
    }

    #[test]
    fn unusable_events_are_skipped_with_reasons() {
        let cal = calendar(chrono_tz::UTC);
        let ev = |uid: &str, body: &str| {
            format!("BEGIN:VEVENT\r\nUID:{uid}\r\n{body}SUMMARY:x\r\nEND:VEVENT\r\n")
        };
        let doc = ics(&[
            ev("bad-rule", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;INTERVAL=0\r\n"),
            ev("lenient-parsers-drop-this", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=0\r\n"),
            ev("unknown-part", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;BYFOO=1\r\n"),
            ev("zero", "DTSTART:20260105T090000Z\r\n"),
            ev("both", "DTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nDURATION:PT1H\r\n"),
            ev("backwards", "DTSTART:20260105T090000Z\r\nDTEND:20260105T080000Z\r\n"),
            ev("no-start", "DURATION:PT1H\r\n"),
            ev("bad-date", "DTSTART:2026-01-05\r\nDURATION:PT1H\r\n"),
            ev("exrule", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY\r\nEXRULE:FREQ=WEEKLY\r\n"),
            ev("cancelled", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nSTATUS:CANCELLED\r\n"),
            ev("fine", "DTSTART:20260105T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=2\r\n"),
            "BEGIN:VTODO\r\nUID:todo\r\nSUMMARY:t\r\nEND:VTODO\r\n".to_string(),
        ]
        .concat());
        let p = import(&doc, &cal);
        assert_eq!(
            p.events.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>(),
            ["fine"]
        );
        let reasons: HashMap<&str, &str> = p
            .skipped
            .iter()
            .map(|s| (s.uid.as_deref().unwrap_or(""), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 11, "{reasons:?}");
        assert!(reasons["bad-rule"].contains("INTERVAL"), "{reasons:?}");
        assert!(
            reasons["lenient-parsers-drop-this"].contains("COUNT"),
            "{reasons:?}"
        );
        assert!(reasons["unknown-part"].contains("BYFOO"), "{reasons:?}");
        assert!(reasons["zero"].contains("zero-length"), "{reasons:?}");
        assert!(reasons["todo"].contains("VTODO"), "{reasons:?}");
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        let cal = calendar(chrono_tz::UTC);
        let cases = [
            ("", "empty"),
            ("hello world\r\n", "line 1"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n", "line 2: BEGIN:VEVENT is never closed"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", "line 4: END:VTODO does not close BEGIN:VEVENT"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\njunk without a colon\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 4"),
            ("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n", "outside a VCALENDAR"),
            ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nUID:a\r\n", "outside any component"),
        ];
        for (doc, want) in cases {
            match plan(doc, &cal) {
                Err(ImportError::Malformed(m)) => assert!(m.contains(want), "{doc:?}: {m}"),
                other => panic!("{doc:?}: {other:?}"),
            }
        }
        // Folded lines, lower-case names, LF line ends and two VCALENDARs are fine.
        let ok = "begin:vcalendar\nbegin:vevent\nuid:a\ndtstart:20260105T090000Z\nduration:PT1H\nsummary:a long\n  title\nend:vevent\nend:vcalendar\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
        let p = plan(ok, &cal).expect("valid");
        assert_eq!(p.events[0].series.title, "a long title");
        assert!(matches!(
            plan(&"x".repeat(MAX_BYTES + 1), &cal),
            Err(ImportError::TooLarge(_))
        ));
        let many = ics(&"BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n".repeat(MAX_EVENTS + 1));
        assert!(matches!(plan(&many, &cal), Err(ImportError::TooLarge(_))));
    }

    /// Mangled files (bytes replaced, lines cut, dropped or repeated) never panic: each is either
    /// refused as malformed or imported with reasons for what was skipped.
    #[test]
    fn no_input_panics() {
        let fixtures = [
            include_str!("../../../tests/data/ics/google-export.ics"),
            include_str!("../../../tests/data/ics/outlook-and-friends.ics"),
        ];
        let cal = calendar(chrono_tz::Europe::Berlin);
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let alphabet: Vec<char> = ":;,=\"\\/ \r\nZTP-+019ABCDEFGHIJKLMNOPQRSTUVWXYZ\u{e9}\u{1f382}"
            .chars()
            .collect();
        for round in 0..1500 {
            let base = fixtures[round % 2];
            let mut lines: Vec<String> = base.split("\r\n").map(str::to_string).collect();
            for _ in 0..1 + next(4) {
                let i = next(lines.len());
                match next(4) {
                    0 => {
                        let mut chars: Vec<char> = lines[i].chars().collect();
                        let at = next(chars.len() + 1);
                        chars.insert(at, alphabet[next(alphabet.len())]);
                        lines[i] = chars.into_iter().collect();
                    }
                    1 => {
                        let cut = next(lines[i].chars().count() + 1);
                        lines[i] = lines[i].chars().take(cut).collect();
                    }
                    2 => {
                        lines.remove(i);
                    }
                    _ => {
                        let l = lines[i].clone();
                        lines.insert(i, l);
                    }
                }
            }
            let doc = lines.join("\r\n");
            let _ = plan(&doc, &cal);
        }
    }

    #[test]
    fn the_counts_of_one_file_are_bounded() {
        let cal = calendar(chrono_tz::UTC);
        let ev = |i: usize, count: u64| {
            format!("BEGIN:VEVENT\r\nUID:e{i}\r\nDTSTART:20260105T090000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=MINUTELY;COUNT={count}\r\nSUMMARY:x\r\nEND:VEVENT\r\n")
        };
        let doc = ics(&[
            ev(0, 600_000),
            ev(1, 300_000),
            ev(2, 200_000),
            ev(3, 100_000),
        ]
        .concat());
        let p = import(&doc, &cal);
        assert_eq!(
            p.events.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>(),
            ["e0", "e1", "e3"]
        );
        assert!(
            p.skipped[0].uid.as_deref() == Some("e2") && p.skipped[0].reason.contains("in parts"),
            "{:?}",
            p.skipped
        );
    }

    #[test]
    fn google_style_exports_import() {
        // All-day with UNTIL as an instant, EXDATE;VALUE=DATE on a timed event, an override of a
        // time the rule does not generate, and an override of an EXDATE'd one.
        let ber = chrono_tz::Europe::Berlin;
        let cal = calendar(ber);
        let doc = ics("BEGIN:VEVENT\r\nUID:g1\r\nDTSTART;VALUE=DATE:20260105\r\nDTEND;VALUE=DATE:20260106\r\nRRULE:FREQ=WEEKLY;UNTIL=20260302T000000Z;BYDAY=MO\r\nSUMMARY:Mondays\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:g2\r\nDTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T110000\r\nRRULE:FREQ=DAILY;COUNT=5\r\nEXDATE;VALUE=DATE:20260107\r\nEXDATE;TZID=Europe/Berlin:20260108T100000\r\nSUMMARY:Daily\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:g2\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260110T100000\r\nDTSTART;TZID=Europe/Berlin:20260110T120000\r\nDTEND;TZID=Europe/Berlin:20260110T130000\r\nSUMMARY:Extra\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:g2\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260108T100000\r\nDTSTART;TZID=Europe/Berlin:20260108T120000\r\nDTEND;TZID=Europe/Berlin:20260108T130000\r\nSUMMARY:Gone\r\nEND:VEVENT\r\n");
        let p = import(&doc, &cal);
        let series: Vec<Series> = p.events.iter().map(|e| e.series.clone()).collect();
        let got = visible(shown(
            &series,
            "2026-01-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
        ));
        let mondays: Vec<&str> = got
            .iter()
            .filter(|o| o.2 == "Mondays")
            .map(|o| &o.0[..10])
            .collect();
        // 2026-03-02 00:00 in Berlin is 2026-03-01T23:00Z, before UNTIL.
        assert_eq!(
            mondays,
            [
                "2026-01-04",
                "2026-01-11",
                "2026-01-18",
                "2026-01-25",
                "2026-02-01",
                "2026-02-08",
                "2026-02-15",
                "2026-02-22",
                "2026-03-01"
            ]
        );
        let daily: Vec<(&str, &str)> = got
            .iter()
            .filter(|o| o.2 != "Mondays")
            .map(|o| (o.0.as_str(), o.2.as_str()))
            .collect();
        assert_eq!(
            daily,
            [
                ("2026-01-05T09:00:00+00:00", "Daily"),
                ("2026-01-06T09:00:00+00:00", "Daily"),
                ("2026-01-09T09:00:00+00:00", "Daily"),
                ("2026-01-10T11:00:00+00:00", "Extra")
            ]
        );
        assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
        assert_eq!(
            p.skipped[0].recurrence_id,
            Some(RecurrenceId(ts("2026-01-08T09:00:00Z")))
        );
    }
}
