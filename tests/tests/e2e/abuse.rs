//! Abuse is refused before resolvers run, with typed errors, and the server stays responsive.

use almanac_api::config::Settings;
use almanac_e2e::{engine_tests, engine_tests_with, TestApp, WsSubscription};
use serde_json::{json, Value};
use std::sync::Mutex;

/// A client that opens a new connection per request. The hostile requests here make the server
/// close their connections (an oversized body is refused unread), and a later request must not be
/// sent down a pooled connection the server is closing.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn post_raw(app: &TestApp, body: String) -> (u16, Value) {
    let res = unpooled()
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// An oversized body: the server answers 413 from its Content-Length without reading the body and
/// closes, so a client still writing may see the close (a broken pipe) before it reads the answer.
/// Either way the request was refused unread; when the answer is read, it is the typed one.
async fn post_oversized(app: &TestApp, body: String) -> Option<(u16, Value)> {
    match unpooled()
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(res) => Some((
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )),
        Err(e) if e.is_request() || e.is_body() => None,
        Err(e) => panic!("the oversized request failed in an unexpected way: {e:?}"),
    }
}

async fn floods_are_refused_before_execution_and_the_server_stays_responsive(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let statements = app.state.store.statements_executed();
    let aliases: String = (0..10_000)
        .map(|i| format!("a{i}: calendar(id: \"{cal}\") {{ id }} "))
        .collect();
    let flood = json!({ "query": format!("{{ {aliases} }}") }).to_string();
    let mut deep = String::from("id");
    for _ in 0..30 {
        deep = format!("calendar {{ series {{ edges {{ node {{ {deep} }} }} }} }}");
    }
    let deep = json!({ "query": format!("{{ calendars {{ edges {{ node {{ series {{ edges {{ node {{ {deep} }} }} }} }} }} }} }}") }).to_string();
    let batch = Value::Array(vec![json!({ "query": "{ viewer { canWrite } }" }); 11]).to_string();
    let big = " ".repeat(3 * 1024 * 1024);
    let (flood_r, deep_r, batch_r, big_r, normal) = tokio::join!(
        post_raw(&app, flood),
        post_raw(&app, deep),
        post_raw(&app, batch),
        post_oversized(&app, big),
        app.graphql(
            "query($id: ID!) { calendar(id: $id) { name } }",
            json!({ "id": cal })
        ),
    );
    assert_eq!(
        flood_r.1["errors"][0]["extensions"]["code"],
        json!("QUERY_TOO_COMPLEX"),
        "{}",
        flood_r.1
    );
    assert_eq!(
        deep_r.1["errors"][0]["extensions"]["code"],
        json!("QUERY_TOO_COMPLEX")
    );
    assert_eq!(
        (
            batch_r.0,
            batch_r.1["errors"][0]["extensions"]["code"].clone()
        ),
        (400, json!("BATCH_TOO_LARGE"))
    );
    if let Some(big_r) = big_r {
        assert_eq!(
            (big_r.0, big_r.1["errors"][0]["extensions"]["code"].clone()),
            (413, json!("PAYLOAD_TOO_LARGE"))
        );
    }
    assert_eq!(
        normal["data"]["calendar"]["name"],
        json!("c"),
        "a normal request is served meanwhile"
    );
    // Only the normal request (one calendar lookup) reached the store: the rest never executed.
    assert_eq!(app.state.store.statements_executed() - statements, 1);
    // A small batch runs, answering in order.
    let (status, body) = post_raw(&app, json!([{ "query": "{ viewer { canWrite } }" }, { "query": "{ calendars { edges { cursor } } }" }]).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["viewer"]["canWrite"], json!(true));
    assert!(body[1]["data"]["calendars"]["edges"].is_array());
}

/// The issue 16 query: two `first: 1000` occurrence pages nested through `series`, 266 bytes.
fn nested_occurrence_pages(cal: &str, levels: usize) -> String {
    let mut inner = String::from("id");
    for _ in 0..levels {
        inner = format!("id series {{ occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 1000) {{ edges {{ node {{ {inner} }} }} }} }}");
    }
    format!("{{ occurrences(calendarIds: [\"{cal}\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 1000) {{ edges {{ node {{ {inner} }} }} }} }}")
}

/// A document of fragments each spreading the previous one twice: `2^levels` spreads once expanded.
fn doubling_fragments(levels: usize) -> String {
    let mut doc = String::from("query { ...F0 } fragment F0 on Query { __typename }");
    for i in 1..=levels {
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    // The operation spreads the last fragment, so every fragment is used.
    doc.replacen("...F0", &format!("...F{levels}"), 1)
}

async fn list_multiplied_costs_are_refused_before_execution_and_reported(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    app.create_series(&cal, json!({ "title": "m", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": "FREQ=MINUTELY" } })).await.expect("series");
    let statements = app.state.store.statements_executed();
    for levels in [1, 2] {
        let query = nested_occurrence_pages(&cal, levels);
        let (status, body) = post_raw(&app, json!({ "query": query }).to_string()).await;
        let error = &body["errors"][0];
        assert_eq!(
            (
                status,
                error["extensions"]["code"].clone(),
                error["extensions"]["limit"].clone()
            ),
            (200, json!("QUERY_TOO_COMPLEX"), json!("cost")),
            "{levels} levels: {body}"
        );
        assert!(body["data"].is_null(), "nothing resolved: {body}");
        let (requested, limit) = (
            error["extensions"]["cost"]["requested"]
                .as_u64()
                .expect("requested"),
            error["extensions"]["cost"]["limit"]
                .as_u64()
                .expect("limit"),
        );
        // 1000 × 1000 × 3 fields for the 266-byte query; another factor of 1000 per level.
        assert!(
            requested >= 1000u64.pow(levels as u32 + 1) && requested > limit,
            "{levels} levels: {requested} vs {limit}"
        );
        assert_eq!(limit, 50_000);
        assert!(
            error["message"]
                .as_str()
                .expect("message")
                .contains(&requested.to_string()),
            "{body}"
        );
        assert_eq!(
            body["extensions"]["cost"],
            json!({ "requested": requested, "limit": limit })
        );
    }
    // The same refusal over a WebSocket: the cost lives in the schema, not in one transport.
    let mut ws = WsSubscription::start(
        &app.url,
        json!({}),
        &nested_occurrence_pages(&cal, 1),
        json!({}),
    )
    .await
    .expect("websocket");
    let refused = ws.next(30).await.expect("an answer");
    let payload = &refused["payload"];
    assert_eq!(
        (
            payload["data"].clone(),
            payload["errors"][0]["extensions"]["code"].clone()
        ),
        (Value::Null, json!("QUERY_TOO_COMPLEX")),
        "{refused}"
    );
    assert!(
        payload["errors"][0]["extensions"]["cost"]["requested"].as_u64() > Some(50_000),
        "{refused}"
    );
    // Same through a variable: the page size is read from the variables before execution.
    let via_variable = "query($n: Int) { calendars(first: $n) { edges { node { series(first: $n) { edges { node { occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: $n) { edges { node { id } } } } } } } } } }";
    let refused = app.graphql(via_variable, json!({ "n": 200 })).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        json!("QUERY_TOO_COMPLEX"),
        "{refused}"
    );
    // Without first/last each connection counts its default page: 50 calendars × 50 series × 100
    // occurrences.
    let defaults = app.graphql("{ calendars { edges { node { series { edges { node { occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { edges { node { id } } } } } } } } } }", json!({})).await;
    assert_eq!(
        defaults["errors"][0]["extensions"]["cost"],
        json!({ "requested": 1 + 50 * (2 + 1 + 50 * (2 + 1 + 100 * 3)), "limit": 50_000 }),
        "{defaults}"
    );
    // A page past a connection's maximum counts as the maximum: its resolver refuses it.
    let oversized = app.graphql(&format!("{{ occurrences(calendarIds: [\"{cal}\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 100000) {{ edges {{ node {{ id }} }} }} }}"), json!({})).await;
    assert_eq!(
        (
            oversized["errors"][0]["extensions"]["code"].clone(),
            oversized["extensions"]["cost"]["requested"].clone()
        ),
        (json!("RANGE_TOO_LARGE"), json!(1 + 1000 * 3)),
        "{oversized}"
    );
    assert_eq!(
        app.state.store.statements_executed(),
        statements,
        "no refused query reached the store"
    );

    // An ordinary page: 100 occurrences with their series, allowed, and told what it cost.
    let page = app.graphql(&format!("{{ occurrences(calendarIds: [\"{cal}\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 100) {{ edges {{ node {{ id start end series {{ id title }} }} }} pageInfo {{ hasNextPage }} }} }}"), json!({})).await;
    assert!(page["errors"].is_null(), "{page}");
    assert_eq!(
        page["data"]["occurrences"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(100)
    );
    assert_eq!(
        page["data"]["occurrences"]["edges"][99]["node"]["series"]["title"],
        json!("m")
    );
    // 1 + 100 × (edges, node, id, start, end, series, id, title, pageInfo, hasNextPage).
    assert_eq!(
        page["extensions"]["cost"],
        json!({ "requested": 1 + 100 * 10, "limit": 50_000 }),
        "{page}"
    );
    // The same query with the variable small enough runs, and reports its cost.
    let allowed = app.graphql(via_variable, json!({ "n": 2 })).await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    assert_eq!(
        allowed["extensions"]["cost"]["requested"],
        json!(1 + 2 * (1 + 1 + 1 + 2 * (1 + 1 + 1 + 2 * 3)))
    );
}

async fn doubling_fragments_are_refused_without_expanding_them(app: TestApp) {
    let statements = app.state.store.statements_executed();
    for levels in [20, 25] {
        let doc = doubling_fragments(levels);
        assert!(doc.len() < 1500, "{} bytes", doc.len());
        let (status, body) = post_raw(&app, json!({ "query": doc }).to_string()).await;
        let error = &body["errors"][0];
        assert_eq!(
            (
                status,
                error["extensions"]["code"].clone(),
                error["extensions"]["limit"].clone()
            ),
            (200, json!("QUERY_TOO_COMPLEX"), json!("fragmentSpreads")),
            "{body}"
        );
        // Measured exactly (each fragment once): 2^levels spreads, plus the chain of single ones above.
        let expanded: u64 = (0..=levels as u32).map(|k| 1u64 << k).sum();
        assert_eq!(
            error["extensions"]["fragmentSpreads"],
            json!({ "requested": expanded, "limit": 500 }),
            "{body}"
        );
        assert!(body["data"].is_null());
    }
    // A few levels are an ordinary document, and run.
    let small = app.graphql(&doubling_fragments(3), json!({})).await;
    assert_eq!(
        (
            small["data"]["__typename"].clone(),
            small["extensions"]["cost"]["requested"].clone()
        ),
        (json!("Query"), json!(8)),
        "{small}"
    );
    // Size and token limits refuse before parsing, with the same code and the limit named.
    let long = format!("{{ {} }}", "__typename ".repeat(8_000));
    let (_, body) = post_raw(&app, json!({ "query": long }).to_string()).await;
    assert_eq!(
        (
            body["errors"][0]["extensions"]["code"].clone(),
            body["errors"][0]["extensions"]["limit"].clone()
        ),
        (json!("QUERY_TOO_COMPLEX"), json!("documentBytes")),
        "{body}"
    );
    let many = format!("{{ {} }}", "a ".repeat(12_000));
    let (_, body) = post_raw(&app, json!({ "query": many }).to_string()).await;
    assert_eq!(
        (
            body["errors"][0]["extensions"]["code"].clone(),
            body["errors"][0]["extensions"]["limit"].clone()
        ),
        (json!("QUERY_TOO_COMPLEX"), json!("tokens")),
        "{body}"
    );
    assert_eq!(app.state.store.statements_executed(), statements);
}

fn limited(s: &mut Settings) {
    s.rate_limit_per_minute = 5;
}

async fn a_credential_over_its_rate_is_told_to_wait(app: TestApp) {
    let (_, key) = app.organization_with_key("acme", "read").await;
    for _ in 0..5 {
        assert!(app
            .graphql_as(Some(&key), "{ viewer { canWrite } }", json!({}))
            .await["errors"]
            .is_null());
    }
    let res = app
        .http
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&key)
        .json(&json!({ "query": "{ viewer { canWrite } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("RATE_LIMITED")
    );
    // Another credential has its own budget.
    let (_, other) = app.organization_with_key("other", "read").await;
    assert!(app
        .graphql_as(Some(&other), "{ viewer { canWrite } }", json!({}))
        .await["errors"]
        .is_null());
}

/// Connections that never finish their request, and WebSockets that never say `connection_init`,
/// are closed by the server; past the connection cap a client gets a clean 503, never a hang.
fn tight_connections(s: &mut Settings) {
    s.header_timeout_seconds = 2;
    s.body_timeout_seconds = 1;
    s.ws_init_timeout_seconds = 1;
    s.max_connections = 4;
}

/// Guards against a hang only; the server's own timeouts are what close these sockets.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(60);

/// A connection that sends a request line and one header, then nothing.
async fn unfinished_head(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut socket = tokio::net::TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .expect("connected");
    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: almanac\r\ncontent-type: application/json\r\n")
        .await
        .expect("written");
    socket
}

/// Waits for the server to close the socket; returns what it said first, if anything.
async fn closed_by_server(mut socket: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut said = Vec::new();
    // A reset counts as closed as much as an orderly FIN does.
    let _ = tokio::time::timeout(HANG_GUARD, socket.read_to_end(&mut said))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&said).into_owned()
}

/// A client with no pooled connections, so each request opens (and counts as) a new connection.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn silent_websocket_close_code(app: &TestApp) -> u16 {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut req = format!("{}/graphql/ws", app.url.replacen("http", "ws", 1))
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgraded");
    loop {
        match tokio::time::timeout(HANG_GUARD, socket.next())
            .await
            .expect("the server closes the socket")
        {
            Some(Ok(Message::Close(frame))) => return frame.map_or(1005, |f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("closed without a close frame: {other:?}"),
        }
    }
}

async fn slow_and_silent_clients_are_closed_while_normal_requests_are_served(app: TestApp) {
    let slow = unfinished_head(&app).await;
    let (ws_code, normal) = tokio::join!(
        silent_websocket_close_code(&app),
        fresh_client()
            .post(format!("{}/graphql", app.url))
            .json(&json!({ "query": "{ viewer { canWrite } }" }))
            .send()
    );
    assert_eq!(
        ws_code, 4408,
        "a WebSocket without connection_init is closed with 4408"
    );
    let normal: Value = normal.expect("sent").json().await.expect("json");
    assert_eq!(
        normal["data"]["viewer"]["canWrite"],
        json!(true),
        "served while the slow connection is open: {normal}"
    );
    let said = closed_by_server(slow).await;
    assert!(
        !said.contains(" 200 "),
        "an unfinished request is never answered as if served: {said:?}"
    );
    // A body that stops halfway fails the request instead of holding the connection.
    use tokio::io::AsyncWriteExt;
    let mut stalled = unfinished_head(&app).await;
    stalled
        .write_all(b"content-length: 100\r\n\r\n{\"query\":")
        .await
        .expect("written");
    let said = closed_by_server(stalled).await;
    assert!(!said.contains(" 200 "), "{said:?}");
    let after = app.graphql("{ viewer { canWrite } }", json!({})).await;
    assert_eq!(after["data"]["viewer"]["canWrite"], json!(true));
}

async fn past_the_connection_cap_a_client_gets_503_then_is_served_once_slots_free(app: TestApp) {
    // Four slow connections fill the cap; the kernel hands connections to accept() in order, so
    // all four hold their slots before the next one is accepted.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(unfinished_head(&app).await);
    }
    let refused = fresh_client()
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": "{ viewer { canWrite } }" }))
        .send()
        .await
        .expect("answered, not hung or reset");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("SERVICE_UNAVAILABLE"),
        "{body}"
    );
    // The server times out the slow ones, which frees their slots...
    for socket in slow {
        closed_by_server(socket).await;
    }
    // ...and the next client is served.
    let served: Value = fresh_client()
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": "{ viewer { canWrite } }" }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        served["data"]["viewer"]["canWrite"],
        json!(true),
        "{served}"
    );
}

mod connections {
    use super::*;
    engine_tests_with!(tight_connections; slow_and_silent_clients_are_closed_while_normal_requests_are_served, past_the_connection_cap_a_client_gets_503_then_is_served_once_slots_free);
}

/// Kept to one second a day on a 7-second lattice: a few occurrences a week, each found through
/// thousands of empty lattice steps; a million of them would run past the year 9999.
const SPARSE: &str = "FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11";

async fn a_rule_past_its_budget_is_refused_and_a_light_write_is_not_held_behind_it(app: TestApp) {
    let heavy_cal = app.create_calendar("heavy", "UTC").await;
    let light_cal = app.create_calendar("light", "UTC").await;
    // The same rule with a COUNT it reaches within the budget is stored, ending at its 100th.
    let (kept, version) = app
        .create_series(&heavy_cal, json!({ "title": "sparse", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": format!("{SPARSE};COUNT=100") } }))
        .await
        .expect("a sparse rule with a small COUNT");
    let starts = app
        .starts_utc(&heavy_cal, "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
        .await;
    assert_eq!(starts.len(), 100, "{starts:?}");

    let heavy = json!({ "title": "heavy", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": format!("{SPARSE};COUNT=1000000") } });
    let events: String = (0..10)
        .map(|i| format!("BEGIN:VEVENT\r\nUID:heavy-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDURATION:PT1M\r\nRRULE:{SPARSE};COUNT=100000\r\nSUMMARY:heavy {i}\r\nEND:VEVENT\r\n"))
        .collect();
    let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//almanac//abuse//EN\r\n{events}END:VCALENDAR\r\n");
    let update = "mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { id } } }";
    let import = "mutation($i: ImportIcsInput!) { importIcs(input: $i) { series { id } skipped { uid reason } } }";
    let finished = Mutex::new(Vec::new());
    let done = |what: &'static str| finished.lock().expect("the order").push(what);
    let (created, updated, imported, light) = tokio::join!(
        async {
            let r = app.create_series(&heavy_cal, heavy.clone()).await;
            done("heavy create");
            r
        },
        async {
            let r = app.graphql(update, json!({ "i": { "id": kept, "expectedVersion": version, "recurrence": { "rrule": format!("{SPARSE};COUNT=1000000") } } })).await;
            done("heavy update");
            r
        },
        async {
            let r = app
                .graphql(
                    import,
                    json!({ "i": { "calendarId": heavy_cal, "ics": ics } }),
                )
                .await;
            done("heavy import");
            r
        },
        async {
            // Sent once the heavy requests are on their way: a series with an everyday COUNT rule
            // in another calendar of the same organization. Its schedule fits the inline budget
            // (services::compute), so it waits for no compute slot, and it takes no lock the
            // heavy writes hold while they compute.
            tokio::task::yield_now().await;
            let r = app
                .create_series(&light_cal, json!({ "title": "light", "start": "2026-01-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=WEEKLY;COUNT=10" } }))
                .await;
            done("light write");
            r
        },
    );
    let order = finished.into_inner().expect("the order");
    assert_eq!(order[0], "light write", "order: {order:?}");
    light.expect("the light series is stored");
    assert_eq!(
        app.starts_utc(&light_cal, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
            .await
            .len(),
        10
    );
    let created = created.expect_err("the heavy rule is refused");
    assert_eq!(created.code, "RECURRENCE_INVALID", "{}", created.message);
    assert!(
        created.message.contains("UNTIL"),
        "the refusal says what to do instead: {}",
        created.message
    );
    assert_eq!(
        updated["errors"][0]["extensions"]["code"],
        json!("RECURRENCE_INVALID"),
        "{updated}"
    );
    let imported = &imported["data"]["importIcs"];
    assert_eq!(imported["series"], json!([]), "{imported}");
    let skipped = imported["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 10, "{imported}");
    assert!(
        skipped.iter().all(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("steps of its rule"))),
        "{imported}"
    );
    // Nothing changed: the stored series keeps its version and its 100 occurrences.
    assert_eq!(app.series_count(&heavy_cal).await, 1);
    let now = app
        .ok(
            "query($id: ID!) { series(id: $id) { version } }",
            json!({ "id": kept }),
        )
        .await;
    assert_eq!(now["series"]["version"], json!(version));
    assert_eq!(
        app.starts_utc(&heavy_cal, "2026-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
            .await,
        starts
    );
}

/// The first `n + 1` occurrence starts from `year` on as windowed queries see them, walking
/// 400-year windows (the longest a query may ask for) to the end of supported time.
async fn windowed_starts(app: &TestApp, calendar: &str, year: i32, n: usize) -> Vec<String> {
    let mut starts: Vec<String> = Vec::new();
    let mut from = year;
    while from < 9999 && starts.len() <= n {
        let to = (from + 400).min(9999);
        for s in app
            .starts_utc(
                calendar,
                &format!("{from:04}-01-01T00:00:00Z"),
                &format!("{to:04}-01-01T00:00:00Z"),
            )
            .await
        {
            if !starts.contains(&s) {
                starts.push(s);
            }
        }
        from = to;
    }
    starts.truncate(n + 1);
    starts
}

async fn upcoming_occurrences_are_found_at_any_distance(app: TestApp) {
    let upcoming = "query($s: ID!, $from: DateTime!) { upcomingOccurrences(seriesId: $s, from: $from, first: 3) { edges { node { start } } pageInfo { hasNextPage } } }";
    let cases = [
        ("2500-01-01T00:00:00", "FREQ=YEARLY", 2025),
        ("2026-01-01T00:00:00", "FREQ=YEARLY", 1000),
        (
            "2026-01-01T00:00:00",
            "FREQ=MINUTELY;INTERVAL=100000;BYMONTH=2;BYMONTHDAY=29",
            2026,
        ),
        // Ends after two occurrences, centuries away: the page is short and says so.
        (
            "2900-03-01T00:00:00",
            "FREQ=YEARLY;INTERVAL=300;COUNT=2",
            2026,
        ),
    ];
    for (i, (start, rrule, from_year)) in cases.into_iter().enumerate() {
        let cal = app.create_calendar(&format!("far {i}"), "UTC").await;
        let (series, _) = app
            .create_series(&cal, json!({ "title": "far", "start": start, "duration": "PT1H", "recurrence": { "rrule": rrule } }))
            .await
            .expect("series");
        let windowed = windowed_starts(&app, &cal, from_year, 3).await;
        assert!(
            !windowed.is_empty(),
            "{rrule}: the windowed query finds occurrences"
        );
        let d = app
            .ok(
                upcoming,
                json!({ "s": series, "from": format!("{from_year:04}-01-01T00:00:00Z") }),
            )
            .await;
        let got: Vec<String> = d["upcomingOccurrences"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| almanac_e2e::to_utc(e["node"]["start"].as_str().expect("start")))
            .collect();
        assert_eq!(
            got,
            windowed.iter().take(3).cloned().collect::<Vec<_>>(),
            "{rrule} from {from_year}"
        );
        assert_eq!(
            d["upcomingOccurrences"]["pageInfo"]["hasNextPage"],
            json!(windowed.len() > 3),
            "{rrule} from {from_year}"
        );
    }
}

mod floods {
    use super::*;
    engine_tests!(floods_are_refused_before_execution_and_the_server_stays_responsive);
}
mod query_cost {
    use super::*;
    engine_tests!(
        list_multiplied_costs_are_refused_before_execution_and_reported,
        doubling_fragments_are_refused_without_expanding_them
    );
}
mod rates {
    use super::*;
    engine_tests_with!(limited; a_credential_over_its_rate_is_told_to_wait);
}
mod rule_budget {
    use super::*;
    engine_tests!(a_rule_past_its_budget_is_refused_and_a_light_write_is_not_held_behind_it);
}
mod far_upcoming {
    use super::*;
    engine_tests!(upcoming_occurrences_are_found_at_any_distance);
}
