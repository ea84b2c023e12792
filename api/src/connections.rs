//! Serving connections with bounded cost: a client that is slow to send its request head or body
//! is closed, and open connections are capped below the process's file limit, so a flood of idle
//! sockets can neither exhaust file descriptors (`accept: Too many open files`) nor starve
//! well-behaved clients.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free beyond the connection cap: the database pool, the change feed, provider
/// calls, log files, and the short-lived sockets that carry 503 refusals.
const RESERVED_DESCRIPTORS: u64 = 128;
/// Over-cap connections answered 503 at once; beyond this they are closed without an answer, so
/// refusing cannot itself exhaust descriptors.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// The request line and headers must arrive within this; it also ends a keep-alive connection
    /// that waits this long for its next request.
    pub header_timeout: Duration,
    /// The longest pause between two chunks of a request body.
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// `max_connections` 0 picks the file limit minus a reserve; a larger cap than that is refused,
    /// since it would let `accept` fail with EMFILE instead of answering 503.
    pub fn new(
        header_timeout_seconds: u64,
        body_timeout_seconds: u64,
        max_connections: usize,
    ) -> anyhow::Result<Self> {
        let ceiling = open_file_limit().map(|n| n.saturating_sub(RESERVED_DESCRIPTORS));
        let max_connections = match (max_connections, ceiling) {
            (0, Some(c)) if c >= 1 => c.min(usize::MAX as u64) as usize,
            (0, _) => anyhow::bail!("the open file limit is too low to serve: raise `ulimit -n` above {RESERVED_DESCRIPTORS}"),
            (n, Some(c)) if n as u64 > c => anyhow::bail!(
                "--max-connections {n} is above what the open file limit allows ({c}: the limit minus {RESERVED_DESCRIPTORS} reserved); raise `ulimit -n` or lower it"
            ),
            (n, _) => n,
        };
        Ok(ConnectionLimits {
            header_timeout: Duration::from_secs(header_timeout_seconds.max(1)),
            body_timeout: Duration::from_secs(body_timeout_seconds.max(1)),
            max_connections,
        })
    }
}

/// The soft RLIMIT_NOFILE, or `None` when unlimited or unknown.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// A socket that holds its connection slot for as long as it lives, including after a WebSocket
/// upgrade hands it from hyper to the socket's task. The permit is declared first so the slot is
/// free before the peer can see the close.
struct SlottedStream {
    _slot: OwnedSemaphorePermit,
    stream: TcpStream,
}

impl AsyncRead for SlottedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlottedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

const REFUSAL_BODY: &str = r#"{"errors":[{"message":"the server has too many open connections; retry shortly","extensions":{"code":"SERVICE_UNAVAILABLE"}}]}"#;

/// Answers an over-cap connection 503 once its request head has arrived (HTTP clients treat an
/// answer before their request as a protocol error), then reads on briefly, bounded in time and
/// size, so closing does not reset the connection before the client reads the answer. A client
/// that never finishes its head is closed unanswered after the usual header timeout.
async fn refuse(mut stream: TcpStream, linger: Duration) {
    let mut head = Vec::with_capacity(1024);
    let read_head = async {
        let mut buf = [0u8; 1024];
        while head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
        }
        true
    };
    if !matches!(tokio::time::timeout(linger, read_head).await, Ok(true)) {
        return;
    }
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(linger, drain).await;
}

/// Accepts until `shutdown` resolves, then waits for in-flight requests (upgraded WebSockets
/// live on their own, as with `axum::serve`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    // Each connection task holds a `draining` receiver; `closed()` resolves once all have ended.
    let (stop, stopping) = tokio::sync::watch::channel(());
    let (all_closed, draining) = tokio::sync::watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tracing::info!(max_connections = limits.max_connections, header_timeout = ?limits.header_timeout, body_timeout = ?limits.body_timeout, "serving");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Descriptors ran out elsewhere in the process (the cap keeps a reserve, but
                    // other work can use it up): back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Ok(refusing) = refusals.clone().try_acquire_owned() {
                    let linger = limits.header_timeout;
                    tokio::spawn(async move {
                        refuse(stream, linger).await;
                        drop(refusing);
                    });
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(SlottedStream {
            _slot: slot,
            stream,
        });
        let router = router.clone();
        let body_timeout = limits.body_timeout;
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut router = router.clone();
                let mut req = req.map(|body| {
                    axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body))
                });
                req.extensions_mut().insert(ConnectInfo(peer));
                tower_service::Service::call(&mut router, req)
            });
        let connection = builder.serve_connection(io, service).with_upgrades();
        let mut stopping = stopping.clone();
        let draining = draining.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(draining);
        });
    }
    drop(listener);
    let _ = stop.send(());
    drop(draining);
    all_closed.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_below_the_open_file_limit() {
        let Some(limit) = open_file_limit() else {
            return;
        };
        let automatic = ConnectionLimits::new(10, 30, 0).expect("automatic cap");
        assert_eq!(
            automatic.max_connections as u64,
            limit - RESERVED_DESCRIPTORS
        );
        let too_many = ConnectionLimits::new(10, 30, limit as usize)
            .expect_err("a cap at the file limit is refused");
        assert!(
            too_many.to_string().contains("--max-connections"),
            "{too_many}"
        );
        assert_eq!(
            ConnectionLimits::new(0, 0, 4)
                .expect("explicit cap")
                .max_connections,
            4
        );
    }
}
