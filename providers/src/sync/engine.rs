//! The sync engine: drains a link's outbox to the provider and applies the provider's changes
//! locally. Provider-neutral: a provider is a [`RemoteCalendar`] (the adapter), the application is
//! a [`SyncPort`]. Each call does one bounded round and is safe to repeat or to interrupt at any
//! point — state is only ever advanced after the step it describes succeeded:
//!
//! * a push reads the series' *current* state and makes the provider hold it, so a retried or
//!   duplicated outbox row converges to the same remote state; the event id is derived from the
//!   series id, so an insert whose response was lost is found again (409) instead of duplicated;
//! * a pull stores the provider's cursor only after every change of the round was applied.

use super::fingerprint::{
    exception_fingerprint, exception_matches, series_fingerprint, series_matches,
};
use super::mapping::{instant_of, to_local, to_remote, LocalIdentity};
use super::model::{Fidelity, RemoteException, RemoteSeries, RemoteTime};
use almanac_domain::occurrence::RecurrenceId;
use almanac_domain::recurrence::Schedule;
use almanac_domain::series::{Lineage, Series};
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

/// Which way a link syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    TwoWay,
    PushOnly,
    PullOnly,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::TwoWay => "TWO_WAY",
            Direction::PushOnly => "PUSH_ONLY",
            Direction::PullOnly => "PULL_ONLY",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TWO_WAY" => Some(Self::TwoWay),
            "PUSH_ONLY" => Some(Self::PushOnly),
            "PULL_ONLY" => Some(Self::PullOnly),
            _ => None,
        }
    }
    pub fn pushes(self) -> bool {
        self != Direction::PullOnly
    }
    pub fn pulls(self) -> bool {
        self != Direction::PushOnly
    }
}

/// A local calendar linked to a provider calendar.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: String,
    pub organization: OrganizationId,
    pub calendar: CalendarId,
    pub calendar_zone: chrono_tz::Tz,
    pub remote_calendar: String,
    pub direction: Direction,
    pub cursor: Option<String>,
}

/// Where one overridden occurrence lives at the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExceptionRef {
    pub remote_id: String,
    pub etag: Option<String>,
    /// Fingerprint of the exception as last pushed or pulled.
    pub fingerprint: String,
}

/// Where a local series lives at the provider, and what both sides last agreed it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteRef {
    pub remote_id: String,
    pub etag: Option<String>,
    /// By original start (seconds since the epoch).
    pub exceptions: BTreeMap<i64, ExceptionRef>,
    /// Fingerprint of the series (without exceptions) both sides agreed on; `None`: unknown.
    pub fingerprint: Option<String>,
}

/// One change a provider reports.
#[derive(Debug, Clone)]
pub enum RemoteChange {
    /// A series (or single event) was created or changed. `exceptions` are those reported with it
    /// in this round (a full round reports all of them; an incremental one only changed ones).
    Series {
        remote_id: String,
        etag: Option<String>,
        almanac_id: Option<SeriesId>,
        series: RemoteSeries,
    },
    /// One occurrence of a series was overridden, cancelled or changed.
    Exception {
        parent_remote_id: String,
        remote_id: String,
        etag: Option<String>,
        exception: RemoteException,
    },
    /// The series is gone at the provider.
    Deleted { remote_id: String },
}

/// A round of changes from the provider.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub changes: Vec<RemoteChange>,
    /// What to send next round.
    pub next_cursor: String,
    /// The round listed everything (no cursor was given); absent series are not deleted by it.
    pub full: bool,
    /// Provider items the adapter could not read, with why (reported, never guessed at).
    pub skipped: Vec<String>,
    /// The round carried signals the adapter cannot attribute to a series (Graph's `@removed`
    /// occurrences): the engine should ask it to re-check every mapped series.
    pub recheck_mapped: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The provider no longer accepts the cursor: pull again from scratch (Google 410
    /// fullSyncRequired, Graph syncStateNotFound).
    #[error("the provider requires a full sync")]
    CursorExpired,
    /// The connection's credentials were refused for good (invalid_grant): the user must connect
    /// again; nothing local is deleted.
    #[error("the connection needs to be authorized again: {0}")]
    NeedsReauth(String),
    /// Worth retrying later (rate limits, 5xx, timeouts, lost connections).
    #[error("temporary provider failure: {0}")]
    Transient(String),
    /// The provider refused this change for good (it will not accept it as it is).
    #[error("the provider refused the change: {0}")]
    Rejected(String),
    /// The application side failed.
    #[error("local failure: {0}")]
    Local(String),
}

/// A provider adapter.
#[async_trait]
pub trait RemoteCalendar: Send + Sync {
    /// Makes the provider hold `desired` for local series `local`. `known` is where it was last
    /// seen (None: never pushed, or the push's result was lost). Returns where it is now and what
    /// the provider could not represent.
    async fn upsert(
        &self,
        calendar: &str,
        local: SeriesId,
        desired: &RemoteSeries,
        known: Option<&RemoteRef>,
    ) -> Result<(RemoteRef, Fidelity), SyncError>;
    /// Deletes the series at the provider; already gone is success.
    async fn delete(
        &self,
        calendar: &str,
        local: SeriesId,
        known: Option<&RemoteRef>,
    ) -> Result<(), SyncError>;
    /// The changes since `cursor` (None: everything).
    async fn changes(&self, calendar: &str, cursor: Option<&str>) -> Result<ChangeSet, SyncError>;
    /// The current state of these provider series, for providers whose change feed does not say
    /// everything (Graph's delta can drop deleted occurrences). Default: nothing to add.
    async fn recheck(
        &self,
        _calendar: &str,
        _remote_ids: &[String],
    ) -> Result<Vec<RemoteChange>, SyncError> {
        Ok(Vec::new())
    }
}

/// An outbox row: "push series S to link L".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub series: SeriesId,
    pub attempts: i32,
}

/// What the engine asks the application to do with a pulled series.
// One per pulled change, consumed at once: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum LocalWrite {
    /// Store this series (insert when `expected_version` is None). Must not enqueue a push to the
    /// link the change came from.
    Save {
        series: Series,
        expected_version: Option<i64>,
        remote: RemoteRef,
    },
    /// Delete the local series (it was deleted at the provider).
    Delete {
        series: SeriesId,
        expected_version: i64,
    },
    /// Nothing changes locally, but remember the provider's current etags.
    Remember { series: SeriesId, remote: RemoteRef },
}

/// The application side of sync: storage of outbox, mappings and series.
#[async_trait]
pub trait SyncPort: Send + Sync {
    async fn due_pushes(&self, link: &Link, limit: usize) -> Result<Vec<OutboxItem>, SyncError>;
    /// The series as it is now (None: deleted).
    async fn series(&self, link: &Link, id: SeriesId) -> Result<Option<Series>, SyncError>;
    async fn remote_ref(&self, link: &Link, id: SeriesId) -> Result<Option<RemoteRef>, SyncError>;
    /// The local series a provider event is mapped to.
    async fn series_for_remote(
        &self,
        link: &Link,
        remote_id: &str,
    ) -> Result<Option<(SeriesId, RemoteRef)>, SyncError>;
    /// Records a finished push (None: the series was deleted at the provider) and removes the
    /// outbox rows up to `item`, in one transaction.
    async fn pushed(
        &self,
        link: &Link,
        item: OutboxItem,
        remote: Option<RemoteRef>,
        fidelity: &Fidelity,
    ) -> Result<(), SyncError>;
    /// Leaves the row for a later attempt.
    async fn push_failed(
        &self,
        link: &Link,
        item: OutboxItem,
        error: &str,
        retry_in_seconds: i64,
    ) -> Result<(), SyncError>;
    /// Whether a local change to the series is waiting to be pushed to this link.
    async fn push_pending(&self, link: &Link, id: SeriesId) -> Result<bool, SyncError>;
    /// Applies a pulled change to the local store (one transaction; fires subscriptions).
    /// Returns false when the local series changed concurrently (the engine retries next round).
    async fn write(&self, link: &Link, write: LocalWrite) -> Result<bool, SyncError>;
    /// Every series of the linked calendar that is mapped to the provider.
    async fn mapped_series(&self, link: &Link) -> Result<Vec<SeriesId>, SyncError>;
    async fn save_cursor(&self, link: &Link, cursor: Option<&str>) -> Result<(), SyncError>;
    /// The link's recent remote deletions: (applied in the current window, series synced when the
    /// window opened). The port opens a window sized `mapped_now` when none is open.
    async fn deletion_window(
        &self,
        link: &Link,
        mapped_now: usize,
    ) -> Result<(usize, usize), SyncError>;
    async fn record_deletions(&self, link: &Link, n: usize) -> Result<(), SyncError>;
    /// Series of the link's calendar that showed something in the `lookback` seconds before
    /// `before`, end before it, and have no continuation: the ones a split made at the provider
    /// in an earlier round may have trimmed.
    async fn recently_ended(
        &self,
        link: &Link,
        before: i64,
        lookback: i64,
    ) -> Result<Vec<Series>, SyncError>;
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    pub pushed: usize,
    pub deleted: usize,
    pub failed: usize,
    pub rejected: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PullReport {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Changes that were our own writes coming back, or identical content.
    pub unchanged: usize,
    /// Remote changes not applied because a local change to the same series is waiting to be
    /// pushed (the local change wins and will overwrite the provider's).
    pub deferred: usize,
    /// Changes the provider reported that could not be turned into a valid series.
    pub skipped: Vec<String>,
    /// Deletions not applied because they would have emptied the calendar.
    pub deletions_held: usize,
    pub full: bool,
}

/// The series without its exceptions, which are fingerprinted one by one.
pub fn parent_part(r: &RemoteSeries) -> RemoteSeries {
    RemoteSeries {
        exceptions: Vec::new(),
        ..r.clone()
    }
}

/// Backoff for a failed outbox row: 2^attempts seconds, capped at 10 minutes, ±25 % jitter
/// derived from the row (no clock or RNG in the engine, and rows spread out).
pub fn retry_delay(item: OutboxItem) -> i64 {
    let base = 1i64 << item.attempts.clamp(0, 10);
    let base = base.min(600);
    let jitter = (item.id.wrapping_mul(2_654_435_761) % 50 - 25) * base / 100;
    (base + jitter).max(1)
}

/// Pushes up to `limit` due outbox rows of the link.
pub async fn push_round(
    port: &dyn SyncPort,
    remote: &dyn RemoteCalendar,
    link: &Link,
    limit: usize,
) -> Result<PushReport, SyncError> {
    let mut report = PushReport::default();
    if !link.direction.pushes() {
        return Ok(report);
    }
    let items = port.due_pushes(link, limit).await?;
    // Several rows for one series are one push (of its current state).
    let mut latest: Vec<OutboxItem> = Vec::new();
    let mut seen: HashMap<SeriesId, usize> = HashMap::new();
    for item in items {
        match seen.get(&item.series) {
            Some(&i) => {
                latest[i] = OutboxItem {
                    attempts: latest[i].attempts.max(item.attempts),
                    ..item
                }
            }
            None => {
                seen.insert(item.series, latest.len());
                latest.push(item);
            }
        }
    }
    // After this many failures in a row the provider is struggling or throttling us: leave the
    // rest of the batch for a later round instead of pressing on (quotas are per minute).
    const GIVE_UP_AFTER: usize = 5;
    let mut failed_in_a_row = 0;
    for item in latest {
        if failed_in_a_row >= GIVE_UP_AFTER {
            break;
        }
        match push_one(port, remote, link, item).await {
            Ok(PushOutcome::Pushed) => report.pushed += 1,
            Ok(PushOutcome::Deleted) => report.deleted += 1,
            Ok(PushOutcome::Rejected) => report.rejected += 1,
            Err(SyncError::NeedsReauth(e)) => return Err(SyncError::NeedsReauth(e)),
            Err(SyncError::Local(e)) => return Err(SyncError::Local(e)),
            Err(e) => {
                report.failed += 1;
                failed_in_a_row += 1;
                port.push_failed(link, item, &e.to_string(), retry_delay(item))
                    .await?;
                continue;
            }
        }
        failed_in_a_row = 0;
    }
    Ok(report)
}

enum PushOutcome {
    Pushed,
    Deleted,
    Rejected,
}

async fn push_one(
    port: &dyn SyncPort,
    remote: &dyn RemoteCalendar,
    link: &Link,
    item: OutboxItem,
) -> Result<PushOutcome, SyncError> {
    // A record without a remote id only remembers a rejection: the provider holds nothing.
    let known = port
        .remote_ref(link, item.series)
        .await?
        .filter(|k| !k.remote_id.is_empty());
    match port.series(link, item.series).await? {
        None => {
            remote
                .delete(&link.remote_calendar, item.series, known.as_ref())
                .await?;
            port.pushed(link, item, None, &Fidelity::Exact).await?;
            Ok(PushOutcome::Deleted)
        }
        Some(series) => {
            let (desired, mut fidelity) = to_remote(&series);
            if let Some(k) = known.as_ref().filter(|k| agreed(k, &desired)) {
                // Stored again in the current scheme: an agreed legacy fingerprint is upgraded
                // here without a provider write (see `fingerprint`).
                let upgraded = RemoteRef {
                    fingerprint: Some(series_fingerprint(&desired)),
                    exceptions: k
                        .exceptions
                        .iter()
                        .map(|(start, r)| {
                            let e = desired
                                .exceptions
                                .iter()
                                .find(|e| e.original_start == *start);
                            let fingerprint =
                                e.map_or_else(|| r.fingerprint.clone(), exception_fingerprint);
                            (
                                *start,
                                ExceptionRef {
                                    fingerprint,
                                    ..r.clone()
                                },
                            )
                        })
                        .collect(),
                    ..k.clone()
                };
                port.pushed(link, item, Some(upgraded), &fidelity).await?;
                return Ok(PushOutcome::Pushed);
            }
            match remote
                .upsert(&link.remote_calendar, series.id, &desired, known.as_ref())
                .await
            {
                Ok((mut now, adapter_fidelity)) => {
                    now.fingerprint = Some(series_fingerprint(&desired));
                    if let Fidelity::Degraded(lost) = adapter_fidelity {
                        lost.into_iter().for_each(|l| fidelity.degrade(l));
                    } else if let Fidelity::Rejected(why) = adapter_fidelity {
                        fidelity = Fidelity::Rejected(why);
                    }
                    port.pushed(link, item, Some(now), &fidelity).await?;
                    Ok(PushOutcome::Pushed)
                }
                Err(SyncError::Rejected(why)) => {
                    // Keep what the provider has (if anything) and record why this was refused.
                    let keep = known.unwrap_or_default();
                    port.pushed(link, item, Some(keep), &Fidelity::Rejected(why))
                        .await?;
                    Ok(PushOutcome::Rejected)
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Whether the provider already holds exactly `desired` according to what both sides agreed.
fn agreed(known: &RemoteRef, desired: &RemoteSeries) -> bool {
    known
        .fingerprint
        .as_deref()
        .is_some_and(|f| series_matches(f, desired))
        && known.exceptions.len() == desired.exceptions.len()
        && desired.exceptions.iter().all(|e| {
            known
                .exceptions
                .get(&e.original_start)
                .is_some_and(|k| exception_matches(&k.fingerprint, e))
        })
}

/// Pulls one round of provider changes into the local calendar.
///
/// Conflict policy: a local change waiting to be pushed beats a remote change to the same series
/// (the push overwrites the provider), and a modification beats a deletion on either side (a
/// remote deletion of a series with a pending local change re-creates it remotely; a remote
/// change to a series deleted locally is dropped only once the deletion is pushed). Identical
/// content is a no-op. A full round never deletes series the provider merely did not list, and
/// no remote deletion is applied that would bring the deletions of the last hour above five and
/// above half of the series synced when that hour began (a wiped or swapped remote calendar).
pub async fn pull_round(
    port: &dyn SyncPort,
    remote: &dyn RemoteCalendar,
    link: &Link,
) -> Result<PullReport, SyncError> {
    let mut report = PullReport::default();
    if !link.direction.pulls() {
        return Ok(report);
    }
    let set = match remote
        .changes(&link.remote_calendar, link.cursor.as_deref())
        .await
    {
        Ok(set) => set,
        Err(SyncError::CursorExpired) => {
            // Start over; pending local changes are untouched (they live in the outbox and win
            // over what the full listing says).
            port.save_cursor(link, None).await?;
            remote.changes(&link.remote_calendar, None).await?
        }
        Err(e) => return Err(e),
    };
    report.full = set.full;
    report.skipped.extend(set.skipped);
    let mut incoming = set.changes;
    if set.recheck_mapped {
        let mut ids = Vec::new();
        for series in port.mapped_series(link).await? {
            if let Some(r) = port
                .remote_ref(link, series)
                .await?
                .filter(|r| !r.remote_id.is_empty())
            {
                ids.push(r.remote_id);
            }
        }
        let reported: std::collections::HashSet<String> = incoming
            .iter()
            .filter_map(|c| match c {
                RemoteChange::Series { remote_id, .. } | RemoteChange::Deleted { remote_id } => {
                    Some(remote_id.clone())
                }
                RemoteChange::Exception { .. } => None,
            })
            .collect();
        ids.retain(|id| !reported.contains(id));
        incoming.extend(remote.recheck(&link.remote_calendar, &ids).await?);
    }

    // Group by provider series, keeping the round's order of arrival for each.
    let mut parents: Vec<String> = Vec::new();
    let mut series_changes: HashMap<String, (Option<String>, Option<SeriesId>, RemoteSeries)> =
        HashMap::new();
    let mut exception_changes: HashMap<String, Vec<(String, Option<String>, RemoteException)>> =
        HashMap::new();
    let mut deletions: Vec<String> = Vec::new();
    for change in incoming {
        match change {
            RemoteChange::Series {
                remote_id,
                etag,
                almanac_id,
                series,
            } => {
                if !parents.contains(&remote_id) {
                    parents.push(remote_id.clone());
                }
                deletions.retain(|d| *d != remote_id);
                series_changes.insert(remote_id, (etag, almanac_id, series));
            }
            RemoteChange::Exception {
                parent_remote_id,
                remote_id,
                etag,
                exception,
            } => {
                if !parents.contains(&parent_remote_id) {
                    parents.push(parent_remote_id.clone());
                }
                exception_changes
                    .entry(parent_remote_id)
                    .or_default()
                    .push((remote_id, etag, exception));
            }
            RemoteChange::Deleted { remote_id } => {
                series_changes.remove(&remote_id);
                exception_changes.remove(&remote_id);
                parents.retain(|p| *p != remote_id);
                deletions.push(remote_id);
            }
        }
    }

    let continuations = splits_made_remotely(port, link, &series_changes).await?;
    for remote_id in parents {
        let parent = series_changes.remove(&remote_id);
        let exceptions = exception_changes.remove(&remote_id).unwrap_or_default();
        let lineage = continuations.get(&remote_id).copied();
        apply_series(
            port,
            link,
            &remote_id,
            parent,
            exceptions,
            lineage,
            &mut report,
        )
        .await?;
    }

    let mapped = port.mapped_series(link).await?.len();
    let mut doomed = Vec::new();
    for remote_id in deletions {
        if let Some((id, _)) = port.series_for_remote(link, &remote_id).await? {
            doomed.push(id);
        }
    }
    // Counted over the port's window, not per round: a wiped calendar's deletions may arrive
    // over several rounds (one per push notification).
    let (recent, base) = if doomed.is_empty() {
        (0, mapped)
    } else {
        port.deletion_window(link, mapped).await?
    };
    let total = recent + doomed.len();
    if !doomed.is_empty() && total > 5 && total * 2 > base {
        report.deletions_held = doomed.len();
    } else {
        let before = report.deleted;
        for id in doomed {
            if port.push_pending(link, id).await? {
                // Modification beats deletion: the pending push re-creates it remotely.
                report.deferred += 1;
                continue;
            }
            match port.series(link, id).await? {
                Some(s) => {
                    if port
                        .write(
                            link,
                            LocalWrite::Delete {
                                series: id,
                                expected_version: s.version,
                            },
                        )
                        .await?
                    {
                        report.deleted += 1;
                    }
                }
                None => report.unchanged += 1,
            }
        }
        if report.deleted > before {
            port.record_deletions(link, report.deleted - before).await?;
        }
    }
    port.save_cursor(link, Some(&set.next_cursor)).await?;
    Ok(report)
}

/// "This and following" done at the provider arrives as two changes in one round: a known series
/// whose rule now ends earlier, and a new series starting on the day of the first occurrence the
/// trim removed. Such a new series becomes a continuation of the local one (same lineage, so its
/// occurrences keep their ids where they keep their times), not an unrelated series.
async fn splits_made_remotely(
    port: &dyn SyncPort,
    link: &Link,
    changes: &HashMap<String, (Option<String>, Option<SeriesId>, RemoteSeries)>,
) -> Result<HashMap<String, Lineage>, SyncError> {
    let mut found = HashMap::new();
    let mut fresh = Vec::new();
    for (remote_id, (_, marker, series)) in changes {
        let ours = match marker {
            Some(id) => port
                .series(link, *id)
                .await?
                .is_some_and(|s| s.calendar == link.calendar),
            None => false,
        };
        if !ours && port.series_for_remote(link, remote_id).await?.is_none() {
            fresh.push((remote_id, series));
        }
    }
    if fresh.is_empty() {
        return Ok(found);
    }
    // The trim may have come in an earlier round than the new series (each of Google's two calls
    // notifies): a local series that already ends just before the new one's day, with no
    // continuation yet, is a candidate too.
    for (new_id, series) in &fresh {
        let start = match series.start {
            RemoteTime::AllDay(d) => {
                instant_of(d.and_time(chrono::NaiveTime::MIN), link.calendar_zone)
            }
            RemoteTime::Timed { local, zone } => instant_of(local, zone),
        };
        for before in port
            .recently_ended(link, start + 86_400, SPLIT_LOOKBACK_SECONDS)
            .await?
        {
            if let Some(lineage) = continues(&before, series) {
                found.entry((*new_id).clone()).or_insert(lineage);
            }
        }
    }
    for (remote_id, (_, _, trimmed)) in changes {
        let Some((local_id, _)) = port.series_for_remote(link, remote_id).await? else {
            continue;
        };
        let Some(before) = port.series(link, local_id).await? else {
            continue;
        };
        let who = LocalIdentity {
            id: before.id,
            organization: before.organization,
            calendar: before.calendar,
            calendar_zone: link.calendar_zone,
            version: before.version,
        };
        let Ok(after) = to_local(&parent_part(trimmed), who) else {
            continue;
        };
        let Some(new_bound) = after.schedule().rule_bound() else {
            continue;
        };
        if before
            .schedule()
            .rule_bound()
            .is_some_and(|b| b <= new_bound)
        {
            continue;
        }
        let Some(cut) = before.schedule().instances_from(new_bound + 1).next() else {
            continue;
        };
        let cut_day = Schedule::local_date(cut);
        for (new_id, series) in &fresh {
            let start_day = match series.start {
                RemoteTime::AllDay(d) => d,
                RemoteTime::Timed { local, zone } => {
                    chrono::DateTime::from_timestamp(instant_of(local, zone), 0)
                        .map(|t| t.with_timezone(&before.schedule().zone()).date_naive())
                        .unwrap_or_default()
                }
            };
            if start_day == cut_day && !found.contains_key(*new_id) {
                found.insert(
                    (*new_id).clone(),
                    Lineage {
                        root: before.lineage().root,
                        parent: Some(before.id),
                        split_at: Some(RecurrenceId(cut.start)),
                    },
                );
            }
        }
    }
    Ok(found)
}

/// How far back a series' end may lie for a new remote series to be taken as its continuation
/// when the two arrive in different rounds (weekly and monthly rules; a yearly split made at the
/// provider across two rounds arrives as an unrelated series).
const SPLIT_LOOKBACK_SECONDS: i64 = 35 * 86_400;

/// The lineage `new` continues, if `before` (already trimmed) would next have occurred on the day
/// `new` starts.
fn continues(before: &Series, new: &RemoteSeries) -> Option<Lineage> {
    let bound = before.schedule().rule_bound()?;
    let rule = before.schedule().rule()?;
    let open = Schedule::new(
        before.schedule().start(),
        before.schedule().zone(),
        before.schedule().length(),
        before.schedule().all_day(),
        Some(almanac_domain::recurrence::Recurrence {
            rule: Some(rule.without_end()),
            rdates: Vec::new(),
            exdates: Vec::new(),
        }),
    )
    .ok()?;
    let cut = open.instances_from(bound.saturating_add(1)).next()?;
    let start_day = match new.start {
        RemoteTime::AllDay(d) => d,
        RemoteTime::Timed { local, zone } => {
            chrono::DateTime::from_timestamp(instant_of(local, zone), 0)?
                .with_timezone(&before.schedule().zone())
                .date_naive()
        }
    };
    (Schedule::local_date(cut) == start_day).then_some(Lineage {
        root: before.lineage().root,
        parent: Some(before.id),
        split_at: Some(RecurrenceId(cut.start)),
    })
}

#[allow(clippy::too_many_arguments)]
async fn apply_series(
    port: &dyn SyncPort,
    link: &Link,
    remote_id: &str,
    parent: Option<(Option<String>, Option<SeriesId>, RemoteSeries)>,
    exceptions: Vec<(String, Option<String>, RemoteException)>,
    continues: Option<Lineage>,
    report: &mut PullReport,
) -> Result<(), SyncError> {
    let mapped = port.series_for_remote(link, remote_id).await?;
    // An event we pushed but whose push result was lost carries our id: adopt it.
    // Only a series of this link's calendar is ours to adopt: the same provider calendar may be
    // linked to several local calendars, and the marker names the series that pushed the event.
    let mapped = match (mapped, parent.as_ref().and_then(|p| p.1)) {
        (Some(m), _) => Some(m),
        (None, Some(ours)) => match port.series(link, ours).await? {
            Some(s) if s.calendar == link.calendar => {
                let known = port
                    .remote_ref(link, ours)
                    .await?
                    .unwrap_or_else(|| RemoteRef {
                        remote_id: remote_id.to_string(),
                        ..Default::default()
                    });
                Some((ours, known))
            }
            _ => None,
        },
        (None, None) => None,
    };

    let Some((local_id, mut known)) = mapped else {
        // New at the provider: a series we have never seen.
        let Some((etag, _, remote_series)) = parent else {
            // Exceptions of a series we do not have (its parent was never listed to us).
            report
                .skipped
                .push(format!("{remote_id}: exceptions of an unknown series"));
            return Ok(());
        };
        let mut full = remote_series;
        full.exceptions
            .extend(exceptions.iter().map(|(_, _, e)| e.clone()));
        full.exceptions.sort_by_key(|e| e.original_start);
        let who = LocalIdentity {
            id: SeriesId::from_uuid(uuid::Uuid::now_v7()),
            organization: link.organization,
            calendar: link.calendar,
            calendar_zone: link.calendar_zone,
            version: 1,
        };
        let series = match to_local(&full, who) {
            Ok(s) => match continues {
                Some(lineage) => s.with_lineage(lineage),
                None => s,
            },
            Err(e) => {
                report.skipped.push(format!("{remote_id}: {e}"));
                return Ok(());
            }
        };
        let (agreed_form, _) = to_remote(&series);
        let remote = RemoteRef {
            remote_id: remote_id.to_string(),
            etag,
            exceptions: exception_refs(&exceptions, &agreed_form),
            fingerprint: Some(series_fingerprint(&agreed_form)),
        };
        if port
            .write(
                link,
                LocalWrite::Save {
                    series,
                    expected_version: None,
                    remote,
                },
            )
            .await?
        {
            report.created += 1;
        }
        return Ok(());
    };

    if port.push_pending(link, local_id).await? {
        report.deferred += 1;
        return Ok(());
    }
    let Some(local) = port.series(link, local_id).await? else {
        // Deleted here, deletion not yet pushed or already pushed: the deletion's push decides.
        report.unchanged += 1;
        return Ok(());
    };
    let (before, _) = to_remote(&local);

    // Echoes: the provider reports our own write back with the etag we recorded.
    let parent = parent.filter(|(etag, _, _)| etag.is_none() || *etag != known.etag);
    let exceptions: Vec<_> = exceptions
        .into_iter()
        .filter(|(_, etag, e)| {
            known
                .exceptions
                .get(&e.original_start)
                .is_none_or(|k| etag.is_none() || *etag != k.etag)
        })
        .collect();
    if parent.is_none() && exceptions.is_empty() {
        report.unchanged += 1;
        return Ok(());
    }

    let mut merged = before.clone();
    if let Some((etag, _, remote_series)) = &parent {
        let kept = std::mem::take(&mut merged.exceptions);
        merged = remote_series.clone();
        // A changed parent arrives without its unchanged exceptions: keep ours, overridden by
        // whatever the round reported with it.
        let mut by_start: BTreeMap<i64, RemoteException> =
            kept.into_iter().map(|e| (e.original_start, e)).collect();
        for e in &remote_series.exceptions {
            by_start.insert(e.original_start, e.clone());
        }
        merged.exceptions = by_start.into_values().collect();
        known.etag = etag.clone();
    }
    let mut by_start: BTreeMap<i64, RemoteException> = merged
        .exceptions
        .drain(..)
        .map(|e| (e.original_start, e))
        .collect();
    for (rid, etag, e) in &exceptions {
        known.exceptions.insert(
            e.original_start,
            ExceptionRef {
                remote_id: rid.clone(),
                etag: etag.clone(),
                fingerprint: exception_fingerprint(e),
            },
        );
        by_start.insert(e.original_start, e.clone());
    }
    merged.exceptions = by_start.into_values().collect();

    let who = LocalIdentity {
        id: local.id,
        organization: local.organization,
        calendar: local.calendar,
        calendar_zone: link.calendar_zone,
        version: local.version + 1,
    };
    let updated = match to_local(&merged, who) {
        Ok(s) => s.with_lineage(local.lineage()),
        Err(e) => {
            report.skipped.push(format!("{remote_id}: {e}"));
            return Ok(());
        }
    };
    let (after, _) = to_remote(&updated);
    known.fingerprint = Some(series_fingerprint(&after));
    for e in &after.exceptions {
        if let Some(k) = known.exceptions.get_mut(&e.original_start) {
            k.fingerprint = exception_fingerprint(e);
        }
    }
    if after == before {
        report.unchanged += 1;
        port.write(
            link,
            LocalWrite::Remember {
                series: local.id,
                remote: known,
            },
        )
        .await?;
        return Ok(());
    }
    if port
        .write(
            link,
            LocalWrite::Save {
                series: updated,
                expected_version: Some(local.version),
                remote: known,
            },
        )
        .await?
    {
        report.updated += 1;
    }
    Ok(())
}

fn exception_refs(
    reported: &[(String, Option<String>, RemoteException)],
    agreed_form: &RemoteSeries,
) -> BTreeMap<i64, ExceptionRef> {
    reported
        .iter()
        .map(|(id, etag, e)| {
            let agreed = agreed_form
                .exceptions
                .iter()
                .find(|a| a.original_start == e.original_start)
                .map(exception_fingerprint)
                .unwrap_or_else(|| exception_fingerprint(e));
            (
                e.original_start,
                ExceptionRef {
                    remote_id: id.clone(),
                    etag: etag.clone(),
                    fingerprint: agreed,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::fingerprint::{legacy, CURRENT_VERSION};
    use crate::sync::mapping::tests::weekly_ny;
    use std::sync::Mutex;

    /// A link whose outbox holds one push of `series`, last agreed with the provider as `known`.
    struct OnePush {
        series: Series,
        known: RemoteRef,
        recorded: Mutex<Option<RemoteRef>>,
    }

    #[async_trait]
    impl SyncPort for OnePush {
        async fn due_pushes(&self, _: &Link, _: usize) -> Result<Vec<OutboxItem>, SyncError> {
            Ok(vec![OutboxItem {
                id: 1,
                series: self.series.id,
                attempts: 0,
            }])
        }
        async fn series(&self, _: &Link, _: SeriesId) -> Result<Option<Series>, SyncError> {
            Ok(Some(self.series.clone()))
        }
        async fn remote_ref(&self, _: &Link, _: SeriesId) -> Result<Option<RemoteRef>, SyncError> {
            Ok(Some(self.known.clone()))
        }
        async fn series_for_remote(
            &self,
            _: &Link,
            _: &str,
        ) -> Result<Option<(SeriesId, RemoteRef)>, SyncError> {
            unreachable!("a push does not look series up by remote id")
        }
        async fn pushed(
            &self,
            _: &Link,
            _: OutboxItem,
            remote: Option<RemoteRef>,
            _: &Fidelity,
        ) -> Result<(), SyncError> {
            *self.recorded.lock().expect("lock") = remote;
            Ok(())
        }
        async fn push_failed(
            &self,
            _: &Link,
            _: OutboxItem,
            error: &str,
            _: i64,
        ) -> Result<(), SyncError> {
            panic!("the push failed: {error}")
        }
        async fn push_pending(&self, _: &Link, _: SeriesId) -> Result<bool, SyncError> {
            unreachable!("a push does not ask")
        }
        async fn write(&self, _: &Link, _: LocalWrite) -> Result<bool, SyncError> {
            unreachable!("a push writes nothing locally")
        }
        async fn mapped_series(&self, _: &Link) -> Result<Vec<SeriesId>, SyncError> {
            unreachable!("a push does not list mappings")
        }
        async fn save_cursor(&self, _: &Link, _: Option<&str>) -> Result<(), SyncError> {
            unreachable!("a push has no cursor")
        }
        async fn deletion_window(&self, _: &Link, _: usize) -> Result<(usize, usize), SyncError> {
            unreachable!("a push deletes nothing remotely pulled")
        }
        async fn record_deletions(&self, _: &Link, _: usize) -> Result<(), SyncError> {
            unreachable!("a push deletes nothing remotely pulled")
        }
        async fn recently_ended(&self, _: &Link, _: i64, _: i64) -> Result<Vec<Series>, SyncError> {
            unreachable!("a push does not look for splits")
        }
    }

    /// A provider that counts writes and accepts them.
    #[derive(Default)]
    struct CountingProvider {
        upserts: Mutex<usize>,
    }

    #[async_trait]
    impl RemoteCalendar for CountingProvider {
        async fn upsert(
            &self,
            _: &str,
            _: SeriesId,
            _: &RemoteSeries,
            known: Option<&RemoteRef>,
        ) -> Result<(RemoteRef, Fidelity), SyncError> {
            *self.upserts.lock().expect("lock") += 1;
            Ok((known.cloned().unwrap_or_default(), Fidelity::Exact))
        }
        async fn delete(
            &self,
            _: &str,
            _: SeriesId,
            _: Option<&RemoteRef>,
        ) -> Result<(), SyncError> {
            unreachable!("the series exists")
        }
        async fn changes(&self, _: &str, _: Option<&str>) -> Result<ChangeSet, SyncError> {
            unreachable!("a push does not pull")
        }
    }

    fn link_of(series: &Series) -> Link {
        Link {
            id: "lnk_test".into(),
            organization: series.organization,
            calendar: series.calendar,
            calendar_zone: chrono_tz::America::New_York,
            remote_calendar: "primary".into(),
            direction: Direction::TwoWay,
            cursor: None,
        }
    }

    /// What a release before v2 stored after pushing `pushed`.
    fn stored_by_an_older_release(pushed: &RemoteSeries) -> RemoteRef {
        RemoteRef {
            remote_id: "evt_1".into(),
            etag: Some("\"1\"".into()),
            exceptions: pushed
                .exceptions
                .iter()
                .map(|e| {
                    let r = ExceptionRef {
                        remote_id: format!("evt_1_{}", e.original_start),
                        etag: None,
                        fingerprint: legacy::exception(e),
                    };
                    (e.original_start, r)
                })
                .collect(),
            fingerprint: Some(legacy::series(pushed)),
        }
    }

    #[tokio::test]
    async fn an_old_scheme_fingerprint_of_unchanged_content_is_upgraded_without_a_provider_write() {
        let series = weekly_ny();
        let (desired, _) = to_remote(&series);
        assert!(!desired.exceptions.is_empty(), "the case covers exceptions");
        let port = OnePush {
            known: stored_by_an_older_release(&desired),
            series: series.clone(),
            recorded: Mutex::new(None),
        };
        let provider = CountingProvider::default();
        let report = push_round(&port, &provider, &link_of(&series), 10)
            .await
            .expect("round");
        assert_eq!(report.pushed, 1);
        assert_eq!(
            *provider.upserts.lock().expect("lock"),
            0,
            "no provider write"
        );
        let stored = port
            .recorded
            .lock()
            .expect("lock")
            .clone()
            .expect("recorded");
        assert_eq!(
            stored.fingerprint,
            Some(series_fingerprint(&desired)),
            "stored again in the current scheme"
        );
        assert_eq!(stored.exceptions.len(), desired.exceptions.len());
        for e in &desired.exceptions {
            let k = &stored.exceptions[&e.original_start];
            assert!(k.fingerprint.starts_with(CURRENT_VERSION), "{k:?}");
            assert_eq!(k.fingerprint, exception_fingerprint(e));
            assert_eq!(k.remote_id, format!("evt_1_{}", e.original_start));
        }
        assert_eq!(stored.remote_id, "evt_1");
    }

    #[tokio::test]
    async fn an_old_scheme_fingerprint_of_changed_content_is_pushed() {
        let series = weekly_ny();
        let (desired, _) = to_remote(&series);
        let before = RemoteSeries {
            title: "Standup (old title)".into(),
            ..desired.clone()
        };
        let port = OnePush {
            known: stored_by_an_older_release(&before),
            series: series.clone(),
            recorded: Mutex::new(None),
        };
        let provider = CountingProvider::default();
        push_round(&port, &provider, &link_of(&series), 10)
            .await
            .expect("round");
        assert_eq!(
            *provider.upserts.lock().expect("lock"),
            1,
            "the change is pushed"
        );
        let stored = port
            .recorded
            .lock()
            .expect("lock")
            .clone()
            .expect("recorded");
        assert_eq!(stored.fingerprint, Some(series_fingerprint(&desired)));
    }
}
