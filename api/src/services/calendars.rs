use super::text;
use crate::graphql::error::ApiError;
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

fn availability(input: Option<AvailabilityInput>) -> Result<AvailabilityMode, ApiError> {
    match input {
        None => Ok(AvailabilityMode::Default { working_hours: None }),
        Some(AvailabilityInput { explicit: true, working_hours: Some(_) }) => Err(ApiError::invalid("availability.workingHours", "an EXPLICIT calendar is available only in its AVAILABLE occurrences; working hours apply to DEFAULT")),
        Some(AvailabilityInput { explicit: true, .. }) => Ok(AvailabilityMode::Explicit),
        Some(AvailabilityInput { working_hours, .. }) => Ok(AvailabilityMode::Default { working_hours }),
    }
}

/// Sets how the calendar's available time is defined.
pub async fn set_availability(
    app: &AppState,
    org: OrganizationId,
    id: CalendarId,
    input: AvailabilityInput,
) -> Result<Calendar, ApiError> {
    let mut cal = get(app, org, id).await?;
    cal.availability = availability(Some(input))?;
    if !app.store.update_calendar(&cal).await? {
        return Err(ApiError::NotFound("calendar"));
    }
    Ok(cal)
}

#[tracing::instrument(skip_all)]
pub async fn create(
    app: &AppState,
    org: OrganizationId,
    input: NewCalendar,
) -> Result<Calendar, ApiError> {
    let calendar = Calendar {
        id: CalendarId::generate(),
        organization: org,
        name: text("name", &input.name, 200, true)?,
        time_zone: parse_zone(&input.time_zone)?,
        availability: availability(input.availability)?,
    };
    app.store.insert_calendar(&calendar).await?;
    Ok(calendar)
}

pub async fn get(
    app: &AppState,
    org: OrganizationId,
    id: CalendarId,
) -> Result<Calendar, ApiError> {
    app.store
        .calendar(org, id)
        .await?
        .ok_or(ApiError::NotFound("calendar"))
}
