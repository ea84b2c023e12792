//! Occurrence queries: which series can touch a window (SQL), then the domain merge.

use crate::graphql::error::ApiError;
use crate::state::AppState;
use crate::store::SeriesFilter;
use almanac_domain::occurrence::{occurrences_page, Occurrence, OccurrenceCursor, OccurrenceId, RecurrenceId};
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use std::collections::HashMap;
use std::sync::Arc;

pub struct OccurrenceQuery {
    pub calendars: Vec<CalendarId>,
    pub window: TimeWindow,
    pub kinds: Option<Vec<SeriesKind>>,
    pub first: usize,
    pub after: Option<OccurrenceCursor>,
}

pub struct OccurrencePage {
    pub items: Vec<(Occurrence, Arc<Series>)>,
    pub has_more: bool,
}

pub fn check_page_size(app: &AppState, first: i32) -> Result<usize, ApiError> {
    let max = app.limits.max_occurrence_page;
    if first < 1 {
        return Err(ApiError::invalid("first", "must be at least 1"));
    }
    let first = first as usize;
    if first > max {
        return Err(ApiError::Invalid(almanac_domain::InvalidInput::RangeTooLarge(format!("first may be at most {max}; page with `after` for more"))));
    }
    Ok(first)
}

#[tracing::instrument(skip_all, fields(calendars = q.calendars.len()))]
pub async fn page(app: &AppState, org: OrganizationId, q: OccurrenceQuery) -> Result<OccurrencePage, ApiError> {
    if q.calendars.len() > app.limits.max_calendars_per_query {
        return Err(ApiError::Invalid(almanac_domain::InvalidInput::RangeTooLarge(format!(
            "at most {} calendars per query",
            app.limits.max_calendars_per_query
        ))));
    }
    let mut calendars = q.calendars.clone();
    calendars.sort();
    calendars.dedup();
    let found = app.store.calendars_many(org, &calendars).await?;
    if found.len() != calendars.len() {
        return Err(ApiError::NotFound("calendar"));
    }
    let filter = SeriesFilter { calendars, kinds: q.kinds, from: q.window.from().timestamp(), to: q.window.to().timestamp() };
    let series = app.store.series_in_window(org, &filter).await?;
    Ok(merge(series, q.window, q.after, q.first))
}

/// The occurrences of already-loaded series; shared by every occurrence query.
pub fn merge(series: Vec<Series>, window: TimeWindow, after: Option<OccurrenceCursor>, first: usize) -> OccurrencePage {
    let page = occurrences_page(series.iter(), window, after, first);
    let by_id: HashMap<SeriesId, Arc<Series>> = series.into_iter().map(|s| (s.id, Arc::new(s))).collect();
    let items = page
        .occurrences
        .into_iter()
        .filter_map(|o| by_id.get(&o.series()).map(|s| (o, Arc::clone(s))))
        .collect();
    OccurrencePage { items, has_more: page.has_more }
}

/// One occurrence by id, if its series still generates it.
pub async fn get(app: &AppState, org: OrganizationId, id: OccurrenceId) -> Result<Option<(Occurrence, Arc<Series>)>, ApiError> {
    let Some(series) = app.store.series(org, id.series).await? else { return Ok(None) };
    Ok(find_in_series(&series, id.recurrence_id).map(|o| (o, Arc::new(series))))
}

/// The occurrence of `series` whose original start is `rid`, if the series generates one.
pub fn find_in_series(series: &Series, rid: RecurrenceId) -> Option<Occurrence> {
    let schedule = series.schedule();
    let inst = schedule.instances_from(rid.0).next().filter(|i| i.start == rid.0)?;
    let mut resolver = almanac_domain::time::ZoneResolver::new(schedule.zone());
    let end = schedule.end_of(inst, &mut resolver);
    Some(Occurrence {
        id: OccurrenceId { series: series.id, recurrence_id: rid },
        start: almanac_domain::time::instant(inst.start),
        end: almanac_domain::time::instant(end),
    })
}
