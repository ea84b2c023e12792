//! Storage for provider sync: connections, OAuth states, calendar links, the outbox and the
//! remote mapping of series. Same pattern as `engine.rs`: the SQL is written once and a macro
//! instantiates it for both engines.

use super::engine::{PgStore, SqliteStore};
use super::{SeriesWrite, StoreError, VersionedWrite};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRecord {
    pub id: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub provider: String,
    pub account: String,
    pub state: String,
    /// Sealed (see `crate::secrets`), never plaintext.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub token_version: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OAuthStateRecord {
    pub state_sha256: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub provider: String,
    /// Sealed.
    pub pkce_verifier: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRecord {
    pub id: String,
    pub organization_id: String,
    pub calendar_id: String,
    pub connection_id: String,
    pub remote_calendar_id: String,
    pub direction: String,
    pub sync_cursor: Option<String>,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    pub channel_id: Option<String>,
    pub channel_resource_id: Option<String>,
    pub channel_token_sha256: Option<String>,
    pub channel_expires_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RemoteSeriesRecord {
    pub link_id: String,
    pub series_id: String,
    /// None: the provider holds nothing for the series (its push was rejected).
    pub remote_id: Option<String>,
    pub etag: Option<String>,
    /// JSON: original start → { remote_id, etag, fingerprint }.
    pub exceptions: String,
    pub fingerprint: Option<String>,
    pub fidelity: Option<String>,
    pub fidelity_detail: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct OutboxRecord {
    pub id: i64,
    pub series_id_text: OutboxSeries,
    pub attempts: i32,
}

/// A series id as stored in the outbox (parsed on read).
#[derive(Debug, Clone, Copy)]
pub struct OutboxSeries(pub SeriesId);

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for OutboxSeries
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <String as sqlx::Decode<DB>>::decode(value)?;
        Ok(OutboxSeries(text.parse::<SeriesId>()?))
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for OutboxSeries
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> <DB as sqlx::Database>::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }
    fn compatible(ty: &<DB as sqlx::Database>::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

#[async_trait]
pub trait SyncStore: Send + Sync {
    async fn insert_oauth_state(&self, state: &OAuthStateRecord) -> Result<(), StoreError>;
    /// Consumes a state: returns it once, if it has not expired; never again.
    async fn take_oauth_state(
        &self,
        state_sha256: &str,
        now: i64,
    ) -> Result<Option<OAuthStateRecord>, StoreError>;

    /// Inserts the connection, or replaces the tokens of the organization's existing connection
    /// to the same account (reconnecting); returns its id.
    async fn upsert_connection(&self, c: &ConnectionRecord) -> Result<String, StoreError>;
    async fn connection(
        &self,
        org: OrganizationId,
        id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError>;
    async fn connection_by_id(&self, id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    async fn connections(&self, org: OrganizationId) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// Stores refreshed tokens if nobody else did since `expected_version`; false otherwise.
    async fn store_tokens(
        &self,
        id: &str,
        expected_version: i64,
        access: &str,
        refresh: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    async fn set_connection_state(
        &self,
        id: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError>;

    async fn insert_link(&self, link: &LinkRecord) -> Result<(), StoreError>;
    async fn link(&self, org: OrganizationId, id: &str) -> Result<Option<LinkRecord>, StoreError>;
    async fn links_of_calendars(
        &self,
        org: OrganizationId,
        calendars: &[CalendarId],
    ) -> Result<Vec<LinkRecord>, StoreError>;
    async fn links_of_organization(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<LinkRecord>, StoreError>;
    /// Every link of every organization (the background worker's round).
    async fn all_links(&self) -> Result<Vec<LinkRecord>, StoreError>;
    async fn link_by_channel(&self, channel_id: &str) -> Result<Option<LinkRecord>, StoreError>;
    async fn delete_link(&self, org: OrganizationId, id: &str) -> Result<bool, StoreError>;
    async fn save_cursor(
        &self,
        link: &str,
        cursor: Option<&str>,
        synced_at: Option<i64>,
    ) -> Result<(), StoreError>;
    /// The link's deletion window: (deletions applied in it, series synced when it opened). Opens a
    /// new window at `now` sized `mapped_now` when none is open or it is older than `length`.
    async fn deletion_window(
        &self,
        link: &str,
        now: i64,
        mapped_now: i64,
        length: i64,
    ) -> Result<(i64, i64), StoreError>;
    async fn record_deletions(&self, link: &str, n: i64) -> Result<(), StoreError>;
    async fn set_link_error(&self, link: &str, error: Option<&str>) -> Result<(), StoreError>;
    async fn set_channel(
        &self,
        link: &str,
        id: Option<&str>,
        resource_id: Option<&str>,
        token_sha256: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(), StoreError>;

    async fn due_pushes(
        &self,
        link: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Queues every series of the link's calendar (the first push after linking).
    async fn enqueue_calendar(&self, link: &str) -> Result<u64, StoreError>;
    async fn pending_pushes(&self, link: &str) -> Result<i64, StoreError>;
    async fn push_pending_for(&self, link: &str, series: SeriesId) -> Result<bool, StoreError>;
    /// Records a finished push and removes the outbox rows for the series up to `up_to`, in one
    /// transaction. `remote` None: the series is gone at the provider (mapping removed).
    async fn pushed(
        &self,
        link: &str,
        series: SeriesId,
        up_to: i64,
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<(), StoreError>;
    async fn push_failed(
        &self,
        outbox_id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError>;

    async fn remote_series(
        &self,
        link: &str,
        series: SeriesId,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError>;
    async fn remote_series_by_remote_id(
        &self,
        link: &str,
        remote_id: &str,
    ) -> Result<Option<RemoteSeriesRecord>, StoreError>;
    /// What the linked providers hold of these series (one statement for a page of series).
    async fn remote_series_of(
        &self,
        org: OrganizationId,
        series: &[SeriesId],
    ) -> Result<Vec<RemoteSeriesRecord>, StoreError>;
    async fn mapped_series(&self, link: &str) -> Result<Vec<String>, StoreError>;
    async fn remember_remote(&self, remote: &RemoteSeriesRecord) -> Result<(), StoreError>;
    /// Saves series changes pulled from `origin` (no push back to it) with its mapping, in one
    /// transaction.
    async fn save_pulled(
        &self,
        writes: &[SeriesWrite<'_>],
        origin: &str,
        remote: Option<&RemoteSeriesRecord>,
    ) -> Result<VersionedWrite, StoreError>;
}

const CONNECTION_COLUMNS: &str = "id, organization_id, user_id, provider, account, state, access_token, refresh_token, access_expires_at, token_version, last_error, created_at";
const LINK_COLUMNS: &str = "id, organization_id, calendar_id, connection_id, remote_calendar_id, direction, sync_cursor, last_synced_at, last_error, \
     channel_id, channel_resource_id, channel_token_sha256, channel_expires_at, created_at";
const REMOTE_COLUMNS: &str = "link_id, series_id, remote_id, etag, exceptions, fingerprint, fidelity, fidelity_detail, updated_at";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

macro_rules! sync_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Outbox rows for every pushing link of the series' calendar except `origin`, inside
            /// the writer's transaction: the change and the intent to push it commit together.
            pub(super) async fn enqueue_pushes(&self, tx: &mut sqlx::Transaction<'static, $db>, series: SeriesId, calendar: Option<CalendarId>, origin: Option<&str>) -> Result<(), StoreError> {
                // One statement either way: a deleted series' calendar is read from its row, which
                // the caller deletes only after this ($3, empty there, keeps both texts' parameters
                // the same).
                let sql = match calendar {
                    Some(_) => "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
                                SELECT id, $1, organization_id, $2, $2 FROM calendar_links WHERE calendar_id = $3 AND direction <> 'PULL_ONLY' AND id <> $4",
                    None => "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
                             SELECT l.id, $1, l.organization_id, $2, $2 FROM calendar_links l JOIN series s ON s.calendar_id = l.calendar_id \
                             WHERE s.id = $1 AND $3 = '' AND l.direction <> 'PULL_ONLY' AND l.id <> $4",
                };
                sqlx::query::<$db>(sql)
                    .bind(series.to_string())
                    .bind(now())
                    .bind(calendar.map(|c| c.to_string()).unwrap_or_default())
                    .bind(origin.unwrap_or(""))
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn put_remote(&self, tx: &mut sqlx::Transaction<'static, $db>, r: &RemoteSeriesRecord) -> Result<(), StoreError> {
                sqlx::query::<$db>(&format!(
                    "INSERT INTO remote_series ({REMOTE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (link_id, series_id) DO UPDATE SET remote_id = $3, etag = $4, exceptions = $5, fingerprint = $6, \
                     fidelity = COALESCE($7, remote_series.fidelity), fidelity_detail = CASE WHEN $7 IS NULL THEN remote_series.fidelity_detail ELSE $8 END, updated_at = $9"
                ))
                .bind(&r.link_id)
                .bind(&r.series_id)
                .bind(&r.remote_id)
                .bind(&r.etag)
                .bind(&r.exceptions)
                .bind(&r.fingerprint)
                .bind(&r.fidelity)
                .bind(&r.fidelity_detail)
                .bind(r.updated_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl SyncStore for $store {
            async fn insert_oauth_state(&self, s: &OAuthStateRecord) -> Result<(), StoreError> {
                sqlx::query::<$db>("INSERT INTO oauth_states (state_sha256, organization_id, user_id, provider, pkce_verifier, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&s.state_sha256)
                    .bind(&s.organization_id)
                    .bind(&s.user_id)
                    .bind(&s.provider)
                    .bind(&s.pkce_verifier)
                    .bind(s.expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn take_oauth_state(&self, state_sha256: &str, now: i64) -> Result<Option<OAuthStateRecord>, StoreError> {
                // One UPDATE decides: a second callback with the same state finds used_at set.
                Ok(sqlx::query_as::<$db, OAuthStateRecord>(
                    "UPDATE oauth_states SET used_at = $2 WHERE state_sha256 = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING state_sha256, organization_id, user_id, provider, pkce_verifier, expires_at",
                )
                .bind(state_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn upsert_connection(&self, c: &ConnectionRecord) -> Result<String, StoreError> {
                let (id,): (String,) = sqlx::query_as::<$db, (String,)>(&format!(
                    "INSERT INTO provider_connections ({CONNECTION_COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                     ON CONFLICT (organization_id, provider, account) DO UPDATE SET user_id = $3, state = $6, access_token = $7, \
                     refresh_token = COALESCE($8, provider_connections.refresh_token), access_expires_at = $9, \
                     token_version = provider_connections.token_version + 1, last_error = NULL, updated_at = $12 RETURNING id"
                ))
                .bind(&c.id)
                .bind(&c.organization_id)
                .bind(&c.user_id)
                .bind(&c.provider)
                .bind(&c.account)
                .bind(&c.state)
                .bind(&c.access_token)
                .bind(&c.refresh_token)
                .bind(c.access_expires_at)
                .bind(c.token_version)
                .bind(&c.last_error)
                .bind(c.created_at)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn connection(&self, org: OrganizationId, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, ConnectionRecord>(&format!("SELECT {CONNECTION_COLUMNS} FROM provider_connections WHERE id = $1 AND organization_id = $2"))
                    .bind(id)
                    .bind(org.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn connection_by_id(&self, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, ConnectionRecord>(&format!("SELECT {CONNECTION_COLUMNS} FROM provider_connections WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn connections(&self, org: OrganizationId) -> Result<Vec<ConnectionRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, ConnectionRecord>(&format!("SELECT {CONNECTION_COLUMNS} FROM provider_connections WHERE organization_id = $1 ORDER BY id"))
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn store_tokens(&self, id: &str, expected_version: i64, access: &str, refresh: Option<&str>, expires_at: i64) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE provider_connections SET access_token = $3, refresh_token = COALESCE($4, refresh_token), access_expires_at = $5, \
                     token_version = token_version + 1, state = 'ACTIVE', last_error = NULL, updated_at = $6 WHERE id = $1 AND token_version = $2",
                )
                .bind(id)
                .bind(expected_version)
                .bind(access)
                .bind(refresh)
                .bind(expires_at)
                .bind(now())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(done == 1)
            }

            async fn set_connection_state(&self, id: &str, state: &str, error: Option<&str>) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE provider_connections SET state = $2, last_error = $3, updated_at = $4 WHERE id = $1")
                    .bind(id)
                    .bind(state)
                    .bind(error)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_link(&self, l: &LinkRecord) -> Result<(), StoreError> {
                sqlx::query::<$db>(&format!("INSERT INTO calendar_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
                    .bind(&l.id)
                    .bind(&l.organization_id)
                    .bind(&l.calendar_id)
                    .bind(&l.connection_id)
                    .bind(&l.remote_calendar_id)
                    .bind(&l.direction)
                    .bind(&l.sync_cursor)
                    .bind(l.last_synced_at)
                    .bind(&l.last_error)
                    .bind(&l.channel_id)
                    .bind(&l.channel_resource_id)
                    .bind(&l.channel_token_sha256)
                    .bind(l.channel_expires_at)
                    .bind(l.created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn link(&self, org: OrganizationId, id: &str) -> Result<Option<LinkRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, LinkRecord>(&format!("SELECT {LINK_COLUMNS} FROM calendar_links WHERE id = $1 AND organization_id = $2"))
                    .bind(id)
                    .bind(org.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn links_of_calendars(&self, org: OrganizationId, calendars: &[CalendarId]) -> Result<Vec<LinkRecord>, StoreError> {
                if calendars.is_empty() {
                    return Ok(Vec::new());
                }
                let list = (0..calendars.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
                let sql = format!("SELECT {LINK_COLUMNS} FROM calendar_links WHERE organization_id = $1 AND calendar_id IN ({list}) ORDER BY id");
                let mut q = sqlx::query_as::<$db, LinkRecord>(&sql).bind(org.to_string());
                for c in calendars {
                    q = q.bind(c.to_string());
                }
                Ok(q.fetch_all(&self.pool).await?)
            }

            async fn links_of_organization(&self, org: OrganizationId) -> Result<Vec<LinkRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, LinkRecord>(&format!("SELECT {LINK_COLUMNS} FROM calendar_links WHERE organization_id = $1 ORDER BY id"))
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn all_links(&self) -> Result<Vec<LinkRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, LinkRecord>(&format!("SELECT {LINK_COLUMNS} FROM calendar_links ORDER BY id")).fetch_all(&self.pool).await?)
            }

            async fn link_by_channel(&self, channel_id: &str) -> Result<Option<LinkRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, LinkRecord>(&format!("SELECT {LINK_COLUMNS} FROM calendar_links WHERE channel_id = $1"))
                    .bind(channel_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn delete_link(&self, org: OrganizationId, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query::<$db>("DELETE FROM sync_outbox WHERE link_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query::<$db>("DELETE FROM remote_series WHERE link_id = $1").bind(id).execute(&mut *tx).await?;
                let done = sqlx::query::<$db>("DELETE FROM calendar_links WHERE id = $1 AND organization_id = $2").bind(id).bind(org.to_string()).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn save_cursor(&self, link: &str, cursor: Option<&str>, synced_at: Option<i64>) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE calendar_links SET sync_cursor = $2, last_synced_at = COALESCE($3, last_synced_at), last_error = CASE WHEN $3 IS NULL THEN last_error ELSE NULL END WHERE id = $1")
                    .bind(link)
                    .bind(cursor)
                    .bind(synced_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn deletion_window(&self, link: &str, now: i64, mapped_now: i64, length: i64) -> Result<(i64, i64), StoreError> {
                sqlx::query::<$db>(
                    "UPDATE calendar_links SET deletion_window_start = $2, deletions_in_window = 0, mapped_at_window_start = $3 \
                     WHERE id = $1 AND (deletion_window_start IS NULL OR deletion_window_start < $4)",
                )
                .bind(link)
                .bind(now)
                .bind(mapped_now)
                .bind(now - length)
                .execute(&self.pool)
                .await?;
                let row: Option<(i64, Option<i64>)> = sqlx::query_as::<$db, (i64, Option<i64>)>("SELECT deletions_in_window, mapped_at_window_start FROM calendar_links WHERE id = $1")
                    .bind(link)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(d, m)| (d, m.unwrap_or(mapped_now))).unwrap_or((0, mapped_now)))
            }

            async fn record_deletions(&self, link: &str, n: i64) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE calendar_links SET deletions_in_window = deletions_in_window + $2 WHERE id = $1").bind(link).bind(n).execute(&self.pool).await?;
                Ok(())
            }

            async fn set_link_error(&self, link: &str, error: Option<&str>) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE calendar_links SET last_error = $2 WHERE id = $1").bind(link).bind(error).execute(&self.pool).await?;
                Ok(())
            }

            async fn set_channel(&self, link: &str, id: Option<&str>, resource_id: Option<&str>, token_sha256: Option<&str>, expires_at: Option<i64>) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE calendar_links SET channel_id = $2, channel_resource_id = $3, channel_token_sha256 = $4, channel_expires_at = $5 WHERE id = $1")
                    .bind(link)
                    .bind(id)
                    .bind(resource_id)
                    .bind(token_sha256)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn due_pushes(&self, link: &str, now: i64, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, OutboxRecord>("SELECT id, series_id AS series_id_text, attempts FROM sync_outbox WHERE link_id = $1 AND next_attempt_at <= $2 ORDER BY id LIMIT $3")
                    .bind(link)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn enqueue_calendar(&self, link: &str) -> Result<u64, StoreError> {
                let t = now();
                Ok(sqlx::query::<$db>(
                    "INSERT INTO sync_outbox (link_id, series_id, organization_id, enqueued_at, next_attempt_at) \
                     SELECT l.id, s.id, s.organization_id, $2, $2 FROM calendar_links l JOIN series s ON s.calendar_id = l.calendar_id WHERE l.id = $1",
                )
                .bind(link)
                .bind(t)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn pending_pushes(&self, link: &str) -> Result<i64, StoreError> {
                let (n,): (i64,) = sqlx::query_as::<$db, (i64,)>("SELECT COUNT(*) FROM sync_outbox WHERE link_id = $1").bind(link).fetch_one(&self.pool).await?;
                Ok(n)
            }

            async fn push_pending_for(&self, link: &str, series: SeriesId) -> Result<bool, StoreError> {
                let row: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM sync_outbox WHERE link_id = $1 AND series_id = $2 LIMIT 1")
                    .bind(link)
                    .bind(series.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn pushed(&self, link: &str, series: SeriesId, up_to: i64, remote: Option<&RemoteSeriesRecord>) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                match remote {
                    Some(r) => self.put_remote(&mut tx, r).await?,
                    None => {
                        sqlx::query::<$db>("DELETE FROM remote_series WHERE link_id = $1 AND series_id = $2").bind(link).bind(series.to_string()).execute(&mut *tx).await?;
                    }
                }
                sqlx::query::<$db>("DELETE FROM sync_outbox WHERE link_id = $1 AND series_id = $2 AND id <= $3")
                    .bind(link)
                    .bind(series.to_string())
                    .bind(up_to)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn push_failed(&self, outbox_id: i64, error: &str, next_attempt_at: i64) -> Result<(), StoreError> {
                sqlx::query::<$db>("UPDATE sync_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1")
                    .bind(outbox_id)
                    .bind(error)
                    .bind(next_attempt_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn remote_series(&self, link: &str, series: SeriesId) -> Result<Option<RemoteSeriesRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, RemoteSeriesRecord>(&format!("SELECT {REMOTE_COLUMNS} FROM remote_series WHERE link_id = $1 AND series_id = $2"))
                    .bind(link)
                    .bind(series.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn remote_series_by_remote_id(&self, link: &str, remote_id: &str) -> Result<Option<RemoteSeriesRecord>, StoreError> {
                Ok(sqlx::query_as::<$db, RemoteSeriesRecord>(&format!("SELECT {REMOTE_COLUMNS} FROM remote_series WHERE link_id = $1 AND remote_id = $2"))
                    .bind(link)
                    .bind(remote_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn remote_series_of(&self, org: OrganizationId, series: &[SeriesId]) -> Result<Vec<RemoteSeriesRecord>, StoreError> {
                if series.is_empty() {
                    return Ok(Vec::new());
                }
                let list = (0..series.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT r.link_id, r.series_id, r.remote_id, r.etag, r.exceptions, r.fingerprint, r.fidelity, r.fidelity_detail, r.updated_at \
                     FROM remote_series r JOIN calendar_links l ON l.id = r.link_id WHERE l.organization_id = $1 AND r.series_id IN ({list}) ORDER BY r.link_id"
                );
                let mut q = sqlx::query_as::<$db, RemoteSeriesRecord>(&sql).bind(org.to_string());
                for id in series {
                    q = q.bind(id.to_string());
                }
                Ok(q.fetch_all(&self.pool).await?)
            }

            async fn mapped_series(&self, link: &str) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as::<$db, (String,)>("SELECT series_id FROM remote_series WHERE link_id = $1").bind(link).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn remember_remote(&self, remote: &RemoteSeriesRecord) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                self.put_remote(&mut tx, remote).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn save_pulled(&self, writes: &[SeriesWrite<'_>], origin: &str, remote: Option<&RemoteSeriesRecord>) -> Result<VersionedWrite, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcome = self.apply_writes_from(&mut tx, writes, Some(origin)).await?;
                if outcome != VersionedWrite::Done {
                    tx.rollback().await?;
                    return Ok(outcome);
                }
                match remote {
                    Some(r) => self.put_remote(&mut tx, r).await?,
                    None => {
                        for w in writes {
                            sqlx::query::<$db>("DELETE FROM remote_series WHERE link_id = $1 AND series_id = $2").bind(origin).bind(w.id().to_string()).execute(&mut *tx).await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(VersionedWrite::Done)
            }
        }
    };
}

sync_store!(SqliteStore, sqlx::Sqlite);
sync_store!(PgStore, sqlx::Postgres);
