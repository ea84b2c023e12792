//! Persistence port and its two engines. SQL lives here and nowhere else.
//!
//! The rest of the API reaches the database through `Store`, the sum of small capability traits
//! (organizations, calendars, series reads and writes, credentials, iCalendar imports, the change
//! bus, and the sync capabilities in `sync`). Each is implemented once, for `SqlStore`, in
//! ordinary Rust: the SQL is written once for SQLite (the embedded default) and PostgreSQL (the
//! production and scale-out store), and `dialect.rs` holds the few things that differ. The same
//! behaviour suite (`tests/`) runs against both.
//!
//! Every method that reads or writes one organization's data takes its `OrganizationId` (or a
//! record that carries it) and filters by it in SQL. The few that legitimately cross
//! organizations say so in their documentation and return records that carry their organization.

mod calendars;
mod credentials;
mod dialect;
mod ics_imports;
pub mod rows;
mod series;
mod sql;
pub mod sync;

pub use calendars::{Calendars, Organizations};
pub use credentials::{ApiKeyRecord, ApiKeys, IcsFeedRecord, IcsFeeds};
pub use ics_imports::{IcsImports, IcsSourceRecord};
pub use series::{SeriesReads, SeriesWrites};
pub use sql::{SqlStore, StatementCounter};

use almanac_domain::availability::{conflicts, BusyBlock, BusyOptions, Interval};
use almanac_domain::occurrence::OccurrenceId;
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;
use std::sync::Arc;

/// Every store capability, for code that holds one `Arc<dyn Store>`.
pub trait Store:
    Maintenance
    + ChangeBus
    + Organizations
    + Calendars
    + SeriesReads
    + SeriesWrites
    + ApiKeys
    + IcsFeeds
    + IcsImports
    + sync::OAuthStates
    + sync::Connections
    + sync::CalendarLinks
    + sync::WatchChannels
    + sync::Outbox
    + sync::RemoteCopies
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Maintenance
        + ChangeBus
        + Organizations
        + Calendars
        + SeriesReads
        + SeriesWrites
        + ApiKeys
        + IcsFeeds
        + IcsImports
        + sync::OAuthStates
        + sync::Connections
        + sync::CalendarLinks
        + sync::WatchChannels
        + sync::Outbox
        + sync::RemoteCopies
        + Send
        + Sync
        + 'static
{
}

/// The capability traits, for code that calls store methods on something other than
/// `dyn Store` (whose methods need no import).
pub mod prelude {
    pub use super::sync::{
        CalendarLinks, Connections, OAuthStates, Outbox, RemoteCopies, WatchChannels,
    };
    pub use super::{
        ApiKeys, Calendars, ChangeBus, IcsFeeds, IcsImports, Maintenance, Organizations,
        SeriesReads, SeriesWrites, Store,
    };
}

/// The store as a whole: schema and pool.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Applies the engine's migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Open and idle connections of the pool.
    fn pool_stats(&self) -> (u32, u32);
    /// "sqlite" or "postgres".
    fn engine(&self) -> &'static str;
}

/// Fans changes out to every API process (subscriptions on one process see writes made on
/// another).
#[async_trait]
pub trait ChangeBus: Send + Sync {
    /// PostgreSQL stores the change and NOTIFYs (true); SQLite has one process, and answers false
    /// (the caller delivers it in-process).
    async fn publish_change(&self, payload: String) -> Result<bool, StoreError>;
    /// The changes other processes (and this one) publish, for PostgreSQL; `None` for SQLite.
    async fn listen_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError>;
}

#[async_trait]
impl Maintenance for SqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.pool.migrate().await
    }
    fn pool_stats(&self) -> (u32, u32) {
        self.pool.stats()
    }
    fn engine(&self) -> &'static str {
        self.pool.engine()
    }
}

#[async_trait]
impl ChangeBus for SqlStore {
    async fn publish_change(&self, payload: String) -> Result<bool, StoreError> {
        dialect::publish_change(&self.pool, payload).await
    }
    async fn listen_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
        dialect::listen_changes(&self.pool).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row no longer parses (e.g. a zone removed from the tz database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported DATABASE_URL: {0}")]
    BadUrl(String),
}

/// The outcome of a write guarded by an expected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedWrite {
    Done,
    NotFound,
    /// The row exists at another version; nothing was written.
    Conflict {
        current: i64,
    },
}

/// One change in a `save_series` transaction.
pub enum SeriesWrite<'a> {
    Insert(&'a Series),
    Update {
        series: &'a Series,
        expected_version: i64,
    },
    Delete {
        organization: OrganizationId,
        id: SeriesId,
        expected_version: i64,
    },
}

impl SeriesWrite<'_> {
    pub fn series(&self) -> Option<&Series> {
        match self {
            SeriesWrite::Insert(s) | SeriesWrite::Update { series: s, .. } => Some(s),
            SeriesWrite::Delete { .. } => None,
        }
    }
    pub fn organization(&self) -> OrganizationId {
        match self {
            SeriesWrite::Insert(s) | SeriesWrite::Update { series: s, .. } => s.organization,
            SeriesWrite::Delete { organization, .. } => *organization,
        }
    }
    pub fn id(&self) -> SeriesId {
        match self {
            SeriesWrite::Insert(s) | SeriesWrite::Update { series: s, .. } => s.id,
            SeriesWrite::Delete { id, .. } => *id,
        }
    }
}

/// "Reject if busy": the intervals a write books on a calendar, and which of the written
/// occurrences are the booking itself (so they do not conflict with themselves).
#[derive(Debug, Clone)]
pub struct ConflictGuard {
    pub organization: OrganizationId,
    pub calendar: CalendarId,
    pub intervals: Vec<Interval>,
    pub except_series: Option<SeriesId>,
    pub except_occurrence: Option<OccurrenceId>,
    pub options: BusyOptions,
}

impl ConflictGuard {
    fn from(&self) -> i64 {
        self.intervals.iter().map(|i| i.start).min().unwrap_or(0)
    }
    fn to(&self) -> i64 {
        self.intervals.iter().map(|i| i.end).max().unwrap_or(0)
    }
    fn conflicts<'a>(&self, series: impl IntoIterator<Item = &'a Series>) -> Vec<BusyBlock> {
        conflicts(
            series,
            &self.intervals,
            self.except_occurrence,
            self.except_series,
            self.options,
        )
    }
}

#[derive(Debug, Clone)]
pub enum GuardedWrite {
    Versioned(VersionedWrite),
    /// Nothing was written: these occurrences are in the way.
    Conflicts(Vec<BusyBlock>),
}

/// A keyset slice of an id-ordered list: the ids within the bounds, the first `limit` of them or
/// (`from_end`) the last, always returned in ascending id order.
#[derive(Debug, Clone)]
pub struct IdSlice<T> {
    pub lower: std::ops::Bound<T>,
    pub upper: std::ops::Bound<T>,
    pub limit: i64,
    pub from_end: bool,
}

impl<T> IdSlice<T> {
    /// The first `limit` ids strictly after `after`.
    pub fn after(after: Option<T>, limit: i64) -> Self {
        IdSlice {
            lower: after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            upper: std::ops::Bound::Unbounded,
            limit,
            from_end: false,
        }
    }
}

/// Which series a window query considers.
#[derive(Debug, Clone)]
pub struct SeriesFilter {
    pub calendars: Vec<CalendarId>,
    pub kinds: Option<Vec<SeriesKind>>,
    /// Only series with an occurrence that may overlap [from, to) (seconds since the epoch).
    pub from: i64,
    pub to: i64,
}

/// Opens the store named by a `DATABASE_URL`: `sqlite:…` or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
