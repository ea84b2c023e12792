//! Per-request DataLoaders: created for each request, so cached rows never cross requests. Each
//! asks one service for a whole batch.

use crate::services::{self, ServiceError};
use crate::state::AppState;
use almanac_domain::series::{Calendar, Series};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// The rows of a to-many batch grouped under the key each belongs to. Every asked key gets an
/// entry, empty when it has no rows, so the loader caches "none" rather than asking again.
pub(crate) fn grouped<K: Copy + Eq + Hash, R>(
    keys: &[K],
    rows: impl IntoIterator<Item = R>,
    key_of: impl Fn(&R) -> Option<K>,
) -> HashMap<K, Vec<R>> {
    let mut out: HashMap<K, Vec<R>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        if let Some(k) = key_of(&row) {
            out.entry(k).or_default().push(row);
        }
    }
    out
}

pub struct CalendarLoader {
    pub app: AppState,
    pub organization: OrganizationId,
}

impl Loader<CalendarId> for CalendarLoader {
    type Value = Calendar;
    type Error = Arc<ServiceError>;

    async fn load(&self, ids: &[CalendarId]) -> Result<HashMap<CalendarId, Calendar>, Self::Error> {
        let found = services::calendars::many(&self.app, self.organization, ids)
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The continuations of each series (its "this and following" splits).
pub struct ContinuationsLoader {
    pub app: AppState,
    pub organization: OrganizationId,
}

impl Loader<SeriesId> for ContinuationsLoader {
    type Value = Vec<Series>;
    type Error = Arc<ServiceError>;

    async fn load(&self, ids: &[SeriesId]) -> Result<HashMap<SeriesId, Vec<Series>>, Self::Error> {
        let found = services::series::continuations(&self.app, self.organization, ids)
            .await
            .map_err(Arc::new)?;
        Ok(grouped(ids, found, |s| s.lineage().parent))
    }
}

/// The per-request loaders as stored in the request data (cached for the request).
pub type CalendarsOf =
    async_graphql::dataloader::DataLoader<CalendarLoader, async_graphql::dataloader::HashMapCache>;
pub type ContinuationsOf = async_graphql::dataloader::DataLoader<
    ContinuationsLoader,
    async_graphql::dataloader::HashMapCache,
>;
