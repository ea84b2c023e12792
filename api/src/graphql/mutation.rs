use super::error::respond;
use super::inputs::*;
use super::types::*;
use crate::services;
use almanac_domain::{CalendarId, SeriesId};
use async_graphql::{Context, Object, SimpleObject, ID};
use std::sync::Arc;

#[derive(Default)]
pub struct MutationRoot;

crate::payloads! {
    /// What `createCalendar` created.
    CreateCalendarPayload {
        /// The new calendar; null when refused (see `userErrors`).
        calendar: CalendarNode,
    }
    /// The calendar `setCalendarAvailability` changed, as it is now.
    SetCalendarAvailabilityPayload {
        /// The calendar with its new availability; null when refused (see `userErrors`).
        calendar: CalendarNode,
    }
    /// What `createSeries` created.
    CreateSeriesPayload {
        /// The new series (send its `version` back as `expectedVersion` to change it); null when
        /// refused (see `userErrors`).
        series: SeriesNode,
    }
    /// What `updateSeries` changed.
    UpdateSeriesPayload {
        /// The series as it is now, with its new `version`; null when refused (see `userErrors`).
        series: SeriesNode,
        /// What happened to the series' exceptions and locked occurrences.
        report: super::occurrence_edits::EditReportOut,
    }
    /// What `deleteSeries` deleted.
    DeleteSeriesPayload {
        /// The deleted series' id (`ser_…`), to evict from client caches; null when refused.
        deleted_series_id: ID,
    }
    /// The API key `createApiKey` made, with its secret (the only time it is shown).
    CreateApiKeyPayload {
        /// The new key; null when refused (see `userErrors`).
        api_key: ApiKey,
        /// Send as `Authorization: Bearer <secret>`. Shown only now; only its hash is stored.
        secret: String,
    }
    /// The key `revokeApiKey` revoked.
    RevokeApiKeyPayload {
        /// The key, now with `revokedAt` set; null when refused (see `userErrors`).
        api_key: ApiKey,
    }
}

/// An organization's API key (its secret is only ever in `CreateApiKeyPayload`).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ApiKey {
    #[graphql(skip)]
    pub key_id: String,
    /// The label given at creation, to tell keys apart (not unique).
    name: String,
    /// "read" or "read write".
    scopes: String,
    /// When the key was created.
    created_at: super::scalars::Instant,
    /// When the key was revoked (requests with it are refused from then on); null while it is valid.
    revoked_at: Option<super::scalars::Instant>,
}

/// API keys are stored under their bare id (it is part of the secret token, `alm_<id>_…`), and
/// shown with a prefix like every other global id.
const API_KEY_ID_PREFIX: &str = "key_";

/// The stored id of an API key, from its global id or (as listed before ids had a prefix) its
/// bare id.
pub(crate) fn api_key_store_id(id: &str) -> Option<String> {
    let bare = id.strip_prefix(API_KEY_ID_PREFIX).unwrap_or(id);
    (bare.len() == 32 && bare.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| bare.to_ascii_lowercase())
}

impl From<crate::store::ApiKeyRecord> for ApiKey {
    fn from(k: crate::store::ApiKeyRecord) -> Self {
        ApiKey {
            key_id: k.id,
            name: k.name,
            scopes: k.scopes,
            created_at: super::scalars::Instant::at(k.created_at),
            revoked_at: k.revoked_at.map(super::scalars::Instant::at),
        }
    }
}

#[async_graphql::ComplexObject]
impl ApiKey {
    /// Global id (`key_…`). Also the key's public part: a secret starts `alm_<id without key_>_`.
    pub async fn id(&self) -> ID {
        ID(format!("{API_KEY_ID_PREFIX}{}", self.key_id))
    }
}

/// A new API key for your organization.
#[derive(async_graphql::InputObject)]
pub struct CreateApiKeyInput {
    /// A label to tell keys apart, e.g. "booking site": 1–200 characters, trimmed; not secret,
    /// need not be unique.
    name: String,
    /// "read", "write" or "read,write".
    #[graphql(default_with = "\"read,write\".to_string()")]
    scopes: String,
}

/// The API key to revoke.
#[derive(async_graphql::InputObject)]
pub struct RevokeApiKeyInput {
    /// The key's global id (`key_…`, as in `ApiKey.id`); a bare id without `key_` is accepted too.
    id: ID,
}

#[Object]
impl MutationRoot {
    /// Creates an API key for your organization. Needs the `write` scope. Refused with
    /// BAD_USER_INPUT for an unknown scope.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's name and scopes.")] input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let outcome = async {
            let (key, secret) = services::api_keys::create(
                &app(ctx).store,
                viewer(ctx).organization,
                &input.name,
                &input.scopes,
            )
            .await?;
            Ok(CreateApiKeyPayload {
                api_key: Some(key.into()),
                secret: Some(secret),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Revokes one of your organization's API keys: requests with it are refused from now on,
    /// and its open subscriptions end. NOT_FOUND when no key of yours has the id; BAD_USER_INPUT
    /// when the id is not an API key id.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which key to revoke.")] input: RevokeApiKeyInput,
    ) -> async_graphql::Result<RevokeApiKeyPayload> {
        let outcome = async {
            let id = api_key_store_id(input.id.as_str())
                .ok_or_else(|| super::error::ApiError::invalid("id", "is not an API key id"))?;
            let key =
                services::api_keys::revoke(&app(ctx).store, viewer(ctx).organization, &id).await?;
            Ok(RevokeApiKeyPayload {
                api_key: Some(key.into()),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Creates a calendar in your organization. BAD_USER_INPUT for an unknown time zone or bad
    /// working hours (`userErrors[].field` names the entry).
    async fn create_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar's name, zone and availability.")] input: CreateCalendarInput,
    ) -> async_graphql::Result<CreateCalendarPayload> {
        let outcome = async {
            let cmd = services::calendars::NewCalendar {
                name: input.name,
                time_zone: input.time_zone,
                availability: input.availability.map(TryInto::try_into).transpose()?,
            };
            let calendar =
                services::calendars::create(app(ctx), viewer(ctx).organization, cmd).await?;
            Ok(CreateCalendarPayload {
                calendar: Some(CalendarNode(calendar)),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Sets how a calendar's available time is defined (working hours, or explicit AVAILABLE series).
    /// NOT_FOUND for a calendar not in your organization; BAD_USER_INPUT for bad working hours.
    async fn set_calendar_availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar and its new availability.")]
        input: SetCalendarAvailabilityInput,
    ) -> async_graphql::Result<SetCalendarAvailabilityPayload> {
        let outcome = async {
            let id = parse_id::<CalendarId>("calendarId", &input.calendar_id, "calendar")?;
            let calendar = services::calendars::set_availability(
                app(ctx),
                viewer(ctx).organization,
                id,
                input.availability.try_into()?,
            )
            .await?;
            Ok(SetCalendarAvailabilityPayload {
                calendar: Some(CalendarNode(calendar)),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Creates a series: a single occurrence, or a recurring one when `recurrence` is given.
    /// Refused with NOT_FOUND (calendar), BAD_USER_INPUT (zone, duration, times),
    /// RECURRENCE_INVALID (the RRULE) or CONFLICT (with `conflictPolicy: REJECT` and busy time in
    /// the way, listed in `extensions.conflicts`).
    async fn create_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The series to create.")] input: CreateSeriesInput,
    ) -> async_graphql::Result<CreateSeriesPayload> {
        let outcome = async {
            let schedule = input.schedule();
            let cmd = services::series::NewSeries {
                calendar: parse_id::<CalendarId>("calendarId", &input.calendar_id, "calendar")?,
                kind: input.kind.into(),
                transparent: input.show_as == ShowAs::Free,
                reject_conflicts: input.conflict_policy == ConflictPolicy::Reject,
                title: input.title,
                description: input.description,
                schedule,
            };
            let series = services::series::create(app(ctx), viewer(ctx).organization, cmd).await?;
            Ok(CreateSeriesPayload {
                series: Some(SeriesNode(Arc::new(series))),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Changes the whole series (every occurrence) — the same as `editOccurrence` with scope ALL.
    /// Exceptions follow the schedule (see the report); locked occurrences are left alone.
    /// Refused with CONFLICT when `expectedVersion` is stale, NOT_FOUND for an unknown series,
    /// BAD_USER_INPUT / RECURRENCE_INVALID for bad values.
    async fn update_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The series, the version you read, and the fields to change.")]
        input: UpdateSeriesInput,
    ) -> async_graphql::Result<UpdateSeriesPayload> {
        let outcome = async {
            let schedule = input.schedule();
            let cmd = services::series::SeriesChanges {
                id: parse_id::<SeriesId>("id", &input.id, "series")?,
                expected_version: i64::from(input.expected_version),
                transparent: input.show_as.map(|s| s == ShowAs::Free),
                kind: input.kind.map(Into::into),
                title: input.title,
                description: set_or_clear(input.description),
                schedule,
            };
            let (series, report) =
                services::series::update(app(ctx), viewer(ctx).organization, cmd).await?;
            let report = super::occurrence_edits::report_out(&report, series.lineage().root);
            Ok(UpdateSeriesPayload {
                series: Some(SeriesNode(Arc::new(series))),
                report: Some(report),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Deletes the series and its exceptions. Refused (LOCKED) while it has locked occurrences.
    /// CONFLICT when `expectedVersion` is stale; NOT_FOUND for an unknown series.
    async fn delete_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The series and the version you read.")] input: DeleteSeriesInput,
    ) -> async_graphql::Result<DeleteSeriesPayload> {
        let outcome = async {
            let id = parse_id::<SeriesId>("id", &input.id, "series")?;
            services::series::delete(
                app(ctx),
                viewer(ctx).organization,
                id,
                i64::from(input.expected_version),
            )
            .await?;
            Ok(DeleteSeriesPayload {
                deleted_series_id: Some(ID(id.to_string())),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }
}
