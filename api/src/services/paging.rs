//! Pages of id-ordered lists, read exactly: the page, and whether rows lie past either end.

use super::ServiceError;
use crate::store::{IdSlice, StoreError};
use almanac_domain::paging::Take;
use std::future::Future;
use std::ops::Bound;

/// A page of an id-ordered list (calendars, a calendar's series): how many, and between which
/// ids (exclusive).
pub struct IdPage<T> {
    pub take: Take,
    pub after: Option<T>,
    pub before: Option<T>,
}

/// Rows of an id-ordered list, in id order, and whether rows exist before and after them.
pub struct IdPageRows<R> {
    pub rows: Vec<R>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<T: Clone> IdPage<T> {
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
    /// read each).
    pub(crate) async fn fetch<R, F, Fut>(&self, read: F) -> Result<IdPageRows<R>, ServiceError>
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
        Ok(IdPageRows {
            rows,
            has_previous,
            has_next,
        })
    }
}
