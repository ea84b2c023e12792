//! Every case of the shared RRULE corpus (`tests/data/conformance`), through the GraphQL API:
//! create the series, query the window, compare instants exactly.

use almanac_e2e::{engine_tests, TestApp};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Case {
    id: String,
    dtstart: String,
    tzid: String,
    duration_seconds: i64,
    rrule: String,
    exdates: Vec<String>,
    rdates: Vec<String>,
    window_start: String,
    window_end: String,
    expected: Vec<String>,
}

async fn every_corpus_case_matches_through_graphql(app: TestApp) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/conformance/rrule-cases.json")).expect("corpus");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("corpus json");
    assert!(cases.len() >= 184, "the corpus shrank: {}", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let cal = app.create_calendar(&c.id, &c.tzid).await;
        let input = json!({
            "title": c.id,
            "start": c.dtstart,
            "timeZone": c.tzid,
            "duration": format!("PT{}S", c.duration_seconds),
            "recurrence": { "rrule": c.rrule, "rdates": c.rdates, "exdates": c.exdates },
        });
        match app.create_series(&cal, input).await {
            Ok(_) => {}
            // A rule that can never produce an occurrence is refused; the corpus expects none.
            Err(e) if e.code == "RECURRENCE_INVALID" && c.expected.is_empty() && e.message.contains("never") => continue,
            Err(e) => {
                failures.push(format!("{}: createSeries failed: {} {}", c.id, e.code, e.message));
                continue;
            }
        }
        let got = app.starts_utc(&cal, &c.window_start, &c.window_end).await;
        if got != c.expected {
            failures.push(format!("{} ({}):\n  expected {:?}\n  got      {:?}", c.id, c.rrule, c.expected, got));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

engine_tests!(every_corpus_case_matches_through_graphql);
