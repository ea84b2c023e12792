//! Relay slices of the merged occurrence order agree with slicing the whole list: forward and
//! backward, from either end or between cursors, over sparse and dense (minutely, secondly)
//! rules — the dense ones make the backward search bisect.

use almanac_domain::occurrence::{occurrences_page, Occurrence};
use almanac_domain::paging::{occurrences_slice, Slice, SlicePage, Take};
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

const RULES: &[&str] = &[
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=HOURLY;INTERVAL=5;COUNT=60",
    "FREQ=MINUTELY;INTERVAL=7;COUNT=400",
    "FREQ=SECONDLY;INTERVAL=13;COUNT=900",
    "FREQ=YEARLY",
];

fn local(minutes: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .expect("d")
        .and_hms_opt(0, 0, 0)
        .expect("t")
        + chrono::Duration::minutes(minutes)
}

fn series(rule: &str, zone: &str, start_minutes: i64, length: i64) -> Series {
    let tz: chrono_tz::Tz = zone.parse().expect("zone");
    let rec = Recurrence::parse(Some(rule), vec![], vec![]).expect("rule");
    let schedule = Schedule::new(
        local(start_minutes),
        tz,
        Length::Duration {
            days: 0,
            seconds: length,
        },
        false,
        Some(rec),
    )
    .expect("schedule");
    Series::new(
        SeriesId::from_uuid(uuid::Uuid::now_v7()),
        OrganizationId::DEFAULT,
        CalendarId::from_uuid(uuid::Uuid::now_v7()),
        SeriesKind::Event,
        "t".into(),
        None,
        schedule,
        1,
    )
}

fn ids(list: &[Occurrence]) -> Vec<String> {
    list.iter().map(|o| o.id.to_string()).collect()
}

fn slice(
    all: &[&Series],
    w: TimeWindow,
    after: Option<usize>,
    before: Option<usize>,
    take: Take,
    full: &[Occurrence],
) -> SlicePage {
    let at = |i: usize| full[i].sort_key();
    occurrences_slice(
        all,
        w,
        Slice {
            after: after.map(at),
            before: before.map(at),
            take,
        },
        false,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, .. ProptestConfig::default() })]

    #[test]
    fn slices_are_the_whole_list_sliced(
        picks in prop::collection::vec((prop::sample::select(RULES), prop::sample::select(&["UTC", "America/New_York", "Australia/Sydney"][..]), 0i64..3000, 60i64..7200), 1..5),
        window_start in -600i64..2000,
        window_minutes in 1i64..(60 * 24 * 60),
        n in 1usize..12,
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let owned: Vec<Series> = picks.iter().map(|(r, z, s, l)| series(r, z, *s, *l)).collect();
        let all: Vec<&Series> = owned.iter().collect();
        let w = TimeWindow::new(local(window_start).and_utc(), local(window_start + window_minutes).and_utc()).expect("window");
        let full = occurrences_page(all.iter().copied(), w, None, usize::MAX, false).occurrences;
        let len = full.len();

        // From the end, no cursor.
        let p = slice(&all, w, None, None, Take::Last(n), &full);
        prop_assert_eq!(ids(&p.occurrences), ids(&full[len.saturating_sub(n)..]));
        prop_assert_eq!((p.has_previous, p.has_next), (len > n, false));

        // Paging back from the end visits everything once, in order.
        let mut seen: Vec<Occurrence> = Vec::new();
        let mut before = None;
        loop {
            let page = occurrences_slice(&all, w, Slice { after: None, before, take: Take::Last(n) }, false);
            let mut chunk = page.occurrences.clone();
            chunk.extend(seen);
            seen = chunk;
            if !page.has_previous {
                break;
            }
            before = page.occurrences.first().map(|o| o.sort_key());
        }
        prop_assert_eq!(ids(&seen), ids(&full));

        if len > 0 {
            let (i, j) = (a.index(len), b.index(len));
            let (lo, hi) = (i.min(j), i.max(j));
            // Last n before a cursor, and first n after one.
            let p = slice(&all, w, None, Some(hi), Take::Last(n), &full);
            prop_assert_eq!(ids(&p.occurrences), ids(&full[hi.saturating_sub(n)..hi]));
            prop_assert_eq!((p.has_previous, p.has_next), (hi > n, true));
            let p = slice(&all, w, Some(lo), None, Take::First(n), &full);
            prop_assert_eq!(ids(&p.occurrences), ids(&full[lo + 1..(lo + 1 + n).min(len)]));
            prop_assert_eq!((p.has_previous, p.has_next), (true, lo + 1 + n < len));
            // Between two cursors, from either end.
            if lo < hi {
                let between = &full[lo + 1..hi];
                let p = slice(&all, w, Some(lo), Some(hi), Take::First(n), &full);
                prop_assert_eq!(ids(&p.occurrences), ids(&between[..n.min(between.len())]));
                prop_assert_eq!((p.has_previous, p.has_next), (true, true));
                let p = slice(&all, w, Some(lo), Some(hi), Take::Last(n), &full);
                prop_assert_eq!(ids(&p.occurrences), ids(&between[between.len().saturating_sub(n)..]));
                prop_assert_eq!((p.has_previous, p.has_next), (true, true));
            }
        }
    }
}

/// Thousands of occurrences in the second before the cursor's hour: the search bisects down to
/// them and still returns exactly the last n.
#[test]
fn a_dense_burst_just_before_the_cursor_is_sliced_exactly() {
    let dense: Vec<Series> = (0..3)
        .map(|k| series("FREQ=SECONDLY;COUNT=5000", "UTC", 600 + k, 1))
        .collect();
    let sparse = series("FREQ=DAILY", "Europe/Berlin", 0, 3600);
    let all: Vec<&Series> = dense.iter().chain([&sparse]).collect();
    let w = TimeWindow::new(local(0).and_utc(), local(60 * 24 * 30).and_utc()).expect("window");
    let full = occurrences_page(all.iter().copied(), w, None, usize::MAX, false).occurrences;
    for cursor in [full.len() - 1, full.len() / 2, 14_990, 3] {
        let p = slice(&all, w, None, Some(cursor), Take::Last(7), &full);
        assert_eq!(
            ids(&p.occurrences),
            ids(&full[cursor.saturating_sub(7)..cursor]),
            "before #{cursor}"
        );
        assert_eq!(p.has_previous, cursor > 7);
    }
}
