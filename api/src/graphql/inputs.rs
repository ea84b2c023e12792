//! Input objects and their conversion to service commands. Parsing happens here, once.

use super::error::ApiError;
use super::scalars::{LocalDateTime, LocalTime};
use super::types::SeriesKindGql;
use crate::services::series::{RecurrenceInput as RecurrenceCmd, ScheduleInput};
use almanac_domain::availability::{WorkingHours, WorkingHoursRule};
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
pub fn parse_id<T: FromStr<Err = almanac_domain::IdError>>(
    field: &'static str,
    id: &ID,
    kind: &str,
) -> Result<T, ApiError> {
    id.as_str()
        .parse()
        .map_err(|_| ApiError::invalid(field, format!("{:?} is not a {kind} id", id.as_str())))
}

/// A new calendar.
#[derive(InputObject)]
pub struct CreateCalendarInput {
    /// Shown to people: 1–200 characters, trimmed.
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

/// How a calendar's available time is defined: around the clock or within working hours
/// (DEFAULT), or only inside its AVAILABLE occurrences (EXPLICIT).
#[derive(InputObject)]
pub struct CalendarAvailabilityInput {
    /// DEFAULT or EXPLICIT; see `AvailabilityMode`.
    pub mode: AvailabilityModeGql,
    /// DEFAULT only: the weekly hours the calendar can be available, on the clocks of its zone.
    /// Omit (or null) for around the clock. Entries may not overlap; an overnight shift is two
    /// entries (FRIDAY 22:00–24:00 and SATURDAY 00:00–06:00).
    pub working_hours: Option<Vec<WorkingHoursInput>>,
}

/// A day of the week, Monday first (ISO 8601).
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DayOfWeek {
    /// Monday (ISO weekday 1).
    Monday,
    /// Tuesday (ISO weekday 2).
    Tuesday,
    /// Wednesday (ISO weekday 3).
    Wednesday,
    /// Thursday (ISO weekday 4).
    Thursday,
    /// Friday (ISO weekday 5).
    Friday,
    /// Saturday (ISO weekday 6).
    Saturday,
    /// Sunday (ISO weekday 7).
    Sunday,
}

const DAYS: [DayOfWeek; 7] = [
    DayOfWeek::Monday,
    DayOfWeek::Tuesday,
    DayOfWeek::Wednesday,
    DayOfWeek::Thursday,
    DayOfWeek::Friday,
    DayOfWeek::Saturday,
    DayOfWeek::Sunday,
];

impl DayOfWeek {
    /// The day's bit in `WorkingHoursRule::days` (bit 0 = Monday).
    fn bit(self) -> u8 {
        1 << DAYS.iter().position(|d| *d == self).unwrap_or_default()
    }

    /// As the schema spells it (MONDAY).
    fn label(self) -> String {
        format!("{self:?}").to_uppercase()
    }

    pub fn all_in(mask: u8) -> Vec<DayOfWeek> {
        DAYS.iter()
            .copied()
            .filter(|d| mask & d.bit() != 0)
            .collect()
    }
}

/// The same hours on some days of the week, e.g. MONDAY–FRIDAY 09:00–17:00.
#[derive(InputObject)]
pub struct WorkingHoursInput {
    /// At least one day, each at most once.
    pub days: Vec<DayOfWeek>,
    /// Local time the hours begin.
    pub start: LocalTime,
    /// Local time the hours end, after `start` on the same day; 24:00 is the end of the day.
    pub end: LocalTime,
}

/// Checks working hours entry by entry: each error names the entry (its index in the list) and
/// the field at fault, so a form can show it where it belongs.
fn working_hours(entries: &[WorkingHoursInput]) -> Result<WorkingHours, ApiError> {
    use async_graphql::PathSegment::{Field, Index};
    let at = |i: usize, field: Option<&str>| {
        let mut path = vec![
            Field("availability".into()),
            Field("workingHours".into()),
            Index(i),
        ];
        path.extend(field.map(|f| Field(f.into())));
        path
    };
    let bad = |path, message: String| ApiError::InvalidEntry { path, message };
    if entries.is_empty() {
        return Err(bad(
            vec![Field("availability".into()), Field("workingHours".into())],
            "workingHours is empty, which would make the calendar never available: give at least one entry, or leave workingHours out to be available around the clock".into(),
        ));
    }
    let hm = |t: LocalTime| t.to_string();
    let mut rules: Vec<WorkingHoursRule> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let mut days = 0u8;
        for d in &e.days {
            if days & d.bit() != 0 {
                return Err(bad(
                    at(i, Some("days")),
                    format!("workingHours[{i}] lists {} twice", d.label()),
                ));
            }
            days |= d.bit();
        }
        if days == 0 {
            return Err(bad(
                at(i, Some("days")),
                format!("workingHours[{i}] names no day: give at least one"),
            ));
        }
        if e.end.seconds == e.start.seconds {
            return Err(bad(
                at(i, Some("end")),
                format!(
                    "workingHours[{i}] starts and ends at {}, which is no time at all",
                    hm(e.start)
                ),
            ));
        }
        if e.end.seconds < e.start.seconds {
            return Err(bad(
                at(i, Some("end")),
                format!(
                    "workingHours[{i}] ends ({}) before it starts ({}): hours end on the day they start, so an overnight shift is two entries, e.g. FRIDAY {}–24:00 and SATURDAY 00:00–{}",
                    hm(e.end),
                    hm(e.start),
                    hm(e.start),
                    hm(e.end)
                ),
            ));
        }
        let rule = WorkingHoursRule {
            days,
            start: e.start.seconds,
            end: e.end.seconds,
        };
        // Touching entries (09:00–12:00 and 12:00–17:00) are fine: they merge into one window.
        if let Some((j, other)) = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.days & rule.days != 0 && r.start < rule.end && rule.start < r.end)
        {
            let day = DayOfWeek::all_in(other.days & rule.days)[0];
            return Err(bad(
                at(i, None),
                format!(
                    "workingHours[{i}] overlaps workingHours[{j}] on {} ({}–{} and {}–{}): give each hour of a day once",
                    day.label(),
                    hm(e.start),
                    hm(e.end),
                    hm(LocalTime { seconds: other.start }),
                    hm(LocalTime { seconds: other.end })
                ),
            ));
        }
        rules.push(rule);
    }
    Ok(WorkingHours { rules })
}

impl TryFrom<CalendarAvailabilityInput> for crate::services::calendars::AvailabilityInput {
    type Error = ApiError;

    fn try_from(a: CalendarAvailabilityInput) -> Result<Self, ApiError> {
        Ok(crate::services::calendars::AvailabilityInput {
            explicit: a.mode == AvailabilityModeGql::Explicit,
            working_hours: a.working_hours.as_deref().map(working_hours).transpose()?,
        })
    }
}

/// A calendar's new availability; it replaces the old one whole.
#[derive(InputObject)]
pub struct SetCalendarAvailabilityInput {
    /// The calendar's id (`cal_…`); NOT_FOUND when it is not in your organization.
    pub calendar_id: ID,
    /// The mode and working hours to set.
    pub availability: CalendarAvailabilityInput,
}

/// Whether an EVENT's occurrences make time busy.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum ShowAs {
    /// Opaque: the occurrences block availability and show in free/busy (the default).
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
    /// Extra occurrence starts (RFC 5545 RDATE), as wall-clock times in the series' zone; each
    /// occurrence gets the series' length.
    #[graphql(default)]
    pub rdates: Vec<LocalDateTime>,
    /// Occurrence starts to leave out (RFC 5545 EXDATE), as wall-clock times in the series' zone;
    /// they must match a start the rule produces to have an effect.
    #[graphql(default)]
    pub exdates: Vec<LocalDateTime>,
}

impl From<RecurrenceInput> for RecurrenceCmd {
    fn from(r: RecurrenceInput) -> Self {
        RecurrenceCmd {
            rrule: r.rrule,
            rdates: r.rdates.into_iter().map(|d| d.0).collect(),
            exdates: r.exdates.into_iter().map(|d| d.0).collect(),
        }
    }
}

/// A new series: a single occurrence, or a recurring one with `recurrence`.
#[derive(InputObject)]
pub struct CreateSeriesInput {
    /// The calendar to put it on (`cal_…`); NOT_FOUND when it is not in your organization.
    pub calendar_id: ID,
    /// EVENT (default), BLOCKED or AVAILABLE; see `SeriesKind`.
    #[graphql(default_with = "SeriesKindGql::Event")]
    pub kind: SeriesKindGql,
    /// 1–500 characters, trimmed.
    pub title: String,
    /// Free text, at most 10,000 characters; empty means none.
    pub description: Option<String>,
    /// Wall-clock start of the first occurrence (for all-day series, its date).
    pub start: LocalDateTime,
    /// IANA zone; defaults to the calendar's.
    pub time_zone: Option<String>,
    /// ISO 8601 duration (PT1H, P1D). Give this or `end`.
    pub duration: Option<String>,
    /// Wall-clock end of the first occurrence; the length is kept in wall-clock time.
    pub end: Option<LocalDateTime>,
    /// All-day series: `start` (and `end`) are dates, and the duration is in whole days (P1D).
    #[graphql(default)]
    pub all_day: bool,
    /// Omit (or null) for a single occurrence.
    pub recurrence: Option<RecurrenceInput>,
    /// BUSY (default) or FREE; only EVENT series use it.
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
    /// The series' id (`ser_…`); NOT_FOUND when it is not in your organization.
    pub id: ID,
    /// The `version` you read; if the series has changed since, nothing is written (CONFLICT).
    pub expected_version: i32,
    /// A new kind (EVENT, BLOCKED, AVAILABLE).
    pub kind: Option<SeriesKindGql>,
    /// A new title: 1–500 characters, trimmed.
    pub title: Option<String>,
    /// null clears it.
    pub description: MaybeUndefined<String>,
    /// A new wall-clock start of the first occurrence, in the series' (new) zone.
    pub start: Option<LocalDateTime>,
    /// A new IANA zone; wall-clock times stay, so instants move with the zone's offset.
    pub time_zone: Option<String>,
    /// A new ISO 8601 length (PT45M); replaces an `end`.
    pub duration: Option<String>,
    /// A new wall-clock end of the first occurrence; replaces a `duration`.
    pub end: Option<LocalDateTime>,
    /// Makes the series all-day (dates only) or timed.
    pub all_day: Option<bool>,
    /// null makes the series a single occurrence.
    pub recurrence: MaybeUndefined<RecurrenceInput>,
    /// BUSY or FREE.
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

/// The series to delete, guarded by its version.
#[derive(InputObject)]
pub struct DeleteSeriesInput {
    /// The series' id (`ser_…`); NOT_FOUND when it is not in your organization.
    pub id: ID,
    /// The `version` you read; if the series has changed since, nothing is deleted (CONFLICT).
    pub expected_version: i32,
}
