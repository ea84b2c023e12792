//! iCalendar feeds (create, revoke, list, serve) and imports.
//!
//! A feed is a calendar at a secret URL: `<public url>/ics/<token>.ics`, where the token is 256
//! random bits (base64url). Like API keys, only the token's SHA-256 is stored, and the full URL is
//! shown once, when the feed is created. The token is the credential: the feed is served without
//! any other authentication, until it is revoked.
//!
//! An import reads a file into series (`ics::import`) and writes them in one transaction. Each
//! imported series remembers the UID it came from (per calendar), so importing the same UID into
//! the same calendar again replaces that series in place — same id, next version, exceptions
//! replaced, continuations split from it since deleted — rather than adding a copy; unchanged
//! content writes nothing. A series with locked occurrences is not replaced (reported skipped).

use super::calendars;
use super::ServiceError;
use crate::ics::import::{ImportError, Skipped};
use crate::state::AppState;
use crate::store::rows::{ExceptionRecord, SeriesRecord};
use crate::store::{IcsFeedRecord, SeriesWrite, VersionedWrite};
use almanac_domain::ids::FeedId;
use almanac_domain::series::Series;
use almanac_domain::{CalendarId, OrganizationId, SeriesId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::secrets::new_token;
pub use crate::secrets::sha256_hex as token_sha256;

/// Whether `token` has the shape of a feed token (checked before any lookup).
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The feed's full URL, with its secret.
fn secret_url(app: &AppState, token: &str) -> String {
    format!("{}/ics/{token}.ics", app.public_url)
}

/// The feed's URL with the secret left out (all but its last four characters), for lists.
pub fn redacted_url(app: &AppState, feed: &IcsFeedRecord) -> String {
    format!("{}/ics/…{}.ics", app.public_url, feed.token_hint)
}

pub struct CreatedFeed {
    pub feed: IcsFeedRecord,
    /// The full URL: shown only once.
    pub secret_url: String,
}

#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %calendar))]
pub async fn create_feed(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
) -> Result<CreatedFeed, ServiceError> {
    let calendar = calendars::get(app, org, calendar).await?;
    let token = new_token();
    let feed = IcsFeedRecord {
        id: FeedId::from_uuid(super::new_uuid()).to_string(),
        organization_id: org.to_string(),
        calendar_id: calendar.id.to_string(),
        token_sha256: token_sha256(&token),
        token_hint: token[token.len() - 4..].to_string(),
        created_at: chrono::Utc::now().timestamp(),
        revoked_at: None,
    };
    app.store.insert_ics_feed(&feed).await?;
    Ok(CreatedFeed {
        secret_url: secret_url(app, &token),
        feed,
    })
}

#[tracing::instrument(skip_all, fields(org = %org, feed.id = %id))]
pub async fn revoke_feed(
    app: &AppState,
    org: OrganizationId,
    id: FeedId,
) -> Result<IcsFeedRecord, ServiceError> {
    let id = id.to_string();
    if !app
        .store
        .revoke_ics_feed(org, &id, chrono::Utc::now().timestamp())
        .await?
    {
        return Err(ServiceError::NotFound("feed"));
    }
    app.store
        .ics_feed(org, &id)
        .await?
        .ok_or(ServiceError::NotFound("feed"))
}

/// The feed, or `None` when the organization has none with this id.
#[tracing::instrument(skip_all, fields(org = %org, feed.id = %id))]
pub async fn find_feed(
    app: &AppState,
    org: OrganizationId,
    id: FeedId,
) -> Result<Option<IcsFeedRecord>, ServiceError> {
    Ok(app.store.ics_feed(org, &id.to_string()).await?)
}

/// The feeds of these calendars, oldest first (revoked ones too).
#[tracing::instrument(skip_all, fields(org = %org, calendars = calendars.len()))]
pub async fn feeds_of(
    app: &AppState,
    org: OrganizationId,
    calendars: &[CalendarId],
) -> Result<Vec<IcsFeedRecord>, ServiceError> {
    Ok(app.store.ics_feeds(org, calendars).await?)
}

/// The document a feed URL serves; `None` for an unknown or revoked token (the caller answers
/// both alike).
pub async fn feed_document(app: &AppState, token: &str) -> Result<Option<String>, ServiceError> {
    if !is_token_shaped(token) {
        return Ok(None);
    }
    let Some(feed) = app.store.ics_feed_by_token(&token_sha256(token)).await? else {
        return Ok(None);
    };
    if feed.revoked_at.is_some() {
        return Ok(None);
    }
    let bad =
        |what: &str| ServiceError::internal(format_args!("feed {} has a corrupt {what}", feed.id));
    let org: OrganizationId = feed
        .organization_id
        .parse()
        .map_err(|_| bad("organization id"))?;
    let calendar: CalendarId = feed.calendar_id.parse().map_err(|_| bad("calendar id"))?;
    let Some(calendar) = app.store.calendar(org, calendar).await? else {
        return Ok(None);
    };
    let series = all_series(app, org, calendar.id).await?;
    let now = chrono::Utc::now();
    let doc =
        tokio::task::spawn_blocking(move || crate::ics::export::calendar(&calendar, &series, now))
            .await
            .map_err(|e| ServiceError::internal(format_args!("export failed: {e}")))?;
    Ok(Some(doc))
}

/// Every series of a calendar, page by page.
async fn all_series(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
) -> Result<Vec<Series>, ServiceError> {
    const PAGE: i64 = 1000;
    let mut out: Vec<Series> = Vec::new();
    loop {
        let page = app
            .store
            .series_page(org, calendar, out.last().map(|s| s.id), PAGE)
            .await?;
        let n = page.len() as i64;
        out.extend(page);
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// What an import did.
pub struct ImportOutcome {
    /// The series of the imported events, in file order (new, replaced or unchanged).
    pub series: Vec<Arc<Series>>,
    pub skipped: Vec<Skipped>,
}

/// The imported series with its final identity (and a fresh lineage: it is the root).
fn with_identity(s: &Series, id: SeriesId, version: i64) -> Series {
    Series::new(
        id,
        s.organization,
        s.calendar,
        s.kind,
        s.title.clone(),
        s.description.clone(),
        s.schedule().clone(),
        version,
    )
    .shown_as(s.transparent)
    .with_exceptions(s.exceptions().to_vec())
}

/// Whether two series store the same content (ignoring versions).
fn same_content(a: &Series, b: &Series) -> bool {
    let record = |s: &Series| {
        let mut r = SeriesRecord::from(s);
        r.version = 0;
        serde_json::to_value(&r).ok()
    };
    let exceptions = |s: &Series| {
        serde_json::to_value(
            s.exceptions()
                .iter()
                .map(|e| ExceptionRecord::of(s, e))
                .collect::<Vec<_>>(),
        )
        .ok()
    };
    record(a) == record(b) && exceptions(a) == exceptions(b)
}

#[tracing::instrument(skip_all, fields(org = %org, calendar.id = %calendar, bytes = text.len()))]
pub async fn import(
    app: &AppState,
    org: OrganizationId,
    calendar: CalendarId,
    text: String,
) -> Result<ImportOutcome, ServiceError> {
    let cal = calendars::get(app, org, calendar).await?;
    let plan_cal = cal.clone();
    let plan = super::compute::run_pooled(move || crate::ics::import::plan(&text, &plan_cal))
        .await?
        .map_err(|e| match e {
            ImportError::Malformed(m) => ServiceError::invalid("ics", m),
            ImportError::TooLarge(m) => ServiceError::too_large(m),
        })?;
    let mut skipped = plan.skipped;
    let sources: HashMap<String, SeriesId> = app
        .store
        .ics_sources(org, cal.id)
        .await?
        .into_iter()
        .filter_map(|r| r.series_id.parse().ok().map(|id| (r.source_uid, id)))
        .collect();

    // What to write: (series to insert or update, expected version if an update), deletions,
    // and the UID of each written series.
    let mut result: Vec<Arc<Series>> = Vec::new();
    let mut upserts: Vec<(Series, Option<i64>)> = Vec::new();
    let mut deletes: Vec<(SeriesId, i64)> = Vec::new();
    let mut mapped: Vec<(String, SeriesId)> = Vec::new();
    let mut before: Vec<Series> = Vec::new();
    for event in plan.events {
        let existing = match sources.get(&event.uid) {
            Some(id) => app.store.series_in_lineage(org, *id).await?,
            None => Vec::new(),
        };
        let Some(root) = sources
            .get(&event.uid)
            .and_then(|id| existing.iter().find(|s| s.id == *id))
        else {
            let next = with_identity(&event.series, SeriesId::from_uuid(super::new_uuid()), 1);
            mapped.push((event.uid, next.id));
            result.push(Arc::new(next.clone()));
            upserts.push((next, None));
            continue;
        };
        if let Some(e) = existing
            .iter()
            .flat_map(|s| s.exceptions())
            .find(|e| e.locked)
        {
            skipped.push(Skipped {
                uid: Some(event.uid),
                recurrence_id: None,
                reason: format!("it was imported before and has a locked occurrence ({}); unlock it to import the event again", e.recurrence_id.instant().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            });
            continue;
        }
        let next = with_identity(&event.series, root.id, root.version + 1);
        mapped.push((event.uid, root.id));
        if existing.len() == 1 && same_content(root, &next) {
            result.push(Arc::new(root.clone()));
            continue;
        }
        result.push(Arc::new(next.clone()));
        upserts.push((next, Some(root.version)));
        for s in &existing {
            if s.id != root.id {
                deletes.push((s.id, s.version));
            }
        }
        before.extend(existing);
    }
    if !upserts.is_empty() || !deletes.is_empty() {
        let mut writes: Vec<SeriesWrite<'_>> = upserts
            .iter()
            .map(|(s, expected)| match expected {
                None => SeriesWrite::Insert(s),
                Some(v) => SeriesWrite::Update {
                    series: s,
                    expected_version: *v,
                },
            })
            .collect();
        writes.extend(deletes.iter().map(|(id, v)| SeriesWrite::Delete {
            organization: org,
            id: *id,
            expected_version: *v,
        }));
        match app
            .store
            .save_ics_import(org, cal.id, &writes, &mapped)
            .await?
        {
            VersionedWrite::Done => {}
            VersionedWrite::NotFound | VersionedWrite::Conflict { .. } => {
                return Err(ServiceError::Concurrent("the calendar's imported series"))
            }
        }
        let before: Vec<&Series> = before.iter().collect();
        let after: Vec<&Series> = upserts.iter().map(|(s, _)| s).collect();
        app.changes.publish(org, &before, &after).await;
    }
    Ok(ImportOutcome {
        series: result,
        skipped,
    })
}
