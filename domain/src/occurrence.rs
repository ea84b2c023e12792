//! Occurrences: what a series expands to, their stable identity, and the ordered merge of many
//! series into one page.

use crate::ids::SeriesId;
use crate::recurrence::Instance;
use crate::series::Series;
use crate::time::{TimeWindow, ZoneResolver};
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

/// An occurrence's identity within its series: its original start (RFC 5545 RECURRENCE-ID), as an
/// instant in seconds. It does not change when the occurrence is moved or renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecurrenceId(pub i64);

impl RecurrenceId {
    pub fn instant(self) -> DateTime<Utc> {
        crate::time::instant(self.0)
    }
}

/// The stable, opaque id of an occurrence: `(series, recurrence id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OccurrenceId {
    pub series: SeriesId,
    pub recurrence_id: RecurrenceId,
}

impl fmt::Display for OccurrenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "occ_{}_{:x}", self.series.as_uuid().simple(), self.recurrence_id.0)
    }
}

impl FromStr for OccurrenceId {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use crate::ids::IdError;
        let raw = s.strip_prefix("occ_").ok_or(IdError::WrongKind)?;
        let (series, rid) = raw.split_once('_').ok_or(IdError::Malformed)?;
        if series.len() != 32 || rid.is_empty() || rid.len() > 16 {
            return Err(IdError::Malformed);
        }
        let series = uuid::Uuid::try_parse(series).map_err(|_| IdError::Malformed)?;
        let rid = i64::from_str_radix(rid, 16).map_err(|_| IdError::Malformed)?;
        Ok(OccurrenceId { series: SeriesId::from_uuid(series), recurrence_id: RecurrenceId(rid) })
    }
}

/// One occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub id: OccurrenceId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Occurrence {
    pub fn series(&self) -> SeriesId {
        self.id.series
    }
    pub fn recurrence_id(&self) -> RecurrenceId {
        self.id.recurrence_id
    }
    /// The total order of results: start, then series, then recurrence id.
    pub fn sort_key(&self) -> OccurrenceCursor {
        OccurrenceCursor { start: self.start.timestamp(), series: self.id.series, recurrence_id: self.id.recurrence_id }
    }
}

/// A position in the (start, series, recurrence id) order; pages resume strictly after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OccurrenceCursor {
    pub start: i64,
    pub series: SeriesId,
    pub recurrence_id: RecurrenceId,
}

/// The occurrences of one series that overlap a window, lazily, in start order.
pub struct SeriesOccurrences<'a> {
    series: &'a Series,
    instances: crate::recurrence::Instances<'a>,
    resolver: ZoneResolver,
    window_from: i64,
    window_to: i64,
    after: Option<OccurrenceCursor>,
}

impl<'a> SeriesOccurrences<'a> {
    pub fn new(series: &'a Series, window: TimeWindow, after: Option<OccurrenceCursor>) -> Self {
        let schedule = series.schedule();
        let from = window.from().timestamp();
        // Occurrences that started before the window but are still running overlap it.
        let mut lower = from - schedule.max_elapsed();
        if let Some(c) = after {
            lower = lower.max(c.start);
        }
        SeriesOccurrences {
            series,
            instances: schedule.instances_from(lower),
            resolver: ZoneResolver::new(schedule.zone()),
            window_from: from,
            window_to: window.to().timestamp(),
            after,
        }
    }
}

impl Iterator for SeriesOccurrences<'_> {
    type Item = Occurrence;
    fn next(&mut self) -> Option<Occurrence> {
        loop {
            let inst: Instance = self.instances.next()?;
            if inst.start >= self.window_to {
                return None;
            }
            let end = self.series.schedule().end_of(inst, &mut self.resolver);
            if end <= self.window_from {
                continue;
            }
            let occ = Occurrence {
                id: OccurrenceId { series: self.series.id, recurrence_id: RecurrenceId(inst.start) },
                start: crate::time::instant(inst.start),
                end: crate::time::instant(end),
            };
            if self.after.is_some_and(|c| occ.sort_key() <= c) {
                continue;
            }
            return Some(occ);
        }
    }
}

/// One page of occurrences across many series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccurrencePage {
    pub occurrences: Vec<Occurrence>,
    /// More occurrences overlap the window after the last one on this page.
    pub has_more: bool,
}

/// Merges the series' occurrences overlapping `window`, ordered by (start, series, recurrence id),
/// resuming strictly after `after`, at most `limit` of them. Work is proportional to the number of
/// series plus `limit`, whatever the window's length or distance from the series' starts.
pub fn occurrences_page<'a>(series: impl IntoIterator<Item = &'a Series>, window: TimeWindow, after: Option<OccurrenceCursor>, limit: usize) -> OccurrencePage {
    let mut streams: Vec<SeriesOccurrences<'a>> = series.into_iter().map(|s| SeriesOccurrences::new(s, window, after)).collect();
    let mut heap = BinaryHeap::with_capacity(streams.len());
    for (i, st) in streams.iter_mut().enumerate() {
        if let Some(o) = st.next() {
            heap.push(Reverse((o.sort_key(), i, OccurrenceKeyed(o))));
        }
    }
    let mut out = Vec::with_capacity(limit.min(1024));
    while let Some(Reverse((_, i, OccurrenceKeyed(o)))) = heap.pop() {
        if out.len() == limit {
            return OccurrencePage { occurrences: out, has_more: true };
        }
        out.push(o);
        if let Some(n) = streams[i].next() {
            heap.push(Reverse((n.sort_key(), i, OccurrenceKeyed(n))));
        }
    }
    OccurrencePage { occurrences: out, has_more: false }
}

/// Carries an occurrence through the heap; ordering comes from the key beside it.
#[derive(Debug, Clone, Copy)]
struct OccurrenceKeyed(Occurrence);
impl PartialEq for OccurrenceKeyed {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for OccurrenceKeyed {}
impl PartialOrd for OccurrenceKeyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OccurrenceKeyed {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}
