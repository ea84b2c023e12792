//! Subscriptions over WebSocket (graphql-transport-ws): a mutation over HTTP reaches a subscriber,
//! and on PostgreSQL a mutation through one API process reaches a subscriber on another.

use almanac_e2e::{engine_tests, spawn_peer, Engine, TestApp, WsSubscription};
use serde_json::json;

const OCCURRENCES_CHANGED: &str = "subscription($c: [ID!]!) { occurrencesChanged(calendarIds: $c, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") {
    added { id start title } changed { id title } removed } }";
const SERIES_CHANGED: &str = "subscription($c: [ID!]!) { seriesChanged(calendarIds: $c) { seriesId change series { title } } }";

async fn a_mutation_over_http_reaches_a_websocket_subscriber(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let other = app.create_calendar("other", "UTC").await;
    let mut occ = WsSubscription::start(
        &app.url,
        json!({}),
        OCCURRENCES_CHANGED,
        json!({ "c": [cal] }),
    )
    .await
    .expect("subscribed");
    let mut ser = WsSubscription::start(&app.url, json!({}), SERIES_CHANGED, json!({ "c": [cal] }))
        .await
        .expect("subscribed");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // A change in another calendar is not delivered; this one is.
    app.create_series(
        &other,
        json!({ "title": "elsewhere", "start": "2026-01-05T09:00:00", "duration": "PT1H" }),
    )
    .await
    .expect("other");
    let (id, v) = app.create_series(&cal, json!({ "title": "standup", "start": "2026-01-05T09:00:00", "duration": "PT15M", "recurrence": { "rrule": "FREQ=DAILY;COUNT=3" } })).await.expect("series");
    let msg = occ.next(10).await.expect("an event");
    let added = msg["payload"]["data"]["occurrencesChanged"]["added"]
        .as_array()
        .expect("added")
        .clone();
    assert_eq!(added.len(), 3, "{msg}");
    assert!(added.iter().all(|o| o["title"] == json!("standup")));
    let msg = ser.next(10).await.expect("an event");
    assert_eq!(
        msg["payload"]["data"]["seriesChanged"]["seriesId"],
        json!(id)
    );
    assert_eq!(
        msg["payload"]["data"]["seriesChanged"]["change"],
        json!("CREATED")
    );
    // Cancelling one occurrence removes exactly it.
    app.ok("mutation($i: DeleteOccurrenceInput!) { deleteOccurrence(input: $i) { series { version } } }",
        json!({ "i": { "occurrence": { "seriesId": id, "recurrenceId": "2026-01-06T09:00:00Z" }, "scope": "THIS", "expectedVersion": v } })).await;
    let msg = occ.next(10).await.expect("an event");
    let removed = &msg["payload"]["data"]["occurrencesChanged"]["removed"];
    assert_eq!(removed.as_array().map(Vec::len), Some(1), "{msg}");
    assert_eq!(removed[0], added[1]["id"]);
    // Subscribing to another organization's or a missing calendar is refused.
    let mut bad = WsSubscription::start(
        &app.url,
        json!({}),
        SERIES_CHANGED,
        json!({ "c": ["cal_0000000000007000800000000000dead"] }),
    )
    .await
    .expect("connected");
    let msg = bad.next(10).await.expect("an error");
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"],
        json!("NOT_FOUND"),
        "{msg}"
    );
    assert_eq!(msg["payload"]["data"], json!(null));
}

async fn a_change_through_one_node_reaches_a_subscriber_on_another(app: TestApp) {
    if app.engine != Engine::Postgres {
        // SQLite is one process by design; the in-process path is covered above.
        return;
    }
    let (peer, _stop) = spawn_peer(&app).await;
    let cal = app.create_calendar("c", "UTC").await;
    let mut sub = WsSubscription::start(&peer, json!({}), SERIES_CHANGED, json!({ "c": [cal] }))
        .await
        .expect("subscribed on node B");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (id, _) = app
        .create_series(
            &cal,
            json!({ "title": "through A", "start": "2026-01-05T09:00:00", "duration": "PT1H" }),
        )
        .await
        .expect("series via node A");
    let msg = sub.next(10).await.expect("node B hears node A's change");
    assert_eq!(
        msg["payload"]["data"]["seriesChanged"]["seriesId"],
        json!(id)
    );
    assert_eq!(
        msg["payload"]["data"]["seriesChanged"]["series"]["title"],
        json!("through A")
    );
}

engine_tests!(
    a_mutation_over_http_reaches_a_websocket_subscriber,
    a_change_through_one_node_reaches_a_subscriber_on_another
);
