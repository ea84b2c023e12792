use super::error::{ApiError, ResultExt};
use super::inputs::parse_id;
use super::scalars::Instant;
use super::types::*;
use crate::services;
use almanac_domain::occurrence::OccurrenceId;
use almanac_domain::series::SeriesKind;
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, SeriesId};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};
use std::sync::Arc;

#[derive(Default)]
pub struct QueryRoot;

#[derive(async_graphql::SimpleObject)]
#[graphql(name = "Viewer")]
/// The caller, as the credential (API key or JWT) sent with the request identifies it.
pub struct ViewerOut {
    /// Your organization's id (`org_…`); every query and mutation sees only its data.
    organization_id: ID,
    /// The JWT's subject, when the caller used one.
    user: Option<String>,
    /// Whether the credential has the `write` scope; without it every mutation is refused
    /// with FORBIDDEN.
    can_write: bool,
}

#[Object]
impl QueryRoot {
    /// Any object by its global id; null when it does not exist.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Any global id this API returned: `cal_…`, `ser_…`, `occ_…`, `key_…`, `feed_…`, `lnk_…`, `con_…`, `rcal_…`. Another organization's id gives null; text that is no Almanac id gives BAD_USER_INPUT."
        )]
        id: ID,
    ) -> async_graphql::Result<Option<Node>> {
        let app = app(ctx);
        let org = viewer(ctx).organization;
        let s = id.as_str();
        if let Ok(cal) = s.parse::<CalendarId>() {
            return Ok(services::calendars::find(app, org, cal)
                .await
                .gql()?
                .map(|c| Node::Calendar(CalendarNode(c))));
        }
        if let Ok(ser) = s.parse::<SeriesId>() {
            return Ok(services::series::find(app, org, ser)
                .await
                .gql()?
                .map(|s| Node::Series(SeriesNode(Arc::new(s)))));
        }
        if let Ok(occ) = s.parse::<OccurrenceId>() {
            let found = services::occurrences::get(app, org, occ).await.gql()?;
            return Ok(found.map(|(occurrence, series)| {
                Node::Occurrence(OccurrenceNode { occurrence, series })
            }));
        }
        super::node::other_node(ctx, s).await
    }

    /// Who you are: the organization every query is scoped to.
    async fn viewer(&self, ctx: &Context<'_>) -> ViewerOut {
        let v = viewer(ctx);
        ViewerOut {
            organization_id: ID(v.organization.to_string()),
            can_write: v.can_write(),
            user: v.user,
        }
    }

    /// Your organization's API keys (never their secrets).
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::mutation::ApiKey>> {
        let keys = services::api_keys::list(&app(ctx).store, viewer(ctx).organization)
            .await
            .gql()?;
        Ok(keys.into_iter().map(Into::into).collect())
    }

    /// The organization's calendars, ordered by id. `first`/`last` are at most 200 (RANGE_TOO_LARGE
    /// beyond).
    async fn calendars(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The first n calendars after `after` (default 50 when `last` is not given)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "An `endCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the first page."
        )]
        after: Option<String>,
        #[graphql(
            desc = "The last n calendars before `before`; page backwards with `pageInfo.startCursor`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "A `startCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the last page."
        )]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, CalendarNode>> {
        let app = app(ctx);
        let take = super::paging::take(
            first,
            last,
            super::paging::DEFAULT_PAGE,
            app.limits.max_page,
        )
        .gql()?;
        let page = super::paging::id_page::<CalendarId>(take, after.as_deref(), before.as_deref())
            .gql()?;
        let found = services::calendars::page(app, viewer(ctx).organization, &page)
            .await
            .gql()?;
        let mut conn = Connection::new(found.has_previous, found.has_next);
        conn.edges.extend(
            found
                .rows
                .into_iter()
                .map(|c| Edge::new(encode_id_cursor(&c.id), CalendarNode(c))),
        );
        Ok(conn)
    }

    /// Null, with a NOT_FOUND error, when no calendar of yours has this id.
    async fn calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar's id (`cal_…`); another kind of id gives BAD_USER_INPUT.")]
        id: ID,
    ) -> async_graphql::Result<Option<CalendarNode>> {
        let id = parse_id::<CalendarId>("id", &id, "calendar").gql()?;
        // The error nulls only this field (see `propagation`): the rest of the query still answers.
        services::calendars::get(app(ctx), viewer(ctx).organization, id)
            .await
            .map(|c| Some(CalendarNode(c)))
            .gql()
    }

    /// Null, with a NOT_FOUND error, when no series of yours has this id.
    async fn series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The series' id (`ser_…`); another kind of id gives BAD_USER_INPUT.")] id: ID,
    ) -> async_graphql::Result<Option<SeriesNode>> {
        let id = parse_id::<SeriesId>("id", &id, "series").gql()?;
        services::series::get(app(ctx), viewer(ctx).organization, id)
            .await
            .map(|s| Some(SeriesNode(Arc::new(s))))
            .gql()
    }

    /// The next occurrences of a series from `from` on — however far in the future, for series
    /// that never end. `first` (or `last`) is at most 200; page on with `after` (or back with
    /// `before`).
    #[allow(clippy::too_many_arguments)]
    async fn upcoming_occurrences(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The series' id (`ser_…`); NOT_FOUND when no series of yours has it.")]
        series_id: ID,
        #[graphql(desc = "Occurrences in progress at or starting after this instant.")]
        from: Instant,
        #[graphql(
            desc = "The first n occurrences after `after` (default 20 when `last` is not given)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "An `endCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the first page."
        )]
        after: Option<String>,
        #[graphql(desc = "The last n occurrences before `before`.")] last: Option<i32>,
        #[graphql(
            desc = "A `startCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the last page."
        )]
        before: Option<String>,
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:), end(timeZone:), or localStart/localEnd in the series' zone.",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Connection<String, OccurrenceNode>> {
        let app = app(ctx);
        let id = parse_id::<SeriesId>("seriesId", &series_id, "series").gql()?;
        let take = super::paging::take(
            first,
            last,
            super::paging::DEFAULT_UPCOMING_PAGE,
            services::occurrences::MAX_UPCOMING,
        )
        .gql()?;
        output_zone(time_zone.as_deref()).gql()?;
        let slice =
            super::paging::occurrence_slice(take, after.as_deref(), before.as_deref()).gql()?;
        let page =
            services::occurrences::upcoming(app, viewer(ctx).organization, id, from.utc(), slice)
                .await
                .gql()?;
        occurrence_connection_for(ctx, page).await
    }

    /// Occurrences of the calendars' series that overlap [from, to) — an occurrence in progress at
    /// `from` is included — ordered by start, then series. Paginated: `pageInfo.hasNextPage` says
    /// when more exist (`hasPreviousPage` when paging back); nothing is ever silently cut off.
    /// `first`/`last` are at most 1000 (RANGE_TOO_LARGE beyond).
    #[allow(clippy::too_many_arguments)]
    async fn occurrences(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Calendars to read (`cal_…`), at most 500 (RANGE_TOO_LARGE beyond); an id not in your organization gives NOT_FOUND."
        )]
        calendar_ids: Vec<ID>,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(desc = "Window end (exclusive), after `from`; BAD_USER_INPUT otherwise.")]
        to: Instant,
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:), end(timeZone:), or localStart/localEnd in the series' zone.",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
        #[graphql(desc = "Only occurrences of these kinds; omit (or null) for all.")] kinds: Option<
            Vec<SeriesKindGql>,
        >,
        #[graphql(
            desc = "The first n occurrences after `after` (default 100 when `last` is not given)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "An `endCursor` (or any edge's `cursor`) from an earlier page of this same query; omit for the first page."
        )]
        after: Option<String>,
        #[graphql(
            desc = "The last n occurrences before `before` (or the window's end); page backwards with `pageInfo.startCursor`."
        )]
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
        let calendars = parse_calendar_ids(&calendar_ids).gql()?;
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
        let kinds = kinds.map(|ks| ks.into_iter().map(SeriesKind::from).collect());
        let q = services::occurrences::OccurrenceQuery {
            calendars,
            window,
            kinds,
            slice,
            include_cancelled,
        };
        let page = services::occurrences::page(app, viewer(ctx).organization, q)
            .await
            .gql()?;
        occurrence_connection_for(ctx, page).await
    }
}
