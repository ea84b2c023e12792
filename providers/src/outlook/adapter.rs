//! Outlook (Microsoft Graph) as a [`RemoteCalendar`]: Almanac series ↔ Graph events.
//!
//! * A series is a series master (or a single event) whose `recurrence` is the RRULE translated
//!   by [`super::pattern`]; a rule Graph cannot express follows the configured fallback: the push
//!   is rejected with the reason, or the nearest expressible pattern is pushed and the surplus
//!   occurrences are deleted (fidelity DEGRADED, saying so). EXDATEs are deleted occurrences.
//! * Creates carry a `transactionId` derived from the series, so a create whose response was
//!   lost is not duplicated; Almanac's series id is also stored as an extended property.
//! * Exceptions are written to the occurrence Graph lists in `instances` for the original start
//!   (ids are never built). Graph wipes every exception when a master's recurrence is patched, so
//!   after any master PATCH all of the series' exceptions and deletions are applied again. A move
//!   Graph refuses (across a neighbouring occurrence) becomes "delete the occurrence + a separate
//!   single event", which the fidelity result says.
//! * Pull uses `calendarView/delta` over a rolling window. Delta carries no series masters and
//!   only skeletal occurrences, and may drop deleted occurrences, so every master it touches is
//!   re-read with its instances, and `@removed` items make the engine re-check every mapped series.
//!   A fresh (windowed) round lists every instance in the window, so there the delta items are the
//!   instance list and only the master is read. Master reads fan out up to the mailbox's
//!   concurrency budget.

use super::client::{GraphClient, GraphError};
use super::pattern::{from_graph, to_graph_rrule, Fallback, Translation};
use super::wire::{
    BodyType, DateTimeTimeZone, Event, EventType, FreeBusyStatus, ItemBody,
    SingleValueExtendedProperty,
};
use super::zones;
use crate::sync::engine::{
    ChangeSet, ExceptionRef, RemoteCalendar, RemoteChange, RemoteRef, SyncError,
};
use crate::sync::fingerprint::{exception_fingerprint, exception_matches, series_matches};
use crate::sync::mapping::instant_of;
use crate::sync::model::{Fidelity, RemoteException, RemoteSeries, RemoteTime};
use almanac_domain::recurrence::{Length, Recurrence, Schedule};
use almanac_domain::SeriesId;
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use futures_util::{stream, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Almanac's series id on the events it creates (a named string property in Almanac's own
/// property set).
pub const SERIES_PROPERTY: &str =
    "String {4d9c3f0e-7a51-4c1b-9a65-1f6c2a8e5b37} Name almanacSeries";
/// Exceptions Almanac moved across a neighbour live as single events with this prefix in the
/// exception map.
const STANDALONE: &str = "standalone:";
/// How long one delta window is followed before a fresh round re-centres it on today.
const WINDOW_ROLL_SECONDS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Copy)]
pub struct OutlookOptions {
    /// Push the nearest expressible pattern (plus deletions) instead of rejecting a rule Graph
    /// cannot express.
    pub fallback_nearest: bool,
    /// How far ahead deletions that emulate an unbounded rule are written.
    pub horizon_days: i64,
    /// The delta window around now.
    pub window_past_days: i64,
    pub window_future_days: i64,
}

impl Default for OutlookOptions {
    fn default() -> Self {
        OutlookOptions {
            fallback_nearest: false,
            horizon_days: 730,
            window_past_days: 60,
            window_future_days: 400,
        }
    }
}

pub struct OutlookCalendar {
    client: GraphClient,
    /// Zone for all-day series pulled from Graph (their dates float).
    default_zone: Tz,
    options: OutlookOptions,
}

impl OutlookCalendar {
    pub fn new(client: GraphClient, default_zone: Tz, options: OutlookOptions) -> Self {
        OutlookCalendar {
            client,
            default_zone,
            options,
        }
    }
}

pub fn sync_error(e: GraphError) -> SyncError {
    if e.is_resync_required() {
        return SyncError::CursorExpired;
    }
    if e.needs_reauthorization() {
        return SyncError::NeedsReauth(e.to_string());
    }
    if e.is_retryable() {
        return SyncError::Transient(e.to_string());
    }
    match e {
        GraphError::PreconditionFailed | GraphError::Conflict { .. } | GraphError::Decode(_) => {
            SyncError::Transient(e.to_string())
        }
        other => SyncError::Rejected(other.to_string()),
    }
}

/// The transactionId of a series' master (and of a standalone moved occurrence).
fn transaction_id(series: SeriesId, occurrence: Option<i64>) -> String {
    match occurrence {
        None => format!("almanac-{}", series.as_uuid().simple()),
        Some(rid) => format!("almanac-{}-{rid}", series.as_uuid().simple()),
    }
}

fn series_of_transaction(id: &str) -> Option<SeriesId> {
    let raw = id.strip_prefix("almanac-")?;
    if raw.len() != 32 {
        return None;
    }
    uuid::Uuid::try_parse(raw).ok().map(SeriesId::from_uuid)
}

fn calendar_arg(calendar: &str) -> Option<&str> {
    match calendar {
        "" | "primary" => None,
        id => Some(id),
    }
}

fn zone_name(zone: Tz) -> String {
    zones::to_graph(zone).0
}

fn graph_time(t: RemoteTime, series_zone: Tz) -> DateTimeTimeZone {
    match t {
        RemoteTime::AllDay(d) => {
            DateTimeTimeZone::local(d.and_time(NaiveTime::MIN), zone_name(series_zone))
        }
        RemoteTime::Timed { local, zone } => DateTimeTimeZone::local(local, zone_name(zone)),
    }
}

fn zone_of(t: RemoteTime, fallback: Tz) -> Tz {
    match t {
        RemoteTime::Timed { zone, .. } => zone,
        RemoteTime::AllDay(_) => fallback,
    }
}

/// A Graph start/end as a remote time. Responses are in UTC (we send `outlook.timezone="UTC"`);
/// the event's own zone comes from `originalStartTimeZone`. All-day values float.
fn remote_time(t: &DateTimeTimeZone, all_day: bool, zone: Tz) -> Result<RemoteTime, String> {
    if all_day {
        return t
            .naive()
            .map(|n| RemoteTime::AllDay(n.date()))
            .ok_or_else(|| format!("unreadable date {:?}", t.date_time));
    }
    let utc = match t.time_zone.as_deref() {
        None | Some("UTC") | Some("Etc/UTC") => t.naive().map(|n| n.and_utc()),
        Some(name) => {
            let z = zones::from_graph(name).ok_or_else(|| format!("unknown time zone {name:?}"))?;
            t.naive()
                .map(|n| DateTime::from_timestamp(instant_of(n, z), 0).unwrap_or_default())
        }
    }
    .ok_or_else(|| format!("unreadable time {:?}", t.date_time))?;
    Ok(RemoteTime::Timed {
        local: utc.with_timezone(&zone).naive_local(),
        zone,
    })
}

fn local_instant(t: NaiveDateTime, zone: Tz) -> i64 {
    instant_of(t, zone)
}

/// A rule as Graph will hold it: the pattern (JSON), occurrences to delete, what is lost.
struct Translated {
    recurrence: serde_json::Value,
    cancel: Vec<NaiveDateTime>,
    lost: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn translate_for_push(
    rule: &str,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
    rdates: &[NaiveDateTime],
    exdates: &[NaiveDateTime],
    nearest: bool,
    horizon: chrono::NaiveDate,
) -> Result<Translated, String> {
    let fallback = if nearest {
        Fallback::NearestWithExceptions { horizon }
    } else {
        Fallback::Reject
    };
    let json = |p: &super::pattern::PatternedRecurrence| {
        serde_json::to_value(p).map_err(|e| e.to_string())
    };
    match to_graph_rrule(rule, start, zone, all_day, rdates, exdates, fallback) {
        // Notes on an exact translation change no occurrence: the push stays exact.
        Translation::Exact {
            recurrence, cancel, ..
        } => Ok(Translated {
            recurrence: json(&recurrence)?,
            cancel,
            lost: Vec::new(),
        }),
        Translation::Nearest {
            recurrence,
            cancel,
            lost,
            ..
        } => Ok(Translated {
            recurrence: json(&recurrence)?,
            cancel,
            lost,
        }),
        Translation::Inexpressible { reason } => Err(reason),
    }
}

fn rule_from_graph(
    recurrence: &serde_json::Value,
    start: NaiveDateTime,
    zone: Tz,
    all_day: bool,
) -> Result<String, String> {
    let pattern: super::pattern::PatternedRecurrence =
        serde_json::from_value(recurrence.clone())
            .map_err(|e| format!("unreadable recurrence: {e}"))?;
    from_graph(&pattern, start, zone, all_day)
}

/// What a push of `desired` to Graph becomes.
struct Plan {
    recurrence: Option<serde_json::Value>,
    /// Occurrence starts (instants) to delete: EXDATEs and, with the nearest fallback, the
    /// pattern's surplus.
    deletions: Vec<i64>,
    fidelity: Fidelity,
}

fn plan(
    desired: &RemoteSeries,
    options: OutlookOptions,
    now: DateTime<Utc>,
    all_day_zone: Tz,
) -> Result<Plan, String> {
    let zone = zone_of(desired.start, all_day_zone);
    let (start_local, all_day) = match desired.start {
        RemoteTime::Timed { local, .. } => (local, false),
        RemoteTime::AllDay(d) => (d.and_time(NaiveTime::MIN), true),
    };
    let mut fidelity = Fidelity::Exact;
    if !zones::to_graph(zone).1 {
        fidelity.degrade(format!(
            "{} has no Windows name; Outlook may refuse or reinterpret it",
            zone.name()
        ));
    }
    let Some(rule) = desired.rrule.as_deref() else {
        if !desired.rdates.is_empty() {
            return Err("extra dates (RDATE) without a rule cannot be expressed in Outlook".into());
        }
        return Ok(Plan {
            recurrence: None,
            deletions: Vec::new(),
            fidelity,
        });
    };
    let horizon = (now + Duration::days(options.horizon_days)).date_naive();
    let translated = translate_for_push(
        rule,
        start_local,
        zone,
        all_day,
        &desired.rdates,
        &desired.exdates,
        options.fallback_nearest,
        horizon,
    )?;
    for lost in translated.lost {
        fidelity.degrade(lost);
    }
    let deletions = translated
        .cancel
        .iter()
        .map(|t| local_instant(*t, zone))
        .collect();
    Ok(Plan {
        recurrence: Some(translated.recurrence),
        deletions,
        fidelity,
    })
}

fn master_body(
    desired: &RemoteSeries,
    recurrence: Option<serde_json::Value>,
    all_day_zone: Tz,
) -> Event {
    let zone = zone_of(desired.start, all_day_zone);
    let all_day = matches!(desired.start, RemoteTime::AllDay(_));
    Event {
        subject: Some(desired.title.clone()),
        body: Some(ItemBody {
            content_type: Some(BodyType::Text),
            content: Some(desired.description.clone().unwrap_or_default()),
        }),
        start: Some(graph_time(desired.start, zone)),
        end: Some(graph_time(desired.end, zone)),
        is_all_day: Some(all_day),
        show_as: Some(if desired.transparent {
            FreeBusyStatus::Free
        } else if desired.tentative {
            FreeBusyStatus::Tentative
        } else {
            FreeBusyStatus::Busy
        }),
        recurrence,
        ..Event::default()
    }
}

/// The occurrence's own slot (where the rule puts it, with the series' length).
fn slot(original: i64, desired: &RemoteSeries, all_day_zone: Tz) -> (RemoteTime, RemoteTime) {
    match (desired.start, desired.end) {
        (RemoteTime::AllDay(s), RemoteTime::AllDay(e)) => {
            let day = crate::sync::mapping::original_date(original, all_day_zone);
            (RemoteTime::AllDay(day), RemoteTime::AllDay(day + (e - s)))
        }
        (
            RemoteTime::Timed { local: ls, zone },
            RemoteTime::Timed {
                local: le,
                zone: ez,
            },
        ) => {
            let length = instant_of(le, ez) - instant_of(ls, zone);
            let at = |t: i64| RemoteTime::Timed {
                local: DateTime::from_timestamp(t, 0)
                    .unwrap_or_default()
                    .with_timezone(&zone)
                    .naive_local(),
                zone,
            };
            (at(original), at(original + length))
        }
        _ => (desired.start, desired.end),
    }
}

fn etag_of(e: &Event) -> Option<String> {
    e.change_key.clone().or_else(|| e.etag.clone())
}

/// An occurrence's original start as Almanac names it (its recurrence id). Graph gives an
/// instant; for all-day series Exchange's instant for "the day" may be midnight UTC or midnight in
/// the event's zone, so all-day original starts are read as a date and placed at midnight in the
/// series' zone, as Almanac's are.
fn original_of(o: &Event, all_day: bool, zone: Tz) -> Option<i64> {
    let t = o.original_start.as_ref()?.to_utc();
    if !all_day {
        return Some(t.timestamp());
    }
    let in_zone = t.with_timezone(&zone);
    let date = if in_zone.time() == NaiveTime::MIN {
        in_zone.date_naive()
    } else {
        t.date_naive()
    };
    Some(instant_of(date.and_time(NaiveTime::MIN), zone))
}

/// The original start of an instance as `instances` or delta lists it. Delta's occurrences are
/// skeletal (no `originalStart`), but an occurrence that was never modified starts at its original
/// start.
fn listed_original(o: &Event, all_day: bool, zone: Tz) -> Option<i64> {
    if o.original_start.is_some() {
        return original_of(o, all_day, zone);
    }
    if o.event_type != Some(EventType::Occurrence) {
        return None;
    }
    Some(match remote_time(o.start.as_ref()?, all_day, zone).ok()? {
        RemoteTime::Timed { local, zone } => instant_of(local, zone),
        RemoteTime::AllDay(day) => instant_of(day.and_time(NaiveTime::MIN), zone),
    })
}

/// The delta window of a round that started at `started` (Unix seconds).
fn window_around(started: i64, options: OutlookOptions) -> (DateTime<Utc>, DateTime<Utc>) {
    let started = DateTime::from_timestamp(started, 0).unwrap_or_default();
    (
        started - Duration::days(options.window_past_days),
        started + Duration::days(options.window_future_days),
    )
}

impl OutlookCalendar {
    /// Occurrences of a master around the given original starts, by original start.
    async fn occurrences(
        &self,
        master: &str,
        originals: &[i64],
        all_day: bool,
        zone: Tz,
    ) -> Result<HashMap<i64, Event>, SyncError> {
        let (Some(min), Some(max)) = (originals.iter().min(), originals.iter().max()) else {
            return Ok(HashMap::new());
        };
        let from = DateTime::from_timestamp(min - 2 * 86_400, 0).unwrap_or_default();
        let to = DateTime::from_timestamp(max + 3 * 86_400, 0).unwrap_or_default();
        let list = self
            .client
            .instances(master, from, to)
            .await
            .map_err(sync_error)?;
        Ok(list
            .into_iter()
            .filter_map(|e| Some((original_of(&e, all_day, zone)?, e)))
            .collect())
    }

    async fn write_master(
        &self,
        calendar: &str,
        local: SeriesId,
        body: &Event,
        known: Option<&RemoteRef>,
    ) -> Result<(String, Option<String>, bool), SyncError> {
        if let Some(k) = known {
            match self
                .client
                .patch_event(&k.remote_id, body, k.etag.as_deref())
                .await
            {
                Ok(e) => return Ok((k.remote_id.clone(), etag_of(&e), false)),
                Err(GraphError::PreconditionFailed) => {
                    let fresh = self
                        .client
                        .get_event(&k.remote_id, None)
                        .await
                        .map_err(sync_error)?;
                    let e = self
                        .client
                        .patch_event(&k.remote_id, body, etag_of(&fresh).as_deref())
                        .await
                        .map_err(sync_error)?;
                    return Ok((k.remote_id.clone(), etag_of(&e), false));
                }
                // Deleted in Outlook while changed here: a modification beats a deletion.
                Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                Err(e) => return Err(sync_error(e)),
            }
        }
        let create = Event {
            transaction_id: Some(transaction_id(local, None)),
            single_value_extended_properties: Some(vec![SingleValueExtendedProperty {
                id: Some(SERIES_PROPERTY.into()),
                value: Some(local.to_string()),
            }]),
            ..body.clone()
        };
        let e = self
            .client
            .create_event(calendar_arg(calendar), &create)
            .await
            .map_err(sync_error)?;
        let id = e
            .id
            .clone()
            .ok_or_else(|| SyncError::Transient("Graph created an event without an id".into()))?;
        Ok((id, etag_of(&e), true))
    }
}

#[async_trait]
impl RemoteCalendar for OutlookCalendar {
    #[tracing::instrument(skip_all, fields(provider = "outlook", series = %local))]
    async fn upsert(
        &self,
        calendar: &str,
        local: SeriesId,
        desired: &RemoteSeries,
        known: Option<&RemoteRef>,
    ) -> Result<(RemoteRef, Fidelity), SyncError> {
        let plan = plan(desired, self.options, Utc::now(), self.default_zone)
            .map_err(SyncError::Rejected)?;
        let mut fidelity = plan.fidelity.clone();
        let parent_unchanged = known.is_some_and(|k| {
            k.fingerprint
                .as_deref()
                .is_some_and(|f| series_matches(f, desired))
        });
        let before = known.map(|k| k.exceptions.clone()).unwrap_or_default();
        // A cancelled occurrence cannot be brought back in Graph except by rewriting the master's
        // recurrence (which wipes every exception); do that when one was restored here.
        let restores_deleted = before.iter().any(|(o, r)| {
            r.remote_id.is_empty()
                && !desired
                    .exceptions
                    .iter()
                    .any(|e| e.original_start == *o && e.cancelled)
        });

        let (master, etag, rewritten) = if parent_unchanged && !restores_deleted {
            let k = known.expect("parent_unchanged implies known");
            (k.remote_id.clone(), k.etag.clone(), false)
        } else {
            let body = master_body(desired, plan.recurrence.clone(), self.default_zone);
            let (id, etag, _) = self.write_master(calendar, local, &body, known).await?;
            (id, etag, true)
        };

        // After a master write every exception and deletion is (re)applied: Graph wiped them.
        let mut now: BTreeMap<i64, ExceptionRef> = BTreeMap::new();
        let todo: Vec<&RemoteException> = desired
            .exceptions
            .iter()
            .filter(|e| {
                rewritten
                    || before
                        .get(&e.original_start)
                        .is_none_or(|p| !exception_matches(&p.fingerprint, e))
            })
            .collect();
        for e in desired
            .exceptions
            .iter()
            .filter(|e| !todo.iter().any(|t| t.original_start == e.original_start))
        {
            if let Some(p) = before.get(&e.original_start) {
                // Unchanged: kept, under its current-scheme fingerprint.
                now.insert(
                    e.original_start,
                    ExceptionRef {
                        fingerprint: exception_fingerprint(e),
                        ..p.clone()
                    },
                );
            }
        }
        let deletions: Vec<i64> = if rewritten {
            plan.deletions.clone()
        } else {
            Vec::new()
        };
        // Standalone events of moves that are no longer wanted go away.
        for (o, p) in &before {
            let kept = now.get(o).is_some_and(|n| n.remote_id == p.remote_id);
            if let (false, Some(id)) = (kept, p.remote_id.strip_prefix(STANDALONE)) {
                match self.client.delete_event(id, None).await {
                    Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                    Err(e) => return Err(sync_error(e)),
                }
            }
        }
        let restored: Vec<i64> = before
            .keys()
            .filter(|o| !desired.exceptions.iter().any(|e| e.original_start == **o))
            .copied()
            .collect();
        let originals: Vec<i64> = todo
            .iter()
            .map(|e| e.original_start)
            .chain(deletions.iter().copied())
            .chain(if rewritten {
                Vec::new()
            } else {
                restored.clone()
            })
            .collect();
        let all_day = matches!(desired.start, RemoteTime::AllDay(_));
        let occurrences = self
            .occurrences(
                &master,
                &originals,
                all_day,
                zone_of(desired.start, self.default_zone),
            )
            .await?;

        for original in &deletions {
            if let Some(id) = occurrences.get(original).and_then(|o| o.id.clone()) {
                match self.client.delete_event(&id, None).await {
                    Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                    Err(e) => return Err(sync_error(e)),
                }
            }
        }
        for e in todo {
            let fp = exception_fingerprint(e);
            let Some(occurrence) = occurrences.get(&e.original_start) else {
                if !e.cancelled {
                    fidelity.degrade(format!(
                        "occurrence {}: Outlook has no occurrence there",
                        DateTime::<Utc>::from_timestamp(e.original_start, 0)
                            .unwrap_or_default()
                            .to_rfc3339()
                    ));
                }
                continue;
            };
            let id = occurrence.id.clone().unwrap_or_default();
            if e.cancelled {
                match self.client.delete_event(&id, None).await {
                    Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                    Err(err) => return Err(sync_error(err)),
                }
                // A deleted occurrence has no id left to remember.
                now.insert(
                    e.original_start,
                    ExceptionRef {
                        remote_id: String::new(),
                        etag: None,
                        fingerprint: fp,
                    },
                );
                continue;
            }
            let zone = zone_of(desired.start, self.default_zone);
            let (slot_start, slot_end) = slot(e.original_start, desired, self.default_zone);
            let patch = Event {
                subject: Some(e.title.clone().unwrap_or_else(|| desired.title.clone())),
                start: Some(graph_time(e.start.unwrap_or(slot_start), zone)),
                end: Some(graph_time(e.end.unwrap_or(slot_end), zone)),
                show_as: Some(if e.tentative {
                    FreeBusyStatus::Tentative
                } else if desired.transparent {
                    FreeBusyStatus::Free
                } else {
                    FreeBusyStatus::Busy
                }),
                body: e.description.clone().map(|d| ItemBody {
                    content_type: Some(BodyType::Text),
                    content: Some(d),
                }),
                ..Event::default()
            };
            match self.client.patch_event(&id, &patch, None).await {
                Ok(x) => {
                    now.insert(
                        e.original_start,
                        ExceptionRef {
                            remote_id: id,
                            etag: etag_of(&x),
                            fingerprint: fp,
                        },
                    );
                }
                Err(err) if err.is_occurrence_crossing_boundary() => {
                    // Outlook refuses to move an occurrence past its neighbour: delete it and
                    // show the moved occurrence as a single event.
                    match self.client.delete_event(&id, None).await {
                        Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                        Err(err) => return Err(sync_error(err)),
                    }
                    let single = Event {
                        recurrence: None,
                        transaction_id: Some(transaction_id(local, Some(e.original_start))),
                        ..patch
                    };
                    let created = self
                        .client
                        .create_event(calendar_arg(calendar), &single)
                        .await
                        .map_err(sync_error)?;
                    fidelity.degrade(format!(
                        "occurrence {}: moved past its neighbour, which Outlook refuses; shown there as a separate event",
                        DateTime::<Utc>::from_timestamp(e.original_start, 0).unwrap_or_default().to_rfc3339()
                    ));
                    now.insert(
                        e.original_start,
                        ExceptionRef {
                            remote_id: format!(
                                "{STANDALONE}{}",
                                created.id.clone().unwrap_or_default()
                            ),
                            etag: etag_of(&created),
                            fingerprint: fp,
                        },
                    );
                }
                Err(err) => return Err(sync_error(err)),
            }
        }
        // Modified occurrences restored here go back to their slot (deleted ones came back with
        // the master rewrite above).
        if !rewritten {
            for original in restored {
                if let Some(o) = occurrences.get(&original) {
                    let (s, e) = slot(original, desired, self.default_zone);
                    let zone = zone_of(desired.start, self.default_zone);
                    let patch = Event {
                        subject: Some(desired.title.clone()),
                        start: Some(graph_time(s, zone)),
                        end: Some(graph_time(e, zone)),
                        ..Event::default()
                    };
                    self.client
                        .patch_event(o.id.as_deref().unwrap_or_default(), &patch, None)
                        .await
                        .map_err(sync_error)?;
                }
            }
        }
        let etag = if now.is_empty() && deletions.is_empty() {
            etag
        } else {
            // Writing occurrences changes the master's changeKey: remember the final one, so the
            // next pull recognises all of this as our own writing.
            self.client
                .get_event(&master, None)
                .await
                .ok()
                .and_then(|m| etag_of(&m))
                .or(etag)
        };
        Ok((
            RemoteRef {
                remote_id: master,
                etag,
                exceptions: now,
                fingerprint: None,
            },
            fidelity,
        ))
    }

    #[tracing::instrument(skip_all, fields(provider = "outlook", series = %_local))]
    async fn delete(
        &self,
        _calendar: &str,
        _local: SeriesId,
        known: Option<&RemoteRef>,
    ) -> Result<(), SyncError> {
        let Some(k) = known else {
            // Never pushed (or its create was lost and never adopted): nothing we can name.
            return Ok(());
        };
        for id in k
            .exceptions
            .values()
            .filter_map(|r| r.remote_id.strip_prefix(STANDALONE))
        {
            match self.client.delete_event(id, None).await {
                Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {}
                Err(e) => return Err(sync_error(e)),
            }
        }
        match self.client.delete_event(&k.remote_id, None).await {
            Ok(()) | Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => Ok(()),
            Err(e) => Err(sync_error(e)),
        }
    }

    #[tracing::instrument(skip_all, fields(provider = "outlook", full = cursor.is_none()))]
    async fn changes(&self, calendar: &str, cursor: Option<&str>) -> Result<ChangeSet, SyncError> {
        // The cursor is "<when the window started>|<deltaLink>". A deltaLink keeps the window it
        // was made with, so once a week the round starts over with a window around today: that
        // rolls the window forward and re-reads every series in it (the periodic re-check that
        // catches what delta did not say).
        let now = Utc::now();
        let live = cursor
            .and_then(|c| c.split_once('|'))
            .and_then(|(started, link)| {
                let started: i64 = started.parse().ok()?;
                (now.timestamp() - started < WINDOW_ROLL_SECONDS).then_some((started, link))
            });
        let (started, round) = match live {
            Some((started, link)) => (started, self.client.delta_from(link).await),
            None => {
                let (from, to) = window_around(now.timestamp(), self.options);
                (
                    now.timestamp(),
                    self.client
                        .calendar_view_delta(calendar_arg(calendar), from, to)
                        .await,
                )
            }
        };
        let round = round.map_err(sync_error)?;
        let full = live.is_none();
        let window = window_around(started, self.options);

        let mut masters: Vec<String> = Vec::new();
        let mut changes = Vec::new();
        let mut skipped = Vec::new();
        let mut recheck = false;
        // A fresh round lists every instance in the window: per master, that is its instance list.
        let mut listed: HashMap<String, Vec<Event>> = HashMap::new();
        // The last appearance of an item wins (delta replays).
        let mut latest: HashMap<String, Event> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for e in round.events {
            let Some(id) = e.id.clone() else { continue };
            if !latest.contains_key(&id) {
                order.push(id.clone());
            }
            latest.insert(id, e);
        }
        for id in order {
            let Some(e) = latest.remove(&id) else {
                continue;
            };
            if e.is_removed() {
                // Deleted, or moved out of the window, or any change outside it: only a GET tells.
                match self.client.get_event(&id, None).await {
                    Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => {
                        changes.push(RemoteChange::Deleted { remote_id: id });
                        recheck = true;
                    }
                    Ok(still) => match still.series_master_id.clone() {
                        Some(m) if !masters.contains(&m) => masters.push(m),
                        Some(_) => {}
                        None => self.single_change(&still, &mut changes, &mut skipped),
                    },
                    Err(err) => return Err(sync_error(err)),
                }
                continue;
            }
            match (&e.event_type, e.series_master_id.clone()) {
                (_, Some(m)) => {
                    if !masters.contains(&m) {
                        masters.push(m.clone());
                    }
                    if full {
                        listed.entry(m).or_default().push(e);
                    }
                }
                (Some(EventType::SeriesMaster), None) => {
                    if !masters.contains(&id) {
                        masters.push(id);
                    }
                }
                _ => self.single_change(&e, &mut changes, &mut skipped),
            }
        }
        let reads = masters.into_iter().map(|m| {
            let instances = listed.remove(&m);
            async move {
                let read = self.master_changes(&m, instances, window).await;
                (m, read)
            }
        });
        let mut reads = stream::iter(reads).buffered(self.client.max_concurrent());
        while let Some((m, read)) = reads.next().await {
            match read {
                Ok(Some(mut c)) => changes.append(&mut c),
                Ok(None) => changes.push(RemoteChange::Deleted { remote_id: m }),
                Err(Ok(why)) => skipped.push(format!("{m}: {why}")),
                Err(Err(e)) => return Err(e),
            }
        }
        Ok(ChangeSet {
            changes,
            next_cursor: format!("{started}|{}", round.delta_link),
            full,
            skipped,
            recheck_mapped: recheck,
        })
    }

    #[tracing::instrument(skip_all, fields(provider = "outlook", remote_series = remote_ids.len()))]
    async fn recheck(
        &self,
        _calendar: &str,
        remote_ids: &[String],
    ) -> Result<Vec<RemoteChange>, SyncError> {
        let window = window_around(Utc::now().timestamp(), self.options);
        let reads = remote_ids.iter().cloned().map(|id| async move {
            let read = self.master_changes(&id, None, window).await;
            (id, read)
        });
        let mut reads = stream::iter(reads).buffered(self.client.max_concurrent());
        let mut out = Vec::new();
        while let Some((id, read)) = reads.next().await {
            match read {
                Ok(Some(mut c)) => out.append(&mut c),
                Ok(None) => out.push(RemoteChange::Deleted { remote_id: id }),
                Err(Ok(_)) => {}
                Err(Err(e)) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl OutlookCalendar {
    fn single_change(&self, e: &Event, changes: &mut Vec<RemoteChange>, skipped: &mut Vec<String>) {
        let id = e.id.clone().unwrap_or_default();
        match self.series_of(e, None) {
            Ok(series) => changes.push(RemoteChange::Series {
                remote_id: id,
                etag: etag_of(e),
                almanac_id: e.transaction_id.as_deref().and_then(series_of_transaction),
                series,
            }),
            Err(why) => skipped.push(format!("{id}: {why}")),
        }
    }

    /// A Graph event (master or single) as a remote series, without exceptions.
    fn series_of(&self, e: &Event, rrule: Option<String>) -> Result<RemoteSeries, String> {
        let all_day = e.is_all_day == Some(true);
        let zone = match e
            .original_start_time_zone
            .as_deref()
            .and_then(zones::from_graph)
        {
            Some(z) if !all_day => z,
            _ => self.default_zone,
        };
        let start = remote_time(e.start.as_ref().ok_or("no start")?, all_day, zone)?;
        let end = remote_time(e.end.as_ref().ok_or("no end")?, all_day, zone)?;
        Ok(RemoteSeries {
            title: e.subject.clone().unwrap_or_default(),
            description: e
                .body
                .as_ref()
                .and_then(|b| b.content.clone())
                .filter(|d| !d.trim().is_empty()),
            start,
            end,
            rrule,
            rdates: Vec::new(),
            exdates: Vec::new(),
            tentative: e.show_as == Some(FreeBusyStatus::Tentative),
            transparent: e.show_as == Some(FreeBusyStatus::Free),
            kind: almanac_domain::series::SeriesKind::Event,
            exceptions: Vec::new(),
        })
    }

    /// A master re-read with its occurrences in the window: the series, its modified occurrences,
    /// and the ones Graph no longer lists (deleted). `listed` is the master's instance list when the
    /// caller already has it for this window (a fresh delta round); otherwise `instances` is read.
    /// `Ok(None)`: the master is gone; `Err(Ok)`: unreadable (reported); `Err(Err)`: the round
    /// must stop.
    async fn master_changes(
        &self,
        id: &str,
        listed: Option<Vec<Event>>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Option<Vec<RemoteChange>>, Result<String, SyncError>> {
        let master = match self.client.get_event(id, Some(SERIES_PROPERTY)).await {
            Ok(m) => m,
            Err(GraphError::NotFound) | Err(GraphError::AlreadyDeleted) => return Ok(None),
            Err(e) => return Err(Err(sync_error(e))),
        };
        let Some(recurrence) = master.recurrence.clone() else {
            let mut out = Vec::new();
            let mut skipped = Vec::new();
            self.single_change(&master, &mut out, &mut skipped);
            return match skipped.pop() {
                Some(why) => Err(Ok(why)),
                None => Ok(Some(out)),
            };
        };
        let all_day = master.is_all_day == Some(true);
        let zone = match master
            .original_start_time_zone
            .as_deref()
            .and_then(zones::from_graph)
        {
            Some(z) if !all_day => z,
            _ => self.default_zone,
        };
        let start = remote_time(
            master.start.as_ref().ok_or(Ok("no start".to_string()))?,
            all_day,
            zone,
        )
        .map_err(Ok)?;
        let start_local = match start {
            RemoteTime::Timed { local, .. } => local,
            RemoteTime::AllDay(d) => d.and_time(NaiveTime::MIN),
        };
        let rule = rule_from_graph(&recurrence, start_local, zone, all_day).map_err(Ok)?;
        let mut series = self.series_of(&master, Some(rule.clone())).map_err(Ok)?;
        let almanac_id = master
            .extended_property(SERIES_PROPERTY)
            .and_then(|v| v.parse::<SeriesId>().ok())
            .or_else(|| {
                master
                    .transaction_id
                    .as_deref()
                    .and_then(series_of_transaction)
            });

        // Occurrences in the window vs what the pattern makes there: missing ones were deleted.
        let listed = match listed {
            Some(listed) => listed,
            None => self
                .client
                .instances(id, from, to)
                .await
                .map_err(|e| Err(sync_error(e)))?,
        };
        let schedule = Schedule::new(
            start_local,
            zone,
            Length::Duration {
                days: 0,
                seconds: 60,
            },
            all_day,
            Some(
                Recurrence::parse(Some(&rule), Vec::new(), Vec::new())
                    .map_err(|e| Ok(e.to_string()))?,
            ),
        )
        .map_err(|e| Ok(e.to_string()))?;
        let expected: Vec<i64> = schedule
            .instances_from(from.timestamp())
            .take_while(|i| i.start < to.timestamp())
            .map(|i| i.start)
            .collect();
        let present: HashSet<i64> = listed
            .iter()
            .filter_map(|o| listed_original(o, all_day, zone))
            .collect();
        let mut out = Vec::new();
        for o in &listed {
            if o.event_type != Some(EventType::Exception) {
                continue;
            }
            let (Some(oid), Some(original)) = (o.id.clone(), original_of(o, all_day, zone)) else {
                continue;
            };
            let exception = RemoteException {
                original_start: original,
                cancelled: false,
                start: o
                    .start
                    .as_ref()
                    .map(|t| remote_time(t, all_day, zone))
                    .transpose()
                    .map_err(Ok)?,
                end: o
                    .end
                    .as_ref()
                    .map(|t| remote_time(t, all_day, zone))
                    .transpose()
                    .map_err(Ok)?,
                title: o.subject.clone(),
                description: o
                    .body
                    .as_ref()
                    .and_then(|b| b.content.clone())
                    .filter(|d| !d.trim().is_empty()),
                tentative: o.show_as == Some(FreeBusyStatus::Tentative),
            };
            out.push(RemoteChange::Exception {
                parent_remote_id: id.to_string(),
                remote_id: oid,
                etag: etag_of(o),
                exception,
            });
        }
        for original in expected.into_iter().filter(|t| !present.contains(t)) {
            out.push(RemoteChange::Exception {
                parent_remote_id: id.to_string(),
                remote_id: String::new(),
                etag: None,
                exception: RemoteException::cancelled(original),
            });
        }
        series.exceptions.clear();
        out.insert(
            0,
            RemoteChange::Series {
                remote_id: id.to_string(),
                etag: etag_of(&master),
                almanac_id,
                series,
            },
        );
        Ok(Some(out))
    }
}
