//! A series as a calendar provider holds it, in provider-neutral terms. Adapters translate their
//! wire format to and from this; the engine compares these to decide what to push or apply.

use almanac_domain::series::SeriesKind;
use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

/// A start or end as providers write it: wall-clock time in an IANA zone, or a floating date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteTime {
    Timed { local: NaiveDateTime, zone: Tz },
    AllDay(NaiveDate),
}

/// How a pushed series or exception came out at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fidelity {
    /// The provider shows exactly the occurrences Almanac shows.
    Exact,
    /// Pushed, but these things could not be represented.
    Degraded(Vec<String>),
    /// Not pushed, for this reason.
    Rejected(String),
}

impl Fidelity {
    pub fn level(&self) -> &'static str {
        match self {
            Fidelity::Exact => "EXACT",
            Fidelity::Degraded(_) => "DEGRADED",
            Fidelity::Rejected(_) => "REJECTED",
        }
    }
    pub fn detail(&self) -> Option<String> {
        match self {
            Fidelity::Exact => None,
            Fidelity::Degraded(lost) => Some(lost.join("; ")),
            Fidelity::Rejected(why) => Some(why.clone()),
        }
    }
    pub fn degrade(&mut self, what: impl Into<String>) {
        match self {
            Fidelity::Exact => *self = Fidelity::Degraded(vec![what.into()]),
            Fidelity::Degraded(lost) => lost.push(what.into()),
            Fidelity::Rejected(_) => {}
        }
    }
}

/// A recurring (or single) event as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSeries {
    pub title: String,
    pub description: Option<String>,
    pub start: RemoteTime,
    pub end: RemoteTime,
    /// RFC 5545 RRULE text without the `RRULE:` prefix; UNTIL always in UTC or as a DATE.
    pub rrule: Option<String>,
    /// Wall-clock values in the series' zone (midnights for all-day series).
    pub rdates: Vec<NaiveDateTime>,
    pub exdates: Vec<NaiveDateTime>,
    pub tentative: bool,
    pub transparent: bool,
    pub kind: SeriesKind,
    /// Sorted by original start.
    pub exceptions: Vec<RemoteException>,
}

/// One overridden occurrence, identified by where the rule put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteException {
    /// The occurrence's original start (its recurrence id), seconds since the epoch.
    pub original_start: i64,
    pub cancelled: bool,
    /// Set when the occurrence was moved.
    pub start: Option<RemoteTime>,
    pub end: Option<RemoteTime>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tentative: bool,
}

impl RemoteException {
    pub fn cancelled(original_start: i64) -> Self {
        RemoteException {
            original_start,
            cancelled: true,
            start: None,
            end: None,
            title: None,
            description: None,
            tentative: false,
        }
    }
}
