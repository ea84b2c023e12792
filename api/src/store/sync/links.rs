//! Calendar links (a local calendar synced with a provider calendar) and their watch channels.

use super::rows::LinkRow;
use super::{parsed, LinkRecord};
use crate::store::sql::{placeholders, SqlStore, Statement};
use crate::store::StoreError;
use almanac_domain::ids::LinkId;
use almanac_domain::{CalendarId, OrganizationId};
use async_trait::async_trait;

const LINK_COLUMNS: &str = "id, organization_id, calendar_id, connection_id, remote_calendar_id, direction, sync_cursor, \
     last_synced_at, last_error, channel_id, channel_resource_id, channel_token_sha256, channel_expires_at, created_at";

#[async_trait]
pub trait CalendarLinks: Send + Sync {
    async fn insert_link(&self, link: &LinkRecord) -> Result<(), StoreError>;
    async fn link(&self, org: OrganizationId, id: LinkId)
        -> Result<Option<LinkRecord>, StoreError>;
    async fn links_of_calendars(
        &self,
        org: OrganizationId,
        calendars: &[CalendarId],
    ) -> Result<Vec<LinkRecord>, StoreError>;
    async fn links_of_organization(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<LinkRecord>, StoreError>;
    /// Every link of every organization: the background worker's round crosses organizations,
    /// and each record carries its own.
    async fn all_links(&self) -> Result<Vec<LinkRecord>, StoreError>;
    /// Deletes the link with its outbox and remote copies; false when the organization has no
    /// such link.
    async fn delete_link(&self, org: OrganizationId, id: LinkId) -> Result<bool, StoreError>;
    /// The provider's sync cursor after a pull; `synced_at` (a completed pull) also clears the
    /// link's error.
    async fn save_cursor(
        &self,
        org: OrganizationId,
        link: LinkId,
        cursor: Option<&str>,
        synced_at: Option<i64>,
    ) -> Result<(), StoreError>;
    async fn set_link_error(
        &self,
        org: OrganizationId,
        link: LinkId,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The link's deletion window: (deletions applied in it, series synced when it opened). Opens a
    /// new window at `now` sized `mapped_now` when none is open or it is older than `length`.
    async fn deletion_window(
        &self,
        org: OrganizationId,
        link: LinkId,
        now: i64,
        mapped_now: i64,
        length: i64,
    ) -> Result<(i64, i64), StoreError>;
    async fn record_deletions(
        &self,
        org: OrganizationId,
        link: LinkId,
        n: i64,
    ) -> Result<(), StoreError>;
}

/// The provider's push-notification channel of a link (Google watch channel, Microsoft
/// subscription).
#[async_trait]
pub trait WatchChannels: Send + Sync {
    /// The link a provider notification names, whatever its organization: the notification
    /// arrives unauthenticated except for the channel, and the record carries the organization.
    async fn link_by_channel(&self, channel_id: &str) -> Result<Option<LinkRecord>, StoreError>;
    async fn set_channel(
        &self,
        org: OrganizationId,
        link: LinkId,
        id: Option<&str>,
        resource_id: Option<&str>,
        token_sha256: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;
}

impl SqlStore {
    async fn links(&self, st: Statement) -> Result<Vec<LinkRecord>, StoreError> {
        parsed(self.fetch_all::<LinkRow>(st).await?)
    }

    async fn one_link(&self, st: Statement) -> Result<Option<LinkRecord>, StoreError> {
        self.fetch_optional::<LinkRow>(st)
            .await?
            .map(LinkRecord::try_from)
            .transpose()
    }
}

#[async_trait]
impl CalendarLinks for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %l.organization_id, link = %l.id))]
    async fn insert_link(&self, l: &LinkRecord) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(format!(
                "INSERT INTO calendar_links ({LINK_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(l.id.to_string())
            .bind(l.organization_id.to_string())
            .bind(l.calendar_id.to_string())
            .bind(l.connection_id.to_string())
            .bind(&l.remote_calendar_id)
            .bind(l.direction.as_str())
            .bind(&l.sync_cursor)
            .bind(l.last_synced_at)
            .bind(&l.last_error)
            .bind(&l.channel_id)
            .bind(&l.channel_resource_id)
            .bind(&l.channel_token_sha256)
            .bind(l.channel_expires_at)
            .bind(l.created_at),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %id))]
    async fn link(
        &self,
        org: OrganizationId,
        id: LinkId,
    ) -> Result<Option<LinkRecord>, StoreError> {
        self.one_link(
            Statement::uncounted(format!(
                "SELECT {LINK_COLUMNS} FROM calendar_links WHERE id = $1 AND organization_id = $2"
            ))
            .bind(id.to_string())
            .bind(org.to_string()),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendars = calendars.len()))]
    async fn links_of_calendars(
        &self,
        org: OrganizationId,
        calendars: &[CalendarId],
    ) -> Result<Vec<LinkRecord>, StoreError> {
        if calendars.is_empty() {
            return Ok(Vec::new());
        }
        self.links(
            Statement::uncounted(format!(
                "SELECT {LINK_COLUMNS} FROM calendar_links WHERE organization_id = $1 AND calendar_id IN ({}) ORDER BY id",
                placeholders(2, calendars.len())
            ))
            .bind(org.to_string())
            .bind_all(calendars.iter().map(ToString::to_string)),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn links_of_organization(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        self.links(
            Statement::uncounted(format!(
                "SELECT {LINK_COLUMNS} FROM calendar_links WHERE organization_id = $1 ORDER BY id"
            ))
            .bind(org.to_string()),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn all_links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.links(Statement::uncounted(format!(
            "SELECT {LINK_COLUMNS} FROM calendar_links ORDER BY id"
        )))
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %id))]
    async fn delete_link(&self, org: OrganizationId, id: LinkId) -> Result<bool, StoreError> {
        let (id, org) = (id.to_string(), org.to_string());
        let mut tx = self.begin().await?;
        tx.execute(
            Statement::uncounted(
                "DELETE FROM sync_outbox WHERE link_id = $1 AND organization_id = $2",
            )
            .bind(&id)
            .bind(&org),
        )
        .await?;
        tx.execute(
            Statement::uncounted(
                "DELETE FROM remote_series WHERE link_id IN \
                 (SELECT id FROM calendar_links WHERE id = $1 AND organization_id = $2)",
            )
            .bind(&id)
            .bind(&org),
        )
        .await?;
        let done = tx
            .execute(
                Statement::uncounted(
                    "DELETE FROM calendar_links WHERE id = $1 AND organization_id = $2",
                )
                .bind(&id)
                .bind(&org),
            )
            .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn save_cursor(
        &self,
        org: OrganizationId,
        link: LinkId,
        cursor: Option<&str>,
        synced_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE calendar_links SET sync_cursor = $2, last_synced_at = COALESCE($3, last_synced_at), \
                 last_error = CASE WHEN $3 IS NULL THEN last_error ELSE NULL END \
                 WHERE id = $1 AND organization_id = $4",
            )
            .bind(link.to_string())
            .bind(cursor)
            .bind(synced_at)
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn set_link_error(
        &self,
        org: OrganizationId,
        link: LinkId,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE calendar_links SET last_error = $2 WHERE id = $1 AND organization_id = $3",
            )
            .bind(link.to_string())
            .bind(error)
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn deletion_window(
        &self,
        org: OrganizationId,
        link: LinkId,
        now: i64,
        mapped_now: i64,
        length: i64,
    ) -> Result<(i64, i64), StoreError> {
        let (link, org) = (link.to_string(), org.to_string());
        self.execute(
            Statement::uncounted(
                "UPDATE calendar_links SET deletion_window_start = $2, deletions_in_window = 0, mapped_at_window_start = $3 \
                 WHERE id = $1 AND organization_id = $5 AND (deletion_window_start IS NULL OR deletion_window_start < $4)",
            )
            .bind(&link)
            .bind(now)
            .bind(mapped_now)
            .bind(now - length)
            .bind(&org),
        )
        .await?;
        let row: Option<(i64, Option<i64>)> = self
            .fetch_optional(
                Statement::uncounted(
                    "SELECT deletions_in_window, mapped_at_window_start FROM calendar_links \
                     WHERE id = $1 AND organization_id = $2",
                )
                .bind(&link)
                .bind(&org),
            )
            .await?;
        Ok(row
            .map(|(d, m)| (d, m.unwrap_or(mapped_now)))
            .unwrap_or((0, mapped_now)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn record_deletions(
        &self,
        org: OrganizationId,
        link: LinkId,
        n: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE calendar_links SET deletions_in_window = deletions_in_window + $2 \
                 WHERE id = $1 AND organization_id = $3",
            )
            .bind(link.to_string())
            .bind(n)
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl WatchChannels for SqlStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn link_by_channel(&self, channel_id: &str) -> Result<Option<LinkRecord>, StoreError> {
        self.one_link(
            Statement::uncounted(format!(
                "SELECT {LINK_COLUMNS} FROM calendar_links WHERE channel_id = $1"
            ))
            .bind(channel_id),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn set_channel(
        &self,
        org: OrganizationId,
        link: LinkId,
        id: Option<&str>,
        resource_id: Option<&str>,
        token_sha256: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE calendar_links SET channel_id = $2, channel_resource_id = $3, channel_token_sha256 = $4, \
                 channel_expires_at = $5 WHERE id = $1 AND organization_id = $6",
            )
            .bind(link.to_string())
            .bind(id)
            .bind(resource_id)
            .bind(token_sha256)
            .bind(expires_at)
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }
}
