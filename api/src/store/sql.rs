//! The engine-neutral way the capability modules run SQL: a `Statement` (text and bound values),
//! run on the store's pool or inside a `WriteTx`. The engine differences are in `dialect.rs`.

use super::dialect::{calendar_lock, Conn, Pool, Pooled, Tx};
use super::StoreError;
use almanac_domain::{CalendarId, OrganizationId};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A value bound to a statement parameter. Both engines store these three natively, which is
/// what lets one SQL text serve both.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(Some(v))
    }
}
impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(Some(v.to_string()))
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Param::Text(v)
    }
}
impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Param::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Self {
        Param::Text(v.clone())
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}
impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// SQL text with its parameters, bound in `$1, $2, …` order.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    counted: bool,
}

impl Statement {
    pub(super) fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
            counted: true,
        }
    }

    /// A statement the `StatementCounter` leaves out: provider-sync bookkeeping. The counter
    /// proves that the request path's reads of scheduling data do not grow with the number of
    /// results; the sync DataLoaders batch by timing, so their statement count varies from run
    /// to run and would make that proof flaky.
    pub(super) fn uncounted(sql: impl Into<Cow<'static, str>>) -> Self {
        Statement {
            counted: false,
            ..Statement::new(sql)
        }
    }

    pub(super) fn bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        self
    }

    pub(super) fn push_bind(&mut self, value: impl Into<Param>) {
        self.params.push(value.into());
    }

    pub(super) fn bind_all<T: Into<Param>>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        self.params.extend(values.into_iter().map(Into::into));
        self
    }

    pub(super) fn sql(&self) -> &str {
        &self.sql
    }

    pub(super) fn params(&self) -> &[Param] {
        &self.params
    }

    /// The number the next `bind` gets (`$n`), for statements built piece by piece.
    pub(super) fn next_param(&self) -> usize {
        self.params.len() + 1
    }

    pub(super) fn push_sql(&mut self, more: &str) {
        self.sql.to_mut().push_str(more);
    }
}

/// A row type both engines can decode (every `#[derive(sqlx::FromRow)]` record of this module).
pub(super) trait Record:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> Record for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// `$first, $first+1, …` for an IN list of `n` values.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts the statements a store runs, so tests can prove that queries do not grow with result
/// size. Production stores have none installed; see `SqlStore::counting_statements`.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn executed(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The store over one engine's pool. Every capability trait is implemented for it once.
pub struct SqlStore {
    pub(super) pool: Pool,
    statements: Option<StatementCounter>,
}

impl SqlStore {
    /// Opens the store named by a `DATABASE_URL`: `sqlite:…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(SqlStore {
            pool: Pool::connect(url).await?,
            statements: None,
        })
    }

    /// Counts every statement this store runs into `counter` (a test hook).
    pub fn counting_statements(mut self, counter: StatementCounter) -> Self {
        self.statements = Some(counter);
        self
    }

    /// A pooled connection, for several statements that need no transaction.
    pub(super) async fn session(&self) -> Result<Session<Pooled>, StoreError> {
        Ok(Session {
            conn: self.pool.acquire().await?,
            statements: self.statements.clone(),
        })
    }

    pub(super) async fn execute(&self, st: Statement) -> Result<u64, StoreError> {
        self.session().await?.execute(st).await
    }

    pub(super) async fn fetch_all<R: Record>(&self, st: Statement) -> Result<Vec<R>, StoreError> {
        self.session().await?.fetch_all(st).await
    }

    pub(super) async fn fetch_optional<R: Record>(
        &self,
        st: Statement,
    ) -> Result<Option<R>, StoreError> {
        self.session().await?.fetch_optional(st).await
    }

    pub(super) async fn fetch_one<R: Record>(&self, st: Statement) -> Result<R, StoreError> {
        self.fetch_optional(st)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// A plain transaction (several statements that commit together).
    pub(super) async fn begin(&self) -> Result<WriteTx, StoreError> {
        Ok(Session {
            conn: self.pool.begin().await?,
            statements: self.statements.clone(),
        })
    }

    /// A transaction that reads series and then writes them (see `Pool::begin_write`).
    pub(super) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(Session {
            conn: self.pool.begin_write().await?,
            statements: self.statements.clone(),
        })
    }
}

/// Something statements run on: a pooled connection or an open transaction.
pub(super) trait HoldsConn: Send {
    fn conn(&mut self) -> Conn<'_>;
}

impl HoldsConn for Pooled {
    fn conn(&mut self) -> Conn<'_> {
        Pooled::conn(self)
    }
}

impl HoldsConn for Tx {
    fn conn(&mut self) -> Conn<'_> {
        Tx::conn(self)
    }
}

/// Statements on one connection, counted when a counter is installed.
pub(super) struct Session<C> {
    conn: C,
    statements: Option<StatementCounter>,
}

/// An open transaction; dropped without `commit`, it rolls back.
pub(super) type WriteTx = Session<Tx>;

impl<C: HoldsConn> Session<C> {
    fn count(&self, st: &Statement) {
        if let (Some(c), true) = (&self.statements, st.counted) {
            c.add();
        }
    }

    pub(super) async fn execute(&mut self, st: Statement) -> Result<u64, StoreError> {
        self.count(&st);
        self.conn.conn().execute(&st).await
    }

    pub(super) async fn fetch_all<R: Record>(
        &mut self,
        st: Statement,
    ) -> Result<Vec<R>, StoreError> {
        self.count(&st);
        self.conn.conn().fetch_all(&st).await
    }

    pub(super) async fn fetch_optional<R: Record>(
        &mut self,
        st: Statement,
    ) -> Result<Option<R>, StoreError> {
        self.count(&st);
        self.conn.conn().fetch_optional(&st).await
    }
}

impl WriteTx {
    /// Serialises bookings of one calendar until this transaction ends (see `dialect`).
    pub(super) async fn lock_calendar(
        &mut self,
        org: OrganizationId,
        calendar: CalendarId,
    ) -> Result<(), StoreError> {
        if let Some(st) = calendar_lock(&self.conn, org, calendar) {
            self.execute(st).await?;
        }
        Ok(())
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.conn.commit().await
    }

    pub(super) async fn rollback(self) -> Result<(), StoreError> {
        self.conn.rollback().await
    }
}
