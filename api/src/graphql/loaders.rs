//! Per-request DataLoaders: created for each request, so cached rows never cross requests.

use crate::store::Store;
use almanac_domain::series::Calendar;
use almanac_domain::{CalendarId, OrganizationId};
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
        let found = self.store.calendars_many(self.organization, ids).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|c| (c.id, c)).collect())
    }
}
