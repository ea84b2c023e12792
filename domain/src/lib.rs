//! Almanac's scheduling logic, free of I/O.
//!
//! What belongs here: recurrence rules and their expansion into occurrences in a series' own time
//! zone, series and occurrences, windows. What never does: the clock ("now" is always a parameter),
//! the network, the database, async.
//!
//! The expansion engine (`rrule`) is our own: it follows the iteration of python-dateutil, which the
//! conformance corpus follows, but it can *seek* — jump arithmetically to the period that contains a
//! window — so a window fifty years after DTSTART costs what a window next month costs. The `rrule`
//! crate is kept only as a differential oracle in tests.

pub mod availability;
pub mod calendar;
pub mod edit;
pub mod error;
pub mod ids;
pub mod occurrence;
pub mod paging;
pub mod recurrence;
pub mod rrule;
pub mod series;
pub mod text;
pub mod time;

pub use error::{InvalidInput, RecurrenceError};
pub use ids::{CalendarId, IdError, OrganizationId, SeriesId};
