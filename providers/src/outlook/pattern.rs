//! RFC 5545 RRULE ↔ Microsoft Graph `patternedRecurrence`.
//!
//! Graph describes a series with one of six patterns and one of three ranges (PROVIDERS.md 2.2);
//! RRULE says much more. [`to_graph`] finds the Graph recurrence with the *same* occurrence set when
//! there is one ([`Translation::Exact`]); otherwise, if the caller allows it, a Graph recurrence
//! whose occurrence set *contains* the rule's, plus the extra occurrences to delete after creating
//! the series ([`Translation::Nearest`]); otherwise it says why ([`Translation::Inexpressible`]).
//! [`from_graph`] goes back: every Graph recurrence has an RRULE with the occurrences Exchange
//! produces, including Exchange's month-end clamping.
//!
//! Occurrence sets are those of the domain's engine (`almanac_domain::recurrence::Schedule`,
//! python-dateutil semantics: a DTSTART the rule does not produce is not an occurrence). Graph
//! semantics are Exchange's as PROVIDERS.md 2.2 describes them: the first occurrence is the first
//! pattern date on or after `startDate`; `interval` counts days, weeks (aligned on
//! `firstDayOfWeek`), months or years from `startDate`; `absolute*` day 29–31 falls on the last day
//! of shorter months; `relative*` with several days counts over their union.
//!
//! | RRULE shape (DTSTART `d`) | Graph pattern | Exact? | Fallback (`NearestWithExceptions`) |
//! |---|---|---|---|
//! | `DAILY;INTERVAL=n` | `daily`, interval n | yes | — |
//! | `DAILY;BYDAY=MO,TU,WE,TH,FR` (any day set, interval 1) | `weekly`, interval 1, those days | yes | — |
//! | `DAILY;INTERVAL=n;BYDAY=…` (n > 1) | — | no (yes when n is a multiple of 7) | `daily` n or `weekly` 1 + cancellations |
//! | `DAILY` with `BYMONTH` / `BYMONTHDAY` | — | no | `daily` n / `weekly` 1 + cancellations |
//! | `WEEKLY;INTERVAL=n[;BYDAY=…][;WKST=W]` | `weekly`, interval n, days (default weekday(d)), firstDayOfWeek W (`monday` when WKST is absent) | yes | — |
//! | `WEEKLY;BYDAY=…;BYSETPOS=…` | `weekly` with the selected days | yes | — |
//! | `WEEKLY` with `BYMONTH` | — | no | `weekly` n + cancellations |
//! | `MONTHLY;INTERVAL=n;BYMONTHDAY=k`, 1 ≤ k ≤ 28 (or no BY-part, day(d) ≤ 28) | `absoluteMonthly` n, day k | yes | — |
//! | same, k = 29…31 | `absoluteMonthly` n, day k | **no**: Exchange clamps to the month's last day, RFC 5545 skips the month | same pattern + cancel the clamped dates |
//! | `MONTHLY;BYMONTHDAY=28,…,k;BYSETPOS=-1` (k = 29, 30) | `absoluteMonthly`, day k | yes (this *is* Exchange's clamp) | — |
//! | `MONTHLY;BYMONTHDAY=-1` | `relativeMonthly`, index last, all seven days | yes | — |
//! | `MONTHLY;BYDAY=±kDD`, k ∈ {1,2,3,4,−1} | `relativeMonthly`, index, [DD] | yes | — |
//! | `MONTHLY;BYDAY=D1,D2…;BYSETPOS=p`, single p ∈ {1,2,3,4,−1} | `relativeMonthly`, index p, days | yes | — |
//! | `MONTHLY;BYDAY=DD` (every DD of the month) | `weekly` 1 when every month is included | yes / no | `weekly` 1 + cancellations |
//! | `MONTHLY;BYMONTH=…` | monthly pattern every N months when the months are N apart from month(d) (or `…Yearly` for one month a year) | yes / no | every gcd months + cancellations |
//! | `YEARLY;INTERVAL=n` (no BY-part) | `absoluteYearly` n, month(d), day(d) | yes (no for Feb 29: Exchange clamps) | same + cancel Feb 28 in common years |
//! | `YEARLY;BYMONTH=m;BYMONTHDAY=k` | `absoluteYearly` n, m, k | yes (same Feb 29 caveat; `BYMONTHDAY=-1` ↦ day 31/30 or `relativeYearly` last day for February) | same + cancellations |
//! | `YEARLY;BYMONTH=m;BYDAY=±kDD` / `BYDAY=list;BYSETPOS=p` | `relativeYearly` n, m, index, days | yes | — |
//! | `YEARLY;BYMONTH=m1,m2…` (no BYSETPOS) | monthly pattern when the months are evenly spaced from month(d) | yes / no | every gcd months + cancellations |
//! | `YEARLY` with `BYDAY` and no `BYMONTH` (ordinals count through the year) | `weekly` 1 for plain weekdays, interval 1 | yes / no | `weekly` 1 + cancellations |
//! | `BYMONTHDAY=1,15`, `BYDAY=5MO`, `BYDAY=1MO,3WE`, `BYSETPOS=2,-1`, `BYMONTHDAY` + `BYDAY` (Friday the 13th), `BYMONTHDAY=-2`, `BYYEARDAY`, `BYWEEKNO`, `BYSETPOS` across months | — | no | the tightest of `absolute*`/`relative*` covering every day, `weekly` 1 over the weekdays, `daily` 1 — fewest cancellations wins |
//! | `HOURLY`, `MINUTELY`, `SECONDLY`; `BYHOUR`/`BYMINUTE`/`BYSECOND` giving another or several times a day | — | no | none: inexpressible |
//! | `RDATE` (a date the rule does not produce) | — | no | none: inexpressible (Graph has no extra dates) |
//! | `EXDATE` | the pattern, then delete the occurrence | yes | listed in `cancel` |
//! | `COUNT=c` with DTSTART on the pattern | range `numbered`, c | yes | — |
//! | `COUNT=c` with DTSTART off the pattern | — | no: RFC 5545 counts DTSTART, Exchange and dateutil do not | range `endDate` at the last occurrence |
//! | `UNTIL=u` | range `endDate` = local date of the last occurrence ≤ u (not date(u)) | yes | — |
//! | neither | range `noEnd` | yes | cancellations listed up to the horizon only |
//!
//! Every range has `startDate` = DTSTART's local date and `recurrenceTimeZone` = the zone's Windows
//! name ([`super::zones`]), or its IANA name when CLDR has no Windows zone for it (noted).
//!
//! Reverse ([`from_graph`]): `daily` → `FREQ=DAILY`; `weekly` → `FREQ=WEEKLY;BYDAY;WKST`;
//! `absoluteMonthly` k ≤ 28 → `BYMONTHDAY=k`, k = 29, 30 → `BYMONTHDAY=28,…,k;BYSETPOS=-1`, k = 31 →
//! `BYMONTHDAY=-1` (Exchange's clamping); `relative*` → `BYDAY=±kDD` or `BYDAY=list;BYSETPOS=p`;
//! `absoluteYearly` → `BYMONTH;BYMONTHDAY` (clamped the same way); `numbered` → `COUNT`;
//! `endDate` → `UNTIL` = endDate 23:59:59 in the recurrence zone, in UTC (a DATE for all-day
//! series); `noEnd` → nothing.

use super::zones;
use almanac_domain::recurrence::{Instance, Length, Recurrence, Schedule};
use almanac_domain::rrule::{parse_rule, Frequency, Rule, Weekday};
use almanac_domain::time::{Resolved, ZoneResolver};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// Graph's JSON
// ---------------------------------------------------------------------------------------------

/// `patternedRecurrence`, as Graph reads and writes it.
///
/// Serialization writes every property (unused ints as 0, unused `endDate` as `0001-01-01`,
/// `daysOfWeek` as `[]`), which is the shape Graph itself returns. Deserialization accepts that
/// shape, missing properties and explicit `null`s alike.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatternedRecurrence {
    #[serde(default, deserialize_with = "null_as_default")]
    pub pattern: RecurrencePattern,
    #[serde(default, deserialize_with = "null_as_default")]
    pub range: RecurrenceRange,
}

/// `recurrencePattern`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrencePattern {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: PatternType,
    #[serde(default, deserialize_with = "null_as_default")]
    pub interval: i32,
    /// 1–12 for the yearly types; 0 otherwise.
    #[serde(default, deserialize_with = "null_as_default")]
    pub month: i32,
    /// 1–31 for the absolute types; 0 otherwise.
    #[serde(default, deserialize_with = "null_as_default")]
    pub day_of_month: i32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub days_of_week: Vec<DayOfWeek>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub first_day_of_week: DayOfWeek,
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: WeekIndex,
}

impl Default for RecurrencePattern {
    fn default() -> Self {
        RecurrencePattern {
            kind: PatternType::Daily,
            interval: 1,
            month: 0,
            day_of_month: 0,
            days_of_week: Vec::new(),
            first_day_of_week: DayOfWeek::Sunday,
            index: WeekIndex::First,
        }
    }
}

/// `recurrenceRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrenceRange {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: RangeType,
    #[serde(default = "unused_date", deserialize_with = "date_or_unused")]
    pub start_date: NaiveDate,
    /// Inclusive; [`UNUSED_DATE`] unless `kind` is `endDate`.
    #[serde(default = "unused_date", deserialize_with = "date_or_unused")]
    pub end_date: NaiveDate,
    #[serde(default, deserialize_with = "null_as_default")]
    pub number_of_occurrences: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_time_zone: Option<String>,
}

impl Default for RecurrenceRange {
    fn default() -> Self {
        RecurrenceRange {
            kind: RangeType::NoEnd,
            start_date: UNUSED_DATE,
            end_date: UNUSED_DATE,
            number_of_occurrences: 0,
            recurrence_time_zone: None,
        }
    }
}

/// What Graph writes in a date property that does not apply (`endDate` of a `noEnd` range).
pub const UNUSED_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

fn unused_date() -> NaiveDate {
    UNUSED_DATE
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn date_or_unused<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    Ok(Option::<NaiveDate>::deserialize(d)?.unwrap_or(UNUSED_DATE))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PatternType {
    #[default]
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RangeType {
    EndDate,
    #[default]
    NoEnd,
    Numbered,
}

/// Graph's `dayOfWeek`; declared Sunday first, as in the CSDL.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum DayOfWeek {
    #[default]
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
}

impl DayOfWeek {
    /// From the domain's numbering (Monday = 0 … Sunday = 6).
    pub fn from_monday0(d: Weekday) -> Self {
        match d % 7 {
            0 => Self::Monday,
            1 => Self::Tuesday,
            2 => Self::Wednesday,
            3 => Self::Thursday,
            4 => Self::Friday,
            5 => Self::Saturday,
            _ => Self::Sunday,
        }
    }
    /// To the domain's numbering (Monday = 0 … Sunday = 6).
    pub fn monday0(self) -> Weekday {
        match self {
            Self::Monday => 0,
            Self::Tuesday => 1,
            Self::Wednesday => 2,
            Self::Thursday => 3,
            Self::Friday => 4,
            Self::Saturday => 5,
            Self::Sunday => 6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WeekIndex {
    #[default]
    First,
    Second,
    Third,
    Fourth,
    Last,
}

impl WeekIndex {
    /// The RFC 5545 ordinal (BYDAY prefix / BYSETPOS value).
    pub fn ordinal(self) -> i32 {
        match self {
            Self::First => 1,
            Self::Second => 2,
            Self::Third => 3,
            Self::Fourth => 4,
            Self::Last => -1,
        }
    }
    /// The index for an RFC 5545 ordinal; Graph has nothing for 5, −2 and the like.
    pub fn from_ordinal(n: i32) -> Option<Self> {
        match n {
            1 => Some(Self::First),
            2 => Some(Self::Second),
            3 => Some(Self::Third),
            4 => Some(Self::Fourth),
            -1 => Some(Self::Last),
            _ => None,
        }
    }
    const ALL: [WeekIndex; 5] = [
        Self::First,
        Self::Second,
        Self::Third,
        Self::Fourth,
        Self::Last,
    ];
}

// ---------------------------------------------------------------------------------------------
// The translation's inputs and outputs
// ---------------------------------------------------------------------------------------------

/// A series' recurrence as [`to_graph`] needs it. `start` is DTSTART's wall-clock time in `zone`
/// (midnight for all-day series); RDATE and EXDATE values are wall-clock times in `zone` too.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRecurrence<'a> {
    pub rule: &'a Rule,
    pub start: NaiveDateTime,
    pub zone: Tz,
    pub all_day: bool,
    pub rdates: &'a [NaiveDateTime],
    pub exdates: &'a [NaiveDateTime],
}

impl<'a> SeriesRecurrence<'a> {
    /// The recurrence of a schedule; `None` when it has no RRULE (nothing to translate).
    pub fn of(schedule: &'a Schedule) -> Option<Self> {
        let rec = schedule.recurrence()?;
        Some(SeriesRecurrence {
            rule: rec.rule.as_ref()?,
            start: schedule.start(),
            zone: schedule.zone(),
            all_day: schedule.all_day(),
            rdates: &rec.rdates,
            exdates: &rec.exdates,
        })
    }
}

/// What to do with a rule Graph cannot express exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Answer [`Translation::Inexpressible`].
    Reject,
    /// Answer [`Translation::Nearest`] when a Graph pattern contains every occurrence and the
    /// extras can be cancelled (at most [`MAX_CANCELLATIONS`]); for a series without an end, the
    /// extras are listed through `horizon` (a local date, inclusive).
    NearestWithExceptions { horizon: NaiveDate },
}

/// The most occurrence deletions a [`Translation::Nearest`] may ask for: each is one Graph call,
/// and past this a series of single events serves the user better.
pub const MAX_CANCELLATIONS: usize = 1000;

/// The result of [`to_graph`]. `cancel` lists the local (series-zone wall-clock) starts of pattern
/// occurrences to delete after the series is created, in order: EXDATEs always (Graph has no
/// EXDATE), plus, for `Nearest`, the pattern's extra occurrences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// Graph produces exactly the rule's occurrences.
    Exact {
        recurrence: PatternedRecurrence,
        cancel: Vec<NaiveDateTime>,
        /// Things worth telling the user that change no occurrence (an IANA `recurrenceTimeZone`,
        /// EXDATEs that match no occurrence).
        notes: Vec<String>,
    },
    /// Graph produces a superset; deleting `cancel` leaves the rule's occurrences (all of them for
    /// a bounded series; through `until_horizon` for an unbounded one, after which the pattern
    /// keeps producing extras that a later translation with a later horizon must cancel).
    Nearest {
        recurrence: PatternedRecurrence,
        cancel: Vec<NaiveDateTime>,
        until_horizon: Option<NaiveDate>,
        /// What the Graph series does not carry (why it is not exact, the deletions it relies on).
        lost: Vec<String>,
    },
    /// No Graph recurrence is acceptable.
    Inexpressible { reason: String },
}

impl Translation {
    pub fn recurrence(&self) -> Option<&PatternedRecurrence> {
        match self {
            Translation::Exact { recurrence, .. } | Translation::Nearest { recurrence, .. } => {
                Some(recurrence)
            }
            Translation::Inexpressible { .. } => None,
        }
    }
    pub fn cancel(&self) -> &[NaiveDateTime] {
        match self {
            Translation::Exact { cancel, .. } | Translation::Nearest { cancel, .. } => cancel,
            Translation::Inexpressible { .. } => &[],
        }
    }
    pub fn is_exact(&self) -> bool {
        matches!(self, Translation::Exact { .. })
    }
}

fn inexpressible(reason: impl Into<String>) -> Translation {
    Translation::Inexpressible {
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// RRULE → Graph
// ---------------------------------------------------------------------------------------------

/// [`to_graph`] for RRULE text (with or without `RRULE:`); a rule that does not parse is
/// inexpressible.
pub fn to_graph_rrule(
    rrule: &str,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
    rdates: &[NaiveDateTime],
    exdates: &[NaiveDateTime],
    fallback: Fallback,
) -> Translation {
    match parse_rule(rrule) {
        Ok(rule) => to_graph(
            &SeriesRecurrence {
                rule: &rule,
                start,
                zone,
                all_day,
                rdates,
                exdates,
            },
            fallback,
        ),
        Err(e) => inexpressible(format!("the RRULE does not parse: {e}")),
    }
}

/// Translates a series' recurrence to Graph (see the module doc for the mapping).
pub fn to_graph(series: &SeriesRecurrence<'_>, fallback: Fallback) -> Translation {
    let rule = series.rule;
    if rule.freq().is_sub_daily() {
        return inexpressible(format!(
            "FREQ={} repeats within a day; Graph patterns repeat at most once a day",
            rule.freq().as_str()
        ));
    }
    if let Some(why) = time_of_day_problem(rule, series.start) {
        return inexpressible(why);
    }
    // The rule alone (no RDATE/EXDATE): the reference every candidate is compared with.
    let rfc = match rule_schedule(series, rule) {
        Ok(s) => s,
        Err(e) => return inexpressible(format!("the rule cannot be expanded: {e}")),
    };
    let mut resolver = ZoneResolver::new(series.zone);
    let extra_rdates: Vec<NaiveDateTime> = series
        .rdates
        .iter()
        .filter(|d| rfc.instance_at(resolver.instant_of(**d)).is_none())
        .copied()
        .collect();
    if !extra_rdates.is_empty() {
        let shown: Vec<String> = extra_rdates.iter().take(3).map(|d| d.to_string()).collect();
        return inexpressible(format!(
            "RDATE adds {} date(s) the rule does not produce ({}{}); a Graph recurrence cannot carry extra dates",
            extra_rdates.len(),
            shown.join(", "),
            if extra_rdates.len() > 3 { ", …" } else { "" }
        ));
    }

    let mut notes = Vec::new();
    let (zone_name, is_windows) = zones::to_graph(series.zone);
    if !is_windows {
        notes.push(format!(
            "recurrenceTimeZone is the IANA name {zone_name}: CLDR maps it to no Windows zone, and Graph accepts only some IANA names"
        ));
    }
    let mut cancel = Vec::new();
    for x in series.exdates {
        match rfc.instance_at(resolver.instant_of(*x)) {
            Some(inst) => cancel.push(local_of(inst)),
            None => notes.push(format!(
                "EXDATE {x} is not an occurrence of the rule; ignored"
            )),
        }
    }
    cancel.sort();
    cancel.dedup();

    let analysis = analyze(rule, series.start);
    let first = rfc.instances_from(i64::MIN).next();
    let range_problem = match rule.count() {
        Some(c) if first.map(|i| i.local) != Some(local_seconds(series.start)) => Some(format!(
            "COUNT={c} with a DTSTART ({}) that is not an occurrence of the rule: RFC 5545 counts DTSTART as the first \
             occurrence, Exchange (and this engine) start counting at the first pattern date",
            series.start
        )),
        _ => None,
    };
    let base_range = RecurrenceRange {
        kind: RangeType::NoEnd,
        start_date: series.start.date(),
        end_date: UNUSED_DATE,
        number_of_occurrences: 0,
        recurrence_time_zone: Some(zone_name),
    };
    // For bounded rules: the last occurrence, whose date ends an `endDate` range.
    let last = if rule.is_unbounded() {
        None
    } else {
        last_rule_instance(&rfc)
    };
    let end_range = |last: Option<Instance>| match last {
        Some(l) => RecurrenceRange {
            kind: RangeType::EndDate,
            end_date: local_of(l).date(),
            ..base_range.clone()
        },
        None => base_range.clone(),
    };
    if !rule.is_unbounded() && last.is_none() {
        return inexpressible("the rule has no occurrence before its end");
    }

    let reason = match (&analysis.exact, &range_problem) {
        (Ok(pattern), None) => {
            let range = match rule.count() {
                Some(c) => RecurrenceRange {
                    kind: RangeType::Numbered,
                    number_of_occurrences: i32::try_from(c).unwrap_or(i32::MAX),
                    ..base_range.clone()
                },
                None => end_range(last),
            };
            return Translation::Exact {
                recurrence: PatternedRecurrence {
                    pattern: pattern.clone(),
                    range,
                },
                cancel,
                notes,
            };
        }
        (Err(why), _) => why.clone(),
        (Ok(_), Some(why)) => why.clone(),
    };
    let horizon = match fallback {
        Fallback::Reject => return inexpressible(reason),
        Fallback::NearestWithExceptions { horizon } => horizon,
    };

    let mut candidates: Vec<RecurrencePattern> = Vec::new();
    if let Ok(p) = &analysis.exact {
        candidates.push(p.clone());
    }
    for p in analysis.supersets {
        if !candidates.contains(&p) {
            candidates.push(p);
        }
    }
    let range = end_range(last);
    let limit = if rule.is_unbounded() {
        Some(horizon)
    } else {
        None
    };
    let mut best: Option<(PatternedRecurrence, Vec<NaiveDateTime>)> = None;
    let mut refusals = Vec::new();
    let allowed = MAX_CANCELLATIONS.saturating_sub(cancel.len());
    for pattern in candidates {
        // Only a candidate with fewer extras than the best so far can win; stop counting past that.
        let cap = match &best {
            Some((_, b)) if b.is_empty() => break,
            Some((_, b)) => allowed.min(b.len() - 1),
            None => allowed,
        };
        let recurrence = PatternedRecurrence {
            pattern,
            range: range.clone(),
        };
        match extras_of(series, &rfc, &recurrence, limit, cap) {
            Ok(extras) => {
                if best.as_ref().is_none_or(|(_, b)| extras.len() < b.len()) {
                    best = Some((recurrence, extras));
                }
            }
            Err(why) => refusals.push(format!("{}: {why}", describe(&recurrence.pattern))),
        }
    }
    let Some((recurrence, extras)) = best else {
        return inexpressible(format!(
            "{reason}; and no Graph pattern contains every occurrence with at most {MAX_CANCELLATIONS} cancellations ({})",
            refusals.join("; ")
        ));
    };
    let mut lost = vec![reason];
    if range_problem.is_some() {
        lost.push(format!(
            "the Graph range ends on {} (endDate) instead of counting occurrences",
            recurrence.range.end_date
        ));
    }
    lost.extend(notes);
    if !extras.is_empty() {
        lost.push(format!(
            "the Graph series ({}) has {} extra occurrence(s){} that must be deleted",
            describe(&recurrence.pattern),
            extras.len(),
            limit.map(|h| format!(" through {h}")).unwrap_or_default()
        ));
    }
    if let Some(h) = limit {
        lost.push(format!(
            "the series has no end: cancellations are listed through {h} only; the Graph pattern may produce more extra occurrences after it, so translate again with a later horizon"
        ));
    }
    cancel.extend(extras);
    cancel.sort();
    cancel.dedup();
    Translation::Nearest {
        recurrence,
        cancel,
        until_horizon: limit,
        lost,
    }
}

/// The rule's schedule without RDATE/EXDATE (the length does not matter for starts).
fn rule_schedule(series: &SeriesRecurrence<'_>, rule: &Rule) -> Result<Schedule, String> {
    let length = if series.all_day {
        Length::Duration {
            days: 1,
            seconds: 0,
        }
    } else {
        Length::Duration {
            days: 0,
            seconds: 3600,
        }
    };
    let recurrence = Recurrence {
        rule: Some(rule.clone()),
        rdates: Vec::new(),
        exdates: Vec::new(),
    };
    Schedule::new(
        series.start,
        series.zone,
        length,
        series.all_day,
        Some(recurrence),
    )
    .map_err(|e| e.to_string())
}

fn local_seconds(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// An instance's wall-clock start (as the rule placed it, before any DST gap shift).
fn local_of(inst: Instance) -> NaiveDateTime {
    almanac_domain::time::instant(inst.local).naive_utc()
}

/// The last occurrence of a bounded rule: the COUNT-th, or the last at or before UNTIL.
fn last_rule_instance(rfc: &Schedule) -> Option<Instance> {
    let bound = rfc.rule_bound()?;
    if let Some(i) = rfc.instance_at(bound) {
        return Some(i);
    }
    let first = rfc.instances_from(i64::MIN).next()?;
    // Look back from the bound in growing windows; the schedule seeks, so each look is cheap.
    let mut span: i64 = 8 * 86_400;
    loop {
        let from = bound.saturating_sub(span).max(first.start);
        let last = rfc
            .instances_from(from)
            .take_while(|i| i.start <= bound)
            .last();
        if last.is_some() || from == first.start {
            return last;
        }
        span = span.saturating_mul(4);
    }
}

/// The pattern occurrences that are not rule occurrences (for unbounded rules only those whose
/// local date is ≤ `limit`), or why the pattern is unusable: it misses a rule occurrence, or it
/// needs more than `max` deletions.
fn extras_of(
    series: &SeriesRecurrence<'_>,
    rfc: &Schedule,
    recurrence: &PatternedRecurrence,
    limit: Option<NaiveDate>,
    max: usize,
) -> Result<Vec<NaiveDateTime>, String> {
    let rrule = from_graph(recurrence, series.start, series.zone, series.all_day)?;
    let rule = parse_rule(&rrule).map_err(|e| e.to_string())?;
    let graph = rule_schedule(series, &rule)?;
    let within = |i: &Instance| limit.is_none_or(|h| local_of(*i).date() <= h);
    let mut want = rfc.instances_from(i64::MIN).take_while(within).peekable();
    let mut extras = Vec::new();
    for got in graph.instances_from(i64::MIN).take_while(within) {
        if let Some(w) = want.peek().filter(|w| w.start < got.start) {
            return Err(format!("misses the occurrence at {}", local_of(*w)));
        }
        if want.peek().is_some_and(|w| w.start == got.start) {
            want.next();
        } else {
            extras.push(local_of(got));
            if extras.len() > max {
                return Err(format!("needs more than {max} cancellations"));
            }
        }
    }
    if let Some(w) = want.next() {
        return Err(format!("misses the occurrence at {}", local_of(w)));
    }
    Ok(extras)
}

/// BYHOUR/BYMINUTE/BYSECOND are fine only when they give exactly DTSTART's time of day.
fn time_of_day_problem(rule: &Rule, start: NaiveDateTime) -> Option<String> {
    let pick = |list: &[u8], own: u32| -> Vec<u32> {
        if list.is_empty() {
            vec![own]
        } else {
            list.iter().map(|v| u32::from(*v)).collect()
        }
    };
    let hours = pick(rule.by_hour(), start.hour());
    let minutes = pick(rule.by_minute(), start.minute());
    let seconds = pick(rule.by_second(), start.second());
    if hours.len() * minutes.len() * seconds.len() > 1 {
        return Some(
            "BYHOUR/BYMINUTE/BYSECOND give several times a day; a Graph series has one start time"
                .into(),
        );
    }
    let own = (start.hour(), start.minute(), start.second());
    let (h, m, s) = (
        hours.first().copied().unwrap_or(own.0),
        minutes.first().copied().unwrap_or(own.1),
        seconds.first().copied().unwrap_or(own.2),
    );
    if (h, m, s) != own {
        return Some(format!(
            "BYHOUR/BYMINUTE/BYSECOND put the occurrences at {h:02}:{m:02}:{s:02}, not at DTSTART's time ({}); \
             Graph occurrences start at the series' start time",
            start.time()
        ));
    }
    None
}

// --- pattern analysis -------------------------------------------------------------------------

/// The Graph patterns for a rule, ignoring its range.
struct Analysis {
    /// The pattern with exactly the rule's occurrences, or why there is none.
    exact: Result<RecurrencePattern, String>,
    /// Patterns believed to contain every occurrence, best first. [`to_graph`] checks each by
    /// expansion before using it, so a wrong belief costs a candidate, never a wrong answer.
    supersets: Vec<RecurrencePattern>,
}

const ALL_DAYS: u8 = 0x7f;

fn day_mask(days: &[(Weekday, i8)]) -> u8 {
    days.iter().fold(0, |m, (d, _)| m | (1 << (d % 7)))
}

fn pattern(kind: PatternType, interval: i64, wkst: Weekday) -> RecurrencePattern {
    RecurrencePattern {
        kind,
        interval: i32::try_from(interval).unwrap_or(i32::MAX),
        first_day_of_week: DayOfWeek::from_monday0(wkst),
        ..RecurrencePattern::default()
    }
}

fn days_of_week(mask: u8) -> Vec<DayOfWeek> {
    // Sunday first, Graph's enum order.
    [6u8, 0, 1, 2, 3, 4, 5]
        .iter()
        .filter(|d| mask & (1 << **d) != 0)
        .map(|d| DayOfWeek::from_monday0(*d))
        .collect()
}

fn daily(n: i64, wkst: Weekday) -> RecurrencePattern {
    pattern(PatternType::Daily, n, wkst)
}

fn weekly(n: i64, mask: u8, wkst: Weekday) -> RecurrencePattern {
    RecurrencePattern {
        days_of_week: days_of_week(mask),
        ..pattern(PatternType::Weekly, n, wkst)
    }
}

/// A Graph day-of-month choice: `absolute*` day k, or `relative*` index over a set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayShape {
    Absolute(u32),
    Relative(WeekIndex, u8),
}

/// Where a month-type pattern falls in the month lattice.
#[derive(Debug, Clone, Copy)]
enum Lattice {
    /// Every `n` months from DTSTART's month (`yearly`: use the yearly types, n a multiple of 12).
    Months { n: i64, yearly: bool },
    /// Month `m` of every year.
    EveryYear { month: u32 },
}

fn month_pattern(
    lattice: Lattice,
    shape: DayShape,
    start_month: u32,
    wkst: Weekday,
) -> RecurrencePattern {
    let (yearly, interval, month) = match lattice {
        Lattice::Months { n, yearly: true } if n % 12 == 0 => (true, n / 12, start_month),
        Lattice::Months { n, .. } => (false, n, 0),
        Lattice::EveryYear { month } => (true, 1, month),
    };
    let month = i32::try_from(month).unwrap_or(0);
    match (shape, yearly) {
        (DayShape::Absolute(k), false) => RecurrencePattern {
            day_of_month: i32::try_from(k).unwrap_or(0),
            ..pattern(PatternType::AbsoluteMonthly, interval, wkst)
        },
        (DayShape::Absolute(k), true) => RecurrencePattern {
            day_of_month: i32::try_from(k).unwrap_or(0),
            month,
            ..pattern(PatternType::AbsoluteYearly, interval, wkst)
        },
        (DayShape::Relative(index, mask), false) => RecurrencePattern {
            index,
            days_of_week: days_of_week(mask),
            ..pattern(PatternType::RelativeMonthly, interval, wkst)
        },
        (DayShape::Relative(index, mask), true) => RecurrencePattern {
            index,
            days_of_week: days_of_week(mask),
            month,
            ..pattern(PatternType::RelativeYearly, interval, wkst)
        },
    }
}

fn analyze(rule: &Rule, start: NaiveDateTime) -> Analysis {
    match rule.freq() {
        Frequency::Daily => analyze_daily(rule, start),
        Frequency::Weekly => analyze_weekly(rule, start),
        _ => analyze_monthly_yearly(rule, start),
    }
}

/// BYMONTH, with "all twelve months" read as no filter.
fn month_filter(rule: &Rule) -> &[u8] {
    if rule.by_month().len() >= 12 {
        &[]
    } else {
        rule.by_month()
    }
}

fn analyze_daily(rule: &Rule, start: NaiveDateTime) -> Analysis {
    let n = i64::from(rule.interval());
    let wkst = rule.wkst();
    let mask = day_mask(rule.by_day());
    let mut supersets = Vec::new();
    if mask != 0 && mask != ALL_DAYS {
        supersets.push(weekly(1, mask, wkst));
    }
    supersets.push(daily(n, wkst));
    // With one time a day, a DAILY period holds at most one candidate: BYSETPOS keeps it with 1
    // or −1 and drops it otherwise (such a rule never occurs and is refused earlier).
    let setpos_ok =
        rule.by_set_pos().is_empty() || rule.by_set_pos().iter().any(|p| *p == 1 || *p == -1);
    let exact = if !month_filter(rule).is_empty() || !rule.by_month_day().is_empty() {
        Err(format!(
            "FREQ=DAILY with {} filters days by month or day of month; Graph's daily patterns cannot filter",
            if rule.by_month_day().is_empty() { "BYMONTH" } else { "BYMONTHDAY" }
        ))
    } else if !setpos_ok {
        Err("FREQ=DAILY with this BYSETPOS drops every day".into())
    } else if mask == 0 || mask == ALL_DAYS {
        Ok(daily(n, wkst))
    } else if n == 1 {
        Ok(weekly(1, mask, wkst))
    } else if n % 7 == 0 && mask & (1 << start.weekday().num_days_from_monday()) != 0 {
        // Every candidate day is DTSTART's weekday, which BYDAY keeps.
        Ok(daily(n, wkst))
    } else {
        Err(format!(
            "FREQ=DAILY;INTERVAL={n} with BYDAY: Graph's daily patterns cannot filter weekdays and its weekly patterns cannot step {n} days"
        ))
    };
    Analysis { exact, supersets }
}

fn analyze_weekly(rule: &Rule, start: NaiveDateTime) -> Analysis {
    let n = i64::from(rule.interval());
    let wkst = rule.wkst();
    let mut mask = day_mask(rule.by_day());
    if mask == 0 {
        mask = 1 << start.weekday().num_days_from_monday();
    }
    let supersets = vec![weekly(n, mask, wkst)];
    if !month_filter(rule).is_empty() {
        return Analysis {
            exact: Err("FREQ=WEEKLY with BYMONTH skips the weeks of other months; Graph's weekly patterns cannot".into()),
            supersets,
        };
    }
    if !rule.by_set_pos().is_empty() {
        // Every week holds all seven weekdays, so BYSETPOS picks the same weekdays (in week order
        // from WKST) every week: a smaller day set.
        let ordered: Vec<u8> = (0..7u8)
            .map(|i| (wkst + i) % 7)
            .filter(|d| mask & (1 << d) != 0)
            .collect();
        let picked = select_positions(&ordered, rule.by_set_pos());
        let picked_mask = picked.iter().fold(0u8, |m, d| m | (1 << d));
        if picked_mask == 0 {
            return Analysis {
                exact: Err("BYSETPOS drops every day of the week".into()),
                supersets,
            };
        }
        return Analysis {
            exact: Ok(weekly(n, picked_mask, wkst)),
            supersets,
        };
    }
    Analysis {
        exact: Ok(weekly(n, mask, wkst)),
        supersets,
    }
}

/// BYSETPOS over an ordered set (1-based from the start, negative from the end), in set order.
fn select_positions<T: Copy + Ord>(set: &[T], positions: &[i32]) -> Vec<T> {
    let len = set.len() as i64;
    let mut out: Vec<T> = positions
        .iter()
        .filter_map(|&p| {
            let i = if p > 0 {
                i64::from(p) - 1
            } else {
                len + i64::from(p)
            };
            usize::try_from(i).ok().and_then(|i| set.get(i)).copied()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn days_in_month_of_year(month: u32) -> &'static [u32] {
    match month {
        2 => &[28, 29],
        4 | 6 | 9 | 11 => &[30],
        _ => &[31],
    }
}

/// The days (1-based) a month of `len` days whose 1st is weekday `w1` (Monday = 0) holds under
/// BYMONTHDAY/BYDAY/BYSETPOS, as the engine (python-dateutil) computes them: every given filter
/// must hold, and ordinal weekdays count within the month.
fn rfc_days(
    len: u32,
    w1: u8,
    monthdays: &[i8],
    weekdays: &[(Weekday, i8)],
    setpos: &[i32],
) -> Vec<u32> {
    let len_i = i64::from(len);
    let days: Vec<u32> = (1..=len)
        .filter(|&d| {
            let di = i64::from(d);
            let wd = ((u32::from(w1) + d - 1) % 7) as u8;
            let md_ok = monthdays.is_empty()
                || monthdays.iter().any(|&k| {
                    let k = i64::from(k);
                    (k > 0 && k == di) || (k < 0 && len_i + 1 + k == di)
                });
            let plain = weekdays
                .iter()
                .filter(|(_, n)| *n == 0)
                .fold(0u8, |m, (w, _)| m | (1 << w));
            let nth: Vec<(Weekday, i8)> =
                weekdays.iter().filter(|(_, n)| *n != 0).copied().collect();
            let plain_ok = plain == 0 || plain & (1 << wd) != 0;
            let nth_ok = nth.is_empty()
                || nth.iter().any(|&(w, n)| {
                    w == wd && {
                        let n = i64::from(n);
                        if n > 0 {
                            (di - 1) / 7 + 1 == n
                        } else {
                            (len_i - di) / 7 + 1 == -n
                        }
                    }
                });
            md_ok && plain_ok && nth_ok
        })
        .collect();
    if setpos.is_empty() {
        days
    } else {
        select_positions(&days, setpos)
    }
}

/// The day a Graph day shape gives in a month of `len` days whose 1st is weekday `w1`.
fn graph_day(shape: DayShape, len: u32, w1: u8) -> Option<u32> {
    match shape {
        DayShape::Absolute(k) => Some(k.min(len)),
        DayShape::Relative(index, mask) => {
            let mut matching =
                (1..=len).filter(|d| mask & (1 << ((u32::from(w1) + d - 1) % 7)) != 0);
            match index {
                WeekIndex::Last => matching.next_back(),
                other => matching.nth(usize::try_from(other.ordinal() - 1).unwrap_or(0)),
            }
        }
    }
}

/// The day shapes for a rule's per-month days: the exact one if any, and superset ones.
fn day_shapes(
    monthdays: &[i8],
    weekdays: &[(Weekday, i8)],
    setpos: &[i32],
    months: &[u32],
) -> (Option<DayShape>, Vec<DayShape>) {
    let mut lengths: Vec<u32> = months
        .iter()
        .flat_map(|m| days_in_month_of_year(*m).iter().copied())
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    let combos: Vec<(u32, u8)> = lengths
        .iter()
        .flat_map(|l| (0..7u8).map(move |w| (*l, w)))
        .collect();
    let wanted: Vec<Vec<u32>> = combos
        .iter()
        .map(|&(l, w)| rfc_days(l, w, monthdays, weekdays, setpos))
        .collect();
    let exact = |s: DayShape| {
        combos
            .iter()
            .zip(&wanted)
            .all(|(&(l, w), want)| want.len() == 1 && graph_day(s, l, w) == want.first().copied())
    };
    let covers = |s: DayShape| {
        combos.iter().zip(&wanted).all(|(&(l, w), want)| {
            want.len() <= 1 && want.iter().all(|d| graph_day(s, l, w) == Some(*d))
        })
    };

    // The table's mapping first, so the answer is the conventional one when several shapes are
    // equivalent (BYMONTHDAY=-1 is both "absolute 31" and "last of all seven days").
    let mut derived = None;
    if weekdays.is_empty() {
        match monthdays {
            // Months of one length (April every year): the plain date reads better.
            [-1] if setpos.is_empty() && lengths.len() == 1 => {
                derived = lengths.first().map(|l| DayShape::Absolute(*l))
            }
            [-1] if setpos.is_empty() => {
                derived = Some(DayShape::Relative(WeekIndex::Last, ALL_DAYS))
            }
            [k] if *k > 0 => derived = Some(DayShape::Absolute(u32::from(k.unsigned_abs()))),
            _ => {}
        }
    } else if monthdays.is_empty() {
        match (weekdays, setpos) {
            ([(w, n)], []) => {
                derived =
                    WeekIndex::from_ordinal(i32::from(*n)).map(|i| DayShape::Relative(i, 1 << w))
            }
            (_, [p]) if weekdays.iter().all(|(_, n)| *n == 0) => {
                derived =
                    WeekIndex::from_ordinal(*p).map(|i| DayShape::Relative(i, day_mask(weekdays)))
            }
            _ => {}
        }
    }
    let mixed_weekdays =
        weekdays.iter().any(|(_, n)| *n == 0) && weekdays.iter().any(|(_, n)| *n != 0);
    let mut supersets = Vec::new();
    if let Some(d) = derived {
        if exact(d) {
            return (Some(d), supersets);
        }
        if covers(d) {
            supersets.push(d);
        }
    }
    let every_shape = (1..=31u32).map(DayShape::Absolute).chain(
        WeekIndex::ALL
            .iter()
            .flat_map(|i| (1..=ALL_DAYS).map(move |m| DayShape::Relative(*i, m))),
    );
    // Mixed plain and ordinal BYDAY is a dateutil quirk (both must hold); never claim exactness
    // from a model of it.
    if !mixed_weekdays {
        if let Some(s) = every_shape.clone().find(|s| exact(*s)) {
            return (Some(s), supersets);
        }
    }
    // Superset shapes: the first absolute and the first relative that cover every day.
    if let Some(s) = every_shape
        .clone()
        .find(|s| matches!(s, DayShape::Absolute(_)) && covers(*s))
    {
        if !supersets.contains(&s) {
            supersets.push(s);
        }
    }
    if let Some(s) = every_shape
        .filter(|s| matches!(s, DayShape::Relative(..)))
        .find(|s| covers(*s))
    {
        if !supersets.contains(&s) {
            supersets.push(s);
        }
    }
    (None, supersets)
}

fn analyze_monthly_yearly(rule: &Rule, start: NaiveDateTime) -> Analysis {
    let yearly = rule.freq() == Frequency::Yearly;
    let interval = i64::from(rule.interval());
    let wkst = rule.wkst();
    let weekday_mask = day_mask(rule.by_day());
    // Always-valid fallbacks, tried after the structural ones.
    let mut generic = Vec::new();
    if weekday_mask != 0 {
        generic.push(weekly(1, weekday_mask, wkst));
    }
    generic.push(daily(1, wkst));
    let fail = |why: String, generic: Vec<RecurrencePattern>| Analysis {
        exact: Err(why),
        supersets: generic,
    };

    if !rule.by_year_day().is_empty() {
        return fail(
            "BYYEARDAY counts days through the year; Graph has no day-of-year pattern".into(),
            generic,
        );
    }
    if !rule.by_week_no().is_empty() {
        return fail(
            "BYWEEKNO counts ISO weeks through the year; Graph has no week-number pattern".into(),
            generic,
        );
    }
    let by_month = if yearly {
        rule.by_month()
    } else {
        month_filter(rule)
    };
    if yearly && by_month.is_empty() && !rule.by_day().is_empty() {
        // Without BYMONTH, YEARLY BYDAY ordinals and BYSETPOS count through the whole year.
        let plain = rule.by_day().iter().all(|(_, n)| *n == 0);
        if plain && rule.by_set_pos().is_empty() && rule.by_month_day().is_empty() {
            if interval == 1 {
                return Analysis {
                    exact: Ok(weekly(1, weekday_mask, wkst)),
                    supersets: generic,
                };
            }
            return fail(
                format!("FREQ=YEARLY;INTERVAL={interval};BYDAY=… is every such weekday of every {interval}th year; Graph's weekly patterns cannot skip years"),
                generic,
            );
        }
        return fail(
            "FREQ=YEARLY with BYDAY ordinals or BYSETPOS and no BYMONTH counts through the whole year; Graph counts within one month".into(),
            generic,
        );
    }
    let start_month = start.month();
    let months: Vec<u32> = if !by_month.is_empty() {
        by_month.iter().map(|m| u32::from(*m)).collect()
    } else if yearly && rule.by_month_day().is_empty() {
        vec![start_month]
    } else {
        (1..=12).collect()
    };
    if yearly && by_month.is_empty() && !rule.by_set_pos().is_empty() {
        return fail("BYSETPOS in a YEARLY rule without BYMONTH picks positions across the year; Graph picks within each month".into(), generic);
    }
    if yearly && months.len() > 1 && !rule.by_set_pos().is_empty() {
        return fail("BYSETPOS in a YEARLY rule with several months picks positions across the year; Graph picks within each month".into(), generic);
    }

    // Which months: offsets (in months) from DTSTART's month, over one period `l` of the lattice.
    let (l, offsets): (i64, Vec<i64>) = if yearly {
        let l = 12 * interval;
        let mut o: Vec<i64> = months
            .iter()
            .map(|&m| {
                let d = i64::from(m) - i64::from(start_month);
                if d >= 0 {
                    d
                } else {
                    l + d
                }
            })
            .collect();
        o.sort_unstable();
        (l, o)
    } else {
        let l = interval / gcd(interval, 12) * 12;
        let o = (0..l / interval)
            .map(|k| k * interval)
            .filter(|o| months.contains(&(((i64::from(start_month) - 1 + o) % 12 + 1) as u32)))
            .collect();
        (l, o)
    };
    let Some(&first_offset) = offsets.first() else {
        return fail(
            "BYMONTH excludes every month the rule steps through".into(),
            generic,
        );
    };
    let n = offsets.iter().fold(l, |g, o| gcd(g, *o));
    let months_exact = offsets.len() as i64 == l / n;
    let same_month_each_year = offsets.iter().all(|o| (o - first_offset) % 12 == 0);
    let every_year = same_month_each_year && offsets.len() as i64 == l / 12;
    let month_of = |o: i64| ((i64::from(start_month) - 1 + o) % 12 + 1) as u32;
    let rfc_months: Vec<u32> = {
        let mut m: Vec<u32> = offsets.iter().map(|o| month_of(*o)).collect();
        m.sort_unstable();
        m.dedup();
        m
    };

    let monthdays: Vec<i8> = if rule.by_month_day().is_empty() && rule.by_day().is_empty() {
        vec![start.day() as i8]
    } else {
        rule.by_month_day().to_vec()
    };
    let (exact_shape, superset_shapes) =
        day_shapes(&monthdays, rule.by_day(), rule.by_set_pos(), &rfc_months);

    // Twelve-month steps read best as a yearly pattern when the rule itself is yearly or names its
    // months; a plain MONTHLY;INTERVAL=12 stays monthly, as the table says.
    let lattice_n = Lattice::Months {
        n,
        yearly: yearly || !by_month.is_empty(),
    };
    let exact_lattice = if months_exact {
        Some(lattice_n)
    } else if every_year {
        Some(Lattice::EveryYear {
            month: month_of(first_offset),
        })
    } else {
        None
    };
    let mut supersets = Vec::new();
    for shape in exact_shape.iter().chain(&superset_shapes) {
        supersets.push(month_pattern(lattice_n, *shape, start_month, wkst));
        if same_month_each_year && !months_exact {
            supersets.push(month_pattern(
                Lattice::EveryYear {
                    month: month_of(first_offset),
                },
                *shape,
                start_month,
                wkst,
            ));
        }
    }
    // Every such weekday of every month is a weekly pattern.
    let all_plain = !rule.by_day().is_empty() && rule.by_day().iter().all(|(_, n)| *n == 0);
    let every_weekday = all_plain && rule.by_set_pos().is_empty() && rule.by_month_day().is_empty();
    let every_month = months_exact && n == 1;
    supersets.extend(generic);

    let exact = match (exact_lattice, exact_shape) {
        (Some(lattice), Some(shape)) => Ok(month_pattern(lattice, shape, start_month, wkst)),
        _ if every_weekday && every_month => Ok(weekly(1, weekday_mask, wkst)),
        (None, _) => Err(months_reason(rule, &months, interval)),
        (Some(_), None) => Err(day_reason(rule, &monthdays, every_weekday)),
    };
    Analysis { exact, supersets }
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn byday_text(days: &[(Weekday, i8)]) -> String {
    const NAMES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    days.iter()
        .map(|&(d, n)| {
            let name = NAMES.get(usize::from(d)).copied().unwrap_or("?");
            if n == 0 {
                name.to_string()
            } else {
                format!("{n}{name}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn months_reason(rule: &Rule, months: &[u32], interval: i64) -> String {
    if rule.freq() == Frequency::Yearly && months.len() == 1 {
        format!(
            "FREQ=YEARLY;INTERVAL={interval} with DTSTART outside BYMONTH={}: where Exchange starts counting the years for such a start is not documented",
            list(months)
        )
    } else {
        format!(
            "BYMONTH={} picks months that are not a fixed number of months apart starting from DTSTART's month; Graph's monthly patterns repeat every N months from the start",
            list(months)
        )
    }
}

fn day_reason(rule: &Rule, monthdays: &[i8], every_weekday: bool) -> String {
    let weekdays = rule.by_day();
    let setpos = rule.by_set_pos();
    if !rule.by_month_day().is_empty() && !weekdays.is_empty() {
        return format!(
            "BYMONTHDAY={} with BYDAY={} (like Friday the 13th) needs both to hold; a Graph pattern names either a day of the month or a weekday",
            list(rule.by_month_day()),
            byday_text(weekdays)
        );
    }
    if !weekdays.is_empty() {
        let text = byday_text(weekdays);
        if weekdays.iter().any(|(_, n)| *n == 0) && weekdays.iter().any(|(_, n)| *n != 0) {
            return format!(
                "BYDAY={text} mixes weekdays with and without an ordinal; Graph cannot"
            );
        }
        if let Some((_, n)) = weekdays
            .iter()
            .find(|(_, n)| *n != 0 && WeekIndex::from_ordinal(i32::from(*n)).is_none())
        {
            return format!("BYDAY={text} uses the ordinal {n}: Graph's index is first, second, third, fourth or last (no fifth, no second-to-last)");
        }
        if weekdays.len() > 1 && weekdays.iter().all(|(_, n)| *n != 0) {
            return format!("BYDAY={text} names several ordinal weekdays; a Graph relative pattern has a single index");
        }
        if every_weekday {
            return format!(
                "BYDAY={text} without BYSETPOS is every such weekday of the month; Graph's monthly patterns give one day a month and its weekly patterns cannot skip months"
            );
        }
        if setpos.len() > 1 {
            return format!(
                "BYSETPOS={} picks several positions; a Graph relative pattern picks one",
                list(setpos)
            );
        }
        if let Some(p) = setpos
            .iter()
            .find(|p| WeekIndex::from_ordinal(**p).is_none())
        {
            return format!("BYSETPOS={p} is not first, second, third, fourth or last, the only positions Graph has");
        }
    }
    if !monthdays.is_empty() {
        if !setpos.is_empty() {
            return format!(
                "BYMONTHDAY={} with BYSETPOS={} picks days no Graph pattern describes",
                list(monthdays),
                list(setpos)
            );
        }
        if monthdays.len() > 1 {
            return format!(
                "BYMONTHDAY={} gives several days a month; a Graph monthly pattern gives one",
                list(monthdays)
            );
        }
        if let Some(&k) = monthdays.first() {
            if k >= 29 {
                let what = if rule.by_month_day().is_empty() {
                    format!("DTSTART's day of the month ({k})")
                } else {
                    format!("BYMONTHDAY={k}")
                };
                return format!(
                    "{what} skips months shorter than {k} days (RFC 5545), but Graph's absolute day {k} falls on the last day of those months (Exchange clamps)"
                );
            }
            if k < -1 {
                return format!("BYMONTHDAY={k} counts back from the month's end; Graph can only say \"last day\"");
            }
        }
    }
    "the days this rule picks within a month match no Graph absolute or relative pattern".into()
}

/// A short human description of a pattern, for messages.
fn describe(p: &RecurrencePattern) -> String {
    let mut s = format!("{:?} every {}", p.kind, p.interval);
    match p.kind {
        PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly => {
            let _ = write!(s, " {:?}", p.days_of_week);
        }
        _ => {}
    }
    if matches!(
        p.kind,
        PatternType::RelativeMonthly | PatternType::RelativeYearly
    ) {
        let _ = write!(s, " index {:?}", p.index);
    }
    if matches!(
        p.kind,
        PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly
    ) {
        let _ = write!(s, " day {}", p.day_of_month);
    }
    if matches!(
        p.kind,
        PatternType::AbsoluteYearly | PatternType::RelativeYearly
    ) {
        let _ = write!(s, " month {}", p.month);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Graph → RRULE
// ---------------------------------------------------------------------------------------------

/// The RRULE (without `RRULE:`) whose occurrences, from DTSTART `start` (wall-clock time in
/// `zone`), are the ones Exchange produces for `recurrence`. `range.startDate` must be `start`'s
/// date in the recurrence zone (Graph requires it; a different anchor would shift every
/// interval). `endDate` is read in `recurrenceTimeZone` when it names a known zone, else in `zone`.
pub fn from_graph(
    recurrence: &PatternedRecurrence,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
) -> Result<String, String> {
    let p = &recurrence.pattern;
    let r = &recurrence.range;
    if p.interval < 1 {
        return Err(format!(
            "pattern.interval must be at least 1, got {}",
            p.interval
        ));
    }
    let mut s = String::new();
    let freq = match p.kind {
        PatternType::Daily => "DAILY",
        PatternType::Weekly => "WEEKLY",
        PatternType::AbsoluteMonthly | PatternType::RelativeMonthly => "MONTHLY",
        PatternType::AbsoluteYearly | PatternType::RelativeYearly => "YEARLY",
    };
    let _ = write!(s, "FREQ={freq}");
    if p.interval != 1 {
        let _ = write!(s, ";INTERVAL={}", p.interval);
    }
    let month = || -> Result<u32, String> {
        u32::try_from(p.month)
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| format!("pattern.month must be 1–12, got {}", p.month))
    };
    let day_of_month = || -> Result<u32, String> {
        u32::try_from(p.day_of_month)
            .ok()
            .filter(|d| (1..=31).contains(d))
            .ok_or_else(|| format!("pattern.dayOfMonth must be 1–31, got {}", p.day_of_month))
    };
    let mask = p
        .days_of_week
        .iter()
        .fold(0u8, |m, d| m | (1 << d.monday0()));
    let need_days = || -> Result<(), String> {
        if mask == 0 {
            Err(format!("pattern.daysOfWeek is required for {:?}", p.kind))
        } else {
            Ok(())
        }
    };
    match p.kind {
        PatternType::Daily => {}
        PatternType::Weekly => {
            need_days()?;
            let _ = write!(s, ";BYDAY={}", byday_text(&mask_days(mask)));
            // Weeks only matter for alignment when INTERVAL > 1; RFC 5545's default is Monday.
            if p.interval > 1 && p.first_day_of_week != DayOfWeek::Monday {
                let _ = write!(
                    s,
                    ";WKST={}",
                    byday_text(&[(p.first_day_of_week.monday0(), 0)])
                );
            }
        }
        PatternType::AbsoluteMonthly => {
            let k = day_of_month()?;
            // Exchange puts day k on the last day of shorter months: the largest of 28…k that
            // exists in the month.
            match k {
                1..=28 => {
                    let _ = write!(s, ";BYMONTHDAY={k}");
                }
                31 => s.push_str(";BYMONTHDAY=-1"),
                _ => {
                    let days: Vec<u32> = (28..=k).collect();
                    let _ = write!(s, ";BYMONTHDAY={};BYSETPOS=-1", list(&days));
                }
            }
        }
        PatternType::AbsoluteYearly => {
            let m = month()?;
            let k = day_of_month()?;
            let lengths = days_in_month_of_year(m);
            let shortest = lengths.first().copied().unwrap_or(28);
            let longest = lengths.last().copied().unwrap_or(31);
            let _ = write!(s, ";BYMONTH={m}");
            if k <= shortest {
                let _ = write!(s, ";BYMONTHDAY={k}");
            } else if k >= longest {
                // Clamped to the month's last day (Feb 29 → Feb 28 in common years, Apr 31 → 30).
                s.push_str(";BYMONTHDAY=-1");
            } else {
                let days: Vec<u32> = (shortest..=k).collect();
                let _ = write!(s, ";BYMONTHDAY={};BYSETPOS=-1", list(&days));
            }
        }
        PatternType::RelativeMonthly | PatternType::RelativeYearly => {
            need_days()?;
            if p.kind == PatternType::RelativeYearly {
                let _ = write!(s, ";BYMONTH={}", month()?);
            }
            let ord = p.index.ordinal();
            if mask == ALL_DAYS {
                // The n-th (or last) of all seven days is simply a day of the month.
                let _ = write!(s, ";BYMONTHDAY={ord}");
            } else if mask.count_ones() == 1 {
                let day = mask.trailing_zeros() as Weekday;
                let _ = write!(s, ";BYDAY={ord}{}", byday_text(&[(day, 0)]));
            } else {
                let _ = write!(s, ";BYDAY={};BYSETPOS={ord}", byday_text(&mask_days(mask)));
            }
        }
    }

    let range_zone = r
        .recurrence_time_zone
        .as_deref()
        .and_then(zones::from_graph)
        .unwrap_or(zone);
    let mut resolver = ZoneResolver::new(zone);
    let start_in_range_zone = if range_zone == zone {
        start
    } else {
        let instant = resolver.instant_of(start);
        let other = ZoneResolver::new(range_zone);
        almanac_domain::time::instant(other.local_of(instant)).naive_utc()
    };
    if r.start_date != UNUSED_DATE && r.start_date != start_in_range_zone.date() && !all_day {
        return Err(format!(
            "range.startDate {} is not the date of the series start {} in {}",
            r.start_date,
            start_in_range_zone,
            range_zone.name()
        ));
    }
    if all_day && r.start_date != UNUSED_DATE && r.start_date != start.date() {
        return Err(format!(
            "range.startDate {} is not the date of the all-day series start {}",
            r.start_date,
            start.date()
        ));
    }
    match r.kind {
        RangeType::NoEnd => {}
        RangeType::Numbered => {
            if r.number_of_occurrences < 1 {
                return Err(format!(
                    "range.numberOfOccurrences must be at least 1, got {}",
                    r.number_of_occurrences
                ));
            }
            let _ = write!(s, ";COUNT={}", r.number_of_occurrences);
        }
        RangeType::EndDate => {
            let first_day = if all_day {
                start.date()
            } else {
                start_in_range_zone.date()
            };
            if r.end_date < first_day {
                return Err(format!(
                    "range.endDate {} is before the series starts ({first_day})",
                    r.end_date
                ));
            }
            if all_day {
                let _ = write!(s, ";UNTIL={}", r.end_date.format("%Y%m%d"));
            } else {
                // The whole end date counts: its last second, as an instant (the later one if
                // that wall-clock time occurs twice).
                let end_of_day = r
                    .end_date
                    .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN));
                let mut res = ZoneResolver::new(range_zone);
                let instant = match res.resolve(local_seconds(end_of_day)) {
                    Resolved::Single(t) | Resolved::Skipped(t) => t,
                    Resolved::Repeated(_, later) => later,
                };
                let _ = write!(
                    s,
                    ";UNTIL={}",
                    almanac_domain::time::instant(instant).format("%Y%m%dT%H%M%SZ")
                );
            }
        }
    }
    // Every branch above writes valid RRULE; parsing proves it before anyone stores it.
    parse_rule(&s).map_err(|e| format!("internal: {s} does not parse: {e}"))?;
    Ok(s)
}

fn mask_days(mask: u8) -> Vec<(Weekday, i8)> {
    (0..7u8)
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| (d, 0))
        .collect()
}
