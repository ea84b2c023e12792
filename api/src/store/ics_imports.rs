//! Which series an iCalendar import made from which UID, so a re-import updates them.

use super::rows::parse_id;
use super::series::{apply_writes, commit_if_done};
use super::sql::{SqlStore, Statement};
use super::{SeriesWrite, StoreError, VersionedWrite};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;

/// Which series an iCalendar import made from which UID (per calendar).
#[derive(Debug, Clone)]
pub struct IcsSourceRecord {
    pub source_uid: String,
    pub series_id: SeriesId,
}

#[async_trait]
pub trait IcsImports: Send + Sync {
    /// The UIDs earlier iCalendar imports into this calendar came from, and their series.
    async fn ics_sources(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
    ) -> Result<Vec<IcsSourceRecord>, StoreError>;
    /// An iCalendar import in one transaction: the series writes (as `save_series`) and the UID
    /// of each imported series. A UID that another import mapped to a different series meanwhile
    /// is a `Conflict` (nothing written), like a stale version.
    async fn save_ics_import(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
        writes: &[SeriesWrite<'_>],
        sources: &[(String, SeriesId)],
    ) -> Result<VersionedWrite, StoreError>;
}

#[async_trait]
impl IcsImports for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendar = %calendar))]
    async fn ics_sources(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
    ) -> Result<Vec<IcsSourceRecord>, StoreError> {
        let rows: Vec<(String, String)> = self
            .fetch_all(
                Statement::new(
                    "SELECT source_uid, series_id FROM ics_import_sources WHERE organization_id = $1 AND calendar_id = $2",
                )
                .bind(org.to_string())
                .bind(calendar.to_string()),
            )
            .await?;
        rows.into_iter()
            .map(|(source_uid, series)| {
                Ok(IcsSourceRecord {
                    source_uid,
                    series_id: parse_id("imported series id", &series)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendar = %calendar, writes = writes.len()))]
    async fn save_ics_import(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
        writes: &[SeriesWrite<'_>],
        sources: &[(String, SeriesId)],
    ) -> Result<VersionedWrite, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = apply_writes(&mut tx, writes, None).await?;
        if outcome != VersionedWrite::Done {
            return commit_if_done(tx, outcome).await;
        }
        let now = chrono::Utc::now().timestamp();
        for (uid, series) in sources {
            // Insert, or confirm the row already maps this UID to this series; a row that maps it
            // elsewhere (a concurrent import) matches nothing and rolls back.
            let done = tx
                .execute(
                    Statement::new(
                        "INSERT INTO ics_import_sources (organization_id, calendar_id, source_uid, series_id, imported_at) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (calendar_id, source_uid) DO UPDATE SET imported_at = excluded.imported_at \
                         WHERE ics_import_sources.series_id = excluded.series_id",
                    )
                    .bind(org.to_string())
                    .bind(calendar.to_string())
                    .bind(uid)
                    .bind(series.to_string())
                    .bind(now),
                )
                .await?;
            if done != 1 {
                return commit_if_done(tx, VersionedWrite::Conflict { current: 0 }).await;
            }
        }
        commit_if_done(tx, VersionedWrite::Done).await
    }
}
