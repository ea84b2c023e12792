//! Properties of the edit scopes over random rules, zones, windows and edit sequences.

use almanac_domain::edit::{
    cancel_from, edit_all, modify_occurrence, occurrence_at, reschedule, set_occurrence_state,
    split, tail_schedule, CancelOutcome, OccurrenceChange, SeriesFields, SplitOutcome,
};
use almanac_domain::occurrence::{occurrences_page, Occurrence, RecurrenceId};
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::series::{OccurrenceStatus, Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use std::collections::HashSet;

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
];

fn rules() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FREQ=DAILY".to_string()),
        Just("FREQ=DAILY;INTERVAL=2;COUNT=40".to_string()),
        Just("FREQ=WEEKLY;BYDAY=MO,WE,FR".to_string()),
        Just("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=30".to_string()),
        Just("FREQ=MONTHLY;BYMONTHDAY=31".to_string()),
        Just("FREQ=MONTHLY;BYDAY=-1FR;COUNT=12".to_string()),
        Just("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1".to_string()),
        Just("FREQ=YEARLY;BYMONTH=3,10;BYDAY=-1SU".to_string()),
        Just("FREQ=HOURLY;INTERVAL=5;COUNT=60".to_string()),
        Just("FREQ=DAILY;UNTIL=20270101T000000Z".to_string()),
    ]
}

fn local(day: i64, hour: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .expect("d")
        .and_hms_opt(0, 0, 0)
        .expect("t")
        + chrono::Duration::days(day)
        + chrono::Duration::hours(hour)
}

fn make_series(rule: &str, zone: &str, day: i64, hour: i64) -> Option<Series> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let rec = Recurrence::parse(Some(rule), vec![], vec![]).ok()?;
    let schedule = Schedule::new(
        local(day, hour),
        tz,
        Length::Duration {
            days: 0,
            seconds: 1800,
        },
        false,
        Some(rec),
    )
    .ok()?;
    let id = SeriesId::from_uuid(uuid::Uuid::now_v7());
    Some(Series::new(
        id,
        OrganizationId::DEFAULT,
        CalendarId::from_uuid(uuid::Uuid::now_v7()),
        SeriesKind::Event,
        "t".into(),
        None,
        schedule,
        1,
    ))
}

fn window() -> TimeWindow {
    TimeWindow::new(local(-10, 0).and_utc(), local(3700, 0).and_utc()).expect("window")
}

fn all(series: &[&Series], include_cancelled: bool) -> Vec<Occurrence> {
    occurrences_page(
        series.iter().copied(),
        window(),
        None,
        usize::MAX,
        include_cancelled,
    )
    .occurrences
}

/// What a user sees of an occurrence, without which series row holds it.
fn seen(o: &Occurrence) -> (String, i64, i64, Option<String>, OccurrenceStatus) {
    (
        o.id.to_string(),
        o.start.timestamp(),
        o.end.timestamp(),
        o.title.clone(),
        o.status,
    )
}

fn nth_rid(s: &Series, n: usize) -> Option<RecurrenceId> {
    s.schedule()
        .instances_from(i64::MIN)
        .nth(n)
        .map(|i| RecurrenceId(i.start))
}

/// Applies a few random single-occurrence edits (moves, renames, cancellations).
fn with_exceptions(mut s: Series, edits: &[(usize, u8, i64)]) -> Series {
    for &(n, what, shift) in edits {
        let Some(rid) = nth_rid(&s, n) else { continue };
        let change = match what % 3 {
            0 => OccurrenceChange {
                start: Some(rid.0 + shift * 3600),
                ..Default::default()
            },
            1 => OccurrenceChange {
                title: Some(format!("renamed {n}")),
                ..Default::default()
            },
            _ => OccurrenceChange {
                status: Some(OccurrenceStatus::Cancelled),
                ..Default::default()
            },
        };
        if let Ok(next) = modify_occurrence(&s, rid, &change) {
            s = next;
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// A list says `moved` exactly as the occurrence itself (the edit payload's answer) does, and
    /// that is "shown away from its recurrence id's slot" (a move by zero hours is not one).
    #[test]
    fn lists_say_moved_as_the_occurrence_itself_does(
        rule in rules(), zone in prop::sample::select(ZONES), day in 0i64..60, hour in 0i64..24,
        edits in prop::collection::vec((0usize..40, 0u8..3, -3i64..3), 0..8),
    ) {
        let Some(s) = make_series(&rule, zone, day, hour) else { return Ok(()) };
        let s = with_exceptions(s, &edits);
        for o in all(&[&s], true) {
            let single = occurrence_at(&s, o.recurrence_id()).expect("a listed occurrence exists");
            prop_assert_eq!(o.moved, single.moved, "{:?}", o);
            let placed_away = s.exception(o.recurrence_id()).is_some_and(|e| e.start.is_some_and(|t| t != o.recurrence_id().0));
            prop_assert_eq!(o.moved, placed_away, "{:?}", o);
        }
    }

    #[test]
    fn splitting_with_no_change_leaves_the_occurrence_set_identical(
        rule in rules(), zone in prop::sample::select(ZONES), day in 0i64..60, hour in 0i64..24,
        k in 0usize..40, edits in prop::collection::vec((0usize..40, 0u8..3, -30i64..30), 0..6),
    ) {
        let Some(s) = make_series(&rule, zone, day, hour) else { return Ok(()) };
        let s = with_exceptions(s, &edits);
        let Some(at) = nth_rid(&s, k).filter(|r| r.instant() < window().to()) else { return Ok(()) };
        let before: Vec<_> = all(&[&s], true).iter().map(seen).collect();
        let tail = tail_schedule(&s, at).expect("tail");
        let (outcome, report) = split(&s, at, tail, &SeriesFields::default(), SeriesId::from_uuid(uuid::Uuid::now_v7())).expect("split");
        prop_assert!(report.dropped.is_empty(), "nothing to drop when nothing changes: {:?}", report.dropped);
        let after: Vec<_> = match &outcome {
            SplitOutcome::WholeSeries(w) => { prop_assert_eq!(k, 0); all(&[w], true) }
            SplitOutcome::Split { original, continuation } => {
                let mut v = all(&[original, continuation], true);
                // The original ends before k; the continuation holds k and what follows.
                let continuation_rids: HashSet<_> = all(&[continuation], true).iter().map(|o| o.recurrence_id()).collect();
                prop_assert!(continuation_rids.contains(&at));
                prop_assert!(all(&[original], true).iter().all(|o| o.recurrence_id() < at));
                v.sort_by_key(|o| (o.start, o.id));
                v
            }
        }.iter().map(seen).collect();
        let mut before_sorted = before.clone();
        before_sorted.sort_by_key(|x| (x.1, x.0.clone()));
        let mut after_sorted = after.clone();
        after_sorted.sort_by_key(|x| (x.1, x.0.clone()));
        prop_assert_eq!(before_sorted, after_sorted);
    }

    #[test]
    fn after_any_edit_sequence_no_occurrence_appears_twice_and_each_lies_in_its_window(
        rule in rule_strategy_plain(), zone in prop::sample::select(ZONES), day in 0i64..60, hour in 0i64..24,
        edits in prop::collection::vec((0usize..40, 0u8..3, -60i64..60), 0..8),
        k in 0usize..30, shift in -3i64..4, from_day in -10i64..700, len in 1i64..90,
    ) {
        let Some(s) = make_series(&rule, zone, day, hour) else { return Ok(()) };
        let s = with_exceptions(s, &edits);
        let Some(at) = nth_rid(&s, k) else { return Ok(()) };
        let tail = tail_schedule(&s, at).expect("tail");
        let moved = reschedule(&tail, Some(tail.start() + chrono::Duration::hours(shift)), None, None, None);
        let Ok(moved) = moved else { return Ok(()) };
        let (outcome, _) = split(&s, at, moved, &SeriesFields { title: Some("new".into()), ..Default::default() }, SeriesId::from_uuid(uuid::Uuid::now_v7())).expect("split");
        let series: Vec<Series> = match outcome { SplitOutcome::WholeSeries(w) => vec![w], SplitOutcome::Split { original, continuation } => vec![original, continuation] };
        let w = TimeWindow::new(local(from_day, 0).and_utc(), local(from_day + len, 0).and_utc()).expect("w");
        let page = occurrences_page(series.iter(), w, None, usize::MAX, true).occurrences;
        let mut ids = HashSet::new();
        for o in &page {
            prop_assert!(ids.insert(o.id), "{} appears twice", o.id);
            prop_assert!(o.start < w.to() && o.end > w.from(), "{} is outside its window", o.id);
        }
    }

    #[test]
    fn series_edits_never_alter_a_locked_occurrence(
        rule in rules(), zone in prop::sample::select(ZONES), day in 0i64..60, hour in 1i64..20,
        locks in prop::collection::vec(0usize..30, 1..4), shift in -2i64..3, k in 0usize..30, cancel in any::<bool>(),
    ) {
        let Some(mut s) = make_series(&rule, zone, day, hour) else { return Ok(()) };
        for n in locks {
            if let Some(rid) = nth_rid(&s, n) {
                s = set_occurrence_state(&s, rid, Some(OccurrenceStatus::Confirmed), Some(true)).expect("lock");
            }
        }
        let locked_before: Vec<_> = all(&[&s], true).into_iter().filter(|o| o.locked).map(|o| seen(&o)).collect();
        let fields = SeriesFields { title: Some("changed".into()), kind: Some(SeriesKind::Blocked), description: Some(Some("d".into())) };
        let Ok(shifted) = reschedule(s.schedule(), Some(s.schedule().start() + chrono::Duration::hours(shift)), None, None, None) else { return Ok(()) };
        let mut results: Vec<Vec<Series>> = vec![vec![edit_all(&s, shifted, &fields).0]];
        if let Some(at) = nth_rid(&s, k) {
            let tail = tail_schedule(&s, at).expect("tail");
            if let Ok(t) = reschedule(&tail, Some(tail.start() + chrono::Duration::hours(shift)), None, None, None) {
                match split(&s, at, t, &fields, SeriesId::from_uuid(uuid::Uuid::now_v7())).expect("split").0 {
                    SplitOutcome::WholeSeries(w) => results.push(vec![w]),
                    SplitOutcome::Split { original, continuation } => results.push(vec![original, continuation]),
                }
            }
            if cancel {
                if let Ok((CancelOutcome::Truncated(t), _)) = cancel_from(&s, at) {
                    results.push(vec![t]);
                }
            }
        }
        for series in results {
            let refs: Vec<&Series> = series.iter().collect();
            let locked_after: Vec<_> = all(&refs, true).into_iter().filter(|o| o.locked).map(|o| seen(&o)).collect();
            let mut a = locked_before.clone();
            a.sort();
            let mut b = locked_after;
            b.sort();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn edit_all_followed_by_its_inverse_restores_the_set(
        rule in rules(), zone in prop::sample::select(ZONES), day in 0i64..60, hour in 4i64..18,
        edits in prop::collection::vec((0usize..40, 0u8..3, -2i64..2), 0..6), shift in 1i64..4,
    ) {
        let Some(s) = make_series(&rule, zone, day, hour) else { return Ok(()) };
        let s = with_exceptions(s, &edits);
        let before: Vec<_> = all(&[&s], true).iter().map(seen).collect();
        let original = s.schedule().clone();
        let Ok(shifted) = reschedule(&original, Some(original.start() + chrono::Duration::hours(shift)), None, None, None) else { return Ok(()) };
        let (edited, _) = edit_all(&s, shifted, &SeriesFields { title: Some("other".into()), ..Default::default() });
        let (back, _) = edit_all(&edited, original, &SeriesFields { title: Some(s.title.clone()), ..Default::default() });
        let after: Vec<_> = all(&[&back], true).iter().map(seen).collect();
        prop_assert_eq!(before, after);
    }
}

fn rule_strategy_plain() -> impl Strategy<Value = String> {
    rules()
}
