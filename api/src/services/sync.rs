//! Provider sync use cases: connect an account (OAuth with PKCE), link a calendar, run a sync
//! round (push the outbox, then pull), react to push notifications, and the background worker.

use crate::graphql::error::ApiError;
use crate::secrets::{new_token, sha256_hex};
use crate::state::AppState;
use crate::store::sync::{ConnectionRecord, ConnectionState, LinkRecord, OAuthStateRecord};
use crate::sync::port::StorePort;
use crate::sync::tokens::ConnectionTokens;
use crate::sync::Provider;
use almanac_domain::ids::{ConnectionId, LinkId};
use almanac_domain::{CalendarId, OrganizationId};
use almanac_providers::google::adapter::GoogleCalendar;
use almanac_providers::google::wire::Channel;
use almanac_providers::oauth::SecretString;
use almanac_providers::outlook::adapter::{OutlookCalendar, OutlookOptions};
use almanac_providers::outlook::wire::Subscription;
use almanac_providers::sync::engine::{
    pull_round, push_round, Direction, Link, PullReport, PushReport, RemoteCalendar, SyncError,
};
use std::sync::Arc;

/// How long a started OAuth authorization stays usable.
const STATE_TTL_SECONDS: i64 = 600;
/// Outbox rows pushed per round and link.
const PUSH_BATCH: usize = 500;
/// Renew a watch channel when it has less than this left.
const CHANNEL_RENEW_BEFORE_SECONDS: i64 = 24 * 3600;

fn not_configured(provider: Provider) -> ApiError {
    let var = match provider {
        Provider::Google => "ALMANAC_GOOGLE_CLIENT_ID",
        Provider::Outlook => "ALMANAC_MICROSOFT_CLIENT_ID",
    };
    ApiError::NotConfigured(format!(
        "{} sync is not configured on this server (set {var})",
        provider.as_str()
    ))
}

/// Starts connecting an account: the URL to send the user to. The state is single-use, bound to
/// the organization, the user and the provider, and expires in ten minutes.
pub async fn begin_connect(
    app: &AppState,
    provider: Provider,
    org: OrganizationId,
    user: Option<String>,
    login_hint: Option<&str>,
) -> Result<(String, i64), ApiError> {
    let oauth = app
        .sync
        .oauth(provider)
        .ok_or_else(|| not_configured(provider))?;
    let login_hint = login_hint.map(str::trim).filter(|h| !h.is_empty());
    if login_hint.is_some_and(|h| h.len() > 320) {
        return Err(ApiError::invalid(
            "loginHint",
            "may be at most 320 characters",
        ));
    }
    let state = new_token();
    let mut request = oauth.begin(state.clone());
    if let Some(hint) = login_hint {
        request
            .url
            .query_pairs_mut()
            .append_pair("login_hint", hint);
    }
    let expires_at = chrono::Utc::now().timestamp() + STATE_TTL_SECONDS;
    app.store
        .insert_oauth_state(&OAuthStateRecord {
            state_sha256: sha256_hex(&state),
            organization_id: org,
            user_id: user,
            provider,
            pkce_verifier: app.sync.sealer.seal(request.pkce_verifier.expose_secret()),
            expires_at,
        })
        .await?;
    Ok((request.url.to_string(), expires_at))
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("this authorization link is unknown, expired or already used; start connecting again")]
    BadState,
    #[error("the provider did not authorize the connection: {0}")]
    Provider(String),
    #[error("internal error")]
    Internal,
}

/// The OAuth redirect: exchanges the code, identifies the account and stores the connection.
pub async fn complete_connect(
    app: &AppState,
    provider: Provider,
    code: &str,
    state: &str,
) -> Result<ConnectionRecord, CallbackError> {
    let now = chrono::Utc::now().timestamp();
    let pending = app
        .store
        .take_oauth_state(&sha256_hex(state), now)
        .await
        .map_err(|_| CallbackError::Internal)?
        .ok_or(CallbackError::BadState)?;
    // A state issued for another provider is as unknown as a forged one.
    if pending.provider != provider {
        return Err(CallbackError::BadState);
    }
    let oauth = app.sync.oauth(provider).ok_or(CallbackError::Internal)?;
    let verifier = app
        .sync
        .sealer
        .open(&pending.pkce_verifier)
        .map_err(|_| CallbackError::Internal)?;
    let grant = oauth
        .exchange_code(code, &SecretString::new(verifier))
        .await
        .map_err(|e| CallbackError::Provider(e.to_string()))?;

    let probe: Arc<dyn almanac_providers::oauth::AccessTokenSource> = Arc::new(
        almanac_providers::oauth::StaticAccessToken::new(grant.access_token.clone()),
    );
    let account = match provider {
        // The primary calendar's id is the Google account's address.
        Provider::Google => {
            let client = app
                .sync
                .google_client(probe)
                .map_err(|_| CallbackError::Internal)?;
            let calendars = client
                .calendar_list()
                .await
                .map_err(|e| CallbackError::Provider(e.to_string()))?;
            calendars
                .iter()
                .find(|c| c.primary == Some(true))
                .and_then(|c| c.id.clone())
                .unwrap_or_else(|| "unknown".into())
        }
        Provider::Outlook => {
            let client = app
                .sync
                .graph_client(None, probe)
                .map_err(|_| CallbackError::Internal)?;
            let me = client
                .me()
                .await
                .map_err(|e| CallbackError::Provider(e.to_string()))?;
            me.mail
                .or(me.user_principal_name)
                .or(me.id)
                .unwrap_or_else(|| "unknown".into())
        }
    };

    let record = ConnectionRecord {
        id: ConnectionId::generate(),
        organization_id: pending.organization_id,
        user_id: pending.user_id,
        provider,
        account,
        state: ConnectionState::Active,
        access_token: Some(app.sync.sealer.seal(grant.access_token.expose_secret())),
        refresh_token: grant
            .refresh_token
            .as_ref()
            .map(|r| app.sync.sealer.seal(r.expose_secret())),
        access_expires_at: Some(grant.expires_at.timestamp()),
        token_version: 0,
        last_error: None,
        created_at: now,
    };
    let id = app
        .store
        .upsert_connection(&record)
        .await
        .map_err(|_| CallbackError::Internal)?;
    app.store
        .connection(pending.organization_id, id)
        .await
        .map_err(|_| CallbackError::Internal)?
        .ok_or(CallbackError::Internal)
}

fn tokens(app: &AppState, c: &ConnectionRecord) -> Arc<ConnectionTokens> {
    Arc::new(ConnectionTokens::new(
        app.store.clone(),
        app.sync.clone(),
        app.sync.oauth(c.provider),
        c.organization_id,
        c.id,
    ))
}

async fn connection_of(
    app: &AppState,
    org: OrganizationId,
    id: &str,
) -> Result<ConnectionRecord, ApiError> {
    let not_found = || ApiError::NotFound("provider account");
    let id: ConnectionId = id.parse().map_err(|_| not_found())?;
    app.store.connection(org, id).await?.ok_or_else(not_found)
}

/// A calendar the connected account can see.
pub struct RemoteCalendarInfo {
    pub id: String,
    pub name: String,
    pub primary: bool,
    pub writable: bool,
    pub time_zone: Option<String>,
}

pub async fn remote_calendars(
    app: &AppState,
    org: OrganizationId,
    connection: &str,
) -> Result<Vec<RemoteCalendarInfo>, ApiError> {
    let c = connection_of(app, org, connection).await?;
    let internal = |e: String| ApiError::Internal(anyhow::anyhow!(e));
    let refused = |e: String| {
        ApiError::invalid(
            "accountId",
            format!("the provider refused to list calendars: {e}"),
        )
    };
    match c.provider {
        Provider::Google => {
            let client = app.sync.google_client(tokens(app, &c)).map_err(internal)?;
            let list = client
                .calendar_list()
                .await
                .map_err(|e| refused(e.to_string()))?;
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
            let client = app
                .sync
                .graph_client(Some(&c.id.to_string()), tokens(app, &c))
                .map_err(internal)?;
            let list = client
                .calendars()
                .await
                .map_err(|e| refused(e.to_string()))?;
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

/// Links a local calendar to a provider calendar and queues its series for the first push.
pub async fn link_calendar(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
    connection: &str,
    remote_calendar: &str,
    direction: Direction,
) -> Result<LinkRecord, ApiError> {
    app.store
        .calendar(org, calendar)
        .await?
        .ok_or(ApiError::NotFound("calendar"))?;
    let c = connection_of(app, org, connection).await?;
    let remote_calendar = remote_calendar.trim();
    if remote_calendar.is_empty()
        || remote_calendar.len() > 1024
        || remote_calendar.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "remoteCalendarId",
            "must be a calendar id from remoteCalendars",
        ));
    }
    let existing = app.store.links_of_calendars(org, &[calendar]).await?;
    if existing
        .iter()
        .any(|l| l.connection_id == c.id && l.remote_calendar_id == remote_calendar)
    {
        return Err(ApiError::invalid(
            "remoteCalendarId",
            "this calendar is already linked to that provider calendar",
        ));
    }
    let link = LinkRecord {
        id: LinkId::generate(),
        organization_id: org,
        calendar_id: calendar,
        connection_id: c.id,
        remote_calendar_id: remote_calendar.to_string(),
        direction,
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
        app.store.enqueue_calendar(org, link.id).await?;
    }
    Ok(link)
}

pub async fn unlink_calendar(
    app: &AppState,
    org: OrganizationId,
    link: &str,
) -> Result<(), ApiError> {
    let l = link_of(app, org, link).await?;
    // Best effort: an unstopped channel or subscription expires by itself, and its
    // notifications find no link.
    stop_notifications(app, &l).await;
    if !app.store.delete_link(org, l.id).await? {
        return Err(ApiError::NotFound("link"));
    }
    Ok(())
}

async fn stop_notifications(app: &AppState, l: &LinkRecord) {
    let Ok(Some(c)) = app
        .store
        .connection(l.organization_id, l.connection_id)
        .await
    else {
        return;
    };
    match (c.provider, &l.channel_id) {
        (Provider::Google, Some(id)) => {
            if let (Ok(client), Some(resource)) = (
                app.sync.google_client(tokens(app, &c)),
                &l.channel_resource_id,
            ) {
                let _ = client.stop_channel(id, resource).await;
            }
        }
        (Provider::Outlook, Some(id)) => {
            if let Ok(client) = app
                .sync
                .graph_client(Some(&c.id.to_string()), tokens(app, &c))
            {
                let _ = client.delete_subscription(id).await;
            }
        }
        (_, None) => {}
    }
}

/// What one sync round did.
#[derive(Debug, Default, Clone)]
pub struct RoundReport {
    pub push: PushReport,
    pub pull: PullReport,
    /// Why the round stopped early (the link's last error).
    pub error: Option<String>,
}

/// Runs a round for a link of the caller's organization.
pub async fn sync_link(
    app: &AppState,
    org: OrganizationId,
    link: &str,
) -> Result<RoundReport, ApiError> {
    let l = link_of(app, org, link).await?;
    Ok(run_round(app, &l).await)
}

/// A link of the organization by its global id; a malformed id names no link.
async fn link_of(app: &AppState, org: OrganizationId, id: &str) -> Result<LinkRecord, ApiError> {
    let not_found = || ApiError::NotFound("link");
    let id: LinkId = id.parse().map_err(|_| not_found())?;
    app.store.link(org, id).await?.ok_or_else(not_found)
}

async fn engine_link(app: &AppState, l: &LinkRecord) -> Result<Link, String> {
    let (org, calendar) = (l.organization_id, l.calendar_id);
    let cal = app
        .store
        .calendar(org, calendar)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the calendar no longer exists")?;
    Ok(Link {
        id: l.id.to_string(),
        organization: org,
        calendar,
        calendar_zone: cal.time_zone,
        remote_calendar: l.remote_calendar_id.clone(),
        direction: l.direction,
        cursor: l.sync_cursor.clone(),
    })
}

/// One round for one link: push what is pending, then pull. Errors are recorded on the link (and
/// on the connection when it needs re-authorization), never lost, and never abort other links.
pub async fn run_round(app: &AppState, l: &LinkRecord) -> RoundReport {
    let lock = app.sync.link_lock(&l.id.to_string());
    let _guard = lock.lock().await;
    let mut report = RoundReport::default();
    let result = round(app, l, &mut report).await;
    if let Err(e) = result {
        let message = e.to_string();
        if let SyncError::NeedsReauth(why) = &e {
            let _ = app
                .store
                .set_connection_state(
                    l.organization_id,
                    l.connection_id,
                    ConnectionState::NeedsReauth,
                    Some(why),
                )
                .await;
        }
        let _ = app
            .store
            .set_link_error(l.organization_id, l.id, Some(&message))
            .await;
        report.error = Some(message);
    }
    report
}

async fn round(app: &AppState, l: &LinkRecord, report: &mut RoundReport) -> Result<(), SyncError> {
    let connection = app
        .store
        .connection(l.organization_id, l.connection_id)
        .await
        .map_err(|e| SyncError::Local(e.to_string()))?
        .ok_or_else(|| SyncError::Local("the connection no longer exists".into()))?;
    if connection.state != ConnectionState::Active {
        return Err(SyncError::NeedsReauth(
            connection
                .last_error
                .unwrap_or_else(|| "the connection needs to be authorized again".into()),
        ));
    }
    let link = engine_link(app, l).await.map_err(SyncError::Local)?;
    let remote = remote_for(app, &connection, &link)?;
    let port = StorePort { app: app.clone() };
    report.push = push_round(&port, remote.as_ref(), &link, PUSH_BATCH).await?;
    report.pull = pull_round(&port, remote.as_ref(), &link).await?;
    // Not errors of the round, but things a person should see on the link until the next one.
    let mut notes = Vec::new();
    if report.pull.deletions_held > 0 {
        notes.push(format!(
            "{} deletions from the provider were held back: they would have emptied the calendar",
            report.pull.deletions_held
        ));
    }
    if !report.pull.skipped.is_empty() {
        notes.push(format!(
            "{} provider events were not imported: {}",
            report.pull.skipped.len(),
            report.pull.skipped.join("; ")
        ));
    }
    if !notes.is_empty() {
        let _ = app
            .store
            .set_link_error(l.organization_id, l.id, Some(&notes.join(" | ")))
            .await;
    }
    Ok(())
}

/// The provider adapter for a link's connection.
fn remote_for(
    app: &AppState,
    c: &ConnectionRecord,
    link: &Link,
) -> Result<Box<dyn RemoteCalendar>, SyncError> {
    Ok(match c.provider {
        Provider::Google => Box::new(GoogleCalendar::new(
            app.sync
                .google_client(tokens(app, c))
                .map_err(SyncError::Local)?,
            link.calendar_zone,
        )),
        Provider::Outlook => {
            let options = OutlookOptions {
                fallback_nearest: app.sync.settings.outlook_fallback
                    == crate::config::OutlookFallback::Nearest,
                window_past_days: app.sync.settings.outlook_window_past_days,
                window_future_days: app.sync.settings.outlook_window_future_days,
                ..OutlookOptions::default()
            };
            Box::new(OutlookCalendar::new(
                app.sync
                    .graph_client(Some(&c.id.to_string()), tokens(app, c))
                    .map_err(SyncError::Local)?,
                link.calendar_zone,
                options,
            ))
        }
    })
}

/// Creates (or renews) the link's push notifications: a Google `events.watch` channel or a Graph
/// subscription, pointing at this server's webhook.
pub async fn watch_link(app: &AppState, l: &LinkRecord) -> Result<(), String> {
    let c = app
        .store
        .connection(l.organization_id, l.connection_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the connection no longer exists")?;
    if c.provider == Provider::Outlook {
        return subscribe_link(app, &c, l).await;
    }
    let client = app.sync.google_client(tokens(app, &c))?;
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
        .map_err(|e| e.to_string())?;
    let old = (l.channel_id.clone(), l.channel_resource_id.clone());
    app.store
        .set_channel(
            l.organization_id,
            l.id,
            created.id.as_deref(),
            created.resource_id.as_deref(),
            Some(&sha256_hex(&token)),
            created.expiration.map(|ms| ms / 1000),
        )
        .await
        .map_err(|e| e.to_string())?;
    // The new channel is live before the old one stops, so no change falls between them.
    if let (Some(id), Some(resource)) = old {
        let _ = client.stop_channel(&id, &resource).await;
    }
    Ok(())
}

/// Graph subscriptions last at most 10,080 minutes for Outlook events; ask for a little less.
const GRAPH_SUBSCRIPTION_MINUTES: i64 = 10_000;

/// Creates a Graph subscription for the link's calendar (Graph validates the webhook first), then
/// deletes the one it replaces.
async fn subscribe_link(
    app: &AppState,
    c: &ConnectionRecord,
    l: &LinkRecord,
) -> Result<(), String> {
    let client = app
        .sync
        .graph_client(Some(&c.id.to_string()), tokens(app, c))?;
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
        .map_err(|e| e.to_string())?;
    let old = l.channel_id.clone();
    let expires_at = created
        .expiration_date_time
        .as_ref()
        .map(|t| t.to_utc().timestamp())
        .or(Some(expires.timestamp()));
    app.store
        .set_channel(
            l.organization_id,
            l.id,
            created.id.as_deref(),
            None,
            Some(&sha256_hex(&client_state)),
            expires_at,
        )
        .await
        .map_err(|e| e.to_string())?;
    if let Some(old) = old {
        let _ = client.delete_subscription(&old).await;
    }
    Ok(())
}

/// A Google push notification. Answers whether it was for a channel we know with the right token;
/// the sync it triggers runs in the background (Google wants a quick 2xx).
pub async fn google_notification(app: &AppState, channel_id: &str, token: Option<&str>) -> bool {
    let Ok(Some(link)) = app.store.link_by_channel(channel_id).await else {
        return false;
    };
    let Some(expected) = &link.channel_token_sha256 else {
        return false;
    };
    if token.map(sha256_hex).as_deref() != Some(expected.as_str()) {
        return false;
    }
    let app = app.clone();
    tokio::spawn(async move {
        run_round(&app, &link).await;
    });
    true
}

/// A batch of Graph change or lifecycle notifications. Each is checked against its subscription's
/// clientState; accepted ones run a round (or renew / recreate the subscription) in the
/// background, because Graph wants an answer within 3 seconds. Returns how many were accepted.
pub async fn outlook_notifications(
    app: &AppState,
    batch: almanac_providers::outlook::wire::ChangeNotificationCollection,
) -> usize {
    let mut accepted = 0;
    let mut rounds: Vec<LinkRecord> = Vec::new();
    for n in batch.value {
        let Some(subscription) = n.subscription_id.as_deref() else {
            continue;
        };
        let Ok(Some(link)) = app.store.link_by_channel(subscription).await else {
            continue;
        };
        let Some(expected) = link.channel_token_sha256.as_deref() else {
            continue;
        };
        if n.client_state.as_deref().map(sha256_hex).as_deref() != Some(expected) {
            continue;
        }
        accepted += 1;
        let lifecycle = n.lifecycle_event.as_ref().map(|e| e.as_str().to_string());
        match lifecycle.as_deref() {
            Some("reauthorizationRequired") => {
                let (app, link) = (app.clone(), link.clone());
                tokio::spawn(async move {
                    let connection = app
                        .store
                        .connection(link.organization_id, link.connection_id)
                        .await;
                    let reauthorized = match connection {
                        Ok(Some(c)) => match app
                            .sync
                            .graph_client(Some(&c.id.to_string()), tokens(&app, &c))
                        {
                            Ok(client) => client
                                .reauthorize_subscription(subscription_id(&link))
                                .await
                                .is_ok(),
                            Err(_) => false,
                        },
                        _ => false,
                    };
                    if !reauthorized {
                        let _ = watch_link(&app, &link).await;
                    }
                });
            }
            // The subscription is gone, or notifications were lost: subscribe again and catch up.
            Some(_) => {
                let (app, link) = (app.clone(), link.clone());
                tokio::spawn(async move {
                    if let Err(e) = watch_link(&app, &link).await {
                        tracing::warn!(link = %link.id, error = %e, "could not recreate the Graph subscription");
                    }
                    run_round(&app, &link).await;
                });
            }
            None => {
                if !rounds.iter().any(|r| r.id == link.id) {
                    rounds.push(link);
                }
            }
        }
    }
    for link in rounds {
        let app = app.clone();
        tokio::spawn(async move {
            run_round(&app, &link).await;
        });
    }
    accepted
}

fn subscription_id(l: &LinkRecord) -> &str {
    l.channel_id.as_deref().unwrap_or_default()
}

/// One pass of the background worker over every link: renew expiring channels, run a round.
pub async fn worker_pass(app: &AppState) {
    let links = match app.store.all_links().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "sync worker could not list links");
            return;
        }
    };
    let now = chrono::Utc::now().timestamp();
    for l in links {
        if l.channel_expires_at
            .is_some_and(|t| t - now < CHANNEL_RENEW_BEFORE_SECONDS)
        {
            if let Err(e) = watch_link(app, &l).await {
                tracing::warn!(link = %l.id, error = %e, "could not renew the watch channel");
            }
        }
        let report = run_round(app, &l).await;
        if let Some(e) = report.error {
            tracing::warn!(link = %l.id, error = %e, "sync round failed");
        }
    }
}

/// Runs [`worker_pass`] every `interval` (±25 % jitter, so nodes spread out) until the process ends.
pub fn spawn_worker(app: AppState, interval_seconds: u64) {
    if interval_seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            let jitter = (uuid::Uuid::new_v4().as_u128() % 50) as i64 - 25;
            let secs = (interval_seconds as i64 * (100 + jitter) / 100).max(1);
            tokio::time::sleep(std::time::Duration::from_secs(secs as u64)).await;
            worker_pass(&app).await;
        }
    });
}
