//! Recurrence behaviour through GraphQL: local time across DST in several zones, month-end and
//! leap-day rules, window independence, in-progress occurrences, long and far windows.

use almanac_e2e::{engine_tests, to_utc, TestApp};
use serde_json::json;

async fn series(app: &TestApp, zone: &str, start: &str, duration: &str, rrule: &str) -> String {
    let cal = app.create_calendar("c", zone).await;
    app.create_series(&cal, json!({ "title": "s", "start": start, "duration": duration, "recurrence": { "rrule": rrule } }))
        .await
        .expect("series created");
    cal
}

async fn local_starts(app: &TestApp, cal: &str, from: &str, to: &str) -> Vec<String> {
    app.all_occurrences(&[cal], from, to, 1000)
        .await
        .iter()
        .map(|o| o["localStart"].as_str().expect("localStart").to_string())
        .collect()
}

async fn a_weekly_new_york_meeting_keeps_nine_oclock_across_both_dst_changes(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-03-02T09:00:00",
        "PT30M",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    )
    .await;
    let spring = app
        .starts_utc(&cal, "2026-03-02T00:00:00Z", "2026-03-14T00:00:00Z")
        .await;
    assert_eq!(
        spring,
        [
            "2026-03-02T14:00:00Z",
            "2026-03-04T14:00:00Z",
            "2026-03-06T14:00:00Z",
            "2026-03-09T13:00:00Z",
            "2026-03-11T13:00:00Z",
            "2026-03-13T13:00:00Z"
        ]
    );
    let fall = app
        .starts_utc(&cal, "2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z")
        .await;
    assert_eq!(fall, ["2026-10-30T13:00:00Z", "2026-11-02T14:00:00Z"]);
    for l in local_starts(&app, &cal, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z").await {
        assert!(l.ends_with("T09:00:00"), "{l} drifted from 09:00 local");
    }
}

async fn a_berlin_time_in_the_spring_gap_moves_forward_and_a_repeated_time_takes_the_first(
    app: TestApp,
) {
    let cal = series(
        &app,
        "Europe/Berlin",
        "2026-03-27T02:30:00",
        "PT15M",
        "FREQ=DAILY",
    )
    .await;
    let spring = app
        .starts_utc(&cal, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z")
        .await;
    // 02:30 on the 29th does not exist: 03:30 CEST, which is 01:30Z like the CET day before.
    assert_eq!(
        spring,
        [
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:30:00Z",
            "2026-03-30T00:30:00Z"
        ]
    );
    let fall = app
        .starts_utc(&cal, "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z")
        .await;
    // 02:30 on the 25th happens twice: the first (CEST) one.
    assert_eq!(
        fall,
        [
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z"
        ]
    );
}

async fn sydney_changes_in_april_and_october_and_a_monday_morning_is_sunday_in_utc(app: TestApp) {
    let cal = series(
        &app,
        "Australia/Sydney",
        "2026-04-03T02:30:00",
        "PT15M",
        "FREQ=DAILY",
    )
    .await;
    let april = app
        .starts_utc(&cal, "2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z")
        .await;
    assert_eq!(
        april,
        [
            "2026-04-03T15:30:00Z",
            "2026-04-04T15:30:00Z",
            "2026-04-05T16:30:00Z"
        ]
    );
    let october = app
        .starts_utc(&cal, "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z")
        .await;
    assert_eq!(
        october,
        [
            "2026-10-02T16:30:00Z",
            "2026-10-03T16:30:00Z",
            "2026-10-04T15:30:00Z"
        ]
    );

    let cal = series(
        &app,
        "Australia/Sydney",
        "2026-03-30T08:00:00",
        "PT1H",
        "FREQ=WEEKLY;BYDAY=MO",
    )
    .await;
    let mondays = app
        .starts_utc(&cal, "2026-03-29T00:00:00Z", "2026-04-13T00:00:00Z")
        .await;
    assert_eq!(
        mondays,
        [
            "2026-03-29T21:00:00Z",
            "2026-04-05T22:00:00Z",
            "2026-04-12T22:00:00Z"
        ]
    );
}

async fn a_sao_paulo_evening_event_falls_on_the_next_utc_day_and_the_2018_midnight_gap_shifts(
    app: TestApp,
) {
    let cal = series(
        &app,
        "America/Sao_Paulo",
        "2026-03-02T22:00:00",
        "PT1H",
        "FREQ=WEEKLY;BYDAY=MO",
    )
    .await;
    let occ = app
        .all_occurrences(&[&cal], "2026-03-01T00:00:00Z", "2026-03-12T00:00:00Z", 100)
        .await;
    let starts: Vec<String> = occ
        .iter()
        .map(|o| to_utc(o["start"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(starts, ["2026-03-03T01:00:00Z", "2026-03-10T01:00:00Z"]);
    assert!(occ.iter().all(|o| o["localStart"]
        .as_str()
        .is_some_and(|l| l.ends_with("T22:00:00"))));

    // Brazil's DST began at midnight on 2018-11-04: 00:30 did not exist that day.
    let cal = series(
        &app,
        "America/Sao_Paulo",
        "2018-11-02T00:30:00",
        "PT1H",
        "FREQ=DAILY",
    )
    .await;
    let gap = app
        .starts_utc(&cal, "2018-11-02T00:00:00Z", "2018-11-06T00:00:00Z")
        .await;
    assert_eq!(
        gap,
        [
            "2018-11-02T03:30:00Z",
            "2018-11-03T03:30:00Z",
            "2018-11-04T03:30:00Z",
            "2018-11-05T02:30:00Z"
        ]
    );

    // An all-day series on that day starts when the day does: 01:00 local.
    let cal = app.create_calendar("c", "America/Sao_Paulo").await;
    app.create_series(
        &cal,
        json!({ "title": "day", "start": "2018-11-04", "allDay": true }),
    )
    .await
    .expect("all-day series");
    let occ = app
        .all_occurrences(&[&cal], "2018-11-01T00:00:00Z", "2018-11-10T00:00:00Z", 10)
        .await;
    assert_eq!(occ.len(), 1);
    assert_eq!(
        to_utc(occ[0]["start"].as_str().unwrap_or_default()),
        "2018-11-04T03:00:00Z"
    );
    assert_eq!(
        to_utc(occ[0]["end"].as_str().unwrap_or_default()),
        "2018-11-05T02:00:00Z"
    );
    assert_eq!(occ[0]["allDay"], json!(true));
}

async fn kolkata_half_hour_offset_moves_early_morning_events_to_the_previous_utc_day(app: TestApp) {
    let cal = series(
        &app,
        "Asia/Kolkata",
        "2026-06-01T04:00:00",
        "PT30M",
        "FREQ=DAILY;COUNT=2",
    )
    .await;
    let starts = app
        .starts_utc(&cal, "2026-05-30T00:00:00Z", "2026-06-05T00:00:00Z")
        .await;
    assert_eq!(starts, ["2026-05-31T22:30:00Z", "2026-06-01T22:30:00Z"]);
}

async fn monthly_on_the_31st_skips_short_months_and_never_drifts(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-01-31T10:00:00",
        "PT1H",
        "FREQ=MONTHLY;COUNT=7",
    )
    .await;
    let days: Vec<String> =
        local_starts(&app, &cal, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
            .await
            .iter()
            .map(|l| l[..10].to_string())
            .collect();
    assert_eq!(
        days,
        [
            "2026-01-31",
            "2026-03-31",
            "2026-05-31",
            "2026-07-31",
            "2026-08-31",
            "2026-10-31",
            "2026-12-31"
        ]
    );

    let cal = series(
        &app,
        "America/New_York",
        "2026-01-31T10:00:00",
        "PT1H",
        "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=4",
    )
    .await;
    let days: Vec<String> =
        local_starts(&app, &cal, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
            .await
            .iter()
            .map(|l| l[..10].to_string())
            .collect();
    assert_eq!(
        days,
        ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    );
}

async fn yearly_on_february_29_occurs_only_in_leap_years(app: TestApp) {
    let cal = series(
        &app,
        "Europe/Berlin",
        "2024-02-29T09:00:00",
        "PT1H",
        "FREQ=YEARLY;COUNT=3",
    )
    .await;
    let days: Vec<String> =
        local_starts(&app, &cal, "2024-01-01T00:00:00Z", "2040-01-01T00:00:00Z")
            .await
            .iter()
            .map(|l| l[..10].to_string())
            .collect();
    assert_eq!(days, ["2024-02-29", "2028-02-29", "2032-02-29"]);
}

async fn several_month_days_expand_in_order_with_the_last_day_from_the_end(app: TestApp) {
    let cal = series(
        &app,
        "UTC",
        "2026-02-01T09:00:00",
        "PT1H",
        "FREQ=MONTHLY;BYMONTHDAY=1,15,-1;COUNT=6",
    )
    .await;
    let days: Vec<String> =
        local_starts(&app, &cal, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
            .await
            .iter()
            .map(|l| l[..10].to_string())
            .collect();
    assert_eq!(
        days,
        [
            "2026-02-01",
            "2026-02-15",
            "2026-02-28",
            "2026-03-01",
            "2026-03-15",
            "2026-03-31"
        ]
    );
}

async fn count_and_interval_give_the_same_occurrences_whatever_the_window(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-01-01T09:00:00",
        "PT1H",
        "FREQ=DAILY;INTERVAL=3;COUNT=10",
    )
    .await;
    let full = app
        .starts_utc(&cal, "2025-12-01T00:00:00Z", "2026-06-01T00:00:00Z")
        .await;
    assert_eq!(full.len(), 10);
    // Pieces of the range, each asked on its own, add up to the whole: COUNT is not restarted
    // at a window's start, and INTERVAL keeps its phase.
    let mut pieces = Vec::new();
    for (from, to) in [
        ("2025-12-01T00:00:00Z", "2026-01-10T00:00:00Z"),
        ("2026-01-10T00:00:00Z", "2026-01-20T00:00:00Z"),
        ("2026-01-20T00:00:00Z", "2026-06-01T00:00:00Z"),
    ] {
        pieces.extend(app.starts_utc(&cal, from, to).await);
    }
    assert_eq!(pieces, full);
    let middle = app
        .starts_utc(&cal, "2026-01-10T00:00:00Z", "2026-01-20T00:00:00Z")
        .await;
    assert_eq!(
        middle,
        [
            "2026-01-10T14:00:00Z",
            "2026-01-13T14:00:00Z",
            "2026-01-16T14:00:00Z",
            "2026-01-19T14:00:00Z"
        ]
    );
    let tail = app
        .starts_utc(&cal, "2026-01-26T00:00:00Z", "2027-01-01T00:00:00Z")
        .await;
    assert_eq!(
        tail,
        ["2026-01-28T14:00:00Z"],
        "the 10th occurrence is the last"
    );
    // Small pages give the same list as one big page.
    let paged: Vec<String> = app
        .all_occurrences(&[&cal], "2025-12-01T00:00:00Z", "2026-06-01T00:00:00Z", 3)
        .await
        .iter()
        .map(|o| to_utc(o["start"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(paged, full);
}

async fn an_occurrence_in_progress_at_the_window_start_is_returned(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    app.create_series(
        &cal,
        json!({ "title": "long", "start": "2026-05-01T09:00:00", "end": "2026-05-01T11:00:00" }),
    )
    .await
    .expect("created");
    assert_eq!(
        app.starts_utc(&cal, "2026-05-01T10:00:00Z", "2026-05-01T12:00:00Z")
            .await,
        ["2026-05-01T09:00:00Z"]
    );
    assert!(
        app.starts_utc(&cal, "2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z")
            .await
            .is_empty(),
        "ended exactly at `from`: not overlapping"
    );
    assert!(
        app.starts_utc(&cal, "2026-05-01T08:00:00Z", "2026-05-01T09:00:00Z")
            .await
            .is_empty(),
        "starts exactly at `to`: not overlapping"
    );
    // Recurring too: a weekly 3-hour block in progress at the window start.
    let cal = series(
        &app,
        "Europe/Berlin",
        "2026-05-04T08:00:00",
        "PT3H",
        "FREQ=WEEKLY",
    )
    .await;
    assert_eq!(
        app.starts_utc(&cal, "2026-05-11T07:00:00Z", "2026-05-11T08:00:00Z")
            .await,
        ["2026-05-11T06:00:00Z"]
    );
}

/// RFC 5545 §3.3.10: an HOURLY rule's times are wall-clock times, each read like an explicit
/// DATE-TIME (§3.3.5). Spring-forward: 02:00 does not exist and is read with the offset before the
/// gap (07:00Z), the same instant as 03:00, so it appears once but still counts toward COUNT.
/// Fall-back: 01:00 is the first (EDT) pass only; the repeated hour is not produced again.
/// (python-dateutil, libical, rrule.js and ical.js agree; the conformance test checks many more
/// cases against dateutil.)
async fn an_hourly_rule_steps_the_wall_clock_across_dst(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-03-08T00:00:00",
        "PT10M",
        "FREQ=HOURLY;COUNT=5",
    )
    .await;
    assert_eq!(
        app.starts_utc(&cal, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z")
            .await,
        [
            "2026-03-08T05:00:00Z",
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z"
        ]
    );
    let cal = series(
        &app,
        "America/New_York",
        "2026-11-01T00:00:00",
        "PT10M",
        "FREQ=HOURLY;COUNT=5",
    )
    .await;
    assert_eq!(
        app.starts_utc(&cal, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z")
            .await,
        [
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z",
            "2026-11-01T07:00:00Z",
            "2026-11-01T08:00:00Z",
            "2026-11-01T09:00:00Z"
        ]
    );
}

async fn ten_years_of_a_daily_series_page_out_completely_with_no_cap(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-01-01T09:00:00",
        "PT30M",
        "FREQ=DAILY",
    )
    .await;
    let all = app
        .all_occurrences(
            &[&cal],
            "2026-01-01T00:00:00Z",
            "2036-01-01T00:00:00Z",
            1000,
        )
        .await;
    assert_eq!(all.len(), 3652, "every day of 2026–2035");
    let mut ids: Vec<&str> = all
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3652, "no occurrence appears twice across pages");
    assert!(all.iter().all(|o| o["localStart"]
        .as_str()
        .is_some_and(|l| l.ends_with("T09:00:00"))));
    let starts: Vec<String> = all
        .iter()
        .map(|o| to_utc(o["start"].as_str().unwrap_or_default()))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "ordered by start");
}

async fn a_window_fifty_years_out_is_answered_in_local_time(app: TestApp) {
    let cal = series(
        &app,
        "America/New_York",
        "2026-01-01T09:00:00",
        "PT30M",
        "FREQ=DAILY",
    )
    .await;
    let june = app
        .starts_utc(&cal, "2076-06-01T00:00:00Z", "2076-06-04T00:00:00Z")
        .await;
    assert_eq!(
        june,
        [
            "2076-06-01T13:00:00Z",
            "2076-06-02T13:00:00Z",
            "2076-06-03T13:00:00Z"
        ]
    );
    // A minutely rule is paginated, never truncated or refused, even over ten years.
    let cal = series(
        &app,
        "UTC",
        "2026-01-01T00:00:00",
        "PT1M",
        "FREQ=MINUTELY;INTERVAL=7",
    )
    .await;
    let d = app.ok(TestApp::OCCURRENCES, json!({ "c": [cal], "from": "2066-01-01T00:00:00Z", "to": "2076-01-01T00:00:00Z", "first": 1000 })).await;
    let edges = d["occurrences"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1000);
    assert_eq!(d["occurrences"]["pageInfo"]["hasNextPage"], json!(true));
    // Minutes since 2026-01-01 to 2066-01-01 = 21,038,400; the first multiple of 7 at or after it.
    let first = to_utc(edges[0]["node"]["start"].as_str().unwrap_or_default());
    let minutes_to_2066 = 21_038_400i64;
    let k = (minutes_to_2066 + 6) / 7 * 7 - minutes_to_2066;
    assert_eq!(first, format!("2066-01-01T00:{k:02}:00Z"));
}

async fn occurrence_ids_are_stable_across_windows_and_resolve_as_nodes(app: TestApp) {
    let cal = series(
        &app,
        "Europe/Berlin",
        "2026-01-05T10:00:00",
        "PT1H",
        "FREQ=WEEKLY",
    )
    .await;
    let a = app
        .all_occurrences(&[&cal], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 100)
        .await;
    let b = app
        .all_occurrences(&[&cal], "2026-01-12T00:00:00Z", "2026-01-18T00:00:00Z", 100)
        .await;
    assert_eq!(b.len(), 1);
    assert!(
        a.iter().any(|o| o["id"] == b[0]["id"]),
        "the same occurrence has the same id in any window"
    );
    let d = app
        .ok("query($id: ID!) { node(id: $id) { id ... on Occurrence { start recurrenceId seriesId } } }", json!({ "id": b[0]["id"] }))
        .await;
    assert_eq!(d["node"]["id"], b[0]["id"]);
    assert_eq!(
        to_utc(d["node"]["start"].as_str().unwrap_or_default()),
        to_utc(b[0]["start"].as_str().unwrap_or_default())
    );
    assert_eq!(
        to_utc(d["node"]["recurrenceId"].as_str().unwrap_or_default()),
        "2026-01-12T09:00:00Z"
    );
}

async fn occurrences_from_several_series_merge_by_start_then_series(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let (a, _) = app.create_series(&cal, json!({ "title": "a", "start": "2026-01-01T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("a");
    let (b, _) = app.create_series(&cal, json!({ "title": "b", "start": "2026-01-01T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("b");
    let other = app.create_calendar("d", "UTC").await;
    app.create_series(&other, json!({ "title": "c", "start": "2026-01-01T08:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await.expect("c");
    let occ = app
        .all_occurrences(
            &[&cal, &other],
            "2026-01-01T00:00:00Z",
            "2026-01-03T00:00:00Z",
            2,
        )
        .await;
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    let got: Vec<(String, String)> = occ
        .iter()
        .map(|o| {
            (
                to_utc(o["start"].as_str().unwrap_or_default()),
                o["seriesId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let title = |i: usize| occ[i]["title"].as_str().unwrap_or_default().to_string();
    assert_eq!(got.len(), 6);
    assert_eq!(title(0), "c");
    assert_eq!(got[1], ("2026-01-01T09:00:00Z".to_string(), first.clone()));
    assert_eq!(got[2], ("2026-01-01T09:00:00Z".to_string(), second.clone()));
    assert_eq!(title(3), "c");
    // The kinds filter narrows the merge.
    let d = app
        .ok(
            "query($c: [ID!]!) { occurrences(calendarIds: $c, from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", kinds: [BLOCKED]) { edges { node { id } } } }",
            json!({ "c": [cal] }),
        )
        .await;
    assert_eq!(d["occurrences"]["edges"].as_array().map(Vec::len), Some(0));
}

engine_tests!(
    a_weekly_new_york_meeting_keeps_nine_oclock_across_both_dst_changes,
    a_berlin_time_in_the_spring_gap_moves_forward_and_a_repeated_time_takes_the_first,
    sydney_changes_in_april_and_october_and_a_monday_morning_is_sunday_in_utc,
    a_sao_paulo_evening_event_falls_on_the_next_utc_day_and_the_2018_midnight_gap_shifts,
    kolkata_half_hour_offset_moves_early_morning_events_to_the_previous_utc_day,
    monthly_on_the_31st_skips_short_months_and_never_drifts,
    yearly_on_february_29_occurs_only_in_leap_years,
    several_month_days_expand_in_order_with_the_last_day_from_the_end,
    count_and_interval_give_the_same_occurrences_whatever_the_window,
    an_occurrence_in_progress_at_the_window_start_is_returned,
    an_hourly_rule_steps_the_wall_clock_across_dst,
    ten_years_of_a_daily_series_page_out_completely_with_no_cap,
    a_window_fifty_years_out_is_answered_in_local_time,
    occurrence_ids_are_stable_across_windows_and_resolve_as_nodes,
    occurrences_from_several_series_merge_by_start_then_series,
);
