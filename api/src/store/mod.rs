//! Persistence port and its two engines. SQL lives here and nowhere else.
//!
//! `Store` is the only way the rest of the API touches the database. SQLite is the embedded
//! default; PostgreSQL is the production and scale-out store. Both run the same SQL (written once,
//! in `engine.rs`), and the same behaviour suite (`tests/`) runs against both.

mod engine;
pub mod rows;
pub mod sync;

use almanac_domain::availability::{conflicts, BusyBlock, BusyOptions, Interval};
use almanac_domain::occurrence::OccurrenceId;
use almanac_domain::series::{Calendar, Series, SeriesKind};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;
use std::sync::Arc;

pub use engine::{PgStore, SqliteStore};

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

/// An API key as stored (the secret itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub secret_sha256: String,
    /// "read", "write" or "read write".
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A calendar's iCalendar feed as stored (the URL's secret token itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IcsFeedRecord {
    pub id: String,
    pub organization_id: String,
    pub calendar_id: String,
    pub token_sha256: String,
    /// The token's last four characters, so people can tell feeds apart.
    pub token_hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Which series an iCalendar import made from which UID (per calendar).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IcsSourceRecord {
    pub source_uid: String,
    pub series_id: String,
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

#[async_trait]
pub trait Store: sync::SyncStore + Send + Sync + 'static {
    /// Applies the engine's migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Makes sure an organization row exists (used for the default organization in dev mode).
    async fn ensure_organization(&self, org: OrganizationId, name: &str) -> Result<(), StoreError>;

    async fn insert_calendar(&self, cal: &Calendar) -> Result<(), StoreError>;
    async fn calendar(
        &self,
        org: OrganizationId,
        id: CalendarId,
    ) -> Result<Option<Calendar>, StoreError>;
    async fn calendars_many(
        &self,
        org: OrganizationId,
        ids: &[CalendarId],
    ) -> Result<Vec<Calendar>, StoreError>;
    /// Calendars ordered by id, strictly after `after`, at most `limit`.
    async fn calendars_page(
        &self,
        org: OrganizationId,
        after: Option<CalendarId>,
        limit: i64,
    ) -> Result<Vec<Calendar>, StoreError> {
        self.calendars_slice(org, &IdSlice::after(after, limit))
            .await
    }
    /// Calendars ordered by id, within the slice.
    async fn calendars_slice(
        &self,
        org: OrganizationId,
        slice: &IdSlice<CalendarId>,
    ) -> Result<Vec<Calendar>, StoreError>;

    /// Applies the writes in one transaction: all of them, or — on the first stale version or
    /// missing row — none, reporting that outcome.
    async fn save_series(&self, writes: &[SeriesWrite<'_>]) -> Result<VersionedWrite, StoreError>;

    async fn insert_series(&self, series: &Series) -> Result<(), StoreError> {
        self.save_series(&[SeriesWrite::Insert(series)])
            .await
            .map(|_| ())
    }
    /// The series of a split chain (sharing `root`), in order.
    async fn series_in_lineage(
        &self,
        org: OrganizationId,
        root: SeriesId,
    ) -> Result<Vec<Series>, StoreError>;
    /// The series split from `parent`.
    async fn continuations(
        &self,
        org: OrganizationId,
        parent: SeriesId,
    ) -> Result<Vec<Series>, StoreError> {
        self.continuations_many(org, &[parent]).await
    }
    /// The series split from any of `parents` (for DataLoaders).
    async fn continuations_many(
        &self,
        org: OrganizationId,
        parents: &[SeriesId],
    ) -> Result<Vec<Series>, StoreError>;
    async fn series(&self, org: OrganizationId, id: SeriesId)
        -> Result<Option<Series>, StoreError>;
    async fn series_many(
        &self,
        org: OrganizationId,
        ids: &[SeriesId],
    ) -> Result<Vec<Series>, StoreError>;
    /// Series of one calendar ordered by id, strictly after `after`, at most `limit`.
    async fn series_page(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
        after: Option<SeriesId>,
        limit: i64,
    ) -> Result<Vec<Series>, StoreError> {
        self.series_slice(org, calendar, &IdSlice::after(after, limit))
            .await
    }
    /// Series of one calendar ordered by id, within the slice.
    async fn series_slice(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
        slice: &IdSlice<SeriesId>,
    ) -> Result<Vec<Series>, StoreError>;
    /// Series whose occurrences may overlap the filter's window.
    async fn series_in_window(
        &self,
        org: OrganizationId,
        filter: &SeriesFilter,
    ) -> Result<Vec<Series>, StoreError>;
    /// Replaces a series (and its exceptions) if it is still at `expected_version`; the stored
    /// version becomes `series.version`.
    async fn update_series(
        &self,
        series: &Series,
        expected_version: i64,
    ) -> Result<VersionedWrite, StoreError> {
        self.save_series(&[SeriesWrite::Update {
            series,
            expected_version,
        }])
        .await
    }
    async fn delete_series(
        &self,
        org: OrganizationId,
        id: SeriesId,
        expected_version: i64,
    ) -> Result<VersionedWrite, StoreError> {
        self.save_series(&[SeriesWrite::Delete {
            organization: org,
            id,
            expected_version,
        }])
        .await
    }

    /// Saves the writes only if the guarded intervals are free on the guarded calendar, deciding
    /// that inside the writing transaction (under a per-calendar lock), so two concurrent bookings
    /// of one free slot cannot both succeed.
    async fn save_series_guarded(
        &self,
        writes: &[SeriesWrite<'_>],
        guard: &ConflictGuard,
    ) -> Result<GuardedWrite, StoreError>;
    /// Replaces a calendar's name, zone and availability; false when it does not exist.
    async fn update_calendar(&self, cal: &Calendar) -> Result<bool, StoreError>;

    /// Creates an organization.
    async fn create_organization(&self, name: &str) -> Result<OrganizationId, StoreError>;
    /// Whether the organization exists (a JWT may name any id).
    async fn organization_exists(&self, org: OrganizationId) -> Result<bool, StoreError>;
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// A key by id, whatever its organization (authentication happens before one is known).
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn api_keys(&self, org: OrganizationId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked; false when the organization has no such key.
    async fn revoke_api_key(
        &self,
        org: OrganizationId,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;

    async fn insert_ics_feed(&self, feed: &IcsFeedRecord) -> Result<(), StoreError>;
    /// The feed whose token hashes to `token_sha256`, whatever its organization (the token is
    /// the credential).
    async fn ics_feed_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<IcsFeedRecord>, StoreError>;
    async fn ics_feed(
        &self,
        org: OrganizationId,
        id: &str,
    ) -> Result<Option<IcsFeedRecord>, StoreError>;
    /// The feeds of these calendars, oldest first.
    async fn ics_feeds(
        &self,
        org: OrganizationId,
        calendars: &[CalendarId],
    ) -> Result<Vec<IcsFeedRecord>, StoreError>;
    /// Marks a feed revoked; false when the organization has no such feed.
    async fn revoke_ics_feed(
        &self,
        org: OrganizationId,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
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

    /// Fans a change out to every API process: PostgreSQL stores it and NOTIFYs (true); SQLite has
    /// one process, and answers false (the caller delivers it in-process).
    async fn publish_change(&self, payload: String) -> Result<bool, StoreError>;
    /// The changes other processes (and this one) publish, for PostgreSQL; `None` for SQLite.
    async fn listen_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError>;

    /// Open and idle connections of the pool.
    fn pool_stats(&self) -> (u32, u32);

    /// Counts statements executed, for tests that prove queries do not grow with result size.
    fn statements_executed(&self) -> u64;
    /// "sqlite" or "postgres".
    fn engine(&self) -> &'static str;
}

/// Opens the store named by a `DATABASE_URL`: `sqlite:…` or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::BadUrl(
            "expected sqlite:… or postgres://…".into(),
        ))
    }
}
