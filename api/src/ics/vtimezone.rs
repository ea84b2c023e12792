//! VTIMEZONE components generated from the zone database bundled by chrono-tz.
//!
//! RFC 5545 requires a VTIMEZONE for every TZID a document uses. The real transitions of the zone
//! over the span the series use are found by probing its offset (every two days, then bisecting
//! to the second) and written as STANDARD/DAYLIGHT observances; a run of yearly transitions with
//! the same rule ("second Sunday of March at 02:00") becomes one observance with a yearly RRULE,
//! open-ended when the run reaches the end of the span (the rule is still in force), else ending
//! with UNTIL at its last transition.

use super::{fmt_local, fmt_utc, param_value, IcsWriter};
use chrono::{Datelike, NaiveDate, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

/// The probing step. The tz database has no two offset changes less than 6.9 days apart between
/// 1900 and 2100 (see `domain::time::LEARN_STEP_DAYS`, checked by a test there).
const STEP: i64 = 2 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    offset: i32,
    dst: bool,
    name: Option<String>,
}

fn state_at(tz: Tz, utc: i64) -> State {
    let t = almanac_domain::time::instant(utc).naive_utc();
    let off = tz.offset_from_utc_datetime(&t);
    State {
        offset: off.fix().local_minus_utc(),
        dst: off.dst_offset().num_seconds() > 0,
        name: off.abbreviation().map(str::to_string),
    }
}

/// One onset of an offset: at `at` (UTC), from `from` to `to` seconds east of UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Onset {
    at: i64,
    from: i32,
    to: i32,
    dst: bool,
    name: Option<String>,
}

impl Onset {
    /// The local wall-clock time of the onset, in the offset before it (RFC 5545 §3.6.5).
    fn local(&self) -> chrono::NaiveDateTime {
        almanac_domain::time::instant(self.at + i64::from(self.from)).naive_utc()
    }
}

/// The state at `from` and every change in (from, to].
fn onsets(tz: Tz, from: i64, to: i64) -> Vec<Onset> {
    let first = state_at(tz, from);
    let mut out = vec![Onset {
        at: from,
        from: first.offset,
        to: first.offset,
        dst: first.dst,
        name: first.name.clone(),
    }];
    let (mut prev_t, mut prev) = (from, first);
    while prev_t < to {
        let t = (prev_t + STEP).min(to);
        let s = state_at(tz, t);
        if s != prev {
            // prev holds at `lo`, s at `hi`: bisect to the first second of s.
            let (mut lo, mut hi) = (prev_t, t);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if state_at(tz, mid) == prev {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let at_hi = state_at(tz, hi);
            out.push(Onset {
                at: hi,
                from: prev.offset,
                to: at_hi.offset,
                dst: at_hi.dst,
                name: at_hi.name.clone(),
            });
            prev = at_hi;
            prev_t = hi;
            continue;
        }
        prev = s;
        prev_t = t;
    }
    out
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(31, |d| d.day())
}

/// What makes two onsets one yearly rule, apart from which week of the month.
#[derive(PartialEq, Eq)]
struct RuleKey {
    month: u32,
    weekday: chrono::Weekday,
    time: (u32, u32, u32),
    from: i32,
    to: i32,
    dst: bool,
    name: Option<String>,
}

fn rule_key(o: &Onset) -> (i32, RuleKey, i32, i32) {
    let l = o.local();
    let dim = days_in_month(l.year(), l.month()) as i32;
    let day = l.day() as i32;
    let pos = (day - 1) / 7 + 1;
    let neg = -((dim - day) / 7 + 1);
    let key = RuleKey {
        month: l.month(),
        weekday: l.weekday(),
        time: (l.hour(), l.minute(), l.second()),
        from: o.from,
        to: o.to,
        dst: o.dst,
        name: o.name.clone(),
    };
    (l.year(), key, pos, neg)
}

/// An observance to write: its first onset, and the yearly rule that repeats it, if any.
struct Observance {
    first: Onset,
    /// (month, BYDAY ordinal, weekday, UNTIL: `None` = open-ended)
    rule: Option<(u32, i32, chrono::Weekday, Option<i64>)>,
}

fn collapse(all: Vec<Onset>, to: i64) -> Vec<Observance> {
    let mut out: Vec<Observance> = Vec::new();
    // The initial state is its own observance; then runs per kind (standard, daylight).
    let mut rest = all.into_iter();
    if let Some(first) = rest.next() {
        out.push(Observance { first, rule: None });
    }
    let rest: Vec<Onset> = rest.collect();
    for dst in [false, true] {
        let list: Vec<&Onset> = rest.iter().filter(|o| o.dst == dst).collect();
        let mut i = 0;
        while i < list.len() {
            let (year0, key0, pos0, neg0) = rule_key(list[i]);
            let (mut pos_ok, mut neg_ok) = (true, true);
            let mut j = i + 1;
            let mut last_year = year0;
            while j < list.len() {
                let (y, k, p, n) = rule_key(list[j]);
                let (p_ok, n_ok) = (pos_ok && p == pos0, neg_ok && n == neg0);
                if y != last_year + 1 || k != key0 || !(p_ok || n_ok) {
                    break;
                }
                pos_ok = p_ok;
                neg_ok = n_ok;
                last_year = y;
                j += 1;
            }
            let run = &list[i..j];
            let rule = (run.len() >= 2).then(|| {
                // "Last Sunday" reads as -1; otherwise count from the start of the month.
                let ordinal = if neg_ok && (neg0 == -1 || !pos_ok) {
                    neg0
                } else {
                    pos0
                };
                let last = run[run.len() - 1];
                let open = j == list.len() && last.at + 366 * 86_400 >= to;
                (
                    key0.month,
                    ordinal,
                    key0.weekday,
                    (!open).then_some(last.at),
                )
            });
            out.push(Observance {
                first: run[0].clone(),
                rule,
            });
            i = j;
        }
    }
    out.sort_by_key(|o| o.first.at);
    out
}

fn fmt_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

fn weekday_code(w: chrono::Weekday) -> &'static str {
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][w.num_days_from_monday() as usize]
}

/// Writes the VTIMEZONE of `tz` covering the instants [from, to].
pub fn write(w: &mut IcsWriter, tz: Tz, from: i64, to: i64) {
    w.begin("VTIMEZONE");
    w.line("TZID", &param_value(tz.name()));
    w.text("X-LIC-LOCATION", tz.name());
    for o in collapse(onsets(tz, from, to.max(from)), to) {
        let kind = if o.first.dst { "DAYLIGHT" } else { "STANDARD" };
        w.begin(kind);
        w.line("DTSTART", &fmt_local(o.first.local()));
        w.line("TZOFFSETFROM", &fmt_offset(o.first.from));
        w.line("TZOFFSETTO", &fmt_offset(o.first.to));
        if let Some(name) = &o.first.name {
            w.text("TZNAME", name);
        }
        if let Some((month, ordinal, weekday, until)) = o.rule {
            let mut rule = format!(
                "FREQ=YEARLY;BYMONTH={month};BYDAY={ordinal}{}",
                weekday_code(weekday)
            );
            if let Some(u) = until {
                rule.push_str(&format!(";UNTIL={}", fmt_utc(u)));
            }
            w.line("RRULE", &rule);
        }
        w.end(kind);
    }
    w.end("VTIMEZONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp())
            .unwrap_or_default()
    }

    fn render(tz: Tz, from: i64, to: i64) -> String {
        let mut w = IcsWriter::new();
        write(&mut w, tz, from, to);
        w.finish()
    }

    #[test]
    fn new_york_has_its_real_rules() {
        let doc = render(
            chrono_tz::America::New_York,
            ts(2025, 12, 1),
            ts(2029, 1, 1),
        );
        assert!(doc.contains("BEGIN:DAYLIGHT\r\nDTSTART:20260308T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT"), "{doc}");
        assert!(doc.contains("BEGIN:STANDARD\r\nDTSTART:20261101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD"), "{doc}");
    }

    #[test]
    fn berlin_uses_last_sunday_and_kolkata_has_one_observance() {
        let doc = render(chrono_tz::Europe::Berlin, ts(2026, 1, 1), ts(2030, 1, 1));
        assert!(
            doc.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"),
            "{doc}"
        );
        assert!(
            doc.contains("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"),
            "{doc}"
        );
        let doc = render(chrono_tz::Asia::Kolkata, ts(2026, 1, 1), ts(2030, 1, 1));
        assert_eq!(doc.matches("BEGIN:STANDARD").count(), 1, "{doc}");
        assert!(doc.contains("TZOFFSETTO:+0530"), "{doc}");
    }

    #[test]
    fn a_rule_that_stopped_ends_with_until() {
        // The US rules changed in 2007: the old April/October rule ends, the new one is open.
        let doc = render(chrono_tz::America::New_York, ts(2003, 1, 1), ts(2010, 1, 1));
        assert!(
            doc.contains("RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z"),
            "{doc}"
        );
        assert!(
            doc.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"),
            "{doc}"
        );
    }

    /// Every onset the observances describe equals a real transition, and every real transition
    /// in the span is described.
    #[test]
    fn observances_reproduce_the_zone_database() {
        for tz in [
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::Asia::Tehran,
            chrono_tz::Africa::Casablanca,
        ] {
            let (from, to) = (ts(2000, 1, 1), ts(2035, 1, 1));
            let real: Vec<Onset> = onsets(tz, from, to).into_iter().skip(1).collect();
            let mut described: Vec<i64> = Vec::new();
            for o in collapse(onsets(tz, from, to), to).into_iter().skip(1) {
                let Some((month, ordinal, weekday, until)) = o.rule else {
                    described.push(o.first.at);
                    continue;
                };
                let l = o.first.local();
                for year in l.year()..2035 {
                    let dim = days_in_month(year, month);
                    let days: Vec<u32> = (1..=dim)
                        .filter(|d| {
                            NaiveDate::from_ymd_opt(year, month, *d)
                                .is_some_and(|x| x.weekday() == weekday)
                        })
                        .collect();
                    let day = if ordinal > 0 {
                        days.get(ordinal as usize - 1)
                    } else {
                        days.len()
                            .checked_sub(ordinal.unsigned_abs() as usize)
                            .and_then(|i| days.get(i))
                    };
                    let Some(day) = day else { continue };
                    let local = NaiveDate::from_ymd_opt(year, month, *day)
                        .map(|d| d.and_time(l.time()))
                        .map(|t| t.and_utc().timestamp())
                        .unwrap_or_default();
                    let at = local - i64::from(o.first.from);
                    if until.is_some_and(|u| at > u) || at > to {
                        break;
                    }
                    described.push(at);
                }
            }
            described.sort_unstable();
            let real_at: Vec<i64> = real.iter().map(|o| o.at).collect();
            assert_eq!(described, real_at, "{tz}");
        }
    }
}
