//! Input objects and their conversion to service commands. Parsing happens here, once.

use super::error::ApiError;
use super::scalars::LocalDateTime;
use super::types::SeriesKindGql;
use crate::services::series::{RecurrenceInput as RecurrenceCmd, ScheduleInput};
use async_graphql::{InputObject, MaybeUndefined, ID};
use std::str::FromStr;

/// An optional field where null means "clear it": `None` leaves it, `Some(None)` clears it.
pub fn set_or_clear<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(x) => Some(Some(x)),
    }
}

/// Parses a typed id, reporting which argument was wrong.
pub fn parse_id<T: FromStr<Err = almanac_domain::IdError>>(field: &'static str, id: &ID, kind: &str) -> Result<T, ApiError> {
    id.as_str().parse().map_err(|_| ApiError::invalid(field, format!("{:?} is not a {kind} id", id.as_str())))
}

#[derive(InputObject)]
pub struct CreateCalendarInput {
    pub name: String,
    /// IANA time zone used when a series does not name one, e.g. "Europe/Berlin".
    pub time_zone: String,
    /// Default: available whenever not busy.
    pub availability: Option<CalendarAvailabilityInput>,
}

/// How a calendar's available time is defined.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "AvailabilityMode")]
pub enum AvailabilityModeGql {
    /// Available whenever not busy — within `workingHours` when they are set.
    Default,
    /// Available only inside the calendar's AVAILABLE occurrences.
    Explicit,
}

#[derive(InputObject)]
pub struct CalendarAvailabilityInput {
    pub mode: AvailabilityModeGql,
    /// Local hours in the calendar's zone, e.g. "MO,TU,WE,TH,FR 09:00-17:00; SA 10:00-12:00".
    pub working_hours: Option<String>,
}

impl From<CalendarAvailabilityInput> for crate::services::calendars::AvailabilityInput {
    fn from(a: CalendarAvailabilityInput) -> Self {
        crate::services::calendars::AvailabilityInput { explicit: a.mode == AvailabilityModeGql::Explicit, working_hours: a.working_hours }
    }
}

#[derive(InputObject)]
pub struct SetCalendarAvailabilityInput {
    pub calendar_id: ID,
    pub availability: CalendarAvailabilityInput,
}

/// Whether an EVENT's occurrences make time busy.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ShowAs {
    #[default]
    Busy,
    /// Transparent: shown, but does not block availability.
    Free,
}

/// What to do when a booking overlaps busy time on its calendar.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ConflictPolicy {
    /// Write it anyway.
    #[default]
    Allow,
    /// Refuse with CONFLICT, listing the occurrences in the way (extensions.conflicts).
    Reject,
}

/// RRULE plus RDATE and EXDATE lists. Dates are wall-clock times in the series' zone.
#[derive(InputObject, Clone)]
pub struct RecurrenceInput {
    /// An RFC 5545 RRULE value, e.g. "FREQ=WEEKLY;BYDAY=MO,WE,FR" (the "RRULE:" prefix is optional).
    pub rrule: Option<String>,
    #[graphql(default)]
    pub rdates: Vec<LocalDateTime>,
    #[graphql(default)]
    pub exdates: Vec<LocalDateTime>,
}

impl From<RecurrenceInput> for RecurrenceCmd {
    fn from(r: RecurrenceInput) -> Self {
        RecurrenceCmd { rrule: r.rrule, rdates: r.rdates.into_iter().map(|d| d.0).collect(), exdates: r.exdates.into_iter().map(|d| d.0).collect() }
    }
}

#[derive(InputObject)]
pub struct CreateSeriesInput {
    pub calendar_id: ID,
    #[graphql(default_with = "SeriesKindGql::Event")]
    pub kind: SeriesKindGql,
    pub title: String,
    pub description: Option<String>,
    /// Wall-clock start of the first occurrence (for all-day series, its date).
    pub start: LocalDateTime,
    /// IANA zone; defaults to the calendar's.
    pub time_zone: Option<String>,
    /// ISO 8601 duration (PT1H, P1D). Give this or `end`.
    pub duration: Option<String>,
    /// Wall-clock end of the first occurrence; the length is kept in wall-clock time.
    pub end: Option<LocalDateTime>,
    #[graphql(default)]
    pub all_day: bool,
    pub recurrence: Option<RecurrenceInput>,
    #[graphql(default)]
    pub show_as: ShowAs,
    /// REJECT: refuse if the EVENT's occurrences (the next year of them) overlap busy time.
    #[graphql(default)]
    pub conflict_policy: ConflictPolicy,
}

impl CreateSeriesInput {
    pub fn schedule(&self) -> ScheduleInput {
        ScheduleInput {
            start: Some(self.start.0),
            time_zone: self.time_zone.clone(),
            duration: self.duration.clone(),
            end: self.end.map(|e| e.0),
            all_day: Some(self.all_day),
            recurrence: self.recurrence.clone().map(|r| Some(r.into())),
        }
    }
}

/// Replaces the fields given; omitted fields keep their values. Applies to the whole series.
#[derive(InputObject)]
pub struct UpdateSeriesInput {
    pub id: ID,
    /// The `version` you read; if the series has changed since, nothing is written (CONFLICT).
    pub expected_version: i32,
    pub kind: Option<SeriesKindGql>,
    pub title: Option<String>,
    /// null clears it.
    pub description: MaybeUndefined<String>,
    pub start: Option<LocalDateTime>,
    pub time_zone: Option<String>,
    pub duration: Option<String>,
    pub end: Option<LocalDateTime>,
    pub all_day: Option<bool>,
    /// null makes the series a single occurrence.
    pub recurrence: MaybeUndefined<RecurrenceInput>,
    pub show_as: Option<ShowAs>,
}

impl UpdateSeriesInput {
    pub fn schedule(&self) -> ScheduleInput {
        ScheduleInput {
            start: self.start.map(|s| s.0),
            time_zone: self.time_zone.clone(),
            duration: self.duration.clone(),
            end: self.end.map(|e| e.0),
            all_day: self.all_day,
            recurrence: set_or_clear(self.recurrence.clone()).map(|o| o.map(Into::into)),
        }
    }
}

#[derive(InputObject)]
pub struct DeleteSeriesInput {
    pub id: ID,
    pub expected_version: i32,
}
