//! Use cases: orchestration of domain logic and the store. No GraphQL or HTTP types here.

pub mod api_keys;
pub mod availability;
pub mod calendars;
pub mod compute;
pub mod edits;
pub mod ics;
pub mod occurrences;
pub mod series;

use crate::graphql::error::ApiError;

/// Checks a one-line free-text field a person typed (a title, a name): no control characters,
/// not even tab or newline. PostgreSQL refuses NUL in text, and SQLite would store it, so they are
/// refused here, the same on both engines.
pub(crate) fn text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, ApiError> {
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "may not contain control characters (tab, newline, NUL, …)",
        ));
    }
    checked_text(field, value, max, required)
}

/// Checks a multi-line free-text field (a description): tab, line feed and carriage return are
/// allowed, other control characters are not.
pub(crate) fn multi_line_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ApiError> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ApiError::invalid(
            field,
            "may not contain control characters other than tab and line breaks",
        ));
    }
    checked_text(field, value, max, false)
}

fn checked_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, ApiError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("may be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}
