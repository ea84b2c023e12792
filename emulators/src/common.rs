//! Pieces both emulators share: a seedable PRNG, URL/form coding, the killable listener behind the
//! "lost response" fault, fault plans (generic over each emulator's fault kinds) and capped logs.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

// ----- PRNG -----

/// SplitMix64: tiny, seedable and good enough to make fault plans and generated ids reproducible.
/// A real RNG crate would add a dependency for no gain here.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// `len` characters from `alphabet`.
    pub(crate) fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

// ----- URL, form and base64 coding -----

/// Decodes `application/x-www-form-urlencoded` text (query strings and form bodies) into ordered
/// pairs; repeated names stay repeated.
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

pub(crate) fn sha256_b64url(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    b64url(&Sha256::digest(data))
}

pub(crate) fn now_ms_real() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ----- logs and locks -----

/// A poisoned lock only means another request panicked mid-way; the data is still usable for an
/// emulator, and refusing every later request would hide the original failure.
pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Logs are for assertions; a long-running `almanac emulate` must not grow them without bound.
pub(crate) const LOG_CAP: usize = 100_000;

pub(crate) fn push_capped<T>(log: &mut Vec<T>, item: T) {
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 2);
    }
    log.push(item);
}

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

// ----- the HTTP server task -----

/// An emulator's HTTP server: serves a router on a listener (connections killable, see
/// [`KillListener`]) until stopped; dropping it aborts the server.
pub(crate) struct ServerHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ServerHandle {
    pub(crate) fn spawn(listener: TcpListener, router: axum::Router) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<ConnKill>();
            let _ = axum::serve(KillListener(listener), service)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        ServerHandle {
            task: Some(task),
            stop: Some(stop),
        }
    }

    /// Stops accepting connections and lets in-flight requests finish (for two seconds at most).
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ----- a listener whose connections can be cut from inside a handler -----
//
// For the "lost response" fault: the request is applied, then the connection dies before the
// answer is written — what a client sees when a proxy or the network drops a reply.

pub(crate) struct KillListener(pub TcpListener);

pub(crate) struct KillStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

/// Per-connection switch, reachable from handlers as connect info.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub Arc<AtomicBool>);

impl ConnKill {
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Listener for KillListener {
    type Io = KillStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return (
                        KillStream {
                            inner: s,
                            killed: Arc::new(AtomicBool::new(false)),
                        },
                        a,
                    );
                }
                // Transient (EMFILE, ECONNABORTED…): wait a little instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        ConnKill(stream.io().killed.clone())
    }
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_percent_and_repeats() {
        let pairs = parse_form("a=1&p=x%3Dy&p=b+c&bad=%zz&tail=%4");
        assert_eq!(pairs[1], ("p".into(), "x=y".into()));
        assert_eq!(pairs[2], ("p".into(), "b c".into()));
        assert_eq!(pairs[3].1, "%zz");
        assert_eq!(pairs[4].1, "%4");
    }

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
}
