//! Use cases: orchestration of domain logic and the store. No GraphQL or HTTP types here.

pub mod api_keys;
pub mod availability;
pub mod calendars;
pub mod compute;
pub mod edits;
mod error;
pub mod ics;
pub mod nodes;
pub mod occurrences;
pub mod paging;
pub mod series;

pub use error::ServiceError;

/// A new id for something being created: time-ordered (UUIDv7), so ids sort roughly by creation.
/// Minted here and handed to domain constructors, because minting reads the clock and an RNG and
/// `almanac-domain` never does.
pub(crate) fn new_uuid() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
