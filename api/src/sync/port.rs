//! The store-backed [`SyncPort`]: the sync engine's view of one link's outbox, mappings and series.
//! Pulled changes are saved through `SyncStore::save_pulled` (one transaction with the mapping, no
//! push back to the link they came from) and published to subscriptions like any other change.

use crate::state::AppState;
use crate::store::sync::RemoteSeriesRecord;
use crate::store::{SeriesWrite, StoreError, VersionedWrite};
use almanac_domain::series::Series;
use almanac_domain::SeriesId;
use almanac_providers::sync::engine::{
    ExceptionRef, Link, LocalWrite, OutboxItem, RemoteRef, SyncError as RoundError, SyncPort,
};
use almanac_providers::sync::model::Fidelity;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Remote deletions are counted against the mass-deletion guard over this long.
const DELETION_WINDOW_SECONDS: i64 = 3600;

pub struct StorePort {
    pub app: AppState,
}

fn local(e: StoreError) -> RoundError {
    RoundError::Local(e.to_string())
}

pub fn to_ref(r: &RemoteSeriesRecord) -> RemoteRef {
    let exceptions: BTreeMap<i64, ExceptionRef> = serde_json::from_str(&r.exceptions)
        .unwrap_or_else(|e| {
            // Forgetting them only costs rewriting the series' exceptions at its next push.
            tracing::warn!(link = %r.link_id, series = %r.series_id, error = %e, "unreadable exception mapping; treating it as empty");
            BTreeMap::new()
        });
    RemoteRef {
        remote_id: r.remote_id.clone().unwrap_or_default(),
        etag: r.etag.clone(),
        exceptions,
        fingerprint: r.fingerprint.clone(),
    }
}

pub fn to_record(
    link: &Link,
    series: SeriesId,
    r: &RemoteRef,
    fidelity: Option<&Fidelity>,
) -> RemoteSeriesRecord {
    RemoteSeriesRecord {
        link_id: link.id.clone(),
        series_id: series.to_string(),
        remote_id: Some(r.remote_id.clone()).filter(|id| !id.is_empty()),
        etag: r.etag.clone(),
        exceptions: serde_json::to_string(&r.exceptions).unwrap_or_else(|_| "{}".into()),
        fingerprint: r.fingerprint.clone(),
        fidelity: fidelity.map(|f| f.level().to_string()),
        fidelity_detail: fidelity.and_then(Fidelity::detail),
        updated_at: chrono::Utc::now().timestamp(),
    }
}

#[async_trait]
impl SyncPort for StorePort {
    async fn due_pushes(&self, link: &Link, limit: usize) -> Result<Vec<OutboxItem>, RoundError> {
        let rows = self
            .app
            .store
            .due_pushes(
                &link.id,
                chrono::Utc::now().timestamp(),
                i64::try_from(limit).unwrap_or(i64::MAX),
            )
            .await
            .map_err(local)?;
        Ok(rows
            .into_iter()
            .map(|r| OutboxItem {
                id: r.id,
                series: r.series_id_text.0,
                attempts: r.attempts,
            })
            .collect())
    }

    async fn series(&self, link: &Link, id: SeriesId) -> Result<Option<Series>, RoundError> {
        self.app
            .store
            .series(link.organization, id)
            .await
            .map_err(local)
    }

    async fn remote_ref(&self, link: &Link, id: SeriesId) -> Result<Option<RemoteRef>, RoundError> {
        Ok(self
            .app
            .store
            .remote_series(&link.id, id)
            .await
            .map_err(local)?
            .as_ref()
            .map(to_ref))
    }

    async fn series_for_remote(
        &self,
        link: &Link,
        remote_id: &str,
    ) -> Result<Option<(SeriesId, RemoteRef)>, RoundError> {
        let Some(r) = self
            .app
            .store
            .remote_series_by_remote_id(&link.id, remote_id)
            .await
            .map_err(local)?
        else {
            return Ok(None);
        };
        Ok(r.series_id
            .parse::<SeriesId>()
            .ok()
            .map(|id| (id, to_ref(&r))))
    }

    async fn pushed(
        &self,
        link: &Link,
        item: OutboxItem,
        remote: Option<RemoteRef>,
        fidelity: &Fidelity,
    ) -> Result<(), RoundError> {
        let record = remote
            .as_ref()
            .map(|r| to_record(link, item.series, r, Some(fidelity)));
        self.app
            .store
            .pushed(&link.id, item.series, item.id, record.as_ref())
            .await
            .map_err(local)
    }

    async fn push_failed(
        &self,
        _link: &Link,
        item: OutboxItem,
        error: &str,
        retry_in_seconds: i64,
    ) -> Result<(), RoundError> {
        let at = chrono::Utc::now().timestamp() + retry_in_seconds;
        self.app
            .store
            .push_failed(item.id, error, at)
            .await
            .map_err(local)
    }

    async fn push_pending(&self, link: &Link, id: SeriesId) -> Result<bool, RoundError> {
        self.app
            .store
            .push_pending_for(&link.id, id)
            .await
            .map_err(local)
    }

    async fn write(&self, link: &Link, write: LocalWrite) -> Result<bool, RoundError> {
        let store = &self.app.store;
        match write {
            LocalWrite::Remember { series, remote } => {
                store
                    .remember_remote(&to_record(link, series, &remote, None))
                    .await
                    .map_err(local)?;
                Ok(true)
            }
            LocalWrite::Save {
                series,
                expected_version,
                remote,
            } => {
                let before = store
                    .series(link.organization, series.id)
                    .await
                    .map_err(local)?;
                let record = to_record(link, series.id, &remote, None);
                let outcome = match expected_version {
                    None => {
                        store
                            .save_pulled(&[SeriesWrite::Insert(&series)], &link.id, Some(&record))
                            .await
                    }
                    Some(v) => {
                        store
                            .save_pulled(
                                &[SeriesWrite::Update {
                                    series: &series,
                                    expected_version: v,
                                }],
                                &link.id,
                                Some(&record),
                            )
                            .await
                    }
                }
                .map_err(local)?;
                if outcome != VersionedWrite::Done {
                    return Ok(false);
                }
                let before: Vec<&Series> = before.iter().collect();
                self.app
                    .changes
                    .publish(link.organization, &before, &[&series])
                    .await;
                Ok(true)
            }
            LocalWrite::Delete {
                series,
                expected_version,
            } => {
                let Some(before) = store
                    .series(link.organization, series)
                    .await
                    .map_err(local)?
                else {
                    return Ok(false);
                };
                let outcome = store
                    .save_pulled(
                        &[SeriesWrite::Delete {
                            organization: link.organization,
                            id: series,
                            expected_version,
                        }],
                        &link.id,
                        None,
                    )
                    .await
                    .map_err(local)?;
                if outcome != VersionedWrite::Done {
                    return Ok(false);
                }
                self.app
                    .changes
                    .publish(link.organization, &[&before], &[])
                    .await;
                Ok(true)
            }
        }
    }

    async fn mapped_series(&self, link: &Link) -> Result<Vec<SeriesId>, RoundError> {
        Ok(self
            .app
            .store
            .mapped_series(&link.id)
            .await
            .map_err(local)?
            .into_iter()
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    async fn deletion_window(
        &self,
        link: &Link,
        mapped_now: usize,
    ) -> Result<(usize, usize), RoundError> {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let (done, base) = self
            .app
            .store
            .deletion_window(
                &link.id,
                chrono::Utc::now().timestamp(),
                n(mapped_now),
                DELETION_WINDOW_SECONDS,
            )
            .await
            .map_err(local)?;
        Ok((
            usize::try_from(done).unwrap_or(0),
            usize::try_from(base).unwrap_or(0),
        ))
    }

    async fn record_deletions(&self, link: &Link, n: usize) -> Result<(), RoundError> {
        self.app
            .store
            .record_deletions(&link.id, i64::try_from(n).unwrap_or(i64::MAX))
            .await
            .map_err(local)
    }

    async fn recently_ended(
        &self,
        link: &Link,
        before: i64,
        lookback: i64,
    ) -> Result<Vec<Series>, RoundError> {
        let filter = crate::store::SeriesFilter {
            calendars: vec![link.calendar],
            kinds: None,
            from: before - lookback,
            to: before,
        };
        let candidates: Vec<Series> = self
            .app
            .store
            .series_in_window(link.organization, &filter)
            .await
            .map_err(local)?
            .into_iter()
            .filter(|s| s.schedule().rule_bound().is_some_and(|b| b < before))
            .collect();
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let ids: Vec<SeriesId> = candidates.iter().map(|s| s.id).collect();
        let continued: std::collections::HashSet<SeriesId> = self
            .app
            .store
            .continuations_many(link.organization, &ids)
            .await
            .map_err(local)?
            .into_iter()
            .filter_map(|c| c.lineage().parent)
            .collect();
        Ok(candidates
            .into_iter()
            .filter(|s| !continued.contains(&s.id))
            .collect())
    }

    async fn save_cursor(&self, link: &Link, cursor: Option<&str>) -> Result<(), RoundError> {
        let synced = cursor.map(|_| chrono::Utc::now().timestamp());
        self.app
            .store
            .save_cursor(&link.id, cursor, synced)
            .await
            .map_err(local)
    }
}
