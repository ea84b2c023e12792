//! Use cases: orchestration of domain logic and the store. No GraphQL or HTTP types here.

pub mod api_keys;
pub mod availability;
pub mod calendars;
pub mod compute;
pub mod edits;
pub mod ics;
pub mod occurrences;
pub mod series;
pub mod sync;

use crate::graphql::error::ApiError;

/// Checks a free-text field a person typed.
pub(crate) fn text(field: &'static str, value: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(field, format!("may be at most {max} characters")));
    }
    Ok(v.to_string())
}
