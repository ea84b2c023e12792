//! Operations: health, readiness and Prometheus metrics.

use almanac_e2e::{engine_tests, TestApp};
use serde_json::json;

async fn metrics_count_requests_errors_subscriptions_and_the_pool(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let _ = app.err("{ noSuchField }", json!({})).await;
    let _ = app.err("query($id: ID!) { calendar(id: $id) { id } }", json!({ "id": "cal_0000000000007000800000000000dead" })).await;
    let mut sub = almanac_e2e::WsSubscription::start(&app.url, json!({}), "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId } }", json!({ "c": [cal] })).await.expect("ws");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    let value = |prefix: &str| -> f64 {
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    assert!(value("almanac_http_requests_total{route=\"/graphql\",status=\"2xx\"}") >= 3.0);
    assert_eq!(value("almanac_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}"), 1.0);
    assert_eq!(value("almanac_graphql_errors_total{code=\"NOT_FOUND\"}"), 1.0);
    assert_eq!(value("almanac_subscription_connections"), 1.0);
    assert!(value("almanac_db_pool_connections{state=\"open\"}") >= 1.0);
    assert!(value("almanac_http_request_duration_seconds_count") >= 3.0);
    assert!(!text.contains(&cal), "ids never become labels");
    drop(sub.next(0).await);
    drop(sub);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(text.contains("almanac_subscription_connections 0"), "closed connections are not counted:\n{text}");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.http.get(format!("{}{path}", app.url)).send().await.expect("probe").status(), 200);
    }
}

engine_tests!(metrics_count_requests_errors_subscriptions_and_the_pool);
