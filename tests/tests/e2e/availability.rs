//! Free/busy, availability, bookable slots, next slot, why-not and conflict checks through
//! GraphQL, on SQLite and PostgreSQL.

use almanac_e2e::{engine_tests, to_utc, TestApp};
use serde_json::{json, Value};

const FREE_BUSY: &str = "query($c: [ID!]!, $from: DateTime!, $to: DateTime!, $t: Boolean!) { freeBusy(calendarIds: $c, from: $from, to: $to, tentativeIsBusy: $t) {
    calendars { calendarId busy { start end } occurrences { occurrenceId seriesId kind start end } } combined { start end } } }";
const AVAILABILITY: &str = "query($c: [ID!]!, $from: DateTime!, $to: DateTime!) { availability(calendarIds: $c, from: $from, to: $to) { calendarId windows { start end } free { start end } } }";
const SLOTS: &str = "query($r: SlotRulesInput!, $from: DateTime!, $to: DateTime!) { bookableSlots(rules: $r, from: $from, to: $to) { slots { start end calendarIds } hasMore } }";
const WHY: &str = "query($r: SlotRulesInput!, $s: DateTime!, $e: DateTime!) { whyNotAvailable(rules: $r, start: $s, end: $e) { reason calendarId occurrence { occurrenceId } } }";
const NEXT: &str = "query($r: SlotRulesInput!, $a: DateTime!) { nextAvailableSlot(rules: $r, after: $a) { start end calendarIds } }";

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("intervals")
        .iter()
        .map(|i| {
            (
                to_utc(i["start"].as_str().unwrap_or_default()),
                to_utc(i["end"].as_str().unwrap_or_default()),
            )
        })
        .collect()
}

fn p(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

async fn event(app: &TestApp, cal: &str, input: Value) -> String {
    app.create_series(cal, input).await.expect("series").0
}

fn single(title: &str, start: &str, end: &str) -> Value {
    json!({ "title": title, "start": start, "end": end })
}

fn slot_starts(d: &Value) -> Vec<String> {
    d["bookableSlots"]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| to_utc(s["start"].as_str().unwrap_or_default()))
        .collect()
}

async fn free_busy_merges_what_blocks_and_skips_what_does_not(app: TestApp) {
    let a = app.create_calendar("a", "UTC").await;
    let b = app.create_calendar("b", "Europe/Berlin").await;
    event(
        &app,
        &a,
        single("1", "2026-05-04T09:00:00", "2026-05-04T10:00:00"),
    )
    .await;
    event(
        &app,
        &a,
        single("2", "2026-05-04T09:30:00", "2026-05-04T11:00:00"),
    )
    .await;
    let mut free = single("free", "2026-05-04T12:00:00", "2026-05-04T13:00:00");
    free["showAs"] = json!("FREE");
    event(&app, &a, free).await;
    let tentative = event(
        &app,
        &a,
        single("tentative", "2026-05-04T14:00:00", "2026-05-04T15:00:00"),
    )
    .await;
    app.ok("mutation($i: SetOccurrenceStatusInput!) { setOccurrenceStatus(input: $i) { series { version } } }",
        json!({ "i": { "occurrence": { "seriesId": tentative, "recurrenceId": "2026-05-04T14:00:00Z" }, "expectedVersion": 1, "status": "TENTATIVE" } })).await;
    let daily = event(&app, &a, json!({ "title": "daily", "start": "2026-05-01T16:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } })).await;
    app.ok("mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { version } } }",
        json!({ "i": { "occurrence": { "seriesId": daily, "recurrenceId": "2026-05-04T16:00:00Z" }, "scope": "THIS", "expectedVersion": 1 } })).await;
    event(&app, &a, json!({ "kind": "AVAILABLE", "title": "open", "start": "2026-05-04T06:00:00", "end": "2026-05-04T20:00:00" })).await;
    // All-day blocked time in Berlin blocks the local day.
    event(
        &app,
        &b,
        json!({ "kind": "BLOCKED", "title": "holiday", "start": "2026-05-04", "allDay": true }),
    )
    .await;

    let vars = |t: bool| json!({ "c": [a, b], "from": "2026-05-04T00:00:00Z", "to": "2026-05-05T00:00:00Z", "t": t });
    let d = app.ok(FREE_BUSY, vars(true)).await;
    let fb = &d["freeBusy"];
    assert_eq!(
        pairs(&fb["calendars"][0]["busy"]),
        [
            p("2026-05-04T09:00:00Z", "2026-05-04T11:00:00Z"),
            p("2026-05-04T14:00:00Z", "2026-05-04T15:00:00Z")
        ],
        "overlaps merge; FREE events, cancelled occurrences and AVAILABLE time do not block"
    );
    assert_eq!(
        fb["calendars"][0]["occurrences"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        pairs(&fb["calendars"][1]["busy"]),
        [p("2026-05-04T00:00:00Z", "2026-05-04T22:00:00Z")],
        "the window clips the Berlin day (from 2026-05-03T22:00Z)"
    );
    assert_eq!(
        fb["calendars"][1]["occurrences"][0]["kind"],
        json!("BLOCKED")
    );
    assert_eq!(
        pairs(&fb["combined"]),
        [p("2026-05-04T00:00:00Z", "2026-05-04T22:00:00Z")]
    );
    let d = app.ok(FREE_BUSY, vars(false)).await;
    assert_eq!(
        pairs(&d["freeBusy"]["calendars"][0]["busy"]),
        [p("2026-05-04T09:00:00Z", "2026-05-04T11:00:00Z")],
        "tentative does not block when asked so"
    );
}

async fn working_hours_are_local_hours_even_on_a_dst_change_day(app: TestApp) {
    let cal = app.create_calendar("ny", "America/New_York").await;
    app.ok("mutation($i: SetCalendarAvailabilityInput!) { setCalendarAvailability(input: $i) { calendar { availabilityMode } } }",
        json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": [{ "days": EVERY_DAY, "start": "09:00", "end": "17:00" }] } } })).await;
    event(
        &app,
        &cal,
        single("lunch", "2026-03-08T12:00:00", "2026-03-08T13:00:00"),
    )
    .await;
    let d = app
        .ok(
            AVAILABILITY,
            json!({ "c": [cal], "from": "2026-03-07T00:00:00Z", "to": "2026-03-09T06:00:00Z" }),
        )
        .await;
    let a = &d["availability"][0];
    assert_eq!(
        pairs(&a["windows"]),
        [
            p("2026-03-07T14:00:00Z", "2026-03-07T22:00:00Z"),
            p("2026-03-08T13:00:00Z", "2026-03-08T21:00:00Z")
        ],
        "8 local hours both days"
    );
    assert_eq!(
        pairs(&a["free"]),
        [
            p("2026-03-07T14:00:00Z", "2026-03-07T22:00:00Z"),
            p("2026-03-08T13:00:00Z", "2026-03-08T16:00:00Z"),
            p("2026-03-08T17:00:00Z", "2026-03-08T21:00:00Z")
        ]
    );
    let body = app.graphql("mutation($i: SetCalendarAvailabilityInput!) { setCalendarAvailability(input: $i) { calendar { id } } }",
        json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": [{ "days": ["MONDAY"], "start": "9:00", "end": "17:00" }] } } })).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("HH:MM")),
        "a malformed time is refused before anything runs: {body}"
    );
    assert!(body["data"].is_null(), "{body}");
}

const SET_HOURS: &str = "mutation($i: SetCalendarAvailabilityInput!) { setCalendarAvailability(input: $i) { calendar { workingHours { days start end } } userErrors { field code message } } }";
const EVERY_DAY: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

async fn working_hours_are_structured_and_each_bad_entry_is_named(app: TestApp) {
    let cal = app.create_calendar("c", "Europe/Berlin").await;
    let hours = json!([
        { "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], "start": "09:00", "end": "12:00" },
        { "days": ["FRIDAY", "MONDAY"], "start": "13:00", "end": "17:30" },
        { "days": ["SATURDAY"], "start": "22:00", "end": "24:00" },
    ]);
    let d = app.ok(SET_HOURS, json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": hours } } })).await;
    let stored = json!([
        { "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], "start": "09:00", "end": "12:00" },
        { "days": ["MONDAY", "FRIDAY"], "start": "13:00", "end": "17:30" },
        { "days": ["SATURDAY"], "start": "22:00", "end": "24:00" },
    ]);
    assert_eq!(
        d["setCalendarAvailability"]["calendar"]["workingHours"], stored,
        "entries in the order given, days in week order"
    );
    let read = app
        .ok(
            "query($id: ID!) { calendar(id: $id) { workingHours { days start end } } }",
            json!({ "id": cal }),
        )
        .await;
    assert_eq!(
        read["calendar"]["workingHours"], stored,
        "read back from the store"
    );
    // Monday 2026-05-04 in Berlin (UTC+2): 09–12 and 13–17:30.
    let a = app
        .ok(
            AVAILABILITY,
            json!({ "c": [cal], "from": "2026-05-04T00:00:00Z", "to": "2026-05-05T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        pairs(&a["availability"][0]["windows"]),
        [
            p("2026-05-04T07:00:00Z", "2026-05-04T10:00:00Z"),
            p("2026-05-04T11:00:00Z", "2026-05-04T15:30:00Z")
        ]
    );

    let entry =
        |days: Value, start: &str, end: &str| json!({ "days": days, "start": start, "end": end });
    let weekdays = json!(["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]);
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            json!([
                entry(weekdays.clone(), "09:00", "17:00"),
                entry(json!(["SATURDAY"]), "10:00", "14:00"),
                entry(json!(["FRIDAY"]), "22:00", "02:00")
            ]),
            json!(["input", "availability", "workingHours", 2, "end"]),
            "overnight",
        ),
        (
            json!([
                entry(weekdays.clone(), "09:00", "17:00"),
                entry(json!(["WEDNESDAY", "SUNDAY"]), "16:00", "18:00")
            ]),
            json!(["input", "availability", "workingHours", 1]),
            "overlaps",
        ),
        (
            json!([entry(json!([]), "09:00", "17:00")]),
            json!(["input", "availability", "workingHours", 0, "days"]),
            "no day",
        ),
        (
            json!([entry(json!(["MONDAY", "MONDAY"]), "09:00", "17:00")]),
            json!(["input", "availability", "workingHours", 0, "days"]),
            "twice",
        ),
        (
            json!([entry(weekdays.clone(), "09:00", "09:00")]),
            json!(["input", "availability", "workingHours", 0, "end"]),
            "no time",
        ),
        (
            json!([]),
            json!(["input", "availability", "workingHours"]),
            "never available",
        ),
    ];
    for (hours, path, words) in cases {
        let body = app.graphql(SET_HOURS, json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": hours } } })).await;
        let e = &body["errors"][0];
        assert_eq!(e["extensions"]["code"], json!("BAD_USER_INPUT"), "{body}");
        assert_eq!(e["extensions"]["inputPath"], path, "{body}");
        assert!(
            e["message"].as_str().is_some_and(|m| m.contains(words)),
            "{words}: {body}"
        );
        let user_error = &body["data"]["setCalendarAvailability"]["userErrors"][0];
        let as_text: Vec<String> = path
            .as_array()
            .expect("path")
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| s.to_string())
            })
            .collect();
        assert_eq!(user_error["field"], json!(as_text), "{body}");
        assert_eq!(user_error["code"], json!("BAD_USER_INPUT"));
    }
    // Touching entries are fine; an EXPLICIT calendar takes no working hours.
    app.ok(SET_HOURS, json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": [entry(weekdays.clone(), "09:00", "12:00"), entry(weekdays.clone(), "12:00", "17:00")] } } })).await;
    let body = app.graphql(SET_HOURS, json!({ "i": { "calendarId": cal, "availability": { "mode": "EXPLICIT", "workingHours": [entry(weekdays.clone(), "09:00", "12:00")] } } })).await;
    assert_eq!(
        body["data"]["setCalendarAvailability"]["userErrors"][0]["field"],
        json!(["input", "availability", "workingHours"]),
        "{body}"
    );
    let read = app
        .ok(
            "query($id: ID!) { calendar(id: $id) { availabilityMode workingHours { start end } } }",
            json!({ "id": cal }),
        )
        .await;
    assert_eq!(
        read["calendar"],
        json!({ "availabilityMode": "DEFAULT", "workingHours": [{ "start": "09:00", "end": "12:00" }, { "start": "12:00", "end": "17:00" }] }),
        "refusals changed nothing"
    );
}

async fn explicit_availability_follows_exceptions_and_splits(app: TestApp) {
    let cal = app.create_calendar("room", "UTC").await;
    app.ok("mutation($i: SetCalendarAvailabilityInput!) { setCalendarAvailability(input: $i) { calendar { id } } }",
        json!({ "i": { "calendarId": cal, "availability": { "mode": "EXPLICIT" } } })).await;
    let open = event(&app, &cal, json!({ "kind": "AVAILABLE", "title": "open", "start": "2026-06-01T09:00:00", "end": "2026-06-01T12:00:00", "recurrence": { "rrule": "FREQ=DAILY" } })).await;
    let m = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { id version } } }";
    app.ok("mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { version } } }",
        json!({ "i": { "occurrence": { "seriesId": open, "recurrenceId": "2026-06-02T09:00:00Z" }, "scope": "THIS", "expectedVersion": 1 } })).await;
    app.ok(m, json!({ "i": { "occurrence": { "seriesId": open, "recurrenceId": "2026-06-03T09:00:00Z" }, "scope": "THIS", "expectedVersion": 2, "changes": { "start": "2026-06-03T14:00:00Z" } } })).await;
    app.ok(m, json!({ "i": { "occurrence": { "seriesId": open, "recurrenceId": "2026-06-04T09:00:00Z" }, "scope": "THIS_AND_FOLLOWING", "expectedVersion": 3,
        "changes": { "start": "2026-06-04T13:00:00Z", "end": "2026-06-04T16:00:00Z" } } })).await;
    event(
        &app,
        &cal,
        single("meeting", "2026-06-05T14:00:00", "2026-06-05T15:00:00"),
    )
    .await;
    let d = app
        .ok(
            AVAILABILITY,
            json!({ "c": [cal], "from": "2026-06-01T00:00:00Z", "to": "2026-06-06T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        pairs(&d["availability"][0]["free"]),
        [
            p("2026-06-01T09:00:00Z", "2026-06-01T12:00:00Z"),
            p("2026-06-03T14:00:00Z", "2026-06-03T17:00:00Z"),
            p("2026-06-04T13:00:00Z", "2026-06-04T16:00:00Z"),
            p("2026-06-05T13:00:00Z", "2026-06-05T14:00:00Z"),
            p("2026-06-05T15:00:00Z", "2026-06-05T16:00:00Z"),
        ],
        "cancelled day gone, moved day moved, split days at the new time, the meeting cut out"
    );
}

fn rules(cals: &[&str], extra: Value) -> Value {
    let mut r = json!({ "calendarIds": cals, "duration": "PT30M", "step": "PT30M", "now": "2026-01-01T00:00:00Z", "maximumHorizon": "P366D" });
    for (k, v) in extra.as_object().expect("object") {
        r[k] = v.clone();
    }
    r
}

async fn buffers_apply_around_events_even_across_the_window_edges(app: TestApp) {
    let a = app.create_calendar("a", "UTC").await;
    let b = app.create_calendar("b", "UTC").await;
    event(
        &app,
        &a,
        single(
            "before the window",
            "2026-05-04T08:30:00",
            "2026-05-04T09:00:00",
        ),
    )
    .await;
    event(
        &app,
        &a,
        single("in it", "2026-05-04T10:00:00", "2026-05-04T11:00:00"),
    )
    .await;
    event(
        &app,
        &b,
        single(
            "after the window",
            "2026-05-04T12:05:00",
            "2026-05-04T12:30:00",
        ),
    )
    .await;
    let buffers = json!({ "bufferBefore": "PT15M", "bufferAfter": "PT15M" });
    let w =
        |r: Value| json!({ "r": r, "from": "2026-05-04T09:00:00Z", "to": "2026-05-04T12:00:00Z" });
    let d = app.ok(SLOTS, w(rules(&[&a], buffers.clone()))).await;
    assert_eq!(slot_starts(&d), ["2026-05-04T11:30:00Z"]);
    let d = app.ok(SLOTS, w(rules(&[&a], json!({})))).await;
    assert_eq!(
        slot_starts(&d),
        [
            "2026-05-04T09:00:00Z",
            "2026-05-04T09:30:00Z",
            "2026-05-04T11:00:00Z",
            "2026-05-04T11:30:00Z"
        ],
        "without buffers"
    );
    let d = app.ok(SLOTS, w(rules(&[&a, &b], buffers.clone()))).await;
    assert!(
        slot_starts(&d).is_empty(),
        "ALL: 11:30 is within b's buffer before its 12:05 event"
    );
    let mut any = buffers.clone();
    any["mode"] = json!("ANY");
    let d = app.ok(SLOTS, w(rules(&[&a, &b], any))).await;
    let slots = d["bookableSlots"]["slots"].as_array().expect("slots");
    assert_eq!(
        slot_starts(&d),
        [
            "2026-05-04T09:00:00Z",
            "2026-05-04T09:30:00Z",
            "2026-05-04T10:00:00Z",
            "2026-05-04T10:30:00Z",
            "2026-05-04T11:00:00Z",
            "2026-05-04T11:30:00Z"
        ]
    );
    assert_eq!(slots[0]["calendarIds"], json!([b]));
    assert_eq!(slots[5]["calendarIds"], json!([a]));
}

async fn notice_horizon_and_step_follow_now_and_the_output_zone(app: TestApp) {
    let cal = app.create_calendar("k", "Asia/Kolkata").await;
    let w =
        |r: Value| json!({ "r": r, "from": "2026-06-01T00:00:00Z", "to": "2026-06-01T02:00:00Z" });
    // 05:30–07:30 in Kolkata. Hourly steps on Kolkata's clock fall on :30 UTC.
    let d = app
        .ok(
            SLOTS,
            w(rules(
                &[&cal],
                json!({ "step": "PT1H", "timeZone": "Asia/Kolkata" }),
            )),
        )
        .await;
    assert_eq!(
        slot_starts(&d),
        ["2026-06-01T00:30:00Z", "2026-06-01T01:30:00Z"]
    );
    assert_eq!(
        d["bookableSlots"]["slots"][0]["start"],
        json!("2026-06-01T00:30:00Z"),
        "the zone aligns the steps; slots are written in UTC"
    );
    let q = "query($r: SlotRulesInput!, $from: DateTime!, $to: DateTime!) { bookableSlots(rules: $r, from: $from, to: $to) { slots { start(timeZone: \"Asia/Kolkata\") end(timeZone: \"Asia/Kolkata\") } } }";
    let d = app
        .ok(
            q,
            w(rules(
                &[&cal],
                json!({ "step": "PT1H", "timeZone": "Asia/Kolkata" }),
            )),
        )
        .await;
    assert_eq!(
        d["bookableSlots"]["slots"][0],
        json!({ "start": "2026-06-01T06:00:00+05:30", "end": "2026-06-01T06:30:00+05:30" })
    );
    let d = app
        .ok(SLOTS, w(rules(&[&cal], json!({ "step": "PT1H" }))))
        .await;
    assert_eq!(
        slot_starts(&d),
        ["2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z"]
    );
    let d = app.ok(SLOTS, w(rules(&[&cal], json!({ "now": "2026-05-31T23:50:00Z", "minimumNotice": "PT1H", "maximumHorizon": "PT2H" })))).await;
    assert_eq!(
        slot_starts(&d),
        ["2026-06-01T01:00:00Z", "2026-06-01T01:30:00Z"],
        "notice until 00:50, horizon until 01:50"
    );
    for (bad, code) in [
        (json!({ "duration": "half an hour" }), "BAD_USER_INPUT"),
        (json!({ "maximumHorizon": "P400D" }), "RANGE_TOO_LARGE"),
        (json!({ "timeZone": "Mars/Base" }), "BAD_USER_INPUT"),
    ] {
        assert_eq!(app.err(SLOTS, w(rules(&[&cal], bad))).await.code, code);
    }
}

async fn the_next_slot_and_the_reasons_a_time_is_not_free(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    app.ok("mutation($i: SetCalendarAvailabilityInput!) { setCalendarAvailability(input: $i) { calendar { id } } }",
        json!({ "i": { "calendarId": cal, "availability": { "mode": "DEFAULT", "workingHours": [{ "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"], "start": "09:00", "end": "17:00" }] } } })).await;
    let busy = event(
        &app,
        &cal,
        single("morning", "2026-05-04T09:00:00", "2026-05-04T12:00:00"),
    )
    .await;
    let d = app.ok(NEXT, json!({ "r": rules(&[&cal], json!({ "bufferBefore": "PT10M" })), "a": "2026-05-02T00:00:00Z" })).await;
    assert_eq!(
        to_utc(d["nextAvailableSlot"]["start"].as_str().unwrap_or_default()),
        "2026-05-04T12:30:00Z",
        "weekend skipped, morning busy, buffer honoured"
    );
    let d = app.ok(WHY, json!({ "r": rules(&[&cal], json!({ "bufferAfter": "PT30M", "now": "2026-05-04T11:30:00Z", "minimumNotice": "PT1H" })), "s": "2026-05-04T08:30:00Z", "e": "2026-05-04T09:00:00Z" })).await;
    let reasons: Vec<&str> = d["whyNotAvailable"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["NOTICE", "OUTSIDE_AVAILABILITY", "BUFFER"]);
    let d = app.ok(WHY, json!({ "r": rules(&[&cal], json!({})), "s": "2026-05-04T11:00:00Z", "e": "2026-05-04T11:30:00Z" })).await;
    let w = &d["whyNotAvailable"];
    assert_eq!(w[0]["reason"], json!("OCCURRENCE"));
    assert!(w[0]["occurrence"]["occurrenceId"]
        .as_str()
        .is_some_and(|id| id.starts_with("occ_")));
    let _ = busy;
    let d = app.ok(WHY, json!({ "r": rules(&[&cal], json!({})), "s": "2026-05-04T13:00:00Z", "e": "2026-05-04T13:30:00Z" })).await;
    assert_eq!(
        d["whyNotAvailable"],
        json!([]),
        "a free time has no obstacles"
    );
}

async fn reject_refuses_a_booking_over_busy_time_and_lists_what_is_in_the_way(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let first = event(
        &app,
        &cal,
        single("first", "2026-05-04T09:00:00", "2026-05-04T10:00:00"),
    )
    .await;
    let mut clash = single("clash", "2026-05-04T09:30:00", "2026-05-04T10:30:00");
    clash["conflictPolicy"] = json!("REJECT");
    clash["calendarId"] = json!(cal);
    let body = app
        .graphql(TestApp::CREATE_SERIES, json!({ "i": clash }))
        .await;
    let e = &body["errors"][0]["extensions"];
    assert_eq!(e["code"], json!("CONFLICT"));
    assert_eq!(e["conflicts"][0]["seriesId"], json!(first));
    assert_eq!(
        (
            e["conflicts"][0]["start"].clone(),
            e["conflicts"][0]["end"].clone()
        ),
        (json!("2026-05-04T09:00:00Z"), json!("2026-05-04T10:00:00Z")),
        "instants in extensions are UTC with Z too"
    );
    assert_eq!(app.series_count(&cal).await, 1, "nothing written");
    clash["conflictPolicy"] = json!("ALLOW");
    assert!(
        app.graphql(TestApp::CREATE_SERIES, json!({ "i": clash }))
            .await["errors"]
            .is_null(),
        "ALLOW writes it anyway"
    );
    // A recurring booking is checked occurrence by occurrence.
    let weekly = json!({ "calendarId": cal, "title": "weekly", "start": "2026-04-27T09:15:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=WEEKLY" }, "conflictPolicy": "REJECT" });
    assert_eq!(
        app.graphql(TestApp::CREATE_SERIES, json!({ "i": weekly }))
            .await["errors"][0]["extensions"]["code"],
        json!("CONFLICT")
    );
    // Moving an occurrence onto busy time with REJECT is refused; elsewhere it is fine.
    let (daily, _) = app.create_series(&cal, json!({ "title": "d", "start": "2026-05-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY;COUNT=3" } })).await.expect("daily");
    let m =
        "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { version } } }";
    let mv = |start: &str| json!({ "i": { "occurrence": { "seriesId": daily, "recurrenceId": "2026-05-05T09:00:00Z" }, "scope": "THIS", "expectedVersion": 1, "changes": { "start": start }, "conflictPolicy": "REJECT" } });
    assert_eq!(
        app.err(m, mv("2026-05-04T09:30:00Z")).await.code,
        "CONFLICT"
    );
    app.ok(m, mv("2026-05-04T13:00:00Z")).await;
}

async fn sixty_four_concurrent_bookings_of_eight_slots_give_exactly_eight(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let url = format!("{}/graphql", app.url);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (http, url, cal) = (app.http.clone(), url.clone(), cal.clone());
        tasks.push(tokio::spawn(async move {
            let hour = 9 + i % 8;
            let input = json!({ "calendarId": cal, "title": format!("booking {i}"), "start": format!("2026-05-04T{hour:02}:00:00"), "duration": "PT1H", "conflictPolicy": "REJECT" });
            let body: Value = http.post(url).json(&json!({ "query": TestApp::CREATE_SERIES, "variables": { "i": input } })).send().await.expect("sent").json().await.expect("json");
            body["errors"][0]["extensions"]["code"].as_str().map(str::to_string)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            None => ok += 1,
            Some(code) => assert_eq!(code, "CONFLICT"),
        }
    }
    assert_eq!(ok, 8, "exactly one booking per slot succeeds");
    let d = app.ok(FREE_BUSY, json!({ "c": [cal], "from": "2026-05-04T00:00:00Z", "to": "2026-05-05T00:00:00Z", "t": true })).await;
    assert_eq!(
        d["freeBusy"]["calendars"][0]["occurrences"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );
    assert_eq!(
        pairs(&d["freeBusy"]["calendars"][0]["busy"]),
        [p("2026-05-04T09:00:00Z", "2026-05-04T17:00:00Z")]
    );
}

engine_tests!(
    free_busy_merges_what_blocks_and_skips_what_does_not,
    working_hours_are_local_hours_even_on_a_dst_change_day,
    working_hours_are_structured_and_each_bad_entry_is_named,
    explicit_availability_follows_exceptions_and_splits,
    buffers_apply_around_events_even_across_the_window_edges,
    notice_horizon_and_step_follow_now_and_the_output_zone,
    the_next_slot_and_the_reasons_a_time_is_not_free,
    reject_refuses_a_booking_over_busy_time_and_lists_what_is_in_the_way,
    sixty_four_concurrent_bookings_of_eight_slots_give_exactly_eight,
);
