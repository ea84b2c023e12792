//! Credentials an organization hands out: API keys and calendar feed tokens. Only hashes are
//! stored; the secrets themselves never are.

use super::rows::parse_id;
use super::sql::{placeholders, SqlStore, Statement};
use super::StoreError;
use almanac_domain::ids::FeedId;
use almanac_domain::{CalendarId, OrganizationId};
use async_trait::async_trait;

const API_KEY_COLUMNS: &str =
    "id, organization_id, name, secret_sha256, scopes, created_at, revoked_at";
const ICS_FEED_COLUMNS: &str =
    "id, organization_id, calendar_id, token_sha256, token_hint, created_at, revoked_at";

/// An API key as stored (the secret itself is never stored).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// The key's id as it appears in the key itself (`alm_<id>_<secret>`).
    pub id: String,
    pub organization_id: OrganizationId,
    pub name: String,
    pub secret_sha256: String,
    /// "read", "write" or "read write": parsed by `auth::Scopes`, which refuses a corrupt value
    /// (the store does not depend on the auth module).
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A calendar's iCalendar feed as stored (the URL's secret token itself is never stored).
#[derive(Debug, Clone)]
pub struct IcsFeedRecord {
    pub id: FeedId,
    pub organization_id: OrganizationId,
    pub calendar_id: CalendarId,
    pub token_sha256: String,
    /// The token's last four characters, so people can tell feeds apart.
    pub token_hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    organization_id: String,
    name: String,
    secret_sha256: String,
    scopes: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKeyRecord {
            organization_id: parse_id("API key organization", &r.organization_id)?,
            id: r.id,
            name: r.name,
            secret_sha256: r.secret_sha256,
            scopes: r.scopes,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct IcsFeedRow {
    id: String,
    organization_id: String,
    calendar_id: String,
    token_sha256: String,
    token_hint: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<IcsFeedRow> for IcsFeedRecord {
    type Error = StoreError;
    fn try_from(r: IcsFeedRow) -> Result<Self, StoreError> {
        Ok(IcsFeedRecord {
            id: parse_id("feed id", &r.id)?,
            organization_id: parse_id("feed organization", &r.organization_id)?,
            calendar_id: parse_id("feed calendar", &r.calendar_id)?,
            token_sha256: r.token_sha256,
            token_hint: r.token_hint,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[async_trait]
pub trait ApiKeys: Send + Sync {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// A key by id, whatever its organization: authentication happens before one is known, and
    /// the key's own organization (in the record) is the one the request acts for.
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn api_keys(&self, org: OrganizationId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks a key revoked; false when the organization has no such key.
    async fn revoke_api_key(
        &self,
        org: OrganizationId,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait IcsFeeds: Send + Sync {
    async fn insert_ics_feed(&self, feed: &IcsFeedRecord) -> Result<(), StoreError>;
    /// The feed whose token hashes to `token_sha256`, whatever its organization: the token is
    /// the credential, and the feed's own organization (in the record) is the one served.
    async fn ics_feed_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<IcsFeedRecord>, StoreError>;
    async fn ics_feed(
        &self,
        org: OrganizationId,
        id: FeedId,
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
        id: FeedId,
        at: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl ApiKeys for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %k.organization_id, key = %k.id))]
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.execute(
            Statement::new(format!(
                "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&k.id)
            .bind(k.organization_id.to_string())
            .bind(&k.name)
            .bind(&k.secret_sha256)
            .bind(&k.scopes)
            .bind(k.created_at)
            .bind(k.revoked_at),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(key = %id))]
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.fetch_optional::<ApiKeyRow>(
            Statement::new(format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
            ))
            .bind(id),
        )
        .await?
        .map(ApiKeyRecord::try_from)
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn api_keys(&self, org: OrganizationId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.fetch_all::<ApiKeyRow>(
            Statement::new(format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 ORDER BY created_at, id"
            ))
            .bind(org.to_string()),
        )
        .await?
        .into_iter()
        .map(ApiKeyRecord::try_from)
        .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, key = %id))]
    async fn revoke_api_key(
        &self,
        org: OrganizationId,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .execute(
                Statement::new(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND organization_id = $2",
                )
                .bind(id)
                .bind(org.to_string())
                .bind(at),
            )
            .await?;
        Ok(done == 1)
    }
}

#[async_trait]
impl IcsFeeds for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %f.organization_id, feed = %f.id))]
    async fn insert_ics_feed(&self, f: &IcsFeedRecord) -> Result<(), StoreError> {
        self.execute(
            Statement::new(format!(
                "INSERT INTO ics_feeds ({ICS_FEED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(f.id.to_string())
            .bind(f.organization_id.to_string())
            .bind(f.calendar_id.to_string())
            .bind(&f.token_sha256)
            .bind(&f.token_hint)
            .bind(f.created_at)
            .bind(f.revoked_at),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn ics_feed_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<IcsFeedRecord>, StoreError> {
        self.fetch_optional::<IcsFeedRow>(
            Statement::new(format!(
                "SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE token_sha256 = $1"
            ))
            .bind(token_sha256),
        )
        .await?
        .map(IcsFeedRecord::try_from)
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, feed = %id))]
    async fn ics_feed(
        &self,
        org: OrganizationId,
        id: FeedId,
    ) -> Result<Option<IcsFeedRecord>, StoreError> {
        self.fetch_optional::<IcsFeedRow>(
            Statement::new(format!(
                "SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE id = $1 AND organization_id = $2"
            ))
            .bind(id.to_string())
            .bind(org.to_string()),
        )
        .await?
        .map(IcsFeedRecord::try_from)
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, calendars = calendars.len()))]
    async fn ics_feeds(
        &self,
        org: OrganizationId,
        calendars: &[CalendarId],
    ) -> Result<Vec<IcsFeedRecord>, StoreError> {
        if calendars.is_empty() {
            return Ok(Vec::new());
        }
        self.fetch_all::<IcsFeedRow>(
            Statement::new(format!(
                "SELECT {ICS_FEED_COLUMNS} FROM ics_feeds WHERE organization_id = $1 AND calendar_id IN ({}) \
                 ORDER BY created_at, id",
                placeholders(2, calendars.len())
            ))
            .bind(org.to_string())
            .bind_all(calendars.iter().map(ToString::to_string)),
        )
        .await?
        .into_iter()
        .map(IcsFeedRecord::try_from)
        .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, feed = %id))]
    async fn revoke_ics_feed(
        &self,
        org: OrganizationId,
        id: FeedId,
        at: i64,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        let done = self
            .execute(
                Statement::new(
                    "UPDATE ics_feeds SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND organization_id = $2",
                )
                .bind(&id)
                .bind(org.to_string())
                .bind(at),
            )
            .await?;
        Ok(done == 1)
    }
}
