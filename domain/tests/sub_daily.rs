//! Sub-daily rules (MINUTELY, SECONDLY) against a brute-force model: every step of the interval
//! from DTSTART, kept when its weekday, hour, minute and second are allowed. The generator skips
//! refused hours and days instead of walking them; this checks the skipping loses nothing, and
//! that rules whose days never come are refused instead of walked for 800 years.

use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::rrule::{parse_rule, Generator};
use chrono::NaiveDate;
use proptest::prelude::*;

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn subset(max: u32, n: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(0..max, 0..=n).prop_map(|s| s.into_iter().collect())
}

fn join(values: &[u32]) -> String {
    values.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
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

/// Days that never come, behind hours that would otherwise be walked second by second.
#[test]
fn sub_daily_rules_on_days_that_never_come_are_refused() {
    let start = NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("start");
    for rule in ["FREQ=SECONDLY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=30", "FREQ=MINUTELY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=30", "FREQ=SECONDLY;INTERVAL=7;BYHOUR=23;BYMINUTE=59;BYMONTH=4;BYMONTHDAY=31"] {
        let recurrence = Recurrence::parse(Some(rule), Vec::new(), Vec::new()).expect("parses");
        let schedule = Schedule::new(start, chrono_tz::UTC, Length::Duration { days: 0, seconds: 1 }, false, Some(recurrence));
        let err = schedule.expect_err(rule);
        assert!(err.to_string().contains("no date") || err.to_string().contains("never"), "{rule}: {err}");
    }
    // Rare but real: 29 February on a Monday (2044), at 09:00:00 only.
    let rule = parse_rule("FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO").expect("rule");
    let first = Generator::new(&rule, start).expect("generator").next_local().expect("occurs");
    assert_eq!(chrono::DateTime::from_timestamp(first, 0).map(|d| d.naive_utc().to_string()), Some("2044-02-29 09:00:00".to_string()));
}

/// A multi-byte character where the `RRULE:` prefix would end is an error, not a panic.
#[test]
fn non_ascii_rule_text_is_refused_without_panicking() {
    for text in ["FREQ=é", "RRULé:FREQ=DAILY", "RRULE:FREQ=DAILY;BYDAY=MO€", "€€€€", "FREQ=DAILY;COUNT=３"] {
        assert!(parse_rule(text).is_err(), "{text}");
    }
}
