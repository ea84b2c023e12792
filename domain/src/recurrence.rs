//! A series' schedule — local start, zone, length, recurrence — and its expansion into instants.
//!
//! Pipeline for one series: the rule's wall-clock candidates (`rrule::Generator`) → instants under
//! the local-time rule (`time::ZoneResolver`) → COUNT/UNTIL bound → RDATEs merged in → EXDATEs
//! removed. Everything is lazy and in start order, and every stage can start at any point in time:
//! the generator seeks, and COUNT is turned into an instant bound once, when the schedule is built,
//! so no later expansion replays the series from DTSTART.
//!
//! Every rule, sub-daily ones (HOURLY, MINUTELY, SECONDLY) included, produces wall-clock times,
//! and each is read as RFC 5545 §3.3.5 reads an explicit DATE-TIME (§3.3.10 says so for computed
//! instances): a time repeated at fall-back is the earlier instant only, a time in a spring-forward
//! gap takes the offset before the gap (02:30 → 03:30). So `FREQ=HOURLY` skips the repeated hour's
//! second pass, as python-dateutil, libical, rrule.js, ical.js and Google do.
//!
//! Two consequences of reading the gap that way: a gap-shifted time can land on an instant the
//! rule also produces (02:00 and 03:00 are both 07:00Z in New York), and it can land between the
//! real times of the hour after the gap (MINUTELY;INTERVAL=25: 02:50 → 07:50Z comes before
//! 03:15 → 07:15Z on the wall clock). The instants are put back in time order, and an instant
//! appears once. COUNT counts the rule's times as generated, the duplicate included (as dateutil
//! does, and as an EXDATE'd time still counts), and ends the series at the instant of the COUNT-th
//! in time order; UNTIL keeps every instant at or before it. Only a COUNT or UNTIL that ends inside
//! the hour after a gap, between interleaved times, can differ from dateutil, which stops at the
//! COUNT-th (or first later) time in wall-clock order even if earlier instants follow it.

use crate::error::{InvalidInput, RecurrenceError};
use crate::rrule::{parse_rule, Generator, Rule, Until};
use crate::time::{Resolved, ZoneResolver};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use std::collections::VecDeque;

/// The recurrence of a series: RRULE plus RDATE and EXDATE lists, all in the series' wall clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub rule: Option<Rule>,
    pub rdates: Vec<NaiveDateTime>,
    pub exdates: Vec<NaiveDateTime>,
}

impl Recurrence {
    pub fn parse(
        rrule: Option<&str>,
        rdates: Vec<NaiveDateTime>,
        exdates: Vec<NaiveDateTime>,
    ) -> Result<Self, RecurrenceError> {
        let rule = match rrule.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => Some(parse_rule(text)?),
            None => None,
        };
        let mut rdates = rdates;
        rdates.sort();
        rdates.dedup();
        let mut exdates = exdates;
        exdates.sort();
        exdates.dedup();
        if rule.is_none() && rdates.is_empty() && !exdates.is_empty() {
            return Err(RecurrenceError::Invalid(
                "EXDATE needs an RRULE or RDATE to exclude from".into(),
            ));
        }
        Ok(Recurrence {
            rule,
            rdates,
            exdates,
        })
    }
}

/// How long each occurrence lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// An RFC 5545 / ISO 8601 duration: days (and weeks) are nominal — a day is a calendar day even
    /// across DST — and the time part is exact elapsed time.
    Duration { days: i64, seconds: i64 },
    /// Given as a local end: the end keeps its wall-clock distance from the start (09:00–17:00 is
    /// 09:00–17:00 local on a DST change day, 7 or 9 elapsed hours).
    WallClock { seconds: i64 },
}

impl Length {
    /// The longest an occurrence can be, in elapsed seconds (nominal days can grow by an hour or so).
    fn max_elapsed(&self) -> i64 {
        match *self {
            Length::Duration { days, seconds } => {
                days * 86_400 + seconds + if days > 0 { 3 * 3600 } else { 0 }
            }
            Length::WallClock { seconds } => seconds + 3 * 3600,
        }
    }

    /// The length as written, a day counted as 86 400 s: `P400D` and `PT34560000S` are the same
    /// here, so one limit holds whichever way a duration is written.
    fn nominal_seconds(&self) -> i64 {
        match *self {
            Length::Duration { days, seconds } => {
                days.saturating_mul(86_400).saturating_add(seconds)
            }
            Length::WallClock { seconds } => seconds,
        }
    }
}

/// Longest occurrence accepted: a bit more than a year.
pub const MAX_LENGTH_DAYS: i64 = 400;
/// Series start within these years. (The zone database bundled by chrono-tz has transitions up to
/// 2099; after that the last known offset is used.)
pub const MIN_YEAR: i32 = 1000;
pub const MAX_YEAR: i32 = 9998;

/// Everything needed to expand a series, validated. Build it with [`Schedule::new`].
#[derive(Debug, Clone)]
pub struct Schedule {
    start: NaiveDateTime,
    zone: Tz,
    length: Length,
    all_day: bool,
    recurrence: Option<Recurrence>,
    /// The last instant a rule occurrence may start at (from UNTIL or COUNT); `None`: forever.
    rule_bound: Option<i64>,
    rdates: Vec<(i64, i64)>,
    exdates: Vec<i64>,
    max_elapsed: i64,
}

/// An occurrence's position in its series: its original start (RECURRENCE-ID) as an instant, and
/// the wall-clock time it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instance {
    pub start: i64,
    pub local: i64,
}

impl Schedule {
    /// Validates and prepares a schedule. For all-day series `start` is midnight of the first day
    /// and RDATE/EXDATE values are midnights too.
    pub fn new(
        start: NaiveDateTime,
        zone: Tz,
        length: Length,
        all_day: bool,
        recurrence: Option<Recurrence>,
    ) -> Result<Self, InvalidInput> {
        Self::build(start, zone, length, all_day, recurrence, None, true)
    }

    /// Rebuilds a stored schedule. `stored_bound` is what [`Schedule::rule_bound`] returned when it
    /// was saved; for COUNT rules it spares replaying the rule on every load. The text is parsed
    /// again, but the searches that prove a rule produces an occurrence are not repeated: they
    /// passed when it was saved, and every query loads every series it touches.
    pub fn restore(
        start: NaiveDateTime,
        zone: Tz,
        length: Length,
        all_day: bool,
        recurrence: Option<Recurrence>,
        stored_bound: Option<i64>,
    ) -> Result<Self, InvalidInput> {
        Self::build(
            start,
            zone,
            length,
            all_day,
            recurrence,
            stored_bound,
            false,
        )
    }

    fn build(
        start: NaiveDateTime,
        zone: Tz,
        length: Length,
        all_day: bool,
        recurrence: Option<Recurrence>,
        stored_bound: Option<i64>,
        prove_occurs: bool,
    ) -> Result<Self, InvalidInput> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&start.year()) {
            return Err(InvalidInput::field(
                "start",
                format!("the series must start between the years {MIN_YEAR} and {MAX_YEAR}"),
            ));
        }
        match length {
            Length::Duration { days, seconds }
                if days < 0 || seconds < 0 || (days == 0 && seconds == 0) =>
            {
                return Err(InvalidInput::field("duration", "must be positive"));
            }
            Length::WallClock { seconds } if seconds <= 0 => {
                return Err(InvalidInput::field("end", "must be after the start"));
            }
            _ => {}
        }
        if length.nominal_seconds() > MAX_LENGTH_DAYS * 86_400 {
            return Err(InvalidInput::field(
                "duration",
                format!("may be at most {MAX_LENGTH_DAYS} days"),
            ));
        }
        if all_day && start.time() != NaiveTime::MIN {
            return Err(InvalidInput::field(
                "start",
                "an all-day series starts at a date, not a time",
            ));
        }
        let mut resolver = ZoneResolver::new(zone);
        let mut rdates = Vec::new();
        let mut exdates = Vec::new();
        if let Some(rec) = &recurrence {
            for (list, name) in [(&rec.rdates, "rdates"), (&rec.exdates, "exdates")] {
                for d in list.iter() {
                    if !(MIN_YEAR..=MAX_YEAR + 1).contains(&d.year()) {
                        return Err(InvalidInput::field(
                            name,
                            format!("{d} is outside the supported years"),
                        ));
                    }
                    if all_day && d.time() != NaiveTime::MIN {
                        return Err(InvalidInput::field(
                            name,
                            "an all-day series takes dates here, not times",
                        ));
                    }
                }
            }
            rdates = rec
                .rdates
                .iter()
                .map(|d| (resolver.instant_of(*d), d.and_utc().timestamp()))
                .collect();
            rdates.sort();
            rdates.dedup_by_key(|r| r.0);
            exdates = rec
                .exdates
                .iter()
                .map(|d| resolver.instant_of(*d))
                .collect();
            exdates.sort_unstable();
            exdates.dedup();
        }
        let mut schedule = Schedule {
            start,
            zone,
            length,
            all_day,
            recurrence,
            rule_bound: None,
            rdates,
            exdates,
            max_elapsed: length.max_elapsed(),
        };
        schedule.rule_bound = match (stored_bound, schedule.rule().and_then(Rule::count)) {
            (Some(b), Some(_)) => Some(b),
            _ => schedule.compute_rule_bound(&mut resolver, prove_occurs)?,
        };
        Ok(schedule)
    }

    pub fn start(&self) -> NaiveDateTime {
        self.start
    }
    pub fn zone(&self) -> Tz {
        self.zone
    }
    pub fn length(&self) -> Length {
        self.length
    }
    pub fn all_day(&self) -> bool {
        self.all_day
    }
    pub fn recurrence(&self) -> Option<&Recurrence> {
        self.recurrence.as_ref()
    }
    pub fn rule(&self) -> Option<&Rule> {
        self.recurrence.as_ref().and_then(|r| r.rule.as_ref())
    }
    /// The last instant a rule occurrence may start at (UNTIL, or the COUNT-th occurrence).
    pub fn rule_bound(&self) -> Option<i64> {
        self.rule_bound
    }

    /// The longest any occurrence lasts, in seconds.
    pub fn max_elapsed(&self) -> i64 {
        self.max_elapsed
    }

    /// First and last instant at which an occurrence starts (`None` last: never ends), counting
    /// EXDATE'd ones; used to store a searchable span for the series.
    pub fn start_span(&self) -> (i64, Option<i64>) {
        let mut resolver = ZoneResolver::new(self.zone);
        let first_rule = if self.rule().is_some() {
            self.rule_instants(i64::MIN).next().map(|i| i.start)
        } else {
            Some(resolver.instant_of(self.start))
        };
        let first_rdate = self.rdates.first().map(|r| r.0);
        let first = first_rule
            .into_iter()
            .chain(first_rdate)
            .min()
            .unwrap_or_else(|| resolver.instant_of(self.start));
        let last_rule = match self.rule() {
            Some(r) if r.is_unbounded() => return (first, None),
            Some(_) => self.rule_bound,
            None => Some(resolver.instant_of(self.start)),
        };
        let last = last_rule
            .into_iter()
            .chain(self.rdates.last().map(|r| r.0))
            .max();
        (first, last)
    }

    /// The UNTIL or COUNT bound as an instant. COUNT is found by running the rule once: after
    /// this, every expansion can seek.
    /// With `prove_occurs`, also refuses rules that can never produce an occurrence.
    fn compute_rule_bound(
        &self,
        resolver: &mut ZoneResolver,
        prove_occurs: bool,
    ) -> Result<Option<i64>, InvalidInput> {
        let Some(rule) = self.rule() else {
            return Ok(None);
        };
        let bound = match rule.until() {
            Some(Until::Utc(t)) => Some(t.and_utc().timestamp()),
            Some(Until::Local(t)) => Some(resolver.instant_of(t)),
            Some(Until::Date(d)) if self.all_day => {
                Some(resolver.instant_of(d.and_time(NaiveTime::MIN)))
            }
            Some(Until::Date(d)) => {
                let next = d.succ_opt().unwrap_or(d).and_time(NaiveTime::MIN);
                Some(resolver.instant_of(next) - 1)
            }
            None => None,
        };
        if !prove_occurs {
            return Ok(match rule.count() {
                Some(_) => self
                    .rule_candidates(i64::MIN)
                    .take(rule.count().unwrap_or(0) as usize)
                    .last()
                    .map(|i| i.start),
                None => bound,
            });
        }
        let mut generator =
            Generator::new(rule, self.start).map_err(RecurrenceError::NeverOccurs)?;
        if generator.next_local().is_none() {
            return Err(RecurrenceError::NeverOccurs(format!("{rule} matches no date")).into());
        }
        if let Some(b) = bound {
            let dtstart = resolver.instant_of(self.start);
            if b < dtstart {
                return Err(RecurrenceError::Invalid(format!(
                    "UNTIL ({}) is before the series starts",
                    crate::time::instant(b)
                ))
                .into());
            }
            let mut probe = self.rule_instants(i64::MIN);
            probe.bound = Some(b);
            if probe.next().is_none() && self.rdates.is_empty() {
                return Err(RecurrenceError::NeverOccurs(format!(
                    "{rule} has no occurrence before its UNTIL"
                ))
                .into());
            }
            return Ok(Some(b));
        }
        let Some(count) = rule.count() else {
            return Ok(None);
        };
        // COUNT is the one bound that cannot be found by seeking: the COUNT-th time is only known
        // by walking every period of the rule up to it, the empty ones included. A sparse rule
        // (SECONDLY;INTERVAL=7 kept to one second a day) has hundreds of thousands of empty
        // lattice steps per occurrence, so the walk is budgeted in steps, not occurrences.
        let allowance = step_budget::remaining();
        let mut n = 0u32;
        let mut last = None;
        let mut candidates = self.rule_candidates(i64::MIN);
        while let Some(inst) = candidates.next() {
            n += 1;
            last = Some(inst.start);
            if n == count {
                break;
            }
            if candidates.steps() > allowance {
                return Err(step_budget::exhausted(rule, n, allowance));
            }
        }
        if candidates.steps() > allowance {
            return Err(step_budget::exhausted(rule, n, allowance));
        }
        step_budget::spend(candidates.steps());
        Ok(last)
    }

    /// The rule's instants (no RDATE/EXDATE), from the first that starts at or after `from`.
    fn rule_instants(&self, from: i64) -> RuleInstants {
        let rule = self.rule();
        let resolver = ZoneResolver::new(self.zone);
        let generator = rule
            .and_then(|r| Generator::new(r, self.start).ok())
            .map(|mut g| {
                if from != i64::MIN {
                    // Seek to the earliest wall-clock time that could resolve to `from` or later: a
                    // gap can move a time forward by up to the offset change, so use the smallest
                    // offset nearby.
                    let local_a = resolver.local_of(from);
                    let local_b = resolver.local_of(from - 2 * 86_400) + 2 * 86_400;
                    let target = local_a.min(local_b) - 3600;
                    if let Some(t) = chrono::DateTime::from_timestamp(target, 0) {
                        g.seek(t.naive_utc());
                    }
                }
                g
            });
        RuleInstants {
            generator,
            resolver,
            shifted: VecDeque::new(),
            held: None,
            last: i64::MIN,
            bound: self.rule_bound,
            from,
            done: false,
            keep_duplicates: false,
        }
    }

    /// The rule's times as COUNT counts them: like [`Self::rule_instants`], but a gap-shifted
    /// time that lands on an instant the rule also produces is kept twice.
    fn rule_candidates(&self, from: i64) -> RuleInstants {
        RuleInstants {
            keep_duplicates: true,
            ..self.rule_instants(from)
        }
    }

    /// Occurrence starts at or after `from`, in order: rule instants and RDATEs merged, EXDATEs
    /// removed. A series with no recurrence yields its single start.
    pub fn instances_from(&self, from: i64) -> Instances<'_> {
        let single = if self.recurrence.is_none() {
            let mut r = ZoneResolver::new(self.zone);
            let local = self.start.and_utc().timestamp();
            let start = r.resolve(local).instant();
            (start >= from).then_some(Instance { start, local })
        } else {
            None
        };
        let rdate_pos = self.rdates.partition_point(|r| r.0 < from);
        let exdate_pos = self.exdates.partition_point(|e| *e < from);
        Instances {
            schedule: self,
            rule: self.rule().map(|_| self.rule_instants(from)),
            next_rule: None,
            rdate_pos,
            exdate_pos,
            single,
            last: i64::MIN,
        }
    }

    /// The end instant of an occurrence.
    pub fn end_of(&self, inst: Instance, resolver: &mut ZoneResolver) -> i64 {
        match self.length {
            Length::Duration { days: 0, seconds } => inst.start + seconds,
            Length::Duration { days, seconds } => {
                let end_local = resolver.resolve(inst.local + days * 86_400).instant();
                end_local.max(inst.start) + seconds
            }
            Length::WallClock { seconds } => {
                let end = resolver.resolve(inst.local + seconds).instant();
                if end > inst.start {
                    end
                } else {
                    inst.start + seconds
                }
            }
        }
    }

    /// For all-day series: the local date of an occurrence.
    pub fn local_date(inst: Instance) -> NaiveDate {
        crate::time::instant(inst.local).date_naive()
    }

    /// The occurrence whose original start is `start`, if the schedule generates one.
    pub fn instance_at(&self, start: i64) -> Option<Instance> {
        self.instances_from(start)
            .next()
            .filter(|i| i.start == start)
    }

    /// How many occurrences the RRULE (not RDATE) produced before `t` — EXDATE'd ones and
    /// gap-shifted duplicates included, as COUNT counts them.
    pub fn rule_count_before(&self, t: i64) -> u32 {
        if self.rule().is_none() {
            return 0;
        }
        self.rule_candidates(i64::MIN)
            .take_while(|i| i.start < t)
            .count() as u32
    }

    /// The first RRULE occurrence starting at or after `t`.
    pub fn first_rule_instance_from(&self, t: i64) -> Option<Instance> {
        self.rule()?;
        self.rule_instants(t).next()
    }

    /// Every occurrence start (RECURRENCE-ID instant) in [from, to) — for tests and previews.
    pub fn starts_between(&self, from: i64, to: i64) -> Vec<i64> {
        self.instances_from(from)
            .take_while(|i| i.start < to)
            .map(|i| i.start)
            .collect()
    }
}

/// The most steps of its rule (periods — years, months, … seconds of the INTERVAL lattice — and
/// the lattice steps skipped between them, empty ones included) one request may spend walking
/// COUNT rules to their COUNT-th occurrence. Saving a COUNT series walks them once; a rule that
/// needs more is refused rather than holding a core. About 20 ms of one core.
pub const MAX_RULE_STEPS: u64 = 4_000_000;

/// What walking COUNT rules may cost, shared by every schedule built inside one scope.
///
/// A scope, not a parameter, because the schedules a request builds are built deep inside the
/// edit planners (a split builds two, an import hundreds) and the budget belongs to the request:
/// ten sparse rules in one import share one budget instead of spending ten. The scope is
/// per thread and explicit (`within`), so it is still deterministic: no clock is read.
pub mod step_budget {
    use super::{RecurrenceError, Rule};
    use crate::error::InvalidInput;
    use std::cell::Cell;

    /// The innermost scope on this thread.
    #[derive(Clone, Copy)]
    struct Scope {
        limit: u64,
        left: u64,
        ran_out: bool,
    }

    thread_local! {
        /// `None` outside any scope: then each schedule may spend the whole default on its own.
        static SCOPE: Cell<Option<Scope>> = const { Cell::new(None) };
    }

    /// How a scope ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Spent {
        pub steps: u64,
        /// A COUNT walk needed more than was left (and was refused with `TooCostly`).
        pub ran_out: bool,
    }

    /// Runs `work` with at most `limit` rule steps for all the COUNT walks inside it.
    pub fn within<T>(limit: u64, work: impl FnOnce() -> T) -> (T, Spent) {
        let outer = SCOPE.with(|s| {
            s.replace(Some(Scope {
                limit,
                left: limit,
                ran_out: false,
            }))
        });
        let out = work();
        let inner = SCOPE.with(|s| s.replace(outer));
        let spent = inner.map_or(
            Spent {
                steps: 0,
                ran_out: false,
            },
            |i| Spent {
                steps: i.limit - i.left,
                ran_out: i.ran_out,
            },
        );
        (out, spent)
    }

    pub(super) fn remaining() -> u64 {
        SCOPE
            .with(Cell::get)
            .map_or(super::MAX_RULE_STEPS, |s| s.left)
    }

    pub(super) fn spend(steps: u64) {
        SCOPE.with(|s| {
            if let Some(mut scope) = s.get() {
                scope.left = scope.left.saturating_sub(steps);
                s.set(Some(scope));
            }
        });
    }

    pub(super) fn exhausted(rule: &Rule, reached: u32, allowance: u64) -> InvalidInput {
        let limit = SCOPE.with(|s| match s.get() {
            Some(mut scope) => {
                scope.left = 0;
                scope.ran_out = true;
                s.set(Some(scope));
                scope.limit
            }
            None => super::MAX_RULE_STEPS,
        });
        let shared = if allowance < limit {
            format!(
                " (other rules in the same request spent {} of them)",
                limit - allowance
            )
        } else {
            String::new()
        };
        RecurrenceError::TooCostly(format!(
            "{rule} takes more than the {limit} steps of its rule one request may spend to reach \
             its COUNT{shared} ({reached} occurrences found by then); use a smaller COUNT, an \
             UNTIL, or a denser rule"
        ))
        .into()
    }
}

/// The rule's instants in order (see the module doc for the DST rules).
struct RuleInstants {
    generator: Option<Generator>,
    resolver: ZoneResolver,
    /// Gap-shifted times not yet due: they land among the instants of the real times that follow
    /// the gap on the wall clock, so they wait until those catch up. In order (one gap at a time).
    shifted: VecDeque<Instance>,
    /// The next real (not gap-shifted) time, pulled while shifted ones wait.
    held: Option<Instance>,
    last: i64,
    bound: Option<i64>,
    from: i64,
    done: bool,
    keep_duplicates: bool,
}

impl RuleInstants {
    /// The steps its generator has taken so far.
    fn steps(&self) -> u64 {
        self.generator.as_ref().map_or(0, Generator::steps)
    }

    /// The rule's times in instant order, duplicates included. Real times resolve in order (the
    /// earlier reading of a repeated time keeps them monotonic), and so do the shifted ones of a
    /// gap, so this is a merge of two ordered streams with one real time of lookahead.
    fn next_raw(&mut self) -> Option<Instance> {
        if self.held.is_none() && self.shifted.is_empty() {
            // Away from gaps nothing waits: a real time is the next instant as it comes.
            let local = match self
                .generator
                .as_mut()
                .filter(|_| !self.done)
                .and_then(Generator::next_local)
            {
                Some(local) => local,
                None => {
                    self.done = true;
                    return None;
                }
            };
            match self.resolver.resolve(local) {
                Resolved::Single(start) | Resolved::Repeated(start, _) => {
                    return Some(Instance { start, local })
                }
                Resolved::Skipped(start) => self.shifted.push_back(Instance { start, local }),
            }
        }
        while self.held.is_none() && !self.done {
            let Some(local) = self.generator.as_mut().and_then(Generator::next_local) else {
                self.done = true;
                break;
            };
            match self.resolver.resolve(local) {
                Resolved::Single(start) | Resolved::Repeated(start, _) => {
                    self.held = Some(Instance { start, local })
                }
                Resolved::Skipped(start) => self.shifted.push_back(Instance { start, local }),
            }
        }
        match (self.shifted.front(), self.held) {
            (Some(s), Some(h)) if h.start < s.start => self.held.take(),
            (Some(_), _) => self.shifted.pop_front(),
            (None, _) => self.held.take(),
        }
    }
}

impl Iterator for RuleInstants {
    type Item = Instance;
    fn next(&mut self) -> Option<Instance> {
        loop {
            let inst = self.next_raw()?;
            if inst.start < self.last || (inst.start == self.last && !self.keep_duplicates) {
                continue; // a gap-shifted time that coincides with one already produced
            }
            if self.bound.is_some_and(|b| inst.start > b) {
                self.done = true;
                self.held = None;
                self.shifted.clear();
                return None;
            }
            self.last = inst.start;
            if inst.start < self.from {
                continue;
            }
            return Some(inst);
        }
    }
}

/// A schedule's occurrence starts in order (see [`Schedule::instances_from`]).
pub struct Instances<'a> {
    schedule: &'a Schedule,
    rule: Option<RuleInstants>,
    next_rule: Option<Instance>,
    rdate_pos: usize,
    exdate_pos: usize,
    single: Option<Instance>,
    last: i64,
}

impl Iterator for Instances<'_> {
    type Item = Instance;
    fn next(&mut self) -> Option<Instance> {
        if let Some(s) = self.single.take() {
            return Some(s);
        }
        loop {
            if self.next_rule.is_none() {
                self.next_rule = self.rule.as_mut().and_then(Iterator::next);
            }
            let rdate = self
                .schedule
                .rdates
                .get(self.rdate_pos)
                .map(|&(start, local)| Instance { start, local });
            let inst = match (self.next_rule, rdate) {
                (None, None) => return None,
                (Some(r), None) => {
                    self.next_rule = None;
                    r
                }
                (None, Some(d)) => {
                    self.rdate_pos += 1;
                    d
                }
                (Some(r), Some(d)) => {
                    if d.start < r.start {
                        self.rdate_pos += 1;
                        d
                    } else {
                        if d.start == r.start {
                            self.rdate_pos += 1; // an RDATE equal to a rule instance appears once
                        }
                        self.next_rule = None;
                        r
                    }
                }
            };
            if inst.start <= self.last {
                continue;
            }
            self.last = inst.start;
            let ex = &self.schedule.exdates;
            while self.exdate_pos < ex.len() && ex[self.exdate_pos] < inst.start {
                self.exdate_pos += 1;
            }
            if ex.get(self.exdate_pos) == Some(&inst.start) {
                continue;
            }
            return Some(inst);
        }
    }
}

/// Parses an ISO 8601 duration of the forms RFC 5545 allows (`P1W`, `P1D`, `PT1H30M`,
/// `P1DT2H`, `PT45S`) into a [`Length::Duration`].
pub fn parse_duration(text: &str) -> Result<Length, InvalidInput> {
    let bad = || {
        InvalidInput::field(
            "duration",
            format!("{text:?} is not an ISO 8601 duration like PT1H, PT30M, P1D or P1DT2H"),
        )
    };
    let s = text.trim().to_ascii_uppercase();
    let rest = s.strip_prefix('P').ok_or_else(bad)?;
    if rest.is_empty() {
        return Err(bad());
    }
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return Err(bad());
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut days: i64 = 0;
    let mut seconds: i64 = 0;
    let mut num = String::new();
    for c in date_part.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().map_err(|_| bad())?;
        num.clear();
        match c {
            'W' => {
                days = days
                    .checked_add(n.checked_mul(7).ok_or_else(bad)?)
                    .ok_or_else(bad)?
            }
            'D' => days = days.checked_add(n).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    if !num.is_empty() {
        return Err(bad());
    }
    if let Some(t) = time_part {
        for c in t.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().map_err(|_| bad())?;
            num.clear();
            let unit = match c {
                'H' => 3600,
                'M' => 60,
                'S' => 1,
                _ => return Err(bad()),
            };
            seconds = seconds
                .checked_add(n.checked_mul(unit).ok_or_else(bad)?)
                .ok_or_else(bad)?;
        }
        if !num.is_empty() {
            return Err(bad());
        }
    }
    let length = Length::Duration { days, seconds };
    if days > MAX_LENGTH_DAYS || length.nominal_seconds() > MAX_LENGTH_DAYS * 86_400 {
        return Err(InvalidInput::field(
            "duration",
            format!("may be at most {MAX_LENGTH_DAYS} days"),
        ));
    }
    Ok(length)
}

/// Renders a [`Length`] back as an ISO 8601 duration (wall-clock lengths as their nominal time).
pub fn format_duration(length: Length) -> String {
    let (days, secs) = match length {
        Length::Duration { days, seconds } => (days, seconds),
        Length::WallClock { seconds } => (0, seconds),
    };
    let mut s = String::from("P");
    if days > 0 {
        s.push_str(&format!("{days}D"));
    }
    if secs > 0 || days == 0 {
        s.push('T');
        let (h, m, sec) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            s.push_str(&format!("{h}H"));
        }
        if m > 0 {
            s.push_str(&format!("{m}M"));
        }
        if sec > 0 || (h == 0 && m == 0) {
            s.push_str(&format!("{sec}S"));
        }
    }
    s
}

/// The wall-clock seconds of a duration's nominal part, for callers that need a rough size.
pub fn nominal_seconds(length: Length) -> i64 {
    match length {
        Length::Duration { days, seconds } => days * 86_400 + seconds,
        Length::WallClock { seconds } => seconds,
    }
}

/// A convenience for tests and callers that hold chrono durations.
pub fn exact(d: Duration) -> Length {
    Length::Duration {
        days: 0,
        seconds: d.num_seconds(),
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn sparse(count: u32) -> Result<Schedule, InvalidInput> {
        with_rule(&format!(
            "FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11;COUNT={count}"
        ))
    }

    fn with_rule(rule: &str) -> Result<Schedule, InvalidInput> {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a date");
        let rec = Recurrence {
            rule: Some(parse_rule(rule).expect("a rule")),
            rdates: vec![],
            exdates: vec![],
        };
        Schedule::new(
            start,
            Tz::UTC,
            exact(Duration::minutes(1)),
            false,
            Some(rec),
        )
    }

    #[test]
    fn the_schedules_of_one_scope_share_its_step_budget() {
        let (one, spent) = step_budget::within(MAX_RULE_STEPS, || sparse(100));
        assert!(
            one.is_ok() && !spent.ran_out && spent.steps > 1000,
            "{spent:?}"
        );
        // Room for one and a half: the first is built, the second runs out and says why.
        let room = spent.steps + spent.steps / 2;
        let ((first, second), both) = step_budget::within(room, || (sparse(100), sparse(100)));
        assert!(first.is_ok());
        let err = second.expect_err("the budget is spent").to_string();
        assert!(err.contains("other rules in the same request"), "{err}");
        assert!(both.ran_out);
        // Outside a scope each schedule has the whole default to itself, however many came before.
        for _ in 0..3 {
            assert!(sparse(100).is_ok());
        }
        // An everyday rule fits the inline budget with room to spare.
        let (weekly, small) = step_budget::within(1_000, || with_rule("FREQ=WEEKLY;COUNT=10"));
        assert!(
            weekly.is_ok() && !small.ran_out && small.steps < 1_000,
            "{small:?}"
        );
    }

    #[test]
    fn one_duration_limit_whichever_way_it_is_written() {
        for ok in ["P400D", "PT34560000S", "PT9600H", "P57W1D", "P399DT86400S"] {
            assert!(parse_duration(ok).is_ok(), "{ok}");
        }
        for over in [
            "P401D",
            "P400DT1S",
            "PT34560001S",
            "PT9601H",
            "P58W",
            "P399DT86401S",
        ] {
            assert!(parse_duration(over).is_err(), "{over}");
        }
    }
}

#[cfg(test)]
mod rule_budget {
    use super::*;

    fn schedule(rule: &str) -> Result<Schedule, InvalidInput> {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a date");
        let rec = Recurrence::parse(Some(rule), vec![], vec![]).expect("a rule");
        Schedule::new(
            start,
            chrono_tz::America::New_York,
            Length::Duration {
                days: 0,
                seconds: 60,
            },
            false,
            Some(rec),
        )
    }

    #[test]
    fn a_sparse_count_rule_past_the_budget_is_refused_and_says_why() {
        let err =
            schedule("FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11;COUNT=1000000")
                .expect_err("past the budget");
        assert!(
            matches!(err, InvalidInput::Recurrence(RecurrenceError::TooCostly(_))),
            "{err:?}"
        );
        assert!(err.to_string().contains("UNTIL"), "{err}");
    }

    #[test]
    fn dense_and_short_count_rules_stay_within_it() {
        let dense = schedule("FREQ=MINUTELY;COUNT=1000000").expect("dense");
        let last = dense.rule_bound().expect("a COUNT bound");
        assert_eq!(dense.starts_between(last, last + 1).len(), 1);
        assert_eq!(dense.rule_count_before(last + 1), 1_000_000);
        let sparse = schedule("FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11;COUNT=100")
            .expect("sparse, short");
        let starts = sparse.starts_between(i64::MIN / 2, i64::MAX / 2);
        assert_eq!(starts.len(), 100);
        assert_eq!(starts.last().copied(), sparse.rule_bound());
    }
}
