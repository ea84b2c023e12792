//! Creating, replacing and deleting whole series.

use super::paging::{IdPage, IdPageRows};
use super::ServiceError;
use crate::state::AppState;
use crate::store::{ConflictGuard, GuardedWrite, SeriesWrite, VersionedWrite};
use almanac_domain::availability::{busy_blocks, BusyOptions, Interval};
use almanac_domain::edit::{check_deletable, edit_all, EditReport, SeriesFields};
use almanac_domain::recurrence::{parse_duration, Length, Recurrence, Schedule};
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::time::parse_zone;
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use chrono::NaiveDateTime;

/// The schedule as a client sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct ScheduleInput {
    pub start: Option<NaiveDateTime>,
    pub time_zone: Option<String>,
    pub duration: Option<String>,
    pub end: Option<NaiveDateTime>,
    pub all_day: Option<bool>,
    /// `Some(None)`: remove the recurrence; `None`: keep it (updates) or none (creates).
    pub recurrence: Option<Option<RecurrenceInput>>,
}

#[derive(Debug, Clone, Default)]
pub struct RecurrenceInput {
    pub rrule: Option<String>,
    pub rdates: Vec<NaiveDateTime>,
    pub exdates: Vec<NaiveDateTime>,
}

pub struct NewSeries {
    pub calendar: CalendarId,
    pub transparent: bool,
    /// Refuse (CONFLICT) if an EVENT's occurrences would overlap busy time on its calendar.
    pub reject_conflicts: bool,
    pub kind: SeriesKind,
    pub title: String,
    pub description: Option<String>,
    pub schedule: ScheduleInput,
}

#[derive(Clone)]
pub struct SeriesChanges {
    pub id: SeriesId,
    pub transparent: Option<bool>,
    pub expected_version: i64,
    pub kind: Option<SeriesKind>,
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub schedule: ScheduleInput,
}

/// Builds a validated schedule from input, taking unspecified parts from `base` (an update) or
/// from defaults (a create: the calendar's zone; one day for all-day series).
pub(crate) fn build_schedule(
    input: ScheduleInput,
    base: Option<&Schedule>,
    default_zone: chrono_tz::Tz,
) -> Result<Schedule, ServiceError> {
    let all_day = input
        .all_day
        .or(base.map(Schedule::all_day))
        .unwrap_or(false);
    let start = input
        .start
        .or(base.map(Schedule::start))
        .ok_or_else(|| ServiceError::invalid("start", "is required"))?;
    let zone = match &input.time_zone {
        Some(z) => parse_zone(z)?,
        None => base.map(Schedule::zone).unwrap_or(default_zone),
    };
    let length = match (&input.duration, input.end) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid(
                "end",
                "give either duration or end, not both",
            ))
        }
        (Some(d), None) => parse_duration(d)?,
        (None, Some(end)) => {
            if end <= start {
                return Err(ServiceError::invalid("end", "must be after start"));
            }
            if all_day {
                let days = (end.date() - start.date()).num_days();
                if end.time() != chrono::NaiveTime::MIN {
                    return Err(ServiceError::invalid(
                        "end",
                        "an all-day series ends at a date (exclusive), not a time",
                    ));
                }
                Length::Duration { days, seconds: 0 }
            } else {
                Length::WallClock {
                    seconds: (end - start).num_seconds(),
                }
            }
        }
        (None, None) => match base {
            Some(b) => b.length(),
            None if all_day => Length::Duration {
                days: 1,
                seconds: 0,
            },
            None => {
                return Err(ServiceError::invalid(
                    "duration",
                    "give a duration (e.g. PT1H) or an end",
                ))
            }
        },
    };
    if all_day {
        if let Length::Duration { seconds, .. } = length {
            if seconds != 0 {
                return Err(ServiceError::invalid(
                    "duration",
                    "an all-day series lasts whole days (e.g. P1D)",
                ));
            }
        }
    }
    let recurrence = match input.recurrence {
        Some(Some(r)) => {
            // A blank rule or an empty object used to be stored as a series that never occurs;
            // "no recurrence" is said with `recurrence: null`.
            if r.rrule.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(almanac_domain::RecurrenceError::Syntax(
                    "the rule is empty; leave recurrence null for a single occurrence".into(),
                )
                .into());
            }
            if r.rrule.is_none() && r.rdates.is_empty() && r.exdates.is_empty() {
                return Err(almanac_domain::RecurrenceError::Syntax("the recurrence is empty: give an rrule or rdates, or leave recurrence null for a single occurrence".into()).into());
            }
            Some(Recurrence::parse(r.rrule.as_deref(), r.rdates, r.exdates)?)
        }
        Some(None) => None,
        None => base.and_then(|b| b.recurrence().cloned()),
    };
    Ok(Schedule::new(start, zone, length, all_day, recurrence)?)
}

#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %input.calendar))]
pub async fn create(
    app: &AppState,
    org: OrganizationId,
    input: NewSeries,
) -> Result<Series, ServiceError> {
    let calendar = app
        .store
        .calendar(org, input.calendar)
        .await?
        .ok_or(ServiceError::NotFound("calendar"))?;
    let zone = calendar.time_zone;
    let schedule =
        super::compute::run(move || build_schedule(input.schedule.clone(), None, zone)).await??;
    let series = Series::new(
        SeriesId::from_uuid(super::new_uuid()),
        org,
        calendar.id,
        input.kind,
        almanac_domain::text::title(&input.title)?,
        almanac_domain::text::description(input.description)?,
        schedule,
        1,
    )
    .shown_as(input.transparent);
    let writes = [SeriesWrite::Insert(&series)];
    match booking_guard(&series, input.reject_conflicts, None) {
        Some(guard) => save_guarded(app, &writes, &guard, "the series", 0).await?,
        None => app.store.insert_series(&series).await?,
    }
    app.changes.publish(org, &[], &[&series]).await;
    Ok(series)
}

/// Scope ALL: the whole series; exceptions are rebased onto the new schedule (see
/// `domain::edit`) and the report says which moved or were dropped.
#[tracing::instrument(skip_all, fields(org = %org, series.id = %changes.id))]
pub async fn update(
    app: &AppState,
    org: OrganizationId,
    changes: SeriesChanges,
) -> Result<(Series, EditReport), ServiceError> {
    let current = app
        .store
        .series(org, changes.id)
        .await?
        .ok_or(ServiceError::NotFound("series"))?;
    let planned = current.clone();
    let (next, report) =
        super::compute::run(move || plan_update(&planned, changes.clone())).await??;
    save(
        app,
        &[SeriesWrite::Update {
            series: &next,
            expected_version: current.version,
        }],
        "the series",
        current.version,
    )
    .await?;
    app.changes.publish(org, &[&current], &[&next]).await;
    Ok((next, report))
}

/// The series after an edit of the whole series, not yet stored.
pub(crate) fn plan_update(
    current: &Series,
    changes: SeriesChanges,
) -> Result<(Series, EditReport), ServiceError> {
    if current.version != changes.expected_version {
        return Err(ServiceError::VersionConflict {
            what: "the series",
            expected: changes.expected_version,
            current: current.version,
        });
    }
    let schedule = build_schedule(
        changes.schedule,
        Some(current.schedule()),
        current.schedule().zone(),
    )?;
    let fields = SeriesFields {
        kind: changes.kind,
        title: changes
            .title
            .map(|t| almanac_domain::text::title(&t))
            .transpose()?,
        description: changes
            .description
            .map(almanac_domain::text::description)
            .transpose()?,
    };
    let (mut next, report) = edit_all(current, schedule, &fields);
    if let Some(t) = changes.transparent {
        next.transparent = t;
    }
    Ok((next, report))
}

/// How far ahead a recurring booking is checked for conflicts.
pub const CONFLICT_HORIZON_DAYS: i64 = 366;

/// The guard for writing `series` with "reject conflicts": its busy occurrences from `from` (or
/// its start) for a year, or only `only` when one occurrence is being booked or moved.
pub(crate) fn booking_guard(
    series: &Series,
    reject: bool,
    only: Option<almanac_domain::occurrence::Occurrence>,
) -> Option<ConflictGuard> {
    if !reject || series.transparent {
        return None;
    }
    let options = BusyOptions {
        tentative_is_busy: true,
    };
    if let Some(o) = only {
        if o.kind.unwrap_or(series.kind) != SeriesKind::Event {
            return None;
        }
        return Some(ConflictGuard {
            organization: series.organization,
            calendar: series.calendar,
            intervals: vec![Interval {
                start: o.start.timestamp(),
                end: o.end.timestamp(),
            }],
            except_series: None,
            except_occurrence: Some(o.id),
            options,
        });
    }
    if series.kind != SeriesKind::Event {
        return None;
    }
    let (first, _) = series.span();
    let window = TimeWindow::new(
        almanac_domain::time::instant(first),
        almanac_domain::time::instant(first + CONFLICT_HORIZON_DAYS * 86_400),
    )
    .ok()?;
    let intervals = busy_blocks([series], window, options)
        .into_iter()
        .take(1000)
        .map(|b| b.interval)
        .collect::<Vec<_>>();
    (!intervals.is_empty()).then_some(ConflictGuard {
        organization: series.organization,
        calendar: series.calendar,
        intervals,
        except_series: Some(series.id),
        except_occurrence: None,
        options,
    })
}

/// Stores writes only if the guarded time is free.
pub(crate) async fn save_guarded(
    app: &AppState,
    writes: &[SeriesWrite<'_>],
    guard: &ConflictGuard,
    what: &'static str,
    expected: i64,
) -> Result<(), ServiceError> {
    match app.store.save_series_guarded(writes, guard).await? {
        GuardedWrite::Conflicts(c) => Err(ServiceError::Busy(c)),
        GuardedWrite::Versioned(VersionedWrite::Done) => Ok(()),
        GuardedWrite::Versioned(VersionedWrite::NotFound) => Err(ServiceError::NotFound("series")),
        GuardedWrite::Versioned(VersionedWrite::Conflict { current }) => {
            Err(ServiceError::VersionConflict {
                what,
                expected,
                current,
            })
        }
    }
}

/// Stores a planned change; a version that moved since it was read is a CONFLICT.
pub(crate) async fn save(
    app: &AppState,
    writes: &[SeriesWrite<'_>],
    what: &'static str,
    expected: i64,
) -> Result<(), ServiceError> {
    // The version check is repeated in the statements themselves: a writer that read the same
    // version concurrently loses there, not here.
    match app.store.save_series(writes).await? {
        VersionedWrite::Done => Ok(()),
        VersionedWrite::NotFound => Err(ServiceError::NotFound("series")),
        VersionedWrite::Conflict { current } => Err(ServiceError::VersionConflict {
            what,
            expected,
            current,
        }),
    }
}

/// Scope ALL, delete. A series with locked occurrences is not deleted (LOCKED).
#[tracing::instrument(skip_all, fields(org = %org, series.id = %id))]
pub async fn delete(
    app: &AppState,
    org: OrganizationId,
    id: SeriesId,
    expected_version: i64,
) -> Result<(), ServiceError> {
    let current = app
        .store
        .series(org, id)
        .await?
        .ok_or(ServiceError::NotFound("series"))?;
    if current.version != expected_version {
        return Err(ServiceError::VersionConflict {
            what: "the series",
            expected: expected_version,
            current: current.version,
        });
    }
    check_deletable(&current)?;
    save(
        app,
        &[SeriesWrite::Delete {
            organization: org,
            id,
            expected_version,
        }],
        "the series",
        expected_version,
    )
    .await?;
    app.changes.publish(org, &[&current], &[]).await;
    Ok(())
}

#[tracing::instrument(skip_all, fields(org = %org, series.id = %id))]
pub async fn get(
    app: &AppState,
    org: OrganizationId,
    id: SeriesId,
) -> Result<Series, ServiceError> {
    app.store
        .series(org, id)
        .await?
        .ok_or(ServiceError::NotFound("series"))
}

/// The series, or `None` when the organization has none with this id.
#[tracing::instrument(skip_all, fields(org = %org, series.id = %id))]
pub async fn find(
    app: &AppState,
    org: OrganizationId,
    id: SeriesId,
) -> Result<Option<Series>, ServiceError> {
    Ok(app.store.series(org, id).await?)
}

/// The continuations split from any of `ids` ("this and following" edits), oldest first.
#[tracing::instrument(skip_all, fields(org = %org, series = ids.len()))]
pub async fn continuations(
    app: &AppState,
    org: OrganizationId,
    ids: &[SeriesId],
) -> Result<Vec<Series>, ServiceError> {
    Ok(app.store.continuations_many(org, ids).await?)
}

/// A page of a calendar's series, ordered by id.
#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %calendar))]
pub async fn page_of_calendar(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
    page: &IdPage<SeriesId>,
) -> Result<IdPageRows<Series>, ServiceError> {
    page.fetch(|slice| async move { app.store.series_slice(org, calendar, &slice).await })
        .await
}
