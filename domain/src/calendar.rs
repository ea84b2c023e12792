//! A calendar and the rules that say when it may be booked — configuration the series on it and
//! the availability computations both read.

use crate::ids::{CalendarId, OrganizationId};
use chrono::{NaiveTime, Timelike};

/// A calendar: a container of series, with a default zone for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub id: CalendarId,
    pub organization: OrganizationId,
    pub name: String,
    pub time_zone: chrono_tz::Tz,
    pub availability: AvailabilityMode,
}

/// How a calendar's available windows are defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvailabilityMode {
    /// Available unless busy, optionally only within working hours.
    Default { working_hours: Option<WorkingHours> },
    /// Available only inside its AVAILABLE occurrences.
    Explicit,
}

/// Weekly local hours: on each weekday in `days` (bit 0 = Monday), from `start` to `end`
/// (seconds after local midnight; `end` may be 86 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    pub rules: Vec<WorkingHoursRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHoursRule {
    pub days: u8,
    pub start: u32,
    pub end: u32,
}

const DAY_NAMES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

impl WorkingHours {
    /// Parses `MO,TU,WE,TH,FR 09:00-17:00; SA 10:00-12:30`.
    pub fn parse(text: &str) -> Result<Self, crate::InvalidInput> {
        let bad = |m: String| crate::InvalidInput::field("workingHours", m);
        let mut rules = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (days, hours) = part
                .split_once(' ')
                .ok_or_else(|| bad(format!("{part:?} is not like \"MO,TU 09:00-17:00\"")))?;
            let mut mask = 0u8;
            for d in days.split(',') {
                let i = DAY_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(d.trim()))
                    .ok_or_else(|| bad(format!("{d:?} is not a weekday (MO…SU)")))?;
                mask |= 1 << i;
            }
            let (a, b) = hours
                .trim()
                .split_once('-')
                .ok_or_else(|| bad(format!("{hours:?} is not like 09:00-17:00")))?;
            let time = |t: &str| -> Result<u32, crate::InvalidInput> {
                if t.trim() == "24:00" {
                    return Ok(86_400);
                }
                NaiveTime::parse_from_str(t.trim(), "%H:%M")
                    .map(|t| t.num_seconds_from_midnight())
                    .map_err(|_| bad(format!("{t:?} is not a time (HH:MM)")))
            };
            let (start, end) = (time(a)?, time(b)?);
            if end <= start {
                return Err(bad(format!("{hours}: the end must be after the start")));
            }
            rules.push(WorkingHoursRule {
                days: mask,
                start,
                end,
            });
        }
        if rules.is_empty() {
            return Err(bad(
                "give at least one rule, like \"MO,TU,WE,TH,FR 09:00-17:00\"".into(),
            ));
        }
        Ok(WorkingHours { rules })
    }

    pub fn to_text(&self) -> String {
        let hm = |s: u32| format!("{:02}:{:02}", s / 3600, s % 3600 / 60);
        self.rules
            .iter()
            .map(|r| {
                let days: Vec<&str> = (0..7)
                    .filter(|i| r.days & (1 << i) != 0)
                    .map(|i| DAY_NAMES[i])
                    .collect();
                format!("{} {}-{}", days.join(","), hm(r.start), hm(r.end))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
