//! Remote copies: what a link's provider holds of each local series (event id, etags, the
//! fingerprint last synced, and how faithfully the provider represents the series).
//!
//! `remote_series` has no organization column; its tenant is its link's, so every statement
//! reaches it through `calendar_links … AND organization_id = …`.

use super::rows::RemoteSeriesRow;
use super::{parsed, RemoteSeriesRecord};
use crate::store::series::{apply_writes, commit_if_done};
use crate::store::sql::{placeholders, SqlStore, Statement, WriteTx};
use crate::store::{SeriesWrite, StoreError, VersionedWrite};
use almanac_domain::ids::LinkId;
use almanac_domain::{OrganizationId, SeriesId};
use async_trait::async_trait;

const REMOTE_COLUMNS: &str =
    "link_id, series_id, remote_id, etag, exceptions, fingerprint, fidelity, fidelity_detail, updated_at";
/// The link of a remote copy belongs to the organization ($org).
const OF_ORGANIZATION: &str = "link_id IN (SELECT id FROM calendar_links WHERE organization_id = ";

#[async_trait]
pub trait RemoteCopies: Send + Sync {
    async fn remote_series(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError>;
    async fn remote_series_by_remote_id(
        &self,
        org: OrganizationId,
        link: LinkId,
        remote_id: &str,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError>;
    /// What the linked providers hold of these series (one statement for a page of series).
    async fn remote_series_of(
        &self,
        org: OrganizationId,
        series: &[SeriesId],
    ) -> Result<Vec<RemoteSeriesRecord>, StoreError>;
    /// The series the link's provider holds a copy of.
    async fn mapped_series(
        &self,
        org: OrganizationId,
        link: LinkId,
    ) -> Result<Vec<SeriesId>, StoreError>;
    async fn remember_remote(
        &self,
        org: OrganizationId,
        remote: &RemoteSeriesRecord,
    ) -> Result<(), StoreError>;
    /// Saves series changes pulled from `origin` (no push back to it) with its mapping, in one
    /// transaction. `remote` None: the mapping of the written series is removed.
    async fn save_pulled(
        &self,
        org: OrganizationId,
        origin: LinkId,
        writes: &[SeriesWrite<'_>],
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<VersionedWrite, StoreError>;
}

/// Inserts or replaces a remote copy, if its link belongs to the organization. A copy written
/// without a fidelity (a pull) keeps the one the last push recorded.
pub(super) async fn put_remote(
    tx: &mut WriteTx,
    org: OrganizationId,
    r: &RemoteSeriesRecord,
) -> Result<(), StoreError> {
    tx.execute(
        Statement::uncounted(format!(
            "INSERT INTO remote_series ({REMOTE_COLUMNS}) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM calendar_links WHERE id = $1 AND organization_id = $10 \
             ON CONFLICT (link_id, series_id) DO UPDATE SET remote_id = $3, etag = $4, exceptions = $5, fingerprint = $6, \
             fidelity = COALESCE($7, remote_series.fidelity), \
             fidelity_detail = CASE WHEN $7 IS NULL THEN remote_series.fidelity_detail ELSE $8 END, updated_at = $9"
        ))
        .bind(r.link_id.to_string())
        .bind(r.series_id.to_string())
        .bind(&r.remote_id)
        .bind(&r.etag)
        .bind(&r.exceptions)
        .bind(&r.fingerprint)
        .bind(&r.fidelity)
        .bind(&r.fidelity_detail)
        .bind(r.updated_at)
        .bind(org.to_string()),
    )
    .await?;
    Ok(())
}

/// Removes the remote copy of a series (the provider no longer holds it).
pub(super) async fn forget_remote(
    tx: &mut WriteTx,
    org: OrganizationId,
    link: LinkId,
    series: SeriesId,
) -> Result<(), StoreError> {
    tx.execute(
        Statement::uncounted(format!(
            "DELETE FROM remote_series WHERE link_id = $1 AND series_id = $2 AND {OF_ORGANIZATION}$3)"
        ))
        .bind(link.to_string())
        .bind(series.to_string())
        .bind(org.to_string()),
    )
    .await?;
    Ok(())
}

impl SqlStore {
    async fn one_remote(&self, st: Statement) -> Result<Option<RemoteSeriesRecord>, StoreError> {
        self.fetch_optional::<RemoteSeriesRow>(st)
            .await?
            .map(RemoteSeriesRecord::try_from)
            .transpose()
    }
}

#[async_trait]
impl RemoteCopies for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link, series = %series))]
    async fn remote_series(
        &self,
        org: OrganizationId,
        link: LinkId,
        series: SeriesId,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError> {
        self.one_remote(
            Statement::uncounted(format!(
                "SELECT {REMOTE_COLUMNS} FROM remote_series WHERE link_id = $1 AND series_id = $2 AND {OF_ORGANIZATION}$3)"
            ))
            .bind(link.to_string())
            .bind(series.to_string())
            .bind(org.to_string()),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn remote_series_by_remote_id(
        &self,
        org: OrganizationId,
        link: LinkId,
        remote_id: &str,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError> {
        self.one_remote(
            Statement::uncounted(format!(
                "SELECT {REMOTE_COLUMNS} FROM remote_series WHERE link_id = $1 AND remote_id = $2 AND {OF_ORGANIZATION}$3)"
            ))
            .bind(link.to_string())
            .bind(remote_id)
            .bind(org.to_string()),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, n = series.len()))]
    async fn remote_series_of(
        &self,
        org: OrganizationId,
        series: &[SeriesId],
    ) -> Result<Vec<RemoteSeriesRecord>, StoreError> {
        if series.is_empty() {
            return Ok(Vec::new());
        }
        parsed(
            self.fetch_all::<RemoteSeriesRow>(
                Statement::uncounted(format!(
                    "SELECT r.link_id, r.series_id, r.remote_id, r.etag, r.exceptions, r.fingerprint, r.fidelity, \
                     r.fidelity_detail, r.updated_at FROM remote_series r JOIN calendar_links l ON l.id = r.link_id \
                     WHERE l.organization_id = $1 AND r.series_id IN ({}) ORDER BY r.link_id",
                    placeholders(2, series.len())
                ))
                .bind(org.to_string())
                .bind_all(series.iter().map(ToString::to_string)),
            )
            .await?,
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %link))]
    async fn mapped_series(
        &self,
        org: OrganizationId,
        link: LinkId,
    ) -> Result<Vec<SeriesId>, StoreError> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                Statement::uncounted(format!(
                    "SELECT series_id FROM remote_series WHERE link_id = $1 AND {OF_ORGANIZATION}$2)"
                ))
                .bind(link.to_string())
                .bind(org.to_string()),
            )
            .await?;
        rows.iter()
            .map(|(id,)| super::parse_id("mapped series id", id))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %remote.link_id, series = %remote.series_id))]
    async fn remember_remote(
        &self,
        org: OrganizationId,
        remote: &RemoteSeriesRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        put_remote(&mut tx, org, remote).await?;
        tx.commit().await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, link = %origin, writes = writes.len()))]
    async fn save_pulled(
        &self,
        org: OrganizationId,
        origin: LinkId,
        writes: &[SeriesWrite<'_>],
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<VersionedWrite, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = apply_writes(&mut tx, writes, Some(origin)).await?;
        if outcome != VersionedWrite::Done {
            return commit_if_done(tx, outcome).await;
        }
        match remote {
            Some(r) => put_remote(&mut tx, org, r).await?,
            None => {
                for w in writes {
                    forget_remote(&mut tx, org, origin, w.id()).await?;
                }
            }
        }
        commit_if_done(tx, VersionedWrite::Done).await
    }
}
