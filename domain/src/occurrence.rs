//! Occurrences: what a series expands to, their stable identity, and the ordered merge of many
//! series into one page.

use crate::ids::SeriesId;
use crate::series::{Exception, OccurrenceStatus, Series, SeriesKind};
use crate::time::{TimeWindow, ZoneResolver};
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

// Defined with the other ids, below series (which keys its exceptions by it), so that series
// need not depend on occurrences.
pub use crate::ids::RecurrenceId;

/// The stable, opaque id of an occurrence: `(lineage root, recurrence id)`. Deriving it from the
/// root of the series' split chain (not the series itself) keeps it when a "this and following"
/// edit moves the occurrence into a continuation series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OccurrenceId {
    pub lineage: SeriesId,
    pub recurrence_id: RecurrenceId,
}

impl fmt::Display for OccurrenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "occ_{}_{:x}",
            self.lineage.as_uuid().simple(),
            self.recurrence_id.0
        )
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
        Ok(OccurrenceId {
            lineage: SeriesId::from_uuid(series),
            recurrence_id: RecurrenceId(rid),
        })
    }
}

/// One occurrence of a series, with its exception (if any) applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub id: OccurrenceId,
    pub series: SeriesId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: OccurrenceStatus,
    pub locked: bool,
    /// Shown somewhere other than its original slot.
    pub moved: bool,
    /// Overrides of the series' fields for this occurrence.
    pub title: Option<String>,
    pub description: Option<String>,
    pub kind: Option<SeriesKind>,
}

impl Occurrence {
    pub fn series(&self) -> SeriesId {
        self.series
    }
    pub fn recurrence_id(&self) -> RecurrenceId {
        self.id.recurrence_id
    }
    /// The total order of results: start, then series, then recurrence id.
    pub fn sort_key(&self) -> OccurrenceCursor {
        OccurrenceCursor {
            start: self.start.timestamp(),
            series: self.series,
            recurrence_id: self.id.recurrence_id,
        }
    }

    /// The occurrence of `series` generated at `inst`, with its exception applied.
    pub fn build(
        series: &Series,
        rid: RecurrenceId,
        start: i64,
        end: i64,
        ex: Option<&Exception>,
    ) -> Occurrence {
        let (start, end, moved) = match ex {
            Some(Exception {
                start: Some(s),
                end: Some(e),
                ..
            }) => (*s, *e, *s != start || *e != end),
            _ => (start, end, false),
        };
        Occurrence {
            id: OccurrenceId {
                lineage: series.lineage().root,
                recurrence_id: rid,
            },
            series: series.id,
            start: crate::time::instant(start),
            end: crate::time::instant(end),
            status: ex
                .and_then(|e| e.status)
                .unwrap_or(OccurrenceStatus::Confirmed),
            locked: ex.is_some_and(|e| e.locked),
            moved,
            title: ex.and_then(|e| e.title.clone()),
            description: ex.and_then(|e| e.description.clone()),
            kind: ex.and_then(|e| e.kind),
        }
    }
}

/// A position in the (start, series, recurrence id) order; pages resume strictly after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OccurrenceCursor {
    pub start: i64,
    pub series: SeriesId,
    pub recurrence_id: RecurrenceId,
}

/// The occurrences of one series that overlap a window, lazily, in start order: the generated
/// ones at their slots (less cancelled and placed ones), merged with placed exceptions at theirs.
pub struct SeriesOccurrences<'a> {
    series: &'a Series,
    instances: crate::recurrence::Instances<'a>,
    resolver: ZoneResolver,
    placed: Vec<&'a Exception>,
    placed_pos: usize,
    window_from: i64,
    window_to: i64,
    after: Option<OccurrenceCursor>,
    include_cancelled: bool,
    next_generated: Option<Occurrence>,
    generated_done: bool,
    next_placed: Option<Occurrence>,
}

impl<'a> SeriesOccurrences<'a> {
    pub fn new(
        series: &'a Series,
        window: TimeWindow,
        after: Option<OccurrenceCursor>,
        include_cancelled: bool,
    ) -> Self {
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
            placed: series.placed_exceptions().collect(),
            placed_pos: 0,
            window_from: from,
            window_to: window.to().timestamp(),
            after,
            include_cancelled,
            next_generated: None,
            generated_done: false,
            next_placed: None,
        }
    }

    fn wanted(&self, occ: &Occurrence) -> bool {
        occ.end.timestamp() > self.window_from
            && occ.start.timestamp() < self.window_to
            && (self.include_cancelled || occ.status != OccurrenceStatus::Cancelled)
            && self.after.is_none_or(|c| occ.sort_key() > c)
    }

    fn pull_generated(&mut self) -> Option<Occurrence> {
        while !self.generated_done {
            let Some(inst) = self.instances.next() else {
                break;
            };
            if inst.start >= self.window_to {
                break;
            }
            let rid = RecurrenceId(inst.start);
            let ex = self.series.exception(rid);
            if ex.is_some_and(Exception::is_placed) {
                continue; // shown at its placed time instead
            }
            let end = self.series.schedule().end_of(inst, &mut self.resolver);
            let occ = Occurrence::build(self.series, rid, inst.start, end, ex);
            if self.wanted(&occ) {
                return Some(occ);
            }
        }
        self.generated_done = true;
        None
    }

    fn pull_placed(&mut self) -> Option<Occurrence> {
        while let Some(ex) = self.placed.get(self.placed_pos) {
            self.placed_pos += 1;
            let (Some(start), Some(end)) = (ex.start, ex.end) else {
                continue;
            };
            if start >= self.window_to {
                self.placed_pos = self.placed.len();
                return None;
            }
            let mut occ = Occurrence::build(self.series, ex.recurrence_id, start, end, Some(ex));
            if self.wanted(&occ) {
                occ.moved = self.moved_from_its_slot(ex, start, end);
                return Some(occ);
            }
        }
        None
    }

    /// Whether a placed exception shows somewhere other than the slot its recurrence id names (a
    /// locked one pinned where it was is not moved), as `edit::occurrence_at` answers it, so a
    /// list and an edit's payload agree. The slot starts at the recurrence id, so only an
    /// exception that kept its start needs the schedule, to learn the slot's end.
    fn moved_from_its_slot(&mut self, ex: &Exception, start: i64, end: i64) -> bool {
        if start != ex.recurrence_id.0 {
            return true;
        }
        let schedule = self.series.schedule();
        schedule
            .instance_at(start)
            .is_some_and(|slot| schedule.end_of(slot, &mut self.resolver) != end)
    }
}

impl Iterator for SeriesOccurrences<'_> {
    type Item = Occurrence;
    fn next(&mut self) -> Option<Occurrence> {
        if self.next_generated.is_none() {
            self.next_generated = self.pull_generated();
        }
        if self.next_placed.is_none() {
            self.next_placed = self.pull_placed();
        }
        let take_placed = match (&self.next_generated, &self.next_placed) {
            (Some(g), Some(p)) => p.sort_key() < g.sort_key(),
            (None, Some(_)) => true,
            _ => false,
        };
        if take_placed {
            self.next_placed.take()
        } else {
            self.next_generated.take()
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
pub fn occurrences_page<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    window: TimeWindow,
    after: Option<OccurrenceCursor>,
    limit: usize,
    include_cancelled: bool,
) -> OccurrencePage {
    let mut streams: Vec<SeriesOccurrences<'a>> = series
        .into_iter()
        .map(|s| SeriesOccurrences::new(s, window, after, include_cancelled))
        .collect();
    let mut heap = BinaryHeap::with_capacity(streams.len());
    for (i, st) in streams.iter_mut().enumerate() {
        if let Some(o) = st.next() {
            heap.push(Reverse((o.sort_key(), i, OccurrenceKeyed(o))));
        }
    }
    let mut out = Vec::with_capacity(limit.min(1024));
    while let Some(Reverse((_, i, OccurrenceKeyed(o)))) = heap.pop() {
        if out.len() == limit {
            return OccurrencePage {
                occurrences: out,
                has_more: true,
            };
        }
        out.push(o);
        if let Some(n) = streams[i].next() {
            heap.push(Reverse((n.sort_key(), i, OccurrenceKeyed(n))));
        }
    }
    OccurrencePage {
        occurrences: out,
        has_more: false,
    }
}

/// Carries an occurrence through the heap; ordering comes from the key beside it.
#[derive(Debug, Clone)]
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
