//! Shared by the kit's socket tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use axum::Router;
use lockstep_service_kit::http::{Ops, serve, wrap};

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
