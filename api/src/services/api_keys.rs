//! API keys: created per organization, shown once, stored hashed, revocable.

use super::ServiceError;
use crate::auth::{new_api_key, Scopes};
use crate::store::{ApiKeyRecord, Store};
use almanac_domain::OrganizationId;
use std::sync::Arc;

/// A key's scopes as asked for ("read", "write", "read,write", "read write"), in the stored form;
/// an unknown name is refused, never dropped.
pub fn parse_scopes(s: &str) -> Result<String, ServiceError> {
    Scopes::parse(s)
        .map(|scopes| scopes.as_str().to_string())
        .map_err(|e| ServiceError::invalid("scopes", e.to_string()))
}

/// Creates a key; returns it and the token to show once.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create(
    store: &Arc<dyn Store>,
    org: OrganizationId,
    name: &str,
    scopes: &str,
) -> Result<(ApiKeyRecord, String), ServiceError> {
    let (id, token, secret_sha256) = new_api_key();
    let record = ApiKeyRecord {
        id,
        organization_id: org.to_string(),
        name: almanac_domain::text::single_line("name", name, 200, true)?,
        secret_sha256,
        scopes: parse_scopes(scopes)?,
        created_at: chrono::Utc::now().timestamp(),
        revoked_at: None,
    };
    store.insert_api_key(&record).await?;
    Ok((record, token))
}

#[tracing::instrument(skip_all, fields(org = %org, key.id = %id))]
pub async fn revoke(
    store: &Arc<dyn Store>,
    org: OrganizationId,
    id: &str,
) -> Result<ApiKeyRecord, ServiceError> {
    if !store
        .revoke_api_key(org, id, chrono::Utc::now().timestamp())
        .await?
    {
        return Err(ServiceError::NotFound("API key"));
    }
    store
        .api_key(id)
        .await?
        .ok_or(ServiceError::NotFound("API key"))
}

/// The organization's API keys (their hashes only).
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn list(
    store: &Arc<dyn Store>,
    org: OrganizationId,
) -> Result<Vec<ApiKeyRecord>, ServiceError> {
    Ok(store.api_keys(org).await?)
}

/// The key with this stored id, if it belongs to the organization.
#[tracing::instrument(skip_all, fields(org = %org, key.id = %id))]
pub async fn find(
    store: &Arc<dyn Store>,
    org: OrganizationId,
    id: &str,
) -> Result<Option<ApiKeyRecord>, ServiceError> {
    let key = store.api_key(id).await?;
    Ok(key.filter(|k| k.organization_id == org.to_string()))
}
