//! Series: reads (by id, page, window, lineage) and writes (versioned, guarded by a booking
//! check). A series is read with its exceptions in two statements, whatever the number of series.

use super::rows::{ExceptionRecord, SeriesRecord};
use super::sql::{placeholders, HoldsConn, Session, SqlStore, Statement, WriteTx};
use super::{
    ConflictGuard, GuardedWrite, IdSlice, SeriesFilter, SeriesWrite, StoreError, VersionedWrite,
};
use almanac_domain::ids::LinkId;
use almanac_domain::series::{Exception, Series};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;
use std::collections::HashMap;

/// The series columns in the order `bind_series` binds them ($1…$24).
const SERIES_COLUMNS: &str = "id, organization_id, calendar_id, kind, title, description, start_local, time_zone, all_day, \
     length_days, length_seconds, length_wall_clock, rrule, rdates, exdates, has_recurrence, rule_bound, span_start, span_end, version, \
     lineage_id, parent_series_id, split_at, transparent";
const SERIES_COLUMN_COUNT: usize = 24;
const EXCEPTION_COLUMNS: &str = "series_id, organization_id, recurrence_id, status, start_at, end_at, title, description, kind, locked";
/// Exception rows per INSERT (10 parameters each, well under both engines' parameter limits).
const EXCEPTIONS_PER_INSERT: usize = 500;
/// Series ids per exception SELECT.
const SERIES_PER_EXCEPTION_READ: usize = 5000;

#[async_trait]
pub trait SeriesReads: Send + Sync {
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
    /// Series whose occurrences may overlap the filter's window (the occurrences read path: one
    /// statement for the series of a page, one for their exceptions).
    async fn series_in_window(
        &self,
        org: OrganizationId,
        filter: &SeriesFilter,
    ) -> Result<Vec<Series>, StoreError>;
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
}

/// Series writes. Every write names its organization (inside the series, or in the `Delete`),
/// and every write also enqueues the push of the series to the calendar's provider links, in the
/// same transaction (the outbox).
#[async_trait]
pub trait SeriesWrites: Send + Sync {
    /// Applies the writes in one transaction: all of them, or — on the first stale version or
    /// missing row — none, reporting that outcome.
    async fn save_series(&self, writes: &[SeriesWrite<'_>]) -> Result<VersionedWrite, StoreError>;
    async fn insert_series(&self, series: &Series) -> Result<(), StoreError> {
        self.save_series(&[SeriesWrite::Insert(series)])
            .await
            .map(|_| ())
    }
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
}

/// A SELECT of series columns, for `fetch_series`.
fn select_series(conditions: &str) -> String {
    format!("SELECT {SERIES_COLUMNS} FROM series WHERE {conditions}")
}

/// The id bounds (` AND id > $n …`) and the ORDER BY … LIMIT clause of a keyset slice, appended
/// to `st`. A slice from the end reads backwards; callers put the rows back in id order.
pub(super) fn keyset<T: ToString>(st: &mut Statement, slice: &IdSlice<T>) {
    use std::ops::Bound;
    let mut bounds = Vec::new();
    for (bound, excluded, included) in [(&slice.lower, ">", ">="), (&slice.upper, "<", "<=")] {
        match bound {
            Bound::Excluded(id) => bounds.push((excluded, id.to_string())),
            Bound::Included(id) => bounds.push((included, id.to_string())),
            Bound::Unbounded => {}
        }
    }
    for (op, id) in bounds {
        let n = st.next_param();
        st.push_sql(&format!(" AND id {op} ${n}"));
        st.push_bind(id);
    }
    let order = if slice.from_end { "DESC" } else { "ASC" };
    let n = st.next_param();
    st.push_sql(&format!(" ORDER BY id {order} LIMIT ${n}"));
    st.push_bind(slice.limit);
}

/// The statement that finds the series whose occurrences may overlap a filter's window; `None`
/// when nothing can match.
fn window_statement(org: OrganizationId, f: &SeriesFilter) -> Option<Statement> {
    if f.calendars.is_empty() || f.kinds.as_ref().is_some_and(Vec::is_empty) {
        return None;
    }
    let mut st = Statement::new(select_series(&format!(
        "organization_id = $1 AND span_start < $2 AND (span_end IS NULL OR span_end > $3) \
         AND calendar_id IN ({})",
        placeholders(4, f.calendars.len())
    )))
    .bind(org.to_string())
    .bind(f.to)
    .bind(f.from)
    .bind_all(f.calendars.iter().map(ToString::to_string));
    if let Some(kinds) = &f.kinds {
        st.push_sql(&format!(
            " AND kind IN ({})",
            placeholders(st.next_param(), kinds.len())
        ));
        st = st.bind_all(kinds.iter().map(|k| k.as_str()));
    }
    Some(st)
}

/// Series rows with their exceptions: two statements whatever the number of series.
async fn fetch_series<C: HoldsConn>(
    session: &mut Session<C>,
    st: Statement,
) -> Result<Vec<Series>, StoreError> {
    let rows: Vec<SeriesRecord> = session.fetch_all(st).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_series: HashMap<String, Vec<Exception>> = HashMap::new();
    for chunk in rows.chunks(SERIES_PER_EXCEPTION_READ) {
        let st = Statement::new(format!(
            "SELECT {EXCEPTION_COLUMNS} FROM series_exceptions WHERE series_id IN ({})",
            placeholders(1, chunk.len())
        ))
        .bind_all(chunk.iter().map(|r| r.id.as_str()));
        for e in session.fetch_all::<ExceptionRecord>(st).await? {
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

impl SqlStore {
    async fn read_series(&self, st: Statement) -> Result<Vec<Series>, StoreError> {
        fetch_series(&mut self.session().await?, st).await
    }
}

/// After a version-guarded write touched `done` rows: done, or why not.
async fn versioned_outcome(
    tx: &mut WriteTx,
    done: u64,
    org: &str,
    id: &str,
) -> Result<VersionedWrite, StoreError> {
    if done == 1 {
        return Ok(VersionedWrite::Done);
    }
    let current: Option<(i64,)> = tx
        .fetch_optional(
            Statement::new("SELECT version FROM series WHERE id = $1 AND organization_id = $2")
                .bind(id)
                .bind(org),
        )
        .await?;
    Ok(match current {
        Some((v,)) => VersionedWrite::Conflict { current: v },
        None => VersionedWrite::NotFound,
    })
}

/// Applies writes in the caller's transaction, stopping at the first that fails its version
/// check (the caller rolls back). `origin`: the provider link a pulled change came from, which
/// is not pushed back to it.
pub(super) async fn apply_writes(
    tx: &mut WriteTx,
    writes: &[SeriesWrite<'_>],
    origin: Option<LinkId>,
) -> Result<VersionedWrite, StoreError> {
    for w in writes {
        // Before the write: a deleted series' calendar is only known until then.
        let calendar = w.series().map(|s| s.calendar);
        super::sync::enqueue_pushes(tx, w.organization(), w.id(), calendar, origin).await?;
        let outcome = match w {
            SeriesWrite::Insert(s) => write_series(tx, s, None).await?,
            SeriesWrite::Update {
                series,
                expected_version,
            } => write_series(tx, series, Some(*expected_version)).await?,
            SeriesWrite::Delete {
                organization,
                id,
                expected_version,
            } => {
                let (org, id) = (organization.to_string(), id.to_string());
                let done = tx
                    .execute(
                        Statement::new(
                            "DELETE FROM series WHERE id = $1 AND organization_id = $2 AND version = $3",
                        )
                        .bind(&id)
                        .bind(&org)
                        .bind(*expected_version),
                    )
                    .await?;
                versioned_outcome(tx, done, &org, &id).await?
            }
        };
        if outcome != VersionedWrite::Done {
            return Ok(outcome);
        }
    }
    Ok(VersionedWrite::Done)
}

/// Binds a series' columns in `SERIES_COLUMNS` order.
fn bind_series(st: Statement, r: SeriesRecord) -> Statement {
    st.bind(r.id)
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

/// Writes one series row (insert or version-guarded update) and replaces its exceptions, inside
/// the caller's transaction.
async fn write_series(
    tx: &mut WriteTx,
    series: &Series,
    expected_version: Option<i64>,
) -> Result<VersionedWrite, StoreError> {
    let record = SeriesRecord::from(series);
    let (id, org) = (record.id.clone(), record.organization_id.clone());
    let now = chrono::Utc::now().timestamp();
    let n = SERIES_COLUMN_COUNT;
    match expected_version {
        None => {
            let sql = format!(
                "INSERT INTO series ({SERIES_COLUMNS}, created_at, updated_at) VALUES ({}, ${}, ${})",
                placeholders(1, n),
                n + 1,
                n + 1
            );
            tx.execute(bind_series(Statement::new(sql), record).bind(now))
                .await?;
        }
        Some(expected) => {
            // Every column is rewritten from the record; the WHERE clause pins the id, the
            // organization and the version the writer read.
            let sets = SERIES_COLUMNS
                .split(", ")
                .enumerate()
                .skip(2)
                .map(|(i, c)| format!("{} = ${}", c.trim(), i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE series SET {sets}, updated_at = ${} WHERE id = $1 AND organization_id = $2 AND version = ${}",
                n + 1,
                n + 2
            );
            let done = tx
                .execute(
                    bind_series(Statement::new(sql), record)
                        .bind(now)
                        .bind(expected),
                )
                .await?;
            let outcome = versioned_outcome(tx, done, &org, &id).await?;
            if outcome != VersionedWrite::Done {
                return Ok(outcome);
            }
            tx.execute(
                Statement::new(
                    "DELETE FROM series_exceptions WHERE series_id = $1 AND organization_id = $2",
                )
                .bind(&id)
                .bind(&org),
            )
            .await?;
        }
    }
    for chunk in series.exceptions().chunks(EXCEPTIONS_PER_INSERT) {
        let rows = (0..chunk.len())
            .map(|i| format!("({})", placeholders(i * 10 + 1, 10)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut st = Statement::new(format!(
            "INSERT INTO series_exceptions ({EXCEPTION_COLUMNS}) VALUES {rows}"
        ));
        for e in chunk {
            let r = ExceptionRecord::of(series, e);
            st = st
                .bind(r.series_id)
                .bind(r.organization_id)
                .bind(r.recurrence_id)
                .bind(r.status)
                .bind(r.start_at)
                .bind(r.end_at)
                .bind(r.title)
                .bind(r.description)
                .bind(r.kind)
                .bind(r.locked);
        }
        tx.execute(st).await?;
    }
    Ok(VersionedWrite::Done)
}

/// Ends a write transaction: commits when every write was done, rolls back otherwise.
pub(super) async fn commit_if_done(
    tx: WriteTx,
    outcome: VersionedWrite,
) -> Result<VersionedWrite, StoreError> {
    if outcome == VersionedWrite::Done {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(outcome)
}

#[async_trait]
impl SeriesReads for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, series = %id))]
    async fn series(
        &self,
        org: OrganizationId,
        id: SeriesId,
    ) -> Result<Option<Series>, StoreError> {
        Ok(self.series_many(org, &[id]).await?.pop())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, n = ids.len()))]
    async fn series_many(
        &self,
        org: OrganizationId,
        ids: &[SeriesId],
    ) -> Result<Vec<Series>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let st = Statement::new(select_series(&format!(
            "organization_id = $1 AND id IN ({})",
            placeholders(2, ids.len())
        )))
        .bind(org.to_string())
        .bind_all(ids.iter().map(ToString::to_string));
        self.read_series(st).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendar = %calendar))]
    async fn series_slice(
        &self,
        org: OrganizationId,
        calendar: CalendarId,
        slice: &IdSlice<SeriesId>,
    ) -> Result<Vec<Series>, StoreError> {
        let mut st = Statement::new(select_series("organization_id = $1 AND calendar_id = $2"))
            .bind(org.to_string())
            .bind(calendar.to_string());
        keyset(&mut st, slice);
        let mut rows = self.read_series(st).await?;
        if slice.from_end {
            rows.reverse();
        }
        Ok(rows)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendars = filter.calendars.len()))]
    async fn series_in_window(
        &self,
        org: OrganizationId,
        filter: &SeriesFilter,
    ) -> Result<Vec<Series>, StoreError> {
        match window_statement(org, filter) {
            Some(st) => self.read_series(st).await,
            None => Ok(Vec::new()),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, lineage = %root))]
    async fn series_in_lineage(
        &self,
        org: OrganizationId,
        root: SeriesId,
    ) -> Result<Vec<Series>, StoreError> {
        let st = Statement::new(select_series(
            "organization_id = $1 AND lineage_id = $2 ORDER BY span_start, id",
        ))
        .bind(org.to_string())
        .bind(root.to_string());
        self.read_series(st).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, n = parents.len()))]
    async fn continuations_many(
        &self,
        org: OrganizationId,
        parents: &[SeriesId],
    ) -> Result<Vec<Series>, StoreError> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let st = Statement::new(select_series(&format!(
            "organization_id = $1 AND parent_series_id IN ({}) ORDER BY id",
            placeholders(2, parents.len())
        )))
        .bind(org.to_string())
        .bind_all(parents.iter().map(ToString::to_string));
        self.read_series(st).await
    }
}

#[async_trait]
impl SeriesWrites for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(writes = writes.len()))]
    async fn save_series(&self, writes: &[SeriesWrite<'_>]) -> Result<VersionedWrite, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = apply_writes(&mut tx, writes, None).await?;
        commit_if_done(tx, outcome).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %guard.organization, calendar = %guard.calendar))]
    async fn save_series_guarded(
        &self,
        writes: &[SeriesWrite<'_>],
        guard: &ConflictGuard,
    ) -> Result<GuardedWrite, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock_calendar(guard.organization, guard.calendar).await?;
        let filter = SeriesFilter {
            calendars: vec![guard.calendar],
            kinds: None,
            from: guard.from(),
            to: guard.to(),
        };
        let mut stored = match window_statement(guard.organization, &filter) {
            Some(st) => fetch_series(&mut tx, st).await?,
            None => Vec::new(),
        };
        let written: Vec<&Series> = writes.iter().filter_map(SeriesWrite::series).collect();
        stored.retain(|s| !writes.iter().any(|w| w.id() == s.id));
        let conflicts = guard.conflicts(
            stored
                .iter()
                .chain(written.into_iter().filter(|s| s.calendar == guard.calendar)),
        );
        if !conflicts.is_empty() {
            tx.rollback().await?;
            return Ok(GuardedWrite::Conflicts(conflicts));
        }
        let outcome = apply_writes(&mut tx, writes, None).await?;
        commit_if_done(tx, outcome)
            .await
            .map(GuardedWrite::Versioned)
    }
}
