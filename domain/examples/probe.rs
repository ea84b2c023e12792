use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use chrono::NaiveDateTime;
use std::time::Instant;
fn main() {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let start = NaiveDateTime::parse_from_str("2026-01-01T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
    for rule in ["FREQ=DAILY;UNTIL=20351231T235959Z", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=DAILY"] {
        let s = Schedule::new(start, tz, Length::Duration{days:0,seconds:3600}, false, Some(Recurrence::parse(Some(rule), vec![], vec![]).unwrap())).unwrap();
        let from = start.and_utc().timestamp() - 86400; let to = from + 10*366*86400;
        let t = Instant::now(); let mut n = 0;
        for _ in 0..20 { n += s.starts_between(from, to).len(); }
        let el = t.elapsed(); println!("{rule}: {} occ, {:.1} M/s", n/20, n as f64 / el.as_secs_f64() / 1e6);
        for years in [1i64, 10, 50] {
            let f = from + years * 365 * 86400; let t = Instant::now(); let mut n=0;
            for _ in 0..1000 { n += s.starts_between(f, f + 31*86400).len(); }
            println!("  +{years}y month: {:.2} us ({} occ)", t.elapsed().as_secs_f64()*1e6/1000.0, n/1000);
        }
    }
}
