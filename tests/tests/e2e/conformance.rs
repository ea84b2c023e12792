//! Every case of the shared RRULE corpus (`tests/data/conformance`), through the GraphQL API:
//! create the series, query the window, compare instants exactly.
//!
//! The corpus leaves out sub-daily rules across DST changes (engines once split on them). Those
//! are checked against python-dateutil itself, run by the test: `tests/rrule-oracle/dst-cases.json`
//! (HOURLY, MINUTELY and SECONDLY through spring-forward and fall-back in New York and Sydney,
//! with INTERVAL, BYHOUR/BYMINUTE/BYSECOND, COUNT and UNTIL) is expanded by
//! `tests/rrule-oracle/expand.py` in a virtualenv under the target directory
//! (`rrule-oracle-venv`, pinned by `tests/rrule-oracle/requirements.txt`, created on first use).
//! Without python3, venv or network access for that first install the test fails: it never skips.

use almanac_e2e::{engine_tests, TestApp};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

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
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/conformance/rrule-cases.json"
    ))
    .expect("corpus");
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
            Err(e)
                if e.code == "RECURRENCE_INVALID"
                    && c.expected.is_empty()
                    && e.message.contains("never") =>
            {
                continue
            }
            Err(e) => {
                failures.push(format!(
                    "{}: createSeries failed: {} {}",
                    c.id, e.code, e.message
                ));
                continue;
            }
        }
        let got = app.starts_utc(&cal, &c.window_start, &c.window_end).await;
        if got != c.expected {
            failures.push(format!(
                "{} ({}):\n  expected {:?}\n  got      {:?}",
                c.id, c.rrule, c.expected, got
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

#[derive(Deserialize)]
struct DstCase {
    id: String,
    dtstart: String,
    tzid: String,
    duration_seconds: i64,
    rrule: String,
    window_start: String,
    window_end: String,
}

/// python-dateutil's occurrences per case: distinct UTC instants overlapping the window, sorted.
fn dateutil_expansion(cases_json: &str) -> BTreeMap<String, Vec<String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rrule-oracle/expand.py");
    // An empty PYTHONTZPATH makes zoneinfo read the pinned `tzdata` package, not the system's.
    let mut child = Command::new(almanac_e2e::oracle_python("rrule-oracle"))
        .arg(script)
        .env("PYTHONTZPATH", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the RRULE oracle");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cases_json.as_bytes())
        .expect("feed the oracle");
    let out = child.wait_with_output().expect("the oracle's output");
    assert!(
        out.status.success(),
        "the oracle failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the oracle prints JSON")
}

async fn sub_daily_rules_through_dst_agree_with_python_dateutil(app: TestApp) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rrule-oracle/dst-cases.json"
    ))
    .expect("cases");
    let cases: Vec<DstCase> = serde_json::from_str(&text).expect("cases json");
    let expected = dateutil_expansion(&text);
    assert_eq!(
        expected.len(),
        cases.len(),
        "the oracle answered every case"
    );
    for freq in ["HOURLY", "MINUTELY", "SECONDLY"] {
        for zone in ["America/New_York", "Australia/Sydney"] {
            let n = cases
                .iter()
                .filter(|c| c.rrule.contains(&format!("FREQ={freq}")) && c.tzid == zone)
                .count();
            assert!(n >= 4, "{freq} in {zone}: only {n} cases");
        }
    }
    let mut failures = Vec::new();
    for c in &cases {
        let want = &expected[&c.id];
        assert!(
            !want.is_empty(),
            "{}: the oracle found no occurrence; the case tests nothing",
            c.id
        );
        let cal = app.create_calendar(&c.id, &c.tzid).await;
        let input = json!({
            "title": c.id,
            "start": c.dtstart,
            "timeZone": c.tzid,
            "duration": format!("PT{}S", c.duration_seconds),
            "recurrence": { "rrule": c.rrule },
        });
        if let Err(e) = app.create_series(&cal, input).await {
            failures.push(format!(
                "{}: createSeries failed: {} {}",
                c.id, e.code, e.message
            ));
            continue;
        }
        // Instants are compared after parsing (`starts_utc` rewrites each in UTC), whatever
        // offset notation the API writes.
        let got = app.starts_utc(&cal, &c.window_start, &c.window_end).await;
        if &got != want {
            failures.push(format!(
                "{} ({} from {} {}):\n  dateutil {:?}\n  almanac  {:?}",
                c.id, c.rrule, c.dtstart, c.tzid, want, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with python-dateutil:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

engine_tests!(
    every_corpus_case_matches_through_graphql,
    sub_daily_rules_through_dst_agree_with_python_dateutil
);
