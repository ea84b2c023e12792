//! The GraphQL schema: types, inputs and the two roots. No axum here (see `http`); resolvers parse
//! input, call one service function and map the result.

mod availability;
pub mod cost;
pub mod error;
pub mod guard;
pub mod ics;
mod inputs;
pub mod loaders;
mod mutation;
mod node;
mod occurrence_edits;
mod paging;
pub mod propagation;
mod query;
pub mod scalars;
mod subscription;
pub mod sync;
mod types;

use crate::state::AppState;
use async_graphql::connection::Connection;
use async_graphql::Schema;

pub use mutation::MutationRoot;
pub use occurrence_edits::OccurrenceMutations;
pub use query::QueryRoot;

/// Every mutation: series and calendars, the per-occurrence edit dialog, iCalendar feeds and
/// imports.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    MutationRoot,
    OccurrenceMutations,
    ics::IcsMutations,
    sync::SyncMutations,
);

/// Every query: objects and occurrences, and availability questions.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(QueryRoot, availability::AvailabilityQuery, sync::SyncQuery);

pub type AlmanacSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

pub use crate::auth::Viewer;

/// Query depth cap: rejected before execution. Cost, field and size limits are in `cost`.
pub const MAX_DEPTH: usize = 16;

pub fn build_schema(state: Option<AppState>) -> AlmanacSchema {
    let limits = state.as_ref().map(|s| s.limits).unwrap_or_default();
    let shape = std::sync::Arc::new(std::sync::OnceLock::new());
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscription::SubscriptionRoot,
    )
    .limit_depth(MAX_DEPTH)
    // First, so it is the outermost: it must see every field error, other extensions' too.
    .extension(propagation::NullPropagation)
    // Before async-graphql's own parse-time and validation walks, which expand fragments.
    .extension(cost::QueryCost {
        limits: limits.query,
        shape: shape.clone(),
    })
    .extension(async_graphql::extensions::Tracing)
    .extension(guard::WriteGuard);
    // async-graphql's Connection type has no description of its own; these name what each holds.
    builder = builder
        .override_output_type_description::<Connection<String, types::CalendarNode>>(
            "A page of calendars, ordered by id (Relay cursor connection: page with `first`/`after` or `last`/`before`).",
        )
        .override_output_type_description::<Connection<String, types::SeriesNode>>(
            "A page of series, ordered by id (Relay cursor connection: page with `first`/`after` or `last`/`before`).",
        )
        .override_output_type_description::<Connection<String, types::OccurrenceNode>>(
            "A page of occurrences, ordered by start, then series (Relay cursor connection: page with `first`/`after` or `last`/`before`).",
        );
    if let Some(state) = state {
        builder = builder.data(state);
    }
    let schema = builder.finish();
    // Each connection's page sizes as its resolver applies them, so the cost counts what can run
    // (`bookableSlots` declares its default in the schema, which the shape reads).
    let page = |default: usize, max: usize| cost::PageSizes {
        default: default as u64,
        max: max as u64,
    };
    let (calendars, occurrences) = (
        page(paging::DEFAULT_PAGE, limits.max_page),
        page(paging::DEFAULT_OCCURRENCE_PAGE, limits.max_occurrence_page),
    );
    let pages = [
        ("Query", "calendars", calendars),
        ("Calendar", "series", calendars),
        ("Query", "occurrences", occurrences),
        ("Series", "occurrences", occurrences),
        (
            "Query",
            "upcomingOccurrences",
            page(
                paging::DEFAULT_UPCOMING_PAGE,
                crate::services::occurrences::MAX_UPCOMING,
            ),
        ),
    ];
    let _ = shape.set(cost::SchemaShape::from_sdl(&schema.sdl(), &pages));
    schema
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    // With @specifiedBy, so the committed SDL says what the time scalars follow, as introspection does.
    build_schema(None)
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
