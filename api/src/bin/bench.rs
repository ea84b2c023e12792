//! Benchmarks for the expansion engine and the occurrences query, each beside the `rrule` crate
//! doing the same work in the same run. Run in release:
//!
//!     cargo run --release -p almanac-api --bin almanac-bench
//!
//! Prints a Markdown table (the one in BENCHMARKS.md). Figures are medians of repeated runs on
//! one core; nothing here asserts a time.

use almanac_domain::occurrence::occurrences_page;
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::series::{Series, SeriesKind};
use almanac_domain::time::TimeWindow;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ZONE: chrono_tz::Tz = chrono_tz::America::New_York;

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").expect("bench date")
}

fn schedule(start: &str, rule: &str) -> Schedule {
    let rec = Recurrence::parse(Some(rule), vec![], vec![]).expect("rule");
    Schedule::new(
        local(start),
        ZONE,
        Length::Duration {
            days: 0,
            seconds: 1800,
        },
        false,
        Some(rec),
    )
    .expect("schedule")
}

fn crate_set(start: &str, rule: &str) -> rrule::RRuleSet {
    format!(
        "DTSTART;TZID=America/New_York:{}\nRRULE:{rule}",
        local(start).format("%Y%m%dT%H%M%S")
    )
    .parse()
    .expect("rrule crate parses")
}

/// Median wall time of `f` over enough runs to fill ~0.3 s (at least 5).
fn median<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut times = Vec::new();
    let budget = Instant::now();
    while times.len() < 5 || (budget.elapsed() < Duration::from_millis(300) && times.len() < 10_000)
    {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("date")
}

fn fmt_d(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

struct Row {
    what: String,
    ours: String,
    theirs: String,
    note: String,
}

fn main() {
    let mut rows = Vec::new();

    // `almanac-bench sync` (or expansion, availability, http) runs only those sections.
    const SECTIONS: [&str; 5] = ["expansion", "availability", "http", "sync", "abuse"];
    let sections: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = sections.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        eprintln!(
            "unknown section {unknown:?}; sections: {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let wants = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);

    if wants("expansion") {
        // 1. Throughput: all occurrences of a 10-year daily series and a weekly MO,WE,FR series.
        for (name, rule) in [
            ("daily, 10 years", "FREQ=DAILY;UNTIL=20351231T235959Z"),
            (
                "weekly MO,WE,FR, 10 years",
                "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20351231T235959Z",
            ),
        ] {
            let s = schedule("2026-01-01T09:00:00", rule);
            let set = crate_set("2026-01-01T09:00:00", rule);
            let n = s.instances_from(i64::MIN).count();
            let ours = median(|| s.instances_from(i64::MIN).count());
            let theirs = median(|| set.clone().all(u16::MAX).dates.len());
            let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;
            rows.push(Row {
                what: format!("expand {name} ({n} occurrences)"),
                ours: format!("{} ({:.1} M occ/s)", fmt_d(ours), rate(ours)),
                theirs: format!("{} ({:.2} M occ/s)", fmt_d(theirs), rate(theirs)),
                note: "target ≥ 10 M occ/s per core".into(),
            });
        }

        // 2. Distance: a one-month window 1, 10 and 50 years after DTSTART.
        let rule = "FREQ=WEEKLY;BYDAY=MO,WE,FR";
        let s = schedule("2026-01-01T09:00:00", rule);
        let set = crate_set("2026-01-01T09:00:00", rule);
        let mut base = None;
        for years in [1, 10, 50] {
            let from = utc(2026 + years, 3, 1);
            let to = utc(2026 + years, 4, 1);
            let (f, t) = (from.timestamp(), to.timestamp());
            let ours = median(|| s.starts_between(f, t).len());
            let (cf, ct) = (
                from.with_timezone(&rrule::Tz::UTC),
                to.with_timezone(&rrule::Tz::UTC),
            );
            let theirs = median(|| set.clone().after(cf).before(ct).all(u16::MAX).dates.len());
            let ratio = match base {
                None => {
                    base = Some(ours);
                    "baseline".to_string()
                }
                Some(b) => format!(
                    "{:.2}× the +1-year window (target ≤ 1.5×)",
                    ours.as_secs_f64() / b.as_secs_f64()
                ),
            };
            rows.push(Row {
                what: format!("one-month window, {years} year(s) after DTSTART, weekly MO,WE,FR"),
                ours: fmt_d(ours),
                theirs: fmt_d(theirs),
                note: ratio,
            });
        }
        let minutely = schedule("2026-01-01T00:00:00", "FREQ=MINUTELY");
        let mset = crate_set("2026-01-01T00:00:00", "FREQ=MINUTELY");
        let (f, t) = (
            utc(2031, 3, 1).timestamp(),
            utc(2031, 3, 1).timestamp() + 3600,
        );
        let ours = median(|| minutely.starts_between(f, t).len());
        let (cf, ct) = (
            utc(2031, 3, 1).with_timezone(&rrule::Tz::UTC),
            (utc(2031, 3, 1) + chrono::Duration::hours(1)).with_timezone(&rrule::Tz::UTC),
        );
        let t0 = Instant::now();
        let n_theirs = mset.clone().after(cf).before(ct).all(u16::MAX).dates.len();
        let theirs = t0.elapsed();
        rows.push(Row {
            what: "one-hour window of FREQ=MINUTELY, 5 years after DTSTART".into(),
            ours: fmt_d(ours),
            theirs: format!("{} (one run; {n_theirs} results)", fmt_d(theirs)),
            note: "the crate replays from DTSTART".into(),
        });

        // 3. A calendar of 1,000 weekly series over one month, in-process.
        let org = OrganizationId::DEFAULT;
        let cal = CalendarId::from_uuid(uuid::Uuid::now_v7());
        let days = ["MO", "TU", "WE", "TH", "FR"];
        let series: Vec<Series> = (0..1000)
            .map(|i| {
                let start = format!(
                    "2026-01-{:02}T{:02}:{:02}:00",
                    1 + i % 28,
                    7 + i % 10,
                    (i * 7) % 60
                );
                let rule = format!("FREQ=WEEKLY;BYDAY={}", days[i % 5]);
                Series::new(
                    SeriesId::from_uuid(uuid::Uuid::now_v7()),
                    org,
                    cal,
                    SeriesKind::Event,
                    format!("s{i}"),
                    None,
                    schedule(&start, &rule),
                    1,
                )
            })
            .collect();
        let window = TimeWindow::new(utc(2026, 6, 1), utc(2026, 7, 1)).expect("window");
        let total = occurrences_page(series.iter(), window, None, usize::MAX, false)
            .occurrences
            .len();
        let ours = median(|| {
            occurrences_page(series.iter(), window, None, usize::MAX, false)
                .occurrences
                .len()
        });
        let sets: Vec<rrule::RRuleSet> = (0..1000)
            .map(|i| {
                crate_set(
                    &format!(
                        "2026-01-{:02}T{:02}:{:02}:00",
                        1 + i % 28,
                        7 + i % 10,
                        (i * 7) % 60
                    ),
                    &format!("FREQ=WEEKLY;BYDAY={}", days[i % 5]),
                )
            })
            .collect();
        let (cf, ct) = (
            utc(2026, 6, 1).with_timezone(&rrule::Tz::UTC),
            utc(2026, 7, 1).with_timezone(&rrule::Tz::UTC),
        );
        let theirs = median(|| {
            let mut all: Vec<_> = sets
                .iter()
                .flat_map(|s| s.clone().after(cf).before(ct).all(u16::MAX).dates)
                .collect();
            all.sort();
            all.len()
        });
        rows.push(Row {
            what: format!("1,000 weekly series, one month, merged and ordered ({total} occurrences), in-process"),
            ours: fmt_d(ours),
            theirs: format!("{} (expand + sort, no merge by series)", fmt_d(theirs)),
            note: "target ≤ 5 ms".into(),
        });
    }

    if wants("availability") {
        // 4. Availability: bookable slots for 50 calendars × 200 series over a month, and free/busy for
        //    500 calendars over a week (in-process: expansion, busy merge, slot search).
        rows.extend(availability_rows());
    }

    if wants("http") {
        // 5. The same calendar through GraphQL over HTTP, on the embedded SQLite store.
        let http = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(http_bench());
        rows.push(http);
    }

    if wants("sync") {
        // 6. Sync: the first push of a 1,000-series calendar to each provider emulator, and the full
        //    pull of it into an empty calendar (over loopback HTTP, SQLite store).
        let sync_rows = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(sync_bench());
        rows.extend(sync_rows);
    }

    if wants("abuse") {
        // 7. Hostile requests: each one's time over loopback and the server's peak RSS growth, beside
        //    a trivial query measured in the same run, and the trivial query's p99 while four
        //    hostile requests run at once.
        let abuse = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(abuse_bench());
        rows.extend(abuse);
    }

    println!("| measurement | Almanac | `rrule` crate 0.14, same work | note |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r.what, r.ours, r.theirs, r.note);
    }
}

fn calendar_of(
    n_series: usize,
    seed: usize,
) -> (almanac_domain::availability::CalendarRules, Vec<Series>) {
    use almanac_domain::availability::{AvailabilityMode, CalendarRules, WorkingHours};
    let cal = CalendarId::from_uuid(uuid::Uuid::now_v7());
    let days = ["MO", "TU", "WE", "TH", "FR"];
    let series = (0..n_series)
        .map(|i| {
            let k = i + seed * 7;
            let start = format!(
                "2026-01-{:02}T{:02}:{:02}:00",
                1 + k % 28,
                8 + k % 9,
                (k * 15) % 60
            );
            // A realistic mix: a third weekly (every 2–4 weeks), two thirds monthly.
            let rule = if k.is_multiple_of(3) {
                format!(
                    "FREQ=WEEKLY;INTERVAL={};BYDAY={}",
                    2 + k % 3,
                    days[(k / 3) % 5]
                )
            } else {
                format!("FREQ=MONTHLY;BYMONTHDAY={}", 1 + (k * 7) % 28)
            };
            Series::new(
                SeriesId::from_uuid(uuid::Uuid::now_v7()),
                OrganizationId::DEFAULT,
                cal,
                if k.is_multiple_of(7) {
                    SeriesKind::Blocked
                } else {
                    SeriesKind::Event
                },
                format!("s{i}"),
                None,
                schedule(&start, &rule),
                1,
            )
        })
        .collect();
    let rules = CalendarRules {
        calendar: cal,
        zone: ZONE,
        mode: AvailabilityMode::Default {
            working_hours: Some(WorkingHours::parse("MO,TU,WE,TH,FR 09:00-17:00").expect("hours")),
        },
    };
    (rules, series)
}

fn availability_rows() -> Vec<Row> {
    use almanac_domain::availability::{
        slots, BusyOptions, CalendarTime, Interval, SlotMode, SlotRules,
    };
    let opts = BusyOptions {
        tentative_is_busy: true,
    };
    let month = TimeWindow::new(utc(2026, 6, 1), utc(2026, 7, 1)).expect("window");
    let cals: Vec<_> = (0..50).map(|c| calendar_of(200, c)).collect();
    let rules = |mode| SlotRules {
        duration: 1800,
        step: 900,
        buffer_before: 600,
        buffer_after: 600,
        notice: 0,
        horizon: 60 * 86_400,
        now: utc(2026, 5, 31).timestamp(),
        zone: ZONE,
        mode,
        range: Interval {
            start: month.from().timestamp(),
            end: month.to().timestamp(),
        },
    };
    let mut rows = Vec::new();
    for (mode, name) in [(SlotMode::Any, "ANY"), (SlotMode::All, "ALL")] {
        let r = rules(mode);
        let mut found = 0;
        let d = median(|| {
            let times: Vec<CalendarTime> = cals
                .iter()
                .map(|(c, s)| CalendarTime::compute(c, &s.iter().collect::<Vec<_>>(), month, opts))
                .collect();
            let (v, _) = slots(&times, &r, usize::MAX);
            found = v.len();
            found
        });
        rows.push(Row {
            what: format!("bookable slots, 50 calendars × 200 series (weekly every 2–4 weeks, monthly), one month, 30-min slots every 15 min, 10-min buffers, working hours, {name} ({found} slots)"),
            ours: fmt_d(d),
            theirs: "—".into(),
            note: "target ≤ 20 ms in-process".into(),
        });
    }
    let week = TimeWindow::new(utc(2026, 6, 1), utc(2026, 6, 8)).expect("window");
    let many: Vec<_> = (0..500).map(|c| calendar_of(20, c)).collect();
    let d = median(|| {
        let times: Vec<CalendarTime> = many
            .iter()
            .map(|(c, s)| CalendarTime::compute(c, &s.iter().collect::<Vec<_>>(), week, opts))
            .collect();
        almanac_domain::availability::union(
            times
                .iter()
                .flat_map(|t| t.busy_merged.iter().copied())
                .collect(),
        )
        .len()
    });
    rows.push(Row {
        what: "free/busy, 500 calendars × 20 series, one week, per calendar and combined".into(),
        ours: fmt_d(d),
        theirs: "—".into(),
        note: "".into(),
    });
    rows
}

async fn http_bench() -> Row {
    let server = BenchServer::start().await;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let post = |q: serde_json::Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(url)
                .json(&q)
                .send()
                .await
                .expect("post")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let d = post(serde_json::json!({ "query": "mutation { createCalendar(input: {name: \"bench\", timeZone: \"America/New_York\"}) { calendar { id } } }" })).await;
    let cal = d["data"]["createCalendar"]["calendar"]["id"]
        .as_str()
        .expect("cal")
        .to_string();
    let days = ["MO", "TU", "WE", "TH", "FR"];
    for i in 0..1000 {
        let input = serde_json::json!({
            "calendarId": cal, "title": format!("s{i}"),
            "start": format!("2026-01-{:02}T{:02}:{:02}:00", 1 + i % 28, 7 + i % 10, (i * 7) % 60),
            "duration": "PT30M", "recurrence": { "rrule": format!("FREQ=WEEKLY;BYDAY={}", days[i % 5]) }
        });
        post(serde_json::json!({ "query": "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } } }", "variables": { "i": input } })).await;
    }
    let query = serde_json::json!({
        "query": "query($c: [ID!]!) { occurrences(calendarIds: $c, from: \"2026-06-01T00:00:00Z\", to: \"2026-07-01T00:00:00Z\", first: 1000) { edges { node { id start end title } } pageInfo { hasNextPage } } }",
        "variables": { "c": [cal] }
    });
    let n = post(query.clone()).await["data"]["occurrences"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        black_box(post(query.clone()).await);
        times.push(t.elapsed());
    }
    times.sort();
    server.stop();
    Row {
        what: format!("the same calendar as a GraphQL HTTP query on SQLite (first page: {n} occurrences, with id/start/end/title)"),
        ours: format!("{} median, {} p90", fmt_d(times[15]), fmt_d(times[27])),
        theirs: "—".into(),
        note: "load + expand + merge + JSON over loopback".into(),
    }
}

async fn sync_bench() -> Vec<Row> {
    use almanac_api::config::Settings;
    use almanac_api::startup::Application;
    use almanac_api::store::sync::{ConnectionRecord, ConnectionState, Provider};
    use almanac_api::sync::links::create_link;
    use almanac_api::sync::rounds::run_round;
    use almanac_domain::ids::ConnectionId;
    use almanac_emulators::google::{GoogleEmulator, GoogleEmulatorConfig, Quotas};
    use almanac_emulators::outlook::{OutlookEmulator, OutlookEmulatorConfig, Throttling};
    use almanac_providers::sync::engine::Direction;

    let google = GoogleEmulator::start(GoogleEmulatorConfig::default())
        .await
        .expect("google emulator");
    google.set_quotas(Quotas::unlimited());
    let outlook = OutlookEmulator::start(OutlookEmulatorConfig::default())
        .await
        .expect("outlook emulator");
    outlook.set_throttling(Throttling::unlimited());
    let account = "bench@example.com";
    google.add_account(account);
    outlook.add_account(account);
    let path = std::env::temp_dir().join(format!(
        "almanac-bench-sync-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let mut settings = Settings::for_tests(format!("sqlite:{}", path.display()));
    settings.sync.google_api_url = google.base_url();
    settings.sync.graph_api_url = outlook.base_url();
    settings.sync.outlook_window_past_days = 3650;
    settings.sync.outlook_window_future_days = 3650;
    settings.sync.provider_timeout_ms = 20_000;
    let app = Application::build(settings).await.expect("app");
    let state = app.state().clone();
    let org = OrganizationId::DEFAULT;
    let mut rows = Vec::new();
    for (kind, access) in [
        (Provider::Google, google.issue_tokens(account).access_token),
        (
            Provider::Outlook,
            outlook.issue_tokens(account).access_token,
        ),
    ] {
        let provider = kind.as_str();
        let connection = ConnectionRecord {
            id: ConnectionId::from_uuid(uuid::Uuid::now_v7()),
            organization_id: org,
            user_id: None,
            provider: kind,
            account: account.into(),
            state: ConnectionState::Active,
            access_token: Some(state.sync.sealer.seal(&access)),
            refresh_token: None,
            access_expires_at: Some(chrono::Utc::now().timestamp() + 3000),
            token_version: 0,
            last_error: None,
            created_at: 0,
        };
        let con = state
            .store
            .upsert_connection(&connection)
            .await
            .expect("connection");
        let cal = almanac_api::services::calendars::create(
            &state,
            org,
            almanac_api::services::calendars::NewCalendar {
                name: provider.into(),
                time_zone: "America/New_York".into(),
                availability: None,
            },
        )
        .await
        .expect("calendar");
        for i in 0..1000 {
            let start = local(&format!(
                "2027-01-{:02}T{:02}:{:02}:00",
                1 + i % 28,
                7 + i % 10,
                (i * 7) % 60
            ));
            let rule = "FREQ=WEEKLY;COUNT=20";
            let schedule = Schedule::new(
                start,
                chrono_tz::America::New_York,
                Length::Duration {
                    days: 0,
                    seconds: 1800,
                },
                false,
                Some(Recurrence::parse(Some(rule), vec![], vec![]).expect("rule")),
            )
            .expect("schedule");
            let series = Series::new(
                SeriesId::from_uuid(uuid::Uuid::now_v7()),
                org,
                cal.id,
                SeriesKind::Event,
                format!("s{i}"),
                None,
                schedule,
                1,
            );
            state.store.insert_series(&series).await.expect("series");
        }
        let remote = if provider == "google" {
            account
        } else {
            "primary"
        };
        let link = create_link(
            &state,
            org,
            cal.id,
            &con.to_string(),
            remote,
            Direction::PushOnly,
        )
        .await
        .expect("link");
        // Rounds push at most 500 series each; the first push of this calendar takes two.
        let t = Instant::now();
        let mut pushed = 0;
        while state
            .store
            .pending_pushes(org, link.id)
            .await
            .expect("pending")
            > 0
        {
            let report = run_round(&state, &link).await;
            assert!(report.error.is_none(), "{provider}: {report:?}");
            pushed += report.push.pushed;
        }
        let push = t.elapsed();
        assert_eq!(pushed, 1000, "{provider}");
        let mirror = almanac_api::services::calendars::create(
            &state,
            org,
            almanac_api::services::calendars::NewCalendar {
                name: format!("{provider} mirror"),
                time_zone: "America/New_York".into(),
                availability: None,
            },
        )
        .await
        .expect("calendar");
        let mirror_link = create_link(
            &state,
            org,
            mirror.id,
            &con.to_string(),
            remote,
            Direction::PullOnly,
        )
        .await
        .expect("link");
        let t = Instant::now();
        let report = run_round(&state, &mirror_link).await;
        let pull = t.elapsed();
        assert!(
            report.error.is_none() && report.pull.created == 1000,
            "{provider}: {report:?}"
        );
        rows.push(Row {
            what: format!("first push of 1,000 weekly series (COUNT=20) to the {provider} emulator, then a full pull of them into an empty calendar"),
            ours: format!("push {} ({:.0} series/s), pull {} ({:.0} series/s)", fmt_d(push), 1000.0 / push.as_secs_f64(), fmt_d(pull), 1000.0 / pull.as_secs_f64()),
            theirs: "—".into(),
            note: match provider {
                "outlook" => "one run; loopback, SQLite store; master reads 4 at a time (Graph's per-mailbox limit)",
                _ => "one run; sequential requests over loopback, SQLite store",
            }
            .into(),
        });
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    rows
}

/// The process's resident set (`VmRSS`) and its peak since the last reset (`VmHWM`), in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5), so a peak is the peak of what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn abuse_bench() -> Vec<Row> {
    use serde_json::{json, Value};
    let server = BenchServer::start().await;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let post = move |q: Value| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(url)
                .json(&q)
                .send()
                .await
                .expect("post")
                .json::<Value>()
                .await
                .unwrap_or(Value::Null)
        }
    };
    let cal = post(json!({ "query": "mutation { createCalendar(input: {name: \"abuse\", timeZone: \"UTC\"}) { calendar { id } } }" })).await["data"]["createCalendar"]["calendar"]["id"].as_str().expect("cal").to_string();
    // A MINUTELY series: a month of it is 43,200 occurrences, what the nested-list query multiplies.
    post(json!({ "query": "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } } }", "variables": { "i": { "calendarId": cal, "title": "m", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": "FREQ=MINUTELY" } } } })).await;
    let window = "from: \"2026-06-01T00:00:00Z\", to: \"2026-07-01T00:00:00Z\"";
    let nested = format!("{{ occurrences(calendarIds: [\"{cal}\"], {window}, first: 1000) {{ edges {{ node {{ series {{ occurrences({window}, first: 1000) {{ edges {{ node {{ id }} }} }} }} }} }} }} }}");
    let deeper = format!("{{ occurrences(calendarIds: [\"{cal}\"], {window}, first: 1000) {{ edges {{ node {{ series {{ occurrences({window}, first: 1000) {{ edges {{ node {{ series {{ occurrences({window}, first: 1000) {{ edges {{ node {{ id }} }} }} }} }} }} }} }} }} }} }} }}");
    let doubling = |n: usize| {
        let mut doc =
            String::from("query { ...F0 }\nfragment F0 on Query { viewer { canWrite } }\n");
        for i in 1..=n {
            doc.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i - 1,
                i - 1
            ));
        }
        doc.replacen("...F0 }", &format!("...F{n} }}"), 1)
    };
    let heavy_rule = "FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11;COUNT=1000000";
    let heavy_series = json!({ "query": "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } userErrors { code } } }", "variables": { "i": { "calendarId": cal, "title": "heavy", "start": "2026-01-01T00:00:00", "duration": "PT1M", "recurrence": { "rrule": heavy_rule } } } });
    let vevents: String = (0..10).map(|i| format!("BEGIN:VEVENT\r\nUID:heavy-{i}@bench\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDTEND:20260101T000100Z\r\nSUMMARY:heavy\r\nRRULE:FREQ=SECONDLY;INTERVAL=7;BYHOUR=3;BYMINUTE=7;BYSECOND=11;COUNT=100000\r\nEND:VEVENT\r\n")).collect();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{vevents}END:VCALENDAR\r\n"
    );
    let import = json!({ "query": "mutation($i: ImportIcsInput!) { importIcs(input: $i) { skipped { reason } userErrors { code } } }", "variables": { "i": { "calendarId": cal, "ics": ics } } });
    let far_upcoming = {
        let id = post(json!({ "query": "mutation($i: CreateSeriesInput!) { createSeries(input: $i) { series { id } } }", "variables": { "i": { "calendarId": cal, "title": "far", "start": "2500-01-01T09:00:00", "duration": "PT1H", "recurrence": { "rrule": "FREQ=YEARLY" } } } })).await["data"]["createSeries"]["series"]["id"].clone();
        json!({ "query": "query($s: ID!) { upcomingOccurrences(seriesId: $s, from: \"1000-01-01T00:00:00Z\", first: 3) { edges { node { start } } pageInfo { hasNextPage } } }", "variables": { "s": id } })
    };
    let trivial = json!({ "query": "{ viewer { canWrite } }" });
    let cases: Vec<(&str, Value)> = vec![
        ("trivial query `{ viewer { canWrite } }`", trivial.clone()),
        (
            "nested-list query (266 bytes; 10^6 nodes before)",
            json!({ "query": nested }),
        ),
        ("the same one level deeper", json!({ "query": deeper })),
        (
            "doubling fragments, 2^20 spreads",
            json!({ "query": doubling(20) }),
        ),
        (
            "doubling fragments, 2^25 spreads",
            json!({ "query": doubling(25) }),
        ),
        (
            "createSeries with a sparse SECONDLY rule, COUNT=1000000",
            heavy_series.clone(),
        ),
        ("importIcs, ten sparse VEVENTs with COUNT=100000", import),
        (
            "upcomingOccurrences of a YEARLY series from 2500, asked from the year 1000",
            far_upcoming,
        ),
    ];
    let mut rows = Vec::new();
    for (what, body) in &cases {
        let mut times = Vec::new();
        let mut peak = 0u64;
        let mut answer = Value::Null;
        for _ in 0..5 {
            reset_peak_rss();
            let (before, _) = rss_kib();
            let t = Instant::now();
            answer = post(body.clone()).await;
            times.push(t.elapsed());
            peak = peak.max(rss_kib().1.saturating_sub(before));
        }
        times.sort();
        let code = answer["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                answer
                    .pointer("/data/createSeries/userErrors/0/code")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let outcome = match code {
            Some(c) => format!("refused: {c}"),
            None if answer.pointer("/data/importIcs/skipped").is_some() => format!(
                "{} of 10 skipped",
                answer["data"]["importIcs"]["skipped"]
                    .as_array()
                    .map_or(0, Vec::len)
            ),
            None => "answered".into(),
        };
        rows.push(Row {
            what: format!("abuse: {what}"),
            ours: format!(
                "{} median of 5, peak RSS +{:.1} MB",
                fmt_d(times[2]),
                peak as f64 / 1024.0
            ),
            theirs: "—".into(),
            note: outcome,
        });
    }
    // The trivial query's p99 alone, then while four hostile requests run at once, over and over.
    let p99 = |mut v: Vec<Duration>| {
        v.sort();
        v[(v.len() * 99 / 100).min(v.len() - 1)]
    };
    let mut alone = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        post(trivial.clone()).await;
        alone.push(t.elapsed());
    }
    let stop_hostile = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hostile: Vec<_> = [
        heavy_series.clone(),
        json!({ "query": cases[1].1["query"].clone() }),
        json!({ "query": doubling(25) }),
        heavy_series,
    ]
    .into_iter()
    .map(|body| {
        let (post, stop) = (post.clone(), stop_hostile.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                post(body.clone()).await;
            }
        })
    })
    .collect();
    let mut loaded = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        post(trivial.clone()).await;
        loaded.push(t.elapsed());
    }
    stop_hostile.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hostile {
        let _ = h.await;
    }
    rows.push(Row {
        what: "abuse: trivial query p99 alone, then while four hostile requests run at once (two heavy createSeries, the nested-list query, 2^25 fragments), 200 each".into(),
        ours: format!("{} alone, {} under load", fmt_d(p99(alone)), fmt_d(p99(loaded))),
        theirs: "—".into(),
        note: "goal: unchanged".into(),
    });
    server.stop();
    rows
}

/// The API in this process on a scratch SQLite file, on port 0 (the HTTP and abuse sections).
struct BenchServer {
    url: String,
    path: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl BenchServer {
    async fn start() -> BenchServer {
        use almanac_api::config::Settings;
        use almanac_api::startup::Application;
        let path = std::env::temp_dir().join(format!(
            "almanac-bench-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let app = Application::build(Settings::for_tests(format!("sqlite:{}", path.display())))
            .await
            .expect("app");
        let url = format!("http://127.0.0.1:{}/graphql", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        BenchServer { url, path, stop }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}
