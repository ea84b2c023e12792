//! Edits with the three scopes calendars offer — this occurrence, this and following, all — as
//! pure functions from a series (and the edit) to the series to store and a report of what
//! happened to its exceptions.
//!
//! The rules, in one place:
//! - **This occurrence** writes an exception keyed by the occurrence's recurrence id: moved
//!   (placed at a new start/end), changed fields, a status (CANCELLED cancels), or removed (restore).
//! - **This and following** at occurrence *k* truncates the series so that its last occurrence is
//!   *k−1* (UNTIL one second before *k*, or the day before *k* for all-day series; a COUNT rule
//!   keeps the count it produced) and starts a continuation series at *k* carrying the edit. At the
//!   first occurrence it is an edit of the whole series instead. Without a continuation it is
//!   "cancel from here".
//! - **All** replaces the schedule and fields of the series.
//! - Whenever a schedule changes, exceptions are **rebased**: an exception whose recurrence id the
//!   new schedule still generates keeps it; otherwise, when the edit shifted the start by some
//!   wall-clock time Δ (09:00 → 10:30), it moves with its occurrence to the one Δ later; otherwise
//!   to the new occurrence on the same local date (the n-th of that date for the n-th); otherwise
//!   it is dropped, and the report says so. Cancelled stays cancelled and moved stays moved, and
//!   undoing the edit brings every exception back.
//! - **Locked** occurrences carry every field they show (pinned when locked), so series edits
//!   cannot change them; they are never dropped, even when the new schedule no longer generates
//!   them, and every series-wide edit reports them as left alone. When the new schedule has a
//!   counterpart for a locked occurrence (by the rule above), that counterpart is cancelled: the
//!   locked occurrence stands in for it, so the day does not get a second one. A locked
//!   occurrence itself can only be changed after unlocking it.

use crate::error::InvalidInput;
use crate::ids::SeriesId;
use crate::occurrence::{Occurrence, RecurrenceId};
use crate::recurrence::{Instance, Length, Recurrence, Schedule};
use crate::rrule::Until;
use crate::series::{Exception, Lineage, OccurrenceStatus, Series, SeriesKind};
use crate::time::{instant, ZoneResolver};
use chrono::NaiveTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the series has no occurrence with recurrence id {}", .0.instant().to_rfc3339())]
    NoSuchOccurrence(RecurrenceId),
    #[error("the occurrence at {} is locked; unlock it first", .0.instant().to_rfc3339())]
    Locked(RecurrenceId),
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
}

/// Why an exception did not survive a schedule change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedException {
    pub exception: Exception,
    pub reason: String,
}

/// What a series-wide edit did to exceptions and locked occurrences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditReport {
    /// Exceptions that now address a different recurrence id (old, new).
    pub remapped: Vec<(RecurrenceId, RecurrenceId)>,
    pub dropped: Vec<DroppedException>,
    /// Locked occurrences in the edited range, which the edit did not change.
    pub locked_left_alone: Vec<RecurrenceId>,
    /// A "this and following" edit at the first occurrence, done as an edit of the whole series.
    pub split_at_first: bool,
}

/// Field changes that apply to a series (scopes ALL and THIS_AND_FOLLOWING).
#[derive(Debug, Clone, Default)]
pub struct SeriesFields {
    pub kind: Option<SeriesKind>,
    pub title: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

impl SeriesFields {
    fn apply(&self, s: &mut Series) {
        if let Some(k) = self.kind {
            s.kind = k;
        }
        if let Some(t) = &self.title {
            s.title = t.clone();
        }
        if let Some(d) = &self.description {
            s.description = d.clone();
        }
    }
}

/// Changes to one occurrence (scope THIS).
#[derive(Debug, Clone, Default)]
pub struct OccurrenceChange {
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub kind: Option<SeriesKind>,
    pub status: Option<OccurrenceStatus>,
}

/// The occurrence of `series` at `rid` as it shows now: generated (with its exception) or a
/// locked exception that outlived its rule.
pub fn occurrence_at(series: &Series, rid: RecurrenceId) -> Option<Occurrence> {
    let ex = series.exception(rid);
    let schedule = series.schedule();
    match schedule.instance_at(rid.0) {
        Some(inst) => {
            let end = schedule.end_of(inst, &mut ZoneResolver::new(schedule.zone()));
            Some(Occurrence::build(series, rid, inst.start, end, ex))
        }
        None => match ex {
            // A placed exception that outlived its rule (kept because it was locked). Its slot is
            // gone; it counts as moved when it starts away from its recurrence id.
            Some(
                e @ Exception {
                    start: Some(s),
                    end: Some(en),
                    ..
                },
            ) => Some(Occurrence::build(
                series,
                rid,
                rid.0,
                rid.0 + (en - s),
                Some(e),
            )),
            _ => None,
        },
    }
}

fn require(series: &Series, rid: RecurrenceId) -> Result<Occurrence, EditError> {
    occurrence_at(series, rid).ok_or(EditError::NoSuchOccurrence(rid))
}

fn bumped(series: &Series) -> Series {
    let mut next = series.clone();
    next.version = series.version + 1;
    next
}

/// Scope THIS: move an occurrence and/or change its fields or status.
pub fn modify_occurrence(
    series: &Series,
    rid: RecurrenceId,
    change: &OccurrenceChange,
) -> Result<Series, EditError> {
    let current = require(series, rid)?;
    if current.locked {
        return Err(EditError::Locked(rid));
    }
    let mut ex = series
        .exception(rid)
        .cloned()
        .unwrap_or_else(|| Exception::new(rid));
    if change.start.is_some() || change.end.is_some() {
        let (s0, e0) = (current.start.timestamp(), current.end.timestamp());
        let start = change.start.unwrap_or(s0);
        let end = change.end.unwrap_or_else(|| start + (e0 - s0));
        if end <= start {
            return Err(InvalidInput::field("end", "must be after start").into());
        }
        if end - start > crate::recurrence::MAX_LENGTH_DAYS * 86_400 {
            return Err(InvalidInput::field(
                "end",
                format!(
                    "an occurrence may last at most {} days",
                    crate::recurrence::MAX_LENGTH_DAYS
                ),
            )
            .into());
        }
        if instant(start) < crate::time::min_instant() || instant(end) > crate::time::max_instant()
        {
            return Err(InvalidInput::RangeTooLarge(
                "occurrences must lie between the years 1000 and 9999".into(),
            )
            .into());
        }
        ex.start = Some(start);
        ex.end = Some(end);
    }
    if let Some(t) = &change.title {
        ex.title = Some(t.clone());
    }
    if let Some(d) = &change.description {
        ex.description = d.clone();
    }
    if let Some(k) = change.kind {
        ex.kind = Some(k);
    }
    if let Some(st) = change.status {
        ex.status = Some(st);
    }
    let mut next = bumped(series);
    next.put_exception(rid, Some(ex));
    Ok(next)
}

/// Scope THIS, delete: the occurrence is cancelled (it still uses up COUNT).
pub fn cancel_occurrence(series: &Series, rid: RecurrenceId) -> Result<Series, EditError> {
    modify_occurrence(
        series,
        rid,
        &OccurrenceChange {
            status: Some(OccurrenceStatus::Cancelled),
            ..Default::default()
        },
    )
}

/// Undoes every exception of one occurrence.
pub fn restore_occurrence(series: &Series, rid: RecurrenceId) -> Result<Series, EditError> {
    let current = require(series, rid)?;
    if current.locked {
        return Err(EditError::Locked(rid));
    }
    // An occurrence that outlived its rule has no slot to return to: restoring removes it.
    let mut next = bumped(series);
    next.put_exception(rid, None);
    Ok(next)
}

/// Marks an occurrence's status and/or locks or unlocks it. Locking pins every field the
/// occurrence shows, so that later series edits cannot change it.
pub fn set_occurrence_state(
    series: &Series,
    rid: RecurrenceId,
    status: Option<OccurrenceStatus>,
    locked: Option<bool>,
) -> Result<Series, EditError> {
    let current = require(series, rid)?;
    let mut ex = series
        .exception(rid)
        .cloned()
        .unwrap_or_else(|| Exception::new(rid));
    if let Some(st) = status {
        if current.locked && locked != Some(false) && Some(st) != ex.status {
            return Err(EditError::Locked(rid));
        }
        ex.status = Some(st);
    }
    match locked {
        Some(true) if !ex.locked => {
            ex.locked = true;
            ex.start = Some(current.start.timestamp());
            ex.end = Some(current.end.timestamp());
            ex.title = Some(
                current
                    .title
                    .clone()
                    .unwrap_or_else(|| series.title.clone()),
            );
            ex.description = current
                .description
                .clone()
                .or_else(|| series.description.clone());
            ex.kind = Some(current.kind.unwrap_or(series.kind));
        }
        Some(false) => ex.locked = false,
        _ => {}
    }
    let mut next = bumped(series);
    next.put_exception(rid, Some(ex));
    Ok(next)
}

/// Scope ALL: a new schedule and/or fields for the whole series; exceptions are rebased.
pub fn edit_all(
    series: &Series,
    schedule: Schedule,
    fields: &SeriesFields,
) -> (Series, EditReport) {
    let mut report = EditReport::default();
    let delta = wall_clock_shift(series.schedule(), &schedule);
    let exceptions = rebase(
        series,
        series.exceptions().to_vec(),
        &schedule,
        delta,
        &mut report,
    );
    let mut next = bumped(series);
    next.set_schedule(schedule);
    fields.apply(&mut next);
    next.set_exceptions(exceptions);
    report.locked_left_alone = series
        .exceptions()
        .iter()
        .filter(|e| e.locked)
        .map(|e| e.recurrence_id)
        .collect();
    (next, report)
}

/// The schedule of the part of `series` from occurrence `at` on, unchanged: what a continuation
/// carries when the edit changes nothing about the schedule. Callers apply the edit to it.
pub fn tail_schedule(series: &Series, at: RecurrenceId) -> Result<Schedule, EditError> {
    let schedule = series.schedule();
    let inst = schedule
        .instance_at(at.0)
        .ok_or(EditError::NoSuchOccurrence(at))?;
    let rec = schedule.recurrence().cloned();
    let Some(rec) = rec else {
        return Ok(schedule.clone());
    };
    let tail_dates = |v: &[chrono::NaiveDateTime]| -> Vec<chrono::NaiveDateTime> {
        let mut r = ZoneResolver::new(schedule.zone());
        v.iter()
            .copied()
            .filter(|d| r.instant_of(*d) >= at.0)
            .collect()
    };
    let mut rdates = tail_dates(&rec.rdates);
    let exdates = tail_dates(&rec.exdates);
    // Anchor the continuation on the rule's own lattice: at `at` itself when the rule generated
    // it, else at the rule's next occurrence (then `at`, an RDATE, stays an RDATE).
    let next_rule = schedule.first_rule_instance_from(at.0);
    let (start_local, rule) = match (&rec.rule, next_rule) {
        (Some(rule), Some(n)) => {
            let rule = match rule.count() {
                Some(count) => {
                    let before = schedule.rule_count_before(n.start);
                    Some(rule.with_count(count.saturating_sub(before).max(1)))
                }
                None => Some(rule.clone()),
            };
            if n.start != inst.start
                && !rdates.iter().any(|d| d.and_utc().timestamp() == inst.local)
            {
                rdates.push(local_naive(inst.local));
            }
            (local_naive(n.local), rule)
        }
        _ => (local_naive(inst.local), None),
    };
    let recurrence = Recurrence {
        rule,
        rdates,
        exdates,
    };
    let recurrence =
        (recurrence.rule.is_some() || !recurrence.rdates.is_empty()).then_some(recurrence);
    Ok(Schedule::new(
        start_local,
        schedule.zone(),
        schedule.length(),
        schedule.all_day(),
        recurrence,
    )?)
}

fn local_naive(local: i64) -> chrono::NaiveDateTime {
    instant(local).naive_utc()
}

/// The schedule of `series` ending just before occurrence `at`, or `None` when `at` is the
/// first occurrence (nothing would remain).
pub fn truncated_schedule(
    series: &Series,
    at: RecurrenceId,
) -> Result<Option<Schedule>, EditError> {
    let schedule = series.schedule();
    let inst = schedule
        .instance_at(at.0)
        .ok_or(EditError::NoSuchOccurrence(at))?;
    if schedule
        .instances_from(i64::MIN)
        .next()
        .is_none_or(|first| first.start >= inst.start)
    {
        return Ok(None);
    }
    let Some(rec) = schedule.recurrence() else {
        return Ok(None);
    };
    let mut resolver = ZoneResolver::new(schedule.zone());
    let keep = |v: &[chrono::NaiveDateTime], r: &mut ZoneResolver| -> Vec<chrono::NaiveDateTime> {
        v.iter()
            .copied()
            .filter(|d| r.instant_of(*d) < at.0)
            .collect()
    };
    let rdates = keep(&rec.rdates, &mut resolver);
    let exdates = keep(&rec.exdates, &mut resolver);
    let rule = match &rec.rule {
        None => None,
        Some(rule) => match rule.count() {
            Some(_) => {
                let produced = schedule.rule_count_before(inst.start);
                (produced > 0).then(|| rule.with_count(produced))
            }
            None => {
                let until = if schedule.all_day() {
                    Until::Date(
                        local_naive(inst.local)
                            .date()
                            .pred_opt()
                            .unwrap_or(local_naive(inst.local).date()),
                    )
                } else {
                    Until::Utc(instant(inst.start - 1).naive_utc())
                };
                // A rule whose last occurrence is before its own start has none left.
                let dtstart = resolver.instant_of(schedule.start());
                (dtstart < inst.start).then(|| rule.with_until(until))
            }
        },
    };
    if rule.is_none() && rdates.is_empty() {
        // Only the DTSTART-less RDATE case can land here; nothing remains before `at`.
        return Ok(None);
    }
    let start = if rule.is_some() {
        schedule.start()
    } else {
        rdates.first().copied().unwrap_or(schedule.start())
    };
    let rec = Recurrence {
        rule,
        rdates,
        exdates,
    };
    Ok(Some(Schedule::new(
        start,
        schedule.zone(),
        schedule.length(),
        schedule.all_day(),
        Some(rec),
    )?))
}

/// The result of a "this and following" edit.
// Made once per edit and consumed at once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SplitOutcome {
    /// At the first occurrence: the whole series was edited.
    WholeSeries(Series),
    Split {
        original: Series,
        continuation: Series,
    },
}

/// Scope THIS_AND_FOLLOWING: truncates `series` before `at` and starts `continuation_id` there
/// with `schedule` (usually `tail_schedule` with the edit applied) and the field changes.
pub fn split(
    series: &Series,
    at: RecurrenceId,
    schedule: Schedule,
    fields: &SeriesFields,
    continuation_id: SeriesId,
) -> Result<(SplitOutcome, EditReport), EditError> {
    require(series, at)?;
    let Some(truncated) = truncated_schedule(series, at)? else {
        // Splitting at the first occurrence would leave an empty series: edit the whole one.
        // The continuation schedule starts at `at`, which is where the series starts.
        let (next, mut report) = edit_all(series, schedule, fields);
        report.split_at_first = true;
        return Ok((SplitOutcome::WholeSeries(next), report));
    };
    let mut report = EditReport::default();
    let (head, tail): (Vec<Exception>, Vec<Exception>) = series
        .exceptions()
        .iter()
        .cloned()
        .partition(|e| e.recurrence_id < at);
    report.locked_left_alone = tail
        .iter()
        .filter(|e| e.locked)
        .map(|e| e.recurrence_id)
        .collect();
    let delta = wall_clock_shift(&tail_schedule(series, at)?, &schedule);
    let tail = rebase(series, tail, &schedule, delta, &mut report);
    let mut original = bumped(series);
    original.set_schedule(truncated);
    original.set_exceptions(head);
    let mut continuation = Series::new(
        continuation_id,
        series.organization,
        series.calendar,
        series.kind,
        series.title.clone(),
        series.description.clone(),
        schedule,
        1,
    )
    .with_lineage(Lineage {
        root: series.lineage().root,
        parent: Some(series.id),
        split_at: Some(at),
    });
    fields.apply(&mut continuation);
    continuation.set_exceptions(tail);
    Ok((
        SplitOutcome::Split {
            original,
            continuation,
        },
        report,
    ))
}

/// The result of "cancel this and following".
// Made once per edit and consumed at once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// From the first occurrence: nothing remains; delete the series.
    DeleteSeries,
    Truncated(Series),
}

/// Scope THIS_AND_FOLLOWING, delete: truncates with no continuation. Locked occurrences from
/// `at` on stay (and are reported); other exceptions there go with their occurrences.
pub fn cancel_from(
    series: &Series,
    at: RecurrenceId,
) -> Result<(CancelOutcome, EditReport), EditError> {
    require(series, at)?;
    let mut report = EditReport::default();
    let locked: Vec<Exception> = series
        .exceptions()
        .iter()
        .filter(|e| e.recurrence_id >= at && e.locked)
        .cloned()
        .collect();
    report.locked_left_alone = locked.iter().map(|e| e.recurrence_id).collect();
    let Some(truncated) = truncated_schedule(series, at)? else {
        if let Some(first) = locked.first() {
            return Err(EditError::Locked(first.recurrence_id));
        }
        return Ok((CancelOutcome::DeleteSeries, report));
    };
    let mut next = bumped(series);
    next.set_schedule(truncated);
    next.set_exceptions(
        series
            .exceptions()
            .iter()
            .filter(|e| e.recurrence_id < at || e.locked)
            .cloned()
            .collect(),
    );
    Ok((CancelOutcome::Truncated(next), report))
}

/// A series with locked occurrences cannot be deleted whole: refuse with the first of them.
pub fn check_deletable(series: &Series) -> Result<(), EditError> {
    match series.exceptions().iter().find(|e| e.locked) {
        Some(e) => Err(EditError::Locked(e.recurrence_id)),
        None => Ok(()),
    }
}

/// How far an edit moved the start on the wall clock (seconds).
fn wall_clock_shift(before: &Schedule, after: &Schedule) -> i64 {
    (after.start() - before.start()).num_seconds()
}

/// Moves exceptions written against `old`'s schedule onto `new` (see the module doc).
fn rebase(
    old: &Series,
    exceptions: Vec<Exception>,
    new: &Schedule,
    delta: i64,
    report: &mut EditReport,
) -> Vec<Exception> {
    let old_schedule = old.schedule();
    let mut kept = Vec::with_capacity(exceptions.len());
    let mut taken: Vec<RecurrenceId> = exceptions
        .iter()
        .filter(|e| new.instance_at(e.recurrence_id.0).is_some() || e.locked)
        .map(|e| e.recurrence_id)
        .collect();
    let counterpart = |rid: RecurrenceId| {
        (delta != 0)
            .then(|| old_schedule.instance_at(rid.0))
            .flatten()
            .map(|i| {
                RecurrenceId(
                    ZoneResolver::new(new.zone())
                        .resolve(i.local + delta)
                        .instant(),
                )
            })
            .filter(|t| new.instance_at(t.0).is_some())
            .or_else(|| same_day_counterpart(old_schedule, new, rid))
    };
    for ex in exceptions {
        if new.instance_at(ex.recurrence_id.0).is_some() {
            kept.push(ex);
            continue;
        }
        if ex.locked {
            if let Some(target) = counterpart(ex.recurrence_id).filter(|t| !taken.contains(t)) {
                taken.push(target);
                kept.push(Exception {
                    status: Some(OccurrenceStatus::Cancelled),
                    ..Exception::new(target)
                });
            }
            kept.push(ex);
            continue;
        }
        match counterpart(ex.recurrence_id) {
            Some(target) if !taken.contains(&target) => {
                taken.push(target);
                report.remapped.push((ex.recurrence_id, target));
                kept.push(ex.rekeyed(target));
            }
            _ => {
                let date = instant(ex.recurrence_id.0)
                    .with_timezone(&old_schedule.zone())
                    .date_naive();
                report.dropped.push(DroppedException {
                    reason: format!("the new schedule has no occurrence on {date} to carry it"),
                    exception: ex,
                });
            }
        }
    }
    kept
}

/// The occurrence of `new` on the same local date as `rid` in `old`, the n-th for the n-th.
fn same_day_counterpart(old: &Schedule, new: &Schedule, rid: RecurrenceId) -> Option<RecurrenceId> {
    let old_day = instant(rid.0).with_timezone(&old.zone()).date_naive();
    let day_start = |s: &Schedule, d: chrono::NaiveDate| {
        ZoneResolver::new(s.zone()).instant_of(d.and_time(NaiveTime::MIN))
    };
    let old_from = day_start(old, old_day);
    let ordinal = old
        .instances_from(old_from)
        .take_while(|i| i.start < rid.0)
        .count();
    let new_from = day_start(new, old_day);
    let new_to = day_start(new, old_day.succ_opt()?);
    let on_day: Vec<Instance> = new
        .instances_from(new_from)
        .take_while(|i| i.start < new_to)
        .take(ordinal + 1)
        .collect();
    on_day.get(ordinal).map(|i| RecurrenceId(i.start))
}

/// Builds a schedule like `base` with another start, zone or length; `None` keeps each part.
pub fn reschedule(
    base: &Schedule,
    start: Option<chrono::NaiveDateTime>,
    zone: Option<chrono_tz::Tz>,
    length: Option<Length>,
    recurrence: Option<Option<Recurrence>>,
) -> Result<Schedule, InvalidInput> {
    Schedule::new(
        start.unwrap_or(base.start()),
        zone.unwrap_or(base.zone()),
        length.unwrap_or(base.length()),
        base.all_day(),
        recurrence.unwrap_or_else(|| base.recurrence().cloned()),
    )
}
