//! Availability questions: free/busy, available time, bookable slots, the next slot, why not.

use super::error::{ApiError, ResultExt};
use super::scalars::Instant;
use super::types::{app, instant_in, output_zone, parse_calendar_ids, viewer, SeriesKindGql};
use crate::services;
use almanac_domain::availability::{
    BusyBlock, BusyOptions, Interval, Obstacle, SlotMode, SlotRules,
};
use almanac_domain::recurrence::{nominal_seconds, parse_duration};
use almanac_domain::time::TimeWindow;
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

/// Instants come out in UTC unless a field is asked for a zone: a value never depends on an
/// ancestor's argument, so normalized client caches never mix renderings.
fn at(t: i64, time_zone: Option<String>) -> async_graphql::Result<Instant> {
    instant_in(almanac_domain::time::instant(t), time_zone.as_deref())
}

pub struct TimeInterval(Interval);

/// A span of time, [start, end): start inclusive, end exclusive.
#[Object]
impl TimeInterval {
    /// In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn start(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.0.start, time_zone)
    }
    /// Exclusive. In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn end(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.0.end, time_zone)
    }
}

fn intervals(v: &[Interval]) -> Vec<TimeInterval> {
    v.iter().copied().map(TimeInterval).collect()
}

/// An occurrence that makes time busy.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BusyOccurrence {
    /// The occurrence's id (`occ_…`); `node(id:)` gives the full `Occurrence`.
    pub occurrence_id: ID,
    /// The id (`ser_…`) of the series it belongs to.
    pub series_id: ID,
    /// The id (`cal_…`) of the calendar it is on.
    pub calendar_id: ID,
    /// EVENT or BLOCKED (AVAILABLE occurrences never make time busy).
    pub kind: SeriesKindGql,
    #[graphql(skip)]
    pub interval: Interval,
}

#[ComplexObject]
impl BusyOccurrence {
    /// In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn start(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.interval.start, time_zone)
    }
    /// In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn end(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.interval.end, time_zone)
    }
}

fn busy_out(b: &BusyBlock) -> BusyOccurrence {
    BusyOccurrence {
        occurrence_id: ID(b.occurrence.to_string()),
        series_id: ID(b.series.to_string()),
        calendar_id: ID(b.calendar.to_string()),
        kind: b.kind.into(),
        interval: b.interval,
    }
}

/// One calendar's busy time in the window.
#[derive(SimpleObject)]
pub struct CalendarFreeBusy {
    /// The calendar (`cal_…`).
    pub calendar_id: ID,
    /// Merged busy intervals.
    pub busy: Vec<TimeInterval>,
    /// The occurrences behind them.
    pub occurrences: Vec<BusyOccurrence>,
}

/// Busy time in a window, per calendar and combined.
#[derive(SimpleObject)]
pub struct FreeBusy {
    /// One entry per calendar asked about, in the order of `calendarIds`.
    pub calendars: Vec<CalendarFreeBusy>,
    /// Busy on any of the calendars, merged.
    pub combined: Vec<TimeInterval>,
}

/// One calendar's available time in the window.
#[derive(SimpleObject)]
pub struct CalendarAvailability {
    /// The calendar (`cal_…`).
    pub calendar_id: ID,
    /// Where the calendar could be available: its working hours or AVAILABLE occurrences.
    pub windows: Vec<TimeInterval>,
    /// Available time: windows minus busy time.
    pub free: Vec<TimeInterval>,
}

/// How a slot search over several calendars decides a slot is free.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "SlotMode")]
pub enum SlotModeGql {
    /// Collective: every calendar must be free.
    #[default]
    All,
    /// Round-robin: any calendar free; each slot lists which.
    Any,
}

/// The rules of a slot search. Durations are ISO 8601 (PT30M).
#[derive(InputObject)]
pub struct SlotRulesInput {
    /// The calendars to book on (`cal_…`), at most 500; NOT_FOUND for one not in your organization.
    pub calendar_ids: Vec<ID>,
    /// Length of each slot, ISO 8601 (PT30M).
    pub duration: String,
    /// Slot starts fall on multiples of this on the output zone's clock (default: the duration).
    pub step: Option<String>,
    /// Free time needed before each slot, also away from existing events.
    pub buffer_before: Option<String>,
    /// Free time needed after each slot, also away from existing events.
    pub buffer_after: Option<String>,
    /// Slots start no sooner than `now` + this.
    pub minimum_notice: Option<String>,
    /// Slots start no later than `now` + this (default P60D, at most P366D).
    pub maximum_horizon: Option<String>,
    /// The moment notice and horizon count from.
    pub now: Instant,
    /// IANA zone whose clock slot starts are aligned to (default UTC). Slots are still written
    /// in UTC: ask `start(timeZone:)` for this zone's offset.
    pub time_zone: Option<String>,
    /// ALL (default): every calendar free; ANY: at least one.
    #[graphql(default)]
    pub mode: SlotModeGql,
    /// Whether TENTATIVE occurrences block (default true).
    #[graphql(default = true)]
    pub tentative_is_busy: bool,
}

impl SlotRulesInput {
    fn parse(&self) -> Result<(Vec<almanac_domain::CalendarId>, SlotRules, BusyOptions), ApiError> {
        let secs =
            |field: &'static str, v: &Option<String>, default: i64| -> Result<i64, ApiError> {
                match v {
                    None => Ok(default),
                    Some(t) => parse_duration(t).map(nominal_seconds).map_err(|e| match e {
                        almanac_domain::InvalidInput::Field { message, .. } => {
                            ApiError::invalid(field, message)
                        }
                        other => ApiError::Invalid(other),
                    }),
                }
            };
        let duration = secs("duration", &Some(self.duration.clone()), 0)?;
        let rules = SlotRules {
            duration,
            step: secs("step", &self.step, duration)?,
            buffer_before: secs("bufferBefore", &self.buffer_before, 0)?,
            buffer_after: secs("bufferAfter", &self.buffer_after, 0)?,
            notice: secs("minimumNotice", &self.minimum_notice, 0)?,
            horizon: secs("maximumHorizon", &self.maximum_horizon, 60 * 86_400)?,
            now: self.now.utc().timestamp(),
            zone: output_zone(self.time_zone.as_deref())?,
            mode: match self.mode {
                SlotModeGql::All => SlotMode::All,
                SlotModeGql::Any => SlotMode::Any,
            },
            range: Interval {
                start: i64::MIN / 4,
                end: i64::MAX / 4,
            },
        };
        Ok((
            parse_calendar_ids(&self.calendar_ids)?,
            rules,
            BusyOptions {
                tentative_is_busy: self.tentative_is_busy,
            },
        ))
    }
}

/// A time that can be booked under the rules.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct BookableSlot {
    #[graphql(skip)]
    pub interval: Interval,
    /// The calendars free for this slot (every one in ALL mode).
    pub calendar_ids: Vec<ID>,
}

#[ComplexObject]
impl BookableSlot {
    /// In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn start(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.interval.start, time_zone)
    }
    /// In UTC; with `timeZone` (an IANA zone), written with that zone's offset.
    async fn end(
        &self,
        #[graphql(
            desc = "IANA zone to write the offset of, e.g. \"Asia/Kolkata\"; unknown zones are BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<Instant> {
        at(self.interval.end, time_zone)
    }
}

/// Bookable slots of a window, earliest first.
#[derive(SimpleObject)]
pub struct SlotPage {
    /// At most `first` slots, in start order.
    pub slots: Vec<BookableSlot>,
    /// More slots exist in the window than `first`.
    pub has_more: bool,
}

fn slot_out(s: &almanac_domain::availability::Slot) -> BookableSlot {
    BookableSlot {
        interval: Interval {
            start: s.start,
            end: s.end,
        },
        calendar_ids: s.calendars.iter().map(|c| ID(c.to_string())).collect(),
    }
}

/// Why an interval cannot be booked.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum UnavailabilityReason {
    /// An occurrence overlaps the interval.
    Occurrence,
    /// An occurrence lies within the buffer around it.
    Buffer,
    /// It starts sooner than the minimum notice.
    Notice,
    /// It starts later than the maximum horizon.
    Horizon,
    /// It is outside the calendar's working hours or AVAILABLE occurrences.
    OutsideAvailability,
}

/// One thing in the way of booking an interval.
#[derive(SimpleObject)]
pub struct Unavailability {
    /// What kind of obstacle it is.
    pub reason: UnavailabilityReason,
    /// The calendar it concerns (`cal_…`); null for NOTICE and HORIZON, which concern the rules.
    pub calendar_id: Option<ID>,
    /// The occurrence in the way (OCCURRENCE and BUFFER).
    pub occurrence: Option<BusyOccurrence>,
}

fn obstacle_out(o: &Obstacle) -> Unavailability {
    match o {
        Obstacle::Occurrence(b) => Unavailability {
            reason: UnavailabilityReason::Occurrence,
            calendar_id: Some(ID(b.calendar.to_string())),
            occurrence: Some(busy_out(b)),
        },
        Obstacle::Buffer(b) => Unavailability {
            reason: UnavailabilityReason::Buffer,
            calendar_id: Some(ID(b.calendar.to_string())),
            occurrence: Some(busy_out(b)),
        },
        Obstacle::Notice => Unavailability {
            reason: UnavailabilityReason::Notice,
            calendar_id: None,
            occurrence: None,
        },
        Obstacle::Horizon => Unavailability {
            reason: UnavailabilityReason::Horizon,
            calendar_id: None,
            occurrence: None,
        },
        Obstacle::OutsideAvailability(c) => Unavailability {
            reason: UnavailabilityReason::OutsideAvailability,
            calendar_id: Some(ID(c.to_string())),
            occurrence: None,
        },
    }
}

/// The calendars and window of an availability question. The zone changes nothing any more, but a
/// misspelt one is still refused rather than silently ignored.
fn question(
    calendar_ids: &[ID],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    time_zone: Option<&str>,
) -> Result<(Vec<almanac_domain::CalendarId>, TimeWindow), ApiError> {
    output_zone(time_zone)?;
    Ok((
        parse_calendar_ids(calendar_ids)?,
        TimeWindow::new(from, to)?,
    ))
}

#[derive(Default)]
pub struct AvailabilityQuery;

#[Object]
impl AvailabilityQuery {
    /// Busy time per calendar and combined: EVENT occurrences that are not cancelled or FREE
    /// (tentative ones if `tentativeIsBusy`), and BLOCKED occurrences.
    async fn free_busy(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Calendars to ask about (`cal_…`), at most 500; an id not in your organization gives NOT_FOUND."
        )]
        calendar_ids: Vec<ID>,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(
            desc = "Window end (exclusive), after `from` and at most 366 days later (RANGE_TOO_LARGE beyond)."
        )]
        to: Instant,
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:) and end(timeZone:).",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
        #[graphql(default = true, desc = "Whether TENTATIVE occurrences count as busy.")]
        tentative_is_busy: bool,
    ) -> async_graphql::Result<FreeBusy> {
        let (from, to) = (from.utc(), to.utc());
        let (cals, window) = question(&calendar_ids, from, to, time_zone.as_deref()).gql()?;
        let (times, combined) = services::availability::free_busy(
            app(ctx),
            viewer(ctx).organization,
            &cals,
            window,
            BusyOptions { tentative_is_busy },
        )
        .await
        .gql()?;
        let w = Interval {
            start: from.timestamp(),
            end: to.timestamp(),
        };
        Ok(FreeBusy {
            calendars: times
                .iter()
                .map(|t| CalendarFreeBusy {
                    calendar_id: ID(t.calendar.to_string()),
                    busy: intervals(&almanac_domain::availability::intersect(
                        &t.busy_merged,
                        &[w],
                    )),
                    occurrences: t.busy.iter().map(busy_out).collect(),
                })
                .collect(),
            combined: intervals(&combined),
        })
    }

    /// Each calendar's available windows and free time (windows minus busy) in [from, to).
    async fn availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Calendars to ask about (`cal_…`), at most 500; an id not in your organization gives NOT_FOUND."
        )]
        calendar_ids: Vec<ID>,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(
            desc = "Window end (exclusive), after `from` and at most 366 days later (RANGE_TOO_LARGE beyond)."
        )]
        to: Instant,
        #[graphql(
            deprecation = "Ignored: instants are always written in UTC. Ask a field for a zone: start(timeZone:) and end(timeZone:).",
            desc = "Deprecated and ignored, but still checked: an unknown IANA zone is BAD_USER_INPUT."
        )]
        time_zone: Option<String>,
        #[graphql(default = true, desc = "Whether TENTATIVE occurrences count as busy.")]
        tentative_is_busy: bool,
    ) -> async_graphql::Result<Vec<CalendarAvailability>> {
        let (cals, window) =
            question(&calendar_ids, from.utc(), to.utc(), time_zone.as_deref()).gql()?;
        let times = services::availability::calendar_times(
            app(ctx),
            viewer(ctx).organization,
            &cals,
            window,
            BusyOptions { tentative_is_busy },
        )
        .await
        .gql()?;
        Ok(times
            .iter()
            .map(|t| CalendarAvailability {
                calendar_id: ID(t.calendar.to_string()),
                windows: intervals(&t.windows),
                free: intervals(&t.free()),
            })
            .collect())
    }

    /// Bookable slot starts in [from, to) under the rules, in order.
    async fn bookable_slots(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calendars, slot length, buffers, notice and horizon.")]
        rules: SlotRulesInput,
        #[graphql(desc = "Window start (inclusive), an RFC 3339 instant.")] from: Instant,
        #[graphql(desc = "Window end (exclusive), after `from`.")] to: Instant,
        #[graphql(
            default = 500,
            desc = "At most this many slots, 1–2000 (RANGE_TOO_LARGE otherwise); `hasMore` says when the window holds more."
        )]
        first: i32,
    ) -> async_graphql::Result<SlotPage> {
        let (cals, r, opts) = rules.parse().gql()?;
        let window = TimeWindow::new(from.utc(), to.utc())
            .map_err(ApiError::from)
            .gql()?;
        let (slots, has_more) = services::availability::slots(
            app(ctx),
            viewer(ctx).organization,
            &cals,
            window,
            &r,
            opts,
            first.max(0) as usize,
        )
        .await
        .gql()?;
        Ok(SlotPage {
            slots: slots.iter().map(slot_out).collect(),
            has_more,
        })
    }

    /// The first bookable slot at or after `after` (null: none before the horizon).
    async fn next_available_slot(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calendars, slot length, buffers, notice and horizon.")]
        rules: SlotRulesInput,
        #[graphql(desc = "Search from this instant on.")] after: Instant,
    ) -> async_graphql::Result<Option<BookableSlot>> {
        let (cals, r, opts) = rules.parse().gql()?;
        let slot = services::availability::next_slot(
            app(ctx),
            viewer(ctx).organization,
            &cals,
            after.utc(),
            &r,
            opts,
        )
        .await
        .gql()?;
        Ok(slot.as_ref().map(slot_out))
    }

    /// Why [start, end) cannot be booked under the rules: the occurrences and rules in the way
    /// (empty: it can).
    async fn why_not_available(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which calendars, slot length, buffers, notice and horizon.")]
        rules: SlotRulesInput,
        #[graphql(desc = "Start of the interval to check.")] start: Instant,
        #[graphql(desc = "End of the interval to check (exclusive), after `start`.")] end: Instant,
    ) -> async_graphql::Result<Vec<Unavailability>> {
        let (cals, r, opts) = rules.parse().gql()?;
        let obstacles = services::availability::why_not(
            app(ctx),
            viewer(ctx).organization,
            &cals,
            start.utc(),
            end.utc(),
            &r,
            opts,
        )
        .await
        .gql()?;
        Ok(obstacles.iter().map(obstacle_out).collect())
    }
}
