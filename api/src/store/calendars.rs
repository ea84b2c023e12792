//! Organizations (the tenants) and their calendars.

use super::rows::{availability_columns, CalendarRow};
use super::series::keyset;
use super::sql::{placeholders, SqlStore, Statement};
use super::{IdSlice, StoreError};
use almanac_domain::series::Calendar;
use almanac_domain::{CalendarId, OrganizationId};
use async_trait::async_trait;

const CALENDAR_COLUMNS: &str =
    "id, organization_id, name, time_zone, availability_mode, working_hours";

#[async_trait]
pub trait Organizations: Send + Sync {
    /// Makes sure an organization row exists (used for the default organization in dev mode).
    async fn ensure_organization(&self, org: OrganizationId, name: &str) -> Result<(), StoreError>;
    /// Creates an organization.
    async fn create_organization(&self, name: &str) -> Result<OrganizationId, StoreError> {
        let id = OrganizationId::from_uuid(uuid::Uuid::now_v7());
        self.ensure_organization(id, name).await?;
        Ok(id)
    }
    /// Whether the organization exists (a JWT may name any id).
    async fn organization_exists(&self, org: OrganizationId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait Calendars: Send + Sync {
    async fn insert_calendar(&self, cal: &Calendar) -> Result<(), StoreError>;
    /// Replaces a calendar's name, zone and availability; false when it does not exist.
    async fn update_calendar(&self, cal: &Calendar) -> Result<bool, StoreError>;
    async fn calendar(
        &self,
        org: OrganizationId,
        id: CalendarId,
    ) -> Result<Option<Calendar>, StoreError> {
        Ok(self.calendars_many(org, &[id]).await?.pop())
    }
    async fn calendars_many(
        &self,
        org: OrganizationId,
        ids: &[CalendarId],
    ) -> Result<Vec<Calendar>, StoreError>;
    /// Calendars ordered by id, strictly after `after`, at most `limit`.
    async fn calendars_page(
        &self,
        org: OrganizationId,
        after: Option<CalendarId>,
        limit: i64,
    ) -> Result<Vec<Calendar>, StoreError> {
        self.calendars_slice(org, &IdSlice::after(after, limit))
            .await
    }
    /// Calendars ordered by id, within the slice.
    async fn calendars_slice(
        &self,
        org: OrganizationId,
        slice: &IdSlice<CalendarId>,
    ) -> Result<Vec<Calendar>, StoreError>;
}

#[async_trait]
impl Organizations for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn ensure_organization(&self, org: OrganizationId, name: &str) -> Result<(), StoreError> {
        self.execute(
            Statement::new(
                "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(org.to_string())
            .bind(name)
            .bind(chrono::Utc::now().timestamp()),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn organization_exists(&self, org: OrganizationId) -> Result<bool, StoreError> {
        let row: Option<(String,)> = self
            .fetch_optional(
                Statement::new("SELECT id FROM organizations WHERE id = $1").bind(org.to_string()),
            )
            .await?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl Calendars for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %cal.organization, calendar = %cal.id))]
    async fn insert_calendar(&self, cal: &Calendar) -> Result<(), StoreError> {
        let (mode, hours) = availability_columns(&cal.availability);
        self.execute(
            Statement::new(format!(
                "INSERT INTO calendars ({CALENDAR_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(cal.id.to_string())
            .bind(cal.organization.to_string())
            .bind(&cal.name)
            .bind(cal.time_zone.name())
            .bind(mode)
            .bind(hours)
            .bind(chrono::Utc::now().timestamp()),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %cal.organization, calendar = %cal.id))]
    async fn update_calendar(&self, cal: &Calendar) -> Result<bool, StoreError> {
        let (mode, hours) = availability_columns(&cal.availability);
        let done = self
            .execute(
                Statement::new(
                    "UPDATE calendars SET name = $3, time_zone = $4, availability_mode = $5, working_hours = $6 \
                     WHERE id = $1 AND organization_id = $2",
                )
                .bind(cal.id.to_string())
                .bind(cal.organization.to_string())
                .bind(&cal.name)
                .bind(cal.time_zone.name())
                .bind(mode)
                .bind(hours),
            )
            .await?;
        Ok(done == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, n = ids.len()))]
    async fn calendars_many(
        &self,
        org: OrganizationId,
        ids: &[CalendarId],
    ) -> Result<Vec<Calendar>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let st = Statement::new(format!(
            "SELECT {CALENDAR_COLUMNS} FROM calendars WHERE organization_id = $1 AND id IN ({})",
            placeholders(2, ids.len())
        ))
        .bind(org.to_string())
        .bind_all(ids.iter().map(ToString::to_string));
        let rows: Vec<CalendarRow> = self.fetch_all(st).await?;
        rows.into_iter().map(Calendar::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn calendars_slice(
        &self,
        org: OrganizationId,
        slice: &IdSlice<CalendarId>,
    ) -> Result<Vec<Calendar>, StoreError> {
        let mut st = Statement::new(format!(
            "SELECT {CALENDAR_COLUMNS} FROM calendars WHERE organization_id = $1"
        ))
        .bind(org.to_string());
        keyset(&mut st, slice);
        let mut rows: Vec<CalendarRow> = self.fetch_all(st).await?;
        if slice.from_end {
            rows.reverse();
        }
        rows.into_iter().map(Calendar::try_from).collect()
    }
}
