//! `node(id:)` for the objects that are not scheduling data: API keys, calendar links, iCalendar
//! feeds, provider accounts and their remote calendars. Each is found within the caller's
//! organization only: another organization's id resolves to null, like one that never existed.

use super::error::{ApiError, ResultExt};
use super::types::{app, viewer, Node};
use crate::services;
use almanac_domain::ids::FeedId;
use async_graphql::Context;

pub(crate) async fn other_node(ctx: &Context<'_>, id: &str) -> async_graphql::Result<Option<Node>> {
    let app = app(ctx);
    let org = viewer(ctx).organization;
    if let Some(key) = super::mutation::api_key_store_id(id) {
        let found = services::api_keys::find(&app.store, org, &key)
            .await
            .gql()?;
        return Ok(found.map(|k| Node::ApiKey(k.into())));
    }
    if let Ok(feed) = id.parse::<FeedId>() {
        return Ok(services::ics::find_feed(app, org, feed)
            .await
            .gql()?
            .map(|f| Node::IcsFeed(super::ics::IcsFeed(f))));
    }
    if id.starts_with("lnk_") {
        return Ok(services::nodes::link(app, org, id)
            .await
            .gql()?
            .map(|l| Node::CalendarLink(super::sync::CalendarLink(l))));
    }
    if id.starts_with("con_") {
        return Ok(services::nodes::provider_account(app, org, id)
            .await
            .gql()?
            .map(|c| Node::ProviderAccount(super::sync::ProviderAccount(c))));
    }
    if id.starts_with("rcal_") {
        return Ok(super::sync::remote_calendar(ctx, id)
            .await?
            .map(Node::RemoteCalendar));
    }
    Err(ApiError::invalid(
        "id",
        format!("{id:?} is not an Almanac id"),
    ))
    .gql()
}
