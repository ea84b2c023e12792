//! RRULE ↔ Graph `patternedRecurrence` (`providers/src/outlook/pattern.rs`).
//!
//! Three kinds of evidence:
//! - expressible rules (proptest): `to_graph` says Exact, and the domain's expansion of the rule
//!   equals the expansion of `from_graph(to_graph(rule))`, and equals what a hand-written model of
//!   Exchange's expansion (below, written from PROVIDERS.md 2.2, not from the translator) makes of
//!   the Graph pattern;
//! - arbitrary Graph patterns (proptest) and the month-end clamping cases: `from_graph` reproduces
//!   the Exchange model;
//! - a corpus of rules Graph cannot express (`tests/data/outlook-patterns/inexpressible.json`):
//!   the Reject reason, and for every `Nearest` answer, (pattern occurrences − cancellations) ==
//!   the rule's occurrences, within the horizon for unbounded series and fully for bounded ones.

use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::rrule::parse_rule;
use almanac_providers::outlook::pattern::{
    from_graph, to_graph, to_graph_rrule, DayOfWeek, Fallback, PatternType, PatternedRecurrence,
    RangeType, RecurrencePattern, RecurrenceRange, SeriesRecurrence, Translation, WeekIndex,
    UNUSED_DATE,
};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn schedule(
    rrule: &str,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
    rdates: &[NaiveDateTime],
    exdates: &[NaiveDateTime],
) -> Schedule {
    let length = if all_day {
        Length::Duration {
            days: 1,
            seconds: 0,
        }
    } else {
        Length::Duration {
            days: 0,
            seconds: 1800,
        }
    };
    let rec = Recurrence::parse(Some(rrule), rdates.to_vec(), exdates.to_vec())
        .unwrap_or_else(|e| panic!("{rrule}: {e}"));
    Schedule::new(start, zone, length, all_day, Some(rec))
        .unwrap_or_else(|e| panic!("{rrule} from {start}: {e}"))
}

fn local(secs: i64) -> NaiveDateTime {
    almanac_domain::time::instant(secs).naive_utc()
}

/// Occurrence starts as (instant, wall-clock) for local dates ≤ `last_day` (all when `None`,
/// which only bounded schedules may ask for).
fn occurrences(s: &Schedule, last_day: Option<NaiveDate>) -> Vec<(i64, NaiveDateTime)> {
    s.instances_from(i64::MIN)
        .map(|i| (i.start, local(i.local)))
        .take_while(|(_, l)| last_day.is_none_or(|d| l.date() <= d))
        .collect()
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(y, m, 1).expect("month");
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.expect("month").signed_duration_since(first).num_days() as u32
}

fn graph_weekday(d: DayOfWeek) -> Weekday {
    match d {
        DayOfWeek::Sunday => Weekday::Sun,
        DayOfWeek::Monday => Weekday::Mon,
        DayOfWeek::Tuesday => Weekday::Tue,
        DayOfWeek::Wednesday => Weekday::Wed,
        DayOfWeek::Thursday => Weekday::Thu,
        DayOfWeek::Friday => Weekday::Fri,
        DayOfWeek::Saturday => Weekday::Sat,
    }
}

/// Exchange's expansion of a Graph recurrence as PROVIDERS.md 2.2 describes it, on dates: the
/// first occurrence is the first pattern date on or after `startDate`; `interval` counts from
/// `startDate`'s day, week (starting on `firstDayOfWeek`), month or year; absolute day k falls on
/// the month's last day when the month is shorter; relative index counts over the union of the
/// days. Dates after `last_day` are not produced.
fn exchange_dates(rec: &PatternedRecurrence, last_day: NaiveDate) -> Vec<NaiveDate> {
    let p = &rec.pattern;
    let r = &rec.range;
    let start = r.start_date;
    let n = i64::from(p.interval);
    let end = if r.kind == RangeType::EndDate {
        r.end_date.min(last_day)
    } else {
        last_day
    };
    let days: std::collections::HashSet<Weekday> =
        p.days_of_week.iter().map(|d| graph_weekday(*d)).collect();
    let relative_day = |y: i32, m: u32| -> NaiveDate {
        let matching: Vec<NaiveDate> = (1..=days_in_month(y, m))
            .filter_map(|d| NaiveDate::from_ymd_opt(y, m, d))
            .filter(|d| days.contains(&d.weekday()))
            .collect();
        match p.index {
            WeekIndex::First => matching[0],
            WeekIndex::Second => matching[1],
            WeekIndex::Third => matching[2],
            WeekIndex::Fourth => matching[3],
            WeekIndex::Last => *matching.last().expect("a weekday"),
        }
    };
    let absolute_day = |y: i32, m: u32| {
        NaiveDate::from_ymd_opt(y, m, (p.day_of_month as u32).min(days_in_month(y, m)))
            .expect("day")
    };
    let mut out = Vec::new();
    let push = |d: NaiveDate, out: &mut Vec<NaiveDate>| -> bool {
        if d > end
            || (r.kind == RangeType::Numbered && out.len() >= r.number_of_occurrences as usize)
        {
            return false;
        }
        if d >= start {
            out.push(d);
        }
        true
    };
    match p.kind {
        PatternType::Daily => {
            let mut d = start;
            while push(d, &mut out) {
                d += Duration::days(n);
            }
        }
        PatternType::Weekly => {
            let fdow = graph_weekday(p.first_day_of_week);
            let back =
                (7 + start.weekday().num_days_from_monday() - fdow.num_days_from_monday()) % 7;
            let mut week = start - Duration::days(i64::from(back));
            'weeks: loop {
                for i in 0..7 {
                    let d = week + Duration::days(i);
                    if days.contains(&d.weekday()) && !push(d, &mut out) {
                        break 'weeks;
                    }
                }
                week += Duration::days(7 * n);
            }
        }
        PatternType::AbsoluteMonthly | PatternType::RelativeMonthly => {
            let mut idx = i64::from(start.year()) * 12 + i64::from(start.month0());
            loop {
                let (y, m) = ((idx / 12) as i32, (idx % 12) as u32 + 1);
                let d = if p.kind == PatternType::AbsoluteMonthly {
                    absolute_day(y, m)
                } else {
                    relative_day(y, m)
                };
                if !push(d, &mut out) {
                    break;
                }
                idx += n;
            }
        }
        PatternType::AbsoluteYearly | PatternType::RelativeYearly => {
            let mut y = start.year();
            let m = p.month as u32;
            loop {
                let d = if p.kind == PatternType::AbsoluteYearly {
                    absolute_day(y, m)
                } else {
                    relative_day(y, m)
                };
                if !push(d, &mut out) {
                    break;
                }
                y += n as i32;
            }
        }
    }
    out
}

/// The dates `from_graph`'s RRULE produces through `last_day`, by the domain's engine.
fn domain_dates_of_graph(
    rec: &PatternedRecurrence,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
    last_day: NaiveDate,
) -> (String, Vec<NaiveDate>) {
    let rrule = from_graph(rec, start, zone, all_day)
        .unwrap_or_else(|e| panic!("from_graph({rec:?}): {e}"));
    let s = schedule(&rrule, start, zone, all_day, &[], &[]);
    (
        rrule,
        occurrences(&s, Some(last_day))
            .into_iter()
            .map(|(_, l)| l.date())
            .collect(),
    )
}

const ZONES: [Tz; 9] = [
    Tz::America__New_York,
    Tz::Europe__Berlin,
    Tz::Australia__Sydney,
    Tz::Asia__Kolkata,
    Tz::UTC,
    Tz::America__Sao_Paulo,
    Tz::Pacific__Auckland,
    Tz::Europe__London,
    Tz::America__Santiago,
];

// ---------------------------------------------------------------------------------------------
// Expressible rules: Exact, and the round trip keeps every occurrence
// ---------------------------------------------------------------------------------------------

const DAY_CODES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn days_text(mask: u8) -> String {
    (0..7)
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| DAY_CODES[d])
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Debug, Clone)]
enum Shape {
    Daily {
        n: u32,
    },
    DailyByDay {
        mask: u8,
    },
    Weekly {
        n: u32,
        mask: u8,
        wkst: Option<usize>,
    },
    MonthlyDay {
        n: u32,
        k: Option<u32>,
    },
    MonthlyLast {
        n: u32,
    },
    MonthlyClamp {
        n: u32,
        k: u32,
    },
    MonthlyNth {
        n: u32,
        day: usize,
        ord: i32,
    },
    MonthlySetPos {
        n: u32,
        mask: u8,
        pos: i32,
    },
    Yearly {
        n: u32,
    },
    YearlyDay {
        n: u32,
        month: u32,
        k: u32,
    },
    YearlyNth {
        n: u32,
        month: u32,
        day: usize,
        ord: i32,
    },
    YearlySetPos {
        n: u32,
        month: u32,
        mask: u8,
        pos: i32,
    },
}

impl Shape {
    fn rrule(&self) -> String {
        let iv = |n: u32| {
            if n == 1 {
                String::new()
            } else {
                format!(";INTERVAL={n}")
            }
        };
        match self {
            Shape::Daily { n } => format!("FREQ=DAILY{}", iv(*n)),
            Shape::DailyByDay { mask } => format!("FREQ=DAILY;BYDAY={}", days_text(*mask)),
            Shape::Weekly { n, mask, wkst } => {
                let mut s = format!("FREQ=WEEKLY{}", iv(*n));
                if *mask != 0 {
                    s += &format!(";BYDAY={}", days_text(*mask));
                }
                if let Some(w) = wkst {
                    s += &format!(";WKST={}", DAY_CODES[*w]);
                }
                s
            }
            Shape::MonthlyDay { n, k: Some(k) } => format!("FREQ=MONTHLY{};BYMONTHDAY={k}", iv(*n)),
            Shape::MonthlyDay { n, k: None } => format!("FREQ=MONTHLY{}", iv(*n)),
            Shape::MonthlyLast { n } => format!("FREQ=MONTHLY{};BYMONTHDAY=-1", iv(*n)),
            Shape::MonthlyClamp { n, k } => {
                let days: Vec<String> = (28..=*k).map(|d| d.to_string()).collect();
                format!(
                    "FREQ=MONTHLY{};BYMONTHDAY={};BYSETPOS=-1",
                    iv(*n),
                    days.join(",")
                )
            }
            Shape::MonthlyNth { n, day, ord } => {
                format!("FREQ=MONTHLY{};BYDAY={ord}{}", iv(*n), DAY_CODES[*day])
            }
            Shape::MonthlySetPos { n, mask, pos } => format!(
                "FREQ=MONTHLY{};BYDAY={};BYSETPOS={pos}",
                iv(*n),
                days_text(*mask)
            ),
            Shape::Yearly { n } => format!("FREQ=YEARLY{}", iv(*n)),
            Shape::YearlyDay { n, month, k } => {
                format!("FREQ=YEARLY{};BYMONTH={month};BYMONTHDAY={k}", iv(*n))
            }
            Shape::YearlyNth { n, month, day, ord } => format!(
                "FREQ=YEARLY{};BYMONTH={month};BYDAY={ord}{}",
                iv(*n),
                DAY_CODES[*day]
            ),
            Shape::YearlySetPos {
                n,
                month,
                mask,
                pos,
            } => {
                format!(
                    "FREQ=YEARLY{};BYMONTH={month};BYDAY={};BYSETPOS={pos}",
                    iv(*n),
                    days_text(*mask)
                )
            }
        }
    }
}

fn ordinal() -> impl Strategy<Value = i32> {
    prop_oneof![Just(1), Just(2), Just(3), Just(4), Just(-1)]
}

fn shape() -> impl Strategy<Value = Shape> {
    let mask = 1u8..=0x7f;
    prop_oneof![
        (1u32..=10).prop_map(|n| Shape::Daily { n }),
        prop_oneof![Just(0x1fu8), mask.clone()].prop_map(|mask| Shape::DailyByDay { mask }),
        (
            1u32..=5,
            prop_oneof![Just(0u8), mask.clone()],
            proptest::option::of(0usize..7)
        )
            .prop_map(|(n, mask, wkst)| Shape::Weekly { n, mask, wkst }),
        (1u32..=6, proptest::option::of(1u32..=28)).prop_map(|(n, k)| Shape::MonthlyDay { n, k }),
        (1u32..=6).prop_map(|n| Shape::MonthlyLast { n }),
        (1u32..=6, 29u32..=30).prop_map(|(n, k)| Shape::MonthlyClamp { n, k }),
        (1u32..=6, 0usize..7, ordinal()).prop_map(|(n, day, ord)| Shape::MonthlyNth {
            n,
            day,
            ord
        }),
        (1u32..=6, mask.clone(), ordinal()).prop_map(|(n, mask, pos)| Shape::MonthlySetPos {
            n,
            mask,
            pos
        }),
        (1u32..=4).prop_map(|n| Shape::Yearly { n }),
        (1u32..=4, 1u32..=12, 1u32..=31).prop_map(|(n, month, k)| Shape::YearlyDay {
            n,
            month,
            k: k.min([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month as usize - 1])
        }),
        (1u32..=4, 1u32..=12, 0usize..7, ordinal())
            .prop_map(|(n, month, day, ord)| Shape::YearlyNth { n, month, day, ord }),
        (1u32..=4, 1u32..=12, mask, ordinal()).prop_map(|(n, month, mask, pos)| {
            Shape::YearlySetPos {
                n,
                month,
                mask,
                pos,
            }
        }),
    ]
}

#[derive(Debug, Clone)]
enum Ending {
    None,
    Count(u32),
    /// Seconds after DTSTART.
    Until(i64),
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        Just(Ending::None),
        (1u32..=40).prop_map(Ending::Count),
        (0i64..3 * 366 * 86_400).prop_map(Ending::Until),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    shape: Shape,
    ending: Ending,
    base: NaiveDate,
    time: NaiveTime,
    zone: Tz,
    all_day: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        shape(),
        ending(),
        (2019i32..=2031, 1u32..=12, 1u32..=28),
        (0u32..24, prop_oneof![Just(0u32), Just(30u32), Just(59u32)]),
        0usize..ZONES.len(),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(shape, ending, (y, m, d), (h, mi), z, all_day)| Case {
            shape,
            ending,
            base: NaiveDate::from_ymd_opt(y, m, d).expect("day ≤ 28"),
            time: if all_day {
                NaiveTime::MIN
            } else {
                NaiveTime::from_hms_opt(h, mi, 0).expect("time")
            },
            zone: ZONES[z],
            all_day,
        })
}

/// The horizon the comparisons run to: long enough for every shape to repeat several times.
const WINDOW_YEARS: i32 = 9;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn expressible_rules_translate_exactly_and_round_trip(c in case()) {
        let pattern_only = c.shape.rrule();
        // DTSTART on the pattern: the rule's first occurrence from `base` (re-anchoring there keeps
        // the rule's lattice, so that occurrence is also the first of the re-anchored rule).
        let probe = schedule(&pattern_only, c.base.and_time(c.time), c.zone, c.all_day, &[], &[]);
        let first = probe.instances_from(i64::MIN).next().expect("the shape occurs");
        let start = local(first.local);
        prop_assume!(start.year() < 2040);
        let rrule = match c.ending {
            Ending::None => pattern_only.clone(),
            Ending::Count(n) => format!("{pattern_only};COUNT={n}"),
            Ending::Until(secs) if c.all_day => format!("{pattern_only};UNTIL={}", (start + Duration::seconds(secs)).format("%Y%m%d")),
            Ending::Until(secs) => format!("{pattern_only};UNTIL={}", local(first.start + secs).format("%Y%m%dT%H%M%SZ")),
        };
        let rule = parse_rule(&rrule).expect("parses");
        let series = SeriesRecurrence { rule: &rule, start, zone: c.zone, all_day: c.all_day, rdates: &[], exdates: &[] };
        let t = to_graph(&series, Fallback::Reject);
        let Translation::Exact { recurrence, cancel, .. } = &t else {
            return Err(TestCaseError::fail(format!("{rrule} from {start} in {}: {t:?}", c.zone.name())));
        };
        prop_assert!(cancel.is_empty());
        prop_assert_eq!(recurrence.range.start_date, start.date());
        prop_assert!(recurrence.range.recurrence_time_zone.is_some());

        let last_day = NaiveDate::from_ymd_opt(start.year() + WINDOW_YEARS, 12, 31).expect("date");
        let want = occurrences(&schedule(&rrule, start, c.zone, c.all_day, &[], &[]), Some(last_day));
        let back = from_graph(recurrence, start, c.zone, c.all_day).map_err(TestCaseError::fail)?;
        let got = occurrences(&schedule(&back, start, c.zone, c.all_day, &[], &[]), Some(last_day));
        prop_assert_eq!(&want, &got, "{} -> {:?} -> {}", rrule, recurrence, back);
        // And Exchange's own reading of the pattern gives the same dates.
        let exchange = exchange_dates(recurrence, last_day);
        let want_dates: Vec<NaiveDate> = want.iter().map(|(_, l)| l.date()).collect();
        prop_assert_eq!(&want_dates, &exchange, "{} -> {:?}", rrule, recurrence);
    }

    /// Any Graph pattern: the RRULE `from_graph` writes expands (by the domain's engine) to the
    /// dates the Exchange model produces — the clamping cases included.
    #[test]
    fn from_graph_reproduces_exchange(
        kind in 0usize..6,
        interval in 1i32..=4,
        month in 1i32..=12,
        day_of_month in 1i32..=31,
        mask in 1u8..=0x7f,
        index in 0usize..5,
        fdow in 0usize..7,
        (y, m, d) in (2019i32..=2030, 1u32..=12, 1u32..=31),
        range in 0usize..3,
        count in 1i32..=30,
        end_days in 0i64..2000,
        z in 0usize..ZONES.len(),
        all_day in proptest::bool::weighted(0.2),
    ) {
        let days: Vec<DayOfWeek> = [DayOfWeek::Sunday, DayOfWeek::Monday, DayOfWeek::Tuesday, DayOfWeek::Wednesday, DayOfWeek::Thursday, DayOfWeek::Friday, DayOfWeek::Saturday]
            .into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| d).collect();
        let kind = [PatternType::Daily, PatternType::Weekly, PatternType::AbsoluteMonthly, PatternType::RelativeMonthly, PatternType::AbsoluteYearly, PatternType::RelativeYearly][kind];
        let pattern = RecurrencePattern {
            kind,
            interval,
            month: if matches!(kind, PatternType::AbsoluteYearly | PatternType::RelativeYearly) { month } else { 0 },
            day_of_month: if matches!(kind, PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly) { day_of_month } else { 0 },
            days_of_week: if matches!(kind, PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly) { days } else { vec![] },
            first_day_of_week: [DayOfWeek::Sunday, DayOfWeek::Monday, DayOfWeek::Tuesday, DayOfWeek::Wednesday, DayOfWeek::Thursday, DayOfWeek::Friday, DayOfWeek::Saturday][fdow],
            index: [WeekIndex::First, WeekIndex::Second, WeekIndex::Third, WeekIndex::Fourth, WeekIndex::Last][index],
        };
        let start_date = NaiveDate::from_ymd_opt(y, m, d.min(days_in_month(y, m))).expect("date");
        let start = start_date.and_hms_opt(if all_day { 0 } else { 9 }, 0, 0).expect("time");
        let range = match range {
            0 => RecurrenceRange { kind: RangeType::NoEnd, start_date, ..RecurrenceRange::default() },
            1 => RecurrenceRange { kind: RangeType::Numbered, start_date, number_of_occurrences: count, ..RecurrenceRange::default() },
            _ => RecurrenceRange { kind: RangeType::EndDate, start_date, end_date: start_date + Duration::days(end_days), ..RecurrenceRange::default() },
        };
        let rec = PatternedRecurrence { pattern, range };
        let last_day = NaiveDate::from_ymd_opt(y + 9, 12, 31).expect("date");
        let exchange = exchange_dates(&rec, last_day);
        // A pattern whose dates all fall before the start (none here) would be refused by Graph.
        prop_assume!(!exchange.is_empty());
        let (rrule, domain) = domain_dates_of_graph(&rec, start, ZONES[z], all_day, last_day);
        prop_assert_eq!(&domain, &exchange, "{:?} -> {}", rec, rrule);
    }
}

// ---------------------------------------------------------------------------------------------
// Exchange's month-end clamping, by hand
// ---------------------------------------------------------------------------------------------

fn absolute_monthly(k: i32, start: &str) -> PatternedRecurrence {
    PatternedRecurrence {
        pattern: RecurrencePattern {
            kind: PatternType::AbsoluteMonthly,
            interval: 1,
            day_of_month: k,
            ..RecurrencePattern::default()
        },
        range: RecurrenceRange {
            kind: RangeType::NoEnd,
            start_date: date(start),
            ..RecurrenceRange::default()
        },
    }
}

#[test]
fn absolute_monthly_31_clamps_to_the_last_day() {
    let rec = absolute_monthly(31, "2027-10-31");
    let last = date("2028-06-30");
    let expected: Vec<NaiveDate> = [
        "2027-10-31",
        "2027-11-30",
        "2027-12-31",
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
        "2028-05-31",
        "2028-06-30",
    ]
    .iter()
    .map(|d| date(d))
    .collect();
    assert_eq!(exchange_dates(&rec, last), expected);
    let (rrule, got) = domain_dates_of_graph(
        &rec,
        dt("2027-10-31T09:00:00"),
        Tz::Europe__Berlin,
        false,
        last,
    );
    assert_eq!(rrule, "FREQ=MONTHLY;BYMONTHDAY=-1");
    assert_eq!(got, expected);
}

#[test]
fn absolute_monthly_29_and_30_clamp_in_february_only() {
    let last = date("2029-04-30");
    let rec = absolute_monthly(30, "2028-12-30");
    let (rrule, got) = domain_dates_of_graph(
        &rec,
        dt("2028-12-30T18:00:00"),
        Tz::America__New_York,
        false,
        last,
    );
    assert_eq!(rrule, "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1");
    let expected: Vec<NaiveDate> = [
        "2028-12-30",
        "2029-01-30",
        "2029-02-28",
        "2029-03-30",
        "2029-04-30",
    ]
    .iter()
    .map(|d| date(d))
    .collect();
    assert_eq!(got, expected);
    assert_eq!(exchange_dates(&rec, last), expected);

    let rec = absolute_monthly(29, "2027-12-29");
    let last = date("2028-03-31");
    let (rrule, got) = domain_dates_of_graph(
        &rec,
        dt("2027-12-29T18:00:00"),
        Tz::America__New_York,
        false,
        last,
    );
    assert_eq!(rrule, "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1");
    let expected: Vec<NaiveDate> = ["2027-12-29", "2028-01-29", "2028-02-29", "2028-03-29"]
        .iter()
        .map(|d| date(d))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(exchange_dates(&rec, last), expected);
    let (_, got) = domain_dates_of_graph(
        &absolute_monthly(29, "2029-01-29"),
        dt("2029-01-29T18:00:00"),
        Tz::UTC,
        false,
        date("2029-03-31"),
    );
    assert_eq!(
        got,
        vec![date("2029-01-29"), date("2029-02-28"), date("2029-03-29")]
    );
}

#[test]
fn absolute_yearly_february_29_falls_on_the_28th_in_common_years() {
    let rec = PatternedRecurrence {
        pattern: RecurrencePattern {
            kind: PatternType::AbsoluteYearly,
            interval: 1,
            month: 2,
            day_of_month: 29,
            ..RecurrencePattern::default()
        },
        range: RecurrenceRange {
            kind: RangeType::Numbered,
            start_date: date("2028-02-29"),
            number_of_occurrences: 5,
            ..RecurrenceRange::default()
        },
    };
    let expected: Vec<NaiveDate> = [
        "2028-02-29",
        "2029-02-28",
        "2030-02-28",
        "2031-02-28",
        "2032-02-29",
    ]
    .iter()
    .map(|d| date(d))
    .collect();
    assert_eq!(exchange_dates(&rec, date("2040-01-01")), expected);
    let (rrule, got) = domain_dates_of_graph(
        &rec,
        dt("2028-02-29T00:00:00"),
        Tz::Asia__Kolkata,
        true,
        date("2040-01-01"),
    );
    assert_eq!(rrule, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1;COUNT=5");
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------------------------
// The table, row by row
// ---------------------------------------------------------------------------------------------

fn exact(rrule: &str, start: &str, zone: Tz) -> PatternedRecurrence {
    match to_graph_rrule(rrule, dt(start), zone, false, &[], &[], Fallback::Reject) {
        Translation::Exact { recurrence, .. } => recurrence,
        other => panic!("{rrule}: {other:?}"),
    }
}

fn json_of(rec: &PatternedRecurrence) -> Value {
    serde_json::to_value(rec).expect("serializes")
}

#[test]
fn weekdays_become_weekly_with_monday_first() {
    let rec = exact(
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
        "2026-03-02T09:00:00",
        Tz::America__Los_Angeles,
    );
    assert_eq!(
        json_of(&rec),
        json!({
            "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "firstDayOfWeek": "monday", "index": "first"},
            "range": {"type": "noEnd", "startDate": "2026-03-02", "endDate": "0001-01-01",
                      "numberOfOccurrences": 0, "recurrenceTimeZone": "Pacific Standard Time"}
        })
    );
}

#[test]
fn table_rows() {
    let p = |r: &str, s: &str| exact(r, s, Tz::Europe__Berlin).pattern;
    let rec = exact(
        "FREQ=DAILY;INTERVAL=3;COUNT=10",
        "2026-01-05T09:00:00",
        Tz::Europe__Berlin,
    );
    assert_eq!(
        (rec.pattern.kind, rec.pattern.interval),
        (PatternType::Daily, 3)
    );
    assert_eq!(
        (rec.range.kind, rec.range.number_of_occurrences),
        (RangeType::Numbered, 10)
    );
    assert_eq!(
        rec.range.recurrence_time_zone.as_deref(),
        Some("W. Europe Standard Time")
    );

    let w = p(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU",
        "2026-01-06T09:00:00",
    );
    assert_eq!(
        (w.kind, w.interval, w.first_day_of_week),
        (PatternType::Weekly, 2, DayOfWeek::Sunday)
    );
    assert_eq!(
        w.days_of_week,
        vec![DayOfWeek::Tuesday, DayOfWeek::Thursday]
    );
    let w = p("FREQ=WEEKLY", "2026-01-07T09:00:00");
    assert_eq!(
        (w.days_of_week.clone(), w.first_day_of_week),
        (vec![DayOfWeek::Wednesday], DayOfWeek::Monday)
    );

    let m = p(
        "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=15",
        "2026-01-15T09:00:00",
    );
    assert_eq!(
        (m.kind, m.interval, m.day_of_month),
        (PatternType::AbsoluteMonthly, 2, 15)
    );
    let m = p("FREQ=MONTHLY", "2026-01-28T09:00:00");
    assert_eq!((m.kind, m.day_of_month), (PatternType::AbsoluteMonthly, 28));
    let m = p("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-31T09:00:00");
    assert_eq!(
        (m.kind, m.index, m.days_of_week.len()),
        (PatternType::RelativeMonthly, WeekIndex::Last, 7)
    );
    let m = p("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-30T09:00:00");
    assert_eq!(
        (m.kind, m.index, m.days_of_week.clone()),
        (
            PatternType::RelativeMonthly,
            WeekIndex::Last,
            vec![DayOfWeek::Friday]
        )
    );
    let m = p(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "2026-01-30T09:00:00",
    );
    assert_eq!(
        (m.kind, m.index, m.days_of_week.len()),
        (PatternType::RelativeMonthly, WeekIndex::Last, 5)
    );
    // The clamp form from_graph writes comes back as Exchange's day 30.
    let m = p(
        "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1",
        "2026-01-30T09:00:00",
    );
    assert_eq!((m.kind, m.day_of_month), (PatternType::AbsoluteMonthly, 30));
    // Months evenly spaced from DTSTART's month are a monthly interval.
    let m = p(
        "FREQ=MONTHLY;BYMONTH=1,7;BYMONTHDAY=10",
        "2026-01-10T09:00:00",
    );
    assert_eq!(
        (m.kind, m.interval, m.day_of_month),
        (PatternType::AbsoluteMonthly, 6, 10)
    );
    let m = p("FREQ=MONTHLY;BYMONTH=3;BYDAY=2SU", "2026-03-08T09:00:00");
    assert_eq!(
        (m.kind, m.interval, m.month, m.index),
        (PatternType::RelativeYearly, 1, 3, WeekIndex::Second)
    );

    let y = p("FREQ=YEARLY", "2026-07-04T09:00:00");
    assert_eq!(
        (y.kind, y.month, y.day_of_month),
        (PatternType::AbsoluteYearly, 7, 4)
    );
    let y = p(
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=11;BYDAY=4TH",
        "2026-11-26T09:00:00",
    );
    assert_eq!(
        (y.kind, y.interval, y.month, y.index),
        (PatternType::RelativeYearly, 2, 11, WeekIndex::Fourth)
    );
    let y = p(
        "FREQ=YEARLY;BYMONTH=5;BYDAY=MO;BYSETPOS=-1",
        "2026-05-25T09:00:00",
    );
    assert_eq!(
        (y.kind, y.month, y.index, y.days_of_week.clone()),
        (
            PatternType::RelativeYearly,
            5,
            WeekIndex::Last,
            vec![DayOfWeek::Monday]
        )
    );
    let y = p("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=-1", "2026-04-30T09:00:00");
    assert_eq!(
        (y.kind, y.month, y.day_of_month),
        (PatternType::AbsoluteYearly, 4, 30)
    );
}

#[test]
fn until_ends_on_the_last_occurrence_not_on_the_until_date() {
    // UNTIL is 08:00 local on the 20th; the 09:00 occurrence that day is excluded, so the range
    // ends on the 19th. date(UNTIL) would have added one occurrence.
    let rec = exact(
        "FREQ=DAILY;UNTIL=20260120T070000Z",
        "2026-01-05T09:00:00",
        Tz::Europe__Berlin,
    );
    assert_eq!(
        (rec.range.kind, rec.range.end_date),
        (RangeType::EndDate, date("2026-01-19"))
    );
    // Weekly: the last Monday on or before UNTIL.
    let rec = exact(
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=20260401T000000Z",
        "2026-01-05T09:00:00",
        Tz::Europe__Berlin,
    );
    assert_eq!(rec.range.end_date, date("2026-03-30"));
    // In the series' zone: 2026-01-10T03:00Z is still the 9th in Los Angeles.
    let rec = exact(
        "FREQ=DAILY;UNTIL=20260110T030000Z",
        "2026-01-05T18:00:00",
        Tz::America__Los_Angeles,
    );
    assert_eq!(rec.range.end_date, date("2026-01-09"));
    let back = from_graph(
        &rec,
        dt("2026-01-05T18:00:00"),
        Tz::America__Los_Angeles,
        false,
    )
    .expect("from_graph");
    assert_eq!(back, "FREQ=DAILY;UNTIL=20260110T075959Z");
    // All-day: a DATE.
    let t = to_graph_rrule(
        "FREQ=DAILY;UNTIL=20260110",
        dt("2026-01-05T00:00:00"),
        Tz::Europe__Berlin,
        true,
        &[],
        &[],
        Fallback::Reject,
    );
    let rec = t.recurrence().expect("exact").clone();
    assert_eq!(rec.range.end_date, date("2026-01-10"));
    assert_eq!(
        from_graph(&rec, dt("2026-01-05T00:00:00"), Tz::Europe__Berlin, true).as_deref(),
        Ok("FREQ=DAILY;UNTIL=20260110")
    );
}

#[test]
fn exdates_are_cancellations() {
    let ex = [dt("2026-01-07T09:00:00"), dt("2026-01-08T10:00:00")];
    let t = to_graph_rrule(
        "FREQ=DAILY;COUNT=5",
        dt("2026-01-05T09:00:00"),
        Tz::Europe__Berlin,
        false,
        &[],
        &ex,
        Fallback::Reject,
    );
    let Translation::Exact {
        cancel,
        notes,
        recurrence,
    } = t
    else {
        panic!("{t:?}")
    };
    assert_eq!(cancel, vec![dt("2026-01-07T09:00:00")]);
    assert!(
        notes.iter().any(|n| n.contains("2026-01-08 10:00:00")),
        "{notes:?}"
    );
    // COUNT counts the excluded occurrence, in RFC 5545 and in Exchange alike.
    assert_eq!(recurrence.range.number_of_occurrences, 5);
    // An RDATE equal to an occurrence adds nothing and is fine.
    let t = to_graph_rrule(
        "FREQ=DAILY",
        dt("2026-01-05T09:00:00"),
        Tz::UTC,
        false,
        &[dt("2026-01-09T09:00:00")],
        &[],
        Fallback::Reject,
    );
    assert!(t.is_exact(), "{t:?}");
}

#[test]
fn zone_without_windows_name_is_sent_as_iana_and_noted() {
    let t = to_graph_rrule(
        "FREQ=DAILY",
        dt("2026-01-05T09:00:00"),
        Tz::Antarctica__Troll,
        false,
        &[],
        &[],
        Fallback::Reject,
    );
    let Translation::Exact {
        recurrence, notes, ..
    } = t
    else {
        panic!("{t:?}")
    };
    assert_eq!(
        recurrence.range.recurrence_time_zone.as_deref(),
        Some("Antarctica/Troll")
    );
    assert!(notes.iter().any(|n| n.contains("IANA")), "{notes:?}");
}

#[test]
fn graph_response_shape_deserializes() {
    // As Graph returns it: every property, unused ints 0, endDate 0001-01-01, enums at defaults.
    let body = json!({
        "pattern": {"type": "relativeMonthly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                    "firstDayOfWeek": "sunday", "index": "last"},
        "range": {"type": "noEnd", "startDate": "2026-01-30", "endDate": "0001-01-01",
                  "recurrenceTimeZone": "W. Europe Standard Time", "numberOfOccurrences": 0}
    });
    let rec: PatternedRecurrence = serde_json::from_value(body.clone()).expect("deserializes");
    assert_eq!(rec.range.end_date, UNUSED_DATE);
    assert_eq!(json_of(&rec), body);
    assert_eq!(
        from_graph(&rec, dt("2026-01-30T09:00:00"), Tz::Europe__Berlin, false).as_deref(),
        Ok("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1")
    );
    // Nulls and missing properties are tolerated.
    let sparse: PatternedRecurrence = serde_json::from_value(json!({
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["friday"], "index": null, "month": null},
        "range": {"type": "numbered", "startDate": "2026-01-02", "endDate": null, "numberOfOccurrences": 4, "recurrenceTimeZone": null}
    }))
    .expect("deserializes");
    assert_eq!(sparse.pattern.first_day_of_week, DayOfWeek::Sunday);
    assert_eq!(
        from_graph(&sparse, dt("2026-01-02T09:00:00"), Tz::UTC, false).as_deref(),
        Ok("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR;WKST=SU;COUNT=4")
    );
}

#[test]
fn from_graph_refuses_broken_patterns() {
    let base = |p: RecurrencePattern| PatternedRecurrence {
        pattern: p,
        range: RecurrenceRange {
            kind: RangeType::NoEnd,
            start_date: date("2026-01-05"),
            ..RecurrenceRange::default()
        },
    };
    let start = dt("2026-01-05T09:00:00");
    for (p, why) in [
        (
            RecurrencePattern {
                interval: 0,
                ..RecurrencePattern::default()
            },
            "interval",
        ),
        (
            RecurrencePattern {
                kind: PatternType::Weekly,
                ..RecurrencePattern::default()
            },
            "daysOfWeek",
        ),
        (
            RecurrencePattern {
                kind: PatternType::AbsoluteMonthly,
                day_of_month: 0,
                ..RecurrencePattern::default()
            },
            "dayOfMonth",
        ),
        (
            RecurrencePattern {
                kind: PatternType::AbsoluteYearly,
                day_of_month: 3,
                month: 13,
                ..RecurrencePattern::default()
            },
            "month",
        ),
    ] {
        let err = from_graph(&base(p), start, Tz::UTC, false).expect_err("refused");
        assert!(err.contains(why), "{err}");
    }
    let mut rec = base(RecurrencePattern::default());
    rec.range.start_date = date("2026-01-06");
    assert!(from_graph(&rec, start, Tz::UTC, false)
        .expect_err("refused")
        .contains("startDate"));
    rec.range = RecurrenceRange {
        kind: RangeType::EndDate,
        start_date: date("2026-01-05"),
        end_date: date("2026-01-01"),
        ..RecurrenceRange::default()
    };
    assert!(from_graph(&rec, start, Tz::UTC, false)
        .expect_err("refused")
        .contains("endDate"));
}

// ---------------------------------------------------------------------------------------------
// The corpus of rules Graph cannot express
// ---------------------------------------------------------------------------------------------

/// Checks a `Nearest` answer: every rule occurrence is a pattern occurrence, and the pattern's
/// occurrences minus `cancel` are exactly the rule's (RDATE/EXDATE applied), through `last_day`
/// (or fully when `None`). Returns the number of pattern occurrences compared.
#[allow(clippy::too_many_arguments)]
fn verify_nearest(
    name: &str,
    rrule: &str,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
    rdates: &[NaiveDateTime],
    exdates: &[NaiveDateTime],
    recurrence: &PatternedRecurrence,
    cancel: &[NaiveDateTime],
    last_day: Option<NaiveDate>,
) -> usize {
    let want: BTreeSet<NaiveDateTime> = occurrences(
        &schedule(rrule, start, zone, all_day, rdates, exdates),
        last_day,
    )
    .into_iter()
    .map(|(_, l)| l)
    .collect();
    let back =
        from_graph(recurrence, start, zone, all_day).unwrap_or_else(|e| panic!("{name}: {e}"));
    let pattern: Vec<NaiveDateTime> =
        occurrences(&schedule(&back, start, zone, all_day, &[], &[]), last_day)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
    let cancel: BTreeSet<NaiveDateTime> = cancel
        .iter()
        .copied()
        .filter(|c| last_day.is_none_or(|d| c.date() <= d))
        .collect();
    for c in &cancel {
        assert!(
            pattern.contains(c),
            "{name}: cancels {c}, which is not a pattern occurrence"
        );
    }
    let kept: BTreeSet<NaiveDateTime> = pattern
        .iter()
        .copied()
        .filter(|p| !cancel.contains(p))
        .collect();
    assert_eq!(
        kept, want,
        "{name}: pattern − cancel ≠ rule occurrences ({back})"
    );
    // The same through the Exchange model, on dates.
    let model_last = last_day.unwrap_or_else(|| pattern.last().map_or(start.date(), |p| p.date()));
    let model: Vec<NaiveDate> = exchange_dates(recurrence, model_last);
    let pattern_dates: Vec<NaiveDate> = pattern.iter().map(|p| p.date()).collect();
    assert_eq!(
        model, pattern_dates,
        "{name}: the Exchange model disagrees with {back}"
    );
    pattern.len()
}

fn strings(v: &Value, key: &str) -> Vec<NaiveDateTime> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| dt(x.as_str().expect("string"))).collect())
        .unwrap_or_default()
}

#[test]
fn inexpressible_corpus() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/outlook-patterns/inexpressible.json"
    );
    let corpus: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("corpus file"))
        .expect("corpus JSON");
    let cases = corpus
        .get("cases")
        .and_then(Value::as_array)
        .expect("cases");
    assert!(cases.len() >= 20, "the corpus has {} cases", cases.len());
    let (mut nearest, mut refused) = (0, 0);
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let rrule = c["rrule"].as_str().expect("rrule");
        let start = dt(c["dtstart"].as_str().expect("dtstart"));
        let zone: Tz = c["zone"].as_str().expect("zone").parse().expect("zone");
        let all_day = c.get("all_day").and_then(Value::as_bool).unwrap_or(false);
        let horizon = date(c["horizon"].as_str().expect("horizon"));
        let (rdates, exdates) = (strings(c, "rdates"), strings(c, "exdates"));

        let reject = to_graph_rrule(
            rrule,
            start,
            zone,
            all_day,
            &rdates,
            &exdates,
            Fallback::Reject,
        );
        let want = c["reject"].as_str().expect("reject");
        match &reject {
            Translation::Inexpressible { reason } => assert!(
                reason.contains(want),
                "{name}: reason {reason:?} lacks {want:?}"
            ),
            other => panic!("{name}: Reject gave {other:?}"),
        }

        let t = to_graph_rrule(
            rrule,
            start,
            zone,
            all_day,
            &rdates,
            &exdates,
            Fallback::NearestWithExceptions { horizon },
        );
        let expect = &c["nearest"];
        match (expect["outcome"].as_str().expect("outcome"), &t) {
            ("inexpressible", Translation::Inexpressible { reason }) => {
                let want = expect["reason"].as_str().expect("reason");
                assert!(
                    reason.contains(want),
                    "{name}: reason {reason:?} lacks {want:?}"
                );
                refused += 1;
            }
            (
                "nearest",
                Translation::Nearest {
                    recurrence,
                    cancel,
                    until_horizon,
                    lost,
                },
            ) => {
                let kind: PatternType =
                    serde_json::from_value(expect["type"].clone()).expect("type");
                assert_eq!(recurrence.pattern.kind, kind, "{name}: {recurrence:?}");
                if let Some(n) = expect.get("interval").and_then(Value::as_i64) {
                    assert_eq!(i64::from(recurrence.pattern.interval), n, "{name}");
                }
                assert_eq!(
                    cancel.len() as u64,
                    expect["cancel_count"].as_u64().expect("cancel_count"),
                    "{name}: {cancel:?}"
                );
                if let Some(list) = expect.get("cancel") {
                    assert_eq!(cancel, &strings(expect, "cancel"), "{name}: {list}");
                }
                assert!(!lost.is_empty(), "{name}: Nearest must say what is lost");
                let unbounded = parse_rule(rrule).expect("parses").is_unbounded();
                assert_eq!(*until_horizon, unbounded.then_some(horizon), "{name}");
                let compared = verify_nearest(
                    name,
                    rrule,
                    start,
                    zone,
                    all_day,
                    &rdates,
                    &exdates,
                    recurrence,
                    cancel,
                    unbounded.then_some(horizon),
                );
                assert!(compared > 0, "{name}: nothing compared");
                nearest += 1;
            }
            (outcome, got) => panic!("{name}: expected {outcome}, got {got:?}"),
        }
    }
    assert!(
        nearest >= 10 && refused >= 5,
        "{nearest} nearest, {refused} refused"
    );
}

/// Arbitrary rules (most not expressible) under the fallback: an Exact answer must keep every
/// occurrence; a Nearest answer must pass the superset-and-cancel check; nothing panics.
#[test]
fn random_rules_under_the_fallback() {
    use proptest::test_runner::{Config, TestRunner};
    let monthday = prop_oneof![
        Just(1i32),
        Just(2),
        Just(13),
        Just(15),
        Just(28),
        Just(29),
        Just(30),
        Just(31),
        Just(-1),
        Just(-2)
    ];
    let byday = (
        0usize..7,
        prop_oneof![
            Just(0i32),
            Just(0),
            Just(1),
            Just(2),
            Just(-1),
            Just(5),
            Just(-2)
        ],
    );
    let strategy = (
        0usize..4,
        1u32..=3,
        proptest::collection::btree_set(1u32..=12, 0..3),
        proptest::collection::btree_set(monthday, 0..3),
        proptest::collection::vec(byday, 0..3),
        proptest::collection::btree_set(prop_oneof![Just(1i32), Just(2), Just(-1), Just(3)], 0..2),
        prop_oneof![Just(None), (1u32..30).prop_map(Some)],
        (2024i32..=2027, 1u32..=12, 1u32..=28, 0u32..24),
        0usize..ZONES.len(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        ..Config::default()
    });
    let (exact, nearest, refused) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner
        .run(
            &strategy,
            |(freq, interval, months, monthdays, days, setpos, count, (y, m, d, h), z)| {
                let freq = ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"][freq];
                let mut rrule = format!("FREQ={freq};INTERVAL={interval}");
                let join = |v: Vec<String>| v.join(",");
                if !months.is_empty() {
                    rrule += &format!(
                        ";BYMONTH={}",
                        join(months.iter().map(|m| m.to_string()).collect())
                    );
                }
                if !monthdays.is_empty() {
                    rrule += &format!(
                        ";BYMONTHDAY={}",
                        join(monthdays.iter().map(|m| m.to_string()).collect())
                    );
                }
                if !days.is_empty() {
                    let days: Vec<String> = days
                        .iter()
                        .map(|(d, n)| {
                            if *n == 0 {
                                DAY_CODES[*d].to_string()
                            } else {
                                format!("{n}{}", DAY_CODES[*d])
                            }
                        })
                        .collect();
                    rrule += &format!(";BYDAY={}", join(days));
                }
                if !setpos.is_empty() {
                    rrule += &format!(
                        ";BYSETPOS={}",
                        join(setpos.iter().map(|m| m.to_string()).collect())
                    );
                }
                if let Some(c) = count {
                    rrule += &format!(";COUNT={c}");
                }
                let Ok(rule) = parse_rule(&rrule) else {
                    return Ok(());
                };
                let start = NaiveDate::from_ymd_opt(y, m, d)
                    .expect("date")
                    .and_hms_opt(h, 0, 0)
                    .expect("time");
                let zone = ZONES[z];
                let length = Length::Duration {
                    days: 0,
                    seconds: 1800,
                };
                let rec = Recurrence {
                    rule: Some(rule.clone()),
                    rdates: vec![],
                    exdates: vec![],
                };
                if Schedule::new(start, zone, length, false, Some(rec)).is_err() {
                    return Ok(()); // never occurs: not this test's business
                }
                let horizon = start.date() + Duration::days(400);
                let series = SeriesRecurrence {
                    rule: &rule,
                    start,
                    zone,
                    all_day: false,
                    rdates: &[],
                    exdates: &[],
                };
                match to_graph(&series, Fallback::NearestWithExceptions { horizon }) {
                    Translation::Exact { recurrence, .. } => {
                        let last = Some(start.date() + Duration::days(6 * 366));
                        let want =
                            occurrences(&schedule(&rrule, start, zone, false, &[], &[]), last);
                        let back = from_graph(&recurrence, start, zone, false)
                            .map_err(TestCaseError::fail)?;
                        let got = occurrences(&schedule(&back, start, zone, false, &[], &[]), last);
                        prop_assert_eq!(&want, &got, "{} -> {:?} -> {}", rrule, recurrence, back);
                        exact.set(exact.get() + 1);
                    }
                    Translation::Nearest {
                        recurrence, cancel, ..
                    } => {
                        let last = rule.is_unbounded().then_some(horizon);
                        verify_nearest(
                            &rrule,
                            &rrule,
                            start,
                            zone,
                            false,
                            &[],
                            &[],
                            &recurrence,
                            &cancel,
                            last,
                        );
                        nearest.set(nearest.get() + 1);
                    }
                    Translation::Inexpressible { reason } => {
                        prop_assert!(!reason.is_empty());
                        refused.set(refused.get() + 1);
                    }
                }
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (exact, nearest, refused) = (exact.get(), nearest.get(), refused.get());
    eprintln!("random rules under the fallback: {exact} exact, {nearest} nearest, {refused} inexpressible");
    assert!(
        exact > 0 && nearest > 0,
        "{exact} exact, {nearest} nearest, {refused} refused"
    );
}
