use super::paging::{IdPage, IdPageRows};
use super::ServiceError;
use crate::state::AppState;
use almanac_domain::availability::{AvailabilityMode, WorkingHours};
use almanac_domain::series::Calendar;
use almanac_domain::time::parse_zone;
use almanac_domain::{CalendarId, OrganizationId};

pub struct NewCalendar {
    pub name: String,
    pub time_zone: String,
    pub availability: Option<AvailabilityInput>,
}

/// EXPLICIT, or DEFAULT with optional working hours.
pub struct AvailabilityInput {
    pub explicit: bool,
    pub working_hours: Option<WorkingHours>,
}

fn availability(input: Option<AvailabilityInput>) -> Result<AvailabilityMode, ServiceError> {
    match input {
        None => Ok(AvailabilityMode::Default { working_hours: None }),
        Some(AvailabilityInput { explicit: true, working_hours: Some(_) }) => Err(ServiceError::invalid("availability.workingHours", "an EXPLICIT calendar is available only in its AVAILABLE occurrences; working hours apply to DEFAULT")),
        Some(AvailabilityInput { explicit: true, .. }) => Ok(AvailabilityMode::Explicit),
        Some(AvailabilityInput { working_hours, .. }) => Ok(AvailabilityMode::Default { working_hours }),
    }
}

/// Sets how the calendar's available time is defined.
#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %id))]
pub async fn set_availability(
    app: &AppState,
    org: OrganizationId,
    id: CalendarId,
    input: AvailabilityInput,
) -> Result<Calendar, ServiceError> {
    let mut cal = get(app, org, id).await?;
    cal.availability = availability(Some(input))?;
    if !app.store.update_calendar(&cal).await? {
        return Err(ServiceError::NotFound("calendar"));
    }
    Ok(cal)
}

#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create(
    app: &AppState,
    org: OrganizationId,
    input: NewCalendar,
) -> Result<Calendar, ServiceError> {
    let calendar = Calendar {
        id: CalendarId::from_uuid(super::new_uuid()),
        organization: org,
        name: almanac_domain::text::single_line("name", &input.name, 200, true)?,
        time_zone: parse_zone(&input.time_zone)?,
        availability: availability(input.availability)?,
    };
    app.store.insert_calendar(&calendar).await?;
    Ok(calendar)
}

#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %id))]
pub async fn get(
    app: &AppState,
    org: OrganizationId,
    id: CalendarId,
) -> Result<Calendar, ServiceError> {
    app.store
        .calendar(org, id)
        .await?
        .ok_or(ServiceError::NotFound("calendar"))
}

/// The calendar, or `None` when the organization has none with this id.
#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %id))]
pub async fn find(
    app: &AppState,
    org: OrganizationId,
    id: CalendarId,
) -> Result<Option<Calendar>, ServiceError> {
    Ok(app.store.calendar(org, id).await?)
}

/// The organization's calendars among `ids` (those it has; no error for the others).
#[tracing::instrument(skip_all, fields(org = %org, calendars = ids.len()))]
pub async fn many(
    app: &AppState,
    org: OrganizationId,
    ids: &[CalendarId],
) -> Result<Vec<Calendar>, ServiceError> {
    Ok(app.store.calendars_many(org, ids).await?)
}

/// Refuses an empty list, and any calendar the organization does not have.
#[tracing::instrument(skip_all, fields(org = %org, calendars = ids.len()))]
pub async fn require_all(
    app: &AppState,
    org: OrganizationId,
    ids: &[CalendarId],
) -> Result<(), ServiceError> {
    if ids.is_empty() {
        return Err(ServiceError::invalid(
            "calendarIds",
            "name at least one calendar",
        ));
    }
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    if app.store.calendars_many(org, &unique).await?.len() != unique.len() {
        return Err(ServiceError::NotFound("calendar"));
    }
    Ok(())
}

/// A page of the organization's calendars, ordered by id.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn page(
    app: &AppState,
    org: OrganizationId,
    page: &IdPage<CalendarId>,
) -> Result<IdPageRows<Calendar>, ServiceError> {
    page.fetch(|slice| async move { app.store.calendars_slice(org, &slice).await })
        .await
}
