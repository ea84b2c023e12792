//! Provider sync in the API: connecting accounts, linking calendars, sync state, forcing a
//! round, and what each provider holds of a series (its push fidelity).

use super::error::{respond, ApiError, ResultExt};
use super::inputs::parse_id;
use super::scalars::Instant;
use super::types::{app, viewer, CalendarNode};
use crate::services;
use crate::store::sync::{ConnectionRecord, LinkRecord, RemoteSeriesRecord};
use crate::store::Store;
use crate::sync::links::RemoteCalendarInfo;
use crate::sync::{Provider, SyncError};
use almanac_domain::series::Series;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use almanac_providers::sync::engine::Direction;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use std::collections::HashMap;
use std::sync::Arc;

/// What a sync use case's failure means to a GraphQL client.
impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotConfigured(_) => ApiError::NotConfigured(e.to_string()),
            SyncError::NotFound(what) => ApiError::NotFound(what),
            SyncError::Invalid { field, message } => ApiError::invalid(field, message),
            // Only account-level calls (listing calendars) reach clients with these: the account
            // is what the client named, and what it must fix (reconnect or pick another).
            SyncError::ProviderRefused { .. } | SyncError::NeedsReauthorization(_) => {
                ApiError::invalid("accountId", e.to_string())
            }
            SyncError::Store(e) => ApiError::from(e),
            SyncError::UnknownAuthorization
            | SyncError::Provider(_)
            | SyncError::GoogleSetup(_)
            | SyncError::GraphSetup(_)
            | SyncError::Unsealable(_)
            | SyncError::Corrupt(_) => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

#[derive(Default)]
pub struct SyncMutations;

#[derive(Default)]
pub struct SyncQuery;

/// Which way changes flow between an Almanac calendar and its linked provider calendar.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SyncDirection {
    /// Changes flow both ways.
    TwoWay,
    /// Almanac's series are pushed; the provider's changes are not pulled.
    PushOnly,
    /// The provider's events are pulled; nothing is pushed.
    PullOnly,
}

impl From<SyncDirection> for Direction {
    fn from(d: SyncDirection) -> Self {
        match d {
            SyncDirection::TwoWay => Direction::TwoWay,
            SyncDirection::PushOnly => Direction::PushOnly,
            SyncDirection::PullOnly => Direction::PullOnly,
        }
    }
}

fn direction_out(s: &str) -> SyncDirection {
    match Direction::parse(s) {
        Some(Direction::PushOnly) => SyncDirection::PushOnly,
        Some(Direction::PullOnly) => SyncDirection::PullOnly,
        _ => SyncDirection::TwoWay,
    }
}

/// Whether Almanac can still use a provider account's grant.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProviderAccountState {
    /// The grant works; its links sync.
    Active,
    /// The provider refused the stored grant (revoked, expired): connect again. Sync of its links
    /// is paused; nothing local was deleted and pending changes are kept.
    NeedsReauth,
}

/// How faithfully a provider holds a pushed series.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Fidelity {
    /// The provider shows exactly the occurrences Almanac shows.
    Exact,
    /// Pushed, but something could not be represented (see `fidelityDetail`).
    Degraded,
    /// Not pushed (see `fidelityDetail`).
    Rejected,
}

pub struct ProviderAccount(pub ConnectionRecord);

/// A Google or Microsoft account connected by a user of your organization, through which calendars
/// are linked.
#[Object]
impl ProviderAccount {
    /// Global id (`con_…`), as `LinkCalendarInput.accountId` takes it.
    pub async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// "google" or "outlook".
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    /// The account, e.g. its e-mail address.
    async fn account(&self) -> &str {
        &self.0.account
    }
    /// Whether the grant still works; NEEDS_REAUTH means connect the account again.
    async fn state(&self) -> ProviderAccountState {
        if self.0.state == crate::sync::tokens::NEEDS_REAUTH {
            ProviderAccountState::NeedsReauth
        } else {
            ProviderAccountState::Active
        }
    }
    /// What the provider last answered when the grant failed, for people; null when it works.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the account was connected.
    async fn created_at(&self) -> Instant {
        Instant::at(self.0.created_at)
    }
    /// The calendars the account can see. Asks the provider on every read, so it can be slow or
    /// fail (NOT_CONFIGURED, or the provider's error) while the rest of the query answers.
    async fn remote_calendars(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<RemoteCalendar>> {
        let list =
            crate::sync::links::remote_calendars(app(ctx), viewer(ctx).organization, &self.0.id)
                .await
                .map_err(ApiError::from)
                .gql()?;
        Ok(list
            .into_iter()
            .map(|c| RemoteCalendar::new(&self.0.id, c))
            .collect())
    }
}

/// A calendar at the provider that a connected account can see, to choose for `linkCalendar`.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct RemoteCalendar {
    #[graphql(skip)]
    pub account_id: String,
    /// The provider's own id for the calendar, as `linkCalendar` takes it.
    pub remote_calendar_id: String,
    /// The calendar's name at the provider.
    pub name: String,
    /// Whether it is the account's main calendar.
    pub primary: bool,
    /// Whether Almanac may write to it (owner or writer access).
    pub writable: bool,
    /// Its IANA zone at the provider; null when the provider does not say.
    pub time_zone: Option<String>,
}

const REMOTE_CALENDAR_PREFIX: &str = "rcal_";

impl RemoteCalendar {
    pub(crate) fn new(account: &str, c: RemoteCalendarInfo) -> Self {
        RemoteCalendar {
            account_id: account.to_string(),
            remote_calendar_id: c.id,
            name: c.name,
            primary: c.primary,
            writable: c.writable,
            time_zone: c.time_zone,
        }
    }
}

#[async_graphql::ComplexObject]
impl RemoteCalendar {
    /// Global id (`rcal_…`, carrying account and provider calendar); `node(id:)` finds it again,
    /// and `LinkCalendarInput.remoteCalendarId` accepts it.
    pub async fn id(&self) -> ID {
        ID(remote_calendar_global_id(
            &self.account_id,
            &self.remote_calendar_id,
        ))
    }
}

/// A provider calendar has no id of ours, only the provider's (any text, unique per account):
/// the global id carries both, opaquely.
fn remote_calendar_global_id(account: &str, remote: &str) -> String {
    use base64::Engine;
    format!(
        "{REMOTE_CALENDAR_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{account}\n{remote}"))
    )
}

/// The account id and the provider's calendar id inside a `RemoteCalendar` global id.
pub(crate) fn parse_remote_calendar_id(id: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.strip_prefix(REMOTE_CALENDAR_PREFIX)?)
        .ok()?;
    let (account, remote) = String::from_utf8(raw)
        .ok()?
        .split_once('\n')
        .map(|(a, r)| (a.to_string(), r.to_string()))?;
    (!account.is_empty() && !remote.is_empty()).then_some((account, remote))
}

/// A provider calendar of an account, looked up at the provider; None when the account is not
/// the organization's or no longer sees the calendar.
pub(crate) async fn remote_calendar(
    ctx: &Context<'_>,
    id: &str,
) -> async_graphql::Result<Option<RemoteCalendar>> {
    let Some((account, remote)) = parse_remote_calendar_id(id) else {
        return Err(ApiError::invalid(
            "id",
            format!("{id:?} is not an Almanac id"),
        ))
        .gql();
    };
    match crate::sync::links::remote_calendars(app(ctx), viewer(ctx).organization, &account).await {
        Ok(list) => Ok(list
            .into_iter()
            .find(|c| c.id == remote)
            .map(|c| RemoteCalendar::new(&account, c))),
        Err(SyncError::NotFound(_)) => Ok(None),
        Err(e) => Err(ApiError::from(e)).gql(),
    }
}

pub struct CalendarLink(pub LinkRecord);

/// A local calendar linked to a provider calendar, with its sync state.
#[Object]
impl CalendarLink {
    /// Global id (`lnk_…`), as `unlinkCalendar` and `syncCalendarLink` take it.
    pub async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The id (`cal_…`) of the local calendar.
    async fn calendar_id(&self) -> ID {
        ID(self.0.calendar_id.clone())
    }
    /// The local calendar.
    async fn calendar(&self, ctx: &Context<'_>) -> async_graphql::Result<CalendarNode> {
        let id: CalendarId = self
            .0
            .calendar_id
            .parse()
            .map_err(|_| ApiError::NotFound("calendar"))
            .gql()?;
        services::calendars::get(app(ctx), viewer(ctx).organization, id)
            .await
            .map(CalendarNode)
            .gql()
    }
    /// The provider account the link syncs through.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<ProviderAccount> {
        let c = app(ctx)
            .store
            .connection(viewer(ctx).organization, &self.0.connection_id)
            .await
            .map_err(ApiError::from)
            .gql()?;
        c.map(ProviderAccount)
            .ok_or(ApiError::NotFound("provider account"))
            .gql()
    }
    /// The provider's id for the linked calendar (`RemoteCalendar.remoteCalendarId`).
    async fn remote_calendar_id(&self) -> &str {
        &self.0.remote_calendar_id
    }
    /// Which way changes flow.
    async fn direction(&self) -> SyncDirection {
        direction_out(&self.0.direction)
    }
    /// When the last pull round completed.
    async fn last_synced_at(&self) -> Option<Instant> {
        self.0.last_synced_at.map(Instant::at)
    }
    /// Local changes not yet pushed to the provider.
    async fn pending_changes(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        app(ctx)
            .store
            .pending_pushes(&self.0.id)
            .await
            .map_err(ApiError::from)
            .gql()
    }
    /// Why the last round stopped, if it did (cleared by the next successful pull).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Until when the provider sends push notifications for this link (null: none; the periodic
    /// sync still runs).
    async fn notifications_until(&self) -> Option<Instant> {
        self.0.channel_expires_at.map(Instant::at)
    }
}

/// A series as one linked provider holds it.
#[derive(SimpleObject)]
pub struct ProviderCopy {
    /// The link (`lnk_…`) through which the provider holds it.
    pub link_id: ID,
    /// The provider's event id (null when it holds nothing: the push was rejected).
    pub remote_id: Option<String>,
    /// How the last push came out; null when the series came from the provider and was never pushed.
    pub fidelity: Option<Fidelity>,
    /// What was lost (DEGRADED) or why it was refused (REJECTED).
    pub fidelity_detail: Option<String>,
    /// When this copy was last pushed or pulled.
    pub updated_at: Instant,
}

fn copy_out(r: RemoteSeriesRecord) -> ProviderCopy {
    ProviderCopy {
        link_id: ID(r.link_id),
        remote_id: r.remote_id,
        fidelity: r.fidelity.as_deref().map(|f| match f {
            "DEGRADED" => Fidelity::Degraded,
            "REJECTED" => Fidelity::Rejected,
            _ => Fidelity::Exact,
        }),
        fidelity_detail: r.fidelity_detail,
        updated_at: Instant::at(r.updated_at),
    }
}

pub(crate) async fn provider_copies(
    ctx: &Context<'_>,
    series: &Series,
) -> async_graphql::Result<Vec<ProviderCopy>> {
    let rows = ctx
        .data_unchecked::<ProviderCopiesOf>()
        .load_one(series.id)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
        .gql()?;
    Ok(rows.unwrap_or_default().into_iter().map(copy_out).collect())
}

pub(crate) async fn links_of(
    ctx: &Context<'_>,
    calendar: CalendarId,
) -> async_graphql::Result<Vec<CalendarLink>> {
    let rows = ctx
        .data_unchecked::<LinksOf>()
        .load_one(calendar)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
        .gql()?;
    Ok(rows
        .unwrap_or_default()
        .into_iter()
        .map(CalendarLink)
        .collect())
}

/// The provider copies of each series (for `Series.providerCopies` on a page of series).
pub struct ProviderCopiesLoader {
    pub store: Arc<dyn Store>,
    pub organization: OrganizationId,
}

impl Loader<SeriesId> for ProviderCopiesLoader {
    type Value = Vec<RemoteSeriesRecord>;
    type Error = Arc<crate::store::StoreError>;

    async fn load(
        &self,
        ids: &[SeriesId],
    ) -> Result<HashMap<SeriesId, Vec<RemoteSeriesRecord>>, Self::Error> {
        let found = self
            .store
            .remote_series_of(self.organization, ids)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<SeriesId, Vec<RemoteSeriesRecord>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for r in found {
            if let Ok(id) = r.series_id.parse::<SeriesId>() {
                out.entry(id).or_default().push(r);
            }
        }
        Ok(out)
    }
}

/// The links of each calendar (for `Calendar.links` on a page of calendars).
pub struct LinksLoader {
    pub store: Arc<dyn Store>,
    pub organization: OrganizationId,
}

impl Loader<CalendarId> for LinksLoader {
    type Value = Vec<LinkRecord>;
    type Error = Arc<crate::store::StoreError>;

    async fn load(
        &self,
        ids: &[CalendarId],
    ) -> Result<HashMap<CalendarId, Vec<LinkRecord>>, Self::Error> {
        let found = self
            .store
            .links_of_calendars(self.organization, ids)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<CalendarId, Vec<LinkRecord>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for l in found {
            if let Ok(id) = l.calendar_id.parse::<CalendarId>() {
                out.entry(id).or_default().push(l);
            }
        }
        Ok(out)
    }
}

pub type ProviderCopiesOf = DataLoader<ProviderCopiesLoader, HashMapCache>;
pub type LinksOf = DataLoader<LinksLoader, HashMapCache>;

/// Options for starting an OAuth connection to a provider.
#[derive(InputObject)]
pub struct ConnectProviderInput {
    /// The account to preselect at the provider's sign-in page (`login_hint`), e.g. the user's
    /// address (at most 320 characters); the user can still choose another.
    pub login_hint: Option<String>,
}

/// A local calendar and the provider calendar to sync it with.
#[derive(InputObject)]
pub struct LinkCalendarInput {
    /// The local calendar (`cal_…`); NOT_FOUND when it is not in your organization.
    pub calendar_id: ID,
    /// The `ProviderAccount` to sync through (`con_…`).
    pub account_id: ID,
    /// A `remoteCalendarId` (or `id`) from `ProviderAccount.remoteCalendars` ("primary" works for
    /// Google).
    pub remote_calendar_id: String,
    /// Which way changes flow (default TWO_WAY).
    #[graphql(default_with = "SyncDirection::TwoWay")]
    pub direction: SyncDirection,
}

/// The link to remove.
#[derive(InputObject)]
pub struct UnlinkCalendarInput {
    /// The link's id (`lnk_…`); NOT_FOUND when it is not in your organization.
    pub id: ID,
}

/// The link to sync now.
#[derive(InputObject)]
pub struct SyncCalendarLinkInput {
    /// The link's id (`lnk_…`); NOT_FOUND when it is not in your organization.
    pub id: ID,
}

/// What a forced round did.
#[derive(SimpleObject, Default)]
pub struct SyncRound {
    /// Series created or updated at the provider.
    pub pushed: i32,
    /// Provider events deleted because their series was deleted here.
    pub deleted_remotely: i32,
    /// Pushes that failed (network or provider errors); they are retried later, with backoff.
    pub push_failures: i32,
    /// Series the provider refused to hold (`Series.providerCopies` says why).
    pub push_rejections: i32,
    /// Series created here from new provider events.
    pub created_locally: i32,
    /// Series updated here from changed provider events.
    pub updated_locally: i32,
    /// Series deleted here because their provider event was deleted.
    pub deleted_locally: i32,
    /// Provider changes that were our own writes coming back, or identical content.
    pub unchanged: i32,
    /// Provider changes held back because a local change to the same series is waiting to be pushed.
    pub deferred: i32,
    /// Provider events that could not be turned into series, with why.
    pub skipped: Vec<String>,
    /// Provider deletions not applied because they would have emptied the calendar.
    pub deletions_held: i32,
    /// Whether this round read the whole provider calendar (first round, or the provider
    /// expired the incremental sync token) rather than only changes.
    pub full_sync: bool,
    /// Why the round stopped early, for people; null when it completed.
    pub error: Option<String>,
}

fn n(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

crate::payloads! {
    /// Where to send the user to connect a Google account.
    ConnectGooglePayload {
        /// Send the user's browser here; Google redirects back to this server, which stores the
        /// account. Single use, expires at `expiresAt`.
        authorization_url: String,
        /// When `authorizationUrl` stops working; start again after it.
        expires_at: Instant,
    }
    /// Where to send the user to connect a Microsoft account.
    ConnectOutlookPayload {
        /// Send the user's browser here; Microsoft redirects back to this server, which stores
        /// the account. Single use, expires at `expiresAt`.
        authorization_url: String,
        /// When `authorizationUrl` stops working; start again after it.
        expires_at: Instant,
    }
    /// The link `linkCalendar` made.
    LinkCalendarPayload {
        /// The new link; null when refused (see `userErrors`).
        link: CalendarLink,
    }
    /// What `unlinkCalendar` removed.
    UnlinkCalendarPayload {
        /// The removed link's id (`lnk_…`), to evict from client caches; null when refused.
        unlinked_link_id: ID,
    }
    /// What `syncCalendarLink` did.
    SyncCalendarLinkPayload {
        /// The link with its sync state after the round; null when refused.
        link: CalendarLink,
        /// The round's counts; null when refused.
        round: SyncRound,
    }
}

/// The provider's sign-in address and when it expires.
async fn connect(
    ctx: &Context<'_>,
    provider: Provider,
    input: ConnectProviderInput,
) -> Result<(String, Instant), ApiError> {
    let v = viewer(ctx);
    let (url, expires) = crate::sync::oauth::begin_connect(
        app(ctx),
        provider,
        v.organization,
        v.user.clone(),
        input.login_hint.as_deref(),
    )
    .await?;
    Ok((url, Instant::at(expires)))
}

#[Object]
impl SyncMutations {
    /// Starts connecting a Google account (OAuth 2.0 with PKCE). NOT_CONFIGURED when the server
    /// has no Google client set up.
    async fn connect_google(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Sign-in options.")] input: ConnectProviderInput,
    ) -> async_graphql::Result<ConnectGooglePayload> {
        let outcome = connect(ctx, Provider::Google, input).await;
        respond(
            ctx,
            outcome.map(|(url, at)| ConnectGooglePayload {
                authorization_url: Some(url),
                expires_at: Some(at),
                ..Default::default()
            }),
        )
    }

    /// Starts connecting a Microsoft (Outlook) account (OAuth 2.0 with PKCE, `offline_access`).
    /// NOT_CONFIGURED when the server has no Microsoft client set up.
    async fn connect_outlook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Sign-in options.")] input: ConnectProviderInput,
    ) -> async_graphql::Result<ConnectOutlookPayload> {
        let outcome = connect(ctx, Provider::Outlook, input).await;
        respond(
            ctx,
            outcome.map(|(url, at)| ConnectOutlookPayload {
                authorization_url: Some(url),
                expires_at: Some(at),
                ..Default::default()
            }),
        )
    }

    /// Links a calendar to a provider calendar; its series are pushed on the next round.
    /// NOT_FOUND for a calendar or account not in your organization; BAD_USER_INPUT when
    /// `remoteCalendarId` names another account's calendar.
    async fn link_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar, account, provider calendar and direction.")]
        input: LinkCalendarInput,
    ) -> async_graphql::Result<LinkCalendarPayload> {
        let outcome = async {
            let calendar = parse_id::<CalendarId>("calendarId", &input.calendar_id, "calendar")?;
            // A RemoteCalendar's global id names its account too: it must be this one.
            let remote = match parse_remote_calendar_id(&input.remote_calendar_id) {
                Some((account, remote)) if account == input.account_id.as_str() => remote,
                Some(_) => {
                    return Err(ApiError::invalid(
                        "remoteCalendarId",
                        "names a calendar of another provider account than accountId",
                    ))
                }
                None => input.remote_calendar_id.clone(),
            };
            let link = crate::sync::links::link_calendar(
                app(ctx),
                viewer(ctx).organization,
                calendar,
                input.account_id.as_str(),
                &remote,
                input.direction.into(),
            )
            .await?;
            Ok(LinkCalendarPayload {
                link: Some(CalendarLink(link)),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Stops syncing a calendar (local data stays; the provider's copies stay too).
    async fn unlink_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The link to remove.")] input: UnlinkCalendarInput,
    ) -> async_graphql::Result<UnlinkCalendarPayload> {
        let outcome = async {
            crate::sync::links::unlink_calendar(
                app(ctx),
                viewer(ctx).organization,
                input.id.as_str(),
            )
            .await?;
            Ok(UnlinkCalendarPayload {
                unlinked_link_id: Some(input.id.clone()),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }

    /// Runs a sync round now: pushes pending local changes, then pulls the provider's.
    async fn sync_calendar_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The link to sync.")] input: SyncCalendarLinkInput,
    ) -> async_graphql::Result<SyncCalendarLinkPayload> {
        let outcome = async {
            let (link, r) = crate::sync::rounds::sync_link(
                app(ctx),
                viewer(ctx).organization,
                input.id.as_str(),
            )
            .await?;
            let round = SyncRound {
                pushed: n(r.push.pushed),
                deleted_remotely: n(r.push.deleted),
                push_failures: n(r.push.failed),
                push_rejections: n(r.push.rejected),
                created_locally: n(r.pull.created),
                updated_locally: n(r.pull.updated),
                deleted_locally: n(r.pull.deleted),
                unchanged: n(r.pull.unchanged),
                deferred: n(r.pull.deferred),
                skipped: r.pull.skipped,
                deletions_held: n(r.pull.deletions_held),
                full_sync: r.pull.full,
                error: r.error,
            };
            Ok(SyncCalendarLinkPayload {
                link: Some(CalendarLink(link)),
                round: Some(round),
                ..Default::default()
            })
        };
        respond(ctx, outcome.await)
    }
}

#[Object]
impl SyncQuery {
    /// Provider accounts connected in your organization.
    async fn provider_accounts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ProviderAccount>> {
        let rows = app(ctx)
            .store
            .connections(viewer(ctx).organization)
            .await
            .map_err(ApiError::from)
            .gql()?;
        Ok(rows.into_iter().map(ProviderAccount).collect())
    }

    /// Every calendar link in your organization.
    async fn calendar_links(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CalendarLink>> {
        let rows = app(ctx)
            .store
            .links_of_organization(viewer(ctx).organization)
            .await
            .map_err(ApiError::from)
            .gql()?;
        Ok(rows.into_iter().map(CalendarLink).collect())
    }
}
