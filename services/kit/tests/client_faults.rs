//! Client faults are 4xx and fast, server faults 5xx, through a real socket: a declared body
//! over the limit (413 at once), a body that does not arrive in time (408), a slow handler (504),
//! a readiness probe that hangs (503 within a second, naming the database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use lockstep_service_kit::http::Ops;
use lockstep_service_kit::metrics::HttpMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_millis(400);

async fn server(ready_hangs: bool) -> std::net::SocketAddr {
    let ops = Ops {
        metrics: Arc::new(HttpMetrics::new("1.0.0", "cafe").unwrap()),
        version: "1.0.0",
        config_hash: "cafe".into(),
        ready: Arc::new(move || {
            Box::pin(async move {
                if ready_hangs {
                    std::future::pending::<()>().await;
                }
                Ok(())
            })
        }),
        pool: None,
        clients: None,
        cors_origins: Vec::new(),
        compression: true,
        request_timeout: TIMEOUT,
        max_body_bytes: 1024,
    };
    let routes = Router::new()
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        );
    common::spawn(routes, ops).await
}

/// Sends `head` (and `body`, then waits `stall` without finishing it) and returns the status
/// line and how long the answer took.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    (
        text.lines().next().unwrap_or("").to_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_declared_oversized_body_is_413_at_once() {
    let addr = server(false).await;
    let (status, took) = raw(
        addr,
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 10000000\r\n\r\n",
        b"",
    )
    .await;
    assert!(status.contains("413"), "{status}");
    assert!(took < TIMEOUT, "413 after {took:?}: waited for the body");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_408_not_504() {
    let addr = server(false).await;
    let (status, took) = raw(
        addr,
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n",
        b"only ten b",
    )
    .await;
    assert!(status.contains("408"), "{status}");
    assert!(took >= TIMEOUT, "{took:?}");
    let (status, _) = raw(
        addr,
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n",
        b"hello",
    )
    .await;
    assert!(status.contains("200"), "a complete body: {status}");
}

#[tokio::test]
async fn a_slow_handler_is_504() {
    let addr = server(false).await;
    let (status, _) = raw(addr, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n", b"").await;
    assert!(status.contains("504"), "{status}");
}

#[tokio::test]
async fn readyz_answers_within_a_second_and_names_the_database() {
    let addr = server(true).await;
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("database: no answer"), "{answer}");
}
