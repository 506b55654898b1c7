//! The accept loop: HTTP/1.1 connections under a header-read timeout and a connection cap,
//! drained on shutdown.
//!
//! ```text
//!  accept ─► (a slot of `max_connections`; without one, wait: the kernel queues the rest)
//!         ─► hyper http1: the request head must arrive within `header_read_timeout` of
//!            starting to wait for it (at open, and after each answer) ─► axum Router
//!  shutdown ─► stop accepting ─► open connections finish their request, then close (`grace`)
//! ```
//!
//! `axum::serve` has neither bound: a client sending one header line a second was never
//! answered or closed in 105 s, an idle connection stayed open ≥ 70 s, and 2,000 half-sent
//! requests were all held. hyper's header-read timer starts whenever the connection waits for
//! a request head, so the one bound covers slow heads and idle keep-alive connections alike.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Bounds on connections (from `server.header_read_timeout_ms` and `server.max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A whole request head must arrive within this long of starting to wait for it.
    pub header_read_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The limits of a service's `server` config section.
    pub fn from_config(server: &lockstep_service_config::ServerConfig) -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits::from_config(&lockstep_service_config::ServerConfig::default())
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting and lets open connections finish for at most `grace`. Requests carry the peer
/// address as `ConnectInfo<SocketAddr>` (per-client rate limits key on it).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let (stream, peer, slot) = accepted;
        // Answers are small and written whole: do not hold them back for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            })
            .map_err(|never: Infallible| match never {});
        // No upgrades (WebSocket): no service uses them.
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "requests still in flight after the grace period; exiting");
        }
    }
    Ok(())
}

/// The next connection, once a slot is free. An accept error (too many open files, a
/// connection reset before it was accepted) is logged and retried after a pause, not fatal.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
) {
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            // The semaphore is never closed; wait for shutdown instead of spinning.
            std::future::pending::<()>().await;
            continue;
        };
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, slot),
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying in 50 ms");
                drop(slot);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
