//! Google Calendar as a [`RemoteCalendar`]: Almanac series ↔ Google events.
//!
//! * A series is one event whose id is derived from the series id (base32hex of its UUID), so an
//!   insert whose response was lost is found again through 409 `duplicate` instead of being
//!   duplicated. Everything Almanac writes carries `extendedProperties.private.almanacSeries`.
//! * Exceptions are written to the instance Google generated for the original start, found with
//!   `instances?originalStart=` — instance ids are opaque and never built here. A cancelled
//!   occurrence is the instance deleted; a restored one is the instance put back on its slot.
//! * Updates use PATCH with `If-Match`: our fields replace Google's, fields we do not model
//!   (attendees, conference data, reminders) stay. On 412 the event is re-read and the same patch
//!   applied to the fresh etag (a pending local change wins over the provider's).
//! * Pull lists with `singleEvents=false` (parents, exceptions and cancelled instances) and follows
//!   `nextSyncToken`; 410 `fullSyncRequired` becomes [`SyncError::CursorExpired`].

use super::client::{GoogleCalendarClient, GoogleError, ListQuery};
use super::wire::{
    event_id_from_uuid, Event, EventDateTime, EventStatus, ExtendedProperties, Transparency,
};
use crate::sync::engine::{
    ChangeSet, ExceptionRef, RemoteCalendar, RemoteChange, RemoteRef, SyncError,
};
use crate::sync::fingerprint::{exception_fingerprint, exception_matches, series_matches};
use crate::sync::mapping::{exact_time, instant_of, original_date};
use crate::sync::model::{Fidelity, RemoteException, RemoteSeries, RemoteTime};
use almanac_domain::series::SeriesKind;
use almanac_domain::SeriesId;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};

/// The private extended property that marks events Almanac wrote, with the series id.
pub const SERIES_MARKER: &str = "almanacSeries";
const KIND_MARKER: &str = "almanacKind";

pub struct GoogleCalendar {
    client: GoogleCalendarClient,
    /// Zone for timed values Google sends without one (the calendar's zone).
    default_zone: Tz,
}

impl GoogleCalendar {
    pub fn new(client: GoogleCalendarClient, default_zone: Tz) -> Self {
        GoogleCalendar {
            client,
            default_zone,
        }
    }
}

/// The Google event id of a series Almanac pushes.
pub fn event_id(series: SeriesId) -> String {
    event_id_from_uuid(series.as_uuid())
}

pub fn sync_error(e: GoogleError) -> SyncError {
    if e.is_full_sync_required() {
        return SyncError::CursorExpired;
    }
    if e.needs_reauthorization() {
        return SyncError::NeedsReauth(e.to_string());
    }
    if e.is_retryable() {
        return SyncError::Transient(e.to_string());
    }
    match e {
        GoogleError::QuotaExceeded { .. }
        | GoogleError::PreconditionFailed
        | GoogleError::Decode(_) => SyncError::Transient(e.to_string()),
        GoogleError::Unauthorized => SyncError::NeedsReauth(e.to_string()),
        other => SyncError::Rejected(other.to_string()),
    }
}

fn event_time(t: RemoteTime) -> EventDateTime {
    match t {
        RemoteTime::AllDay(d) => EventDateTime::all_day(d),
        RemoteTime::Timed { local, zone } => {
            let at = DateTime::from_timestamp(instant_of(local, zone), 0).unwrap_or_default();
            EventDateTime::timed(at.with_timezone(&zone), Some(zone.name()))
        }
    }
}

/// `exact`: keep the instant even where the zone's wall clock cannot name it (see
/// [`exact_time`]); only a recurring series' start must stay in its own zone, which the rule
/// expands in.
fn remote_time(t: &EventDateTime, default_zone: Tz, exact: bool) -> Result<RemoteTime, String> {
    if let Some(d) = t.date {
        return Ok(RemoteTime::AllDay(d));
    }
    let at = t
        .date_time
        .as_ref()
        .ok_or("a start or end with neither date nor dateTime")?;
    let zone = match &t.time_zone {
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| format!("unknown time zone {name:?}"))?,
        None => default_zone,
    };
    if exact {
        return Ok(exact_time(at.to_utc().timestamp(), zone));
    }
    Ok(RemoteTime::Timed {
        local: at.to_utc().with_timezone(&zone).naive_local(),
        zone,
    })
}

fn zone_of(t: RemoteTime, fallback: Tz) -> Tz {
    match t {
        RemoteTime::Timed { zone, .. } => zone,
        RemoteTime::AllDay(_) => fallback,
    }
}

fn date_list(name: &str, values: &[NaiveDateTime], start: RemoteTime) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    Some(match start {
        RemoteTime::AllDay(_) => format!(
            "{name};VALUE=DATE:{}",
            values
                .iter()
                .map(|v| v.format("%Y%m%d").to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        RemoteTime::Timed { zone, .. } => {
            format!(
                "{name};TZID={}:{}",
                zone.name(),
                values
                    .iter()
                    .map(|v| v.format("%Y%m%dT%H%M%S").to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    })
}

/// Lenient RDATE/EXDATE reading: `;VALUE=DATE:`, `;TZID=…:` and `…Z` forms, into wall-clock
/// values in the series' zone.
fn parse_date_list(line: &str, zone: Tz) -> Result<Vec<NaiveDateTime>, String> {
    let (params, values) = line
        .split_once(':')
        .ok_or_else(|| format!("malformed line {line:?}"))?;
    let tzid = params
        .split(';')
        .find_map(|p| p.strip_prefix("TZID="))
        .map(|z| {
            z.parse::<Tz>()
                .map_err(|_| format!("unknown TZID in {line:?}"))
        })
        .transpose()?;
    values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            if let Ok(d) = NaiveDate::parse_from_str(v, "%Y%m%d") {
                return Ok(d.and_time(NaiveTime::MIN));
            }
            if let Some(utc) = v.strip_suffix('Z') {
                let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                    .map_err(|_| format!("bad value {v:?}"))?;
                return Ok(t.and_utc().with_timezone(&zone).naive_local());
            }
            let t = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                .map_err(|_| format!("bad value {v:?}"))?;
            Ok(match tzid {
                Some(z) if z != zone => DateTime::from_timestamp(instant_of(t, z), 0)
                    .unwrap_or_default()
                    .with_timezone(&zone)
                    .naive_local(),
                _ => t,
            })
        })
        .collect()
}

/// The event Almanac writes for a series (parent fields only).
fn parent_event(desired: &RemoteSeries, local: SeriesId) -> Event {
    let mut recurrence = Vec::new();
    if let Some(rule) = &desired.rrule {
        recurrence.push(format!("RRULE:{rule}"));
    }
    recurrence.extend(date_list("RDATE", &desired.rdates, desired.start));
    recurrence.extend(date_list("EXDATE", &desired.exdates, desired.start));
    let mut private = BTreeMap::new();
    private.insert(SERIES_MARKER.to_string(), local.to_string());
    private.insert(KIND_MARKER.to_string(), desired.kind.as_str().to_string());
    Event {
        summary: Some(desired.title.clone()),
        description: desired.description.clone(),
        start: Some(event_time(desired.start)),
        end: Some(event_time(desired.end)),
        recurrence: Some(recurrence),
        status: Some(if desired.tentative {
            EventStatus::Tentative
        } else {
            EventStatus::Confirmed
        }),
        transparency: Some(if desired.transparent {
            Transparency::Transparent
        } else {
            Transparency::Opaque
        }),
        extended_properties: Some(ExtendedProperties {
            private: Some(private),
            shared: None,
        }),
        ..Event::default()
    }
}

/// A Google parent (or single) event as a remote series, without exceptions.
pub fn series_of(event: &Event, default_zone: Tz) -> Result<RemoteSeries, String> {
    let start_time = event.start.as_ref().ok_or("no start")?;
    let end = remote_time(event.end.as_ref().ok_or("no end")?, default_zone, true)?;
    let zone = zone_of(remote_time(start_time, default_zone, false)?, default_zone);
    let (mut rrule, mut rdates, mut exdates) = (None, Vec::new(), Vec::new());
    for line in event.recurrence_lines() {
        let upper = line.to_ascii_uppercase();
        if let Some(rule) = line.strip_prefix("RRULE:") {
            if rrule.is_some() {
                return Err("more than one RRULE".into());
            }
            rrule = Some(rule.to_string());
        } else if upper.starts_with("RDATE") {
            rdates.extend(parse_date_list(line, zone)?);
        } else if upper.starts_with("EXDATE") {
            exdates.extend(parse_date_list(line, zone)?);
        } else {
            return Err(format!("unsupported recurrence line {line:?}"));
        }
    }
    // A recurring series' start is the wall-clock time its rule expands from. A single event's
    // start, like every end, keeps its instant: in its zone, 02:30+01:00 on 2026-10-25 in
    // Europe/Berlin (the repeated hour) would be read as the first 02:30, an hour early.
    let start = remote_time(
        start_time,
        default_zone,
        rrule.is_none() && rdates.is_empty(),
    )?;
    let kind = event
        .private_property(KIND_MARKER)
        .and_then(SeriesKind::parse)
        .unwrap_or(SeriesKind::Event);
    Ok(RemoteSeries {
        title: event.summary.clone().unwrap_or_default(),
        description: event.description.clone().filter(|d| !d.is_empty()),
        start,
        end,
        rrule,
        rdates,
        exdates,
        tentative: event.status == Some(EventStatus::Tentative),
        transparent: event.transparency == Some(Transparency::Transparent),
        kind,
        exceptions: Vec::new(),
    })
}

/// The original start of an instance as an instant; all-day ones are midnight in `zone`.
fn original_start(instance: &Event, zone: Tz) -> Result<i64, String> {
    let o = instance
        .original_start_time
        .as_ref()
        .ok_or("an instance without originalStartTime")?;
    match (&o.date_time, o.date) {
        (Some(at), _) => Ok(at.to_utc().timestamp()),
        (None, Some(d)) => Ok(instant_of(d.and_time(NaiveTime::MIN), zone)),
        _ => Err("an empty originalStartTime".into()),
    }
}

fn exception_of(instance: &Event, zone: Tz) -> Result<RemoteException, String> {
    let original = original_start(instance, zone)?;
    if instance.is_cancelled() {
        return Ok(RemoteException::cancelled(original));
    }
    Ok(RemoteException {
        original_start: original,
        cancelled: false,
        start: instance
            .start
            .as_ref()
            .map(|t| remote_time(t, zone, true))
            .transpose()?,
        end: instance
            .end
            .as_ref()
            .map(|t| remote_time(t, zone, true))
            .transpose()?,
        title: instance.summary.clone(),
        description: instance.description.clone().filter(|d| !d.is_empty()),
        tentative: instance.status == Some(EventStatus::Tentative),
    })
}

/// `originalStart` for an occurrence of `desired`.
fn original_start_param(original: i64, desired: &RemoteSeries, fallback: Tz) -> EventDateTime {
    match desired.start {
        RemoteTime::AllDay(_) => EventDateTime::all_day(original_date(original, fallback)),
        RemoteTime::Timed { .. } => EventDateTime::timed(
            DateTime::<Utc>::from_timestamp(original, 0).unwrap_or_default(),
            None,
        ),
    }
}

/// The instance's own slot (where the rule puts it, with the series' length).
fn slot(original: i64, desired: &RemoteSeries, fallback: Tz) -> (RemoteTime, RemoteTime) {
    match (desired.start, desired.end) {
        (RemoteTime::AllDay(s), RemoteTime::AllDay(e)) => {
            let day = original_date(original, fallback);
            (RemoteTime::AllDay(day), RemoteTime::AllDay(day + (e - s)))
        }
        (RemoteTime::Timed { local: ls, zone }, end) => {
            let length = match end {
                RemoteTime::Timed { local, zone: ez } => {
                    instant_of(local, ez) - instant_of(ls, zone)
                }
                RemoteTime::AllDay(_) => 0,
            };
            let at = |t: i64| RemoteTime::Timed {
                local: DateTime::from_timestamp(t, 0)
                    .unwrap_or_default()
                    .with_timezone(&zone)
                    .naive_local(),
                zone,
            };
            (at(original), at(original + length))
        }
        (RemoteTime::AllDay(_), RemoteTime::Timed { .. }) => (desired.start, desired.end),
    }
}

impl GoogleCalendar {
    /// Writes the parent event; returns its id and etag.
    async fn put_parent(
        &self,
        calendar: &str,
        local: SeriesId,
        desired: &RemoteSeries,
        known: Option<&RemoteRef>,
    ) -> Result<(String, Option<String>), SyncError> {
        let body = parent_event(desired, local);
        let parent_unchanged = known.is_some_and(|k| {
            k.fingerprint
                .as_deref()
                .is_some_and(|f| series_matches(f, desired))
        });
        if let (true, Some(k)) = (parent_unchanged, known) {
            return Ok((k.remote_id.clone(), k.etag.clone()));
        }
        let (id, etag) = match known {
            Some(k) => (k.remote_id.clone(), k.etag.clone()),
            None => {
                let ours = event_id(local);
                let insert = Event {
                    id: Some(ours.clone()),
                    ..body.clone()
                };
                match self.client.insert_event(calendar, &insert).await {
                    Ok(created) => return Ok((created.id.unwrap_or(ours), created.etag)),
                    // The id exists: an earlier attempt landed (its response was lost), or the
                    // event was deleted in Google and keeps its id. Take it over.
                    Err(GoogleError::Duplicate) => {
                        let existing = self
                            .client
                            .get_event(calendar, &ours)
                            .await
                            .map_err(sync_error)?;
                        (ours, existing.etag)
                    }
                    Err(e) => return Err(sync_error(e)),
                }
            }
        };
        match self
            .client
            .patch_event(calendar, &id, &body, etag.as_deref())
            .await
        {
            Ok(e) => Ok((id, e.etag)),
            Err(GoogleError::PreconditionFailed) => {
                let fresh = self
                    .client
                    .get_event(calendar, &id)
                    .await
                    .map_err(sync_error)?;
                let e = self
                    .client
                    .patch_event(calendar, &id, &body, fresh.etag.as_deref())
                    .await
                    .map_err(sync_error)?;
                Ok((id, e.etag))
            }
            // Deleted in Google while we changed it here: a modification beats a deletion, and a
            // series we pushed can be brought back under its own id.
            Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) if id == event_id(local) => {
                let e = self
                    .client
                    .patch_event(calendar, &id, &body, None)
                    .await
                    .map_err(sync_error)?;
                Ok((id, e.etag))
            }
            Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) => {
                let ours = event_id(local);
                let insert = Event {
                    id: Some(ours.clone()),
                    ..body
                };
                let created = self
                    .client
                    .insert_event(calendar, &insert)
                    .await
                    .map_err(sync_error)?;
                Ok((ours, created.etag))
            }
            Err(e) => Err(sync_error(e)),
        }
    }

    /// The instance for an original start: the id we learned before, else looked up.
    async fn instance(
        &self,
        calendar: &str,
        parent: &str,
        original: i64,
        desired: &RemoteSeries,
        known: Option<&ExceptionRef>,
    ) -> Result<Option<Event>, SyncError> {
        if let Some(k) = known {
            match self.client.get_event(calendar, &k.remote_id).await {
                Ok(e) if e.recurring_event_id.as_deref() == Some(parent) => return Ok(Some(e)),
                Ok(_) | Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) => {}
                Err(e) => return Err(sync_error(e)),
            }
        }
        let at = original_start_param(original, desired, self.default_zone);
        self.client
            .find_instance(calendar, parent, &at)
            .await
            .map_err(sync_error)
    }

    async fn write_exception(
        &self,
        calendar: &str,
        instance: &Event,
        e: &RemoteException,
        desired: &RemoteSeries,
    ) -> Result<Option<String>, SyncError> {
        let id = instance.id.clone().unwrap_or_default();
        if e.cancelled {
            return match self.client.delete_event(calendar, &id, None).await {
                Ok(()) | Err(GoogleError::Gone { .. }) => Ok(self
                    .client
                    .get_event(calendar, &id)
                    .await
                    .ok()
                    .and_then(|x| x.etag)),
                Err(err) => Err(sync_error(err)),
            };
        }
        let (slot_start, slot_end) = slot(e.original_start, desired, self.default_zone);
        let patch = Event {
            start: Some(event_time(e.start.unwrap_or(slot_start))),
            end: Some(event_time(e.end.unwrap_or(slot_end))),
            summary: Some(e.title.clone().unwrap_or_else(|| desired.title.clone())),
            description: e
                .description
                .clone()
                .or_else(|| desired.description.clone()),
            status: Some(if e.tentative {
                EventStatus::Tentative
            } else {
                EventStatus::Confirmed
            }),
            ..Event::default()
        };
        // Guarded by the etag the instance was just read with; if it changed in between, read it
        // again and apply the same patch (a pending local change wins, as for the parent).
        match self
            .client
            .patch_event(calendar, &id, &patch, instance.etag.as_deref())
            .await
        {
            Ok(x) => Ok(x.etag),
            Err(GoogleError::PreconditionFailed) => {
                let fresh = self
                    .client
                    .get_event(calendar, &id)
                    .await
                    .map_err(sync_error)?;
                let x = self
                    .client
                    .patch_event(calendar, &id, &patch, fresh.etag.as_deref())
                    .await
                    .map_err(sync_error)?;
                Ok(x.etag)
            }
            Err(err) => Err(sync_error(err)),
        }
    }
}

#[async_trait]
impl RemoteCalendar for GoogleCalendar {
    #[tracing::instrument(skip_all, fields(provider = "google", series = %local))]
    async fn upsert(
        &self,
        calendar: &str,
        local: SeriesId,
        desired: &RemoteSeries,
        known: Option<&RemoteRef>,
    ) -> Result<(RemoteRef, Fidelity), SyncError> {
        let (parent, etag) = self.put_parent(calendar, local, desired, known).await?;
        let mut fidelity = Fidelity::Exact;
        let before = known.map(|k| k.exceptions.clone()).unwrap_or_default();
        let mut now: BTreeMap<i64, ExceptionRef> = BTreeMap::new();
        for e in &desired.exceptions {
            let fp = exception_fingerprint(e);
            let previous = before.get(&e.original_start);
            if let Some(p) = previous.filter(|p| exception_matches(&p.fingerprint, e)) {
                // Unchanged: kept, under its current-scheme fingerprint.
                now.insert(
                    e.original_start,
                    ExceptionRef {
                        fingerprint: fp,
                        ..p.clone()
                    },
                );
                continue;
            }
            match self
                .instance(calendar, &parent, e.original_start, desired, previous)
                .await?
            {
                Some(instance) => {
                    let etag = self
                        .write_exception(calendar, &instance, e, desired)
                        .await?;
                    now.insert(
                        e.original_start,
                        ExceptionRef {
                            remote_id: instance.id.unwrap_or_default(),
                            etag,
                            fingerprint: fp,
                        },
                    );
                }
                None => fidelity.degrade(format!(
                    "occurrence {}: Google has no instance there",
                    DateTime::<Utc>::from_timestamp(e.original_start, 0)
                        .unwrap_or_default()
                        .to_rfc3339()
                )),
            }
        }
        // Occurrences restored here: put Google's instance back on its slot.
        for (original, previous) in before.iter().filter(|(o, _)| {
            !now.contains_key(o) && !desired.exceptions.iter().any(|e| e.original_start == **o)
        }) {
            if let Some(instance) = self
                .instance(calendar, &parent, *original, desired, Some(previous))
                .await?
            {
                let plain = RemoteException {
                    original_start: *original,
                    cancelled: false,
                    start: None,
                    end: None,
                    title: None,
                    description: None,
                    tentative: false,
                };
                self.write_exception(calendar, &instance, &plain, desired)
                    .await?;
            }
        }
        Ok((
            RemoteRef {
                remote_id: parent,
                etag,
                exceptions: now,
                fingerprint: None,
            },
            fidelity,
        ))
    }

    #[tracing::instrument(skip_all, fields(provider = "google", series = %local))]
    async fn delete(
        &self,
        calendar: &str,
        local: SeriesId,
        known: Option<&RemoteRef>,
    ) -> Result<(), SyncError> {
        let id = known
            .map(|k| k.remote_id.clone())
            .unwrap_or_else(|| event_id(local));
        match self.client.delete_event(calendar, &id, None).await {
            Ok(()) | Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) => Ok(()),
            Err(e) => Err(sync_error(e)),
        }
    }

    #[tracing::instrument(skip_all, fields(provider = "google", full = cursor.is_none()))]
    async fn changes(&self, calendar: &str, cursor: Option<&str>) -> Result<ChangeSet, SyncError> {
        let query = match cursor {
            Some(token) => ListQuery::incremental(token),
            None => ListQuery {
                single_events: Some(false),
                max_results: Some(250),
                ..ListQuery::default()
            },
        };
        let (items, next) = self
            .client
            .list_all_events(calendar, &query)
            .await
            .map_err(sync_error)?;
        let next_cursor = next
            .ok_or_else(|| SyncError::Transient("the last page carried no nextSyncToken".into()))?;

        // Zones of the parents, for all-day instances (whose original start is a date).
        let mut zones: HashMap<String, Tz> = HashMap::new();
        for e in items.iter().filter(|e| !e.is_instance()) {
            if let (Some(id), Some(start)) = (&e.id, &e.start) {
                if let Ok(t) = remote_time(start, self.default_zone, false) {
                    zones.insert(id.clone(), zone_of(t, self.default_zone));
                }
            }
        }
        let mut changes = Vec::new();
        let mut skipped = Vec::new();
        for e in &items {
            let Some(id) = e.id.clone() else { continue };
            if let Some(parent) = e.recurring_event_id.clone() {
                let zone = zones.get(&parent).copied().unwrap_or(self.default_zone);
                match exception_of(e, zone) {
                    Ok(exception) => changes.push(RemoteChange::Exception {
                        parent_remote_id: parent,
                        remote_id: id,
                        etag: e.etag.clone(),
                        exception,
                    }),
                    Err(why) => skipped.push(format!("{id}: {why}")),
                }
            } else if e.is_cancelled() {
                changes.push(RemoteChange::Deleted { remote_id: id });
            } else {
                let almanac_id = e
                    .private_property(SERIES_MARKER)
                    .and_then(|s| s.parse::<SeriesId>().ok());
                match series_of(e, self.default_zone) {
                    Ok(series) => changes.push(RemoteChange::Series {
                        remote_id: id,
                        etag: e.etag.clone(),
                        almanac_id,
                        series,
                    }),
                    Err(why) => skipped.push(format!("{id}: {why}")),
                }
            }
        }
        Ok(ChangeSet {
            changes,
            next_cursor,
            full: cursor.is_none(),
            skipped,
            recheck_mapped: false,
        })
    }
}
