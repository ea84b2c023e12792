//! Series: the stored unit of scheduling. A series is one of three kinds, has a schedule
//! (start, zone, length, recurrence), its exceptions (edits of single occurrences), its lineage
//! (which series it was split from) and a version for optimistic concurrency. The exceptions are
//! part of the series: every change to them is a new version of the series.

use crate::ids::{CalendarId, OrganizationId, RecurrenceId, SeriesId};
use crate::recurrence::Schedule;
// Where it has always been found; defined with its availability rules, which availability reads.
pub use crate::calendar::Calendar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesKind {
    /// Something that happens: a meeting, a class.
    Event,
    /// Time that must not be booked.
    Blocked,
    /// Time that may be booked.
    Available,
}

impl SeriesKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Event => "EVENT",
            SeriesKind::Blocked => "BLOCKED",
            SeriesKind::Available => "AVAILABLE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EVENT" => Some(Self::Event),
            "BLOCKED" => Some(Self::Blocked),
            "AVAILABLE" => Some(Self::Available),
            _ => None,
        }
    }
}

/// The state of one occurrence. Occurrences without an exception are `Confirmed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OccurrenceStatus {
    Confirmed,
    Tentative,
    Completed,
    Cancelled,
}

impl OccurrenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "CONFIRMED",
            Self::Tentative => "TENTATIVE",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CONFIRMED" => Some(Self::Confirmed),
            "TENTATIVE" => Some(Self::Tentative),
            "COMPLETED" => Some(Self::Completed),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// An edit of one occurrence, addressed by its recurrence id (RFC 5545 RECURRENCE-ID override).
///
/// `start`/`end` set means the occurrence was moved (or, when locked, pinned where it was): it
/// appears there and no longer at its original slot. A locked exception carries every field it
/// shows, so that no series-wide edit can change it; it may outlive the rule that generated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub recurrence_id: RecurrenceId,
    pub status: Option<OccurrenceStatus>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub kind: Option<SeriesKind>,
    pub locked: bool,
}

impl Exception {
    pub fn new(recurrence_id: RecurrenceId) -> Self {
        Exception {
            recurrence_id,
            status: None,
            start: None,
            end: None,
            title: None,
            description: None,
            kind: None,
            locked: false,
        }
    }
    pub fn is_cancelled(&self) -> bool {
        self.status == Some(OccurrenceStatus::Cancelled)
    }
    /// Shown at its own start/end rather than at its original slot.
    pub fn is_placed(&self) -> bool {
        self.start.is_some() && self.end.is_some()
    }
    /// Moves this exception to another recurrence id (a rebase after the schedule changed).
    pub fn rekeyed(&self, rid: RecurrenceId) -> Self {
        Exception {
            recurrence_id: rid,
            ..self.clone()
        }
    }
}

/// Where a series came from: "this and following" edits split a series into a chain. All series
/// of a chain share `root` (the first one's id), which is what occurrence ids are derived from, so
/// an occurrence keeps its id when it moves to a continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    pub root: SeriesId,
    pub parent: Option<SeriesId>,
    /// The recurrence id of the parent's occurrence this series continues from.
    pub split_at: Option<RecurrenceId>,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub id: SeriesId,
    pub organization: OrganizationId,
    pub calendar: CalendarId,
    pub kind: SeriesKind,
    pub title: String,
    pub description: Option<String>,
    schedule: Schedule,
    lineage: Lineage,
    /// Sorted by recurrence id, one per recurrence id.
    exceptions: Vec<Exception>,
    /// Indexes into `exceptions` of the placed ones, by start.
    placed: Vec<usize>,
    /// Increases by one on every change; writers must name the version they read.
    pub version: i64,
    /// "Show as free": an EVENT whose occurrences do not make time busy.
    pub transparent: bool,
}

impl Series {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: SeriesId,
        organization: OrganizationId,
        calendar: CalendarId,
        kind: SeriesKind,
        title: String,
        description: Option<String>,
        schedule: Schedule,
        version: i64,
    ) -> Self {
        Series {
            id,
            organization,
            calendar,
            kind,
            title,
            description,
            schedule,
            lineage: Lineage {
                root: id,
                parent: None,
                split_at: None,
            },
            exceptions: Vec::new(),
            placed: Vec::new(),
            version,
            transparent: false,
        }
    }
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }
    pub fn lineage(&self) -> Lineage {
        self.lineage
    }
    pub fn shown_as(mut self, transparent: bool) -> Self {
        self.transparent = transparent;
        self
    }
    pub fn with_lineage(mut self, lineage: Lineage) -> Self {
        self.lineage = lineage;
        self
    }
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }
    pub fn exception(&self, rid: RecurrenceId) -> Option<&Exception> {
        self.exceptions
            .binary_search_by_key(&rid, |e| e.recurrence_id)
            .ok()
            .map(|i| &self.exceptions[i])
    }
    /// Replaces the exceptions (the last one wins for a repeated recurrence id).
    pub fn set_exceptions(&mut self, mut exceptions: Vec<Exception>) {
        exceptions.reverse();
        exceptions.sort_by_key(|e| e.recurrence_id);
        exceptions.dedup_by_key(|e| e.recurrence_id);
        let mut placed: Vec<usize> = (0..exceptions.len())
            .filter(|&i| exceptions[i].is_placed())
            .collect();
        placed.sort_by_key(|&i| (exceptions[i].start, exceptions[i].recurrence_id));
        self.exceptions = exceptions;
        self.placed = placed;
    }
    pub fn with_exceptions(mut self, exceptions: Vec<Exception>) -> Self {
        self.set_exceptions(exceptions);
        self
    }
    /// Sets or replaces one exception; `None` removes it (restores the occurrence).
    pub fn put_exception(&mut self, rid: RecurrenceId, exception: Option<Exception>) {
        let mut all: Vec<Exception> = self
            .exceptions
            .iter()
            .filter(|e| e.recurrence_id != rid)
            .cloned()
            .collect();
        all.extend(exception);
        self.set_exceptions(all);
    }
    /// Placed (moved or pinned) exceptions in start order.
    pub fn placed_exceptions(&self) -> impl Iterator<Item = &Exception> {
        self.placed.iter().map(|&i| &self.exceptions[i])
    }

    /// First start and last end of anything this series shows (rule, RDATEs and placed
    /// exceptions); `None` end: it never ends. Lets the store find series by window.
    pub fn span(&self) -> (i64, Option<i64>) {
        let (first, last) = self.schedule.start_span();
        let last_end = last.map(|l| l + self.schedule.max_elapsed());
        let placed_first = self.placed_exceptions().filter_map(|e| e.start).min();
        let placed_last = self.placed_exceptions().filter_map(|e| e.end).max();
        let first = placed_first.map_or(first, |p| p.min(first));
        let last = match (last_end, placed_last) {
            (None, _) => None,
            (Some(l), Some(p)) => Some(l.max(p)),
            (Some(l), None) => Some(l),
        };
        (first, last)
    }
}
