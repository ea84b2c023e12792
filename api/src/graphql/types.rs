//! Output types. Each wraps a domain value; fields only format.

use super::error::{ApiError, ResultExt};
use super::scalars::{Instant, LocalDateTime, LocalTime};
use super::Viewer;
use crate::services;
use crate::state::AppState;
use almanac_domain::occurrence::{Occurrence, OccurrenceCursor, RecurrenceId};
use almanac_domain::recurrence::{format_duration, Length};
use almanac_domain::series::{Calendar, Exception, OccurrenceStatus, Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, SeriesId};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ErrorExtensions, Interface, Object, SimpleObject, ID};
use base64::Engine;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

/// What a series' occurrences mean for scheduling.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "SeriesKind")]
pub enum SeriesKindGql {
    /// Something that happens: a meeting, a class.
    Event,
    /// Time that must not be booked.
    Blocked,
    /// Time that may be booked.
    Available,
}

impl From<SeriesKindGql> for SeriesKind {
    fn from(k: SeriesKindGql) -> Self {
        match k {
            SeriesKindGql::Event => SeriesKind::Event,
            SeriesKindGql::Blocked => SeriesKind::Blocked,
            SeriesKindGql::Available => SeriesKind::Available,
        }
    }
}

impl From<SeriesKind> for SeriesKindGql {
    fn from(k: SeriesKind) -> Self {
        match k {
            SeriesKind::Event => SeriesKindGql::Event,
            SeriesKind::Blocked => SeriesKindGql::Blocked,
            SeriesKind::Available => SeriesKindGql::Available,
        }
    }
}

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Global id, prefixed by kind (`cal_…`, `ser_…`, `occ_…`, …); `Query.node(id:)` finds the object again."
))]
pub enum Node {
    Calendar(CalendarNode),
    Series(SeriesNode),
    Occurrence(OccurrenceNode),
    ApiKey(super::mutation::ApiKey),
    CalendarLink(super::sync::CalendarLink),
    IcsFeed(super::ics::IcsFeed),
    ProviderAccount(super::sync::ProviderAccount),
    RemoteCalendar(super::sync::RemoteCalendar),
}

pub fn app<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn viewer(ctx: &Context<'_>) -> Viewer {
    ctx.data_unchecked::<Viewer>().clone()
}

pub struct CalendarNode(pub Calendar);

/// A calendar of your organization: a named set of series with a home time zone and a rule for
/// when it is available to book.
#[Object(name = "Calendar")]
impl CalendarNode {
    /// Global id (`cal_…`): the `calendarId` that series, occurrences, feeds and links take.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The calendar's name, as given.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// IANA zone used for series that do not name one, and for working hours.
    async fn time_zone(&self) -> &str {
        self.0.time_zone.name()
    }
    /// How its available time is defined (see `workingHours` for DEFAULT).
    async fn availability_mode(&self) -> super::inputs::AvailabilityModeGql {
        match self.0.availability {
            almanac_domain::availability::AvailabilityMode::Explicit => {
                super::inputs::AvailabilityModeGql::Explicit
            }
            _ => super::inputs::AvailabilityModeGql::Default,
        }
    }
    /// Weekly working hours on the calendar's clocks (DEFAULT mode), in the order they were
    /// given; null when the calendar is not limited to working hours.
    async fn working_hours(&self) -> Option<Vec<WorkingHoursOut>> {
        match &self.0.availability {
            almanac_domain::availability::AvailabilityMode::Default {
                working_hours: Some(h),
            } => Some(
                h.rules
                    .iter()
                    .map(|r| WorkingHoursOut {
                        days: super::inputs::DayOfWeek::all_in(r.days),
                        start: LocalTime { seconds: r.start },
                        end: LocalTime { seconds: r.end },
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
    /// The provider calendars this calendar is linked to, with their sync state.
    async fn links(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::sync::CalendarLink>> {
        super::sync::links_of(ctx, self.0.id).await
    }
    /// The calendar's iCalendar feeds, oldest first (revoked ones too; never their secrets).
    async fn ics_feeds(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::ics::IcsFeed>> {
        super::ics::feeds_of(ctx, &self.0).await
    }
    /// The calendar's series, ordered by id. `first`/`last` are at most 200 (RANGE_TOO_LARGE
    /// beyond).
    async fn series(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The first n series after `after` (default 50 when `last` is not given)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "An `endCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the first page."
        )]
        after: Option<String>,
        #[graphql(
            desc = "The last n series before `before`; page backwards with `pageInfo.startCursor`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "A `startCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the last page."
        )]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, SeriesNode>> {
        let app = app(ctx);
        let take = super::paging::take(
            first,
            last,
            super::paging::DEFAULT_PAGE,
            app.limits.max_page,
        )
        .gql()?;
        let page =
            super::paging::id_page::<SeriesId>(take, after.as_deref(), before.as_deref()).gql()?;
        let found =
            services::series::page_of_calendar(app, viewer(ctx).organization, self.0.id, &page)
                .await
                .gql()?;
        let (rows, has_previous, has_next) = (found.rows, found.has_previous, found.has_next);
        let refs: Vec<&Series> = rows.iter().collect();
        prime_series_loaders(ctx, &refs, ctx.look_ahead().field("edges").field("node")).await?;
        prime_series_loaders(ctx, &refs, ctx.look_ahead().field("nodes")).await?;
        let mut conn = Connection::new(has_previous, has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|s| Edge::new(encode_id_cursor(&s.id), SeriesNode(Arc::new(s)))),
        );
        Ok(conn)
    }
}

/// The same hours on some days of the week.
#[derive(SimpleObject)]
#[graphql(name = "WorkingHours")]
pub struct WorkingHoursOut {
    /// The days these hours apply to, Monday first.
    pub days: Vec<super::inputs::DayOfWeek>,
    /// Local time the hours begin, on the calendar's clocks.
    pub start: LocalTime,
    /// After `start`, on the same day; 24:00 is the end of the day.
    pub end: LocalTime,
}

/// RRULE plus RDATE and EXDATE lists, as stored (the rule in canonical form).
#[derive(SimpleObject)]
#[graphql(name = "Recurrence")]
pub struct RecurrenceOut {
    /// The RFC 5545 RRULE value without the "RRULE:" prefix, e.g. "FREQ=WEEKLY;BYDAY=MO,WE";
    /// null when the series recurs only on `rdates`.
    pub rrule: Option<String>,
    /// Extra occurrence starts (RDATE), wall-clock in the series' zone.
    pub rdates: Vec<LocalDateTime>,
    /// Occurrence starts left out (EXDATE), wall-clock in the series' zone.
    pub exdates: Vec<LocalDateTime>,
}

#[derive(Clone)]
pub struct SeriesNode(pub Arc<Series>);

/// A schedule on a calendar: one occurrence, or many from a recurrence rule, with the edits made
/// to single occurrences. Times are wall-clock in the series' `timeZone`.
#[Object(name = "Series")]
impl SeriesNode {
    /// What each linked provider holds of this series, and how faithfully it was pushed.
    async fn provider_copies(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::sync::ProviderCopy>> {
        super::sync::provider_copies(ctx, &self.0).await
    }
    /// Global id (`ser_…`), as `series(id:)`, `updateSeries` and `deleteSeries` take it.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The id (`cal_…`) of the calendar the series is on.
    async fn calendar_id(&self) -> ID {
        ID(self.0.calendar.to_string())
    }
    /// The calendar the series is on.
    async fn calendar(&self, ctx: &Context<'_>) -> async_graphql::Result<CalendarNode> {
        let loader = ctx.data_unchecked::<super::loaders::CalendarsOf>();
        let cal = loader
            .load_one(self.0.calendar)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
            .gql()?;
        cal.map(CalendarNode)
            .ok_or(ApiError::NotFound("calendar"))
            .gql()
    }
    /// EVENT, BLOCKED or AVAILABLE.
    async fn kind(&self) -> SeriesKindGql {
        self.0.kind.into()
    }
    /// The series' title (occurrences may override it).
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Free text; null when none.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Wall-clock start of the first occurrence, in `timeZone`.
    async fn start(&self) -> LocalDateTime {
        LocalDateTime(self.0.schedule().start())
    }
    /// IANA zone whose clocks `start`, `end`, the rule and its dates follow (e.g. "America/New_York").
    async fn time_zone(&self) -> &str {
        self.0.schedule().zone().name()
    }
    /// ISO 8601 length of each occurrence.
    async fn duration(&self) -> String {
        format_duration(self.0.schedule().length())
    }
    /// Wall-clock end of the first occurrence when the length was given as an end.
    async fn end(&self) -> Option<LocalDateTime> {
        match self.0.schedule().length() {
            Length::WallClock { seconds } => Some(LocalDateTime(
                self.0.schedule().start() + chrono::Duration::seconds(seconds),
            )),
            Length::Duration { .. } => None,
        }
    }
    /// All-day series: `start` is a date at midnight and `duration` whole days.
    async fn all_day(&self) -> bool {
        self.0.schedule().all_day()
    }
    /// FREE (transparent) events do not make time busy.
    async fn show_as(&self) -> super::inputs::ShowAs {
        if self.0.transparent {
            super::inputs::ShowAs::Free
        } else {
            super::inputs::ShowAs::Busy
        }
    }
    /// How the series repeats; null for a single occurrence.
    async fn recurrence(&self) -> Option<RecurrenceOut> {
        self.0.schedule().recurrence().map(|r| RecurrenceOut {
            rrule: r.rule.as_ref().map(|r| r.to_rfc5545()),
            rdates: r.rdates.iter().copied().map(LocalDateTime).collect(),
            exdates: r.exdates.iter().copied().map(LocalDateTime).collect(),
        })
    }
    /// Increases with every change (including edits of single occurrences); send it back as
    /// `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version as i32
    }
    /// Where this series came from: "this and following" edits split a series into a chain.
    async fn lineage(&self) -> LineageOut {
        let l = self.0.lineage();
        LineageOut {
            root_series_id: ID(l.root.to_string()),
            parent_series_id: l.parent.map(|p| ID(p.to_string())),
            split_at: l.split_at.map(|r| r.instant().into()),
        }
    }
    /// The series split from this one (continuations), oldest first.
    async fn continuations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SeriesNode>> {
        let loader = ctx.data_unchecked::<super::loaders::ContinuationsOf>();
        let rows = loader
            .load_one(self.0.id)
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))
            .gql()?
            .unwrap_or_default();
        Ok(rows.into_iter().map(|s| SeriesNode(Arc::new(s))).collect())
    }
    /// Edits of single occurrences, by recurrence id.
    async fn exceptions(&self) -> Vec<ExceptionOut> {
        self.0.exceptions().iter().map(ExceptionOut::from).collect()
    }
    /// This series' occurrences overlapping [from, to), ordered by start. `first`/`last` are at
    /// most 1000 (RANGE_TOO_LARGE beyond).
    // The arguments are the GraphQL field's arguments.
    #[allow(clippy::too_many_arguments)]
    async fn occurrences(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(desc = "Window end (exclusive), after `from`.")] to: Instant,
        // Normalized client caches keep one value per occurrence field, so no field may depend on an
        // ancestor's argument: the zone moved to the fields themselves.
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:), end(timeZone:), or localStart/localEnd in the series' zone.",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
        #[graphql(
            desc = "The first n occurrences after `after` (default 100 when `last` is not given)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "An `endCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the first page."
        )]
        after: Option<String>,
        #[graphql(desc = "The last n occurrences before `before` (or the window's end).")]
        last: Option<i32>,
        #[graphql(
            desc = "A `startCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the last page."
        )]
        before: Option<String>,
        #[graphql(
            default = false,
            desc = "Also return cancelled occurrences (status CANCELLED)."
        )]
        include_cancelled: bool,
    ) -> async_graphql::Result<Connection<String, OccurrenceNode>> {
        let app = app(ctx);
        let window = TimeWindow::new(from.utc(), to.utc())
            .map_err(ApiError::from)
            .gql()?;
        output_zone(time_zone.as_deref()).gql()?;
        let take = super::paging::take(
            first,
            last,
            super::paging::DEFAULT_OCCURRENCE_PAGE,
            app.limits.max_occurrence_page,
        )
        .gql()?;
        let slice =
            super::paging::occurrence_slice(take, after.as_deref(), before.as_deref()).gql()?;
        let page =
            services::occurrences::merge(vec![(*self.0).clone()], window, slice, include_cancelled);
        occurrence_connection_for(ctx, page).await
    }
}

/// Where a series sits in a chain of "this and following" splits.
#[derive(SimpleObject)]
#[graphql(name = "Lineage")]
pub struct LineageOut {
    /// The first series of the chain; occurrence ids derive from it and survive splits.
    pub root_series_id: ID,
    /// The series this one was split from (`ser_…`); null for the root.
    pub parent_series_id: Option<ID>,
    /// The parent's occurrence (recurrence id) this series continues from.
    pub split_at: Option<Instant>,
}

/// An edit of one occurrence, as stored (RFC 5545 RECURRENCE-ID override).
#[derive(SimpleObject)]
#[graphql(name = "OccurrenceException")]
pub struct ExceptionOut {
    /// The original start of the occurrence it edits (UTC): which occurrence it applies to.
    pub recurrence_id: Instant,
    /// The status set on the occurrence; null when not changed.
    pub status: Option<OccurrenceStatusGql>,
    /// Set when the occurrence was moved (or pinned by locking).
    pub start: Option<Instant>,
    /// Set when the occurrence's end (or length) was changed, or pinned by locking.
    pub end: Option<Instant>,
    /// The occurrence's own title; null when it shows the series'.
    pub title: Option<String>,
    /// The occurrence's own description; null when it shows the series'.
    pub description: Option<String>,
    /// The occurrence's own kind; null when it has the series'.
    pub kind: Option<SeriesKindGql>,
    /// Whether the occurrence is locked (series-wide edits leave it alone).
    pub locked: bool,
}

impl From<&Exception> for ExceptionOut {
    fn from(e: &Exception) -> Self {
        ExceptionOut {
            recurrence_id: e.recurrence_id.instant().into(),
            status: e.status.map(Into::into),
            start: e.start.map(|t| almanac_domain::time::instant(t).into()),
            end: e.end.map(|t| almanac_domain::time::instant(t).into()),
            title: e.title.clone(),
            description: e.description.clone(),
            kind: e.kind.map(Into::into),
            locked: e.locked,
        }
    }
}

/// Where an occurrence stands (RFC 5545 STATUS, plus COMPLETED).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "OccurrenceStatus")]
pub enum OccurrenceStatusGql {
    /// It takes place (the default).
    Confirmed,
    /// Not yet certain; busy unless a query's `tentativeIsBusy` is false.
    Tentative,
    /// It took place (e.g. a lesson given); still busy.
    Completed,
    /// Cancelled occurrences still use up COUNT; queries leave them out unless
    /// `includeCancelled` is true.
    Cancelled,
}

impl From<OccurrenceStatus> for OccurrenceStatusGql {
    fn from(s: OccurrenceStatus) -> Self {
        match s {
            OccurrenceStatus::Confirmed => Self::Confirmed,
            OccurrenceStatus::Tentative => Self::Tentative,
            OccurrenceStatus::Completed => Self::Completed,
            OccurrenceStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<OccurrenceStatusGql> for OccurrenceStatus {
    fn from(s: OccurrenceStatusGql) -> Self {
        match s {
            OccurrenceStatusGql::Confirmed => Self::Confirmed,
            OccurrenceStatusGql::Tentative => Self::Tentative,
            OccurrenceStatusGql::Completed => Self::Completed,
            OccurrenceStatusGql::Cancelled => Self::Cancelled,
        }
    }
}

pub struct OccurrenceNode {
    pub occurrence: Occurrence,
    pub series: Arc<Series>,
}

/// An instant as a `DateTime`: in UTC, or with the offset of the zone a field's `timeZone`
/// argument names.
pub fn instant_in(t: DateTime<Utc>, time_zone: Option<&str>) -> async_graphql::Result<Instant> {
    match time_zone {
        None => Ok(t.into()),
        Some(_) => output_zone(time_zone)
            .map(|zone| Instant::in_zone(t, zone))
            .gql(),
    }
}

/// One time a series happens: computed from its rule, with any edit of this occurrence applied.
#[Object(name = "Occurrence")]
impl OccurrenceNode {
    /// Global id (`occ_…`). Stable and opaque: derived from (series, recurrenceId), so it
    /// survives moves and "this and following" splits; `OccurrenceRef.occurrenceId` takes it.
    async fn id(&self) -> ID {
        ID(self.occurrence.id.to_string())
    }
    /// The id (`ser_…`) of the series that holds it now (after a split: the continuation).
    async fn series_id(&self) -> ID {
        ID(self.series.id.to_string())
    }
    /// The series that holds it now.
    async fn series(&self) -> SeriesNode {
        SeriesNode(Arc::clone(&self.series))
    }
    /// The id (`cal_…`) of its calendar.
    async fn calendar_id(&self) -> ID {
        ID(self.series.calendar.to_string())
    }
    /// The occurrence's original start (RFC 5545 RECURRENCE-ID); its identity within the series.
    async fn recurrence_id(&self) -> Instant {
        self.occurrence.recurrence_id().instant().into()
    }
    /// In UTC; with `timeZone` (an IANA zone), the same instant written with that zone's offset.
    async fn start(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        instant_in(self.occurrence.start, time_zone.as_deref())
    }
    /// In UTC; with `timeZone` (an IANA zone), the same instant written with that zone's offset.
    async fn end(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        instant_in(self.occurrence.end, time_zone.as_deref())
    }
    /// Start as wall-clock time in the series' zone.
    async fn local_start(&self) -> LocalDateTime {
        LocalDateTime(
            self.occurrence
                .start
                .with_timezone(&self.series.schedule().zone())
                .naive_local(),
        )
    }
    /// End as wall-clock time in the series' zone (for all-day occurrences: the exclusive end date).
    async fn local_end(&self) -> LocalDateTime {
        LocalDateTime(
            self.occurrence
                .end
                .with_timezone(&self.series.schedule().zone())
                .naive_local(),
        )
    }
    /// The series' IANA zone, which `localStart`/`localEnd` are written in.
    async fn time_zone(&self) -> &str {
        self.series.schedule().zone().name()
    }
    /// All-day occurrence: show dates, not times.
    async fn all_day(&self) -> bool {
        self.series.schedule().all_day()
    }
    /// The occurrence's own kind if it was edited, else the series'.
    async fn kind(&self) -> SeriesKindGql {
        self.occurrence.kind.unwrap_or(self.series.kind).into()
    }
    /// The occurrence's own title if it was edited, else the series'.
    async fn title(&self) -> &str {
        self.occurrence
            .title
            .as_deref()
            .unwrap_or(&self.series.title)
    }
    /// The occurrence's own description if it was edited, else the series'; null when neither has one.
    async fn description(&self) -> Option<&str> {
        self.occurrence
            .description
            .as_deref()
            .or(self.series.description.as_deref())
    }
    /// CONFIRMED unless set with `setOccurrenceStatus` or `editOccurrence`.
    async fn status(&self) -> OccurrenceStatusGql {
        self.occurrence.status.into()
    }
    /// Locked occurrences (booked, completed) are never changed by series-wide edits.
    async fn locked(&self) -> bool {
        self.occurrence.locked
    }
    /// Shown at a time other than its original slot (`recurrenceId`).
    async fn moved(&self) -> bool {
        self.occurrence.moved
    }
}

pub fn output_zone(name: Option<&str>) -> Result<Tz, ApiError> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) => almanac_domain::time::parse_zone(n).map_err(ApiError::from),
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn encode_id_cursor<T: ToString>(id: &T) -> String {
    B64.encode(format!("id:{}", id.to_string()))
}

pub fn decode_id_cursor<T: std::str::FromStr>(
    field: &'static str,
    cursor: &str,
) -> Result<T, ApiError> {
    let bad = || ApiError::invalid(field, "is not a cursor returned by this query");
    let raw = B64.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("id:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(bad)
}

pub fn encode_occurrence_cursor(c: &OccurrenceCursor) -> String {
    B64.encode(format!(
        "occ:{}:{}:{}",
        c.start,
        c.series.as_uuid().simple(),
        c.recurrence_id.0
    ))
}

pub fn decode_occurrence_cursor(
    field: &'static str,
    cursor: &str,
) -> Result<OccurrenceCursor, ApiError> {
    let bad = || ApiError::invalid(field, "is not a cursor returned by an occurrences query");
    let raw = B64.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.strip_prefix("occ:").ok_or_else(bad)?.split(':');
    let start: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let series = parts
        .next()
        .and_then(|p| uuid::Uuid::try_parse(p).ok())
        .ok_or_else(bad)?;
    let rid: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(OccurrenceCursor {
        start,
        series: SeriesId::from_uuid(series),
        recurrence_id: RecurrenceId(rid),
    })
}

/// Loads, in one batch per loader, what the series of a page will be asked for (their calendars,
/// their continuations), so the nested resolvers find it cached: the statements of a nested query
/// do not depend on how many series it returns, nor on scheduling luck.
pub async fn prime_series_loaders(
    ctx: &Context<'_>,
    series: &[&Series],
    node: async_graphql::Lookahead<'_>,
) -> async_graphql::Result<()> {
    fn fail(e: impl std::fmt::Display) -> async_graphql::Error {
        ApiError::Internal(anyhow::anyhow!(e.to_string())).extend()
    }
    if node.field("calendar").exists() {
        let ids: Vec<CalendarId> = series.iter().map(|s| s.calendar).collect();
        ctx.data_unchecked::<super::loaders::CalendarsOf>()
            .load_many(ids)
            .await
            .map_err(fail)?;
    }
    if node.field("continuations").exists() {
        let ids: Vec<SeriesId> = series.iter().map(|s| s.id).collect();
        ctx.data_unchecked::<super::loaders::ContinuationsOf>()
            .load_many(ids)
            .await
            .map_err(fail)?;
    }
    if node.field("providerCopies").exists() {
        let ids: Vec<SeriesId> = series.iter().map(|s| s.id).collect();
        ctx.data_unchecked::<super::sync::ProviderCopiesOf>()
            .load_many(ids)
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// An occurrence connection, with the loaders primed for the series its nodes will show.
pub async fn occurrence_connection_for(
    ctx: &Context<'_>,
    page: services::occurrences::OccurrencePage,
) -> async_graphql::Result<Connection<String, OccurrenceNode>> {
    let series: Vec<&Series> = page.items.iter().map(|(_, s)| s.as_ref()).collect();
    prime_series_loaders(
        ctx,
        &series,
        ctx.look_ahead()
            .field("edges")
            .field("node")
            .field("series"),
    )
    .await?;
    prime_series_loaders(
        ctx,
        &series,
        ctx.look_ahead().field("nodes").field("series"),
    )
    .await?;
    Ok(occurrence_connection(page))
}

pub fn occurrence_connection(
    page: services::occurrences::OccurrencePage,
) -> Connection<String, OccurrenceNode> {
    let mut conn = Connection::new(page.has_previous, page.has_next);
    conn.edges
        .extend(page.items.into_iter().map(|(occurrence, series)| {
            Edge::new(
                encode_occurrence_cursor(&occurrence.sort_key()),
                OccurrenceNode { occurrence, series },
            )
        }));
    conn
}

pub fn parse_calendar_ids(ids: &[ID]) -> Result<Vec<CalendarId>, ApiError> {
    ids.iter()
        .map(|id| super::inputs::parse_id::<CalendarId>("calendarIds", id, "calendar"))
        .collect()
}
