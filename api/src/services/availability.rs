//! Free/busy, availability, bookable slots, the next slot and "why not": load the calendars and
//! their series for the window once, then the pure functions in `domain::availability`.

use super::ServiceError;
use crate::state::AppState;
use crate::store::SeriesFilter;
use almanac_domain::availability::{
    self as av, BusyOptions, CalendarRules, CalendarTime, Interval, Obstacle, Slot, SlotRules,
};
use almanac_domain::series::Series;
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId};
use chrono::{DateTime, Utc};

/// Longest window a slot or availability question may cover.
pub const MAX_AVAILABILITY_DAYS: i64 = 366;
/// Most slots one answer lists.
pub const MAX_SLOTS: usize = 2000;

/// Loads calendars and the series that can touch `window`, and computes each calendar's
/// available windows and busy time there.
#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len()))]
pub async fn calendar_times(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
    window: TimeWindow,
    opts: BusyOptions,
) -> Result<Vec<CalendarTime>, ServiceError> {
    if calendars.is_empty() {
        return Err(ServiceError::invalid(
            "calendarIds",
            "name at least one calendar",
        ));
    }
    if calendars.len() > app.limits.max_calendars_per_query {
        return Err(ServiceError::too_large(format!(
            "at most {} calendars per question",
            app.limits.max_calendars_per_query
        )));
    }
    if (window.to() - window.from()).num_days() > MAX_AVAILABILITY_DAYS {
        return Err(ServiceError::too_large(format!(
            "availability questions cover at most {MAX_AVAILABILITY_DAYS} days"
        )));
    }
    let mut ids = calendars.to_vec();
    ids.sort();
    ids.dedup();
    let cals = app.store.calendars_many(org, &ids).await?;
    if cals.len() != ids.len() {
        return Err(ServiceError::NotFound("calendar"));
    }
    let filter = SeriesFilter {
        calendars: ids,
        kinds: None,
        from: window.from().timestamp(),
        to: window.to().timestamp(),
    };
    let series = app.store.series_in_window(org, &filter).await?;
    Ok(calendars
        .iter()
        .filter_map(|id| cals.iter().find(|c| c.id == *id))
        .map(|c| {
            let rules = CalendarRules {
                calendar: c.id,
                zone: c.time_zone,
                mode: c.availability.clone(),
            };
            let mine: Vec<&Series> = series.iter().filter(|s| s.calendar == c.id).collect();
            CalendarTime::compute(&rules, &mine, window, opts)
        })
        .collect())
}

/// Free/busy per calendar, and all calendars' busy time merged.
#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len()))]
pub async fn free_busy(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
    window: TimeWindow,
    opts: BusyOptions,
) -> Result<(Vec<CalendarTime>, Vec<Interval>), ServiceError> {
    let times = calendar_times(app, org, calendars, window, opts).await?;
    let w = Interval {
        start: window.from().timestamp(),
        end: window.to().timestamp(),
    };
    let combined = av::intersect(
        &av::union(
            times
                .iter()
                .flat_map(|t| t.busy_merged.iter().copied())
                .collect(),
        ),
        &[w],
    );
    Ok((times, combined))
}

/// The window to load for slot questions: wide enough that busy time just outside the asked
/// window still counts against slots at its edges through the buffers.
fn padded(window: TimeWindow, r: &SlotRules) -> Result<TimeWindow, ServiceError> {
    let pad = r.buffer_before.max(r.buffer_after) + r.duration;
    TimeWindow::new(
        window.from() - chrono::Duration::seconds(pad),
        window.to() + chrono::Duration::seconds(pad),
    )
    .map_err(ServiceError::from)
}

pub fn check_rules(r: &SlotRules) -> Result<(), ServiceError> {
    if r.duration <= 0 {
        return Err(ServiceError::invalid("duration", "must be positive"));
    }
    if r.step <= 0 {
        return Err(ServiceError::invalid("step", "must be positive"));
    }
    if r.buffer_before < 0 || r.buffer_after < 0 || r.notice < 0 || r.horizon < 0 {
        return Err(ServiceError::invalid(
            "rules",
            "buffers, notice and horizon cannot be negative",
        ));
    }
    if r.horizon > MAX_AVAILABILITY_DAYS * 86_400 {
        return Err(ServiceError::too_large(format!(
            "maximumHorizon may be at most {MAX_AVAILABILITY_DAYS} days"
        )));
    }
    if r.step < 60 {
        return Err(ServiceError::invalid("step", "must be at least one minute"));
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len(), limit))]
pub async fn slots(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
    window: TimeWindow,
    r: &SlotRules,
    opts: BusyOptions,
    limit: usize,
) -> Result<(Vec<Slot>, bool), ServiceError> {
    check_rules(r)?;
    if limit == 0 || limit > MAX_SLOTS {
        return Err(ServiceError::too_large(format!(
            "first must be 1..{MAX_SLOTS}"
        )));
    }
    let r = SlotRules {
        range: Interval {
            start: window.from().timestamp(),
            end: window.to().timestamp(),
        },
        ..*r
    };
    let times = calendar_times(app, org, calendars, padded(window, &r)?, opts).await?;
    Ok(av::slots(&times, &r, limit))
}

/// The first bookable slot at or after `after`, looking up to the horizon a week at a time.
#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len(), after = %after))]
pub async fn next_slot(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
    after: DateTime<Utc>,
    r: &SlotRules,
    opts: BusyOptions,
) -> Result<Option<Slot>, ServiceError> {
    check_rules(r)?;
    let end = almanac_domain::time::instant(r.now + r.horizon + r.duration);
    let mut from = after.max(almanac_domain::time::instant(r.now + r.notice));
    while from < end {
        let to = (from + chrono::Duration::days(7)).min(end);
        let window = TimeWindow::new(from, to)?;
        let rr = SlotRules {
            range: Interval {
                start: from.timestamp(),
                end: to.timestamp() + r.duration,
            },
            ..*r
        };
        let times = calendar_times(app, org, calendars, padded(window, &rr)?, opts).await?;
        if let Some(s) = av::slots(&times, &rr, 1).0.into_iter().next() {
            return Ok(Some(s));
        }
        from = to;
    }
    Ok(None)
}

#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len(), start = %start, end = %end))]
pub async fn why_not(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    r: &SlotRules,
    opts: BusyOptions,
) -> Result<Vec<Obstacle>, ServiceError> {
    check_rules(r)?;
    if end <= start {
        return Err(ServiceError::invalid("end", "must be after start"));
    }
    let window = TimeWindow::new(start, end)?;
    let times = calendar_times(app, org, calendars, padded(window, r)?, opts).await?;
    Ok(av::why_not(&times, start.timestamp(), end.timestamp(), r))
}
