//! Free/busy, availability and bookable slots, computed from occurrences (the one expansion path:
//! `occurrence::SeriesOccurrences`, so exceptions, splits and DST apply as everywhere else).
//!
//! - **Busy** time of a calendar: its EVENT occurrences that are not cancelled and not
//!   transparent ("free"), tentative ones when the caller says so, and all BLOCKED occurrences.
//! - **Available windows**: with explicit availability, the calendar's AVAILABLE occurrences; by
//!   default, its working hours (local wall-clock hours in its zone, resolved per day, so 09:00–17:00
//!   is 09:00–17:00 local on a DST change day) or, without working hours, all the time.
//! - **Available time** = available windows − busy.
//! - A **slot** [s, s + duration) is bookable on a calendar when it lies inside available time,
//!   no busy time falls within [s − bufferBefore, s + duration + bufferAfter) (buffers apply around
//!   existing events, not at the edges of availability), s ≥ now + notice and s ≤ now + horizon.
//!   Slot starts are multiples of `step` on the output zone's wall clock (so :00/:15/:30/:45 in
//!   Kolkata too).

pub use crate::calendar::{AvailabilityMode, WorkingHours, WorkingHoursRule};
use crate::ids::{CalendarId, SeriesId};
use crate::occurrence::{OccurrenceId, SeriesOccurrences};
use crate::series::{OccurrenceStatus, Series, SeriesKind};
use crate::time::{TimeWindow, ZoneResolver};
use chrono::{Datelike, NaiveTime};
use chrono_tz::Tz;

/// A half-open interval of instants (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub start: i64,
    pub end: i64,
}

impl WorkingHours {
    /// The working intervals overlapping `window`, resolved day by day in `zone`.
    fn intervals(&self, zone: Tz, window: Interval) -> Vec<Interval> {
        let mut resolver = ZoneResolver::new(zone);
        let first = crate::time::instant(window.start)
            .with_timezone(&zone)
            .date_naive()
            .pred_opt();
        let last = crate::time::instant(window.end)
            .with_timezone(&zone)
            .date_naive();
        let mut out = Vec::new();
        let Some(mut day) = first else { return out };
        while day <= last {
            let wd = day.weekday().num_days_from_monday();
            let midnight = day.and_time(NaiveTime::MIN).and_utc().timestamp();
            for r in &self.rules {
                if r.days & (1 << wd) != 0 {
                    let iv = Interval {
                        start: resolver.resolve(midnight + i64::from(r.start)).instant(),
                        end: resolver.resolve(midnight + i64::from(r.end)).instant(),
                    };
                    if iv.end > window.start && iv.start < window.end && iv.end > iv.start {
                        out.push(iv);
                    }
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        union(out)
    }
}

/// A calendar as availability sees it.
#[derive(Debug, Clone)]
pub struct CalendarRules {
    pub calendar: CalendarId,
    pub zone: Tz,
    pub mode: AvailabilityMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyOptions {
    pub tentative_is_busy: bool,
}

/// One occurrence that makes time busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyBlock {
    pub interval: Interval,
    pub calendar: CalendarId,
    pub series: SeriesId,
    pub occurrence: OccurrenceId,
    pub kind: SeriesKind,
}

fn blocks_time(
    series: &Series,
    kind: SeriesKind,
    status: OccurrenceStatus,
    opts: BusyOptions,
) -> bool {
    match kind {
        SeriesKind::Blocked => status != OccurrenceStatus::Cancelled,
        SeriesKind::Event => {
            !series.transparent
                && status != OccurrenceStatus::Cancelled
                && (opts.tentative_is_busy || status != OccurrenceStatus::Tentative)
        }
        SeriesKind::Available => false,
    }
}

/// The occurrences of `series` that make time busy within `window`, sorted by start.
pub fn busy_blocks<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    window: TimeWindow,
    opts: BusyOptions,
) -> Vec<BusyBlock> {
    let mut out = Vec::new();
    for s in series {
        if s.kind == SeriesKind::Available && s.exceptions().iter().all(|e| e.kind.is_none()) {
            continue;
        }
        for o in SeriesOccurrences::new(s, window, None, false) {
            let kind = o.kind.unwrap_or(s.kind);
            if blocks_time(s, kind, o.status, opts) {
                out.push(BusyBlock {
                    interval: Interval {
                        start: o.start.timestamp(),
                        end: o.end.timestamp(),
                    },
                    calendar: s.calendar,
                    series: s.id,
                    occurrence: o.id,
                    kind,
                });
            }
        }
    }
    out.sort_by_key(|b| (b.interval, b.series));
    out
}

/// Sorted, merged union of intervals.
pub fn union(mut v: Vec<Interval>) -> Vec<Interval> {
    v.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for iv in v {
        match out.last_mut() {
            Some(last) if iv.start <= last.end => last.end = last.end.max(iv.end),
            _ => out.push(iv),
        }
    }
    out
}

/// `a − b` for sorted, merged interval lists.
pub fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut j = 0;
    for &iv in a {
        let mut cur = iv.start;
        while j < b.len() && b[j].end <= cur {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].start < iv.end {
            if b[k].start > cur {
                out.push(Interval {
                    start: cur,
                    end: b[k].start,
                });
            }
            cur = cur.max(b[k].end);
            k += 1;
        }
        if cur < iv.end {
            out.push(Interval {
                start: cur,
                end: iv.end,
            });
        }
    }
    out
}

/// `a ∩ b` for sorted, merged interval lists.
pub fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let s = a[i].start.max(b[j].start);
        let e = a[i].end.min(b[j].end);
        if s < e {
            out.push(Interval { start: s, end: e });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn clip(v: Vec<Interval>, w: Interval) -> Vec<Interval> {
    v.into_iter()
        .filter_map(|iv| {
            let s = iv.start.max(w.start);
            let e = iv.end.min(w.end);
            (s < e).then_some(Interval { start: s, end: e })
        })
        .collect()
}

/// A calendar's available windows (before subtracting busy time) within `window`.
pub fn available_windows<'a>(
    cal: &CalendarRules,
    series: impl IntoIterator<Item = &'a Series>,
    window: TimeWindow,
) -> Vec<Interval> {
    let w = Interval {
        start: window.from().timestamp(),
        end: window.to().timestamp(),
    };
    match &cal.mode {
        AvailabilityMode::Default {
            working_hours: None,
        } => vec![w],
        AvailabilityMode::Default {
            working_hours: Some(h),
        } => clip(h.intervals(cal.zone, w), w),
        AvailabilityMode::Explicit => {
            let mut v = Vec::new();
            for s in series {
                for o in SeriesOccurrences::new(s, window, None, false) {
                    if o.kind.unwrap_or(s.kind) == SeriesKind::Available {
                        v.push(Interval {
                            start: o.start.timestamp(),
                            end: o.end.timestamp(),
                        });
                    }
                }
            }
            clip(union(v), w)
        }
    }
}

/// Everything availability needs about one calendar over one window.
#[derive(Debug, Clone)]
pub struct CalendarTime {
    pub calendar: CalendarId,
    pub windows: Vec<Interval>,
    pub busy: Vec<BusyBlock>,
    /// `busy` merged.
    pub busy_merged: Vec<Interval>,
}

impl CalendarTime {
    pub fn compute(
        cal: &CalendarRules,
        series: &[&Series],
        window: TimeWindow,
        opts: BusyOptions,
    ) -> Self {
        let busy = busy_blocks(series.iter().copied(), window, opts);
        let busy_merged = union(busy.iter().map(|b| b.interval).collect());
        CalendarTime {
            calendar: cal.calendar,
            windows: available_windows(cal, series.iter().copied(), window),
            busy,
            busy_merged,
        }
    }
    /// Available time = available windows − busy.
    pub fn free(&self) -> Vec<Interval> {
        subtract(&self.windows, &self.busy_merged)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotMode {
    /// Every calendar must be free (collective).
    All,
    /// At least one calendar free; each slot lists which (round-robin).
    Any,
}

/// The rules of a slot search. Durations in seconds; `now` an instant.
#[derive(Debug, Clone, Copy)]
pub struct SlotRules {
    pub duration: i64,
    pub step: i64,
    pub buffer_before: i64,
    pub buffer_after: i64,
    pub notice: i64,
    pub horizon: i64,
    pub now: i64,
    pub zone: Tz,
    pub mode: SlotMode,
    /// Slots lie entirely within this span (the query window).
    pub range: Interval,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: i64,
    pub end: i64,
    /// The calendars free for this slot (all of them in ALL mode).
    pub calendars: Vec<CalendarId>,
}

/// Where slot starts may fall on one calendar: inside free time with room for the duration, and
/// with the buffers clear of busy time. Returned as intervals of allowed *start* instants.
fn start_ranges(t: &CalendarTime, r: &SlotRules) -> Vec<Interval> {
    // Starts inside a window, ending inside it.
    let in_windows: Vec<Interval> = t
        .windows
        .iter()
        .filter(|w| w.end - w.start >= r.duration)
        .map(|w| Interval {
            start: w.start,
            end: w.end - r.duration + 1,
        })
        .collect();
    // A busy interval [a, b) forbids starts in (a − duration − bufferAfter, b + bufferBefore).
    let forbidden = union(
        t.busy_merged
            .iter()
            .map(|b| Interval {
                start: b.start - r.duration - r.buffer_after + 1,
                end: b.end + r.buffer_before,
            })
            .collect(),
    );
    let rules = Interval {
        start: (r.now + r.notice).max(r.range.start),
        end: (r.now + r.horizon + 1).min(r.range.end - r.duration + 1),
    };
    if rules.start >= rules.end {
        return Vec::new();
    }
    intersect(&subtract(&union(in_windows), &forbidden), &[rules])
}

/// The first slot start ≥ `t` that is a multiple of `step` on `zone`'s wall clock.
fn align(t: i64, step: i64, resolver: &mut ZoneResolver) -> i64 {
    let local = resolver.local_of(t);
    let rem = local.rem_euclid(step);
    let mut s = if rem == 0 { t } else { t + (step - rem) };
    // Across an offset change the wall clock jumps; realign once more.
    let l2 = resolver.local_of(s);
    if l2.rem_euclid(step) != 0 {
        s += step - l2.rem_euclid(step);
    }
    s
}

fn starts_in(
    ranges: &[Interval],
    r: &SlotRules,
    resolver: &mut ZoneResolver,
    limit: usize,
    out: &mut Vec<i64>,
) {
    for iv in ranges {
        let mut s = align(iv.start, r.step, resolver);
        while s < iv.end && out.len() < limit {
            out.push(s);
            s = align(s + r.step, r.step, resolver);
        }
    }
}

/// Bookable slots across calendars, in start order, at most `limit`; the bool says more exist.
pub fn slots(times: &[CalendarTime], r: &SlotRules, limit: usize) -> (Vec<Slot>, bool) {
    let mut resolver = ZoneResolver::new(r.zone);
    let per_cal: Vec<Vec<Interval>> = times.iter().map(|t| start_ranges(t, r)).collect();
    let mut out = Vec::new();
    match r.mode {
        SlotMode::All => {
            let mut common = per_cal.first().cloned().unwrap_or_default();
            for c in per_cal.iter().skip(1) {
                common = intersect(&common, c);
            }
            let mut starts = Vec::new();
            starts_in(
                &common,
                r,
                &mut resolver,
                limit.saturating_add(1),
                &mut starts,
            );
            let cals: Vec<CalendarId> = times.iter().map(|t| t.calendar).collect();
            out.extend(starts.into_iter().map(|s| Slot {
                start: s,
                end: s + r.duration,
                calendars: cals.clone(),
            }));
        }
        SlotMode::Any => {
            let any = union(per_cal.iter().flatten().copied().collect());
            let mut starts = Vec::new();
            starts_in(&any, r, &mut resolver, limit.saturating_add(1), &mut starts);
            let mut idx = vec![0usize; per_cal.len()];
            for s in starts {
                let mut cals = Vec::new();
                for (c, ranges) in per_cal.iter().enumerate() {
                    while idx[c] < ranges.len() && ranges[idx[c]].end <= s {
                        idx[c] += 1;
                    }
                    if ranges
                        .get(idx[c])
                        .is_some_and(|iv| iv.start <= s && s < iv.end)
                    {
                        cals.push(times[c].calendar);
                    }
                }
                out.push(Slot {
                    start: s,
                    end: s + r.duration,
                    calendars: cals,
                });
            }
        }
    }
    let more = out.len() > limit;
    out.truncate(limit);
    (out, more)
}

/// Why a requested interval is not bookable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obstacle {
    /// An occurrence overlaps the interval itself.
    Occurrence(BusyBlock),
    /// An occurrence lies within the buffer around the interval.
    Buffer(BusyBlock),
    /// The interval starts sooner than the minimum notice allows.
    Notice,
    /// The interval starts later than the horizon allows.
    Horizon,
    /// The interval is not inside the calendar's available windows.
    OutsideAvailability(CalendarId),
}

/// Everything that keeps [start, end) from being booked on these calendars (empty: bookable).
pub fn why_not(times: &[CalendarTime], start: i64, end: i64, r: &SlotRules) -> Vec<Obstacle> {
    let mut out = Vec::new();
    if start < r.now + r.notice {
        out.push(Obstacle::Notice);
    }
    if start > r.now + r.horizon {
        out.push(Obstacle::Horizon);
    }
    for t in times {
        if !t.windows.iter().any(|w| w.start <= start && end <= w.end) {
            out.push(Obstacle::OutsideAvailability(t.calendar));
        }
        for b in &t.busy {
            if b.interval.start < end && b.interval.end > start {
                out.push(Obstacle::Occurrence(b.clone()));
            } else if b.interval.start < end + r.buffer_after
                && b.interval.end > start - r.buffer_before
            {
                out.push(Obstacle::Buffer(b.clone()));
            }
        }
    }
    out
}

/// Occurrences (other than `except`) that a new busy interval would overlap: the conflict check
/// on write.
pub fn conflicts<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    intervals: &[Interval],
    except: Option<OccurrenceId>,
    except_series: Option<SeriesId>,
    opts: BusyOptions,
) -> Vec<BusyBlock> {
    let Some(from) = intervals.iter().map(|i| i.start).min() else {
        return Vec::new();
    };
    let to = intervals.iter().map(|i| i.end).max().unwrap_or(from);
    let Ok(window) = TimeWindow::new(
        crate::time::instant(from),
        crate::time::instant(to.max(from + 1)),
    ) else {
        return Vec::new();
    };
    let merged = union(intervals.to_vec());
    busy_blocks(
        series.into_iter().filter(|s| Some(s.id) != except_series),
        window,
        opts,
    )
    .into_iter()
    .filter(|b| Some(b.occurrence) != except)
    .filter(|b| !intersect(&[b.interval], &merged).is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(a: i64, b: i64) -> Interval {
        Interval { start: a, end: b }
    }

    #[test]
    fn interval_algebra() {
        assert_eq!(
            union(vec![iv(5, 7), iv(0, 2), iv(1, 3), iv(3, 4)]),
            vec![iv(0, 4), iv(5, 7)]
        );
        assert_eq!(
            subtract(&[iv(0, 10)], &[iv(2, 3), iv(5, 12)]),
            vec![iv(0, 2), iv(3, 5)]
        );
        assert_eq!(
            intersect(&[iv(0, 5), iv(6, 9)], &[iv(4, 7)]),
            vec![iv(4, 5), iv(6, 7)]
        );
    }

    #[test]
    fn an_unlimited_slot_search_returns_every_slot() {
        let t = CalendarTime {
            calendar: CalendarId::from_uuid(uuid::Uuid::from_u128(1)),
            windows: vec![iv(0, 3600)],
            busy: vec![],
            busy_merged: vec![],
        };
        let r = SlotRules {
            duration: 900,
            step: 900,
            buffer_before: 0,
            buffer_after: 0,
            notice: 0,
            horizon: 86_400,
            now: 0,
            zone: chrono_tz::UTC,
            mode: SlotMode::All,
            range: iv(0, 3600),
        };
        assert_eq!(slots(std::slice::from_ref(&t), &r, usize::MAX).0.len(), 4);
        assert_eq!(
            slots(
                &[t],
                &SlotRules {
                    mode: SlotMode::Any,
                    ..r
                },
                usize::MAX
            )
            .0
            .len(),
            4
        );
    }
}
