//! iCalendar feeds and imports: `createIcsFeed`, `revokeIcsFeed`, `importIcs`, and the `IcsFeed`
//! type behind `Calendar.icsFeeds`.

use super::error::{respond, ApiError, ResultExt};
use super::inputs::parse_id;
use super::scalars::Instant;
use super::types::{app, viewer, CalendarNode, SeriesNode};
use crate::services;
use crate::services::ServiceError;
use crate::state::AppState;
use crate::store::IcsFeedRecord;
use almanac_domain::ids::FeedId;
use almanac_domain::series::Calendar;
use almanac_domain::{CalendarId, OrganizationId};
use async_graphql::dataloader::Loader;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct IcsMutations;

crate::payloads! {
    /// The feed `createIcsFeed` published, with its secret address (the only time it is shown).
    CreateIcsFeedPayload {
        /// The new feed; null when refused (see `userErrors`).
        feed: IcsFeed,
        /// The feed's address with its secret, for calendar apps to subscribe to. Shown only now:
        /// only a hash of the secret is stored. Anyone with it can read the calendar until the
        /// feed is revoked.
        secret_url: String,
    }
    /// The feed `revokeIcsFeed` revoked.
    RevokeIcsFeedPayload {
        /// The feed, now with `revokedAt` set; null when refused (see `userErrors`).
        feed: IcsFeed,
    }
    /// What `importIcs` imported and what it left out.
    ImportIcsPayload {
        /// The series made from the file's events, in file order. An event imported into this
        /// calendar before (same UID) replaces that series: same id, next version. Null when
        /// refused.
        series: Vec<SeriesNode>,
        /// Events (or single overrides) that were not imported, with the reason; null when refused.
        skipped: Vec<IcsSkippedEvent>,
    }
}

pub struct IcsFeed(pub IcsFeedRecord);

/// A calendar published as an iCalendar feed at a secret URL (`GET /ics/<secret>.ics`).
#[Object(name = "IcsFeed")]
impl IcsFeed {
    /// Global id (`feed_…`), as `revokeIcsFeed` takes it. Not part of the feed's URL.
    pub async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The feed's address with the secret left out but its last four characters, to tell feeds
    /// apart. The full address is only in `createIcsFeed.secretUrl`.
    async fn url(&self, ctx: &Context<'_>) -> String {
        services::ics::redacted_url(app(ctx), &self.0)
    }
    /// The id (`cal_…`) of the calendar the feed publishes.
    async fn calendar_id(&self) -> ID {
        ID(self.0.calendar_id.clone())
    }
    /// The calendar the feed publishes.
    async fn calendar(&self, ctx: &Context<'_>) -> async_graphql::Result<CalendarNode> {
        let id: CalendarId = self
            .0
            .calendar_id
            .parse()
            .map_err(|_| ApiError::NotFound("calendar"))
            .gql()?;
        let found = match ctx.data_opt::<super::loaders::CalendarsOf>() {
            Some(loader) => loader
                .load_one(id)
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
                .gql()?,
            None => services::calendars::find(app(ctx), viewer(ctx).organization, id)
                .await
                .gql()?,
        };
        found
            .map(CalendarNode)
            .ok_or(ApiError::NotFound("calendar"))
            .gql()
    }
    /// When the feed was created.
    async fn created_at(&self) -> Instant {
        Instant::at(self.0.created_at)
    }
    /// Set once the feed was revoked; its URL then answers 404.
    async fn revoked_at(&self) -> Option<Instant> {
        self.0.revoked_at.map(Instant::at)
    }
}

/// An event of an imported file that was not imported (or one of its overrides), and why.
#[derive(SimpleObject)]
pub struct IcsSkippedEvent {
    /// The event's UID (null when it had none).
    pub uid: Option<String>,
    /// Set when only this override (RECURRENCE-ID) was left out; the event itself was imported.
    pub recurrence_id: Option<Instant>,
    /// Why it was left out, for people (e.g. an unsupported RRULE part); not a stable code.
    pub reason: String,
}

/// The calendar to publish.
#[derive(InputObject)]
pub struct CreateIcsFeedInput {
    /// The calendar's id (`cal_…`); NOT_FOUND when it is not in your organization.
    pub calendar_id: ID,
}

/// The feed to revoke.
#[derive(InputObject)]
pub struct RevokeIcsFeedInput {
    /// The feed's id (`feed_…`, as in `IcsFeed.id`); NOT_FOUND when it is not in your organization.
    pub id: ID,
}

/// An iCalendar file and the calendar to import it into.
#[derive(InputObject)]
pub struct ImportIcsInput {
    /// The calendar to import into (`cal_…`); NOT_FOUND when it is not in your organization.
    pub calendar_id: ID,
    /// The iCalendar (RFC 5545) file's text: at most 1 MiB and 5,000 VEVENTs.
    pub ics: String,
}

#[Object]
impl IcsMutations {
    /// Publishes a calendar as an iCalendar feed at a new secret URL (`secretUrl`, shown once).
    /// NOT_FOUND for a calendar not in your organization.
    async fn create_ics_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar to publish.")] input: CreateIcsFeedInput,
    ) -> async_graphql::Result<CreateIcsFeedPayload> {
        let outcome = async {
            let calendar = parse_id::<CalendarId>("calendarId", &input.calendar_id, "calendar")?;
            let created =
                services::ics::create_feed(app(ctx), viewer(ctx).organization, calendar).await?;
            Ok(CreateIcsFeedPayload {
                feed: Some(IcsFeed(created.feed)),
                secret_url: Some(created.secret_url),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Revokes a feed: its URL answers 404 from now on, like one that never existed.
    /// NOT_FOUND for a feed not in your organization.
    async fn revoke_ics_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The feed to revoke.")] input: RevokeIcsFeedInput,
    ) -> async_graphql::Result<RevokeIcsFeedPayload> {
        let outcome = async {
            let id = parse_id::<FeedId>("id", &input.id, "feed")?;
            let feed = services::ics::revoke_feed(app(ctx), viewer(ctx).organization, id).await?;
            Ok(RevokeIcsFeedPayload {
                feed: Some(IcsFeed(feed)),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Imports an iCalendar file's events into a calendar, in one transaction: recurring events
    /// with their overrides become series and exceptions. A file that is not iCalendar is refused
    /// (BAD_USER_INPUT, nothing written), and so is one over the size limits (RANGE_TOO_LARGE);
    /// events that cannot be imported are listed in `skipped`. NOT_FOUND for a
    /// calendar not in your organization.
    async fn import_ics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar and the file's text.")] input: ImportIcsInput,
    ) -> async_graphql::Result<ImportIcsPayload> {
        let outcome = async {
            let calendar = parse_id::<CalendarId>("calendarId", &input.calendar_id, "calendar")?;
            let done =
                services::ics::import(app(ctx), viewer(ctx).organization, calendar, input.ics)
                    .await?;
            let skipped = done
                .skipped
                .into_iter()
                .map(|s| IcsSkippedEvent {
                    uid: s.uid,
                    recurrence_id: s.recurrence_id.map(|r| r.instant().into()),
                    reason: s.reason,
                })
                .collect();
            Ok(ImportIcsPayload {
                series: Some(done.series.into_iter().map(SeriesNode).collect()),
                skipped: Some(skipped),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }
}

/// `Calendar.icsFeeds`: batched per request when the loader is present.
pub async fn feeds_of(
    ctx: &Context<'_>,
    calendar: &Calendar,
) -> async_graphql::Result<Vec<IcsFeed>> {
    let rows = match ctx.data_opt::<IcsFeedsOf>() {
        Some(loader) => loader
            .load_one(calendar.id)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
            .gql()?
            .unwrap_or_default(),
        None => services::ics::feeds_of(app(ctx), viewer(ctx).organization, &[calendar.id])
            .await
            .gql()?,
    };
    Ok(rows.into_iter().map(IcsFeed).collect())
}

/// The feeds of each calendar (for `Calendar.icsFeeds` on a page of calendars).
pub struct IcsFeedsLoader {
    pub app: AppState,
    pub organization: OrganizationId,
}

impl Loader<CalendarId> for IcsFeedsLoader {
    type Value = Vec<IcsFeedRecord>;
    type Error = Arc<ServiceError>;

    async fn load(
        &self,
        ids: &[CalendarId],
    ) -> Result<HashMap<CalendarId, Vec<IcsFeedRecord>>, Self::Error> {
        let found = services::ics::feeds_of(&self.app, self.organization, ids)
            .await
            .map_err(Arc::new)?;
        Ok(super::loaders::grouped(ids, found, |f| {
            f.calendar_id.parse::<CalendarId>().ok()
        }))
    }
}

pub type IcsFeedsOf =
    async_graphql::dataloader::DataLoader<IcsFeedsLoader, async_graphql::dataloader::HashMapCache>;
