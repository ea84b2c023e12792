//! Live updates over WebSocket (graphql-transport-ws, the protocol of the `graphql-ws` npm
//! library): which series changed, and which occurrences appeared, changed or disappeared in a
//! window — for every mutation, on every API process.

use super::error::{ApiError, ResultExt};
use super::scalars::Instant;
use super::types::{app, output_zone, parse_calendar_ids, viewer, OccurrenceNode, SeriesNode};
use crate::changes::Change;
use crate::services;
use almanac_domain::time::TimeWindow;
use almanac_domain::CalendarId;
use async_graphql::{Context, Enum, SimpleObject, Subscription, ID};
use futures_util::stream::{self, Stream, StreamExt};
use std::sync::Arc;

/// What happened to a series.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SeriesChangeKind {
    /// It was created (imports and provider pulls included).
    Created,
    /// It changed, an edit of one of its occurrences included; `series.version` went up.
    Updated,
    /// It was deleted; `series` is null.
    Deleted,
}

/// One series' change, sent after the mutation that made it committed.
#[derive(SimpleObject)]
pub struct SeriesChanged {
    /// The series' id (`ser_…`).
    pub series_id: ID,
    /// The id (`cal_…`) of the subscribed calendar it is (or was) on.
    pub calendar_id: ID,
    /// Created, updated or deleted.
    pub change: SeriesChangeKind,
    /// The series now (null when deleted).
    pub series: Option<SeriesNode>,
}

/// How the occurrences in a subscription's window changed after one mutation; only occurrences
/// that overlap the window are listed.
#[derive(SimpleObject)]
pub struct OccurrencesChanged {
    /// Occurrences that now show and did not before.
    pub added: Vec<OccurrenceNode>,
    /// Same id, different time, title, status, …
    pub changed: Vec<OccurrenceNode>,
    /// Ids of occurrences that no longer show.
    pub removed: Vec<ID>,
}

/// The feed as a stream of changes for one organization (lagging subscribers skip, not fail).
fn changes_for(ctx: &Context<'_>, calendars: Vec<CalendarId>) -> impl Stream<Item = Arc<Change>> {
    let org = viewer(ctx).organization;
    let rx = app(ctx).changes.subscribe();
    stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(c) => return Some((c, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "a subscriber fell behind")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .filter(move |c| {
        let keep = c.organization == org
            && c.before
                .iter()
                .chain(c.after.iter())
                .any(|s| calendars.contains(&s.calendar));
        async move { keep }
    })
}

async fn check_calendars(ctx: &Context<'_>, ids: &[ID]) -> Result<Vec<CalendarId>, ApiError> {
    let cals = parse_calendar_ids(ids)?;
    services::calendars::require_all(app(ctx), viewer(ctx).organization, &cals).await?;
    Ok(cals)
}

#[derive(Default)]
pub struct SubscriptionRoot;

/// Live updates for the calendars you name, pushed after each mutation commits (on any API
/// process), over WebSocket at `/graphql/ws` (graphql-transport-ws) or Server-Sent Events at
/// `/graphql/stream` (graphql-sse). Refused with NOT_FOUND when a calendar is not in your
/// organization, BAD_USER_INPUT for an empty list. A subscription whose API key is revoked or
/// whose JWT expires ends (WebSocket close code 4403; on SSE a last UNAUTHENTICATED error).
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Series created, updated or deleted in the calendars.
    async fn series_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendars to watch (`cal_…`), at least one.")] calendar_ids: Vec<ID>,
    ) -> async_graphql::Result<impl Stream<Item = SeriesChanged>> {
        let cals = check_calendars(ctx, &calendar_ids).await.gql()?;
        let wanted = cals.clone();
        Ok(changes_for(ctx, cals).flat_map(move |c| {
            let mut out = Vec::new();
            for s in c.after.iter().filter(|s| wanted.contains(&s.calendar)) {
                let existed = c.before.iter().any(|b| b.id == s.id);
                out.push(SeriesChanged {
                    series_id: ID(s.id.to_string()),
                    calendar_id: ID(s.calendar.to_string()),
                    change: if existed {
                        SeriesChangeKind::Updated
                    } else {
                        SeriesChangeKind::Created
                    },
                    series: Some(SeriesNode(Arc::new(s.clone()))),
                });
            }
            for b in c
                .before
                .iter()
                .filter(|b| wanted.contains(&b.calendar) && !c.after.iter().any(|a| a.id == b.id))
            {
                out.push(SeriesChanged {
                    series_id: ID(b.id.to_string()),
                    calendar_id: ID(b.calendar.to_string()),
                    change: SeriesChangeKind::Deleted,
                    series: None,
                });
            }
            stream::iter(out)
        }))
    }

    /// Occurrences added, changed or removed in [from, to) of the calendars, per change.
    async fn occurrences_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendars to watch (`cal_…`), at least one.")] calendar_ids: Vec<ID>,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(desc = "Window end (exclusive), after `from`.")] to: Instant,
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:), end(timeZone:), or localStart/localEnd in the series' zone.",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = OccurrencesChanged>> {
        let window = TimeWindow::new(from.utc(), to.utc())
            .map_err(ApiError::from)
            .gql()?;
        output_zone(time_zone.as_deref()).gql()?;
        let cals = check_calendars(ctx, &calendar_ids).await.gql()?;
        let wanted = cals.clone();
        Ok(changes_for(ctx, cals).filter_map(move |c| {
            let pick = |v: &[almanac_domain::series::Series]| {
                v.iter()
                    .filter(|s| wanted.contains(&s.calendar))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let d = services::edits::diff(pick(&c.before), pick(&c.after), window);
            let node = |(o, s): (
                almanac_domain::occurrence::Occurrence,
                almanac_domain::series::Series,
            )| OccurrenceNode {
                occurrence: o,
                series: Arc::new(s),
            };
            let event = OccurrencesChanged {
                removed: d
                    .removed
                    .iter()
                    .map(|(o, _)| ID(o.id.to_string()))
                    .collect(),
                added: d.added.into_iter().map(node).collect(),
                changed: d.changed.into_iter().map(node).collect(),
            };
            let any =
                !event.added.is_empty() || !event.changed.is_empty() || !event.removed.is_empty();
            async move { any.then_some(event) }
        }))
    }
}
