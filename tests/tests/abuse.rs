//! Abuse is refused before resolvers run, with typed errors, and the server stays responsive.

use almanac_api::config::Settings;
use almanac_e2e::{engine_tests, engine_tests_with, TestApp, WsSubscription};
use serde_json::{json, Value};

async fn post_raw(app: &TestApp, body: String) -> (u16, Value) {
    let res = app.http.post(format!("{}/graphql", app.url)).header("content-type", "application/json").body(body).send().await.expect("sent");
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn floods_are_refused_before_execution_and_the_server_stays_responsive(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let statements = app.state.store.statements_executed();
    let aliases: String = (0..10_000).map(|i| format!("a{i}: calendar(id: \"{cal}\") {{ id }} ")).collect();
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
        post_raw(&app, big),
        app.graphql("query($id: ID!) { calendar(id: $id) { name } }", json!({ "id": cal })),
    );
    assert_eq!(flood_r.1["errors"][0]["extensions"]["code"], json!("QUERY_TOO_COMPLEX"), "{}", flood_r.1);
    assert_eq!(deep_r.1["errors"][0]["extensions"]["code"], json!("QUERY_TOO_COMPLEX"));
    assert_eq!((batch_r.0, batch_r.1["errors"][0]["extensions"]["code"].clone()), (400, json!("BATCH_TOO_LARGE")));
    assert_eq!((big_r.0, big_r.1["errors"][0]["extensions"]["code"].clone()), (413, json!("PAYLOAD_TOO_LARGE")));
    assert_eq!(normal["data"]["calendar"]["name"], json!("c"), "a normal request is served meanwhile");
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
        doc.push_str(&format!(" fragment F{i} on Query {{ ...F{p} ...F{p} }}", p = i - 1));
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
        assert_eq!((status, error["extensions"]["code"].clone(), error["extensions"]["limit"].clone()), (200, json!("QUERY_TOO_COMPLEX"), json!("cost")), "{levels} levels: {body}");
        assert!(body["data"].is_null(), "nothing resolved: {body}");
        let (requested, limit) = (error["extensions"]["cost"]["requested"].as_u64().expect("requested"), error["extensions"]["cost"]["limit"].as_u64().expect("limit"));
        // 1000 × 1000 × 3 fields for the 266-byte query; another factor of 1000 per level.
        assert!(requested >= 1000u64.pow(levels as u32 + 1) && requested > limit, "{levels} levels: {requested} vs {limit}");
        assert_eq!(limit, 50_000);
        assert!(error["message"].as_str().expect("message").contains(&requested.to_string()), "{body}");
        assert_eq!(body["extensions"]["cost"], json!({ "requested": requested, "limit": limit }));
    }
    // The same refusal over a WebSocket: the cost lives in the schema, not in one transport.
    let mut ws = WsSubscription::start(&app.url, json!({}), &nested_occurrence_pages(&cal, 1), json!({})).await.expect("websocket");
    let refused = ws.next(30).await.expect("an answer");
    let payload = &refused["payload"];
    assert_eq!((payload["data"].clone(), payload["errors"][0]["extensions"]["code"].clone()), (Value::Null, json!("QUERY_TOO_COMPLEX")), "{refused}");
    assert!(payload["errors"][0]["extensions"]["cost"]["requested"].as_u64() > Some(50_000), "{refused}");
    // Same through a variable: the page size is read from the variables before execution.
    let via_variable = "query($n: Int) { calendars(first: $n) { edges { node { series(first: $n) { edges { node { occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: $n) { edges { node { id } } } } } } } } } }";
    let refused = app.graphql(via_variable, json!({ "n": 200 })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], json!("QUERY_TOO_COMPLEX"), "{refused}");
    // Without first/last each connection counts its default page: 50 calendars × 50 series × 100
    // occurrences.
    let defaults = app.graphql("{ calendars { edges { node { series { edges { node { occurrences(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { edges { node { id } } } } } } } } } }", json!({})).await;
    assert_eq!(defaults["errors"][0]["extensions"]["cost"], json!({ "requested": 1 + 50 * (2 + 1 + 50 * (2 + 1 + 100 * 3)), "limit": 50_000 }), "{defaults}");
    // A page past a connection's maximum counts as the maximum: its resolver refuses it.
    let oversized = app.graphql(&format!("{{ occurrences(calendarIds: [\"{cal}\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 100000) {{ edges {{ node {{ id }} }} }} }}"), json!({})).await;
    assert_eq!((oversized["errors"][0]["extensions"]["code"].clone(), oversized["extensions"]["cost"]["requested"].clone()), (json!("RANGE_TOO_LARGE"), json!(1 + 1000 * 3)), "{oversized}");
    assert_eq!(app.state.store.statements_executed(), statements, "no refused query reached the store");

    // An ordinary page: 100 occurrences with their series, allowed, and told what it cost.
    let page = app.graphql(&format!("{{ occurrences(calendarIds: [\"{cal}\"], from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", first: 100) {{ edges {{ node {{ id start end series {{ id title }} }} }} pageInfo {{ hasNextPage }} }} }}"), json!({})).await;
    assert!(page["errors"].is_null(), "{page}");
    assert_eq!(page["data"]["occurrences"]["edges"].as_array().map(Vec::len), Some(100));
    assert_eq!(page["data"]["occurrences"]["edges"][99]["node"]["series"]["title"], json!("m"));
    // 1 + 100 × (edges, node, id, start, end, series, id, title, pageInfo, hasNextPage).
    assert_eq!(page["extensions"]["cost"], json!({ "requested": 1 + 100 * 10, "limit": 50_000 }), "{page}");
    // The same query with the variable small enough runs, and reports its cost.
    let allowed = app.graphql(via_variable, json!({ "n": 2 })).await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    assert_eq!(allowed["extensions"]["cost"]["requested"], json!(1 + 2 * (1 + 1 + 1 + 2 * (1 + 1 + 1 + 2 * 3))));
}

async fn doubling_fragments_are_refused_without_expanding_them(app: TestApp) {
    let statements = app.state.store.statements_executed();
    for levels in [20, 25] {
        let doc = doubling_fragments(levels);
        assert!(doc.len() < 1500, "{} bytes", doc.len());
        let (status, body) = post_raw(&app, json!({ "query": doc }).to_string()).await;
        let error = &body["errors"][0];
        assert_eq!((status, error["extensions"]["code"].clone(), error["extensions"]["limit"].clone()), (200, json!("QUERY_TOO_COMPLEX"), json!("fragmentSpreads")), "{body}");
        // Measured exactly (each fragment once): 2^levels spreads, plus the chain of single ones above.
        let expanded: u64 = (0..=levels as u32).map(|k| 1u64 << k).sum();
        assert_eq!(error["extensions"]["fragmentSpreads"], json!({ "requested": expanded, "limit": 500 }), "{body}");
        assert!(body["data"].is_null());
    }
    // A few levels are an ordinary document, and run.
    let small = app.graphql(&doubling_fragments(3), json!({})).await;
    assert_eq!((small["data"]["__typename"].clone(), small["extensions"]["cost"]["requested"].clone()), (json!("Query"), json!(8)), "{small}");
    // Size and token limits refuse before parsing, with the same code and the limit named.
    let long = format!("{{ {} }}", "__typename ".repeat(8_000));
    let (_, body) = post_raw(&app, json!({ "query": long }).to_string()).await;
    assert_eq!((body["errors"][0]["extensions"]["code"].clone(), body["errors"][0]["extensions"]["limit"].clone()), (json!("QUERY_TOO_COMPLEX"), json!("documentBytes")), "{body}");
    let many = format!("{{ {} }}", "a ".repeat(12_000));
    let (_, body) = post_raw(&app, json!({ "query": many }).to_string()).await;
    assert_eq!((body["errors"][0]["extensions"]["code"].clone(), body["errors"][0]["extensions"]["limit"].clone()), (json!("QUERY_TOO_COMPLEX"), json!("tokens")), "{body}");
    assert_eq!(app.state.store.statements_executed(), statements);
}

fn limited(s: &mut Settings) {
    s.rate_limit_per_minute = 5;
}

async fn a_credential_over_its_rate_is_told_to_wait(app: TestApp) {
    let (_, key) = app.organization_with_key("acme", "read").await;
    for _ in 0..5 {
        assert!(app.graphql_as(Some(&key), "{ viewer { canWrite } }", json!({})).await["errors"].is_null());
    }
    let res = app.http.post(format!("{}/graphql", app.url)).bearer_auth(&key).json(&json!({ "query": "{ viewer { canWrite } }" })).send().await.expect("sent");
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], json!("RATE_LIMITED"));
    // Another credential has its own budget.
    let (_, other) = app.organization_with_key("other", "read").await;
    assert!(app.graphql_as(Some(&other), "{ viewer { canWrite } }", json!({})).await["errors"].is_null());
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
    let mut socket = tokio::net::TcpStream::connect(app.url.trim_start_matches("http://")).await.expect("connected");
    socket.write_all(b"POST /graphql HTTP/1.1\r\nhost: almanac\r\ncontent-type: application/json\r\n").await.expect("written");
    socket
}

/// Waits for the server to close the socket; returns what it said first, if anything.
async fn closed_by_server(mut socket: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut said = Vec::new();
    // A reset counts as closed as much as an orderly FIN does.
    let _ = tokio::time::timeout(HANG_GUARD, socket.read_to_end(&mut said)).await.expect("the server closes the connection");
    String::from_utf8_lossy(&said).into_owned()
}

/// A client with no pooled connections, so each request opens (and counts as) a new connection.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client")
}

async fn silent_websocket_close_code(app: &TestApp) -> u16 {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let mut req = format!("{}/graphql/ws", app.url.replacen("http", "ws", 1)).into_client_request().expect("request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.expect("upgraded");
    loop {
        match tokio::time::timeout(HANG_GUARD, socket.next()).await.expect("the server closes the socket") {
            Some(Ok(Message::Close(frame))) => return frame.map_or(1005, |f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("closed without a close frame: {other:?}"),
        }
    }
}

async fn slow_and_silent_clients_are_closed_while_normal_requests_are_served(app: TestApp) {
    let slow = unfinished_head(&app).await;
    let (ws_code, normal) = tokio::join!(silent_websocket_close_code(&app), fresh_client().post(format!("{}/graphql", app.url)).json(&json!({ "query": "{ viewer { canWrite } }" })).send());
    assert_eq!(ws_code, 4408, "a WebSocket without connection_init is closed with 4408");
    let normal: Value = normal.expect("sent").json().await.expect("json");
    assert_eq!(normal["data"]["viewer"]["canWrite"], json!(true), "served while the slow connection is open: {normal}");
    let said = closed_by_server(slow).await;
    assert!(!said.contains(" 200 "), "an unfinished request is never answered as if served: {said:?}");
    // A body that stops halfway fails the request instead of holding the connection.
    use tokio::io::AsyncWriteExt;
    let mut stalled = unfinished_head(&app).await;
    stalled.write_all(b"content-length: 100\r\n\r\n{\"query\":").await.expect("written");
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
    let refused = fresh_client().post(format!("{}/graphql", app.url)).json(&json!({ "query": "{ viewer { canWrite } }" })).send().await.expect("answered, not hung or reset");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], json!("SERVICE_UNAVAILABLE"), "{body}");
    // The server times out the slow ones, which frees their slots...
    for socket in slow {
        closed_by_server(socket).await;
    }
    // ...and the next client is served.
    let served: Value = fresh_client().post(format!("{}/graphql", app.url)).json(&json!({ "query": "{ viewer { canWrite } }" })).send().await.expect("sent").json().await.expect("json");
    assert_eq!(served["data"]["viewer"]["canWrite"], json!(true), "{served}");
}

mod connections {
    use super::*;
    engine_tests_with!(tight_connections; slow_and_silent_clients_are_closed_while_normal_requests_are_served, past_the_connection_cap_a_client_gets_503_then_is_served_once_slots_free);
}

mod floods {
    use super::*;
    engine_tests!(floods_are_refused_before_execution_and_the_server_stays_responsive);
}
mod query_cost {
    use super::*;
    engine_tests!(list_multiplied_costs_are_refused_before_execution_and_reported, doubling_fragments_are_refused_without_expanding_them);
}
mod rates {
    use super::*;
    engine_tests_with!(limited; a_credential_over_its_rate_is_told_to_wait);
}
