//! Edits and deletes of an occurrence with a scope (THIS, THIS_AND_FOLLOWING, ALL), restore,
//! status and locking — and their dry runs. Each is planned as pure domain calls, then either
//! stored in one transaction under the series' version, or diffed for a preview.

use super::occurrences::{locate, merge, OccurrenceAddress};
use super::series::{build_schedule, save, ScheduleInput};
use super::ServiceError;
use crate::state::AppState;
use crate::store::SeriesWrite;
use almanac_domain::edit::{
    cancel_from, cancel_occurrence, check_deletable, edit_all, modify_occurrence, occurrence_at,
    restore_occurrence, set_occurrence_state, split, tail_schedule, CancelOutcome, EditReport,
    OccurrenceChange, SeriesFields, SplitOutcome,
};
use almanac_domain::occurrence::{Occurrence, RecurrenceId};
use almanac_domain::recurrence::Schedule;
use almanac_domain::series::{OccurrenceStatus, Series, SeriesKind};
use almanac_domain::time::{parse_zone, TimeWindow};
use almanac_domain::{OrganizationId, SeriesId};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    This,
    ThisAndFollowing,
    All,
}

/// What the client asks to change. Instants are absolute; for series scopes the new start of
/// the addressed occurrence becomes a wall-clock shift of the whole (remaining) series.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub duration: Option<String>,
    pub time_zone: Option<String>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub kind: Option<SeriesKind>,
    pub status: Option<OccurrenceStatus>,
    pub recurrence: Option<Option<super::series::RecurrenceInput>>,
}

/// The outcome of an edit: what to store (or what was stored) and what to tell the client.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The series before the edit.
    pub before: Series,
    /// The series after it (one, or the truncated original and its continuation).
    pub after: Vec<Series>,
    pub deleted: Option<SeriesId>,
    /// The series that now holds the addressed occurrence (or its continuation).
    pub holder: Option<SeriesId>,
    pub at: RecurrenceId,
    pub report: EditReport,
    /// The edit touched one occurrence only (scope THIS, restore, status).
    pub single_occurrence: bool,
}

impl Plan {
    fn writes(&self) -> Vec<SeriesWrite<'_>> {
        let mut w = Vec::new();
        if let Some(id) = self.deleted {
            w.push(SeriesWrite::Delete {
                organization: self.before.organization,
                id,
                expected_version: self.before.version,
            });
        }
        for s in &self.after {
            if s.id == self.before.id {
                w.push(SeriesWrite::Update {
                    series: s,
                    expected_version: self.before.version,
                });
            } else {
                w.push(SeriesWrite::Insert(s));
            }
        }
        w
    }

    /// The addressed occurrence after the edit, if it still shows.
    pub fn occurrence(&self) -> Option<(Occurrence, &Series)> {
        let holder = self.after.iter().find(|s| Some(s.id) == self.holder)?;
        occurrence_at(holder, self.at).map(|o| (o, holder))
    }

    pub fn holder(&self) -> Option<&Series> {
        self.after.iter().find(|s| Some(s.id) == self.holder)
    }

    /// The truncated original of a split.
    pub fn original(&self) -> Option<&Series> {
        self.after
            .iter()
            .find(|s| s.id == self.before.id && Some(s.id) != self.holder)
    }
}

fn check_version(series: &Series, expected: i64) -> Result<(), ServiceError> {
    if series.version != expected {
        return Err(ServiceError::VersionConflict {
            what: "the series",
            expected,
            current: series.version,
        });
    }
    Ok(())
}

fn fields(c: &Changes) -> Result<SeriesFields, ServiceError> {
    Ok(SeriesFields {
        kind: c.kind,
        title: c
            .title
            .as_deref()
            .map(almanac_domain::text::title)
            .transpose()?,
        description: c
            .description
            .clone()
            .map(almanac_domain::text::description)
            .transpose()?,
    })
}

/// The schedule of the edited range: `base` (the whole series, or its tail from `at`) with the
/// client's changes. A new start for the addressed occurrence shifts the range's start by the
/// same wall-clock amount.
fn edited_schedule(
    base: &Schedule,
    series: &Series,
    at: RecurrenceId,
    c: &Changes,
) -> Result<Schedule, ServiceError> {
    let zone = match &c.time_zone {
        Some(z) => parse_zone(z)?,
        None => base.zone(),
    };
    let current = occurrence_at(series, at).ok_or(ServiceError::NoSuchOccurrence(at))?;
    let old_local = current
        .start
        .with_timezone(&series.schedule().zone())
        .naive_local();
    let new_local = c
        .start
        .map(|s| s.with_timezone(&zone).naive_local())
        .unwrap_or(old_local);
    let shift = new_local - old_local;
    if new_local.date() != old_local.date()
        && c.recurrence.is_none()
        && base
            .rule()
            .is_some_and(almanac_domain::rrule::Rule::names_days)
    {
        return Err(ServiceError::invalid(
            "changes.start",
            "this moves the series to another day, and its rule names days (BYDAY, BYMONTHDAY, …): send the new rule in changes.recurrence too",
        ));
    }
    let start = base.start() + shift;
    let end = c.end.map(|e| {
        let local_end = e.with_timezone(&zone).naive_local();
        start + (local_end - new_local)
    });
    let input = ScheduleInput {
        start: Some(start),
        time_zone: c.time_zone.clone(),
        duration: c.duration.clone(),
        end,
        all_day: None,
        recurrence: c.recurrence.clone(),
    };
    build_schedule(input, Some(base), base.zone())
}

/// Plans an edit of the addressed occurrence with the given scope.
#[tracing::instrument(skip_all, fields(org = %org, occurrence = ?address, scope = ?scope, expected_version))]
pub async fn plan_edit(
    app: &AppState,
    org: OrganizationId,
    address: OccurrenceAddress,
    scope: Scope,
    expected_version: i64,
    c: Changes,
) -> Result<Plan, ServiceError> {
    let (series, at) = locate(app, org, address).await?;
    check_version(&series, expected_version)?;
    super::compute::run(move || plan_edit_of(&series, at, scope, c.clone())).await?
}

fn plan_edit_of(
    series: &Series,
    at: RecurrenceId,
    scope: Scope,
    c: Changes,
) -> Result<Plan, ServiceError> {
    let mut plan = Plan {
        before: series.clone(),
        after: vec![],
        deleted: None,
        holder: Some(series.id),
        at,
        report: EditReport::default(),
        single_occurrence: false,
    };
    match scope {
        Scope::This => {
            if c.time_zone.is_some() || c.recurrence.is_some() {
                return Err(ServiceError::invalid(
                    "changes",
                    "timeZone and recurrence change a series: use scope THIS_AND_FOLLOWING or ALL",
                ));
            }
            let end = match (&c.end, &c.duration) {
                (Some(_), Some(_)) => {
                    return Err(ServiceError::invalid(
                        "changes.end",
                        "give either end or duration, not both",
                    ))
                }
                (Some(e), None) => Some(e.timestamp()),
                (None, Some(d)) => {
                    let length = almanac_domain::recurrence::parse_duration(d)?;
                    let start = c
                        .start
                        .map(|s| s.timestamp())
                        .or_else(|| occurrence_at(series, at).map(|o| o.start.timestamp()))
                        .unwrap_or(at.0);
                    Some(start + almanac_domain::recurrence::nominal_seconds(length))
                }
                (None, None) => None,
            };
            let change = OccurrenceChange {
                start: c.start.map(|s| s.timestamp()),
                end,
                title: c
                    .title
                    .as_deref()
                    .map(almanac_domain::text::title)
                    .transpose()?,
                description: c
                    .description
                    .clone()
                    .map(almanac_domain::text::description)
                    .transpose()?,
                kind: c.kind,
                status: c.status,
            };
            plan.after.push(modify_occurrence(series, at, &change)?);
            plan.single_occurrence = true;
        }
        Scope::All => {
            if c.status.is_some() {
                return Err(ServiceError::invalid(
                    "changes.status",
                    "a status applies to one occurrence: use scope THIS or setOccurrenceStatus",
                ));
            }
            let schedule = edited_schedule(series.schedule(), series, at, &c)?;
            let (next, report) = edit_all(series, schedule, &fields(&c)?);
            plan.report = report;
            plan.at = follow(&next, at);
            plan.after.push(next);
        }
        Scope::ThisAndFollowing => {
            if c.status.is_some() {
                return Err(ServiceError::invalid(
                    "changes.status",
                    "a status applies to one occurrence: use scope THIS or setOccurrenceStatus",
                ));
            }
            let tail = tail_schedule(series, at)?;
            let schedule = edited_schedule(&tail, series, at, &c)?;
            let (outcome, report) = split(
                series,
                at,
                schedule,
                &fields(&c)?,
                SeriesId::from_uuid(super::new_uuid()),
            )?;
            plan.report = report;
            match outcome {
                SplitOutcome::WholeSeries(next) => {
                    plan.at = follow(&next, at);
                    plan.after.push(next);
                }
                SplitOutcome::Split {
                    original,
                    continuation,
                } => {
                    plan.holder = Some(continuation.id);
                    plan.at = follow(&continuation, at);
                    plan.after.push(original);
                    plan.after.push(continuation);
                }
            }
        }
    }
    Ok(plan)
}

/// Where the addressed occurrence went: its own recurrence id if the new series still shows it,
/// else the one the edit's shift took it to (the new series' first occurrence at or after the
/// edited start).
fn follow(after: &Series, at: RecurrenceId) -> RecurrenceId {
    if occurrence_at(after, at).is_some() {
        return at;
    }
    after
        .schedule()
        .instances_from(at.0 - 2 * 86_400)
        .next()
        .map(|i| RecurrenceId(i.start))
        .unwrap_or(at)
}

/// Plans a delete of the addressed occurrence with the given scope.
#[tracing::instrument(skip_all, fields(org = %org, occurrence = ?address, scope = ?scope, expected_version))]
pub async fn plan_delete(
    app: &AppState,
    org: OrganizationId,
    address: OccurrenceAddress,
    scope: Scope,
    expected_version: i64,
) -> Result<Plan, ServiceError> {
    let (series, at) = locate(app, org, address).await?;
    check_version(&series, expected_version)?;
    super::compute::run(move || plan_delete_of(&series, at, scope)).await?
}

fn plan_delete_of(series: &Series, at: RecurrenceId, scope: Scope) -> Result<Plan, ServiceError> {
    let mut plan = Plan {
        before: series.clone(),
        after: vec![],
        deleted: None,
        holder: Some(series.id),
        at,
        report: EditReport::default(),
        single_occurrence: false,
    };
    match scope {
        Scope::This => {
            plan.after.push(cancel_occurrence(series, at)?);
            plan.single_occurrence = true;
        }
        Scope::ThisAndFollowing => {
            let (outcome, report) = cancel_from(series, at)?;
            plan.report = report;
            match outcome {
                CancelOutcome::Truncated(s) => plan.after.push(s),
                CancelOutcome::DeleteSeries => {
                    plan.deleted = Some(series.id);
                    plan.holder = None;
                }
            }
        }
        Scope::All => {
            check_deletable(series)?;
            plan.deleted = Some(series.id);
            plan.holder = None;
        }
    }
    Ok(plan)
}

/// Plans undoing an occurrence's exception.
#[tracing::instrument(skip_all, fields(org = %org, occurrence = ?address, expected_version))]
pub async fn plan_restore(
    app: &AppState,
    org: OrganizationId,
    address: OccurrenceAddress,
    expected_version: i64,
) -> Result<Plan, ServiceError> {
    let (series, at) = locate(app, org, address).await?;
    check_version(&series, expected_version)?;
    let next = restore_occurrence(&series, at)?;
    Ok(Plan {
        before: series.clone(),
        after: vec![next],
        deleted: None,
        holder: Some(series.id),
        at,
        report: EditReport::default(),
        single_occurrence: true,
    })
}

/// Plans a status change and/or (un)locking.
#[tracing::instrument(skip_all, fields(org = %org, occurrence = ?address, expected_version))]
pub async fn plan_status(
    app: &AppState,
    org: OrganizationId,
    address: OccurrenceAddress,
    expected_version: i64,
    status: Option<OccurrenceStatus>,
    locked: Option<bool>,
) -> Result<Plan, ServiceError> {
    if status.is_none() && locked.is_none() {
        return Err(ServiceError::invalid(
            "status",
            "give a status, locked, or both",
        ));
    }
    let (series, at) = locate(app, org, address).await?;
    check_version(&series, expected_version)?;
    let next = set_occurrence_state(&series, at, status, locked)?;
    Ok(Plan {
        before: series.clone(),
        after: vec![next],
        deleted: None,
        holder: Some(series.id),
        at,
        report: EditReport::default(),
        single_occurrence: true,
    })
}

/// Stores a plan in one transaction. With `reject_conflicts`, an EVENT edit is stored only if
/// the edited occurrence (scope THIS) or the edited range's occurrences are free of other busy
/// time on the calendar, decided inside the writing transaction.
#[tracing::instrument(skip_all, fields(org = %plan.before.organization, series.id = %plan.before.id, reject_conflicts))]
pub async fn commit(
    app: &AppState,
    plan: &Plan,
    reject_conflicts: bool,
) -> Result<(), ServiceError> {
    let writes = plan.writes();
    let guard = plan.holder().and_then(|holder| {
        let only = if plan.single_occurrence {
            plan.occurrence().map(|(o, _)| o)
        } else {
            None
        };
        super::series::booking_guard(holder, reject_conflicts, only)
    });
    match guard {
        Some(g) => {
            super::series::save_guarded(app, &writes, &g, "the series", plan.before.version).await?
        }
        None => save(app, &writes, "the series", plan.before.version).await?,
    }
    let after: Vec<&Series> = plan.after.iter().collect();
    app.changes
        .publish(plan.before.organization, &[&plan.before], &after)
        .await;
    Ok(())
}

/// The occurrences an edit would add, change and remove in a window.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub added: Vec<(Occurrence, Series)>,
    pub changed: Vec<(Occurrence, Series)>,
    pub removed: Vec<(Occurrence, Series)>,
    /// More than `PREVIEW_LIMIT` occurrences were in the window: the diff covers the first ones.
    pub truncated: bool,
}

pub const PREVIEW_LIMIT: usize = 2000;

/// Diffs the occurrences of the series before and after a plan, by occurrence id.
pub fn preview(plan: &Plan, window: TimeWindow) -> Preview {
    diff(vec![plan.before.clone()], plan.after.clone(), window)
}

/// The occurrences that appear, change or disappear in `window` when `before` becomes `after`.
pub fn diff(before: Vec<Series>, after: Vec<Series>, window: TimeWindow) -> Preview {
    let before = merge(
        before,
        window,
        almanac_domain::paging::Slice::first(PREVIEW_LIMIT),
        true,
    );
    let after = merge(
        after,
        window,
        almanac_domain::paging::Slice::first(PREVIEW_LIMIT),
        true,
    );
    let mut p = Preview {
        truncated: before.has_next || after.has_next,
        ..Default::default()
    };
    let visible = |o: &Occurrence| o.status != OccurrenceStatus::Cancelled;
    let find = |list: &[(Occurrence, std::sync::Arc<Series>)], o: &Occurrence| {
        list.iter()
            .find(|(x, _)| x.id == o.id && visible(x))
            .cloned()
    };
    for (o, s) in after.items.iter().filter(|(o, _)| visible(o)) {
        match find(&before.items, o) {
            None => p.added.push((o.clone(), (**s).clone())),
            Some((old, old_series)) => {
                let shown = |o: &Occurrence, s: &Series| {
                    (
                        o.start,
                        o.end,
                        o.title.clone().unwrap_or(s.title.clone()),
                        o.status,
                        o.kind.unwrap_or(s.kind),
                        o.locked,
                    )
                };
                if shown(&old, &old_series) != shown(o, s) {
                    p.changed.push((o.clone(), (**s).clone()));
                }
            }
        }
    }
    for (o, s) in before.items.iter().filter(|(o, _)| visible(o)) {
        if find(&after.items, o).is_none() {
            p.removed.push((o.clone(), (**s).clone()));
        }
    }
    p
}

/// The window a preview looks at when the client names none: a year either side of the edit.
pub fn default_preview_window(at: RecurrenceId) -> Result<TimeWindow, ServiceError> {
    let t = at.instant();
    TimeWindow::new(
        t - chrono::Duration::days(366),
        t + chrono::Duration::days(366),
    )
    .map_err(ServiceError::from)
}
