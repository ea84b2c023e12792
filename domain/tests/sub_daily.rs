//! Sub-daily rules (MINUTELY, SECONDLY) against a brute-force model: every step of the interval
//! from DTSTART, kept when its weekday, hour, minute and second are allowed. The generator skips
//! refused hours and days instead of walking them; this checks the skipping loses nothing, and
//! that rules whose days never come are refused instead of walked for 800 years.
//!
//! The same model, taken through a DST change, checks whole schedules against RFC 5545's reading
//! (§3.3.10, §3.3.5): every wall-clock step is resolved on its own with chrono-tz — a repeated time
//! is its earlier instant, a time in a gap takes the offset before the gap — then the instants are
//! put in order, COUNT takes that many (a gap-shifted time that lands on another still counts) and
//! each instant appears once. (The engine used to emit every elapsed hour across a change instead:
//! both passes of a repeated hour. python-dateutil, libical, rrule.js and ical.js read it as here.)

use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::rrule::{parse_rule, Generator};
use chrono::NaiveDate;
use proptest::prelude::*;

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn subset(max: u32, n: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(0..max, 0..=n).prop_map(|s| s.into_iter().collect())
}

fn join(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sub_daily_rules_match_the_brute_force_model(
        secondly in any::<bool>(),
        interval in prop_oneof![Just(1u32), 2u32..15, Just(7), Just(45), Just(90)],
        hours in subset(24, 3),
        minutes in subset(60, 3),
        seconds in subset(60, 3),
        weekdays in subset(7, 3),
        day in 1u32..28,
        h in 0u32..24,
        m in 0u32..60,
        s in 0u32..60,
    ) {
        let start = NaiveDate::from_ymd_opt(2026, 3, day).and_then(|d| d.and_hms_opt(h, m, s)).expect("start");
        let mut text = format!("FREQ={};INTERVAL={interval}", if secondly { "SECONDLY" } else { "MINUTELY" });
        if !hours.is_empty() { text += &format!(";BYHOUR={}", join(&hours)); }
        if !minutes.is_empty() { text += &format!(";BYMINUTE={}", join(&minutes)); }
        // BYSECOND limits a SECONDLY rule; on MINUTELY it would expand (not modelled here).
        if secondly && !seconds.is_empty() { text += &format!(";BYSECOND={}", join(&seconds)); }
        if !weekdays.is_empty() { text += &format!(";BYDAY={}", weekdays.iter().map(|&d| DAYS[d as usize]).collect::<Vec<_>>().join(",")); }
        let rule = parse_rule(&text).expect("rule");

        let step = i64::from(interval) * if secondly { 1 } else { 60 };
        let span = if secondly { 86_400 } else { 8 * 86_400 };
        let t0 = start.and_utc().timestamp();
        // Plain arithmetic on local seconds (1970-01-01 was a Thursday): the model must be cheap
        // to walk every step of the span.
        let mask = |values: &[u32]| if values.is_empty() { u64::MAX } else { values.iter().fold(0u64, |m, v| m | 1 << v) };
        let (hm, mm, wm) = (mask(&hours), mask(&minutes), mask(&weekdays));
        let sm = if secondly { mask(&seconds) } else { u64::MAX };
        let allowed = |t: i64| {
            let (day, sod) = (t.div_euclid(86_400), t.rem_euclid(86_400));
            hm & 1 << (sod / 3600) != 0 && mm & 1 << (sod / 60 % 60) != 0 && sm & 1 << (sod % 60) != 0 && wm & 1 << (day + 3).rem_euclid(7) != 0
        };
        let model: Vec<i64> = (0..).map(|k| t0 + k * step).take_while(|&t| t < t0 + span).filter(|&t| allowed(t)).collect();
        let Ok(mut g) = Generator::new(&rule, start) else {
            // Refused up front (e.g. no BYMINUTE value is on the INTERVAL's grid).
            prop_assert_eq!(model, Vec::<i64>::new(), "{}", text);
            return Ok(());
        };
        let mut ours = Vec::new();
        while let Some(t) = g.next_local() {
            if t >= t0 + span { break; }
            ours.push(t);
        }
        prop_assert_eq!(ours, model, "{}", text);
    }
}

/// The RFC reading of one wall-clock time (local seconds) in `tz`, straight from chrono-tz.
fn rfc_instant(tz: chrono_tz::Tz, local: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    let naive = chrono::DateTime::from_timestamp(local, 0)
        .expect("local")
        .naive_utc();
    match tz.offset_from_local_datetime(&naive) {
        chrono::LocalResult::Single(o) => local - i64::from(o.fix().local_minus_utc()),
        chrono::LocalResult::Ambiguous(a, b) => (local - i64::from(a.fix().local_minus_utc()))
            .min(local - i64::from(b.fix().local_minus_utc())),
        // The offset before the gap: the one in force 26 hours earlier, which is before the gap
        // began for every zone (offsets are within ±14 h, gaps at most a day, and no zone changes
        // twice in two days).
        chrono::LocalResult::None => {
            let before = chrono::DateTime::from_timestamp(local - 26 * 3600, 0)
                .expect("before")
                .naive_utc();
            local - i64::from(tz.offset_from_utc_datetime(&before).fix().local_minus_utc())
        }
    }
}

/// Local dates of DST changes (and Samoa's skipped day) a sub-daily schedule is started near.
const CHANGES: &[(&str, i32, u32, u32)] = &[
    ("America/New_York", 2026, 3, 8),
    ("America/New_York", 2026, 11, 1),
    ("Australia/Sydney", 2026, 4, 5),
    ("Australia/Sydney", 2026, 10, 4),
    ("Australia/Lord_Howe", 2026, 4, 5),
    ("Australia/Lord_Howe", 2026, 10, 4),
    ("Europe/Berlin", 2026, 3, 29),
    ("Europe/Berlin", 2026, 10, 25),
    ("Pacific/Apia", 2011, 12, 30),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sub_daily_schedules_through_dst_follow_the_rfc_model(
        change in prop::sample::select(CHANGES),
        freq in 0u8..3,
        interval in prop_oneof![Just(1u32), 2u32..8, Just(7), Just(25), Just(45), Just(90)],
        hours in subset(24, 6),
        minutes in subset(60, 4),
        seconds in subset(60, 4),
        count in prop::option::of(1u32..400),
        hour_before in 0i64..30,
        m in 0u32..60,
        s in 0u32..60,
    ) {
        let (zone, y, mo, d) = change;
        let tz: chrono_tz::Tz = zone.parse().expect("zone");
        let day = NaiveDate::from_ymd_opt(y, mo, d).expect("change day").and_hms_opt(0, m, s).expect("time");
        let start = day - chrono::Duration::hours(hour_before);
        let (name, unit) = [("HOURLY", 3600i64), ("MINUTELY", 60), ("SECONDLY", 1)][freq as usize];
        // SECONDLY steps of a few seconds over two days are too many to walk; scale them up.
        let interval = if freq == 2 { interval * 37 } else { interval };
        let mut text = format!("FREQ={name};INTERVAL={interval}");
        if !hours.is_empty() { text += &format!(";BYHOUR={}", join(&hours)); }
        // BYMINUTE/BYSECOND limit only rules at least that fine; on coarser ones they expand.
        if freq >= 1 && !minutes.is_empty() { text += &format!(";BYMINUTE={}", join(&minutes)); }
        if freq == 2 && !seconds.is_empty() { text += &format!(";BYSECOND={}", join(&seconds)); }
        if let Some(c) = count { text += &format!(";COUNT={c}"); }

        let step = i64::from(interval) * unit;
        let t0 = start.and_utc().timestamp();
        let span = 3 * 86_400;
        // Instants before `cutoff` come only from wall-clock times inside the walked span
        // (offsets are within ±14 h), so the model is complete below it.
        let cutoff = t0 + span - 86_400;
        let mask = |values: &[u32]| if values.is_empty() { u64::MAX } else { values.iter().fold(0u64, |m, v| m | 1 << v) };
        let (hm, mm) = (mask(&hours), if freq >= 1 { mask(&minutes) } else { u64::MAX });
        let sm = if freq == 2 { mask(&seconds) } else { u64::MAX };
        let allowed = |t: i64| {
            let sod = t.rem_euclid(86_400);
            hm & 1 << (sod / 3600) != 0 && mm & 1 << (sod / 60 % 60) != 0 && sm & 1 << (sod % 60) != 0
        };
        let mut model: Vec<i64> = (0..).map(|k| t0 + k * step).take_while(|&t| t < t0 + span).filter(|&t| allowed(t)).map(|t| rfc_instant(tz, t)).collect();
        model.sort_unstable();
        if let Some(c) = count { model.truncate(c as usize); }
        model.dedup();
        model.retain(|&t| t < cutoff);

        let recurrence = Recurrence::parse(Some(&text), Vec::new(), Vec::new()).expect("parses");
        let schedule = match Schedule::new(start, tz, Length::Duration { days: 0, seconds: 60 }, false, Some(recurrence)) {
            Ok(schedule) => schedule,
            Err(e) => {
                // Refused up front: only a rule that produces nothing may be (e.g. no BYHOUR
                // value is on the INTERVAL's grid).
                prop_assert!(model.is_empty(), "{} refused ({}) but the model has {:?}", text, e, model);
                return Ok(());
            }
        };
        let ours: Vec<i64> = schedule.instances_from(i64::MIN).map(|i| i.start).take_while(|&t| t < cutoff).collect();
        prop_assert_eq!(&ours, &model, "{} from {} in {}", text, start, zone);
        // Seeking into the middle gives the same tail as replaying from the start.
        if let Some(&mid) = model.get(model.len() / 2) {
            let sought: Vec<i64> = schedule.instances_from(mid).map(|i| i.start).take_while(|&t| t < cutoff).collect();
            prop_assert_eq!(&sought[..], &model[model.len() / 2..], "{} sought from {}", text, mid);
        }
    }
}

/// Days that never come, behind hours that would otherwise be walked second by second.
#[test]
fn sub_daily_rules_on_days_that_never_come_are_refused() {
    let start = NaiveDate::from_ymd_opt(2026, 3, 2)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("start");
    for rule in [
        "FREQ=SECONDLY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MINUTELY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=SECONDLY;INTERVAL=7;BYHOUR=23;BYMINUTE=59;BYMONTH=4;BYMONTHDAY=31",
    ] {
        let recurrence = Recurrence::parse(Some(rule), Vec::new(), Vec::new()).expect("parses");
        let schedule = Schedule::new(
            start,
            chrono_tz::UTC,
            Length::Duration {
                days: 0,
                seconds: 1,
            },
            false,
            Some(recurrence),
        );
        let err = schedule.expect_err(rule);
        assert!(
            err.to_string().contains("no date") || err.to_string().contains("never"),
            "{rule}: {err}"
        );
    }
    // Rare but real: 29 February on a Monday (2044), at 09:00:00 only.
    let rule =
        parse_rule("FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
            .expect("rule");
    let first = Generator::new(&rule, start)
        .expect("generator")
        .next_local()
        .expect("occurs");
    assert_eq!(
        chrono::DateTime::from_timestamp(first, 0).map(|d| d.naive_utc().to_string()),
        Some("2044-02-29 09:00:00".to_string())
    );
}

/// A multi-byte character where the `RRULE:` prefix would end is an error, not a panic.
#[test]
fn non_ascii_rule_text_is_refused_without_panicking() {
    for text in [
        "FREQ=é",
        "RRULé:FREQ=DAILY",
        "RRULE:FREQ=DAILY;BYDAY=MO€",
        "€€€€",
        "FREQ=DAILY;COUNT=３",
    ] {
        assert!(parse_rule(text).is_err(), "{text}");
    }
}
