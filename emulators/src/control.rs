//! The control surface both emulators share: the running handle ([`Emulator`]) with its request
//! log, fault plans, notification records and background tasks. A provider module supplies only
//! its server state (a [`Served`] type) and the switches that exist on that provider alone.

use crate::server::{loopback, ServerHandle};
use crate::util::{push_capped, relock, SplitMix64};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

// ----- fault plans -----

/// Which requests a fault may hit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultMatch {
    /// HTTP method (e.g. "PATCH"); `None` matches any.
    pub method: Option<String>,
    /// Substring of the request path; `None` matches any.
    pub path_contains: Option<String>,
}

impl FaultMatch {
    pub fn any() -> Self {
        FaultMatch::default()
    }
    pub fn method(m: &str) -> Self {
        FaultMatch {
            method: Some(m.to_ascii_uppercase()),
            path_contains: None,
        }
    }
    pub fn path(fragment: &str) -> Self {
        FaultMatch {
            method: None,
            path_contains: Some(fragment.to_string()),
        }
    }
    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// Faults for API calls (OAuth endpoints are never faulted). Queued faults are used first, in
/// order, each on the next request it matches; then, with probability `rate`, a kind drawn from
/// `random_kinds`. Random draws come from a PRNG seeded with `seed`, so the same request sequence
/// meets the same faults. `K` is the emulator's fault kind.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan<K> {
    pub queue: Vec<(FaultMatch, K)>,
    pub rate: f64,
    pub random_kinds: Vec<K>,
    pub random_match: FaultMatch,
    pub seed: u64,
}

impl<K> Default for FaultPlan<K> {
    fn default() -> Self {
        FaultPlan {
            queue: vec![],
            rate: 0.0,
            random_kinds: vec![],
            random_match: FaultMatch::any(),
            seed: 0,
        }
    }
}

impl<K> FaultPlan<K> {
    /// The next requests (any method) fail with these kinds, in order.
    pub fn next(kinds: impl IntoIterator<Item = K>) -> Self {
        FaultPlan {
            queue: kinds.into_iter().map(|k| (FaultMatch::any(), k)).collect(),
            ..Default::default()
        }
    }

    /// Each request fails with probability `rate`, with a kind drawn uniformly from `kinds`.
    pub fn random(rate: f64, kinds: Vec<K>, seed: u64) -> Self {
        FaultPlan {
            rate,
            random_kinds: kinds,
            seed,
            ..Default::default()
        }
    }

    pub fn then(mut self, on: FaultMatch, kind: K) -> Self {
        self.queue.push((on, kind));
        self
    }
}

/// What a fault does to the request it hits. Every provider has the same three ways of failing
/// slowly or silently; only the immediate error answers are its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultEffect {
    /// Answer the provider's error instead of handling the request.
    Refuse,
    /// Hold the request this long, then handle it (longer than a client's timeout).
    Hold(Duration),
    /// Apply the request, then answer a 500 instead of the real response.
    LoseResponse,
    /// Apply the request, then close the connection without answering.
    DropConnection,
}

/// An emulator's fault kind.
pub trait Fault: Clone + Send + 'static {
    /// The name recorded in [`RequestRecord::fault`].
    fn name(&self) -> &'static str;
    fn effect(&self) -> FaultEffect;
}

/// A fault plan being consumed.
#[derive(Debug)]
pub(crate) struct FaultState<K> {
    plan: FaultPlan<K>,
    queue: VecDeque<(FaultMatch, K)>,
    rng: SplitMix64,
}

impl<K> Default for FaultState<K> {
    fn default() -> Self {
        FaultState {
            plan: FaultPlan::default(),
            queue: VecDeque::new(),
            rng: SplitMix64::new(0),
        }
    }
}

impl<K: Clone> FaultState<K> {
    pub(crate) fn set(&mut self, plan: FaultPlan<K>) {
        self.queue = plan.queue.iter().cloned().collect();
        self.rng = SplitMix64::new(plan.seed);
        self.plan = plan;
    }

    /// The fault for this request, if any: the first queued fault that matches, else a random draw.
    pub(crate) fn next(&mut self, method: &str, path: &str) -> Option<K> {
        if let Some(pos) = self.queue.iter().position(|(m, _)| m.matches(method, path)) {
            return self.queue.remove(pos).map(|(_, k)| k);
        }
        if self.plan.rate > 0.0
            && !self.plan.random_kinds.is_empty()
            && self.plan.random_match.matches(method, path)
        {
            // Always draw twice per eligible request so the sequence depends only on the count.
            let hit = self.rng.next_f64() < self.plan.rate;
            let pick = self.rng.below(self.plan.random_kinds.len());
            if hit {
                return self.plan.random_kinds.get(pick).cloned();
            }
        }
        None
    }
}

// ----- the clock -----

/// The emulator's clock: real time plus what tests advanced it by, and a change counter whose
/// stamps strictly increase, so `updated`/`etag`/`changeKey` differ after every write even within
/// one millisecond.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: i64,
    seq: u64,
    last_ms: i64,
}

impl Clock {
    pub(crate) fn now_ms(&self) -> i64 {
        crate::util::now_ms_real() + self.offset_ms
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset_ms += by.as_millis() as i64;
    }

    pub(crate) fn current_seq(&self) -> u64 {
        self.seq
    }

    /// Next change counter and modification time.
    pub(crate) fn stamp(&mut self) -> (u64, i64) {
        self.seq += 1;
        let ms = self.now_ms().max(self.last_ms + 1);
        self.last_ms = ms;
        (self.seq, ms)
    }
}

// ----- the request log and background tasks -----

/// One API or OAuth request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// The injected fault, if any (see [`Fault::name`]).
    pub fault: Option<String>,
    pub account: Option<String>,
    /// The `request-id` response header, where the provider sends one (Graph; also in its error
    /// bodies' `innerError`).
    pub request_id: Option<String>,
}

/// What every emulator keeps beside its provider state. `K` is the fault kind, `N` the record of
/// one outgoing notification (webhook) delivery.
pub struct Control<K, N> {
    log: Mutex<Vec<RequestRecord>>,
    /// Requests ever received (the log itself is capped).
    request_count: AtomicUsize,
    notifications: Mutex<Vec<N>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    faults: Mutex<FaultState<K>>,
}

impl<K, N> Default for Control<K, N> {
    fn default() -> Self {
        Control {
            log: Mutex::new(Vec::new()),
            request_count: AtomicUsize::new(0),
            notifications: Mutex::new(Vec::new()),
            tasks: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultState::default()),
        }
    }
}

impl<K: Clone, N: Clone> Control<K, N> {
    pub(crate) fn record_request(&self, r: RequestRecord) {
        self.request_count.fetch_add(1, Ordering::Relaxed);
        push_capped(&mut relock(&self.log), r);
    }

    pub(crate) fn record_notification(&self, n: N) {
        push_capped(&mut relock(&self.notifications), n);
    }

    /// The fault for this API request, if the plan has one.
    pub(crate) fn next_fault(&self, method: &str, path: &str) -> Option<K> {
        relock(&self.faults).next(method, path)
    }

    /// Runs a background task (webhook deliveries, channel timers) that stops with the emulator.
    pub(crate) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        let mut tasks = relock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(h);
    }

    fn log(&self) -> MutexGuard<'_, Vec<RequestRecord>> {
        relock(&self.log)
    }

    fn abort_tasks(&self) {
        for t in std::mem::take(&mut *relock(&self.tasks)) {
            t.abort();
        }
    }
}

// ----- the running emulator -----

/// Configuration common to every emulator.
pub trait EmulatorConfig: Send + 'static {
    /// Where to listen; port 0 picks a free one.
    fn bind(&self) -> SocketAddr;
}

/// An emulator's server state, shared by its handlers, its background tasks and its [`Emulator`]
/// handle. Implemented by each provider module.
pub trait Served: Send + Sync + Sized + 'static {
    type Config: EmulatorConfig;
    type Fault: Fault;
    /// One outgoing notification (webhook) delivery attempt.
    type Notification: Clone + Send + 'static;

    #[doc(hidden)]
    fn build(config: Self::Config, addr: SocketAddr) -> io::Result<Arc<Self>>;
    #[doc(hidden)]
    fn router(app: Arc<Self>) -> axum::Router;
    #[doc(hidden)]
    fn control(&self) -> &Control<Self::Fault, Self::Notification>;
    #[doc(hidden)]
    fn advance_clock(&self, by: Duration);
    #[doc(hidden)]
    fn expire_access_tokens(&self);
    #[doc(hidden)]
    fn set_deny_consent(&self, deny: bool);
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`] does so gracefully.
pub struct Emulator<A: Served> {
    pub(crate) app: Arc<A>,
    addr: SocketAddr,
    server: ServerHandle,
}

impl<A: Served> Emulator<A> {
    /// Binds the configured address (127.0.0.1 on a free port by default) and starts serving.
    pub async fn start(config: A::Config) -> io::Result<Self> {
        let listener = TcpListener::bind(config.bind()).await?;
        Self::start_with_listener(listener, config)
    }

    /// Serves on an already bound listener. Must be called inside a Tokio runtime.
    pub fn start_with_listener(listener: TcpListener, config: A::Config) -> io::Result<Self> {
        let addr = loopback(listener.local_addr()?);
        let app = A::build(config, addr)?;
        let server = ServerHandle::spawn(listener, A::router(app.clone()));
        Ok(Emulator { app, addr, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Moves the emulator's clock forward (token, channel/subscription and sync-token expiry;
    /// quota and throttling windows; modification stamps).
    pub fn advance_clock(&self, by: Duration) {
        self.app.advance_clock(by);
    }

    /// Expires every access token now: API calls → 401 until refreshed.
    pub fn expire_access_tokens(&self) {
        self.app.expire_access_tokens();
    }

    /// The next authorization requests are refused by the "user" (`error=access_denied`).
    pub fn set_deny_consent(&self, deny: bool) {
        self.app.set_deny_consent(deny);
    }

    /// Replaces the fault plan.
    pub fn inject_faults(&self, plan: FaultPlan<A::Fault>) {
        relock(&self.app.control().faults).set(plan);
    }

    pub fn clear_faults(&self) {
        self.inject_faults(FaultPlan::default());
    }

    /// Requests received so far (API and OAuth), since start or the last `clear_requests`.
    pub fn request_count(&self) -> usize {
        self.app.control().request_count.load(Ordering::Relaxed)
    }

    /// The request log, oldest first (the most recent 50,000–100,000 are kept).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.control().log().clone()
    }

    pub fn clear_requests(&self) {
        let control = self.app.control();
        control.log().clear();
        control.request_count.store(0, Ordering::Relaxed);
    }

    /// Outgoing notification deliveries so far (webhook POSTs; on Graph also validation
    /// requests and lifecycle notifications).
    pub fn notifications(&self) -> Vec<A::Notification> {
        relock(&self.app.control().notifications).clone()
    }

    /// Stops accepting connections, lets in-flight requests finish (briefly), stops background
    /// deliveries.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
        self.app.control().abort_tasks();
    }
}

impl<A: Served> Drop for Emulator<A> {
    fn drop(&mut self) {
        self.app.control().abort_tasks();
    }
}

/// Runs an emulator on `listener` until the returned future is dropped (for `almanac emulate`;
/// print the URLs from `listener.local_addr()` first).
pub async fn serve<A: Served>(listener: TcpListener, config: A::Config) -> io::Result<()> {
    let _emulator = Emulator::<A>::start_with_listener(listener, config)?;
    std::future::pending::<()>().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_queue_then_seeded_random() {
        let mut s = FaultState::<u8>::default();
        s.set(
            FaultPlan::default()
                .then(FaultMatch::method("PATCH"), 1)
                .then(FaultMatch::any(), 2),
        );
        assert_eq!(s.next("GET", "/x"), Some(2));
        assert_eq!(s.next("patch", "/x"), Some(1));
        assert_eq!(s.next("PATCH", "/x"), None);
        let draw = |seed| {
            let mut s = FaultState::<u8>::default();
            s.set(FaultPlan::random(0.5, vec![7, 8], seed));
            (0..32).map(|_| s.next("GET", "/")).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn stamps_strictly_increase_and_follow_the_advanced_clock() {
        let mut c = Clock::default();
        let (s1, t1) = c.stamp();
        let (s2, t2) = c.stamp();
        assert_eq!((s1, s2), (1, 2));
        assert!(t2 > t1);
        c.advance(Duration::from_secs(3600));
        let (_, t3) = c.stamp();
        assert!(t3 >= t1 + 3_600_000);
    }
}
