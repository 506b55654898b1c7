//! Shared by the kit's socket tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use lockstep_service_kit::http::{Ops, serve, wrap};
use lockstep_service_kit::metrics::HttpMetrics;
use lockstep_service_kit::ratelimit::ClientLimit;

/// Ops that are always ready, with a 5 s request time-out, 1 KiB bodies and `clients`.
pub fn ready_ops(clients: Option<ClientLimit>) -> Ops {
    Ops {
        metrics: Arc::new(HttpMetrics::new("1.0.0", "cafe").unwrap()),
        version: "1.0.0",
        config_hash: "cafe".into(),
        ready: Arc::new(|| Box::pin(async { Ok(()) })),
        pool: None,
        request_timeout: Duration::from_secs(5),
        max_body_bytes: 1024,
        clients,
        cors_origins: Vec::new(),
        compression: true,
    }
}

/// Serves `routes` wrapped with `ops` on a free loopback port (never shut down).
pub async fn spawn(routes: Router, ops: Ops) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        wrap(routes, ops),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    addr
}
