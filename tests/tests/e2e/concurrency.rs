//! Many clients doing read-modify-write on one series: every acknowledged edit is reflected, and
//! stale writes are rejected, never merged.

use almanac_e2e::{engine_tests, TestApp};
use serde_json::{json, Value};

const CLIENTS: usize = 32;
const EDITS_PER_CLIENT: usize = 100;

async fn thirty_two_clients_editing_one_series_lose_no_update(app: TestApp) {
    let cal = app.create_calendar("c", "UTC").await;
    let (series, _) = app
        .create_series(&cal, json!({ "title": "0", "start": "2026-01-05T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=DAILY" } }))
        .await
        .expect("series");
    let url = format!("{}/graphql", app.url);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let http = app.http.clone();
        let (url, series) = (url.clone(), series.clone());
        clients.push(tokio::spawn(async move {
            let post = |q: &str, v: Value| {
                let http = http.clone();
                let url = url.clone();
                let body = json!({ "query": q, "variables": v });
                async move { http.post(url).json(&body).send().await.expect("sent").json::<Value>().await.expect("json") }
            };
            let (mut acknowledged, mut rejected) = (0usize, 0usize);
            for i in 0..EDITS_PER_CLIENT {
                // Read the counter, write counter + 1 under the version read. Half the edits go
                // through the occurrence dialog (scope ALL), half through updateSeries.
                let s = post("query($id: ID!) { series(id: $id) { title version } }", json!({ "id": series })).await;
                let n: u64 = s["data"]["series"]["title"].as_str().and_then(|t| t.parse().ok()).expect("counter");
                let v = s["data"]["series"]["version"].as_i64().expect("version");
                let body = if (client + i) % 2 == 0 {
                    post("mutation($i: UpdateSeriesInput!) { updateSeries(input: $i) { series { version } } }", json!({ "i": { "id": series, "expectedVersion": v, "title": (n + 1).to_string() } })).await
                } else {
                    post(
                        "mutation($i: EditOccurrenceInput!) { editOccurrence(input: $i) { series { version } } }",
                        json!({ "i": { "occurrence": { "seriesId": series, "recurrenceId": "2026-01-05T09:00:00Z" }, "scope": "ALL", "expectedVersion": v, "changes": { "title": (n + 1).to_string() } } }),
                    )
                    .await
                };
                match body["errors"][0]["extensions"]["code"].as_str() {
                    None => acknowledged += 1,
                    Some("CONFLICT") => rejected += 1,
                    Some(other) => panic!("unexpected {other}: {body}"),
                }
            }
            (acknowledged, rejected)
        }));
    }
    let (mut acknowledged, mut rejected) = (0, 0);
    for c in clients {
        let (a, r) = c.await.expect("client");
        acknowledged += a;
        rejected += r;
    }
    assert_eq!(acknowledged + rejected, CLIENTS * EDITS_PER_CLIENT);
    assert!(acknowledged > 0);
    let d = app
        .ok(
            "query($id: ID!) { series(id: $id) { title version } }",
            json!({ "id": series }),
        )
        .await;
    assert_eq!(
        d["series"]["title"],
        json!(acknowledged.to_string()),
        "every acknowledged increment is in the counter, and nothing else"
    );
    assert_eq!(
        d["series"]["version"],
        json!(1 + acknowledged as i64),
        "one version per acknowledged edit"
    );
    eprintln!(
        "{:?}: {acknowledged} acknowledged, {rejected} rejected as stale",
        app.engine
    );
}

engine_tests!(thirty_two_clients_editing_one_series_lose_no_update);
