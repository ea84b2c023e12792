//! `patternedRecurrence`: validation, the echoed shape, and expansion by Exchange's rules.
//!
//! This is an independent implementation of the Exchange side (no RRULE involved):
//!
//! - `daily`: every `interval` days from `startDate`;
//! - `weekly`: weeks begin on `firstDayOfWeek`; the week holding `startDate` is week 0 and every
//!   `interval`-th week after it is active; in an active week every day of `daysOfWeek` is an
//!   occurrence;
//! - `absoluteMonthly`: day `dayOfMonth` of every `interval`-th month from `startDate`'s month,
//!   clamped to the month's last day (31 = "last day of the month", 29 → Feb 28 in common years);
//! - `relativeMonthly`: in every `interval`-th month, the `index`-th (first…fourth, last) day that
//!   is any of `daysOfWeek` (union semantics: Mon–Fri + last = last weekday);
//! - `absoluteYearly` / `relativeYearly`: the same within `month` of every `interval`-th year
//!   (Feb 29 clamps to Feb 28);
//! - dates before `startDate` are skipped; `numbered` counts from the first pattern date on or after
//!   `startDate`; `endDate` is inclusive, compared in `recurrenceTimeZone`; `noEnd` is unbounded.

use super::error::{GraphError, GraphResult};
use super::zones::{self, Zone};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternType {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

impl PatternType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "daily" => PatternType::Daily,
            "weekly" => PatternType::Weekly,
            "absoluteMonthly" => PatternType::AbsoluteMonthly,
            "relativeMonthly" => PatternType::RelativeMonthly,
            "absoluteYearly" => PatternType::AbsoluteYearly,
            "relativeYearly" => PatternType::RelativeYearly,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            PatternType::Daily => "daily",
            PatternType::Weekly => "weekly",
            PatternType::AbsoluteMonthly => "absoluteMonthly",
            PatternType::RelativeMonthly => "relativeMonthly",
            PatternType::AbsoluteYearly => "absoluteYearly",
            PatternType::RelativeYearly => "relativeYearly",
        }
    }
    fn relative(self) -> bool {
        matches!(
            self,
            PatternType::RelativeMonthly | PatternType::RelativeYearly
        )
    }
    fn yearly(self) -> bool {
        matches!(
            self,
            PatternType::AbsoluteYearly | PatternType::RelativeYearly
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeType {
    EndDate,
    NoEnd,
    Numbered,
}

const WEEK_INDEX: [&str; 5] = ["first", "second", "third", "fourth", "last"];
const DAYS: [(&str, Weekday); 7] = [
    ("sunday", Weekday::Sun),
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
];

fn weekday(name: &str) -> Option<Weekday> {
    DAYS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, d)| *d)
}

fn day_name(d: Weekday) -> &'static str {
    DAYS.iter()
        .find(|(_, x)| *x == d)
        .map(|(n, _)| *n)
        .unwrap_or("sunday")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub ty: PatternType,
    pub interval: u32,
    /// Sorted Sunday first, no duplicates.
    pub days: Vec<Weekday>,
    pub first_day: Weekday,
    /// 0..=3 = first…fourth, 4 = last.
    pub index: usize,
    pub day_of_month: u32,
    pub month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub ty: RangeType,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub count: u32,
    pub zone: Zone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recurrence {
    pub pattern: Pattern,
    pub range: Range,
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

/// Parses and validates a (schema-checked) `patternedRecurrence`. `default_zone` is the event's
/// start zone, used when the range names none.
pub(crate) fn parse(v: &Value, default_zone: Zone) -> GraphResult<Recurrence> {
    let p = v
        .get("pattern")
        .filter(|p| p.is_object())
        .ok_or_else(|| GraphError::recurrence("The recurrence pattern is required."))?;
    let r = v
        .get("range")
        .filter(|r| r.is_object())
        .ok_or_else(|| GraphError::recurrence("The recurrence range is required."))?;
    let ty = text(p, "type")
        .and_then(PatternType::parse)
        .ok_or_else(|| GraphError::recurrence("The recurrence pattern type is required."))?;
    let interval = int(p, "interval").unwrap_or(0);
    if !(1..=999).contains(&interval) {
        return Err(GraphError::recurrence(format!(
            "The recurrence pattern interval must be between 1 and 999, not {interval}."
        )));
    }
    let mut days: Vec<Weekday> = match p.get("daysOfWeek") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter_map(weekday)
            .collect(),
        _ => vec![],
    };
    days.sort_by_key(|d| d.num_days_from_sunday());
    days.dedup();
    let first_day = text(p, "firstDayOfWeek")
        .and_then(weekday)
        .unwrap_or(Weekday::Sun);
    let index = match text(p, "index") {
        None => 0,
        Some(s) => WEEK_INDEX
            .iter()
            .position(|w| *w == s)
            .ok_or_else(|| GraphError::recurrence(format!("'{s}' is not a valid week index.")))?,
    };
    let day_of_month = int(p, "dayOfMonth").unwrap_or(0);
    let month = int(p, "month").unwrap_or(0);
    if !(0..=31).contains(&day_of_month) {
        return Err(GraphError::recurrence(format!(
            "The recurrence pattern dayOfMonth must be between 1 and 31, not {day_of_month}."
        )));
    }
    if !(0..=12).contains(&month) {
        return Err(GraphError::recurrence(format!(
            "The recurrence pattern month must be between 1 and 12, not {month}."
        )));
    }
    let name = ty.name();
    let need = |what: &str| {
        GraphError::recurrence(format!(
            "The recurrence pattern type '{name}' requires the property '{what}'."
        ))
    };
    if matches!(
        ty,
        PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly
    ) && days.is_empty()
    {
        return Err(need("daysOfWeek"));
    }
    if matches!(
        ty,
        PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly
    ) && day_of_month == 0
    {
        return Err(need("dayOfMonth"));
    }
    if ty.yearly() && month == 0 {
        return Err(need("month"));
    }
    if ty == PatternType::AbsoluteYearly && day_of_month as u32 > days_in_month(2000, month as u32)
    {
        return Err(GraphError::recurrence(format!(
            "Day {day_of_month} does not exist in month {month}."
        )));
    }
    let pattern = Pattern {
        ty,
        interval: interval as u32,
        days,
        first_day,
        index,
        day_of_month: day_of_month as u32,
        month: month as u32,
    };

    let rty = match text(r, "type") {
        Some("endDate") => RangeType::EndDate,
        Some("noEnd") => RangeType::NoEnd,
        Some("numbered") => RangeType::Numbered,
        _ => {
            return Err(GraphError::recurrence(
                "The recurrence range type is required.",
            ))
        }
    };
    let date = |k: &str| text(r, k).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    let start = date("startDate")
        .ok_or_else(|| GraphError::recurrence("The recurrence range startDate is required."))?;
    let end = match rty {
        RangeType::EndDate => {
            let e = date("endDate").filter(|d| d.year() > 1).ok_or_else(|| {
                GraphError::recurrence(
                    "The recurrence range type 'endDate' requires the property 'endDate'.",
                )
            })?;
            if e < start {
                return Err(GraphError::recurrence(
                    "The recurrence range endDate must not be earlier than startDate.",
                ));
            }
            Some(e)
        }
        _ => None,
    };
    let count = match rty {
        RangeType::Numbered => {
            let n = int(r, "numberOfOccurrences").unwrap_or(0);
            if !(1..=999).contains(&n) {
                return Err(GraphError::recurrence("The recurrence range type 'numbered' requires numberOfOccurrences between 1 and 999."));
            }
            n as u32
        }
        _ => 0,
    };
    let zone = match text(r, "recurrenceTimeZone").filter(|s| !s.trim().is_empty()) {
        Some(z) => zones::resolve(z).ok_or_else(|| GraphError::time_zone(z))?,
        None => default_zone,
    };
    Ok(Recurrence {
        pattern,
        range: Range {
            ty: rty,
            start,
            end,
            count,
            zone,
        },
    })
}

/// The shape Graph answers with: every property present, 0 / `first` / `sunday` / `0001-01-01`
/// where unused \[K\].
pub(crate) fn render(rec: &Recurrence) -> Value {
    let p = &rec.pattern;
    let weekly_or_relative = p.ty == PatternType::Weekly || p.ty.relative();
    let days: Vec<&str> = if weekly_or_relative {
        p.days.iter().map(|d| day_name(*d)).collect()
    } else {
        vec![]
    };
    let absolute = matches!(
        p.ty,
        PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly
    );
    let r = &rec.range;
    json!({
        "pattern": {
            "type": p.ty.name(),
            "interval": p.interval,
            "month": if p.ty.yearly() { p.month } else { 0 },
            "dayOfMonth": if absolute { p.day_of_month } else { 0 },
            "daysOfWeek": days,
            "firstDayOfWeek": if p.ty == PatternType::Weekly { day_name(p.first_day) } else { "sunday" },
            "index": if p.ty.relative() { WEEK_INDEX[p.index] } else { "first" },
        },
        "range": {
            "type": match r.ty { RangeType::EndDate => "endDate", RangeType::NoEnd => "noEnd", RangeType::Numbered => "numbered" },
            "startDate": r.start.format("%Y-%m-%d").to_string(),
            "endDate": r.end.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "0001-01-01".into()),
            "recurrenceTimeZone": r.zone.windows,
            "numberOfOccurrences": if r.ty == RangeType::Numbered { r.count } else { 0 },
        }
    })
}

fn add_months(y: i32, m0: u32, months: i64) -> Option<(i32, u32)> {
    let total = i64::from(y) * 12 + i64::from(m0) + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    (1..=9999)
        .contains(&year)
        .then_some((year, total.rem_euclid(12) as u32 + 1))
}

/// The `index`-th day of month `m` in year `y` whose weekday is in `days` (4 = the last one).
fn relative_day(y: i32, m: u32, days: &[Weekday], index: usize) -> Option<NaiveDate> {
    let n = days_in_month(y, m);
    let matching: Vec<NaiveDate> = (1..=n)
        .filter_map(|d| NaiveDate::from_ymd_opt(y, m, d))
        .filter(|d| days.contains(&d.weekday()))
        .collect();
    if index == 4 {
        matching.last().copied()
    } else {
        matching.get(index).copied()
    }
}

fn clamped(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day.min(days_in_month(y, m)))
}

/// Pattern dates on or after `startDate`, in order, without the range's end condition (the caller
/// applies `numbered` / `endDate`, which need times and zones). Unbounded.
pub(crate) struct PatternDates<'a> {
    p: &'a Pattern,
    start: NaiveDate,
    period: i64,
    buf: std::collections::VecDeque<NaiveDate>,
    done: bool,
}

impl<'a> PatternDates<'a> {
    pub(crate) fn new(rec: &'a Recurrence) -> Self {
        PatternDates {
            p: &rec.pattern,
            start: rec.range.start,
            period: 0,
            buf: Default::default(),
            done: false,
        }
    }

    /// The dates of one period (a day, a week, a month or a year), before filtering.
    fn period_dates(&self, k: i64) -> Option<Vec<NaiveDate>> {
        let p = self.p;
        let step = k * i64::from(p.interval);
        let s = self.start;
        Some(match p.ty {
            PatternType::Daily => vec![s.checked_add_signed(Duration::days(step))?],
            PatternType::Weekly => {
                let back = (7 + s.weekday().num_days_from_sunday()
                    - p.first_day.num_days_from_sunday())
                    % 7;
                let week0 = s.checked_sub_signed(Duration::days(i64::from(back)))?;
                let ws = week0.checked_add_signed(Duration::weeks(step))?;
                let mut days: Vec<NaiveDate> = p
                    .days
                    .iter()
                    .filter_map(|d| {
                        let off =
                            (7 + d.num_days_from_sunday() - p.first_day.num_days_from_sunday()) % 7;
                        ws.checked_add_signed(Duration::days(i64::from(off)))
                    })
                    .collect();
                days.sort();
                days
            }
            PatternType::AbsoluteMonthly => {
                let (y, m) = add_months(s.year(), s.month0(), step)?;
                vec![clamped(y, m, p.day_of_month)?]
            }
            PatternType::RelativeMonthly => {
                let (y, m) = add_months(s.year(), s.month0(), step)?;
                relative_day(y, m, &p.days, p.index).into_iter().collect()
            }
            PatternType::AbsoluteYearly => {
                let y = i32::try_from(i64::from(s.year()) + step)
                    .ok()
                    .filter(|y| *y <= 9999)?;
                vec![clamped(y, p.month, p.day_of_month)?]
            }
            PatternType::RelativeYearly => {
                let y = i32::try_from(i64::from(s.year()) + step)
                    .ok()
                    .filter(|y| *y <= 9999)?;
                relative_day(y, p.month, &p.days, p.index)
                    .into_iter()
                    .collect()
            }
        })
    }
}

impl Iterator for PatternDates<'_> {
    type Item = NaiveDate;

    fn next(&mut self) -> Option<NaiveDate> {
        let mut empty = 0;
        while self.buf.is_empty() {
            if self.done || empty > 1000 {
                return None;
            }
            match self.period_dates(self.period) {
                Some(ds) => {
                    let before = self.buf.len();
                    self.buf.extend(ds.into_iter().filter(|d| *d >= self.start));
                    if self.buf.len() == before {
                        empty += 1;
                    }
                }
                None => self.done = true,
            }
            self.period += 1;
        }
        self.buf.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: Value, start: &str) -> Recurrence {
        parse(
            &json!({"pattern": p, "range": {"type": "noEnd", "startDate": start}}),
            Zone::UTC,
        )
        .expect("valid")
    }

    fn first(r: &Recurrence, n: usize) -> Vec<String> {
        PatternDates::new(r)
            .take(n)
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn monthly_day_31_clamps_to_month_end() {
        let r = rec(
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}),
            "2027-01-31",
        );
        assert_eq!(
            first(&r, 4),
            ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
        );
        let r = rec(
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 29}),
            "2028-01-01",
        );
        assert_eq!(first(&r, 2), ["2028-01-29", "2028-02-29"]);
    }

    #[test]
    fn weekly_interval_two_aligns_on_first_day_of_week() {
        // Start on a Tuesday; week starts Monday → week 0 is Mon 2027-03-01.
        let r = rec(
            json!({"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "monday"}),
            "2027-03-02",
        );
        assert_eq!(first(&r, 3), ["2027-03-04", "2027-03-15", "2027-03-18"]);
        // Same with Sunday weeks: week 0 is Sun 2027-02-28.
        let r = rec(
            json!({"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "thursday"]}),
            "2027-03-02",
        );
        assert_eq!(first(&r, 3), ["2027-03-04", "2027-03-14", "2027-03-18"]);
    }

    #[test]
    fn relative_union_and_yearly_leap_day() {
        let r = rec(
            json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"], "index": "last"}),
            "2027-01-01",
        );
        assert_eq!(first(&r, 3), ["2027-01-29", "2027-02-26", "2027-03-31"]);
        let r = rec(
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2}),
            "2028-02-29",
        );
        assert_eq!(first(&r, 3), ["2028-02-29", "2029-02-28", "2030-02-28"]);
        let r = rec(
            json!({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["thursday"], "index": "fourth", "month": 11}),
            "2027-01-01",
        );
        assert_eq!(first(&r, 2), ["2027-11-25", "2028-11-23"]);
    }

    #[test]
    fn validation() {
        let bad =
            |p: Value, r: Value| parse(&json!({"pattern": p, "range": r}), Zone::UTC).is_err();
        let r = json!({"type": "noEnd", "startDate": "2027-01-01"});
        assert!(bad(json!({"type": "weekly", "interval": 1}), r.clone()));
        assert!(bad(
            json!({"type": "absoluteMonthly", "interval": 1}),
            r.clone()
        ));
        assert!(bad(
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3, "month": 13}),
            r.clone()
        ));
        assert!(bad(
            json!({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 30, "month": 2}),
            r.clone()
        ));
        assert!(bad(json!({"type": "daily", "interval": 0}), r.clone()));
        assert!(bad(
            json!({"type": "daily", "interval": 1}),
            json!({"type": "endDate", "startDate": "2027-01-01"})
        ));
        assert!(bad(
            json!({"type": "daily", "interval": 1}),
            json!({"type": "numbered", "startDate": "2027-01-01"})
        ));
        assert!(!bad(json!({"type": "daily", "interval": 1}), r));
    }
}
