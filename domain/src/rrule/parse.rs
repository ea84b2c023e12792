//! RRULE text → [`Rule`]. Rejects what RFC 5545 forbids, with a message naming the part at fault.

use super::{Frequency, Rule, Until, Weekday, DAY_NAMES, MAX_COUNT};
use crate::error::RecurrenceError;
use chrono::{NaiveDate, NaiveDateTime};

fn syntax(msg: impl Into<String>) -> RecurrenceError {
    RecurrenceError::Syntax(msg.into())
}
fn invalid(msg: impl Into<String>) -> RecurrenceError {
    RecurrenceError::Invalid(msg.into())
}

fn int_list<T>(
    part: &str,
    value: &str,
    lo: i64,
    hi: i64,
    allow_zero: bool,
) -> Result<Vec<T>, RecurrenceError>
where
    T: TryFrom<i64> + Ord + Copy,
{
    let mut out = Vec::new();
    for raw in value.split(',') {
        let raw = raw.trim();
        let n: i64 = raw
            .parse()
            .map_err(|_| syntax(format!("{part} expects integers, got {raw:?}")))?;
        if n < lo || n > hi || (n == 0 && !allow_zero) {
            return Err(invalid(format!(
                "{part} value {n} is out of range ({lo}..{hi}{})",
                if allow_zero { "" } else { ", not 0" }
            )));
        }
        let v = T::try_from(n).map_err(|_| invalid(format!("{part} value {n} is out of range")))?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort();
    Ok(out)
}

fn weekday(s: &str) -> Option<Weekday> {
    DAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .map(|p| p as Weekday)
}

fn parse_until(value: &str) -> Result<Until, RecurrenceError> {
    let v = value.trim();
    let bad = || {
        syntax(format!(
            "UNTIL {v:?} is not a DATE (YYYYMMDD) or DATE-TIME (YYYYMMDDTHHMMSS[Z])"
        ))
    };
    // Every field at its full width (chrono alone takes `2026011T9`), and no leap second: chrono
    // reads second 60 as one, which the engine would quietly move to :59.
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date_time = v.is_ascii()
        && v.len() >= 15
        && digits(&v[..8])
        && v[8..9].eq_ignore_ascii_case("t")
        && digits(&v[9..15])
        && matches!(&v[15..], "" | "Z" | "z");
    if !(date_time || (v.len() == 8 && digits(v))) {
        return Err(bad());
    }
    if date_time && &v[13..15] == "60" {
        return Err(invalid(format!(
            "UNTIL {v:?} has a leap second (:60), which is not accepted"
        )));
    }
    if let Some(utc) = v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
            .map(Until::Utc)
            .map_err(|_| bad())
    } else if v.contains('T') || v.contains('t') {
        NaiveDateTime::parse_from_str(&v.to_ascii_uppercase(), "%Y%m%dT%H%M%S")
            .map(Until::Local)
            .map_err(|_| bad())
    } else {
        NaiveDate::parse_from_str(v, "%Y%m%d")
            .map(Until::Date)
            .map_err(|_| bad())
    }
}

/// Parses the value of an RRULE property (an optional `RRULE:` prefix is accepted).
pub fn parse_rule(text: &str) -> Result<Rule, RecurrenceError> {
    let text = text.trim();
    // `get`, not slicing: a multi-byte character across byte 6 (`FREQ=é`) must not panic.
    let body = match text.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => &text[6..],
        _ => text,
    };
    if body.is_empty() {
        return Err(syntax("the rule is empty; it needs at least FREQ=…"));
    }
    // RFC 5545 rules are ASCII; refusing anything else here also keeps the byte-indexed parsing
    // below on character boundaries (`BYDAY=MO€` used to panic).
    if !body.is_ascii() {
        return Err(syntax("the rule may only contain ASCII characters"));
    }
    if body.len() > 2000 {
        return Err(syntax("the rule is longer than 2000 characters"));
    }
    let mut freq = None;
    let mut rule = Rule {
        freq: Frequency::Daily,
        interval: 1,
        count: None,
        until: None,
        wkst: 0,
        by_set_pos: vec![],
        by_month: vec![],
        by_month_day: vec![],
        by_year_day: vec![],
        by_week_no: vec![],
        by_day: vec![],
        by_hour: vec![],
        by_minute: vec![],
        by_second: vec![],
    };
    let mut seen: Vec<String> = Vec::new();
    for part in body.split(';') {
        if part.is_empty() {
            return Err(syntax("empty rule part (a stray ';')"));
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| syntax(format!("rule part {part:?} is not NAME=VALUE")))?;
        let name = name.trim().to_ascii_uppercase();
        if value.trim().is_empty() {
            return Err(syntax(format!("{name} has no value")));
        }
        if seen.contains(&name) {
            return Err(syntax(format!("{name} appears twice")));
        }
        seen.push(name.clone());
        match name.as_str() {
            "FREQ" => {
                freq = Some(match value.trim().to_ascii_uppercase().as_str() {
                    "YEARLY" => Frequency::Yearly,
                    "MONTHLY" => Frequency::Monthly,
                    "WEEKLY" => Frequency::Weekly,
                    "DAILY" => Frequency::Daily,
                    "HOURLY" => Frequency::Hourly,
                    "MINUTELY" => Frequency::Minutely,
                    "SECONDLY" => Frequency::Secondly,
                    other => return Err(syntax(format!("FREQ={other} is not a frequency"))),
                })
            }
            "INTERVAL" => {
                let n: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| syntax(format!("INTERVAL {value:?} is not a positive integer")))?;
                if n == 0 {
                    return Err(invalid("INTERVAL must be at least 1"));
                }
                rule.interval = u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= 100_000)
                    .ok_or_else(|| invalid("INTERVAL may be at most 100000"))?;
            }
            "COUNT" => {
                let n: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| syntax(format!("COUNT {value:?} is not a positive integer")))?;
                if n == 0 {
                    return Err(invalid("COUNT must be at least 1"));
                }
                if n > u64::from(MAX_COUNT) {
                    return Err(RecurrenceError::CountTooLarge {
                        max: MAX_COUNT,
                        got: n,
                    });
                }
                rule.count = Some(n as u32);
            }
            "UNTIL" => rule.until = Some(parse_until(value)?),
            "WKST" => {
                rule.wkst = weekday(value.trim())
                    .ok_or_else(|| syntax(format!("WKST {value:?} is not a weekday (MO…SU)")))?
            }
            "BYSETPOS" => rule.by_set_pos = int_list("BYSETPOS", value, -366, 366, false)?,
            "BYMONTH" => rule.by_month = int_list("BYMONTH", value, 1, 12, false)?,
            "BYMONTHDAY" => rule.by_month_day = int_list("BYMONTHDAY", value, -31, 31, false)?,
            "BYYEARDAY" => rule.by_year_day = int_list("BYYEARDAY", value, -366, 366, false)?,
            "BYWEEKNO" => rule.by_week_no = int_list("BYWEEKNO", value, -53, 53, false)?,
            "BYHOUR" => rule.by_hour = int_list("BYHOUR", value, 0, 23, true)?,
            "BYMINUTE" => rule.by_minute = int_list("BYMINUTE", value, 0, 59, true)?,
            "BYSECOND" => rule.by_second = int_list("BYSECOND", value, 0, 59, true)?,
            "BYDAY" => {
                for raw in value.split(',') {
                    let raw = raw.trim();
                    if raw.len() < 2 {
                        return Err(syntax(format!("BYDAY value {raw:?} is not a weekday")));
                    }
                    let (num, day) = raw.split_at(raw.len() - 2);
                    let wd = weekday(day).ok_or_else(|| syntax(format!("BYDAY value {raw:?} is not a weekday (MO…SU, optionally with an ordinal like 2TU or -1FR)")))?;
                    let n: i8 = if num.is_empty() {
                        0
                    } else {
                        let n: i64 = num.parse().map_err(|_| {
                            syntax(format!("BYDAY ordinal in {raw:?} is not an integer"))
                        })?;
                        if n == 0 || !(-53..=53).contains(&n) {
                            return Err(invalid(format!(
                                "BYDAY ordinal in {raw:?} must be -53..-1 or 1..53"
                            )));
                        }
                        n as i8
                    };
                    if !rule.by_day.contains(&(wd, n)) {
                        rule.by_day.push((wd, n));
                    }
                }
                rule.by_day.sort();
            }
            "BYEASTER" => {
                return Err(RecurrenceError::Unsupported(
                    "BYEASTER is not part of RFC 5545".into(),
                ))
            }
            n if n.starts_with("X-") => {} // RFC 5545 x-name parts carry vendor data with no meaning for expansion
            other => return Err(syntax(format!("unknown rule part {other}"))),
        }
    }
    rule.freq = freq.ok_or_else(|| syntax("FREQ is required"))?;
    check_combinations(&rule)?;
    Ok(rule)
}

/// The combinations RFC 5545 section 3.3.10 forbids.
fn check_combinations(r: &Rule) -> Result<(), RecurrenceError> {
    use Frequency::*;
    if r.count.is_some() && r.until.is_some() {
        return Err(invalid("COUNT and UNTIL cannot both be given"));
    }
    if !r.by_week_no.is_empty() && r.freq != Yearly {
        return Err(invalid("BYWEEKNO is only allowed with FREQ=YEARLY"));
    }
    if !r.by_year_day.is_empty() && matches!(r.freq, Daily | Weekly | Monthly) {
        return Err(invalid(format!(
            "BYYEARDAY is not allowed with FREQ={}",
            r.freq.as_str()
        )));
    }
    if !r.by_month_day.is_empty() && r.freq == Weekly {
        return Err(invalid("BYMONTHDAY is not allowed with FREQ=WEEKLY"));
    }
    let numbered = r.by_day.iter().any(|&(_, n)| n != 0);
    if numbered && !matches!(r.freq, Monthly | Yearly) {
        return Err(invalid(
            "BYDAY with an ordinal (like 2TU) is only allowed with FREQ=MONTHLY or FREQ=YEARLY",
        ));
    }
    if numbered && r.freq == Yearly && !r.by_week_no.is_empty() {
        return Err(invalid(
            "BYDAY with an ordinal cannot be combined with BYWEEKNO",
        ));
    }
    if numbered && r.freq == Monthly && r.by_day.iter().any(|&(_, n)| !(-5..=5).contains(&n)) {
        return Err(invalid(
            "with FREQ=MONTHLY a BYDAY ordinal must be -5..-1 or 1..5",
        ));
    }
    if !r.by_set_pos.is_empty()
        && r.by_month.is_empty()
        && r.by_week_no.is_empty()
        && r.by_year_day.is_empty()
        && r.by_month_day.is_empty()
        && r.by_day.is_empty()
        && r.by_hour.is_empty()
        && r.by_minute.is_empty()
        && r.by_second.is_empty()
    {
        return Err(invalid("BYSETPOS needs another BYxxx part to select from"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_has_every_field_at_full_width_and_no_leap_second() {
        assert!(matches!(parse_until("20260630T235959Z"), Ok(Until::Utc(_))));
        assert!(matches!(
            parse_until("20260630T235959"),
            Ok(Until::Local(_))
        ));
        assert!(matches!(parse_until("20260630"), Ok(Until::Date(_))));
        assert!(matches!(
            parse_until("20260630T235960Z"),
            Err(RecurrenceError::Invalid(_))
        ));
        for bad in [
            "2026630T235959Z",
            "20260630T23595Z",
            "2026063",
            "20260630T235959ZZ",
            "20260630 235959",
            "2026-06-30",
        ] {
            assert!(
                matches!(parse_until(bad), Err(RecurrenceError::Syntax(_))),
                "{bad}"
            );
        }
    }
}
