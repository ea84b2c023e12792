//! A calendar as an iCalendar document: the body of its feed.
//!
//! One VEVENT per series (a split's continuation is a series of its own), with the series' rule,
//! RDATEs and EXDATEs, cancelled occurrences as EXDATEs, and one VEVENT with the same UID and a
//! RECURRENCE-ID per edited or moved occurrence. Two differences between RFC 5545 and Almanac's
//! reading of a series are bridged here, so that any conforming reader expands the same
//! occurrences:
//!
//! - RFC 5545 always counts DTSTART as an occurrence; Almanac does not when the rule does not
//!   generate it. DTSTART is therefore written as the series' first generated occurrence (the
//!   rule's first, or the first RDATE without a rule). The rule's lattice and COUNT are unchanged
//!   by that: the first occurrence lies on the lattice and is the first one COUNT counts.
//! - UNTIL is written in the form RFC 5545 requires: in UTC for zoned series, a DATE for all-day
//!   ones (Almanac also accepts floating and DATE forms and reads them in the series' zone).

use super::{escape_text, fmt_date, fmt_local, fmt_utc, param_value, vtimezone, IcsWriter};
use almanac_domain::edit::occurrence_at;
use almanac_domain::occurrence::{Occurrence, RecurrenceId};
use almanac_domain::recurrence::{format_duration, Length, Schedule};
use almanac_domain::rrule::{Rule, Until};
use almanac_domain::series::{Calendar, OccurrenceStatus, Series, SeriesKind};
use almanac_domain::time::{instant, ZoneResolver};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashSet};

pub const PRODID: &str = "-//Almanac//Almanac calendar feed//EN";

/// The UID of a series' VEVENTs.
pub fn uid_of(series: &Series) -> String {
    format!("{}@almanac", series.id)
}

/// A DATE or DATE-TIME value and the form it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    Date(NaiveDate),
    /// Wall-clock time with `TZID`.
    Local(Tz, NaiveDateTime),
    Utc(i64),
}

impl When {
    fn head(&self, name: &str) -> String {
        match self {
            When::Date(_) => format!("{name};VALUE=DATE"),
            When::Local(tz, _) => format!("{name};TZID={}", param_value(tz.name())),
            When::Utc(_) => name.to_string(),
        }
    }
    fn value(&self) -> String {
        match self {
            When::Date(d) => fmt_date(*d),
            When::Local(_, t) => fmt_local(*t),
            When::Utc(t) => fmt_utc(*t),
        }
    }
    fn write(&self, w: &mut IcsWriter, name: &str) {
        w.line(&self.head(name), &self.value());
    }
}

/// An instant in `tz`: wall-clock time with TZID when that reads back as the same instant (not
/// the second pass of a repeated hour), else UTC.
fn at_instant(t: i64, tz: Tz) -> When {
    if tz == Tz::UTC {
        return When::Utc(t);
    }
    let local = instant(t).with_timezone(&tz).naive_local();
    if ZoneResolver::new(tz).instant_of(local) == t {
        When::Local(tz, local)
    } else {
        When::Utc(t)
    }
}

/// A wall-clock value of the series (start, RDATE, EXDATE).
fn at_local(local: NaiveDateTime, s: &Schedule) -> When {
    if s.all_day() {
        When::Date(local.date())
    } else if s.zone() == Tz::UTC {
        When::Utc(local.and_utc().timestamp())
    } else {
        When::Local(s.zone(), local)
    }
}

/// A recurrence id of the series: a DATE for all-day series.
fn at_recurrence_id(rid: RecurrenceId, s: &Schedule) -> When {
    if s.all_day() {
        When::Date(instant(rid.0).with_timezone(&s.zone()).date_naive())
    } else {
        at_instant(rid.0, s.zone())
    }
}

/// Start and end of an occurrence shown at its own times: DATEs for all-day series when both are
/// local midnights, else date-times.
fn at_span(start: i64, end: i64, s: &Schedule) -> (When, When) {
    let tz = s.zone();
    if s.all_day() {
        let mut r = ZoneResolver::new(tz);
        let midnight = |t: i64, r: &mut ZoneResolver| {
            let l = instant(t).with_timezone(&tz).naive_local();
            (l.time() == NaiveTime::MIN && r.instant_of(l) == t).then_some(l.date())
        };
        if let (Some(a), Some(b)) = (midnight(start, &mut r), midnight(end, &mut r)) {
            return (When::Date(a), When::Date(b));
        }
        return (When::Utc(start), When::Utc(end));
    }
    (at_instant(start, tz), at_instant(end, tz))
}

/// Writes each distinct form of a list property (RDATE, EXDATE) as one line.
fn write_list(w: &mut IcsWriter, name: &str, values: &[When]) {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for v in values {
        let head = v.head(name);
        match groups.iter_mut().find(|g| g.0 == head) {
            Some(g) => g.1.push(v.value()),
            None => groups.push((head, vec![v.value()])),
        }
    }
    for (head, values) in groups {
        w.line(&head, &values.join(","));
    }
}

/// The rule with UNTIL in the form RFC 5545 requires for the series' DTSTART.
fn rule_text(rule: &Rule, s: &Schedule) -> String {
    let tz = s.zone();
    let mut r = ZoneResolver::new(tz);
    let until = match (rule.until(), s.all_day()) {
        (Some(Until::Local(t)), false) => Some(Until::Utc(instant(r.instant_of(t)).naive_utc())),
        (Some(Until::Date(d)), false) => d.succ_opt().map(|next| {
            Until::Utc(instant(r.instant_of(next.and_time(NaiveTime::MIN)) - 1).naive_utc())
        }),
        (Some(Until::Utc(t)), true) => Some(Until::Date(
            instant(t.and_utc().timestamp())
                .with_timezone(&tz)
                .date_naive(),
        )),
        (Some(Until::Local(t)), true) => Some(Until::Date(t.date())),
        _ => None,
    };
    match until {
        Some(u) => rule.with_until(u).to_rfc5545(),
        None => rule.to_rfc5545(),
    }
}

fn local_naive(local_seconds: i64) -> NaiveDateTime {
    instant(local_seconds).naive_utc()
}

/// What one VEVENT shows besides its times.
struct Shown<'a> {
    title: &'a str,
    description: Option<&'a str>,
    kind: SeriesKind,
    status: OccurrenceStatus,
}

impl<'a> Shown<'a> {
    fn of(series: &'a Series, occ: Option<&'a Occurrence>) -> Self {
        Shown {
            title: occ
                .and_then(|o| o.title.as_deref())
                .unwrap_or(&series.title),
            description: occ
                .and_then(|o| o.description.as_deref())
                .or(series.description.as_deref()),
            kind: occ.and_then(|o| o.kind).unwrap_or(series.kind),
            status: occ.map_or(OccurrenceStatus::Confirmed, |o| o.status),
        }
    }

    fn write(&self, w: &mut IcsWriter, series: &Series) {
        w.text("SUMMARY", self.title);
        if let Some(d) = self.description {
            w.text("DESCRIPTION", d);
        }
        match self.status {
            OccurrenceStatus::Tentative => w.line("STATUS", "TENTATIVE"),
            OccurrenceStatus::Cancelled => w.line("STATUS", "CANCELLED"),
            OccurrenceStatus::Confirmed => w.line("STATUS", "CONFIRMED"),
            OccurrenceStatus::Completed => {
                w.line("STATUS", "CONFIRMED");
                w.line("X-ALMANAC-STATUS", "COMPLETED");
            }
        }
        w.line(
            "TRANSP",
            if series.transparent {
                "TRANSPARENT"
            } else {
                "OPAQUE"
            },
        );
        w.line("SEQUENCE", &(series.version - 1).max(0).to_string());
        w.line("X-ALMANAC-KIND", self.kind.as_str());
    }
}

/// The length of the master VEVENT, relative to its DTSTART.
fn write_length(w: &mut IcsWriter, s: &Schedule, dtstart: &When) {
    match (dtstart, s.length()) {
        (When::Date(d), length) => {
            let days = match length {
                Length::Duration { days, seconds } => days + (seconds + 86_399) / 86_400,
                Length::WallClock { seconds } => (seconds + 86_399) / 86_400,
            };
            When::Date(*d + Duration::days(days.max(1))).write(w, "DTEND");
        }
        (When::Local(tz, l), Length::WallClock { seconds }) => {
            When::Local(*tz, *l + Duration::seconds(seconds)).write(w, "DTEND")
        }
        (When::Utc(t), Length::WallClock { seconds }) => When::Utc(t + seconds).write(w, "DTEND"),
        (_, length) => w.line("DURATION", &format_duration(length)),
    }
}

/// Writes the VEVENTs of one series; returns false when it shows nothing (no VEVENT).
fn write_series(w: &mut IcsWriter, s: &Series, dtstamp: &str) -> bool {
    let sch = s.schedule();
    let uid = escape_text(&uid_of(s));
    let Some(rec) = sch.recurrence() else {
        // A single occurrence: its exception, if any, is applied to the VEVENT itself.
        let Some(first) = sch.instances_from(i64::MIN).next() else {
            return false;
        };
        let occ = occurrence_at(s, RecurrenceId(first.start));
        w.begin("VEVENT");
        w.line("UID", &uid);
        w.line("DTSTAMP", dtstamp);
        match occ.as_ref().filter(|o| o.moved) {
            Some(o) => {
                let (a, b) = at_span(o.start.timestamp(), o.end.timestamp(), sch);
                a.write(w, "DTSTART");
                b.write(w, "DTEND");
            }
            None => {
                let start = at_local(sch.start(), sch);
                start.write(w, "DTSTART");
                write_length(w, sch, &start);
            }
        }
        Shown::of(s, occ.as_ref()).write(w, s);
        w.end("VEVENT");
        return true;
    };

    // Exceptions placed at a recurrence id the schedule no longer generates (kept because they
    // were locked) are shown by Almanac; RFC 5545 needs an RDATE for their override to apply to.
    let extra: Vec<RecurrenceId> = s
        .exceptions()
        .iter()
        .filter(|e| {
            e.is_placed() && !e.is_cancelled() && sch.instance_at(e.recurrence_id.0).is_none()
        })
        .map(|e| e.recurrence_id)
        .collect();
    let extra_set: HashSet<i64> = extra.iter().map(|r| r.0).collect();
    let first_rule = rec
        .rule
        .as_ref()
        .and_then(|_| sch.first_rule_instance_from(i64::MIN));
    let rule = first_rule.and(rec.rule.as_ref());
    let dtstart = match (
        first_rule,
        sch.instances_from(i64::MIN).next(),
        extra.iter().min(),
    ) {
        (Some(i), _, _) | (None, Some(i), _) => at_local(local_naive(i.local), sch),
        (None, None, Some(r)) => at_recurrence_id(*r, sch),
        (None, None, None) => return false,
    };
    let mut resolver = ZoneResolver::new(sch.zone());
    let mut rdates: Vec<When> = rec.rdates.iter().map(|d| at_local(*d, sch)).collect();
    rdates.extend(extra.iter().map(|r| at_recurrence_id(*r, sch)));
    let mut exdates: Vec<When> = rec
        .exdates
        .iter()
        .filter(|d| !extra_set.contains(&resolver.instant_of(**d)))
        .map(|d| at_local(*d, sch))
        .collect();
    exdates.extend(
        s.exceptions()
            .iter()
            .filter(|e| e.is_cancelled() && sch.instance_at(e.recurrence_id.0).is_some())
            .map(|e| at_recurrence_id(e.recurrence_id, sch)),
    );

    w.begin("VEVENT");
    w.line("UID", &uid);
    w.line("DTSTAMP", dtstamp);
    dtstart.write(w, "DTSTART");
    write_length(w, sch, &dtstart);
    if let Some(rule) = rule {
        w.line("RRULE", &rule_text(rule, sch));
    }
    write_list(w, "RDATE", &rdates);
    write_list(w, "EXDATE", &exdates);
    Shown::of(s, None).write(w, s);
    w.end("VEVENT");

    for e in s.exceptions().iter().filter(|e| !e.is_cancelled()) {
        let Some(occ) = occurrence_at(s, e.recurrence_id) else {
            continue;
        };
        w.begin("VEVENT");
        w.line("UID", &uid);
        w.line("DTSTAMP", dtstamp);
        at_recurrence_id(e.recurrence_id, sch).write(w, "RECURRENCE-ID");
        let (a, b) = at_span(occ.start.timestamp(), occ.end.timestamp(), sch);
        a.write(w, "DTSTART");
        b.write(w, "DTEND");
        Shown::of(s, Some(&occ)).write(w, s);
        w.end("VEVENT");
    }
    true
}

/// How long a VTIMEZONE covers a series that never ends: its rules are written open-ended, so
/// this only needs to reach past the current rules' first years.
const OPEN_HORIZON_DAYS: i64 = 3 * 366;

/// The calendar as an iCalendar document. `now` is the DTSTAMP (the time of the export).
pub fn calendar(cal: &Calendar, series: &[Series], now: DateTime<Utc>) -> String {
    let dtstamp = fmt_utc(now.timestamp());
    let mut ordered: Vec<&Series> = series.iter().collect();
    ordered.sort_by_key(|s| s.id);
    let mut events = IcsWriter::new();
    // Zones used by DTSTART;TZID=…, and the instants each must cover.
    let mut zones: BTreeMap<&'static str, (Tz, i64, i64)> = BTreeMap::new();
    for s in ordered {
        if !write_series(&mut events, s, &dtstamp) {
            continue;
        }
        let tz = s.schedule().zone();
        if s.schedule().all_day() || tz == Tz::UTC {
            continue;
        }
        let (first, last) = s.span();
        let last = last.unwrap_or_else(|| first.max(now.timestamp()) + OPEN_HORIZON_DAYS * 86_400);
        let e = zones.entry(tz.name()).or_insert((tz, first, last));
        e.1 = e.1.min(first);
        e.2 = e.2.max(last);
    }
    let mut w = IcsWriter::new();
    w.begin("VCALENDAR");
    w.line("VERSION", "2.0");
    w.line("PRODID", PRODID);
    w.line("CALSCALE", "GREGORIAN");
    w.text("X-WR-CALNAME", &cal.name);
    for (tz, from, to) in zones.values() {
        vtimezone::write(&mut w, *tz, from - 7 * 86_400, to + 7 * 86_400);
    }
    let mut doc = w.finish();
    doc.push_str(&events.finish());
    let mut end = IcsWriter::new();
    end.end("VCALENDAR");
    doc.push_str(&end.finish());
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use almanac_domain::availability::AvailabilityMode;
    use almanac_domain::edit::{cancel_occurrence, modify_occurrence, OccurrenceChange};
    use almanac_domain::recurrence::Recurrence;
    use almanac_domain::{CalendarId, OrganizationId, SeriesId};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap_or_default()
    }

    pub(crate) fn calendar(zone: Tz) -> Calendar {
        Calendar {
            id: CalendarId::from_uuid(uuid::Uuid::now_v7()),
            organization: OrganizationId::DEFAULT,
            name: "Team, \"A\"; B".into(),
            time_zone: zone,
            availability: AvailabilityMode::Default {
                working_hours: None,
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn series(
        cal: &Calendar,
        start: &str,
        zone: Tz,
        length: Length,
        all_day: bool,
        rule: Option<&str>,
        rdates: &[&str],
        exdates: &[&str],
    ) -> Series {
        let rec = (rule.is_some() || !rdates.is_empty()).then(|| {
            Recurrence::parse(
                rule,
                rdates.iter().map(|d| t(d)).collect(),
                exdates.iter().map(|d| t(d)).collect(),
            )
            .expect("recurrence")
        });
        let schedule = Schedule::new(t(start), zone, length, all_day, rec).expect("schedule");
        Series::new(
            SeriesId::from_uuid(uuid::Uuid::now_v7()),
            cal.organization,
            cal.id,
            SeriesKind::Event,
            "Standup".into(),
            None,
            schedule,
            1,
        )
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .unwrap_or_default()
    }

    #[test]
    fn a_series_with_exceptions_is_written_as_rfc5545() {
        let ny = chrono_tz::America::New_York;
        let cal = calendar(ny);
        let s = series(
            &cal,
            "2026-03-02T09:00:00",
            ny,
            Length::WallClock { seconds: 2700 },
            false,
            Some("FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=10"),
            &["2026-03-07T12:00:00"],
            &["2026-03-06T09:00:00"],
        );
        let s = cancel_occurrence(&s, RecurrenceId(ts("2026-03-09T13:00:00Z"))).expect("cancel");
        let s = modify_occurrence(
            &s,
            RecurrenceId(ts("2026-03-04T14:00:00Z")),
            &OccurrenceChange {
                start: Some(ts("2026-03-04T20:00:00Z")),
                title: Some("Late, really".into()),
                ..Default::default()
            },
        )
        .expect("move");
        let doc = super::calendar(
            &cal,
            std::slice::from_ref(&s),
            DateTime::from_timestamp(ts("2026-01-01T00:00:00Z"), 0).unwrap_or_default(),
        );
        let uid = format!("UID:{}@almanac\r\n", s.id);
        for line in [
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac//Almanac calendar feed//EN\r\nCALSCALE:GREGORIAN\r\nX-WR-CALNAME:Team\\, \"A\"\\; B\r\n",
            "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n",
            &uid,
            "DTSTART;TZID=America/New_York:20260302T090000\r\nDTEND;TZID=America/New_York:20260302T094500\r\nRRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE,FR\r\n",
            "RDATE;TZID=America/New_York:20260307T120000\r\n",
            "EXDATE;TZID=America/New_York:20260306T090000,20260309T090000\r\n",
            "SUMMARY:Standup\r\nSTATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\nSEQUENCE:2\r\nX-ALMANAC-KIND:EVENT\r\nEND:VEVENT\r\n",
            "RECURRENCE-ID;TZID=America/New_York:20260304T090000\r\nDTSTART;TZID=America/New_York:20260304T150000\r\nDTEND;TZID=America/New_York:20260304T154500\r\nSUMMARY:Late\\, really\r\n",
            "END:VCALENDAR\r\n",
        ] {
            assert!(doc.contains(line), "missing {line:?} in\n{doc}");
        }
        assert_eq!(doc.matches("BEGIN:VEVENT").count(), 2, "{doc}");
    }

    #[test]
    fn dtstart_is_the_first_generated_occurrence_and_until_is_utc() {
        let ber = chrono_tz::Europe::Berlin;
        let cal = calendar(ber);
        // 2026-01-10 is a Saturday: the rule first generates Friday 2026-01-30.
        let s = series(
            &cal,
            "2026-01-10T17:00:00",
            ber,
            Length::Duration {
                days: 0,
                seconds: 3600,
            },
            false,
            Some("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20260630T170000"),
            &[],
            &[],
        );
        let doc = super::calendar(&cal, &[s], Utc::now());
        assert!(doc.contains("DTSTART;TZID=Europe/Berlin:20260130T170000\r\nDURATION:PT1H\r\nRRULE:FREQ=MONTHLY;UNTIL=20260630T150000Z;BYDAY=-1FR\r\n"), "{doc}");
        // All-day: DATE values, UNTIL as a DATE, no VTIMEZONE.
        let s = series(
            &cal,
            "2026-07-04T00:00:00",
            ber,
            Length::Duration {
                days: 2,
                seconds: 0,
            },
            true,
            Some("FREQ=YEARLY;UNTIL=20280704T000000Z"),
            &[],
            &["2027-07-04T00:00:00"],
        );
        let doc = super::calendar(&cal, &[s], Utc::now());
        // 2028-07-04 00:00 in Berlin is 2028-07-03T22:00Z, before UNTIL: the 4th is the last day.
        assert!(doc.contains("DTSTART;VALUE=DATE:20260704\r\nDTEND;VALUE=DATE:20260706\r\nRRULE:FREQ=YEARLY;UNTIL=20280704\r\nEXDATE;VALUE=DATE:20270704\r\n"), "{doc}");
        assert!(!doc.contains("VTIMEZONE"), "{doc}");
        // In New York that midnight is 04:00Z, after UNTIL: the 3rd is the last day.
        let ny = chrono_tz::America::New_York;
        let s = series(
            &calendar(ny),
            "2026-07-04T00:00:00",
            ny,
            Length::Duration {
                days: 1,
                seconds: 0,
            },
            true,
            Some("FREQ=YEARLY;UNTIL=20280704T000000Z"),
            &[],
            &[],
        );
        let doc = super::calendar(&cal, &[s], Utc::now());
        assert!(
            doc.contains("RRULE:FREQ=YEARLY;UNTIL=20280703\r\n"),
            "{doc}"
        );
    }
}
