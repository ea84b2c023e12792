//! One sync round of a link: push what is pending, then pull, through the provider-neutral engine
//! with the link's provider adapter. A round never fails its caller: what went wrong is recorded
//! on the link (and on the connection when it needs re-authorization) and reported.

use super::port::StorePort;
use super::tokens::{ACTIVE, NEEDS_REAUTH};
use super::{google_client_for, graph_client_for, Provider, SyncError};
use crate::state::AppState;
use crate::store::sync::{ConnectionRecord, LinkRecord};
use almanac_domain::{CalendarId, OrganizationId};
use almanac_providers::google::adapter::GoogleCalendar;
use almanac_providers::outlook::adapter::{OutlookCalendar, OutlookOptions};
use almanac_providers::sync::engine::{
    pull_round, push_round, Direction, Link, PullReport, PushReport, RemoteCalendar,
    SyncError as RoundError,
};

/// Outbox rows pushed per round and link.
const PUSH_BATCH: usize = 500;

/// What one sync round did.
#[derive(Debug, Default, Clone)]
pub struct RoundReport {
    pub push: PushReport,
    pub pull: PullReport,
    /// Why the round stopped early (the link's last error).
    pub error: Option<String>,
}

/// Runs a round now for a link of the organization: the report, and the link as it is after it.
#[tracing::instrument(skip_all, fields(org = %org, link = link))]
pub async fn sync_link(
    app: &AppState,
    org: OrganizationId,
    link: &str,
) -> Result<(LinkRecord, RoundReport), SyncError> {
    let l = app
        .store
        .link(org, link)
        .await?
        .ok_or(SyncError::NotFound("link"))?;
    let report = run_round(app, &l).await;
    let after = app
        .store
        .link(org, link)
        .await?
        .ok_or(SyncError::NotFound("link"))?;
    Ok((after, report))
}

/// One round for one link. Errors are recorded on the link (and on the connection when it needs
/// re-authorization), never lost, and never abort other links.
#[tracing::instrument(skip_all, fields(org = %l.organization_id, link = %l.id, connection = %l.connection_id, provider))]
pub async fn run_round(app: &AppState, l: &LinkRecord) -> RoundReport {
    let lock = app.sync.link_lock(&l.id);
    let _guard = lock.lock().await;
    let mut report = RoundReport::default();
    if let Err(e) = round(app, l, &mut report).await {
        let message = e.to_string();
        if let RoundError::NeedsReauth(why) = &e {
            if let Err(store) = app
                .store
                .set_connection_state(&l.connection_id, NEEDS_REAUTH, Some(why))
                .await
            {
                // The next round finds the grant refused again and retries this.
                tracing::error!(error = %store, "could not mark the connection as needing re-authorization");
            }
        }
        record_on_link(app, l, &message).await;
        report.error = Some(message);
    }
    report
}

/// Shows `message` on the link until its next successful pull.
async fn record_on_link(app: &AppState, l: &LinkRecord, message: &str) {
    if let Err(e) = app.store.set_link_error(&l.id, Some(message)).await {
        // The round's outcome is still in its report and this log; only the link's
        // `lastError` misses it until the next round.
        tracing::error!(error = %e, note = message, "could not record the round's outcome on the link");
    }
}

async fn round(app: &AppState, l: &LinkRecord, report: &mut RoundReport) -> Result<(), RoundError> {
    let connection = app
        .store
        .connection_by_id(&l.connection_id)
        .await
        .map_err(|e| RoundError::Local(e.to_string()))?
        .ok_or_else(|| RoundError::Local("the connection no longer exists".into()))?;
    tracing::Span::current().record("provider", Provider::of(&connection).as_str());
    if connection.state != ACTIVE {
        return Err(RoundError::NeedsReauth(
            connection
                .last_error
                .unwrap_or_else(|| "the connection needs to be authorized again".into()),
        ));
    }
    let link = engine_link(app, l)
        .await
        .map_err(SyncError::into_round_error)?;
    let remote = remote_for(app, &connection, &link).map_err(SyncError::into_round_error)?;
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
        record_on_link(app, l, &notes.join(" | ")).await;
    }
    Ok(())
}

/// The link as the engine sees it.
async fn engine_link(app: &AppState, l: &LinkRecord) -> Result<Link, SyncError> {
    let org: OrganizationId = l
        .organization_id
        .parse()
        .map_err(|_| SyncError::Corrupt("link's organization"))?;
    let calendar: CalendarId = l
        .calendar_id
        .parse()
        .map_err(|_| SyncError::Corrupt("link's calendar"))?;
    let cal = app
        .store
        .calendar(org, calendar)
        .await?
        .ok_or(SyncError::NotFound("calendar"))?;
    Ok(Link {
        id: l.id.clone(),
        organization: org,
        calendar,
        calendar_zone: cal.time_zone,
        remote_calendar: l.remote_calendar_id.clone(),
        direction: Direction::parse(&l.direction).unwrap_or(Direction::TwoWay),
        cursor: l.sync_cursor.clone(),
    })
}

/// The provider adapter for a link's connection.
fn remote_for(
    app: &AppState,
    c: &ConnectionRecord,
    link: &Link,
) -> Result<Box<dyn RemoteCalendar>, SyncError> {
    Ok(match Provider::of(c) {
        Provider::Google => Box::new(GoogleCalendar::new(
            google_client_for(app, c)?,
            link.calendar_zone,
        )),
        Provider::Outlook => {
            let settings = &app.sync.settings;
            let options = OutlookOptions {
                fallback_nearest: settings.outlook_fallback
                    == crate::config::OutlookFallback::Nearest,
                window_past_days: settings.outlook_window_past_days,
                window_future_days: settings.outlook_window_future_days,
                ..OutlookOptions::default()
            };
            Box::new(OutlookCalendar::new(
                graph_client_for(app, c)?,
                link.calendar_zone,
                options,
            ))
        }
    })
}
