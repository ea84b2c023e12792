//! Series: the stored unit of scheduling. A series is one of three kinds, has a schedule
//! (start, zone, length, recurrence) and a version for optimistic concurrency.

use crate::ids::{CalendarId, OrganizationId, SeriesId};
use crate::recurrence::Schedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesKind {
    /// Something that happens: a meeting, a class.
    Event,
    /// Time that must not be booked.
    Blocked,
    /// Time that may be booked.
    Available,
}

impl SeriesKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Event => "EVENT",
            SeriesKind::Blocked => "BLOCKED",
            SeriesKind::Available => "AVAILABLE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EVENT" => Some(Self::Event),
            "BLOCKED" => Some(Self::Blocked),
            "AVAILABLE" => Some(Self::Available),
            _ => None,
        }
    }
}

/// A calendar: a container of series, with a default zone for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub id: CalendarId,
    pub organization: OrganizationId,
    pub name: String,
    pub time_zone: chrono_tz::Tz,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub id: SeriesId,
    pub organization: OrganizationId,
    pub calendar: CalendarId,
    pub kind: SeriesKind,
    pub title: String,
    pub description: Option<String>,
    schedule: Schedule,
    /// Increases by one on every change; writers must name the version they read.
    pub version: i64,
}

impl Series {
    pub fn new(id: SeriesId, organization: OrganizationId, calendar: CalendarId, kind: SeriesKind, title: String, description: Option<String>, schedule: Schedule, version: i64) -> Self {
        Series { id, organization, calendar, kind, title, description, schedule, version }
    }
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }
}
