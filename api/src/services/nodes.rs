//! The provider-side objects `node(id:)` can name — connected accounts and calendar links — found
//! within the caller's organization only: another organization's id finds nothing, like an id
//! that never existed.

use super::ServiceError;
use crate::state::AppState;
use crate::store::sync::{ConnectionRecord, LinkRecord};
use almanac_domain::OrganizationId;

#[tracing::instrument(skip_all, fields(org = %org, link.id = %id))]
pub async fn link(
    app: &AppState,
    org: OrganizationId,
    id: &str,
) -> Result<Option<LinkRecord>, ServiceError> {
    Ok(app.store.link(org, id).await?)
}

#[tracing::instrument(skip_all, fields(org = %org, account.id = %id))]
pub async fn provider_account(
    app: &AppState,
    org: OrganizationId,
    id: &str,
) -> Result<Option<ConnectionRecord>, ServiceError> {
    Ok(app.store.connection(org, id).await?)
}
