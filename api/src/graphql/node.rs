//! `node(id:)` for the objects that are not scheduling data: API keys, calendar links, iCalendar
//! feeds, provider accounts and their remote calendars. Each is found within the caller's
//! organization only: another organization's id resolves to null, like one that never existed.

use super::error::{ApiError, ResultExt};
use super::types::{app, viewer, Node};
use almanac_domain::ids::{ConnectionId, FeedId, LinkId};
use async_graphql::Context;

pub(crate) async fn other_node(ctx: &Context<'_>, id: &str) -> async_graphql::Result<Option<Node>> {
    let app = app(ctx);
    let org = viewer(ctx).organization;
    if let Some(key) = super::mutation::api_key_store_id(id) {
        let found = app.store.api_key(&key).await.gql()?;
        return Ok(found
            .filter(|k| k.organization_id == org)
            .map(|k| Node::ApiKey(k.into())));
    }
    if let Ok(feed) = id.parse::<FeedId>() {
        return Ok(app
            .store
            .ics_feed(org, feed)
            .await
            .gql()?
            .map(|f| Node::IcsFeed(super::ics::IcsFeed(f))));
    }
    if id.starts_with("lnk_") {
        // A malformed link id names no link, like an unknown one.
        let Ok(link) = id.parse::<LinkId>() else {
            return Ok(None);
        };
        return Ok(app
            .store
            .link(org, link)
            .await
            .map_err(ApiError::from)
            .gql()?
            .map(|l| Node::CalendarLink(super::sync::CalendarLink(l))));
    }
    if id.starts_with("con_") {
        let Ok(connection) = id.parse::<ConnectionId>() else {
            return Ok(None);
        };
        return Ok(app
            .store
            .connection(org, connection)
            .await
            .map_err(ApiError::from)
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
