//! What every request can reach: the store and the limits. Built once in `startup`.

use crate::store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    pub changes: Arc<crate::changes::ChangeFeed>,
    /// Base of the URLs this server hands out (calendar feeds), without a trailing slash.
    pub public_url: Arc<str>,
    /// Provider sync: token sealing, OAuth and API settings, refresh and link locks.
    pub sync: Arc<crate::sync::SyncRuntime>,
}

/// Documented maxima; requests beyond them get `RANGE_TOO_LARGE` or `BAD_USER_INPUT`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `first` for occurrence pages.
    pub max_occurrence_page: usize,
    /// Largest `first` for calendar and series pages.
    pub max_page: usize,
    /// Most calendars one occurrence query may name.
    pub max_calendars_per_query: usize,
    /// What one GraphQL document may cost (see `graphql::cost`).
    pub query: crate::config::QueryLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_occurrence_page: 1000,
            max_page: 200,
            max_calendars_per_query: 500,
            query: Default::default(),
        }
    }
}
