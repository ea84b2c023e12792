//! Relay cursor connections: every connection takes `first`/`after` and `last`/`before`
//! (Relay Cursor Connections spec), with the same page-size limit both ways and exact
//! `hasPreviousPage`/`hasNextPage`.

use super::error::ApiError;
use crate::store::{IdSlice, StoreError};
use almanac_domain::occurrence::OccurrenceCursor;
use almanac_domain::paging::{Slice, Take};
use std::future::Future;
use std::ops::Bound;

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

/// A page of an id-ordered list (calendars, a calendar's series).
pub struct IdPage<T> {
    take: Take,
    after: Option<T>,
    before: Option<T>,
}

impl<T: Clone + std::str::FromStr> IdPage<T> {
    pub fn new(take: Take, after: Option<&str>, before: Option<&str>) -> Result<Self, ApiError> {
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

    fn between(&self, limit: usize, from_end: bool) -> IdSlice<T> {
        IdSlice {
            lower: self.after.clone().map_or(Bound::Unbounded, Bound::Excluded),
            upper: self
                .before
                .clone()
                .map_or(Bound::Unbounded, Bound::Excluded),
            limit: limit as i64,
            from_end,
        }
    }

    /// Fetches the page (one row more than asked, to know whether more exist in the direction
    /// of travel) and, when the cursors leave it open, whether rows exist past them (a one-row
    /// read each). Returns the rows in id order with `hasPreviousPage` and `hasNextPage`.
    pub async fn fetch<R, F, Fut>(&self, read: F) -> Result<(Vec<R>, bool, bool), ApiError>
    where
        F: Fn(IdSlice<T>) -> Fut,
        Fut: Future<Output = Result<Vec<R>, StoreError>>,
    {
        let (n, from_end) = match self.take {
            Take::First(n) => (n, false),
            Take::Last(n) => (n, true),
        };
        let mut rows = read(self.between(n + 1, from_end)).await?;
        let more = rows.len() > n;
        if more {
            if from_end {
                rows.drain(..rows.len() - n);
            } else {
                rows.truncate(n);
            }
        }
        // Rows at or before `after` / at or after `before` lie outside the page.
        let mut has_previous = more && from_end;
        if !has_previous {
            if let Some(after) = &self.after {
                let probe = IdSlice {
                    lower: Bound::Unbounded,
                    upper: Bound::Included(after.clone()),
                    limit: 1,
                    from_end: true,
                };
                has_previous = !read(probe).await?.is_empty();
            }
        }
        let mut has_next = more && !from_end;
        if !has_next {
            if let Some(before) = &self.before {
                let probe = IdSlice {
                    lower: Bound::Included(before.clone()),
                    upper: Bound::Unbounded,
                    limit: 1,
                    from_end: false,
                };
                has_next = !read(probe).await?.is_empty();
            }
        }
        Ok((rows, has_previous, has_next))
    }
}
