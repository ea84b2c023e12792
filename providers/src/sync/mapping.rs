//! Pure translation between Almanac series and the provider-neutral [`RemoteSeries`].
//!
//! Both directions go through the domain's own constructors, so a pulled series is validated
//! exactly like one created through the API. Comparing `to_remote(local)` with
//! `to_remote(to_local(remote))` is how the engine tells "the provider shows what we have" (a
//! no-op, our own write coming back) from a real change: the round trip normalises away the
//! differences providers are free to make (an exception repeating the parent's title, a moved
//! occurrence put back on its slot).

use super::model::{Fidelity, RemoteException, RemoteSeries, RemoteTime};
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::recurrence::{Instance, Length, Recurrence, Schedule};
use almanac_domain::rrule::{parse_rule, Until};
use almanac_domain::series::{Exception, OccurrenceStatus, Series, SeriesKind};
use almanac_domain::time::ZoneResolver;
use almanac_domain::{CalendarId, InvalidInput, OrganizationId, SeriesId};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

/// The series as a provider should hold it, and what a provider-neutral push would lose.
pub fn to_remote(series: &Series) -> (RemoteSeries, Fidelity) {
    let schedule = series.schedule();
    let zone = schedule.zone();
    let all_day = schedule.all_day();
    let mut resolver = ZoneResolver::new(zone);
    let mut fidelity = Fidelity::Exact;

    let first = Instance {
        start: resolver.instant_of(schedule.start()),
        local: schedule.start().and_utc().timestamp(),
    };
    let end = schedule.end_of(first, &mut resolver);
    let at = |instant: i64, resolver: &ZoneResolver| remote_time(instant, zone, all_day, resolver);
    // Ends and moved occurrences keep their instant: in the repeated hour of a fall-back they are
    // named in UTC (see `exact_time`), and an all-day series' occurrence moved to a time of day
    // stays timed instead of being cut to its date (both read back an hour or a day off).
    let exact_at = |instant: i64, resolver: &ZoneResolver| match at(instant, resolver) {
        RemoteTime::AllDay(d) if instant_of(d.and_time(NaiveTime::MIN), zone) == instant => {
            RemoteTime::AllDay(d)
        }
        _ => exact_time(instant, zone),
    };

    let (rrule, rdates, exdates) = match schedule.recurrence() {
        Some(rec) => {
            let rule = rec.rule.as_ref().map(|r| match r.until() {
                // Providers reject a floating UNTIL (Google: "Invalid recurrence rule."), so the
                // bound is written as an instant; where the next occurrence falls on a later day,
                // it is Google's own convention for a trimmed series: one second before local
                // midnight of that day (same occurrences, the text Google itself writes).
                Some(Until::Local(_)) | Some(Until::Utc(_)) if !all_day => {
                    let until = day_boundary_until(schedule, r, &mut resolver)
                        .or_else(|| schedule.rule_bound());
                    match until.and_then(|u| chrono::DateTime::from_timestamp(u, 0)) {
                        Some(u) => r.with_until(Until::Utc(u.naive_utc())).to_rfc5545(),
                        None => r.to_rfc5545(),
                    }
                }
                _ => r.to_rfc5545(),
            });
            (rule, rec.rdates.clone(), rec.exdates.clone())
        }
        None => (None, Vec::new(), Vec::new()),
    };

    let mut exceptions = Vec::new();
    for e in series.exceptions() {
        let rid = e.recurrence_id.0;
        if e.is_cancelled() {
            exceptions.push(RemoteException::cancelled(rid));
            continue;
        }
        if e.status == Some(OccurrenceStatus::Completed) {
            fidelity.degrade(format!(
                "occurrence {}: COMPLETED is shown as confirmed",
                e.recurrence_id.instant().to_rfc3339()
            ));
        }
        if e.kind.is_some_and(|k| k != series.kind) {
            fidelity.degrade(format!(
                "occurrence {}: a per-occurrence kind is not kept",
                e.recurrence_id.instant().to_rfc3339()
            ));
        }
        let remote = RemoteException {
            original_start: rid,
            cancelled: false,
            start: e
                .start
                .filter(|_| e.is_placed())
                .map(|s| exact_at(s, &resolver)),
            end: e
                .end
                .filter(|_| e.is_placed())
                .map(|s| exact_at(s, &resolver)),
            title: e.title.clone().filter(|t| *t != series.title),
            description: e
                .description
                .clone()
                .filter(|d| Some(d) != series.description.as_ref()),
            tentative: e.status == Some(OccurrenceStatus::Tentative),
        };
        // A lock or a CONFIRMED mark changes nothing a provider shows.
        if remote.start.is_some()
            || remote.title.is_some()
            || remote.description.is_some()
            || remote.tentative
        {
            exceptions.push(remote);
        }
    }
    exceptions.sort_by_key(|e| e.original_start);

    if series.kind == SeriesKind::Available {
        fidelity.degrade("available time is shown as free time");
    }
    let remote = RemoteSeries {
        title: series.title.clone(),
        description: series.description.clone(),
        start: at(first.start, &resolver),
        end: exact_at(end, &resolver),
        rrule,
        rdates,
        exdates,
        tentative: false,
        transparent: series.transparent || series.kind == SeriesKind::Available,
        kind: series.kind,
        exceptions,
    };
    (remote, fidelity)
}

/// For a rule ending with UNTIL: the instant one second before local midnight of the day of the
/// first occurrence the rule would make after its end, when the last kept occurrence is on an
/// earlier day (so the two bounds keep the same occurrences). `None` otherwise.
fn day_boundary_until(
    schedule: &Schedule,
    rule: &almanac_domain::rrule::Rule,
    resolver: &mut ZoneResolver,
) -> Option<i64> {
    if rule.freq().is_sub_daily() {
        return None;
    }
    let bound = schedule.rule_bound()?;
    let open = Schedule::new(
        schedule.start(),
        schedule.zone(),
        schedule.length(),
        false,
        Some(Recurrence {
            rule: Some(rule.without_end()),
            rdates: Vec::new(),
            exdates: Vec::new(),
        }),
    )
    .ok()?;
    let next = open.instances_from(bound.saturating_add(1)).next()?;
    let last = open
        .instances_from(bound.saturating_sub(400 * 86_400))
        .take_while(|i| i.start <= bound)
        .last()?;
    let next_day = Schedule::local_date(next);
    if Schedule::local_date(last) >= next_day {
        return None;
    }
    Some(resolver.instant_of(next_day.and_time(NaiveTime::MIN)) - 1)
}

fn remote_time(instant: i64, zone: Tz, all_day: bool, resolver: &ZoneResolver) -> RemoteTime {
    let local = chrono::DateTime::from_timestamp(resolver.local_of(instant), 0)
        .map(|d| d.naive_utc())
        .unwrap_or_default();
    if all_day {
        RemoteTime::AllDay(local.date())
    } else {
        RemoteTime::Timed { local, zone }
    }
}

/// Identity and bookkeeping of the local series a remote one becomes.
#[derive(Debug, Clone, Copy)]
pub struct LocalIdentity {
    pub id: SeriesId,
    pub organization: OrganizationId,
    pub calendar: CalendarId,
    /// Zone for all-day series (their dates float; the calendar's zone places them).
    pub calendar_zone: Tz,
    pub version: i64,
}

/// The local series a remote one describes, validated like API input.
pub fn to_local(remote: &RemoteSeries, who: LocalIdentity) -> Result<Series, InvalidInput> {
    let (start, zone, all_day) = match remote.start {
        RemoteTime::Timed { local, zone } => (local, zone, false),
        RemoteTime::AllDay(d) => (d.and_time(NaiveTime::MIN), who.calendar_zone, true),
    };
    let mut resolver = ZoneResolver::new(zone);
    let start_instant = resolver.instant_of(start);
    let length = match (remote.start, remote.end) {
        (RemoteTime::AllDay(s), RemoteTime::AllDay(e)) => Length::Duration {
            days: (e - s).num_days().max(1),
            seconds: 0,
        },
        (
            RemoteTime::Timed { .. },
            RemoteTime::Timed {
                local,
                zone: end_zone,
            },
        ) => {
            let end_instant = ZoneResolver::new(end_zone).instant_of(local);
            Length::Duration {
                days: 0,
                seconds: end_instant - start_instant,
            }
        }
        _ => {
            return Err(InvalidInput::field(
                "end",
                "the start and end are not both dates or both times",
            ))
        }
    };
    let recurrence = if remote.rrule.is_some() || !remote.rdates.is_empty() {
        // The rule is parsed as text once here, the edge, like API input.
        if let Some(text) = &remote.rrule {
            parse_rule(text)?;
        }
        Some(Recurrence::parse(
            remote.rrule.as_deref(),
            remote.rdates.clone(),
            remote.exdates.clone(),
        )?)
    } else {
        None
    };
    let schedule = Schedule::new(start, zone, length, all_day, recurrence)?;
    // A cancellation of an occurrence the rule no longer makes (Google reports the exceptions
    // beyond a trimmed end as cancelled) changes nothing and is not kept.
    let exceptions = remote
        .exceptions
        .iter()
        .filter(|e| !e.cancelled || schedule.instance_at(e.original_start).is_some())
        .map(|e| exception_of(e, &schedule, remote))
        .collect::<Vec<_>>();
    let series = Series::new(
        who.id,
        who.organization,
        who.calendar,
        remote.kind,
        remote.title.clone(),
        remote.description.clone(),
        schedule,
        who.version,
    )
    .shown_as(remote.transparent && remote.kind != SeriesKind::Available)
    .with_exceptions(exceptions);
    Ok(series)
}

fn exception_of(e: &RemoteException, schedule: &Schedule, parent: &RemoteSeries) -> Exception {
    let mut ex = Exception::new(RecurrenceId(e.original_start));
    if e.cancelled {
        ex.status = Some(OccurrenceStatus::Cancelled);
        return ex;
    }
    let zone = schedule.zone();
    let mut resolver = ZoneResolver::new(zone);
    let instant = |t: RemoteTime, resolver: &mut ZoneResolver| match t {
        RemoteTime::Timed { local, zone: z } if z == zone => resolver.instant_of(local),
        RemoteTime::Timed { local, zone: z } => ZoneResolver::new(z).instant_of(local),
        RemoteTime::AllDay(d) => resolver.instant_of(d.and_time(NaiveTime::MIN)),
    };
    if let (Some(s), Some(en)) = (e.start, e.end) {
        let (s, en) = (instant(s, &mut resolver), instant(en, &mut resolver));
        // Put back on its own slot with its own length: not a move.
        let slot = schedule
            .instance_at(e.original_start)
            .map(|i| (i.start, schedule.end_of(i, &mut resolver)));
        if slot != Some((s, en)) && en > s {
            ex.start = Some(s);
            ex.end = Some(en);
        }
    }
    ex.title = e.title.clone().filter(|t| *t != parent.title);
    ex.description = e
        .description
        .clone()
        .filter(|d| Some(d) != parent.description.as_ref());
    if e.tentative {
        ex.status = Some(OccurrenceStatus::Tentative);
    }
    ex
}

/// The occurrence's original start for a provider that names all-day occurrences by date.
pub fn original_date(original_start: i64, zone: Tz) -> NaiveDate {
    let resolver = ZoneResolver::new(zone);
    chrono::DateTime::from_timestamp(resolver.local_of(original_start), 0)
        .map(|d| d.naive_utc().date())
        .unwrap_or_default()
}

/// An instant as a provider start or end: its wall-clock time in `zone`, unless that time is the
/// later of two (the repeated hour of a fall-back). [`RemoteTime`] names wall-clock times, and a
/// repeated one is read as the earlier instant (RFC rule, [`instant_of`]): such a time would come
/// back an hour early (an end before its start), so it is named in UTC, where every instant has
/// one name. Not for a recurring series' start: the rule expands in that zone.
pub fn exact_time(instant: i64, zone: Tz) -> RemoteTime {
    let local_in = |z: Tz| {
        chrono::DateTime::from_timestamp(instant, 0)
            .map(|d| d.with_timezone(&z).naive_local())
            .unwrap_or_default()
    };
    let local = local_in(zone);
    if instant_of(local, zone) == instant {
        RemoteTime::Timed { local, zone }
    } else {
        RemoteTime::Timed {
            local: local_in(Tz::UTC),
            zone: Tz::UTC,
        }
    }
}

/// The instant of a wall-clock time in a zone (RFC rule for gaps and overlaps).
pub fn instant_of(local: NaiveDateTime, zone: Tz) -> i64 {
    ZoneResolver::new(zone).instant_of(local)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn who() -> LocalIdentity {
        LocalIdentity {
            id: SeriesId::from_uuid(uuid::Uuid::now_v7()),
            organization: OrganizationId::from_uuid(uuid::Uuid::now_v7()),
            calendar: CalendarId::from_uuid(uuid::Uuid::now_v7()),
            calendar_zone: chrono_tz::America::New_York,
            version: 1,
        }
    }

    fn local(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|x| x.and_hms_opt(h, 0, 0))
            .expect("valid date")
    }

    pub(crate) fn weekly_ny() -> Series {
        let zone = chrono_tz::America::New_York;
        let rec = Recurrence::parse(
            Some("FREQ=WEEKLY;BYDAY=MO;UNTIL=20261231T235959"),
            vec![],
            vec![local(2026, 3, 16, 9)],
        )
        .expect("rule");
        let schedule = Schedule::new(
            local(2026, 3, 2, 9),
            zone,
            Length::WallClock { seconds: 3600 },
            false,
            Some(rec),
        )
        .expect("schedule");
        let w = who();
        let mut s = Series::new(
            w.id,
            w.organization,
            w.calendar,
            SeriesKind::Event,
            "Standup".into(),
            None,
            schedule,
            1,
        );
        let moved = resolve(local(2026, 3, 9, 9), zone);
        let mut ex = Exception::new(RecurrenceId(moved));
        ex.start = Some(moved + 3600);
        ex.end = Some(moved + 7200);
        ex.title = Some("Standup (late)".into());
        let mut cancelled = Exception::new(RecurrenceId(resolve(local(2026, 3, 23, 9), zone)));
        cancelled.status = Some(OccurrenceStatus::Cancelled);
        s.set_exceptions(vec![ex, cancelled]);
        s
    }

    fn resolve(t: NaiveDateTime, zone: Tz) -> i64 {
        instant_of(t, zone)
    }

    #[test]
    fn a_floating_until_is_written_as_an_instant_and_wall_clock_is_kept() {
        let (remote, fidelity) = to_remote(&weekly_ny());
        assert_eq!(fidelity, Fidelity::Exact);
        // The last Monday kept is Dec 28; the next would be Jan 4, 2027: UNTIL is written as
        // 2027-01-03 23:59:59 EST = 2027-01-04 04:59:59Z, Google's convention.
        assert_eq!(
            remote.rrule.as_deref(),
            Some("FREQ=WEEKLY;UNTIL=20270104T045959Z;BYDAY=MO")
        );
        assert_eq!(
            remote.start,
            RemoteTime::Timed {
                local: local(2026, 3, 2, 9),
                zone: chrono_tz::America::New_York
            }
        );
        assert_eq!(
            remote.end,
            RemoteTime::Timed {
                local: local(2026, 3, 2, 10),
                zone: chrono_tz::America::New_York
            }
        );
        assert_eq!(remote.exdates, vec![local(2026, 3, 16, 9)]);
        assert_eq!(remote.exceptions.len(), 2);
        assert!(remote.exceptions[1].cancelled);
        assert_eq!(
            remote.exceptions[0].start,
            Some(RemoteTime::Timed {
                local: local(2026, 3, 9, 10),
                zone: chrono_tz::America::New_York
            })
        );
    }

    #[test]
    fn a_series_trimmed_by_a_split_ends_the_way_google_writes_it() {
        // Trimmed before the June 10 occurrence (09:00 EDT = 13:00Z): Almanac stores UNTIL one
        // second before it; Google writes local midnight of the split day minus one second.
        let zone = chrono_tz::America::New_York;
        let rec = Recurrence::parse(Some("FREQ=DAILY;UNTIL=20260610T125959Z"), vec![], vec![])
            .expect("rule");
        let schedule = Schedule::new(
            local(2026, 6, 1, 9),
            zone,
            Length::WallClock { seconds: 3600 },
            false,
            Some(rec),
        )
        .expect("schedule");
        let w = who();
        let s = Series::new(
            w.id,
            w.organization,
            w.calendar,
            SeriesKind::Event,
            "Daily".into(),
            None,
            schedule,
            1,
        );
        let (remote, _) = to_remote(&s);
        assert_eq!(
            remote.rrule.as_deref(),
            Some("FREQ=DAILY;UNTIL=20260610T035959Z")
        );
        let back = to_local(&remote, who()).expect("valid");
        let starts = |x: &Series| {
            x.schedule()
                .instances_from(i64::MIN)
                .map(|i| i.start)
                .collect::<Vec<_>>()
        };
        assert_eq!(starts(&back), starts(&s), "the same nine occurrences");
        assert_eq!(starts(&s).len(), 9);
    }

    #[test]
    fn remote_to_local_and_back_is_the_same_remote_series() {
        let local_series = weekly_ny();
        let (remote, _) = to_remote(&local_series);
        let back = to_local(&remote, who()).expect("valid");
        let (again, _) = to_remote(&back);
        assert_eq!(again, remote);
        assert_eq!(back.exceptions().len(), 2);
    }

    #[test]
    fn an_exception_put_back_on_its_slot_is_not_a_move() {
        let s = weekly_ny();
        let (mut remote, _) = to_remote(&s);
        let rid = remote.exceptions[0].original_start;
        remote.exceptions[0].start = Some(RemoteTime::Timed {
            local: local(2026, 3, 9, 9),
            zone: chrono_tz::America::New_York,
        });
        remote.exceptions[0].end = Some(RemoteTime::Timed {
            local: local(2026, 3, 9, 10),
            zone: chrono_tz::America::New_York,
        });
        remote.exceptions[0].title = Some("Standup".into());
        let back = to_local(&remote, who()).expect("valid");
        let e = back
            .exception(RecurrenceId(rid))
            .expect("kept as an exception record");
        assert!(!e.is_placed());
        assert_eq!(e.title, None);
    }

    #[test]
    fn all_day_series_use_dates_and_available_time_degrades() {
        let zone = chrono_tz::Europe::Berlin;
        let rec = Recurrence::parse(Some("FREQ=YEARLY"), vec![], vec![]).expect("rule");
        let schedule = Schedule::new(
            local(2026, 5, 1, 0),
            zone,
            Length::Duration {
                days: 1,
                seconds: 0,
            },
            true,
            Some(rec),
        )
        .expect("schedule");
        let w = who();
        let s = Series::new(
            w.id,
            w.organization,
            w.calendar,
            SeriesKind::Available,
            "Open day".into(),
            None,
            schedule,
            1,
        );
        let (remote, fidelity) = to_remote(&s);
        assert_eq!(
            remote.start,
            RemoteTime::AllDay(NaiveDate::from_ymd_opt(2026, 5, 1).expect("date"))
        );
        assert_eq!(
            remote.end,
            RemoteTime::AllDay(NaiveDate::from_ymd_opt(2026, 5, 2).expect("date"))
        );
        assert!(remote.transparent);
        assert!(matches!(fidelity, Fidelity::Degraded(ref lost) if lost.len() == 1));
    }

    #[test]
    fn a_bad_remote_rule_is_refused_like_api_input() {
        let (mut remote, _) = to_remote(&weekly_ny());
        remote.rrule = Some("FREQ=DAILY;INTERVAL=0".into());
        assert!(to_local(&remote, who()).is_err());
    }
}
