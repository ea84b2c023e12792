//! Occurrence queries: which series can touch a window (SQL), then the domain merge.

use super::ServiceError;
use crate::state::AppState;
use crate::store::SeriesFilter;
use almanac_domain::edit::occurrence_at;
use almanac_domain::occurrence::{Occurrence, OccurrenceId, RecurrenceId};
use almanac_domain::paging::{occurrences_slice, Slice};
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use std::collections::HashMap;
use std::sync::Arc;

pub struct OccurrenceQuery {
    pub calendars: Vec<CalendarId>,
    pub window: TimeWindow,
    pub kinds: Option<Vec<SeriesKind>>,
    pub slice: Slice,
    pub include_cancelled: bool,
}

pub struct OccurrencePage {
    pub items: Vec<(Occurrence, Arc<Series>)>,
    /// Occurrences of the window come before the page.
    pub has_previous: bool,
    /// Occurrences of the window come after the page.
    pub has_next: bool,
}

#[tracing::instrument(skip_all, fields(org = %org, calendars = q.calendars.len()))]
pub async fn page(
    app: &AppState,
    org: OrganizationId,
    q: OccurrenceQuery,
) -> Result<OccurrencePage, ServiceError> {
    if q.calendars.len() > app.limits.max_calendars_per_query {
        return Err(ServiceError::too_large(format!(
            "at most {} calendars per query",
            app.limits.max_calendars_per_query
        )));
    }
    let mut calendars = q.calendars.clone();
    calendars.sort();
    calendars.dedup();
    let found = app.store.calendars_many(org, &calendars).await?;
    if found.len() != calendars.len() {
        return Err(ServiceError::NotFound("calendar"));
    }
    let filter = SeriesFilter {
        calendars,
        kinds: q.kinds,
        from: q.window.from().timestamp(),
        to: q.window.to().timestamp(),
    };
    let series = app.store.series_in_window(org, &filter).await?;
    Ok(merge(series, q.window, q.slice, q.include_cancelled))
}

/// The occurrences of already-loaded series; shared by every occurrence query.
pub fn merge(
    series: Vec<Series>,
    window: TimeWindow,
    slice: Slice,
    include_cancelled: bool,
) -> OccurrencePage {
    let refs: Vec<&Series> = series.iter().collect();
    let page = occurrences_slice(&refs, window, slice, include_cancelled);
    let by_id: HashMap<SeriesId, Arc<Series>> =
        series.into_iter().map(|s| (s.id, Arc::new(s))).collect();
    let items = page
        .occurrences
        .into_iter()
        .filter_map(|o| by_id.get(&o.series()).map(|s| (o, Arc::clone(s))))
        .collect();
    OccurrencePage {
        items,
        has_previous: page.has_previous,
        has_next: page.has_next,
    }
}

/// How a client names an occurrence: by its id, or by its series and recurrence id.
#[derive(Debug, Clone, Copy)]
pub enum OccurrenceAddress {
    Id(OccurrenceId),
    InSeries(SeriesId, RecurrenceId),
}

/// Finds the series that holds an occurrence now (after splits, possibly a continuation of the
/// series the id was minted in) and the occurrence's recurrence id.
#[tracing::instrument(skip_all, fields(org = %org, occurrence = ?address))]
pub async fn locate(
    app: &AppState,
    org: OrganizationId,
    address: OccurrenceAddress,
) -> Result<(Series, RecurrenceId), ServiceError> {
    match address {
        OccurrenceAddress::InSeries(series_id, rid) => {
            let series = app
                .store
                .series(org, series_id)
                .await?
                .ok_or(ServiceError::NotFound("series"))?;
            if occurrence_at(&series, rid).is_none() {
                return Err(ServiceError::NoSuchOccurrence(rid));
            }
            Ok((series, rid))
        }
        OccurrenceAddress::Id(id) => {
            let chain = app.store.series_in_lineage(org, id.lineage).await?;
            if chain.is_empty() {
                return Err(ServiceError::NotFound("occurrence"));
            }
            chain
                .into_iter()
                .find(|s| occurrence_at(s, id.recurrence_id).is_some())
                .map(|s| (s, id.recurrence_id))
                .ok_or(ServiceError::NoSuchOccurrence(id.recurrence_id))
        }
    }
}

/// One occurrence by id, if some series of its chain still shows it.
#[tracing::instrument(skip_all, fields(org = %org, occurrence.id = %id))]
pub async fn get(
    app: &AppState,
    org: OrganizationId,
    id: OccurrenceId,
) -> Result<Option<(Occurrence, Arc<Series>)>, ServiceError> {
    match locate(app, org, OccurrenceAddress::Id(id)).await {
        Ok((series, rid)) => Ok(occurrence_at(&series, rid).map(|o| (o, Arc::new(series)))),
        Err(ServiceError::NotFound(_) | ServiceError::NoSuchOccurrence(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The most upcoming occurrences a preview may ask for.
pub const MAX_UPCOMING: usize = 200;

/// The occurrences of a series from `from` on, however far in the future: the window runs to the
/// end of supported time, not the 400 years a windowed query may span, so a series that starts
/// centuries after `from`, or occurs once in decades, is still found, and `hasNextPage` stays true
/// while any occurrence remains.
#[tracing::instrument(skip_all, fields(org = %org, series.id = %series, from = %from))]
pub async fn upcoming(
    app: &AppState,
    org: OrganizationId,
    series: SeriesId,
    from: chrono::DateTime<chrono::Utc>,
    slice: Slice,
) -> Result<OccurrencePage, ServiceError> {
    let series = app
        .store
        .series(org, series)
        .await?
        .ok_or(ServiceError::NotFound("series"))?;
    let window = TimeWindow::to_the_end(from).map_err(ServiceError::from)?;
    super::compute::run_pooled(move || merge(vec![series], window, slice, false)).await
}
