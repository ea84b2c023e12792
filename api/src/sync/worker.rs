//! The background worker: every interval it renews push channels that are about to expire and
//! runs a round for every link, the safety net for notifications that never came. The
//! [`Application`](crate::startup::Application) starts it and stops it on shutdown.

use super::links::watch_link;
use super::rounds::run_round;
use crate::state::AppState;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Renew a watch channel when it has less than this left.
const CHANNEL_RENEW_BEFORE_SECONDS: i64 = 24 * 3600;

/// Whether the worker was asked to stop; a pass checks it between links.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// For a pass run outside the worker (tests, tools): it is never asked to stop.
    pub fn never() -> Self {
        Stopping(watch::channel(false).1)
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// The running worker. Dropping it stops the loop too, but without waiting for it.
pub struct SyncWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SyncWorker {
    /// Starts passes over every link every `interval` (±25 % jitter, so nodes spread out); `None`
    /// when the interval is zero (the worker is turned off).
    pub fn start(app: AppState, interval: Duration) -> Option<Self> {
        Self::every(interval, move |stopping| {
            let app = app.clone();
            async move { pass(&app, &stopping).await }
        })
    }

    fn every<F, P>(interval: Duration, mut run_pass: F) -> Option<Self>
    where
        F: FnMut(Stopping) -> P + Send + 'static,
        P: Future<Output = ()> + Send,
    {
        if interval.is_zero() {
            return None;
        }
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    // Asked to stop, or the owner is gone.
                    _ = stopping.changed() => break,
                    () = tokio::time::sleep(jittered(interval)) => {}
                }
                run_pass(Stopping(stopping.clone())).await;
                if *stopping.borrow() {
                    break;
                }
            }
        });
        Some(SyncWorker { stop, task })
    }

    /// Asks the worker to stop and waits for the round in flight to finish; after `grace` it is
    /// aborted instead. Aborting is clean: the engine advances a link's state only after the step
    /// it describes succeeded, so the next round (on any node) redoes at most that step.
    pub async fn stop(self, grace: Duration) {
        // Fails only when the loop already ended (it panicked); the join below reports that.
        let _ignored = self.stop.send(true);
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the sync worker ended abnormally"),
            Err(_) => {
                tracing::warn!(
                    grace_seconds = grace.as_secs_f64(),
                    "the sync round in flight outlived the shutdown grace; aborting it"
                );
                task.abort();
                // The task is done (cancelled) once this returns; a cancellation is expected.
                if let Err(e) = task.await.map_err(|e| (e.is_cancelled(), e)) {
                    if !e.0 {
                        tracing::error!(error = %e.1, "the sync worker ended abnormally");
                    }
                }
            }
        }
        tracing::info!("sync worker stopped");
    }
}

fn jittered(interval: Duration) -> Duration {
    let percent = 75 + (uuid::Uuid::new_v4().as_u128() % 50) as u32;
    (interval * percent / 100).max(Duration::from_millis(1))
}

/// One pass over every link, never asked to stop (what the worker does each interval).
pub async fn worker_pass(app: &AppState) {
    pass(app, &Stopping::never()).await
}

#[tracing::instrument(skip_all)]
async fn pass(app: &AppState, stopping: &Stopping) {
    let links = match app.store.all_links().await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "sync worker could not list links");
            return;
        }
    };
    let now = chrono::Utc::now().timestamp();
    for l in links {
        if stopping.requested() {
            // The links left wait for the next pass (on this node after a restart, or another).
            return;
        }
        if l.channel_expires_at
            .is_some_and(|t| t - now < CHANNEL_RENEW_BEFORE_SECONDS)
        {
            if let Err(e) = watch_link(app, &l).await {
                tracing::warn!(link = %l.id, error = %e, "could not renew the watch channel");
            }
        }
        let report = run_round(app, &l).await;
        if let Some(e) = report.error {
            tracing::warn!(link = %l.id, error = %e, "sync round failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn stopping_lets_the_pass_in_flight_finish_and_ends_the_loop() {
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (s, f) = (started.clone(), finished.clone());
        let worker = SyncWorker::every(Duration::from_millis(5), move |_| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("a worker");
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        worker.stop(Duration::from_secs(10)).await;
        let passes = started.load(Ordering::SeqCst);
        assert_eq!(
            finished.load(Ordering::SeqCst),
            passes,
            "the pass in flight ran to its end"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(started.load(Ordering::SeqCst), passes, "no pass after stop");
    }

    #[tokio::test]
    async fn a_pass_that_outlives_the_grace_is_aborted() {
        let worker = SyncWorker::every(Duration::from_millis(1), |_| std::future::pending::<()>())
            .expect("a worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
        tokio::time::timeout(
            Duration::from_secs(5),
            worker.stop(Duration::from_millis(50)),
        )
        .await
        .expect("stop returns once the grace is over");
    }

    #[tokio::test]
    async fn a_pass_sees_the_stop_request() {
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let (entered, mut entered_rx) = tokio::sync::mpsc::channel::<()>(1);
        let worker = SyncWorker::every(Duration::from_millis(1), move |stopping| {
            let (s, entered) = (s.clone(), entered.clone());
            async move {
                let _sent = entered.try_send(());
                while !stopping.requested() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                s.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("a worker");
        entered_rx.recv().await.expect("a pass started");
        worker.stop(Duration::from_secs(10)).await;
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "the pass saw the request and returned"
        );
    }

    #[test]
    fn a_zero_interval_turns_the_worker_off() {
        assert!(SyncWorker::every(Duration::ZERO, |_| async {}).is_none());
    }
}
