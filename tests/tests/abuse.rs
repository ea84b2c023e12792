//! Abuse is refused before resolvers run, with typed errors, and the server stays responsive.

use almanac_api::config::Settings;
use almanac_e2e::{engine_tests, engine_tests_with, TestApp};
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
mod rates {
    use super::*;
    engine_tests_with!(limited; a_credential_over_its_rate_is_told_to_wait);
}
