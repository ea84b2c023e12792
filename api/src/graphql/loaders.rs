//! Per-request DataLoaders: created for each request, so cached rows never cross requests.

use crate::store::Store;
use almanac_domain::series::{Calendar, Series};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use std::sync::Arc;

pub struct CalendarLoader {
    pub store: Arc<dyn Store>,
    pub organization: OrganizationId,
}

impl Loader<CalendarId> for CalendarLoader {
    type Value = Calendar;
    type Error = Arc<crate::store::StoreError>;

    async fn load(&self, ids: &[CalendarId]) -> Result<HashMap<CalendarId, Calendar>, Self::Error> {
        let found = self
            .store
            .calendars_many(self.organization, ids)
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The continuations of each series (its "this and following" splits).
pub struct ContinuationsLoader {
    pub store: Arc<dyn Store>,
    pub organization: OrganizationId,
}

impl Loader<SeriesId> for ContinuationsLoader {
    type Value = Vec<Series>;
    type Error = Arc<crate::store::StoreError>;

    async fn load(&self, ids: &[SeriesId]) -> Result<HashMap<SeriesId, Vec<Series>>, Self::Error> {
        let found = self
            .store
            .continuations_many(self.organization, ids)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<SeriesId, Vec<Series>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for s in found {
            if let Some(parent) = s.lineage().parent {
                out.entry(parent).or_default().push(s);
            }
        }
        Ok(out)
    }
}

/// The per-request loaders as stored in the request data (cached for the request).
pub type CalendarsOf =
    async_graphql::dataloader::DataLoader<CalendarLoader, async_graphql::dataloader::HashMapCache>;
pub type ContinuationsOf = async_graphql::dataloader::DataLoader<
    ContinuationsLoader,
    async_graphql::dataloader::HashMapCache,
>;
