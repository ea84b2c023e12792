//! The HTTP side every emulator shares: the server task on a listener whose connections a handler
//! can cut, the loopback address, bearer credentials, and what an injected fault does to a request
//! once the provider's own gate has admitted it.

use crate::control::{Fault, FaultEffect};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A listener bound to `0.0.0.0` is reached at 127.0.0.1: the URLs an emulator hands out must be
/// dialable.
pub(crate) fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Noted on responses by an API gate, read by the request logger.
#[derive(Debug, Clone, Default)]
pub(crate) struct Note {
    pub fault: Option<&'static str>,
    pub account: Option<String>,
}

pub(crate) fn with_note(mut resp: Response, note: Note) -> Response {
    resp.extensions_mut().insert(note);
    resp
}

/// Runs an admitted request under its fault: held first for a timeout, answered with
/// `lost_response` for a lost reply, or cut off after it was applied for a dropped connection.
/// Immediate refusals (`FaultEffect::Refuse`) are the gate's business and never reach here.
pub(crate) async fn run_faulted<K: Fault>(
    fault: Option<&K>,
    req: Request,
    next: Next,
    note: Note,
    lost_response: impl FnOnce() -> Response,
) -> Response {
    let effect = fault.map(Fault::effect);
    if let Some(FaultEffect::Hold(d)) = effect {
        tokio::time::sleep(d).await;
    }
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());
    let resp = next.run(req).await;
    match effect {
        Some(FaultEffect::LoseResponse) => with_note(lost_response(), note),
        Some(FaultEffect::DropConnection) => match kill {
            Some(k) => {
                k.kill();
                with_note(resp, note)
            }
            // Served without the killable listener: the closest thing is a lost response.
            None => with_note(lost_response(), note),
        },
        _ => with_note(resp, note),
    }
}

// ----- the server task -----

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
