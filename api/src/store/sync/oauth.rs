//! OAuth states: the single-use proof that a provider callback answers a request we started.

use super::rows::OAuthStateRow;
use super::OAuthStateRecord;
use crate::store::sql::{SqlStore, Statement};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait OAuthStates: Send + Sync {
    async fn insert_oauth_state(&self, state: &OAuthStateRecord) -> Result<(), StoreError>;
    /// Consumes a state: returns it once, if it has not expired; never again. Looked up by its
    /// hash alone, whatever the organization: the state is the credential, and the record
    /// carries the organization that started the connection.
    async fn take_oauth_state(
        &self,
        state_sha256: &str,
        now: i64,
    ) -> Result<Option<OAuthStateRecord>, StoreError>;
}

#[async_trait]
impl OAuthStates for SqlStore {
    #[tracing::instrument(level = "debug", skip_all, fields(org = %s.organization_id))]
    async fn insert_oauth_state(&self, s: &OAuthStateRecord) -> Result<(), StoreError> {
        self.execute(
            Statement::uncounted(
                "INSERT INTO oauth_states (state_sha256, organization_id, user_id, provider, pkce_verifier, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&s.state_sha256)
            .bind(s.organization_id.to_string())
            .bind(&s.user_id)
            .bind(s.provider.as_str())
            .bind(&s.pkce_verifier)
            .bind(s.expires_at),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn take_oauth_state(
        &self,
        state_sha256: &str,
        now: i64,
    ) -> Result<Option<OAuthStateRecord>, StoreError> {
        // One UPDATE decides: a second callback with the same state finds used_at set.
        self.fetch_optional::<OAuthStateRow>(
            Statement::uncounted(
                "UPDATE oauth_states SET used_at = $2 WHERE state_sha256 = $1 AND used_at IS NULL AND expires_at > $2 \
                 RETURNING state_sha256, organization_id, user_id, provider, pkce_verifier, expires_at",
            )
            .bind(state_sha256)
            .bind(now),
        )
        .await?
        .map(OAuthStateRecord::try_from)
        .transpose()
    }
}
