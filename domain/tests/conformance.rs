//! The shared RRULE conformance corpus, run against the domain engine directly (the end-to-end
//! suite runs the same cases through GraphQL). Fast feedback for the expansion engine.

use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

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

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("corpus local time")
}

#[test]
fn every_corpus_case_expands_exactly() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/conformance/rrule-cases.json"
    ))
    .expect("corpus");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("corpus json");
    let mut failures = Vec::new();
    for c in &cases {
        let zone: chrono_tz::Tz = c.tzid.parse().expect("zone");
        let rec = Recurrence::parse(
            Some(&c.rrule),
            c.rdates.iter().map(|s| local(s)).collect(),
            c.exdates.iter().map(|s| local(s)).collect(),
        );
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: parse error {e}", c.id));
                continue;
            }
        };
        let schedule = match Schedule::new(
            local(&c.dtstart),
            zone,
            Length::Duration {
                days: 0,
                seconds: c.duration_seconds,
            },
            false,
            Some(rec),
        ) {
            Ok(s) => s,
            // We refuse to store a rule that can never produce an occurrence; the corpus expects
            // no occurrences from it. Both say the same thing.
            Err(almanac_domain::InvalidInput::Recurrence(
                almanac_domain::RecurrenceError::NeverOccurs(_),
            )) if c.expected.is_empty() => continue,
            Err(e) => {
                failures.push(format!("{}: schedule error {e}", c.id));
                continue;
            }
        };
        let from = DateTime::parse_from_rfc3339(&c.window_start)
            .expect("ws")
            .timestamp();
        let to = DateTime::parse_from_rfc3339(&c.window_end)
            .expect("we")
            .timestamp();
        let got: Vec<String> = schedule
            .starts_between(from, to)
            .into_iter()
            .map(|t| {
                DateTime::from_timestamp(t, 0)
                    .expect("t")
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            })
            .collect();
        if got != c.expected {
            failures.push(format!(
                "{} ({} {}):\n  expected {:?}\n  got      {:?}",
                c.id, c.rrule, c.dtstart, c.expected, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
