//! The SQL, written once for both engines: a macro instantiates it for SQLite and PostgreSQL. The
//! dialects agree on everything used here (`$n` parameters, `ON CONFLICT`, `RETURNING`), so the
//! only differences are the pool type, connection setup and how a write transaction begins.

use super::rows::{availability_columns, CalendarRow, ExceptionRecord, SeriesRecord};
use super::{
    ApiKeyRecord, ConflictGuard, GuardedWrite, IcsFeedRecord, IcsSourceRecord, IdSlice,
    SeriesFilter, SeriesWrite, Store, StoreError, VersionedWrite,
};
use almanac_domain::series::{Calendar, Exception, Series};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The series columns in the order `bind_series` binds them ($1…$24).
const SERIES_COLUMNS: &str = "id, organization_id, calendar_id, kind, title, description, start_local, time_zone, all_day, \
     length_days, length_seconds, length_wall_clock, rrule, rdates, exdates, has_recurrence, rule_bound, span_start, span_end, version, \
     lineage_id, parent_series_id, split_at, transparent";
const SERIES_COLUMN_COUNT: usize = 24;
const API_KEY_COLUMNS: &str =
    "id, organization_id, name, secret_sha256, scopes, created_at, revoked_at";
const CALENDAR_COLUMNS: &str =
    "id, organization_id, name, time_zone, availability_mode, working_hours";
const ICS_FEED_COLUMNS: &str =
    "id, organization_id, calendar_id, token_sha256, token_hint, created_at, revoked_at";
const EXCEPTION_COLUMNS: &str = "series_id, organization_id, recurrence_id, status, start_at, end_at, title, description, kind, locked";

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    statements: AtomicU64,
}

pub struct PgStore {
    pub(super) pool: PgPool,
    statements: AtomicU64,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            statements: AtomicU64::new(0),
        })
    }

    /// Writers take the database lock at BEGIN: a deferred transaction that reads and then writes
    /// can fail with SQLITE_BUSY mid-way, where an immediate one waits its turn (busy_timeout).
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // A transaction left open (a cancelled request or round whose connection was not yet
        // rolled back) must not hold its locks for ever: the server ends it after 30 s idle.
        let options = PgConnectOptions::from_str(url)?
            .options([("idle_in_transaction_session_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore {
            pool,
            statements: AtomicU64::new(0),
        })
    }

    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

fn ids_to_strings<T: ToString>(ids: &[T]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

/// `$first, $first+1, …` for an IN list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id bounds (` AND id > $n …`), the ORDER BY … LIMIT clause and their binds, numbered
/// from `$first`. A slice from the end reads backwards; callers put the rows back in id order.
fn keyset<T: ToString>(slice: &IdSlice<T>, first: usize) -> (String, String, Vec<SqlValue>) {
    use std::ops::Bound;
    let mut bounds = String::new();
    let mut binds = Vec::new();
    for (bound, excluded, included) in [(&slice.lower, ">", ">="), (&slice.upper, "<", "<=")] {
        let (op, id) = match bound {
            Bound::Excluded(id) => (excluded, id),
            Bound::Included(id) => (included, id),
            Bound::Unbounded => continue,
        };
        bounds.push_str(&format!(" AND id {op} ${}", first + binds.len()));
        binds.push(SqlValue::Text(id.to_string()));
    }
    let order = if slice.from_end { "DESC" } else { "ASC" };
    let clause = format!("ORDER BY id {order} LIMIT ${}", first + binds.len());
    binds.push(SqlValue::Int(slice.limit));
    (bounds, clause, binds)
}

macro_rules! sql_store {
    ($store:ty, $db:ty, $engine:literal) => {
        impl $store {
            fn count(&self, n: u64) {
                self.statements.fetch_add(n, Ordering::Relaxed);
            }

            /// After a version-guarded write touched `done` rows: done, or why not.
            async fn versioned_outcome(&self, tx: &mut sqlx::Transaction<'static, $db>, done: u64, id: &str, org: &str) -> Result<VersionedWrite, StoreError> {
                if done == 1 {
                    return Ok(VersionedWrite::Done);
                }
                self.count(1);
                let current: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT version FROM series WHERE id = $1 AND organization_id = $2")
                    .bind(id)
                    .bind(org)
                    .fetch_optional(&mut **tx)
                    .await?;
                Ok(match current {
                    Some((v,)) => VersionedWrite::Conflict { current: v },
                    None => VersionedWrite::NotFound,
                })
            }

            /// Series rows with their exceptions: two statements whatever the number of series.
            async fn fetch_series(&self, sql: &str, binds: Vec<SqlValue>) -> Result<Vec<Series>, StoreError> {
                let mut conn = self.pool.acquire().await?;
                self.fetch_series_in(&mut conn, sql, binds).await
            }

            async fn fetch_series_in(&self, conn: &mut <$db as sqlx::Database>::Connection, sql: &str, binds: Vec<SqlValue>) -> Result<Vec<Series>, StoreError> {
                self.count(1);
                let mut q = sqlx::query_as::<$db, SeriesRecord>(sql);
                for b in binds {
                    q = match b {
                        SqlValue::Text(s) => q.bind(s),
                        SqlValue::Int(i) => q.bind(i),
                    };
                }
                let rows = q.fetch_all(&mut *conn).await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let mut by_series: HashMap<String, Vec<Exception>> = HashMap::new();
                for chunk in rows.chunks(5000) {
                    self.count(1);
                    let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM series_exceptions WHERE series_id IN ({})", placeholders(1, chunk.len()));
                    let mut q = sqlx::query_as::<$db, ExceptionRecord>(&sql);
                    for r in chunk {
                        q = q.bind(r.id.clone());
                    }
                    for e in q.fetch_all(&mut *conn).await? {
                        let id = e.series_id.clone();
                        by_series.entry(id).or_default().push(e.into_exception()?);
                    }
                }
                rows.into_iter()
                    .map(|r| {
                        let exceptions = by_series.remove(&r.id).unwrap_or_default();
                        Series::try_from(r).map(|s| s.with_exceptions(exceptions))
                    })
                    .collect()
            }

            /// Applies writes in the caller's transaction, stopping at the first that fails its
            /// version check (the caller rolls back).
            async fn apply_writes(&self, tx: &mut sqlx::Transaction<'static, $db>, writes: &[SeriesWrite<'_>]) -> Result<VersionedWrite, StoreError> {
                self.apply_writes_from(tx, writes, None).await
            }

            /// `apply_writes` for a change that came from a provider link (`origin`), which is
            /// not pushed back to it. Every write also enqueues the push of the series to the
            /// calendar's other links, in the same transaction (the outbox).
            pub(super) async fn apply_writes_from(&self, tx: &mut sqlx::Transaction<'static, $db>, writes: &[SeriesWrite<'_>], origin: Option<&str>) -> Result<VersionedWrite, StoreError> {
                for w in writes {
                    self.count(1);
                    // Before the write: a deleted series' calendar is only known until then.
                    self.enqueue_pushes(tx, w.id(), w.series().map(|s| s.calendar), origin).await?;
                    let outcome = match w {
                        SeriesWrite::Insert(s) => self.write_series(tx, s, None).await?,
                        SeriesWrite::Update { series, expected_version } => self.write_series(tx, series, Some(*expected_version)).await?,
                        SeriesWrite::Delete { organization, id, expected_version } => {
                            let (id, org) = (id.to_string(), organization.to_string());
                            self.count(1);
                            let done = sqlx::query::<$db>("DELETE FROM series WHERE id = $1 AND organization_id = $2 AND version = $3")
                                .bind(&id)
                                .bind(&org)
                                .bind(*expected_version)
                                .execute(&mut **tx)
                                .await?
                                .rows_affected();
                            self.versioned_outcome(tx, done, &id, &org).await?
                        }
                    };
                    if outcome != VersionedWrite::Done {
                        return Ok(outcome);
                    }
                }
                Ok(VersionedWrite::Done)
            }

            /// Writes one series row (insert or version-guarded update) and replaces its
            /// exceptions, inside the caller's transaction.
            async fn write_series(&self, tx: &mut sqlx::Transaction<'static, $db>, series: &Series, expected_version: Option<i64>) -> Result<VersionedWrite, StoreError> {
                let record = SeriesRecord::from(series);
                let (id, org) = (record.id.clone(), record.organization_id.clone());
                let now = chrono::Utc::now().timestamp();
                let n = SERIES_COLUMN_COUNT;
                self.count(1);
                match expected_version {
                    None => {
                        let sql = format!("INSERT INTO series ({SERIES_COLUMNS}, created_at, updated_at) VALUES ({}, ${}, ${})", placeholders(1, n), n + 1, n + 1);
                        bind_series(sqlx::query::<$db>(&sql), record).bind(now).execute(&mut **tx).await?;
                    }
                    Some(expected) => {
                        // Every column is rewritten from the record; the WHERE clause pins the id,
                        // the organization and the version the writer read.
                        let sets = SERIES_COLUMNS.split(", ").enumerate().skip(2).map(|(i, c)| format!("{} = ${}", c.trim(), i + 1)).collect::<Vec<_>>().join(", ");
                        let sql = format!("UPDATE series SET {sets}, updated_at = ${} WHERE id = $1 AND organization_id = $2 AND version = ${}", n + 1, n + 2);
                        let done = bind_series(sqlx::query::<$db>(&sql), record).bind(now).bind(expected).execute(&mut **tx).await?.rows_affected();
                        let outcome = self.versioned_outcome(tx, done, &id, &org).await?;
                        if outcome != VersionedWrite::Done {
                            return Ok(outcome);
                        }
                        self.count(1);
                        sqlx::query::<$db>("DELETE FROM series_exceptions WHERE series_id = $1").bind(&id).execute(&mut **tx).await?;
                    }
                }
                for chunk in series.exceptions().chunks(500) {
                    self.count(1);
                    let rows = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 10 + 1, 10))).collect::<Vec<_>>().join(", ");
                    let sql = format!("INSERT INTO series_exceptions ({EXCEPTION_COLUMNS}) VALUES {rows}");
                    let mut q = sqlx::query::<$db>(&sql);
                    for e in chunk {
                        let r = ExceptionRecord::of(series, e);
                        q = q.bind(r.series_id).bind(r.organization_id).bind(r.recurrence_id).bind(r.status).bind(r.start_at).bind(r.end_at).bind(r.title).bind(r.description).bind(r.kind).bind(r.locked);
                    }
                    q.execute(&mut **tx).await?;
                }
                Ok(VersionedWrite::Done)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                self.run_migrations().await
            }

            async fn ensure_organization(&self, org: OrganizationId, name: &str) -> Result<(), StoreError> {
                self.count(1);
                sqlx::query::<$db>("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                    .bind(org.to_string())
                    .bind(name)
                    .bind(chrono::Utc::now().timestamp())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn organization_exists(&self, org: OrganizationId) -> Result<bool, StoreError> {
                self.count(1);
                let row: Option<(String,)> = sqlx::query_as::<$db, (String,)>("SELECT id FROM organizations WHERE id = $1").bind(org.to_string()).fetch_optional(&self.pool).await?;
                Ok(row.is_some())
            }

            async fn insert_calendar(&self, cal: &Calendar) -> Result<(), StoreError> {
                self.count(1);
                let (mode, hours) = availability_columns(&cal.availability);
                sqlx::query::<$db>(&format!("INSERT INTO calendars ({CALENDAR_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(cal.id.to_string())
                    .bind(cal.organization.to_string())
                    .bind(&cal.name)
                    .bind(cal.time_zone.name())
                    .bind(mode)
                    .bind(hours)
                    .bind(chrono::Utc::now().timestamp())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn calendar(&self, org: OrganizationId, id: CalendarId) -> Result<Option<Calendar>, StoreError> {
                Ok(self.calendars_many(org, &[id]).await?.pop())
            }

            async fn calendars_many(&self, org: OrganizationId, ids: &[CalendarId]) -> Result<Vec<Calendar>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                self.count(1);
                let sql = format!(
                    "SELECT {CALENDAR_COLUMNS} FROM calendars WHERE organization_id = $1 AND id IN ({})",
                    placeholders(2, ids.len())
                );
                let mut q = sqlx::query_as::<$db, CalendarRow>(&sql).bind(org.to_string());
                for id in ids_to_strings(ids) {
                    q = q.bind(id);
                }
                q.fetch_all(&self.pool).await?.into_iter().map(Calendar::try_from).collect()
            }

            async fn calendars_slice(&self, org: OrganizationId, slice: &IdSlice<CalendarId>) -> Result<Vec<Calendar>, StoreError> {
                self.count(1);
                let (bounds, order, mut binds) = keyset(slice, 2);
                let sql = format!("SELECT {CALENDAR_COLUMNS} FROM calendars WHERE organization_id = $1{bounds} {order}");
                let mut q = sqlx::query_as::<$db, CalendarRow>(&sql).bind(org.to_string());
                for b in binds.drain(..) {
                    q = match b {
                        SqlValue::Text(s) => q.bind(s),
                        SqlValue::Int(i) => q.bind(i),
                    };
                }
                let mut rows = q.fetch_all(&self.pool).await?;
                if slice.from_end {
                    rows.reverse();
                }
                rows.into_iter().map(Calendar::try_from).collect()
            }

            async fn save_series(&self, writes: &[SeriesWrite<'_>]) -> Result<VersionedWrite, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = self.apply_writes(&mut tx, writes).await?;
                if outcome != VersionedWrite::Done {
                    tx.rollback().await?;
                    return Ok(outcome);
                }
                tx.commit().await?;
                Ok(VersionedWrite::Done)
            }

            async fn series_in_lineage(&self, org: OrganizationId, root: SeriesId) -> Result<Vec<Series>, StoreError> {
                let sql = format!("SELECT {SERIES_COLUMNS} FROM series WHERE organization_id = $1 AND lineage_id = $2 ORDER BY span_start, id");
                self.fetch_series(&sql, vec![SqlValue::Text(org.to_string()), SqlValue::Text(root.to_string())]).await
            }

            async fn continuations_many(&self, org: OrganizationId, parents: &[SeriesId]) -> Result<Vec<Series>, StoreError> {
                if parents.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("SELECT {SERIES_COLUMNS} FROM series WHERE organization_id = $1 AND parent_series_id IN ({}) ORDER BY id", placeholders(2, parents.len()));
                let mut binds = vec![SqlValue::Text(org.to_string())];
                binds.extend(ids_to_strings(parents).into_iter().map(SqlValue::Text));
                self.fetch_series(&sql, binds).await
            }

            async fn series(&self, org: OrganizationId, id: SeriesId) -> Result<Option<Series>, StoreError> {
                Ok(self.series_many(org, &[id]).await?.pop())
            }

            async fn series_many(&self, org: OrganizationId, ids: &[SeriesId]) -> Result<Vec<Series>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT {SERIES_COLUMNS} FROM series WHERE organization_id = $1 AND id IN ({})",
                    placeholders(2, ids.len())
                );
                let mut binds = vec![SqlValue::Text(org.to_string())];
                binds.extend(ids_to_strings(ids).into_iter().map(SqlValue::Text));
                self.fetch_series(&sql, binds).await
            }

            async fn series_slice(&self, org: OrganizationId, calendar: CalendarId, slice: &IdSlice<SeriesId>) -> Result<Vec<Series>, StoreError> {
                let (bounds, order, binds) = keyset(slice, 3);
                let sql = format!("SELECT {SERIES_COLUMNS} FROM series WHERE organization_id = $1 AND calendar_id = $2{bounds} {order}");
                let mut all = vec![SqlValue::Text(org.to_string()), SqlValue::Text(calendar.to_string())];
                all.extend(binds);
                let mut rows = self.fetch_series(&sql, all).await?;
                if slice.from_end {
                    rows.reverse();
                }
                Ok(rows)
            }

            async fn series_in_window(&self, org: OrganizationId, f: &SeriesFilter) -> Result<Vec<Series>, StoreError> {
                match window_query(org, f) {
                    Some((sql, binds)) => self.fetch_series(&sql, binds).await,
                    None => Ok(Vec::new()),
                }
            }

            async fn update_calendar(&self, cal: &Calendar) -> Result<bool, StoreError> {
                self.count(1);
                let (mode, hours) = availability_columns(&cal.availability);
                let done = sqlx::query::<$db>("UPDATE calendars SET name = $3, time_zone = $4, availability_mode = $5, working_hours = $6 WHERE id = $1 AND organization_id = $2")
                    .bind(cal.id.to_string())
                    .bind(cal.organization.to_string())
                    .bind(&cal.name)
                    .bind(cal.time_zone.name())
                    .bind(mode)
                    .bind(hours)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(done == 1)
            }

            async fn save_series_guarded(&self, writes: &[SeriesWrite<'_>], guard: &ConflictGuard) -> Result<GuardedWrite, StoreError> {
                let mut tx = self.begin_write().await?;
                // Serialise bookings per calendar: PostgreSQL locks the calendar row; SQLite's
                // BEGIN IMMEDIATE already holds the database's write lock.
                self.lock_calendar(&mut tx, guard).await?;
                let filter = SeriesFilter { calendars: vec![guard.calendar], kinds: None, from: guard.from(), to: guard.to() };
                let mut stored = match window_query(guard.organization, &filter) {
                    Some((sql, binds)) => self.fetch_series_in(&mut *tx, &sql, binds).await?,
                    None => Vec::new(),
                };
                let written: Vec<&Series> = writes.iter().filter_map(SeriesWrite::series).collect();
                stored.retain(|s| !writes.iter().any(|w| w.id() == s.id));
                let conflicts = guard.conflicts(stored.iter().chain(written.into_iter().filter(|s| s.calendar == guard.calendar)));
                if !conflicts.is_empty() {
                    tx.rollback().await?;
                    return Ok(GuardedWrite::Conflicts(conflicts));
                }
                let outcome = self.apply_writes(&mut tx, writes).await?;
                if outcome != VersionedWrite::Done {
                    tx.rollback().await?;
                    return Ok(GuardedWrite::Versioned(outcome));
                }
                tx.commit().await?;
                Ok(GuardedWrite::Versioned(VersionedWrite::Done))
            }

            async fn create_organization(&self, name: &str) -> Result<OrganizationId, StoreError> {
                let id = OrganizationId::from_uuid(uuid::Uuid::now_v7());
                self.ensure_organization(id, name).await?;
                Ok(id)
            }

            async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
                self.count(1);
                sqlx::query::<$db>("INSERT INTO api_keys (id, organization_id, name, secret_sha256, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(&k.id)
                    .bind(&k.organization_id)
                    .bind(&k.name)
                    .bind(&k.secret_sha256)
                    .bind(&k.scopes)
                    .bind(k.created_at)
                    .bind(k.revoked_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
                self.count(1);
                Ok(sqlx::query_as::<$db, ApiKeyRecord>(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn api_keys(&self, org: OrganizationId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                self.count(1);
                Ok(sqlx::query_as::<$db, ApiKeyRecord>(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 ORDER BY created_at, id"))
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn revoke_api_key(&self, org: OrganizationId, id: &str, at: i64) -> Result<bool, StoreError> {
                self.count(1);
                let done = sqlx::query::<$db>("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND organization_id = $2")
                    .bind(id)
                    .bind(org.to_string())
                    .bind(at)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(done == 1)
            }

            async fn insert_ics_feed(&self, f: &IcsFeedRecord) -> Result<(), StoreError> {
                self.count(1);
                sqlx::query::<$db>(&format!("INSERT INTO ics_feeds ({ICS_FEED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(&f.id)
                    .bind(&f.organization_id)
                    .bind(&f.calendar_id)
                    .bind(&f.token_sha256)
                    .bind(&f.token_hint)
                    .bind(f.created_at)
                    .bind(f.revoked_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn ics_feed_by_token(&self, token_sha256: &str) -> Result<Option<IcsFeedRecord>, StoreError> {
                self.count(1);
                Ok(sqlx::query_as::<$db, IcsFeedRecord>(&format!("SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE token_sha256 = $1"))
                    .bind(token_sha256)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn ics_feed(&self, org: OrganizationId, id: &str) -> Result<Option<IcsFeedRecord>, StoreError> {
                self.count(1);
                Ok(sqlx::query_as::<$db, IcsFeedRecord>(&format!("SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE id = $1 AND organization_id = $2"))
                    .bind(id)
                    .bind(org.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn ics_feeds(&self, org: OrganizationId, calendars: &[CalendarId]) -> Result<Vec<IcsFeedRecord>, StoreError> {
                if calendars.is_empty() {
                    return Ok(Vec::new());
                }
                self.count(1);
                let sql = format!(
                    "SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE organization_id = $1 AND calendar_id IN ({}) ORDER BY created_at, id",
                    placeholders(2, calendars.len())
                );
                let mut q = sqlx::query_as::<$db, IcsFeedRecord>(&sql).bind(org.to_string());
                for id in ids_to_strings(calendars) {
                    q = q.bind(id);
                }
                Ok(q.fetch_all(&self.pool).await?)
            }

            async fn revoke_ics_feed(&self, org: OrganizationId, id: &str, at: i64) -> Result<bool, StoreError> {
                self.count(1);
                let done = sqlx::query::<$db>("UPDATE ics_feeds SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND organization_id = $2")
                    .bind(id)
                    .bind(org.to_string())
                    .bind(at)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(done == 1)
            }

            async fn ics_sources(&self, org: OrganizationId, calendar: CalendarId) -> Result<Vec<IcsSourceRecord>, StoreError> {
                self.count(1);
                Ok(sqlx::query_as::<$db, IcsSourceRecord>("SELECT source_uid, series_id FROM ics_import_sources WHERE organization_id = $1 AND calendar_id = $2")
                    .bind(org.to_string())
                    .bind(calendar.to_string())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn save_ics_import(&self, org: OrganizationId, calendar: CalendarId, writes: &[SeriesWrite<'_>], sources: &[(String, SeriesId)]) -> Result<VersionedWrite, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = self.apply_writes(&mut tx, writes).await?;
                if outcome != VersionedWrite::Done {
                    tx.rollback().await?;
                    return Ok(outcome);
                }
                let now = chrono::Utc::now().timestamp();
                for (uid, series) in sources {
                    self.count(1);
                    // Insert, or confirm the row already maps this UID to this series; a row that
                    // maps it elsewhere (a concurrent import) matches nothing and rolls back.
                    let done = sqlx::query::<$db>(
                        "INSERT INTO ics_import_sources (organization_id, calendar_id, source_uid, series_id, imported_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (calendar_id, source_uid) DO UPDATE SET imported_at = excluded.imported_at WHERE ics_import_sources.series_id = excluded.series_id",
                    )
                    .bind(org.to_string())
                    .bind(calendar.to_string())
                    .bind(uid)
                    .bind(series.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if done != 1 {
                        tx.rollback().await?;
                        return Ok(VersionedWrite::Conflict { current: 0 });
                    }
                }
                tx.commit().await?;
                Ok(VersionedWrite::Done)
            }

            async fn publish_change(&self, payload: String) -> Result<bool, StoreError> {
                ChangeChannel::publish(self, payload).await
            }

            async fn listen_changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
                ChangeChannel::listen(self).await
            }

            fn pool_stats(&self) -> (u32, u32) {
                (self.pool.size(), self.pool.num_idle() as u32)
            }

            fn statements_executed(&self) -> u64 {
                self.statements.load(Ordering::Relaxed)
            }

            fn engine(&self) -> &'static str {
                $engine
            }
        }
    };
}

/// The statement that finds the series whose occurrences may overlap a filter's window.
fn window_query(org: OrganizationId, f: &SeriesFilter) -> Option<(String, Vec<SqlValue>)> {
    if f.calendars.is_empty() {
        return None;
    }
    let mut binds = vec![
        SqlValue::Text(org.to_string()),
        SqlValue::Int(f.to),
        SqlValue::Int(f.from),
    ];
    let cal_ph = placeholders(binds.len() + 1, f.calendars.len());
    binds.extend(ids_to_strings(&f.calendars).into_iter().map(SqlValue::Text));
    let mut sql = format!(
        "SELECT {SERIES_COLUMNS} FROM series WHERE organization_id = $1 AND span_start < $2 \
         AND (span_end IS NULL OR span_end > $3) AND calendar_id IN ({cal_ph})"
    );
    if let Some(kinds) = &f.kinds {
        if kinds.is_empty() {
            return None;
        }
        let kind_ph = placeholders(binds.len() + 1, kinds.len());
        binds.extend(kinds.iter().map(|k| SqlValue::Text(k.as_str().to_string())));
        sql.push_str(&format!(" AND kind IN ({kind_ph})"));
    }
    Some((sql, binds))
}

#[async_trait]
trait ChangeChannel {
    async fn publish(&self, payload: String) -> Result<bool, StoreError>;
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError>;
}

#[async_trait]
impl ChangeChannel for SqliteStore {
    async fn publish(&self, _payload: String) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
        Ok(None)
    }
}

const CHANGES_CHANNEL: &str = "almanac_changes";

#[async_trait]
impl ChangeChannel for PgStore {
    async fn publish(&self, payload: String) -> Result<bool, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO change_events (payload, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if id % 100 == 0 {
            sqlx::query("DELETE FROM change_events WHERE created_at < $1")
                .bind(now - 600)
                .execute(&self.pool)
                .await?;
        }
        Ok(true)
    }

    /// LISTENs on its own connection and forwards each change's payload; reconnects (via
    /// PgListener) when the connection drops.
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        let pool = self.pool.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        let Ok(id) = n.payload().parse::<i64>() else {
                            continue;
                        };
                        match sqlx::query_as::<_, (String,)>(
                            "SELECT payload FROM change_events WHERE id = $1",
                        )
                        .bind(id)
                        .fetch_optional(&pool)
                        .await
                        {
                            Ok(Some((payload,))) => {
                                if tx.send(payload).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, "could not read a change event"),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener lost its connection; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
}

impl SqliteStore {
    async fn lock_calendar(
        &self,
        _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        _guard: &ConflictGuard,
    ) -> Result<(), StoreError> {
        Ok(()) // BEGIN IMMEDIATE: this transaction is the only writer
    }
}

impl PgStore {
    async fn lock_calendar(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        guard: &ConflictGuard,
    ) -> Result<(), StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        sqlx::query("SELECT id FROM calendars WHERE id = $1 AND organization_id = $2 FOR UPDATE")
            .bind(guard.calendar.to_string())
            .bind(guard.organization.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Binds a series' columns in `SERIES_COLUMNS` order.
fn bind_series<'q, DB>(
    q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    r: SeriesRecord,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(r.id)
        .bind(r.organization_id)
        .bind(r.calendar_id)
        .bind(r.kind)
        .bind(r.title)
        .bind(r.description)
        .bind(r.start_local)
        .bind(r.time_zone)
        .bind(r.all_day)
        .bind(r.length_days)
        .bind(r.length_seconds)
        .bind(r.length_wall_clock)
        .bind(r.rrule)
        .bind(r.rdates)
        .bind(r.exdates)
        .bind(r.has_recurrence)
        .bind(r.rule_bound)
        .bind(r.span_start)
        .bind(r.span_end)
        .bind(r.version)
        .bind(r.lineage_id)
        .bind(r.parent_series_id)
        .bind(r.split_at)
        .bind(r.transparent)
}

/// A value bound into a dynamically built statement.
enum SqlValue {
    Text(String),
    Int(i64),
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
sql_store!(PgStore, sqlx::Postgres, "postgres");
