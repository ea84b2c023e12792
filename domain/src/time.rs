//! Time zones, wall-clock resolution and query windows.
//!
//! **The local-time rule** (RFC 5545 §3.3.5, what Google and Outlook do): a wall-clock time that
//! does not exist because of a spring-forward gap is read with the offset in force *before* the
//! gap, so it moves forward by the gap's length (02:30 on 2026-03-08 in New York is 03:30 EDT); a
//! wall-clock time that occurs twice at fall-back means the *first* (earlier) one.

use crate::error::InvalidInput;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};

/// Parses an IANA zone name ("Europe/Berlin"). The error names the input.
pub fn parse_zone(name: &str) -> Result<Tz, InvalidInput> {
    // No trimming: a zone is named exactly as the IANA database spells it.
    name.parse::<Tz>().map_err(|_| {
        InvalidInput::field(
            "timeZone",
            format!("{name:?} is not an IANA time zone name (for example \"Europe/Berlin\")"),
        )
    })
}

/// How a wall-clock time maps to instants (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Single(i64),
    /// The time occurs twice (fall-back): the earlier and the later instant.
    Repeated(i64, i64),
    /// The time falls in a gap; the instant is the RFC reading (offset before the gap).
    Skipped(i64),
}

impl Resolved {
    /// The instant RFC 5545 assigns: the only one, the earlier one, or the gap-shifted one.
    pub fn instant(self) -> i64 {
        match self {
            Resolved::Single(t) | Resolved::Repeated(t, _) | Resolved::Skipped(t) => t,
        }
    }
}

/// Converts wall-clock times in one zone to instants, remembering the last offset span so that
/// consecutive occurrences (which are close together) rarely need a table search.
#[derive(Debug, Clone)]
pub struct ZoneResolver {
    tz: Tz,
    /// Wall-clock seconds [lo, hi) known to map one-to-one with `offset`.
    lo: i64,
    hi: i64,
    offset: i64,
    /// Table searches since the span was last learned; learning costs ~50 searches, so it is
    /// only done once an expansion has shown it will resolve many times.
    misses: u32,
}

const DAY: i64 = 86_400;
/// The resolver's probing step when it learns an offset's span (see `learn_span`).
pub const LEARN_STEP_DAYS: i64 = 3;

impl ZoneResolver {
    pub fn new(tz: Tz) -> Self {
        ZoneResolver {
            tz,
            lo: 0,
            hi: 0,
            offset: 0,
            misses: 0,
        }
    }

    pub fn zone(&self) -> Tz {
        self.tz
    }

    fn offset_at_utc(&self, utc: i64) -> i64 {
        match DateTime::from_timestamp(utc, 0) {
            Some(t) => i64::from(
                self.tz
                    .offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
            None => 0,
        }
    }

    /// Resolves wall-clock seconds (see `rrule::generator::local_seconds`).
    pub fn resolve(&mut self, local: i64) -> Resolved {
        if local >= self.lo && local < self.hi {
            return Resolved::Single(local - self.offset);
        }
        let Some(naive) = DateTime::from_timestamp(local, 0).map(|d| d.naive_utc()) else {
            return Resolved::Single(local);
        };
        match self.tz.offset_from_local_datetime(&naive) {
            chrono::LocalResult::Single(o) => {
                let off = i64::from(o.fix().local_minus_utc());
                self.misses += 1;
                if self.misses >= 16 {
                    self.misses = 0;
                    self.learn_span(local, off);
                }
                Resolved::Single(local - off)
            }
            chrono::LocalResult::Ambiguous(a, b) => {
                let (a, b) = (
                    i64::from(a.fix().local_minus_utc()),
                    i64::from(b.fix().local_minus_utc()),
                );
                let (x, y) = (local - a, local - b);
                Resolved::Repeated(x.min(y), x.max(y))
            }
            chrono::LocalResult::None => {
                let before = GapInfo::new(&naive, &self.tz)
                    .and_then(|g| g.begin)
                    .map(|(_, off)| i64::from(off.fix().local_minus_utc()))
                    .unwrap_or_else(|| self.offset_at_utc(local - DAY));
                Resolved::Skipped(local - before)
            }
        }
    }

    /// Finds how far around `local` the offset stays the same, so later calls skip the search.
    /// Steps out [`LEARN_STEP_DAYS`] at a time until the offset differs, then bisects to the second.
    /// An offset that changed and changed back within one step would be missed: the tz database
    /// has no two changes less than 6.9 days apart between 1900 and 2100 (America/Boa_Vista, 2000),
    /// and a test checks the whole database against the step.
    fn learn_span(&mut self, local: i64, off: i64) {
        let utc = local - off;
        // Step outwards a week at a time, at most a year, then refine by bisection.
        let edge = |dir: i64| -> i64 {
            let mut inside = utc;
            let step = LEARN_STEP_DAYS * DAY;
            let mut probe = utc + dir * step;
            let mut n = 0;
            while self.offset_at_utc(probe) == off {
                inside = probe;
                n += 1;
                if n > 60 {
                    return inside; // stable for half a year: good enough as a bound
                }
                probe += dir * step;
            }
            // inside has `off`, probe does not: bisect to the second.
            let mut outside = probe;
            while (outside - inside).abs() > 1 {
                let mid = inside + (outside - inside) / 2;
                if self.offset_at_utc(mid) == off {
                    inside = mid;
                } else {
                    outside = mid;
                }
            }
            inside
        };
        let first = edge(-1);
        let last = edge(1);
        // Keep two days' margin at both ends so that a wall-clock time near a transition (which
        // could be repeated or skipped, by up to a day in the database) always takes the exact path.
        self.lo = first + off + 2 * DAY;
        self.hi = last + off - 2 * DAY;
        self.offset = off;
    }

    /// The instant of a wall-clock date-time under the RFC rule.
    pub fn instant_of(&mut self, local: NaiveDateTime) -> i64 {
        self.resolve(local.and_utc().timestamp()).instant()
    }

    /// Wall-clock seconds of an instant.
    pub fn local_of(&self, utc: i64) -> i64 {
        utc + self.offset_at_utc(utc)
    }
}

/// A half-open query window [from, to) of instants; an occurrence belongs to it when it overlaps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// The longest window a query may ask for: one 400-year Gregorian cycle. Results are paginated
/// and expansion seeks, so a long window costs no more than a short one; this bounds only
/// nonsense input. Ten-year windows are routine.
pub const MAX_WINDOW_DAYS: i64 = 146_097;

impl TimeWindow {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, InvalidInput> {
        if to <= from {
            return Err(InvalidInput::field(
                "to",
                "the window's end must be after its start",
            ));
        }
        if (to - from).num_days() > MAX_WINDOW_DAYS {
            return Err(InvalidInput::RangeTooLarge(format!(
                "the window is {} days long; the maximum is {MAX_WINDOW_DAYS} days (400 years)",
                (to - from).num_days()
            )));
        }
        let range = min_instant()..=max_instant();
        if !range.contains(&from) || !range.contains(&to) {
            return Err(InvalidInput::RangeTooLarge(
                "windows must lie between the years 1000 and 9999".into(),
            ));
        }
        Ok(TimeWindow { from, to })
    }
    /// [from, the end of supported time): the window of "everything from now on", for one
    /// series' upcoming occurrences. It is longer than a query may ask for, which is safe here
    /// because slices are bounded by the page size, not the window's length (see `paging`).
    pub fn to_the_end(from: DateTime<Utc>) -> Result<Self, InvalidInput> {
        if from < min_instant() || from >= max_instant() {
            return Err(InvalidInput::RangeTooLarge(
                "from must lie between the years 1000 and 9999".into(),
            ));
        }
        Ok(TimeWindow {
            from,
            to: max_instant(),
        })
    }
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }
}

fn ymd(y: i32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_default()
}
pub fn min_instant() -> DateTime<Utc> {
    ymd(1000)
}
pub fn max_instant() -> DateTime<Utc> {
    ymd(9999)
}

/// Seconds since the epoch → `DateTime<Utc>` (saturating at chrono's range, which we never reach).
pub fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}
