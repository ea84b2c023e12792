//! `recurrence` lines → occurrence starts, using the workspace's own RFC 5545 engine
//! (`almanac_domain::recurrence::Schedule`), so the emulator and the product cannot drift apart on
//! what a rule means. This module only adds what Google layers on top: the line syntax and its
//! validation, lenient RDATE/EXDATE forms, several RRULE/EXRULE lines, and all-day series.

use super::error::{ApiError, ApiResult};
use super::util::{instant_to_local, local_to_instant};
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::rrule::{parse_rule, Rule, Until};
use almanac_domain::InvalidInput;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

/// A start or end (`EventDateTime`) once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Date(NaiveDate),
    At { secs: i64, tz: Option<Tz> },
}

impl When {
    /// The instant this starts at; all-day dates count from midnight in `cal_tz`.
    pub(crate) fn instant(&self, cal_tz: Tz) -> i64 {
        match *self {
            When::Date(d) => local_to_instant(d.and_time(NaiveTime::MIN), cal_tz),
            When::At { secs, .. } => secs,
        }
    }
    pub(crate) fn is_date(&self) -> bool {
        matches!(self, When::Date(_))
    }
    pub(crate) fn tz(&self) -> Option<Tz> {
        match *self {
            When::At { tz, .. } => tz,
            When::Date(_) => None,
        }
    }
}

/// Identity of an occurrence: where the rule put it. Timed series use the UTC instant, all-day
/// series the date (so an instance id and `originalStartTime` carry a date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Orig {
    At(i64),
    Date(NaiveDate),
}

impl Orig {
    /// The instance-id suffix Google uses: `YYYYMMDDTHHMMSSZ` (UTC) or `YYYYMMDD`.
    pub(crate) fn suffix(&self) -> String {
        match *self {
            Orig::At(s) => chrono::DateTime::from_timestamp(s, 0)
                .unwrap_or_default()
                .format("%Y%m%dT%H%M%SZ")
                .to_string(),
            Orig::Date(d) => d.format("%Y%m%d").to_string(),
        }
    }

    pub(crate) fn parse_suffix(s: &str) -> Option<Orig> {
        if s.len() == 8 {
            NaiveDate::parse_from_str(s, "%Y%m%d").ok().map(Orig::Date)
        } else if s.len() == 16 && s.ends_with('Z') {
            NaiveDateTime::parse_from_str(&s[..15], "%Y%m%dT%H%M%S")
                .ok()
                .map(|t| Orig::At(t.and_utc().timestamp()))
        } else {
            None
        }
    }
}

/// An RDATE/EXDATE value in whichever form it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateValue {
    Date(NaiveDate),
    Utc(NaiveDateTime),
    Zoned(NaiveDateTime, Tz),
    Floating(NaiveDateTime),
}

/// Validated `recurrence` lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecurrenceSpec {
    rrules: Vec<Rule>,
    exrules: Vec<Rule>,
    rdates: Vec<DateValue>,
    exdates: Vec<DateValue>,
}

/// Checks `recurrence` lines the way Google does: every line needs an `RRULE:`, `EXRULE:`,
/// `RDATE` or `EXDATE` prefix; `DTSTART`/`DTEND` and anything else are refused; an UNTIL must not
/// be floating; RDATE/EXDATE accept `;VALUE=DATE:`, `;TZID=…:`, UTC and period forms. Every failure
/// is the same 400 "Invalid recurrence rule.", as observed.
pub(crate) fn parse_recurrence(lines: &[String]) -> ApiResult<RecurrenceSpec> {
    let mut spec = RecurrenceSpec::default();
    for line in lines {
        let line = line.trim();
        let (head, value) = line
            .split_once(':')
            .ok_or_else(ApiError::invalid_recurrence)?;
        let mut parts = head.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_uppercase();
        let params: Vec<(String, String)> = parts
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    k.trim().to_ascii_uppercase(),
                    v.trim().trim_matches('"').to_string(),
                )
            })
            .collect();
        match name.as_str() {
            "RRULE" | "EXRULE" => {
                if !params.is_empty() {
                    return Err(ApiError::invalid_recurrence());
                }
                let rule = parse_rule(value).map_err(|_| ApiError::invalid_recurrence())?;
                // A floating UNTIL cannot be placed in time without guessing; Google refuses it.
                if matches!(rule.until(), Some(Until::Local(_))) {
                    return Err(ApiError::invalid_recurrence());
                }
                if name == "RRULE" {
                    spec.rrules.push(rule);
                } else {
                    spec.exrules.push(rule);
                }
            }
            "RDATE" | "EXDATE" => {
                let values = parse_date_list(&params, value)?;
                if name == "RDATE" {
                    spec.rdates.extend(values);
                } else {
                    spec.exdates.extend(values);
                }
            }
            _ => return Err(ApiError::invalid_recurrence()),
        }
    }
    if spec.rrules.is_empty() && spec.rdates.is_empty() {
        return Err(ApiError::invalid_recurrence());
    }
    Ok(spec)
}

fn parse_date_list(params: &[(String, String)], value: &str) -> ApiResult<Vec<DateValue>> {
    let mut tz = None;
    let mut kind = None;
    for (k, v) in params {
        match k.as_str() {
            "TZID" => {
                tz = Some(
                    v.parse::<Tz>()
                        .map_err(|_| ApiError::invalid_recurrence())?,
                )
            }
            "VALUE" => kind = Some(v.to_ascii_uppercase()),
            _ => {} // other parameters carry no meaning for the occurrence set
        }
    }
    let mut out = Vec::new();
    for raw in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        // PERIOD values (start/end or start/duration): the start is the occurrence.
        let raw = raw.split('/').next().unwrap_or(raw);
        let v = if raw.len() == 8 && !raw.contains('T') {
            DateValue::Date(
                NaiveDate::parse_from_str(raw, "%Y%m%d")
                    .map_err(|_| ApiError::invalid_recurrence())?,
            )
        } else if let Some(utc) = raw.strip_suffix('Z').or_else(|| raw.strip_suffix('z')) {
            DateValue::Utc(parse_basic_datetime(utc)?)
        } else {
            let t = parse_basic_datetime(raw)?;
            match tz {
                Some(z) => DateValue::Zoned(t, z),
                None => DateValue::Floating(t),
            }
        };
        if kind.as_deref() == Some("DATE") && !matches!(v, DateValue::Date(_)) {
            return Err(ApiError::invalid_recurrence());
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(ApiError::invalid_recurrence());
    }
    Ok(out)
}

fn parse_basic_datetime(s: &str) -> ApiResult<NaiveDateTime> {
    NaiveDateTime::parse_from_str(&s.to_ascii_uppercase(), "%Y%m%dT%H%M%S")
        .map_err(|_| ApiError::invalid_recurrence())
}

/// A recurring event's occurrence set, ready to query by instant.
#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    all_day: bool,
    zone: Tz,
    mains: Vec<Schedule>,
    exrules: Vec<Schedule>,
    /// Timed series: exact length of each occurrence (DTEND − DTSTART), possibly zero.
    seconds: i64,
    /// All-day series: length in days.
    days: i64,
}

/// Most occurrences one query expands per series; bounds the cost of a SECONDLY rule over a
/// two-year horizon.
pub(crate) const EXPANSION_CAP: usize = 20_000;

impl Expansion {
    /// `start`/`end` have been validated: both dates, or both instants with `start` carrying the
    /// series zone. All-day series expand in the calendar's zone.
    pub(crate) fn build(
        spec: &RecurrenceSpec,
        start: &When,
        end: &When,
        cal_tz: Tz,
    ) -> ApiResult<Expansion> {
        let (all_day, zone, start_local, seconds, days) = match (*start, *end) {
            (When::Date(s), When::Date(e)) => (
                true,
                cal_tz,
                s.and_time(NaiveTime::MIN),
                0,
                (e - s).num_days(),
            ),
            (When::At { secs: s, tz }, When::At { secs: e, .. }) => {
                let zone = tz.unwrap_or(cal_tz);
                (false, zone, instant_to_local(s, zone), e - s, 0)
            }
            _ => {
                return Err(ApiError::invalid(
                    "Start and end times must either both be date or both be dateTime.",
                ))
            }
        };
        let length = if all_day {
            Length::Duration {
                days: days.max(1),
                seconds: 0,
            }
        } else {
            Length::Duration {
                days: 0,
                seconds: seconds.max(1),
            }
        };
        let to_local = |v: &DateValue| -> NaiveDateTime {
            match *v {
                DateValue::Date(d) if all_day => d.and_time(NaiveTime::MIN),
                // A DATE on a timed series names the occurrence on that day.
                DateValue::Date(d) => d.and_time(start_local.time()),
                DateValue::Utc(t) if all_day => t.date().and_time(NaiveTime::MIN),
                DateValue::Utc(t) => instant_to_local(t.and_utc().timestamp(), zone),
                DateValue::Zoned(t, _) | DateValue::Floating(t) if all_day => {
                    t.date().and_time(NaiveTime::MIN)
                }
                DateValue::Zoned(t, z) => instant_to_local(local_to_instant(t, z), zone),
                DateValue::Floating(t) => t,
            }
        };
        let rdates: Vec<NaiveDateTime> = spec.rdates.iter().map(to_local).collect();
        let exdates: Vec<NaiveDateTime> = spec.exdates.iter().map(to_local).collect();
        let mut recurrences = Vec::new();
        if spec.rrules.is_empty() {
            // RFC 5545: DTSTART is always the first occurrence; with RDATEs only, add it explicitly.
            let mut all = vec![start_local];
            all.extend(rdates.iter().copied());
            recurrences.push(Recurrence {
                rule: None,
                rdates: sorted(all),
                exdates: sorted(exdates.clone()),
            });
        }
        for (i, rule) in spec.rrules.iter().enumerate() {
            let rd = if i == 0 {
                sorted(rdates.clone())
            } else {
                vec![]
            };
            recurrences.push(Recurrence {
                rule: Some(rule.clone()),
                rdates: rd,
                exdates: sorted(exdates.clone()),
            });
        }
        let mains = recurrences
            .into_iter()
            .map(|r| schedule(start_local, zone, length, all_day, r))
            .collect::<ApiResult<Vec<_>>>()?;
        let exrules = spec
            .exrules
            .iter()
            .map(|r| {
                schedule(
                    start_local,
                    zone,
                    length,
                    all_day,
                    Recurrence {
                        rule: Some(r.clone()),
                        rdates: vec![],
                        exdates: vec![],
                    },
                )
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Expansion {
            all_day,
            zone,
            mains,
            exrules,
            seconds,
            days,
        })
    }

    pub(crate) fn all_day(&self) -> bool {
        self.all_day
    }

    pub(crate) fn zone(&self) -> Tz {
        self.zone
    }

    /// Longest an occurrence lasts, for widening a window so that long ones overlapping it are seen.
    pub(crate) fn max_len(&self) -> i64 {
        if self.all_day {
            self.days * 86_400 + 7200
        } else {
            self.seconds
        }
    }

    /// Occurrence starts in [from, to), in order, at most `cap`.
    pub(crate) fn starts_in(&self, from: i64, to: i64, cap: usize) -> Vec<i64> {
        let mut out: Vec<i64> = Vec::new();
        for s in &self.mains {
            out.extend(
                s.instances_from(from)
                    .take_while(|i| i.start < to)
                    .take(cap)
                    .map(|i| i.start),
            );
        }
        if self.mains.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        if !self.exrules.is_empty() {
            out.retain(|&t| !self.exrules.iter().any(|x| x.instance_at(t).is_some()));
        }
        out.truncate(cap);
        out
    }

    pub(crate) fn contains(&self, start: i64) -> bool {
        self.mains.iter().any(|s| s.instance_at(start).is_some())
            && !self.exrules.iter().any(|x| x.instance_at(start).is_some())
    }

    pub(crate) fn contains_orig(&self, orig: Orig) -> bool {
        match (orig, self.all_day) {
            (Orig::At(_), true) | (Orig::Date(_), false) => false,
            _ => self.contains(self.start_of(orig)),
        }
    }

    pub(crate) fn orig_of(&self, start: i64) -> Orig {
        if self.all_day {
            Orig::Date(instant_to_local(start, self.zone).date())
        } else {
            Orig::At(start)
        }
    }

    pub(crate) fn start_of(&self, orig: Orig) -> i64 {
        match orig {
            Orig::At(s) => s,
            Orig::Date(d) => local_to_instant(d.and_time(NaiveTime::MIN), self.zone),
        }
    }

    pub(crate) fn end_of(&self, start: i64) -> i64 {
        if self.all_day {
            let date = instant_to_local(start, self.zone).date();
            let end = date
                .checked_add_days(chrono::Days::new(self.days.max(1) as u64))
                .unwrap_or(date);
            local_to_instant(end.and_time(NaiveTime::MIN), self.zone)
        } else {
            start + self.seconds
        }
    }

    /// The `start`/`end` of the occurrence at `start`, as stored values.
    pub(crate) fn whens(&self, start: i64, tz: Option<Tz>) -> (When, When) {
        if self.all_day {
            let d = instant_to_local(start, self.zone).date();
            let e = d
                .checked_add_days(chrono::Days::new(self.days.max(1) as u64))
                .unwrap_or(d);
            (When::Date(d), When::Date(e))
        } else {
            (
                When::At { secs: start, tz },
                When::At {
                    secs: start + self.seconds,
                    tz,
                },
            )
        }
    }
}

fn sorted(mut v: Vec<NaiveDateTime>) -> Vec<NaiveDateTime> {
    v.sort();
    v.dedup();
    v
}

/// Builds a schedule. A rule that can never produce an occurrence (for example a continuation
/// that copied the trimmed parent's UNTIL) is accepted with zero occurrences, as Google does,
/// rather than refused: tests must be able to see that mistake.
fn schedule(
    start: NaiveDateTime,
    zone: Tz,
    length: Length,
    all_day: bool,
    rec: Recurrence,
) -> ApiResult<Schedule> {
    match Schedule::new(start, zone, length, all_day, Some(rec.clone())) {
        Ok(s) => Ok(s),
        Err(InvalidInput::Recurrence(_)) => {
            Schedule::restore(start, zone, length, all_day, Some(rec), None)
                .map_err(|_| ApiError::invalid_recurrence())
        }
        Err(e) => Err(ApiError::invalid(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn refuses_what_google_refuses() {
        for bad in [
            "FREQ=WEEKLY",
            "RRULE:FREQ=WEEKLY;UNTIL=20210605T000000",
            "DTSTART:20210101T090000Z",
            "RRULE:FREQ=SOMETIMES",
            "EXDATE:20210101T090000Z",
            "RDATE;TZID=Mars/Olympus:20210101T090000",
        ] {
            assert!(parse_recurrence(&lines(&[bad])).is_err(), "{bad}");
        }
        assert!(parse_recurrence(&lines(&[
            "RRULE:FREQ=WEEKLY;UNTIL=20210605T000000Z",
            "EXDATE;VALUE=DATE:20210301",
            "RDATE;TZID=Europe/Berlin:20210101T090000,20210102T090000"
        ]))
        .is_ok());
    }

    #[test]
    fn expands_in_zone_and_honours_exdate_forms() {
        let ny: Tz = "America/New_York".parse().expect("test input");
        let start = ny
            .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
            .single()
            .expect("test input")
            .timestamp();
        let spec = parse_recurrence(&lines(&[
            "RRULE:FREQ=WEEKLY;COUNT=4",
            "EXDATE;TZID=America/New_York:20260316T090000",
        ]))
        .expect("test input");
        let e = Expansion::build(
            &spec,
            &When::At {
                secs: start,
                tz: Some(ny),
            },
            &When::At {
                secs: start + 3600,
                tz: Some(ny),
            },
            chrono_tz::UTC,
        )
        .expect("test input");
        let got = e.starts_in(i64::MIN, i64::MAX, 10);
        assert_eq!(got.len(), 3);
        // 9 March is after the spring-forward: 09:00 EDT = 13:00Z, one hour earlier in UTC.
        assert_eq!(got[1] - got[0], 7 * 86_400 - 3600);
    }
}
