//! Provider connections: the OAuth grant of one account, its sealed tokens and whether it works.

use super::rows::ConnectionRow;
use super::{parsed, ConnectionRecord, ConnectionState};
use crate::store::sql::{SqlStore, Statement};
use crate::store::StoreError;
use almanac_domain::ids::ConnectionId;
use almanac_domain::OrganizationId;
use async_trait::async_trait;

const CONNECTION_COLUMNS: &str =
    "id, organization_id, user_id, provider, account, state, access_token, refresh_token, \
     access_expires_at, token_version, last_error, created_at";

#[async_trait]
pub trait Connections: Send + Sync {
    /// Inserts the connection, or replaces the tokens of the organization's existing connection
    /// to the same account (reconnecting); returns its id.
    async fn upsert_connection(&self, c: &ConnectionRecord) -> Result<ConnectionId, StoreError>;
    async fn connection(
        &self,
        org: OrganizationId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError>;
    async fn connections(&self, org: OrganizationId) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// Stores refreshed tokens if nobody else did since `expected_version`; false otherwise.
    async fn store_tokens(
        &self,
        org: OrganizationId,
        id: ConnectionId,
        expected_version: i64,
        access: &str,
        refresh: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    async fn set_connection_state(
        &self,
        org: OrganizationId,
        id: ConnectionId,
        state: ConnectionState,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[async_trait]
impl Connections for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %c.organization_id, connection = %c.id))]
    async fn upsert_connection(&self, c: &ConnectionRecord) -> Result<ConnectionId, StoreError> {
        let (id,): (String,) = self
            .fetch_one(
                Statement::uncounted(format!(
                    "INSERT INTO provider_connections ({CONNECTION_COLUMNS}, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                     ON CONFLICT (organization_id, provider, account) DO UPDATE SET user_id = $3, state = $6, \
                     access_token = $7, refresh_token = COALESCE($8, provider_connections.refresh_token), \
                     access_expires_at = $9, token_version = provider_connections.token_version + 1, \
                     last_error = NULL, updated_at = $12 RETURNING id"
                ))
                .bind(c.id.to_string())
                .bind(c.organization_id.to_string())
                .bind(&c.user_id)
                .bind(c.provider.as_str())
                .bind(&c.account)
                .bind(c.state.as_str())
                .bind(&c.access_token)
                .bind(&c.refresh_token)
                .bind(c.access_expires_at)
                .bind(c.token_version)
                .bind(&c.last_error)
                .bind(c.created_at),
            )
            .await?;
        super::parse_id("connection id", &id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, connection = %id))]
    async fn connection(
        &self,
        org: OrganizationId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.fetch_optional::<ConnectionRow>(
            Statement::uncounted(format!(
                "SELECT {CONNECTION_COLUMNS} FROM provider_connections WHERE id = $1 AND organization_id = $2"
            ))
            .bind(id.to_string())
            .bind(org.to_string()),
        )
        .await?
        .map(ConnectionRecord::try_from)
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org))]
    async fn connections(&self, org: OrganizationId) -> Result<Vec<ConnectionRecord>, StoreError> {
        parsed(
            self.fetch_all::<ConnectionRow>(
                Statement::uncounted(format!(
                    "SELECT {CONNECTION_COLUMNS} FROM provider_connections WHERE organization_id = $1 ORDER BY id"
                ))
                .bind(org.to_string()),
            )
            .await?,
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, connection = %id))]
    async fn store_tokens(
        &self,
        org: OrganizationId,
        id: ConnectionId,
        expected_version: i64,
        access: &str,
        refresh: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .execute(
                Statement::uncounted(
                    "UPDATE provider_connections SET access_token = $3, refresh_token = COALESCE($4, refresh_token), \
                     access_expires_at = $5, token_version = token_version + 1, state = $6, last_error = NULL, \
                     updated_at = $7 WHERE id = $1 AND token_version = $2 AND organization_id = $8",
                )
                .bind(id.to_string())
                .bind(expected_version)
                .bind(access)
                .bind(refresh)
                .bind(expires_at)
                .bind(ConnectionState::Active.as_str())
                .bind(now())
                .bind(org.to_string()),
            )
            .await?;
        Ok(done == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(org = %org, connection = %id, state = state.as_str()))]
    async fn set_connection_state(
        &self,
        org: OrganizationId,
        id: ConnectionId,
        state: ConnectionState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "UPDATE provider_connections SET state = $2, last_error = $3, updated_at = $4 \
                 WHERE id = $1 AND organization_id = $5",
            )
            .bind(id.to_string())
            .bind(state.as_str())
            .bind(error)
            .bind(now())
            .bind(org.to_string()),
        )
        .await?;
        Ok(())
    }
}
