//! Row ↔ domain conversions. Stored rows are re-parsed like any other input: a row that no longer
//! makes sense is reported as corrupt rather than trusted.

use super::StoreError;
use almanac_domain::availability::{AvailabilityMode, WorkingHours};
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::series::{Calendar, Exception, Lineage, OccurrenceStatus, Series, SeriesKind};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use chrono::NaiveDateTime;

const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

#[derive(sqlx::FromRow)]
pub struct CalendarRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub time_zone: String,
    pub availability_mode: String,
    pub working_hours: String,
}

/// A series as stored: read with `FromRow`, written column by column (and carried whole in
/// change events).
#[derive(sqlx::FromRow, serde::Serialize, serde::Deserialize, Clone)]
pub struct SeriesRecord {
    pub id: String,
    pub organization_id: String,
    pub calendar_id: String,
    pub kind: String,
    pub title: String,
    pub description: Option<String>,
    pub start_local: String,
    pub time_zone: String,
    pub all_day: bool,
    pub length_days: i64,
    pub length_seconds: i64,
    pub length_wall_clock: bool,
    pub rrule: Option<String>,
    pub rdates: String,
    pub exdates: String,
    pub has_recurrence: bool,
    pub rule_bound: Option<i64>,
    pub span_start: i64,
    pub span_end: Option<i64>,
    pub version: i64,
    pub lineage_id: String,
    pub parent_series_id: Option<String>,
    pub split_at: Option<i64>,
    pub transparent: bool,
}

#[derive(sqlx::FromRow, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExceptionRecord {
    pub series_id: String,
    pub organization_id: String,
    pub recurrence_id: i64,
    pub status: Option<String>,
    pub start_at: Option<i64>,
    pub end_at: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub locked: bool,
}

impl ExceptionRecord {
    pub fn of(series: &Series, e: &Exception) -> Self {
        ExceptionRecord {
            series_id: series.id.to_string(),
            organization_id: series.organization.to_string(),
            recurrence_id: e.recurrence_id.0,
            status: e.status.map(|s| s.as_str().to_string()),
            start_at: e.start,
            end_at: e.end,
            title: e.title.clone(),
            description: e.description.clone(),
            kind: e.kind.map(|k| k.as_str().to_string()),
            locked: e.locked,
        }
    }

    pub fn into_exception(self) -> Result<Exception, StoreError> {
        Ok(Exception {
            recurrence_id: RecurrenceId(self.recurrence_id),
            status: self
                .status
                .map(|s| OccurrenceStatus::parse(&s).ok_or_else(|| corrupt("exception status", &s)))
                .transpose()?,
            start: self.start_at,
            end: self.end_at,
            title: self.title,
            description: self.description,
            kind: self
                .kind
                .map(|k| SeriesKind::parse(&k).ok_or_else(|| corrupt("exception kind", &k)))
                .transpose()?,
            locked: self.locked,
        })
    }
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Parses an id column; a value that does not parse is corrupt (never skipped or defaulted).
pub(super) fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn join_local(list: &[NaiveDateTime]) -> String {
    list.iter()
        .map(|d| d.format(LOCAL_FORMAT).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn split_local(s: &str) -> Result<Vec<NaiveDateTime>, StoreError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            NaiveDateTime::parse_from_str(p, LOCAL_FORMAT).map_err(|e| corrupt("date list", e))
        })
        .collect()
}

impl TryFrom<CalendarRow> for Calendar {
    type Error = StoreError;
    fn try_from(r: CalendarRow) -> Result<Self, StoreError> {
        Ok(Calendar {
            id: parse_id("calendar id", &r.id)?,
            organization: parse_id("organization id", &r.organization_id)?,
            name: r.name,
            time_zone: r
                .time_zone
                .parse()
                .map_err(|e| corrupt("calendar zone", e))?,
            availability: match r.availability_mode.as_str() {
                "EXPLICIT" => AvailabilityMode::Explicit,
                _ if r.working_hours.is_empty() => AvailabilityMode::Default {
                    working_hours: None,
                },
                _ => AvailabilityMode::Default {
                    working_hours: Some(
                        WorkingHours::parse(&r.working_hours)
                            .map_err(|e| corrupt("working hours", e))?,
                    ),
                },
            },
        })
    }
}

impl TryFrom<SeriesRecord> for Series {
    type Error = StoreError;
    fn try_from(r: SeriesRecord) -> Result<Self, StoreError> {
        let zone = r.time_zone.parse().map_err(|e| corrupt("series zone", e))?;
        let start = NaiveDateTime::parse_from_str(&r.start_local, LOCAL_FORMAT)
            .map_err(|e| corrupt("series start", e))?;
        let length = if r.length_wall_clock {
            Length::WallClock {
                seconds: r.length_seconds,
            }
        } else {
            Length::Duration {
                days: r.length_days,
                seconds: r.length_seconds,
            }
        };
        let recurrence = if r.has_recurrence {
            Some(
                Recurrence::parse(
                    r.rrule.as_deref(),
                    split_local(&r.rdates)?,
                    split_local(&r.exdates)?,
                )
                .map_err(|e| corrupt("recurrence", e))?,
            )
        } else {
            None
        };
        let schedule = Schedule::restore(start, zone, length, r.all_day, recurrence, r.rule_bound)
            .map_err(|e| corrupt("schedule", e))?;
        let kind = SeriesKind::parse(&r.kind).ok_or_else(|| corrupt("series kind", &r.kind))?;
        let lineage = Lineage {
            root: parse_id::<SeriesId>("lineage id", &r.lineage_id)?,
            parent: r
                .parent_series_id
                .as_deref()
                .map(|p| parse_id::<SeriesId>("parent id", p))
                .transpose()?,
            split_at: r.split_at.map(RecurrenceId),
        };
        Ok(Series::new(
            parse_id::<SeriesId>("series id", &r.id)?,
            parse_id::<OrganizationId>("organization id", &r.organization_id)?,
            parse_id::<CalendarId>("calendar id", &r.calendar_id)?,
            kind,
            r.title,
            r.description,
            schedule,
            r.version,
        )
        .with_lineage(lineage)
        .shown_as(r.transparent))
    }
}

impl From<&Series> for SeriesRecord {
    fn from(s: &Series) -> Self {
        let schedule = s.schedule();
        let (length_days, length_seconds, length_wall_clock) = match schedule.length() {
            Length::Duration { days, seconds } => (days, seconds, false),
            Length::WallClock { seconds } => (0, seconds, true),
        };
        let rec = schedule.recurrence();
        let (span_start, span_end) = s.span();
        let lineage = s.lineage();
        SeriesRecord {
            id: s.id.to_string(),
            organization_id: s.organization.to_string(),
            calendar_id: s.calendar.to_string(),
            kind: s.kind.as_str().to_string(),
            title: s.title.clone(),
            description: s.description.clone(),
            start_local: schedule.start().format(LOCAL_FORMAT).to_string(),
            time_zone: schedule.zone().name().to_string(),
            all_day: schedule.all_day(),
            length_days,
            length_seconds,
            length_wall_clock,
            rrule: rec.and_then(|r| r.rule.as_ref()).map(|r| r.to_rfc5545()),
            rdates: rec.map(|r| join_local(&r.rdates)).unwrap_or_default(),
            exdates: rec.map(|r| join_local(&r.exdates)).unwrap_or_default(),
            has_recurrence: rec.is_some(),
            rule_bound: schedule.rule_bound(),
            span_start,
            span_end,
            version: s.version,
            lineage_id: lineage.root.to_string(),
            parent_series_id: lineage.parent.map(|p| p.to_string()),
            split_at: lineage.split_at.map(|r| r.0),
            transparent: s.transparent,
        }
    }
}

/// The availability columns of a calendar.
pub fn availability_columns(mode: &AvailabilityMode) -> (&'static str, String) {
    match mode {
        AvailabilityMode::Explicit => ("EXPLICIT", String::new()),
        AvailabilityMode::Default { working_hours } => (
            "DEFAULT",
            working_hours
                .as_ref()
                .map(WorkingHours::to_text)
                .unwrap_or_default(),
        ),
    }
}
