//! The edit dialog through GraphQL: this occurrence, this and following, all — and the bugs the
//! system we replace has, each as a test. Runs on SQLite and PostgreSQL.

use almanac_e2e::{engine_tests, to_utc, TestApp};
use serde_json::{json, Value};

const EDIT: &str = "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) {
    series { id version title recurrence { rrule } lineage { rootSeriesId parentSeriesId splitAt } }
    originalSeries { id version recurrence { rrule } }
    occurrence { id start end moved status title }
    report { splitAtFirstOccurrence exceptionsRemapped { from to } exceptionsDropped { recurrenceId reason } lockedLeftAlone } } }";
const DELETE: &str = "mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) {
    series { id version recurrence { rrule } } deletedSeriesId report { lockedLeftAlone } } }";
const RESTORE: &str = "mutation($i: RestoreOccurrenceInput!) { restoreOccurrence(input: $i) { series { version } occurrence { id start status } } }";
const STATUS: &str = "mutation($i: SetOccurrenceStatusInput!) { setOccurrenceStatus(input: $i) { series { version } occurrence { id status locked } } }";
const VERSION: &str = "query($id: ID!) { series(id: $id) { version title } }";

struct Fixture {
    cal: String,
    series: String,
}

async fn fixture(app: &TestApp, zone: &str, input: Value) -> Fixture {
    let cal = app.create_calendar("c", zone).await;
    let (series, _) = app.create_series(&cal, input).await.expect("series");
    Fixture { cal, series }
}

async fn version(app: &TestApp, series: &str) -> i64 {
    app.ok(VERSION, json!({ "id": series })).await["series"]["version"]
        .as_i64()
        .expect("version")
}

async fn list(app: &TestApp, cal: &str, from: &str, to: &str, cancelled: bool) -> Vec<Value> {
    let q = "query($c: [ID!]!, $from: DateTime!, $to: DateTime!, $x: Boolean!) { occurrences(calendarIds: $c, from: $from, to: $to, first: 1000, includeCancelled: $x) {
        edges { node { id seriesId recurrenceId start end title status moved locked } } } }";
    let d = app
        .ok(
            q,
            json!({ "c": [cal], "from": from, "to": to, "x": cancelled }),
        )
        .await;
    d["occurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn starts(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|o| to_utc(o["start"].as_str().unwrap_or_default()))
        .collect()
}

fn by_rid(series: &str, rid: &str) -> Value {
    json!({ "seriesId": series, "recurrenceId": rid })
}

fn assert_unique_ids(v: &[Value]) {
    let mut ids: Vec<&str> = v
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default())
        .collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "an occurrence appears twice: {v:?}");
}

fn daily(start: &str, rule: &str) -> Value {
    json!({ "title": "A", "start": start, "duration": "PT1H", "recurrence": { "rrule": rule } })
}

async fn a_moved_occurrence_shows_wherever_it_overlaps_and_not_at_its_slot(app: TestApp) {
    let f = fixture(&app, "UTC", daily("2026-01-05T09:00:00", "FREQ=DAILY")).await;
    let before = list(
        &app,
        &f.cal,
        "2026-01-07T00:00:00Z",
        "2026-01-08T00:00:00Z",
        false,
    )
    .await;
    let original_id = before[0]["id"].clone();
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": { "occurrenceId": original_id }, "scope": "THIS", "expectedVersion": 1,
            "changes": { "start": "2026-01-20T14:00:00Z", "end": "2026-01-20T18:00:00Z", "title": "moved" } } }))
        .await;
    assert_eq!(
        d["editOccurrence"]["occurrence"]["id"], original_id,
        "a moved occurrence keeps its id"
    );
    assert_eq!(d["editOccurrence"]["occurrence"]["moved"], json!(true));
    assert!(
        list(
            &app,
            &f.cal,
            "2026-01-07T00:00:00Z",
            "2026-01-08T00:00:00Z",
            false
        )
        .await
        .is_empty(),
        "gone from its original slot"
    );
    let jan20 = list(
        &app,
        &f.cal,
        "2026-01-20T00:00:00Z",
        "2026-01-21T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(
        starts(&jan20),
        ["2026-01-20T09:00:00Z", "2026-01-20T14:00:00Z"]
    );
    assert_eq!(jan20[1]["title"], json!("moved"));
    assert_eq!(
        to_utc(jan20[1]["recurrenceId"].as_str().unwrap_or_default()),
        "2026-01-07T09:00:00Z"
    );
    // A window that only overlaps its end still finds it.
    let tail = list(
        &app,
        &f.cal,
        "2026-01-20T17:00:00Z",
        "2026-01-20T17:30:00Z",
        false,
    )
    .await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0]["id"], original_id);
}

/// `moved` as every list shows it: `occurrences`, `Series.occurrences` and `upcomingOccurrences`
/// agree with the edit's payload — true only where an exception placed the occurrence away from
/// its slot, false for one retimed and then put back, restored, or locked where it was.
async fn every_list_says_which_occurrences_were_moved(app: TestApp) {
    let f = fixture(
        &app,
        "America/New_York",
        daily("2026-01-05T09:00:00", "FREQ=DAILY;COUNT=6"),
    )
    .await;
    let mut v = 1;
    let mut edit = |rid: &str, changes: Value| {
        let i = json!({ "i": { "occurrence": by_rid(&f.series, rid), "scope": "THIS", "expectedVersion": v, "changes": changes } });
        v += 1;
        i
    };
    // The 6th moves (a new start; the end follows), the 7th is retimed and put back exactly,
    // the 8th is only renamed (an exception, but not placed).
    let moved = app
        .ok(
            EDIT,
            edit(
                "2026-01-06T14:00:00Z",
                json!({ "start": "2026-01-06T20:00:00Z" }),
            ),
        )
        .await;
    assert_eq!(moved["editOccurrence"]["occurrence"]["moved"], json!(true));
    let moved_id = moved["editOccurrence"]["occurrence"]["id"].clone();
    app.ok(
        EDIT,
        edit(
            "2026-01-07T14:00:00Z",
            json!({ "start": "2026-01-07T16:00:00Z", "end": "2026-01-07T17:00:00Z" }),
        ),
    )
    .await;
    let back = app
        .ok(
            EDIT,
            edit(
                "2026-01-07T14:00:00Z",
                json!({ "start": "2026-01-07T14:00:00Z", "end": "2026-01-07T15:00:00Z" }),
            ),
        )
        .await;
    assert_eq!(
        back["editOccurrence"]["occurrence"]["moved"],
        json!(false),
        "put back at its slot"
    );
    app.ok(
        EDIT,
        edit("2026-01-08T14:00:00Z", json!({ "title": "renamed" })),
    )
    .await;
    // The 9th is retimed and then restored; the 10th is locked where it is.
    app.ok(
        EDIT,
        edit(
            "2026-01-09T14:00:00Z",
            json!({ "start": "2026-01-09T10:00:00Z" }),
        ),
    )
    .await;
    app.ok(RESTORE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-09T14:00:00Z"), "expectedVersion": v } })).await;
    v += 1;
    let locked = app.ok(STATUS, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-10T14:00:00Z"), "expectedVersion": v, "locked": true } })).await;
    assert_eq!(
        locked["setOccurrenceStatus"]["occurrence"]["locked"],
        json!(true)
    );

    let flags = |nodes: &[Value]| -> Vec<(String, bool)> {
        nodes
            .iter()
            .map(|o| {
                (
                    to_utc(o["recurrenceId"].as_str().unwrap_or_default()),
                    o["moved"].as_bool().expect("moved is a boolean"),
                )
            })
            .collect()
    };
    let expected: Vec<(String, bool)> = ["05", "06", "07", "08", "09", "10"]
        .iter()
        .map(|d| (format!("2026-01-{d}T14:00:00Z"), *d == "06"))
        .collect();
    let mut occurrences = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        false,
    )
    .await;
    occurrences.sort_by_key(|o| to_utc(o["recurrenceId"].as_str().unwrap_or_default()));
    assert_eq!(flags(&occurrences), expected, "occurrences");
    assert_eq!(
        occurrences
            .iter()
            .find(|o| o["moved"] == json!(true))
            .map(|o| o["id"].clone()),
        Some(moved_id.clone())
    );

    let q = "query($id: ID!) { series(id: $id) { occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\", first: 100) { edges { node { id recurrenceId moved } } } } }";
    let d = app.ok(q, json!({ "id": f.series })).await;
    let mut nodes: Vec<Value> = d["series"]["occurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    nodes.sort_by_key(|o| to_utc(o["recurrenceId"].as_str().unwrap_or_default()));
    assert_eq!(flags(&nodes), expected, "Series.occurrences");

    let q = "query($id: ID!) { upcomingOccurrences(seriesId: $id, from: \"2026-01-01T00:00:00Z\", first: 20) { edges { node { id recurrenceId moved } } } }";
    let d = app.ok(q, json!({ "id": f.series })).await;
    let mut nodes: Vec<Value> = d["upcomingOccurrences"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    nodes.sort_by_key(|o| to_utc(o["recurrenceId"].as_str().unwrap_or_default()));
    assert_eq!(flags(&nodes), expected, "upcomingOccurrences");

    // A window that holds only the moved occurrence's new time, not its slot, still says moved.
    let evening = list(
        &app,
        &f.cal,
        "2026-01-06T19:30:00Z",
        "2026-01-06T22:00:00Z",
        false,
    )
    .await;
    assert_eq!(
        flags(&evening),
        [("2026-01-06T14:00:00Z".to_string(), true)]
    );
}

async fn an_exception_moved_past_the_series_end_is_still_found(app: TestApp) {
    let f = fixture(
        &app,
        "Europe/Berlin",
        daily("2026-03-02T09:00:00", "FREQ=DAILY;COUNT=5"),
    )
    .await;
    app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-03-04T08:00:00Z"), "scope": "THIS", "expectedVersion": 1,
        "changes": { "start": "2026-06-01T08:00:00Z" } } }))
    .await;
    let june = list(
        &app,
        &f.cal,
        "2026-05-30T00:00:00Z",
        "2026-06-03T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(starts(&june), ["2026-06-01T08:00:00Z"]);
    assert_eq!(
        to_utc(june[0]["end"].as_str().unwrap_or_default()),
        "2026-06-01T09:00:00Z",
        "keeps its length"
    );
    assert_eq!(
        list(
            &app,
            &f.cal,
            "2026-03-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            false
        )
        .await
        .len(),
        4
    );
}

async fn cancelling_a_time_the_series_does_not_generate_is_refused(app: TestApp) {
    let f = fixture(&app, "UTC", daily("2026-01-05T09:00:00", "FREQ=DAILY")).await;
    for rid in ["2026-01-06T10:00:00Z", "2026-01-04T09:00:00Z"] {
        let e = app.err(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, rid), "scope": "THIS", "expectedVersion": 1 } })).await;
        assert_eq!(e.code, "NOT_FOUND", "{rid}: {}", e.message);
        assert!(e.message.contains("no occurrence"), "{}", e.message);
    }
    let e = app.err(DELETE, json!({ "i": { "occurrence": { "occurrenceId": "occ_nope" }, "scope": "THIS", "expectedVersion": 1 } })).await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    let e = app.err(DELETE, json!({ "i": { "occurrence": { "seriesId": f.series }, "scope": "THIS", "expectedVersion": 1 } })).await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    assert_eq!(version(&app, &f.series).await, 1, "nothing was written");
}

async fn a_cancelled_occurrence_still_uses_up_count_and_can_be_restored(app: TestApp) {
    let f = fixture(
        &app,
        "UTC",
        daily("2026-01-05T09:00:00", "FREQ=DAILY;COUNT=5"),
    )
    .await;
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-06T09:00:00Z"), "scope": "THIS", "expectedVersion": 1 } })).await;
    assert_eq!(d["deleteOccurrence"]["series"]["version"], json!(2));
    let visible = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(
        starts(&visible),
        [
            "2026-01-05T09:00:00Z",
            "2026-01-07T09:00:00Z",
            "2026-01-08T09:00:00Z",
            "2026-01-09T09:00:00Z"
        ],
        "no sixth occurrence grows"
    );
    let all = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        true,
    )
    .await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[1]["status"], json!("CANCELLED"));
    let d = app.ok(RESTORE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-06T09:00:00Z"), "expectedVersion": 2 } })).await;
    assert_eq!(
        d["restoreOccurrence"]["occurrence"]["status"],
        json!("CONFIRMED")
    );
    assert_eq!(
        list(
            &app,
            &f.cal,
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
            false
        )
        .await
        .len(),
        5
    );
}

async fn splitting_at_the_first_occurrence_edits_the_series_without_a_duplicate(app: TestApp) {
    let f = fixture(
        &app,
        "America/New_York",
        daily("2026-01-05T09:00:00", "FREQ=WEEKLY;COUNT=4"),
    )
    .await;
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T14:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "B" } } }))
        .await;
    let p = &d["editOccurrence"];
    assert_eq!(p["report"]["splitAtFirstOccurrence"], json!(true));
    assert_eq!(p["originalSeries"], json!(null));
    assert_eq!(p["series"]["id"], json!(f.series));
    let all = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(all.len(), 4, "the first occurrence is not duplicated");
    assert_unique_ids(&all);
    assert!(all.iter().all(|o| o["title"] == json!("B")));
    assert_eq!(
        app.series_count(&f.cal).await,
        1,
        "no empty series is left behind"
    );
}

async fn cancelling_from_the_first_occurrence_leaves_nothing(app: TestApp) {
    let f = fixture(&app, "UTC", daily("2026-01-05T09:00:00", "FREQ=DAILY")).await;
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1 } })).await;
    assert_eq!(d["deleteOccurrence"]["deletedSeriesId"], json!(f.series));
    assert!(list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        true
    )
    .await
    .is_empty());
}

async fn a_split_keeps_moved_and_cancelled_occurrences_after_the_split_point(app: TestApp) {
    let f = fixture(
        &app,
        "UTC",
        daily("2026-01-01T09:00:00", "FREQ=DAILY;COUNT=10"),
    )
    .await;
    let before = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        false,
    )
    .await;
    app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-07T09:00:00Z"), "scope": "THIS", "expectedVersion": 1 } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-08T09:00:00Z"), "scope": "THIS", "expectedVersion": 2, "changes": { "start": "2026-01-08T11:00:00Z" } } }))
        .await;
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 3, "changes": { "title": "B" } } }))
        .await;
    let p = &d["editOccurrence"];
    let continuation = p["series"]["id"]
        .as_str()
        .expect("continuation")
        .to_string();
    assert_ne!(continuation, f.series);
    assert_eq!(
        p["originalSeries"]["recurrence"]["rrule"],
        json!("FREQ=DAILY;COUNT=4"),
        "the original keeps the count it produced"
    );
    assert_eq!(
        p["series"]["recurrence"]["rrule"],
        json!("FREQ=DAILY;COUNT=6"),
        "the continuation gets the rest"
    );
    assert_eq!(p["series"]["lineage"]["parentSeriesId"], json!(f.series));
    assert_eq!(p["series"]["lineage"]["rootSeriesId"], json!(f.series));
    assert_eq!(
        to_utc(
            p["series"]["lineage"]["splitAt"]
                .as_str()
                .unwrap_or_default()
        ),
        "2026-01-05T09:00:00Z"
    );
    assert!(p["report"]["exceptionsDropped"]
        .as_array()
        .is_some_and(Vec::is_empty));
    let after = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        false,
    )
    .await;
    assert_unique_ids(&after);
    assert_eq!(
        starts(&after),
        [
            "2026-01-01T09:00:00Z",
            "2026-01-02T09:00:00Z",
            "2026-01-03T09:00:00Z",
            "2026-01-04T09:00:00Z",
            "2026-01-05T09:00:00Z",
            "2026-01-06T09:00:00Z",
            "2026-01-08T11:00:00Z",
            "2026-01-09T09:00:00Z",
            "2026-01-10T09:00:00Z"
        ],
        "the cancelled 7th stays cancelled, the moved 8th appears once, at its moved time"
    );
    let titles: Vec<&str> = after
        .iter()
        .map(|o| o["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles, ["A", "A", "A", "A", "B", "B", "B", "B", "B"]);
    // Every occurrence kept the id it had before the split.
    for o in &after {
        assert!(
            before.iter().any(|b| b["id"] == o["id"]),
            "{} changed id",
            o["id"]
        );
    }
    // The lineage is queryable from the original.
    let d = app
        .ok(
            "query($id: ID!) { series(id: $id) { continuations { id } } }",
            json!({ "id": f.series }),
        )
        .await;
    assert_eq!(d["series"]["continuations"][0]["id"], json!(continuation));
}

async fn a_split_that_changes_the_time_carries_exceptions_to_the_new_time(app: TestApp) {
    let f = fixture(
        &app,
        "America/New_York",
        daily("2026-03-02T09:00:00", "FREQ=DAILY"),
    )
    .await;
    // Cancel Saturday the 7th (09:00 EST = 14:00Z).
    app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-03-07T14:00:00Z"), "scope": "THIS", "expectedVersion": 1 } })).await;
    // From Thursday the 5th on, at 10:30 local.
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-03-05T14:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 2,
            "changes": { "start": "2026-03-05T15:30:00Z" } } }))
        .await;
    let remapped = &d["editOccurrence"]["report"]["exceptionsRemapped"];
    assert_eq!(
        to_utc(remapped[0]["from"].as_str().unwrap_or_default()),
        "2026-03-07T14:00:00Z"
    );
    assert_eq!(
        to_utc(remapped[0]["to"].as_str().unwrap_or_default()),
        "2026-03-07T15:30:00Z"
    );
    let week = list(
        &app,
        &f.cal,
        "2026-03-02T00:00:00Z",
        "2026-03-10T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(
        starts(&week),
        [
            "2026-03-02T14:00:00Z",
            "2026-03-03T14:00:00Z",
            "2026-03-04T14:00:00Z",
            "2026-03-05T15:30:00Z",
            "2026-03-06T15:30:00Z",
            "2026-03-08T14:30:00Z",
            "2026-03-09T14:30:00Z"
        ],
        "10:30 local, across the DST change on the 8th; the 7th stays cancelled"
    );
    // Moving to another day while the rule names days asks for the new rule.
    let (weekly, _) = app
        .create_series(&f.cal, daily("2026-03-02T09:00:00", "FREQ=WEEKLY;BYDAY=MO"))
        .await
        .expect("weekly");
    let e = app
        .err(EDIT, json!({ "i": { "occurrence": by_rid(&weekly, "2026-03-09T13:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1,
            "changes": { "start": "2026-03-10T13:00:00Z" } } }))
        .await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&weekly, "2026-03-09T13:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1,
        "changes": { "start": "2026-03-10T13:00:00Z", "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=TU" } } } }))
    .await;
}

async fn chains_of_splits_lose_and_duplicate_nothing(app: TestApp) {
    let f = fixture(
        &app,
        "Australia/Sydney",
        daily("2026-01-01T18:00:00", "FREQ=DAILY;UNTIL=20260131T000000Z"),
    )
    .await;
    let before = list(
        &app,
        &f.cal,
        "2025-12-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(before.len(), 30);
    let d = app.ok(EDIT, json!({ "i": { "occurrence": { "occurrenceId": before[5]["id"] }, "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "second" } } })).await;
    let second = d["editOccurrence"]["series"]["id"]
        .as_str()
        .expect("second")
        .to_string();
    // Split the continuation again, addressing the occurrence by the id it had before any split.
    let d = app.ok(EDIT, json!({ "i": { "occurrence": { "occurrenceId": before[20]["id"] }, "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "third" } } })).await;
    let third = &d["editOccurrence"]["series"];
    assert_eq!(third["lineage"]["parentSeriesId"], json!(second));
    assert_eq!(third["lineage"]["rootSeriesId"], json!(f.series));
    let after = list(
        &app,
        &f.cal,
        "2025-12-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        false,
    )
    .await;
    assert_unique_ids(&after);
    assert_eq!(starts(&after), starts(&before));
    let ids = |v: &[Value]| v.iter().map(|o| o["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "ids survive every split");
    let titles: Vec<&str> = after
        .iter()
        .map(|o| o["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(titles.iter().filter(|t| **t == "A").count(), 5);
    assert_eq!(titles.iter().filter(|t| **t == "second").count(), 15);
    assert_eq!(titles.iter().filter(|t| **t == "third").count(), 10);
    assert_eq!(app.series_count(&f.cal).await, 3);
    // node(id) finds an occurrence in whichever series holds it now.
    let d = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on Occurrence { seriesId title } } }",
            json!({ "id": before[25]["id"] }),
        )
        .await;
    assert_eq!(d["node"]["title"], json!("third"));
}

async fn cancel_from_here_ends_the_series_before_the_occurrence(app: TestApp) {
    let f = fixture(&app, "UTC", daily("2026-01-01T09:00:00", "FREQ=DAILY")).await;
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-04T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1 } })).await;
    assert_eq!(
        d["deleteOccurrence"]["series"]["recurrence"]["rrule"],
        json!("FREQ=DAILY;UNTIL=20260104T085959Z")
    );
    assert_eq!(
        list(
            &app,
            &f.cal,
            "2025-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
            true
        )
        .await
        .len(),
        3
    );
}

async fn all_day_blocked_time_splits_on_dates(app: TestApp) {
    let f = fixture(&app, "Europe/Berlin", json!({ "kind": "BLOCKED", "title": "Off", "start": "2026-07-01", "allDay": true, "recurrence": { "rrule": "FREQ=DAILY;COUNT=10" } })).await;
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-07-03T22:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "Away" } } }))
        .await;
    assert_eq!(
        d["editOccurrence"]["originalSeries"]["recurrence"]["rrule"],
        json!("FREQ=DAILY;COUNT=3")
    );
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-07-02T22:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 2 } })).await;
    assert_eq!(
        d["deleteOccurrence"]["series"]["recurrence"]["rrule"],
        json!("FREQ=DAILY;COUNT=2")
    );
    let all = list(
        &app,
        &f.cal,
        "2026-06-01T00:00:00Z",
        "2026-08-01T00:00:00Z",
        false,
    )
    .await;
    assert_eq!(all.len(), 9);
    assert_eq!(all[2]["title"], json!("Away"));

    // An UNTIL rule is cut with a DATE for all-day series.
    let (avail, _) = app.create_series(&f.cal, json!({ "kind": "AVAILABLE", "title": "Open", "start": "2026-07-01", "allDay": true, "recurrence": { "rrule": "FREQ=WEEKLY" } })).await.expect("avail");
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&avail, "2026-07-14T22:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1 } })).await;
    assert_eq!(
        d["deleteOccurrence"]["series"]["recurrence"]["rrule"],
        json!("FREQ=WEEKLY;UNTIL=20260714")
    );
}

async fn editing_all_keeps_exceptions_that_still_apply_and_reports_the_rest(app: TestApp) {
    let f = fixture(
        &app,
        "UTC",
        daily("2026-01-05T09:00:00", "FREQ=WEEKLY;BYDAY=MO"),
    )
    .await;
    app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-12T09:00:00Z"), "scope": "THIS", "expectedVersion": 1 } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-19T09:00:00Z"), "scope": "THIS", "expectedVersion": 2, "changes": { "title": "special" } } })).await;
    // A title change keeps every exception as it is.
    let d = app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "ALL", "expectedVersion": 3, "changes": { "title": "Weekly" } } })).await;
    assert!(d["editOccurrence"]["report"]["exceptionsRemapped"]
        .as_array()
        .is_some_and(Vec::is_empty));
    let jan = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-01-25T00:00:00Z",
        false,
    )
    .await;
    let titles: Vec<&str> = jan
        .iter()
        .map(|o| o["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        ["Weekly", "special"],
        "the 12th stays cancelled; the 19th keeps its title"
    );
    // Moving every occurrence an hour later carries the exceptions along.
    let d = app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "ALL", "expectedVersion": 4, "changes": { "start": "2026-01-05T10:00:00Z" } } })).await;
    assert_eq!(
        d["editOccurrence"]["report"]["exceptionsRemapped"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        starts(
            &list(
                &app,
                &f.cal,
                "2026-01-01T00:00:00Z",
                "2026-01-25T00:00:00Z",
                false
            )
            .await
        ),
        ["2026-01-05T10:00:00Z", "2026-01-19T10:00:00Z"]
    );
    // A new rule with no occurrence on those dates drops them, and says why.
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T10:00:00Z"), "scope": "ALL", "expectedVersion": 5,
            "changes": { "recurrence": { "rrule": "FREQ=WEEKLY;BYDAY=MO,TU;INTERVAL=3" } } } }))
        .await;
    let dropped = d["editOccurrence"]["report"]["exceptionsDropped"]
        .as_array()
        .expect("dropped")
        .clone();
    assert_eq!(dropped.len(), 2);
    assert!(dropped.iter().all(|x| x["reason"]
        .as_str()
        .is_some_and(|r| r.contains("no occurrence"))));
    // updateSeries is the same edit and reports the same way.
    let d = app
        .ok("mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { version } report { exceptionsDropped { reason } } } }", json!({ "i": { "id": f.series, "expectedVersion": 6, "title": "x" } }))
        .await;
    assert_eq!(d["updateSeries"]["series"]["version"], json!(7));
}

async fn locked_occurrences_are_left_alone_by_series_edits(app: TestApp) {
    let f = fixture(
        &app,
        "UTC",
        daily("2026-01-05T09:00:00", "FREQ=DAILY;COUNT=6"),
    )
    .await;
    let d = app.ok(STATUS, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-06T09:00:00Z"), "expectedVersion": 1, "status": "COMPLETED", "locked": true } })).await;
    let locked_id = d["setOccurrenceStatus"]["occurrence"]["id"].clone();
    assert_eq!(
        d["setOccurrenceStatus"]["occurrence"]["locked"],
        json!(true)
    );
    let d = app
        .ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "ALL", "expectedVersion": 2,
            "changes": { "start": "2026-01-05T13:00:00Z", "title": "later" } } }))
        .await;
    assert_eq!(
        d["editOccurrence"]["report"]["lockedLeftAlone"],
        json!([locked_id])
    );
    let all = list(
        &app,
        &f.cal,
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        false,
    )
    .await;
    let locked: Vec<&Value> = all.iter().filter(|o| o["locked"] == json!(true)).collect();
    assert_eq!(locked.len(), 1);
    assert_eq!(
        to_utc(locked[0]["start"].as_str().unwrap_or_default()),
        "2026-01-06T09:00:00Z"
    );
    assert_eq!(locked[0]["title"], json!("A"));
    assert_eq!(locked[0]["status"], json!("COMPLETED"));
    assert_eq!(
        all.iter().filter(|o| o["title"] == json!("later")).count(),
        5,
        "the locked occurrence stands in for its day: no second one at 13:00"
    );
    // The locked occurrence itself refuses edits, and the series refuses deletion.
    let e = app.err(EDIT, json!({ "i": { "occurrence": { "occurrenceId": locked_id }, "scope": "THIS", "expectedVersion": 3, "changes": { "title": "no" } } })).await;
    assert_eq!(e.code, "LOCKED");
    let e = app
        .err(
            "mutation($i: DeleteSeriesInput!) { deleteSeries(input: $i) { deletedSeriesId } }",
            json!({ "i": { "id": f.series, "expectedVersion": 3 } }),
        )
        .await;
    assert_eq!(e.code, "LOCKED");
    // Cancel from here leaves a locked occurrence in its range standing.
    let d = app.ok(STATUS, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-09T13:00:00Z"), "expectedVersion": 3, "locked": true } })).await;
    let later_locked = d["setOccurrenceStatus"]["occurrence"]["id"].clone();
    let d = app.ok(DELETE, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-07T13:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 4 } })).await;
    assert_eq!(
        d["deleteOccurrence"]["report"]["lockedLeftAlone"],
        json!([later_locked])
    );
    assert_eq!(
        starts(
            &list(
                &app,
                &f.cal,
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
                false
            )
            .await
        ),
        [
            "2026-01-05T13:00:00Z",
            "2026-01-06T09:00:00Z",
            "2026-01-09T13:00:00Z"
        ]
    );
    // Unlocked, it can be changed again.
    app.ok(STATUS, json!({ "i": { "occurrence": { "occurrenceId": locked_id }, "expectedVersion": 5, "locked": false } })).await;
    app.ok(EDIT, json!({ "i": { "occurrence": { "occurrenceId": locked_id }, "scope": "THIS", "expectedVersion": 6, "changes": { "title": "now" } } })).await;
}

async fn a_stale_version_is_a_conflict_for_every_edit_and_writes_nothing(app: TestApp) {
    let f = fixture(&app, "UTC", daily("2026-01-05T09:00:00", "FREQ=DAILY")).await;
    app.ok(EDIT, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-05T09:00:00Z"), "scope": "ALL", "expectedVersion": 1, "changes": { "title": "B" } } })).await;
    let o = by_rid(&f.series, "2026-01-06T09:00:00Z");
    let cases = [
        (
            EDIT,
            json!({ "i": { "occurrence": o, "scope": "THIS", "expectedVersion": 1, "changes": { "title": "x" } } }),
        ),
        (
            EDIT,
            json!({ "i": { "occurrence": o, "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "x" } } }),
        ),
        (
            DELETE,
            json!({ "i": { "occurrence": o, "scope": "THIS", "expectedVersion": 1 } }),
        ),
        (
            RESTORE,
            json!({ "i": { "occurrence": o, "expectedVersion": 1 } }),
        ),
        (
            STATUS,
            json!({ "i": { "occurrence": o, "expectedVersion": 1, "locked": true } }),
        ),
    ];
    for (q, vars) in cases {
        assert_eq!(app.err(q, vars).await.code, "CONFLICT");
    }
    assert_eq!(version(&app, &f.series).await, 2);
    assert_eq!(app.series_count(&f.cal).await, 1);
    let e = app.err(EDIT, json!({ "i": { "occurrence": o, "scope": "THIS", "expectedVersion": 2, "changes": { "start": "2026-01-06T10:00:00Z", "end": "2026-01-06T09:00:00Z" } } })).await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    let e = app.err(EDIT, json!({ "i": { "occurrence": o, "scope": "THIS", "expectedVersion": 2, "changes": { "recurrence": { "rrule": "FREQ=DAILY" } } } })).await;
    assert_eq!(e.code, "BAD_USER_INPUT");
    let e = app.err(EDIT, json!({ "i": { "occurrence": o, "scope": "ALL", "expectedVersion": 2, "changes": { "recurrence": { "rrule": "FREQ=DAILY;INTERVAL=0" } } } })).await;
    assert_eq!(e.code, "RECURRENCE_INVALID");
    assert_eq!(version(&app, &f.series).await, 2);
}

async fn a_preview_lists_what_an_edit_would_add_change_and_remove_without_writing(app: TestApp) {
    let f = fixture(
        &app,
        "UTC",
        daily("2026-01-05T09:00:00", "FREQ=DAILY;COUNT=6"),
    )
    .await;
    let q = "mutation($i: EditOccurrenceInput!) { previewEditOccurrence(input: $i, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") {
        added { id start } changed { id start title } removed { id start } truncated report { splitAtFirstOccurrence } } }";
    let d = app
        .ok(q, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-08T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1,
            "changes": { "start": "2026-01-08T11:00:00Z", "title": "late" } } }))
        .await;
    let p = &d["previewEditOccurrence"];
    // The 8th–10th move to 11:00: new recurrence ids, so they are removed and added.
    assert_eq!(p["removed"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        starts(p["added"].as_array().expect("added")),
        [
            "2026-01-08T11:00:00Z",
            "2026-01-09T11:00:00Z",
            "2026-01-10T11:00:00Z"
        ]
    );
    assert_eq!(p["changed"].as_array().map(Vec::len), Some(0));
    let d = app
        .ok(q, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-08T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1, "changes": { "title": "late" } } }))
        .await;
    assert_eq!(
        d["previewEditOccurrence"]["changed"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let q = "mutation($i: DeleteOccurrenceInput!) { previewDeleteOccurrence(input: $i) { removed { start } } }";
    let d = app.ok(q, json!({ "i": { "occurrence": by_rid(&f.series, "2026-01-09T09:00:00Z"), "scope": "THIS_AND_FOLLOWING", "expectedVersion": 1 } })).await;
    assert_eq!(
        starts(
            d["previewDeleteOccurrence"]["removed"]
                .as_array()
                .expect("removed")
        ),
        ["2026-01-09T09:00:00Z", "2026-01-10T09:00:00Z"]
    );
    assert_eq!(version(&app, &f.series).await, 1, "previews write nothing");
    assert_eq!(
        list(
            &app,
            &f.cal,
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
            false
        )
        .await
        .len(),
        6
    );
}

async fn upcoming_occurrences_reach_far_into_a_forever_series(app: TestApp) {
    let f = fixture(
        &app,
        "America/New_York",
        daily("2026-01-05T09:00:00", "FREQ=DAILY"),
    )
    .await;
    let q = "query($s: ID!, $from: DateTime!, $n: Int!) { upcomingOccurrences(seriesId: $s, from: $from, first: $n) { edges { node { localStart } } pageInfo { hasNextPage } } }";
    let d = app
        .ok(
            q,
            json!({ "s": f.series, "from": "2100-01-01T00:00:00Z", "n": 200 }),
        )
        .await;
    let edges = d["upcomingOccurrences"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 200);
    assert_eq!(edges[0]["node"]["localStart"], json!("2100-01-01T09:00:00"));
    assert_eq!(
        edges[199]["node"]["localStart"],
        json!("2100-07-19T09:00:00")
    );
    assert_eq!(
        d["upcomingOccurrences"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    assert_eq!(
        app.err(
            q,
            json!({ "s": f.series, "from": "2100-01-01T00:00:00Z", "n": 201 })
        )
        .await
        .code,
        "RANGE_TOO_LARGE"
    );
}

engine_tests!(
    a_moved_occurrence_shows_wherever_it_overlaps_and_not_at_its_slot,
    every_list_says_which_occurrences_were_moved,
    an_exception_moved_past_the_series_end_is_still_found,
    cancelling_a_time_the_series_does_not_generate_is_refused,
    a_cancelled_occurrence_still_uses_up_count_and_can_be_restored,
    splitting_at_the_first_occurrence_edits_the_series_without_a_duplicate,
    cancelling_from_the_first_occurrence_leaves_nothing,
    a_split_keeps_moved_and_cancelled_occurrences_after_the_split_point,
    a_split_that_changes_the_time_carries_exceptions_to_the_new_time,
    chains_of_splits_lose_and_duplicate_nothing,
    cancel_from_here_ends_the_series_before_the_occurrence,
    all_day_blocked_time_splits_on_dates,
    editing_all_keeps_exceptions_that_still_apply_and_reports_the_rest,
    locked_occurrences_are_left_alone_by_series_edits,
    a_stale_version_is_a_conflict_for_every_edit_and_writes_nothing,
    a_preview_lists_what_an_edit_would_add_change_and_remove_without_writing,
    upcoming_occurrences_reach_far_into_a_forever_series,
);
