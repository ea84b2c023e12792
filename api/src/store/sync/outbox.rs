//! The outbox: series changes waiting to be pushed to a link's provider. Rows are enqueued in the
//! transaction of the change itself, so a change and the intent to push it commit together.

use super::remote::put_remote;
use super::rows::OutboxRow;
use super::{parsed, OutboxRecord, RemoteSeriesRecord};
use crate::store::sql::{SqlStore, Statement, WriteTx};
use crate::store::StoreError;
use almanac_domain::ids::LinkId;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;

#[async_trait]
pub trait Outbox: Send + Sync {
    /// The link's pushes whose next attempt is due, oldest first.
    async fn due_pushes(
        &self,
        org: OrganizationId,
        link: LinkId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Queues every series of the link's calendar (the first push after linking).
    async fn enqueue_calendar(&self, org: OrganizationId, link: LinkId) -> Result<u64, StoreError>;
    async fn pending_pushes(&self, org: OrganizationId, link: LinkId) -> Result<i64, StoreError>;
    async fn push_pending_for(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
    ) -> Result<bool, StoreError>;
    /// Records a finished push and removes the outbox rows for the series up to `up_to`, in one
    /// transaction. `remote` None: the series is gone at the provider (mapping removed).
    async fn pushed(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
        up_to: i64,
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<(), StoreError>;
    async fn push_failed(
        &self,
        org: OrganizationId,
        outbox_id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError>;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Outbox rows for every pushing link of the series' calendar except `origin`, inside the
/// writer's transaction.
pub(in crate::store) async fn enqueue_pushes(
    tx: &mut WriteTx,
    org: OrganizationId,
    series: SeriesId,
    calendar: Option<CalendarId>,
    origin: Option<LinkId>,
) -> Result<(), StoreError> {
    // One statement either way: a deleted series' calendar is read from its row, which the caller
    // deletes only after this ($3, empty there, keeps both texts' parameters the same).
    let sql = match calendar {
        Some(_) => {
            "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
             SELECT id, $1, organization_id, $2, $2 FROM calendar_links \
             WHERE calendar_id = $3 AND direction <> 'PULL_ONLY' AND id <> $4 AND organization_id = $5"
        }
        None => {
            "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
             SELECT l.id, $1, l.organization_id, $2, $2 FROM calendar_links l JOIN series s ON s.calendar_id = l.calendar_id \
             WHERE s.id = $1 AND $3 = '' AND l.direction <> 'PULL_ONLY' AND l.id <> $4 AND l.organization_id = $5"
        }
    };
    tx.execute(
        Statement::uncounted(sql)
            .bind(series.to_string())
            .bind(now())
            .bind(calendar.map(|c| c.to_string()).unwrap_or_default())
            .bind(origin.map(|l| l.to_string()).unwrap_or_default())
            .bind(org.to_string()),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Outbox for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn due_pushes(
        &self,
        org: OrganizationId,
        link: LinkId,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        parsed(
            self.fetch_all::<OutboxRow>(
                Statement::uncounted(
                    "SELECT id, series_id, attempts FROM sync_outbox \
                     WHERE link_id = $1 AND organization_id = $4 AND next_attempt_at <= $2 ORDER BY id LIMIT $3",
                )
                .bind(link.to_string())
                .bind(now)
                .bind(limit)
                .bind(org.to_string()),
            )
            .await?,
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn enqueue_calendar(&self, org: OrganizationId, link: LinkId) -> Result<u64, StoreError> {
        self.execute(
            Statement::uncounted(
                "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
                 SELECT l.id, s.id, s.organization_id, $2, $2 FROM calendar_links l \
                 JOIN series s ON s.calendar_id = l.calendar_id AND s.organization_id = l.organization_id \
                 WHERE l.id = $1 AND l.organization_id = $3",
            )
            .bind(link.to_string())
            .bind(now())
            .bind(org.to_string()),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn pending_pushes(&self, org: OrganizationId, link: LinkId) -> Result<i64, StoreError> {
        let (n,): (i64,) = self
            .fetch_one(
                Statement::uncounted(
                    "SELECT COUNT(*) FROM sync_outbox WHERE link_id = $1 AND organization_id = $2",
                )
                .bind(link.to_string())
                .bind(org.to_string()),
            )
            .await?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link, series = %series))]
    async fn push_pending_for(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional(
                Statement::uncounted(
                    "SELECT id FROM sync_outbox WHERE link_id = $1 AND series_id = $2 AND organization_id = $3 LIMIT 1",
                )
                .bind(link.to_string())
                .bind(series.to_string())
                .bind(org.to_string()),
            )
            .await?;
        Ok(row.is_some())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link, series = %series))]
    async fn pushed(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
        up_to: i64,
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        match remote {
            Some(r) => put_remote(&mut tx, org, r).await?,
            None => super::remote::forget_remote(&mut tx, org, link, series).await?,
        }
        tx.execute(
            Statement::uncounted(
                "DELETE FROM sync_outbox WHERE link_id = $1 AND series_id = $2 AND id <= $3 AND organization_id = $4",
            )
            .bind(link.to_string())
            .bind(series.to_string())
            .bind(up_to)
            .bind(org.to_string()),
        )
        .await?;
        tx.commit().await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, outbox = outbox_id))]
    async fn push_failed(
        &self,
        org: OrganizationId,
        outbox_id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE sync_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
                 WHERE id = $1 AND organization_id = $4",
            )
            .bind(outbox_id)
            .bind(error)
            .bind(next_attempt_at)
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }
}
