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

mod floods {
    use super::*;
    engine_tests!(floods_are_refused_before_execution_and_the_server_stays_responsive);
}
mod rates {
    use super::*;
    engine_tests_with!(limited; a_credential_over_its_rate_is_told_to_wait);
}
