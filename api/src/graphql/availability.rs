//! Availability questions: free/busy, available time, bookable slots, the next slot, why not.

use super::error::{ApiError, ResultExt};
use super::types::{app, output_zone, parse_calendar_ids, viewer, SeriesKindGql};
use crate::services;
use almanac_domain::availability::{BusyBlock, BusyOptions, Interval, Obstacle, SlotMode, SlotRules};
use almanac_domain::recurrence::{nominal_seconds, parse_duration};
use almanac_domain::time::TimeWindow;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;

fn at(t: i64, tz: Tz) -> DateTime<FixedOffset> {
    almanac_domain::time::instant(t).with_timezone(&tz).fixed_offset()
}

#[derive(SimpleObject)]
pub struct TimeInterval {
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
}

fn intervals(v: &[Interval], tz: Tz) -> Vec<TimeInterval> {
    v.iter().map(|i| TimeInterval { start: at(i.start, tz), end: at(i.end, tz) }).collect()
}

/// An occurrence that makes time busy.
#[derive(SimpleObject)]
pub struct BusyOccurrence {
    pub occurrence_id: ID,
    pub series_id: ID,
    pub calendar_id: ID,
    pub kind: SeriesKindGql,
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
}

fn busy_out(b: &BusyBlock, tz: Tz) -> BusyOccurrence {
    BusyOccurrence {
        occurrence_id: ID(b.occurrence.to_string()),
        series_id: ID(b.series.to_string()),
        calendar_id: ID(b.calendar.to_string()),
        kind: b.kind.into(),
        start: at(b.interval.start, tz),
        end: at(b.interval.end, tz),
    }
}

#[derive(SimpleObject)]
pub struct CalendarFreeBusy {
    pub calendar_id: ID,
    /// Merged busy intervals.
    pub busy: Vec<TimeInterval>,
    /// The occurrences behind them.
    pub occurrences: Vec<BusyOccurrence>,
}

#[derive(SimpleObject)]
pub struct FreeBusy {
    pub calendars: Vec<CalendarFreeBusy>,
    /// Busy on any of the calendars, merged.
    pub combined: Vec<TimeInterval>,
}

#[derive(SimpleObject)]
pub struct CalendarAvailability {
    pub calendar_id: ID,
    /// Where the calendar could be available: its working hours or AVAILABLE occurrences.
    pub windows: Vec<TimeInterval>,
    /// Available time: windows minus busy time.
    pub free: Vec<TimeInterval>,
}

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
    pub calendar_ids: Vec<ID>,
    pub duration: String,
    /// Slot starts fall on multiples of this on the output zone's clock (default: the duration).
    pub step: Option<String>,
    /// Free time needed before each slot, also away from existing events.
    pub buffer_before: Option<String>,
    pub buffer_after: Option<String>,
    /// Slots start no sooner than `now` + this.
    pub minimum_notice: Option<String>,
    /// Slots start no later than `now` + this (default P60D, at most P366D).
    pub maximum_horizon: Option<String>,
    /// The moment notice and horizon count from.
    pub now: DateTime<Utc>,
    /// IANA zone for the output and for step alignment (default UTC).
    pub time_zone: Option<String>,
    #[graphql(default)]
    pub mode: SlotModeGql,
    /// Whether TENTATIVE occurrences block (default true).
    #[graphql(default = true)]
    pub tentative_is_busy: bool,
}

impl SlotRulesInput {
    fn parse(&self) -> Result<(Vec<almanac_domain::CalendarId>, SlotRules, BusyOptions), ApiError> {
        let secs = |field: &'static str, v: &Option<String>, default: i64| -> Result<i64, ApiError> {
            match v {
                None => Ok(default),
                Some(t) => parse_duration(t).map(nominal_seconds).map_err(|e| match e {
                    almanac_domain::InvalidInput::Field { message, .. } => ApiError::invalid(field, message),
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
            now: self.now.timestamp(),
            zone: output_zone(self.time_zone.as_deref())?,
            mode: match self.mode {
                SlotModeGql::All => SlotMode::All,
                SlotModeGql::Any => SlotMode::Any,
            },
            range: Interval { start: i64::MIN / 4, end: i64::MAX / 4 },
        };
        Ok((parse_calendar_ids(&self.calendar_ids)?, rules, BusyOptions { tentative_is_busy: self.tentative_is_busy }))
    }
}

#[derive(SimpleObject)]
pub struct BookableSlot {
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    /// The calendars free for this slot (every one in ALL mode).
    pub calendar_ids: Vec<ID>,
}

#[derive(SimpleObject)]
pub struct SlotPage {
    pub slots: Vec<BookableSlot>,
    /// More slots exist in the window than `first`.
    pub has_more: bool,
}

fn slot_out(s: &almanac_domain::availability::Slot, tz: Tz) -> BookableSlot {
    BookableSlot { start: at(s.start, tz), end: at(s.end, tz), calendar_ids: s.calendars.iter().map(|c| ID(c.to_string())).collect() }
}

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

#[derive(SimpleObject)]
pub struct Unavailability {
    pub reason: UnavailabilityReason,
    pub calendar_id: Option<ID>,
    /// The occurrence in the way (OCCURRENCE and BUFFER).
    pub occurrence: Option<BusyOccurrence>,
}

fn obstacle_out(o: &Obstacle, tz: Tz) -> Unavailability {
    match o {
        Obstacle::Occurrence(b) => Unavailability { reason: UnavailabilityReason::Occurrence, calendar_id: Some(ID(b.calendar.to_string())), occurrence: Some(busy_out(b, tz)) },
        Obstacle::Buffer(b) => Unavailability { reason: UnavailabilityReason::Buffer, calendar_id: Some(ID(b.calendar.to_string())), occurrence: Some(busy_out(b, tz)) },
        Obstacle::Notice => Unavailability { reason: UnavailabilityReason::Notice, calendar_id: None, occurrence: None },
        Obstacle::Horizon => Unavailability { reason: UnavailabilityReason::Horizon, calendar_id: None, occurrence: None },
        Obstacle::OutsideAvailability(c) => Unavailability { reason: UnavailabilityReason::OutsideAvailability, calendar_id: Some(ID(c.to_string())), occurrence: None },
    }
}

/// The calendars, window and output zone of an availability question.
fn question(calendar_ids: &[ID], from: DateTime<Utc>, to: DateTime<Utc>, time_zone: Option<&str>) -> Result<(Vec<almanac_domain::CalendarId>, TimeWindow, Tz), ApiError> {
    Ok((parse_calendar_ids(calendar_ids)?, TimeWindow::new(from, to)?, output_zone(time_zone)?))
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
        calendar_ids: Vec<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        time_zone: Option<String>,
        #[graphql(default = true)] tentative_is_busy: bool,
    ) -> async_graphql::Result<FreeBusy> {
        let (cals, window, tz) = question(&calendar_ids, from, to, time_zone.as_deref()).gql()?;
        let (times, combined) = services::availability::free_busy(app(ctx), viewer(ctx).organization, &cals, window, BusyOptions { tentative_is_busy }).await.gql()?;
        let w = Interval { start: from.timestamp(), end: to.timestamp() };
        Ok(FreeBusy {
            calendars: times
                .iter()
                .map(|t| CalendarFreeBusy {
                    calendar_id: ID(t.calendar.to_string()),
                    busy: intervals(&almanac_domain::availability::intersect(&t.busy_merged, &[w]), tz),
                    occurrences: t.busy.iter().map(|b| busy_out(b, tz)).collect(),
                })
                .collect(),
            combined: intervals(&combined, tz),
        })
    }

    /// Each calendar's available windows and free time (windows minus busy) in [from, to).
    async fn availability(
        &self,
        ctx: &Context<'_>,
        calendar_ids: Vec<ID>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        time_zone: Option<String>,
        #[graphql(default = true)] tentative_is_busy: bool,
    ) -> async_graphql::Result<Vec<CalendarAvailability>> {
        let (cals, window, tz) = question(&calendar_ids, from, to, time_zone.as_deref()).gql()?;
        let times = services::availability::calendar_times(app(ctx), viewer(ctx).organization, &cals, window, BusyOptions { tentative_is_busy }).await.gql()?;
        Ok(times
            .iter()
            .map(|t| CalendarAvailability { calendar_id: ID(t.calendar.to_string()), windows: intervals(&t.windows, tz), free: intervals(&t.free(), tz) })
            .collect())
    }

    /// Bookable slot starts in [from, to) under the rules, in order.
    async fn bookable_slots(&self, ctx: &Context<'_>, rules: SlotRulesInput, from: DateTime<Utc>, to: DateTime<Utc>, #[graphql(default = 500)] first: i32) -> async_graphql::Result<SlotPage> {
        let (cals, r, opts) = rules.parse().gql()?;
        let window = TimeWindow::new(from, to).map_err(ApiError::from).gql()?;
        let (slots, has_more) = services::availability::slots(app(ctx), viewer(ctx).organization, &cals, window, &r, opts, first.max(0) as usize).await.gql()?;
        Ok(SlotPage { slots: slots.iter().map(|s| slot_out(s, r.zone)).collect(), has_more })
    }

    /// The first bookable slot at or after `after` (null: none before the horizon).
    async fn next_available_slot(&self, ctx: &Context<'_>, rules: SlotRulesInput, after: DateTime<Utc>) -> async_graphql::Result<Option<BookableSlot>> {
        let (cals, r, opts) = rules.parse().gql()?;
        let slot = services::availability::next_slot(app(ctx), viewer(ctx).organization, &cals, after, &r, opts).await.gql()?;
        Ok(slot.map(|s| slot_out(&s, r.zone)))
    }

    /// Why [start, end) cannot be booked under the rules: the occurrences and rules in the way
    /// (empty: it can).
    async fn why_not_available(&self, ctx: &Context<'_>, rules: SlotRulesInput, start: DateTime<Utc>, end: DateTime<Utc>) -> async_graphql::Result<Vec<Unavailability>> {
        let (cals, r, opts) = rules.parse().gql()?;
        let obstacles = services::availability::why_not(app(ctx), viewer(ctx).organization, &cals, start, end, &r, opts).await.gql()?;
        Ok(obstacles.iter().map(|o| obstacle_out(o, r.zone)).collect())
    }
}
