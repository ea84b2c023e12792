//! Everything that differs between SQLite and PostgreSQL, and nothing else.
//!
//! The SQL itself is written once, in the capability modules, in the subset both engines accept:
//! `$n` parameters, `ON CONFLICT … DO UPDATE`, `RETURNING`, `excluded.`, `COALESCE`, `CASE`.
//! Values are bound as text, 64-bit integers or booleans only (see `sql::Param`), which both
//! engines store natively. What remains engine-specific lives here:
//!
//! * the pool and its connection setup (SQLite: WAL, foreign keys, a busy timeout; PostgreSQL: an
//!   idle-in-transaction timeout so an abandoned transaction cannot hold locks for ever);
//! * the migrations directory;
//! * how a write transaction begins: SQLite takes the database write lock at `BEGIN IMMEDIATE`
//!   (a deferred transaction that reads and then writes can fail with SQLITE_BUSY mid-way, where
//!   an immediate one waits its turn); PostgreSQL begins normally;
//! * the per-calendar booking lock: PostgreSQL locks the calendar row `FOR UPDATE`; SQLite needs
//!   nothing more, its immediate transaction is already the only writer;
//! * the change bus: PostgreSQL stores each change and `NOTIFY`s every API process; SQLite has one
//!   process, so it publishes nothing and the caller delivers in-process;
//! * the one `match` that hands a statement to the engine's driver.
//!
//! Statements run through sqlx's prepared-statement cache on both engines (keyed by SQL text), so
//! SQL text must depend only on the *shape* of a call (how many ids), never on values.

use super::sql::{Param, Record, Statement};
use super::StoreError;
use almanac_domain::{CalendarId, OrganizationId};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Database, Postgres, Sqlite, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The connection pool of one engine.
#[derive(Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction of one engine.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A checked-out connection of one engine.
pub(super) enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A connection a statement runs on: pooled or inside a transaction.
pub(super) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Pool {
    /// Opens the pool named by a `DATABASE_URL`: `sqlite:…` or `postgres://…`.
    pub(super) async fn connect(url: &str) -> Result<Pool, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?
                .options([("idle_in_transaction_session_timeout", "30s")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Pool::Postgres(pool))
        } else if url.starts_with("sqlite:") {
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
            Ok(Pool::Sqlite(pool))
        } else {
            Err(StoreError::BadUrl(
                "expected sqlite:… or postgres://…".into(),
            ))
        }
    }

    pub(super) fn engine(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Pool::Sqlite(p) => sqlx::migrate!("../migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("../migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Open and idle connections.
    pub(super) fn stats(&self) -> (u32, u32) {
        match self {
            Pool::Sqlite(p) => (p.size(), p.num_idle() as u32),
            Pool::Postgres(p) => (p.size(), p.num_idle() as u32),
        }
    }

    pub(super) async fn acquire(&self) -> Result<Pooled, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Pooled::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Pooled::Postgres(p.acquire().await?),
        })
    }

    /// A transaction for reads and writes that need no more isolation than the engine's default.
    pub(super) async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that reads and then writes series: on SQLite it holds the write lock from
    /// the start, so it cannot fail half-way with SQLITE_BUSY.
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}

impl Pooled {
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(c),
            Pooled::Postgres(c) => Conn::Postgres(c),
        }
    }
}

impl Tx {
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub(super) async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// The statement that serialises bookings of one calendar inside a write transaction, if the
/// engine needs one (PostgreSQL); SQLite's `BEGIN IMMEDIATE` already excludes other writers.
pub(super) fn calendar_lock(
    tx: &Tx,
    org: OrganizationId,
    calendar: CalendarId,
) -> Option<Statement> {
    match tx {
        Tx::Sqlite(_) => None,
        Tx::Postgres(_) => Some(
            Statement::new(
                "SELECT id FROM calendars WHERE id = $1 AND organization_id = $2 FOR UPDATE",
            )
            .bind(calendar.to_string())
            .bind(org.to_string()),
        ),
    }
}

/// The arguments of a statement, for one engine. The only generic sqlx code: the three value
/// types `Param` can hold must be encodable by the engine.
fn arguments<'q, DB: Database>(params: &'q [Param]) -> Result<DB::Arguments<'q>, sqlx::Error>
where
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut args = DB::Arguments::<'q>::default();
    for p in params {
        match p {
            Param::Text(v) => args.add(v.as_deref()),
            Param::Int(v) => args.add(*v),
            Param::Bool(v) => args.add(*v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

impl Conn<'_> {
    /// Runs a statement; the number of rows it changed.
    pub(super) async fn execute(&mut self, st: &Statement) -> Result<u64, StoreError> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(st.sql(), arguments::<Sqlite>(st.params())?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => sqlx::query_with(st.sql(), arguments::<Postgres>(st.params())?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    pub(super) async fn fetch_all<R: Record>(
        &mut self,
        st: &Statement,
    ) -> Result<Vec<R>, StoreError> {
        Ok(match self {
            Conn::Sqlite(c) => {
                sqlx::query_as_with(st.sql(), arguments::<Sqlite>(st.params())?)
                    .fetch_all(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as_with(st.sql(), arguments::<Postgres>(st.params())?)
                    .fetch_all(&mut **c)
                    .await?
            }
        })
    }

    pub(super) async fn fetch_optional<R: Record>(
        &mut self,
        st: &Statement,
    ) -> Result<Option<R>, StoreError> {
        Ok(match self {
            Conn::Sqlite(c) => {
                sqlx::query_as_with(st.sql(), arguments::<Sqlite>(st.params())?)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as_with(st.sql(), arguments::<Postgres>(st.params())?)
                    .fetch_optional(&mut **c)
                    .await?
            }
        })
    }
}

const CHANGES_CHANNEL: &str = "almanac_changes";

/// Fans a change out to every API process: PostgreSQL stores it and NOTIFYs (true); SQLite has
/// one process, and answers false (the caller delivers it in-process).
pub(super) async fn publish_change(pool: &Pool, payload: String) -> Result<bool, StoreError> {
    let Pool::Postgres(pool) = pool else {
        return Ok(false);
    };
    let now = chrono::Utc::now().timestamp();
    let mut tx = pool.begin().await?;
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
    // Listeners read an event right after its NOTIFY; ten minutes is ample, and pruning on every
    // hundredth event keeps the table small without a timer.
    if id % 100 == 0 {
        sqlx::query("DELETE FROM change_events WHERE created_at < $1")
            .bind(now - 600)
            .execute(pool)
            .await?;
    }
    Ok(true)
}

/// The changes every process publishes, for PostgreSQL: LISTENs on its own connection and
/// forwards each change's payload, reconnecting (via PgListener) when the connection drops.
/// `None` for SQLite.
pub(super) async fn listen_changes(
    pool: &Pool,
) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StoreError> {
    let Pool::Postgres(pool) = pool else {
        return Ok(None);
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    let pool = pool.clone();
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
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Some(rx))
}
