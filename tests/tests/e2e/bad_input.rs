//! Every kind of bad input gets a typed error (`extensions.code`) and changes nothing.

use almanac_e2e::{engine_tests, TestApp};
use serde_json::{json, Value};

fn valid() -> Value {
    json!({ "title": "x", "start": "2026-01-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY" } })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

async fn each_invalid_series_is_refused_with_its_code_and_nothing_is_written(app: TestApp) {
    let cal = app.create_calendar("c", "America/New_York").await;
    let rule = |r: &str| with(valid(), "recurrence", json!({ "rrule": r }));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "never occurs",
            rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
            "RECURRENCE_INVALID",
        ),
        (
            "never occurs (31st of 30-day months)",
            rule("FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31"),
            "RECURRENCE_INVALID",
        ),
        (
            "INTERVAL=0",
            rule("FREQ=DAILY;INTERVAL=0"),
            "RECURRENCE_INVALID",
        ),
        (
            "UNTIL before start",
            rule("FREQ=DAILY;UNTIL=20250101T000000Z"),
            "RECURRENCE_INVALID",
        ),
        (
            "COUNT with UNTIL",
            rule("FREQ=DAILY;COUNT=3;UNTIL=20270101T000000Z"),
            "RECURRENCE_INVALID",
        ),
        ("no FREQ", rule("BYDAY=MO"), "RECURRENCE_INVALID"),
        (
            "unknown FREQ",
            rule("FREQ=FORTNIGHTLY"),
            "RECURRENCE_INVALID",
        ),
        (
            "unknown part",
            rule("FREQ=DAILY;BYFOO=1"),
            "RECURRENCE_INVALID",
        ),
        (
            "out of range",
            rule("FREQ=MONTHLY;BYMONTHDAY=32"),
            "RECURRENCE_INVALID",
        ),
        (
            "BYWEEKNO outside YEARLY",
            rule("FREQ=MONTHLY;BYWEEKNO=3"),
            "RECURRENCE_INVALID",
        ),
        (
            "ordinal BYDAY with WEEKLY",
            rule("FREQ=WEEKLY;BYDAY=2TU"),
            "RECURRENCE_INVALID",
        ),
        (
            "huge COUNT",
            rule("FREQ=DAILY;COUNT=99999999999"),
            "RECURRENCE_INVALID",
        ),
        ("garbage", rule(";;;"), "RECURRENCE_INVALID"),
        (
            "not ASCII (used to panic the parser)",
            rule("FREQ=WEEKLY;BYDAY=MO€"),
            "RECURRENCE_INVALID",
        ),
        (
            "not ASCII at the prefix boundary",
            rule("FREQ=é"),
            "RECURRENCE_INVALID",
        ),
        (
            "seconds on a day that never comes (used to be walked for 800 years)",
            rule("FREQ=SECONDLY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=30"),
            "RECURRENCE_INVALID",
        ),
        (
            "unknown zone",
            with(valid(), "timeZone", json!("Mars/Olympus_Mons")),
            "BAD_USER_INPUT",
        ),
        (
            "Windows zone name",
            with(valid(), "timeZone", json!("Eastern Standard Time")),
            "BAD_USER_INPUT",
        ),
        (
            "bad duration",
            with(valid(), "duration", json!("1 hour")),
            "BAD_USER_INPUT",
        ),
        (
            "zero duration",
            with(valid(), "duration", json!("PT0S")),
            "BAD_USER_INPUT",
        ),
        (
            "duration and end",
            with(valid(), "end", json!("2026-01-05T10:00:00")),
            "BAD_USER_INPUT",
        ),
        (
            "end before start",
            with(
                with(valid(), "duration", Value::Null),
                "end",
                json!("2026-01-05T08:00:00"),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "no length",
            with(valid(), "duration", Value::Null),
            "BAD_USER_INPUT",
        ),
        (
            "local time with offset",
            with(valid(), "start", json!("2026-01-05T09:00:00+01:00")),
            "BAD_USER_INPUT",
        ),
        (
            "not a date",
            with(valid(), "start", json!("next tuesday")),
            "BAD_USER_INPUT",
        ),
        (
            "empty title",
            with(valid(), "title", json!("  ")),
            "BAD_USER_INPUT",
        ),
        (
            "unknown kind",
            with(valid(), "kind", json!("MEETING")),
            "BAD_USER_INPUT",
        ),
        (
            "all-day with a time",
            with(
                with(valid(), "allDay", json!(true)),
                "duration",
                json!("P1D"),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "EXDATE alone",
            with(
                valid(),
                "recurrence",
                json!({ "exdates": ["2026-01-05T09:00:00"] }),
            ),
            "RECURRENCE_INVALID",
        ),
        (
            "year 0900",
            with(valid(), "start", json!("0900-01-01T09:00:00")),
            "BAD_USER_INPUT",
        ),
    ];
    for (what, input, code) in cases {
        let err = app.create_series(&cal, input).await.expect_err(what);
        assert_eq!(err.code, code, "{what}: {}", err.message);
        assert!(
            !err.message.is_empty()
                && !err.message.contains("sqlx")
                && !err.message.contains("panick"),
            "{what}: {}",
            err.message
        );
    }
    assert_eq!(
        app.series_count(&cal).await,
        0,
        "no refused series was stored"
    );
    // The same valid input goes through, so the refusals above were about the input.
    app.create_series(&cal, valid())
        .await
        .expect("valid input is accepted");
    assert_eq!(app.series_count(&cal).await, 1);
}

/// Issue 16: input is read exactly as RFC 3339, RFC 5545, ISO 8601 and IANA write it, on both
/// engines; what used to be stored leniently (or answered INTERNAL) is refused with its code.
async fn lenient_input_is_refused_strictly_and_nothing_is_written(app: TestApp) {
    let cal = app.create_calendar("c", "America/New_York").await;
    let rule = |r: &str| with(valid(), "recurrence", json!({ "rrule": r }));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "one-digit fields",
            with(valid(), "start", json!("2026-1-1T9:0:0")),
            "BAD_USER_INPUT",
        ),
        (
            "one-digit hour",
            with(valid(), "start", json!("2026-01-05T9:00:00")),
            "BAD_USER_INPUT",
        ),
        (
            "leading space",
            with(valid(), "start", json!(" 2026-01-05T09:00:00")),
            "BAD_USER_INPUT",
        ),
        (
            "leap second (used to be stored as :59)",
            with(valid(), "start", json!("2026-06-30T23:59:60")),
            "BAD_USER_INPUT",
        ),
        (
            "leap second in an end",
            with(
                with(valid(), "duration", Value::Null),
                "end",
                json!("2026-06-30T23:59:60"),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "leap second in an EXDATE",
            with(
                valid(),
                "recurrence",
                json!({ "rrule": "FREQ=WEEKLY", "exdates": ["2026-06-30T23:59:60"] }),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "one-digit RDATE",
            with(
                valid(),
                "recurrence",
                json!({ "rdates": ["2026-2-1T09:00:00"] }),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "leap second in UNTIL",
            rule("FREQ=DAILY;UNTIL=20260630T235960Z"),
            "RECURRENCE_INVALID",
        ),
        (
            "short UNTIL",
            rule("FREQ=DAILY;UNTIL=2026071T090000Z"),
            "RECURRENCE_INVALID",
        ),
        (
            "empty rrule (used to be a series that never occurs)",
            rule(""),
            "RECURRENCE_INVALID",
        ),
        ("blank rrule", rule(" "), "RECURRENCE_INVALID"),
        (
            "empty recurrence object",
            with(valid(), "recurrence", json!({})),
            "RECURRENCE_INVALID",
        ),
        (
            "zone with a trailing space",
            with(valid(), "timeZone", json!("America/New_York ")),
            "BAD_USER_INPUT",
        ),
        (
            "zone with a leading space",
            with(valid(), "timeZone", json!(" Europe/Berlin")),
            "BAD_USER_INPUT",
        ),
        (
            "400 days and a second, in seconds",
            with(valid(), "duration", json!("PT34560001S")),
            "BAD_USER_INPUT",
        ),
        (
            "400 days and a second, in days",
            with(valid(), "duration", json!("P400DT1S")),
            "BAD_USER_INPUT",
        ),
        (
            "401 days",
            with(valid(), "duration", json!("P401D")),
            "BAD_USER_INPUT",
        ),
        (
            "NUL in a title (used to be INTERNAL on PostgreSQL)",
            with(valid(), "title", json!("a\u{0}b")),
            "BAD_USER_INPUT",
        ),
        (
            "newline in a title",
            with(valid(), "title", json!("two\nlines")),
            "BAD_USER_INPUT",
        ),
        (
            "escape in a title",
            with(valid(), "title", json!("\u{1b}[31mred")),
            "BAD_USER_INPUT",
        ),
        (
            "NUL in a description",
            with(valid(), "description", json!("x\u{0}")),
            "BAD_USER_INPUT",
        ),
        (
            "bell in a description",
            with(valid(), "description", json!("ding\u{7}")),
            "BAD_USER_INPUT",
        ),
    ];
    for (what, input, code) in cases {
        let err = app.create_series(&cal, input).await.expect_err(what);
        assert_eq!(err.code, code, "{what}: {}", err.message);
        assert!(
            !err.message.contains("sqlx") && !err.message.contains("panick"),
            "{what}: {}",
            err.message
        );
    }
    assert_eq!(
        app.series_count(&cal).await,
        0,
        "no refused series was stored"
    );

    // The field is named for the control character and the leap second.
    let create = "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } userErrors { field code } } }";
    for (input, field, code) in [
        (
            with(valid(), "title", json!("a\u{0}b")),
            json!(["input", "title"]),
            "BAD_USER_INPUT",
        ),
        (
            with(valid(), "description", json!("\u{0}")),
            json!(["input", "description"]),
            "BAD_USER_INPUT",
        ),
        (
            with(valid(), "recurrence", json!({})),
            json!(["input", "recurrence"]),
            "RECURRENCE_INVALID",
        ),
        (
            with(valid(), "recurrence", json!({ "rrule": "" })),
            json!(["input", "recurrence"]),
            "RECURRENCE_INVALID",
        ),
        (
            with(valid(), "timeZone", json!("America/New_York ")),
            json!(["input", "timeZone"]),
            "BAD_USER_INPUT",
        ),
        (
            with(valid(), "duration", json!("PT34560001S")),
            json!(["input", "duration"]),
            "BAD_USER_INPUT",
        ),
    ] {
        let mut input = input;
        input["calendarId"] = json!(cal);
        let body = app.graphql(create, json!({ "i": input })).await;
        assert_eq!(
            body["data"]["createSeries"]["userErrors"],
            json!([{ "field": field, "code": code }]),
            "{body}"
        );
    }
    let leap = app.graphql(create, json!({ "i": with(with(valid(), "calendarId", json!(cal)), "start", json!("2026-06-30T23:59:60")) })).await;
    assert_eq!(
        leap["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{leap}"
    );
    assert!(
        leap["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("leap second")),
        "says why: {leap}"
    );
    assert_eq!(app.series_count(&cal).await, 0, "still nothing stored");

    // The same lengths written either way are accepted alike, up to the limit; tab and line breaks
    // stay allowed in a description, which is multi-line text.
    for duration in ["P400D", "PT34560000S", "P57DT1S"] {
        app.create_series(&cal, with(valid(), "duration", json!(duration)))
            .await
            .unwrap_or_else(|e| panic!("{duration}: {e:?}"));
    }
    app.create_series(
        &cal,
        with(
            valid(),
            "description",
            json!("agenda:\n\t1. plans\r\n\t2. budget"),
        ),
    )
    .await
    .expect("multi-line description");
    app.create_series(&cal, with(valid(), "start", json!("2026-06-30T23:59:59")))
        .await
        .expect("the last second of a day");
    assert_eq!(app.series_count(&cal).await, 5);

    // Updates are held to the same rules.
    let (id, version) = app.create_series(&cal, valid()).await.expect("series");
    let update = "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { id } userErrors { field code } } }";
    for (changes, code) in [
        (json!({ "title": "\u{0}" }), "BAD_USER_INPUT"),
        (json!({ "recurrence": {} }), "RECURRENCE_INVALID"),
        (
            json!({ "recurrence": { "rrule": " " } }),
            "RECURRENCE_INVALID",
        ),
        (json!({ "timeZone": "UTC " }), "BAD_USER_INPUT"),
    ] {
        let mut i = changes.clone();
        i["id"] = json!(id);
        i["expectedVersion"] = json!(version);
        let body = app.graphql(update, json!({ "i": i })).await;
        assert_eq!(
            body["data"]["updateSeries"]["userErrors"][0]["code"], code,
            "{changes}: {body}"
        );
    }
    let d = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on Series { version title } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        d["node"],
        json!({ "version": version, "title": "x" }),
        "no refused update was applied"
    );

    // Calendars: the zone exactly as IANA spells it, a name without control characters.
    let new_cal = "mutation($i: CreateCalendarInput!) { createCalendar(input: $i) { calendar { id } userErrors { field code } } }";
    for (input, field) in [
        (
            json!({ "name": "c", "timeZone": "America/New_York " }),
            json!(["input", "timeZone"]),
        ),
        (
            json!({ "name": "a\u{0}", "timeZone": "UTC" }),
            json!(["input", "name"]),
        ),
        (
            json!({ "name": "tab\there", "timeZone": "UTC" }),
            json!(["input", "name"]),
        ),
    ] {
        let body = app.graphql(new_cal, json!({ "i": input })).await;
        assert_eq!(
            body["data"]["createCalendar"]["userErrors"],
            json!([{ "field": field, "code": "BAD_USER_INPUT" }]),
            "{input}: {body}"
        );
    }
    let d = app
        .ok("{ calendars { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(
        d["calendars"]["edges"].as_array().map(Vec::len),
        Some(1),
        "no refused calendar was stored"
    );
}

async fn a_series_for_a_calendar_that_does_not_exist_is_not_found(app: TestApp) {
    let missing = "cal_0000000000007000800000000000dead";
    let err = app
        .create_series(missing, valid())
        .await
        .expect_err("missing calendar");
    assert_eq!(err.code, "NOT_FOUND");
    let err = app
        .create_series("ser_0000000000007000800000000000dead", valid())
        .await
        .expect_err("wrong kind of id");
    assert_eq!(err.code, "BAD_USER_INPUT");
    assert_eq!(err.field.as_deref(), Some("calendarId"));
}

async fn bad_windows_pages_and_cursors_are_refused_before_any_work(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    app.create_series(&cal, valid()).await.expect("series");
    let q = |from: &str, to: &str, first: i64, after: Option<&str>| json!({ "c": [cal], "from": from, "to": to, "first": first, "after": after });
    let cases = [
        (
            "end before start",
            q("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "empty window",
            q("2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "window of 500 years",
            q("2000-01-01T00:00:00Z", "2500-01-01T00:00:00Z", 10, None),
            "RANGE_TOO_LARGE",
        ),
        (
            "page too large",
            q(
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
                100_000,
                None,
            ),
            "RANGE_TOO_LARGE",
        ),
        (
            "page of zero",
            q("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 0, None),
            "BAD_USER_INPUT",
        ),
        (
            "forged cursor",
            q(
                "2026-01-01T00:00:00Z",
                "2026-02-01T00:00:00Z",
                10,
                Some("bm90LWEtY3Vyc29y"),
            ),
            "BAD_USER_INPUT",
        ),
        (
            "not an instant",
            q("yesterday", "2026-02-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "instant without offset",
            q("2026-01-01T00:00:00", "2026-02-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "instant with one-digit fields",
            q("2026-1-1T0:0:0Z", "2026-02-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "instant with a space for T",
            q("2026-01-01 00:00:00Z", "2026-02-01T00:00:00Z", 10, None),
            "BAD_USER_INPUT",
        ),
        (
            "instant on a leap second",
            q("2026-01-01T00:00:00Z", "2026-06-30T23:59:60Z", 10, None),
            "BAD_USER_INPUT",
        ),
    ];
    for (what, vars, code) in cases {
        let err = app.err(TestApp::OCCURRENCES, vars).await;
        assert_eq!(err.code, code, "{what}: {}", err.message);
    }
    let err = app
        .err("{ occurrences(calendarIds: [\"cal_0000000000007000800000000000dead\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(err.code, "NOT_FOUND");
    let err = app.err("{ occurrences(calendarIds: [], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", timeZone: \"Nowhere/Land\") { edges { cursor } } }", json!({})).await;
    assert_eq!(err.code, "BAD_USER_INPUT");
}

async fn malformed_requests_get_coded_errors_too(app: TestApp) {
    assert_eq!(
        app.err("{ occurrences(calendarIds: [] from:", json!({}))
            .await
            .code,
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(
        app.err("{ noSuchField }", json!({})).await.code,
        "GRAPHQL_VALIDATION_FAILED"
    );
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("calendar {{ series {{ edges {{ node {{ {deep} }} }} }} }}");
    }
    let deep = format!("{{ calendars {{ edges {{ node {{ id series {{ edges {{ node {{ {deep} }} }} }} }} }} }} }}");
    assert_eq!(app.err(&deep, json!({})).await.code, "QUERY_TOO_COMPLEX");
    let res = app
        .http
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json error body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("BAD_REQUEST")
    );
    let res = app
        .http
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .expect("sent");
    assert_eq!(
        res.status(),
        413,
        "bodies over the limit are refused before parsing"
    );
    let body: Value = res.json().await.expect("json error body");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("PAYLOAD_TOO_LARGE")
    );
}

/// Relay-style clients read refusals from the payload's `userErrors` (field path, code, message);
/// the same refusal is in `errors[]` with `extensions.code` for clients that only look there.
async fn refused_mutations_carry_user_errors_with_field_paths(app: TestApp) {
    let cal = app.create_calendar("c", "Europe/Berlin").await;
    let create = "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } userErrors { field code message } } }";
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            with(
                valid(),
                "recurrence",
                json!({ "rrule": "FREQ=DAILY;INTERVAL=0" }),
            ),
            json!(["input", "recurrence"]),
            "RECURRENCE_INVALID",
        ),
        (
            with(valid(), "timeZone", json!("Mars/Olympus_Mons")),
            json!(["input", "timeZone"]),
            "BAD_USER_INPUT",
        ),
        (
            with(valid(), "duration", json!("1 hour")),
            json!(["input", "duration"]),
            "BAD_USER_INPUT",
        ),
    ];
    for (mut input, field, code) in cases {
        input["calendarId"] = json!(cal);
        let body = app.graphql(create, json!({ "i": input })).await;
        let payload = &body["data"]["createSeries"];
        assert!(payload["series"].is_null(), "refused: no series in {body}");
        let errors = payload["userErrors"].as_array().expect("userErrors list");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["field"], field, "{body}");
        assert_eq!(errors[0]["code"], code, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], code,
            "also top-level: {body}"
        );
        assert_eq!(body["errors"][0]["path"], json!(["createSeries"]), "{body}");
        assert_eq!(
            errors[0]["message"], body["errors"][0]["message"],
            "one message, two places"
        );
    }
    assert_eq!(app.series_count(&cal).await, 0, "nothing was written");

    // A stale expectedVersion points at the field to refresh.
    let (id, version) = app.create_series(&cal, valid()).await.expect("series");
    let update = "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { id } userErrors { field code } } }";
    let stale = app
        .graphql(
            update,
            json!({ "i": { "id": id, "expectedVersion": version + 7, "title": "y" } }),
        )
        .await;
    assert_eq!(
        stale["data"]["updateSeries"]["userErrors"],
        json!([{ "field": ["input", "expectedVersion"], "code": "CONFLICT" }]),
        "{stale}"
    );
    // Success: the list is there and empty.
    let fine = app
        .graphql(
            update,
            json!({ "i": { "id": id, "expectedVersion": version, "title": "y" } }),
        )
        .await;
    assert_eq!(
        fine["data"]["updateSeries"]["userErrors"],
        json!([]),
        "{fine}"
    );
    assert!(fine.get("errors").is_none(), "{fine}");
}

/// A test app has no provider OAuth clients: connecting is refused as the operator's to fix, with
/// no field to blame, and no authorization is started.
async fn connecting_a_provider_the_server_is_not_set_up_for_says_so(app: TestApp) {
    for (mutation, variable) in [
        ("connectGoogle", "ALMANAC_GOOGLE_CLIENT_ID"),
        ("connectOutlook", "ALMANAC_MICROSOFT_CLIENT_ID"),
    ] {
        let q = format!("mutation {{ {mutation}(input: {{}}) {{ authorizationUrl userErrors {{ field code message }} }} }}");
        let body = app.graphql(&q, json!({})).await;
        let payload = &body["data"][mutation];
        assert!(payload["authorizationUrl"].is_null(), "{body}");
        assert_eq!(payload["userErrors"][0]["code"], "NOT_CONFIGURED", "{body}");
        assert_eq!(
            payload["userErrors"][0]["field"],
            Value::Null,
            "nothing in the input is at fault: {body}"
        );
        assert!(
            payload["userErrors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(variable)),
            "says what to set: {body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_CONFIGURED",
            "{body}"
        );
    }
    let d = app.ok("{ providerAccounts { id } }", json!({})).await;
    assert_eq!(d["providerAccounts"], json!([]), "{d}");
}

engine_tests!(
    connecting_a_provider_the_server_is_not_set_up_for_says_so,
    refused_mutations_carry_user_errors_with_field_paths,
    each_invalid_series_is_refused_with_its_code_and_nothing_is_written,
    lenient_input_is_refused_strictly_and_nothing_is_written,
    a_series_for_a_calendar_that_does_not_exist_is_not_found,
    bad_windows_pages_and_cursors_are_refused_before_any_work,
    malformed_requests_get_coded_errors_too,
);
