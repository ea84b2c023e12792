//! Relay cursor connections: every connection takes `first`/`after` and `last`/`before`
//! (Relay Cursor Connections spec), with the same page-size limit both ways and exact
//! `hasPreviousPage`/`hasNextPage`.

use super::error::ApiError;
use crate::services::paging::IdPage;
use almanac_domain::occurrence::OccurrenceCursor;
use almanac_domain::paging::{Slice, Take};

/// Page sizes when neither `first` nor `last` is given: calendars and series, occurrences in a
/// window, upcoming occurrences. The query cost counts the same (see `cost`).
pub const DEFAULT_PAGE: usize = 50;
pub const DEFAULT_OCCURRENCE_PAGE: usize = 100;
pub const DEFAULT_UPCOMING_PAGE: usize = 20;

/// Which end of the list a page is taken from, and how many, from `first` and `last`. Asking
/// for both is refused: the spec allows it but its meaning (first n, then the last m of those)
/// is never what a client wants, and Relay and Apollo never send it.
pub fn take(
    first: Option<i32>,
    last: Option<i32>,
    default: usize,
    max: usize,
) -> Result<Take, ApiError> {
    let checked = |arg: &'static str, n: i32| {
        if n < 1 {
            return Err(ApiError::invalid(arg, "must be at least 1"));
        }
        let n = n as usize;
        if n > max {
            let cursor = if arg == "first" { "after" } else { "before" };
            return Err(ApiError::Invalid(
                almanac_domain::InvalidInput::RangeTooLarge(format!(
                    "{arg} may be at most {max}; page with `{cursor}` for more"
                )),
            ));
        }
        Ok(n)
    };
    match (first, last) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "last",
            "give first (with after) or last (with before), not both",
        )),
        (Some(n), None) => Ok(Take::First(checked("first", n)?)),
        (None, Some(n)) => Ok(Take::Last(checked("last", n)?)),
        (None, None) => Ok(Take::First(default)),
    }
}

/// An occurrence connection's slice, from its four arguments.
pub fn occurrence_slice(
    take: Take,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Slice, ApiError> {
    let decode = |field: &'static str, c: Option<&str>| {
        c.map(|c| super::types::decode_occurrence_cursor(field, c))
            .transpose()
    };
    let (after, before): (Option<OccurrenceCursor>, Option<OccurrenceCursor>) =
        (decode("after", after)?, decode("before", before)?);
    Ok(Slice {
        after,
        before,
        take,
    })
}

/// A page of an id-ordered list (calendars, a calendar's series) from a connection's
/// arguments: the cursors decoded here, the rows read by the service.
pub fn id_page<T: std::str::FromStr>(
    take: Take,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<IdPage<T>, ApiError> {
    let after = after
        .map(|c| super::types::decode_id_cursor::<T>("after", c))
        .transpose()?;
    let before = before
        .map(|c| super::types::decode_id_cursor::<T>("before", c))
        .transpose()?;
    Ok(IdPage {
        take,
        after,
        before,
    })
}
