//! Relay-style slices of the merged occurrence order: the first or the last `n` occurrences
//! strictly between two cursors, with whether more exist on either side.
//!
//! Occurrences are computed, not stored, and expansion only runs forward. The last `n` before a
//! cursor are found by scanning forward from a lower bound that gallops back from the cursor
//! (doubling the span while too few occurrences lie in it) and, when a span holds far more than
//! asked for, bisecting the start back towards the cursor. Every scan stops after a bounded number
//! of occurrences, so the work is bounded by the number of series and `n` (times the logarithm of
//! the window's length), never by how many occurrences the window holds.

use crate::ids::SeriesId;
use crate::occurrence::{Occurrence, OccurrenceCursor, RecurrenceId, SeriesOccurrences};
use crate::series::Series;
use crate::time::TimeWindow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How many occurrences of the range a slice takes, and from which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    First(usize),
    Last(usize),
}

/// The occurrences strictly after `after` and strictly before `before` (in the merged order),
/// the first or last `take` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub after: Option<OccurrenceCursor>,
    pub before: Option<OccurrenceCursor>,
    pub take: Take,
}

impl Slice {
    /// The first `n` of the whole window.
    pub fn first(n: usize) -> Self {
        Slice {
            after: None,
            before: None,
            take: Take::First(n),
        }
    }
}

/// One slice, in the merged order, with Relay's page info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicePage {
    pub occurrences: Vec<Occurrence>,
    /// Occurrences of the window come before the first one of the slice.
    pub has_previous: bool,
    /// Occurrences of the window come after the last one of the slice.
    pub has_next: bool,
}

/// The slice of the series' occurrences overlapping `window`. Both page-info flags are exact:
/// they look past the cursors too (a bounded look, like the slice itself).
pub fn occurrences_slice(
    series: &[&Series],
    window: TimeWindow,
    slice: Slice,
    include_cancelled: bool,
) -> SlicePage {
    let range = Range {
        series,
        window,
        include_cancelled,
    };
    match slice.take {
        Take::First(n) => {
            let (occurrences, more) = range.first(slice.after, slice.before, n);
            let has_previous = slice.after.is_some_and(|a| range.any_through(a));
            SlicePage {
                occurrences,
                has_previous,
                has_next: more || slice.before.is_some_and(|b| range.any_from(b)),
            }
        }
        Take::Last(n) => {
            let (occurrences, more) = range.last(slice.after, slice.before, n);
            let has_next = slice.before.is_some_and(|b| range.any_from(b));
            let has_previous = more || slice.after.is_some_and(|a| range.any_through(a));
            SlicePage {
                occurrences,
                has_previous,
                has_next,
            }
        }
    }
}

/// The cursor just after `c` in the total order (ties on start and series are broken by the
/// recurrence id, an integer).
fn successor(c: OccurrenceCursor) -> Option<OccurrenceCursor> {
    Some(OccurrenceCursor {
        recurrence_id: RecurrenceId(c.recurrence_id.0.checked_add(1)?),
        ..c
    })
}

/// The greatest cursor whose start is before `t`: resuming after it starts at `t`.
fn just_before(t: i64) -> OccurrenceCursor {
    OccurrenceCursor {
        start: t - 1,
        series: SeriesId::from_uuid(uuid::Uuid::max()),
        recurrence_id: RecurrenceId(i64::MAX),
    }
}

/// The first span the backward search tries, in seconds; it doubles from there.
const FIRST_SPAN: i64 = 3_600;

struct Range<'s, 'a> {
    series: &'s [&'a Series],
    window: TimeWindow,
    include_cancelled: bool,
}

/// A forward scan that stopped because it met more occurrences than it may hold.
struct Overflow;

impl<'a> Range<'_, 'a> {
    /// The merged occurrences after `after`, in order, lazily.
    fn merged(&self, after: Option<OccurrenceCursor>) -> Merged<'a> {
        let mut streams: Vec<SeriesOccurrences<'a>> = self
            .series
            .iter()
            .map(|s| SeriesOccurrences::new(s, self.window, after, self.include_cancelled))
            .collect();
        let mut heap = BinaryHeap::with_capacity(streams.len());
        for (i, st) in streams.iter_mut().enumerate() {
            if let Some(o) = st.next() {
                heap.push(Reverse((o.sort_key(), i, Keyed(o))));
            }
        }
        Merged { streams, heap }
    }

    /// The first `n` after `after` and before `before`, and whether more lie between them.
    fn first(
        &self,
        after: Option<OccurrenceCursor>,
        before: Option<OccurrenceCursor>,
        n: usize,
    ) -> (Vec<Occurrence>, bool) {
        let mut out = Vec::with_capacity(n.min(1024));
        for o in self.merged(after) {
            if before.is_some_and(|b| o.sort_key() >= b) {
                return (out, false);
            }
            if out.len() == n {
                return (out, true);
            }
            out.push(o);
        }
        (out, false)
    }

    /// Whether any occurrence is at or after `c`.
    fn any_from(&self, c: OccurrenceCursor) -> bool {
        let after = if c.recurrence_id.0 == i64::MIN {
            None
        } else {
            Some(OccurrenceCursor {
                recurrence_id: RecurrenceId(c.recurrence_id.0 - 1),
                ..c
            })
        };
        match after {
            Some(a) => self.merged(Some(a)).next().is_some(),
            // Nothing sorts before it within its (start, series): resume just before its start.
            None => self
                .merged(Some(just_before(c.start)))
                .any(|o| o.sort_key() >= c),
        }
    }

    /// Whether any occurrence is at or before `c`.
    fn any_through(&self, c: OccurrenceCursor) -> bool {
        match successor(c) {
            Some(next) => self.last(None, Some(next), 0).1,
            None => self.last(None, None, 0).1,
        }
    }

    /// The lowest start any occurrence overlapping the window can have.
    fn floor(&self) -> i64 {
        let longest = self
            .series
            .iter()
            .map(|s| s.schedule().max_elapsed())
            .max()
            .unwrap_or(0);
        self.window.from().timestamp().saturating_sub(longest)
    }

    /// The occurrences starting at or after `from` (and after `after`), before `before`, in
    /// order; `Err` once more than `cap` of them were met (`cap: None` keeps only the last `keep`).
    fn scan(
        &self,
        from: i64,
        after: Option<OccurrenceCursor>,
        before: Option<OccurrenceCursor>,
        cap: Option<usize>,
        keep: usize,
    ) -> Result<(VecDeque<Occurrence>, bool), Overflow> {
        let lower = Some(just_before(from)).max(after);
        let mut kept = VecDeque::new();
        let mut dropped = false;
        for o in self.merged(lower) {
            if before.is_some_and(|b| o.sort_key() >= b) {
                break;
            }
            match cap {
                Some(cap) if kept.len() == cap => return Err(Overflow),
                Some(_) => {}
                None if kept.len() > keep => {
                    kept.pop_front();
                    dropped = true;
                }
                None => {}
            }
            kept.push_back(o);
        }
        Ok((kept, dropped))
    }

    /// The last `n` after `after` and before `before`, and whether more lie between them.
    fn last(
        &self,
        after: Option<OccurrenceCursor>,
        before: Option<OccurrenceCursor>,
        n: usize,
    ) -> (Vec<Occurrence>, bool) {
        let floor = match after {
            Some(a) => self.floor().max(a.start),
            None => self.floor(),
        };
        let top = before.map_or(self.window.to().timestamp(), |b| b.start);
        // Enough to tell "more than n" without holding many more; small n still scans in bulk.
        let cap = (4 * (n + 1)).max(64);
        let done = |mut kept: VecDeque<Occurrence>| {
            let more = kept.len() > n;
            while kept.len() > n {
                kept.pop_front();
            }
            (Vec::from(kept), more)
        };
        // Galloping: `fits` is a start from which at most n occurrences remain (or none known).
        let mut fits = top.saturating_add(1);
        let mut span = FIRST_SPAN;
        let too_many = loop {
            let from = top.saturating_sub(span).max(floor);
            match self.scan(from, after, before, Some(cap), n) {
                Ok((kept, _)) if kept.len() > n || from == floor => return done(kept),
                Ok(_) => {
                    fits = from;
                    span = span.saturating_mul(2);
                }
                Err(Overflow) => break from,
            }
        };
        // Bisecting: from `too_many` more than `cap` remain, from `fits` at most n.
        let mut lo = too_many;
        let mut hi = fits;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match self.scan(mid, after, before, Some(cap), n) {
                Ok((kept, _)) if kept.len() > n => return done(kept),
                Ok(_) => hi = mid,
                Err(Overflow) => lo = mid,
            }
        }
        // More than `cap` start in the one second `lo`: keep a window of them while scanning.
        match self.scan(lo, after, before, None, n) {
            Ok((kept, dropped)) => {
                let (page, more) = done(kept);
                (page, more || dropped)
            }
            Err(Overflow) => unreachable!("an uncapped scan never overflows"),
        }
    }
}

/// Carries an occurrence through the heap; ordering comes from the key beside it.
struct Keyed(Occurrence);
impl PartialEq for Keyed {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

struct Merged<'a> {
    streams: Vec<SeriesOccurrences<'a>>,
    heap: BinaryHeap<Reverse<(OccurrenceCursor, usize, Keyed)>>,
}

impl Iterator for Merged<'_> {
    type Item = Occurrence;
    fn next(&mut self) -> Option<Occurrence> {
        let Reverse((_, i, Keyed(o))) = self.heap.pop()?;
        if let Some(n) = self.streams[i].next() {
            self.heap.push(Reverse((n.sort_key(), i, Keyed(n))));
        }
        Some(o)
    }
}
