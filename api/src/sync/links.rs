//! Linking a local calendar to a provider calendar, unlinking it, and the push notifications of a
//! link: a Google `events.watch` channel or a Graph subscription, pointing at this server.

use super::{google_client_for, graph_client_for, Provider, SyncError};
use crate::secrets::{new_token, sha256_hex};
use crate::state::AppState;
use crate::store::sync::{ConnectionRecord, LinkRecord};
use almanac_domain::{CalendarId, OrganizationId};
use almanac_providers::google::adapter::sync_error as google_error;
use almanac_providers::google::wire::Channel;
use almanac_providers::outlook::adapter::sync_error as graph_error;
use almanac_providers::outlook::wire::Subscription;
use almanac_providers::sync::engine::Direction;

/// Graph subscriptions last at most 10,080 minutes for Outlook events; ask for a little less.
const GRAPH_SUBSCRIPTION_MINUTES: i64 = 10_000;

/// A connection of the organization.
pub(super) async fn connection_of(
    app: &AppState,
    org: OrganizationId,
    id: &str,
) -> Result<ConnectionRecord, SyncError> {
    app.store
        .connection(org, id)
        .await?
        .ok_or(SyncError::NotFound("provider account"))
}

/// A calendar the connected account can see.
pub struct RemoteCalendarInfo {
    pub id: String,
    pub name: String,
    pub primary: bool,
    pub writable: bool,
    pub time_zone: Option<String>,
}

/// The calendars a connected account can see, as the provider lists them now.
#[tracing::instrument(skip_all, fields(org = %org, connection = connection, provider))]
pub async fn remote_calendars(
    app: &AppState,
    org: OrganizationId,
    connection: &str,
) -> Result<Vec<RemoteCalendarInfo>, SyncError> {
    let c = connection_of(app, org, connection).await?;
    let provider = Provider::of(&c);
    tracing::Span::current().record("provider", provider.as_str());
    let refused = |e: &dyn std::fmt::Display| SyncError::ProviderRefused {
        action: "list calendars",
        reason: e.to_string(),
    };
    match provider {
        Provider::Google => {
            let list = google_client_for(app, &c)?
                .calendar_list()
                .await
                .map_err(|e| refused(&e))?;
            Ok(list
                .into_iter()
                .filter_map(|c| {
                    Some(RemoteCalendarInfo {
                        writable: matches!(
                            c.access_role.as_deref(),
                            Some("owner") | Some("writer")
                        ),
                        id: c.id?,
                        name: c.summary.unwrap_or_default(),
                        primary: c.primary == Some(true),
                        time_zone: c.time_zone,
                    })
                })
                .collect())
        }
        Provider::Outlook => {
            let list = graph_client_for(app, &c)?
                .calendars()
                .await
                .map_err(|e| refused(&e))?;
            Ok(list
                .into_iter()
                .filter_map(|c| {
                    Some(RemoteCalendarInfo {
                        writable: c.is_writable(),
                        id: c.id?,
                        name: c.name.unwrap_or_default(),
                        primary: c.is_default_calendar == Some(true),
                        time_zone: None,
                    })
                })
                .collect())
        }
    }
}

/// Links a local calendar to a provider calendar, queues its series for the first push and asks
/// the provider for push notifications. Answers the link as stored after all that.
#[tracing::instrument(skip_all, fields(org = %org, link, connection = connection, provider))]
pub async fn link_calendar(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
    connection: &str,
    remote_calendar: &str,
    direction: Direction,
) -> Result<LinkRecord, SyncError> {
    let link = create_link(app, org, calendar, connection, remote_calendar, direction).await?;
    tracing::Span::current().record("link", link.id.as_str());
    // Push notifications are best effort: the worker's periodic round is the safety net.
    if let Err(e) = watch_link(app, &link).await {
        tracing::info!(error = %e, "no push notifications for this link");
    }
    app.store
        .link(org, &link.id)
        .await?
        .ok_or(SyncError::NotFound("link"))
}

/// Stores a link and queues its calendar's series for the first push, without asking for push
/// notifications (rounds are then only run on demand or by the worker).
pub async fn create_link(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
    connection: &str,
    remote_calendar: &str,
    direction: Direction,
) -> Result<LinkRecord, SyncError> {
    app.store
        .calendar(org, calendar)
        .await?
        .ok_or(SyncError::NotFound("calendar"))?;
    let c = connection_of(app, org, connection).await?;
    tracing::Span::current().record("provider", Provider::of(&c).as_str());
    let remote_calendar = remote_calendar.trim();
    if remote_calendar.is_empty()
        || remote_calendar.len() > 1024
        || remote_calendar.chars().any(char::is_control)
    {
        return Err(SyncError::invalid(
            "remoteCalendarId",
            "must be a calendar id from remoteCalendars",
        ));
    }
    let existing = app.store.links_of_calendars(org, &[calendar]).await?;
    if existing
        .iter()
        .any(|l| l.connection_id == c.id && l.remote_calendar_id == remote_calendar)
    {
        return Err(SyncError::invalid(
            "remoteCalendarId",
            "this calendar is already linked to that provider calendar",
        ));
    }
    let link = LinkRecord {
        id: format!("lnk_{}", uuid::Uuid::now_v7().simple()),
        organization_id: org.to_string(),
        calendar_id: calendar.to_string(),
        connection_id: c.id.clone(),
        remote_calendar_id: remote_calendar.to_string(),
        direction: direction.as_str().into(),
        sync_cursor: None,
        last_synced_at: None,
        last_error: None,
        channel_id: None,
        channel_resource_id: None,
        channel_token_sha256: None,
        channel_expires_at: None,
        created_at: chrono::Utc::now().timestamp(),
    };
    app.store.insert_link(&link).await?;
    if direction.pushes() {
        app.store.enqueue_calendar(&link.id).await?;
    }
    Ok(link)
}

/// Removes a link (local data and the provider's copies stay), stopping its notifications.
#[tracing::instrument(skip_all, fields(org = %org, link = link, connection, provider))]
pub async fn unlink_calendar(
    app: &AppState,
    org: OrganizationId,
    link: &str,
) -> Result<(), SyncError> {
    let l = app
        .store
        .link(org, link)
        .await?
        .ok_or(SyncError::NotFound("link"))?;
    tracing::Span::current().record("connection", l.connection_id.as_str());
    // Best effort: an unstopped channel or subscription expires by itself, and its notifications
    // find no link (they are answered 404, which also tells Google to stop).
    if let Err(e) = stop_notifications(app, &l).await {
        tracing::warn!(error = %e, channel = l.channel_id.as_deref(), "could not stop the link's push notifications; they expire on their own");
    }
    if !app.store.delete_link(org, link).await? {
        return Err(SyncError::NotFound("link"));
    }
    Ok(())
}

async fn stop_notifications(app: &AppState, l: &LinkRecord) -> Result<(), SyncError> {
    let Some(channel) = l.channel_id.as_deref() else {
        return Ok(());
    };
    let c = app
        .store
        .connection_by_id(&l.connection_id)
        .await?
        .ok_or(SyncError::NotFound("provider account"))?;
    tracing::Span::current().record("provider", Provider::of(&c).as_str());
    match Provider::of(&c) {
        Provider::Google => {
            // A channel stored without its resource id cannot be stopped; it expires.
            if let Some(resource) = l.channel_resource_id.as_deref() {
                google_client_for(app, &c)?
                    .stop_channel(channel, resource)
                    .await
                    .map_err(google_error)?;
            }
        }
        Provider::Outlook => {
            graph_client_for(app, &c)?
                .delete_subscription(channel)
                .await
                .map_err(graph_error)?;
        }
    }
    Ok(())
}

/// Creates (or renews) the link's push notifications: a Google `events.watch` channel or a Graph
/// subscription, pointing at this server's webhook, then stops the one it replaces.
#[tracing::instrument(skip_all, fields(org = %l.organization_id, link = %l.id, connection = %l.connection_id, provider))]
pub async fn watch_link(app: &AppState, l: &LinkRecord) -> Result<(), SyncError> {
    let c = app
        .store
        .connection_by_id(&l.connection_id)
        .await?
        .ok_or(SyncError::NotFound("provider account"))?;
    let provider = Provider::of(&c);
    tracing::Span::current().record("provider", provider.as_str());
    match provider {
        Provider::Google => watch_google(app, &c, l).await,
        Provider::Outlook => subscribe_outlook(app, &c, l).await,
    }
}

async fn watch_google(
    app: &AppState,
    c: &ConnectionRecord,
    l: &LinkRecord,
) -> Result<(), SyncError> {
    let client = google_client_for(app, c)?;
    let token = new_token();
    let channel = Channel {
        id: Some(uuid::Uuid::new_v4().to_string()),
        channel_type: Some("web_hook".into()),
        address: Some(app.sync.webhook_url(Provider::Google)),
        token: Some(token.clone()),
        ..Channel::default()
    };
    let created = client
        .watch(&l.remote_calendar_id, &channel)
        .await
        .map_err(google_error)?;
    app.store
        .set_channel(
            &l.id,
            created.id.as_deref(),
            created.resource_id.as_deref(),
            Some(&sha256_hex(&token)),
            created.expiration.map(|ms| ms / 1000),
        )
        .await?;
    // The new channel is live before the old one stops, so no change falls between them. A
    // failed stop only costs notifications that find no link until the old channel expires.
    if let (Some(id), Some(resource)) = (&l.channel_id, &l.channel_resource_id) {
        if let Err(e) = client.stop_channel(id, resource).await {
            tracing::warn!(channel = %id, error = %e, "could not stop the replaced watch channel; it expires on its own");
        }
    }
    Ok(())
}

/// Creates a Graph subscription for the link's calendar (Graph validates the webhook first), then
/// deletes the one it replaces.
async fn subscribe_outlook(
    app: &AppState,
    c: &ConnectionRecord,
    l: &LinkRecord,
) -> Result<(), SyncError> {
    let client = graph_client_for(app, c)?;
    let client_state = new_token();
    let resource = match l.remote_calendar_id.as_str() {
        "primary" | "" => "me/events".to_string(),
        id => format!("me/calendars/{id}/events"),
    };
    let url = app.sync.webhook_url(Provider::Outlook);
    let expires = chrono::Utc::now() + chrono::Duration::minutes(GRAPH_SUBSCRIPTION_MINUTES);
    let created = client
        .create_subscription(&Subscription::events(
            resource,
            url.clone(),
            Some(url),
            Some(client_state.clone()),
            expires,
        ))
        .await
        .map_err(graph_error)?;
    let expires_at = created
        .expiration_date_time
        .as_ref()
        .map(|t| t.to_utc().timestamp())
        .or(Some(expires.timestamp()));
    app.store
        .set_channel(
            &l.id,
            created.id.as_deref(),
            None,
            Some(&sha256_hex(&client_state)),
            expires_at,
        )
        .await?;
    // As for Google: the replaced subscription's notifications fail the clientState check until
    // it expires, so a failed delete loses nothing.
    if let Some(old) = &l.channel_id {
        if let Err(e) = client.delete_subscription(old).await {
            tracing::warn!(subscription = %old, error = %e, "could not delete the replaced Graph subscription; it expires on its own");
        }
    }
    Ok(())
}

/// Asks Graph to keep delivering a subscription's notifications after it asked for
/// re-authorization; false when it refused (the caller subscribes again).
pub(super) async fn reauthorize_subscription(app: &AppState, l: &LinkRecord) -> bool {
    let c = match app.store.connection_by_id(&l.connection_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(link = %l.id, error = %e, "could not read the link's connection");
            return false;
        }
    };
    let client = match graph_client_for(app, &c) {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(link = %l.id, error = %e, "no Graph client for the link");
            return false;
        }
    };
    match client
        .reauthorize_subscription(l.channel_id.as_deref().unwrap_or_default())
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(link = %l.id, error = %e, "Graph refused to reauthorize the subscription; subscribing again");
            false
        }
    }
}
