//! The change feed behind GraphQL subscriptions. Every committed write publishes the series it
//! touched, before and after. With SQLite the feed is a broadcast channel in this process; with
//! PostgreSQL the change goes through the database (stored + NOTIFY), and every API process —
//! this one included — receives it from its LISTEN connection, so a subscriber on node B sees a
//! mutation made through node A.

use crate::store::rows::{ExceptionRecord, SeriesRecord};
use crate::store::Store;
use almanac_domain::series::Series;
use almanac_domain::OrganizationId;
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Snapshot {
    series: SeriesRecord,
    exceptions: Vec<ExceptionRecord>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    organization: String,
    before: Vec<Snapshot>,
    after: Vec<Snapshot>,
}

/// One committed change, decoded.
#[derive(Debug, Clone)]
pub struct Change {
    pub organization: OrganizationId,
    pub before: Vec<Series>,
    pub after: Vec<Series>,
}

fn snapshot(s: &Series) -> Snapshot {
    Snapshot {
        series: SeriesRecord::from(s),
        exceptions: s
            .exceptions()
            .iter()
            .map(|e| ExceptionRecord::of(s, e))
            .collect(),
    }
}

fn restore(s: Snapshot) -> Option<Series> {
    let exceptions = s
        .exceptions
        .into_iter()
        .map(ExceptionRecord::into_exception)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Series::try_from(s.series)
        .ok()
        .map(|x| x.with_exceptions(exceptions))
}

fn decode(payload: &str) -> Option<Change> {
    let w: Wire = serde_json::from_str(payload).ok()?;
    Some(Change {
        organization: w.organization.parse().ok()?,
        before: w.before.into_iter().filter_map(restore).collect(),
        after: w.after.into_iter().filter_map(restore).collect(),
    })
}

pub struct ChangeFeed {
    store: Arc<dyn Store>,
    local: broadcast::Sender<Arc<Change>>,
}

impl ChangeFeed {
    /// Starts listening (PostgreSQL) and returns the feed.
    pub async fn start(store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let (local, _) = broadcast::channel(1024);
        let feed = Arc::new(ChangeFeed {
            store: store.clone(),
            local,
        });
        if let Some(mut rx) = store.listen_changes().await? {
            let sender = feed.local.clone();
            tokio::spawn(async move {
                while let Some(payload) = rx.recv().await {
                    if let Some(c) = decode(&payload) {
                        let _ = sender.send(Arc::new(c));
                    }
                }
            });
        }
        Ok(feed)
    }

    /// Publishes a committed change. Failures are logged: the write itself has succeeded.
    pub async fn publish(
        &self,
        organization: OrganizationId,
        before: &[&Series],
        after: &[&Series],
    ) {
        let wire = Wire {
            organization: organization.to_string(),
            before: before.iter().map(|s| snapshot(s)).collect(),
            after: after.iter().map(|s| snapshot(s)).collect(),
        };
        let Ok(payload) = serde_json::to_string(&wire) else {
            return;
        };
        match self.store.publish_change(payload.clone()).await {
            Ok(true) => {}
            Ok(false) => {
                if let Some(c) = decode(&payload) {
                    let _ = self.local.send(Arc::new(c));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not publish a change to subscribers"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.local.subscribe()
    }
}
