use super::text;
use crate::graphql::error::ApiError;
use crate::state::AppState;
use almanac_domain::series::Calendar;
use almanac_domain::time::parse_zone;
use almanac_domain::{CalendarId, OrganizationId};

pub struct NewCalendar {
    pub name: String,
    pub time_zone: String,
}

#[tracing::instrument(skip_all)]
pub async fn create(app: &AppState, org: OrganizationId, input: NewCalendar) -> Result<Calendar, ApiError> {
    let calendar = Calendar {
        id: CalendarId::generate(),
        organization: org,
        name: text("name", &input.name, 200, true)?,
        time_zone: parse_zone(&input.time_zone)?,
    };
    app.store.insert_calendar(&calendar).await?;
    Ok(calendar)
}

pub async fn get(app: &AppState, org: OrganizationId, id: CalendarId) -> Result<Calendar, ApiError> {
    app.store.calendar(org, id).await?.ok_or(ApiError::NotFound("calendar"))
}
