//! Slow and idle clients on a real socket: a head sent one line at a time, a connection that
//! sends nothing, an idle keep-alive connection and a crowd of half-sent requests are all
//! closed at the header-read timeout; the connection cap holds the next client in the accept
//! queue until a slot frees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use lockstep_service_kit::http::wrap;
use lockstep_service_kit::server::{ConnectionLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn spawn(limits: ConnectionLimits) -> SocketAddr {
    let routes = Router::new().route("/things", get(|| async { "thing" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        wrap(routes, common::ready_ops(None)),
        std::future::pending(),
        Duration::from_secs(1),
        limits,
    ));
    addr
}

fn limits(header_read_timeout: Duration, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout,
        max_connections,
    }
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(stream: &mut TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after 10 s"),
        }
    }
}

const GET: &[u8] = b"GET /things HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn a_head_sent_one_line_at_a_time_is_cut_at_the_timeout() {
    let addr = spawn(limits(Duration::from_millis(800), 64)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /things HTTP/1.1\r\n").await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let drip = tokio::spawn(async move {
        for i in 0..30 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let line = format!("x-slow-{i}: y\r\n");
            if write.write_all(line.as_bytes()).await.is_err() {
                return i;
            }
        }
        30
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut buf)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(2000),
        "closed after {took:?}"
    );
    // A slow client never got an answer to its half-sent request.
    assert!(!String::from_utf8_lossy(&buf).contains("thing"));
    drip.abort();
}

#[tokio::test]
async fn silent_and_idle_keep_alive_connections_are_closed() {
    let addr = spawn(limits(Duration::from_millis(500), 64)).await;
    // Nothing sent at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let took = closed_after(&mut silent, Instant::now()).await;
    assert!(took < Duration::from_millis(1500), "silent: {took:?}");
    // One request answered, then idle on keep-alive.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(GET).await.unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_after(&mut idle, Instant::now()).await;
    assert!(
        took < Duration::from_millis(1500),
        "idle keep-alive: {took:?}"
    );
}

#[tokio::test]
async fn a_crowd_of_half_sent_requests_is_dropped_and_the_service_answers() {
    let addr = spawn(limits(Duration::from_millis(600), 4096)).await;
    let mut crowd = Vec::new();
    for _ in 0..500 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /things HTTP/1.1\r\nhost:").await.unwrap();
        crowd.push(s);
    }
    let started = Instant::now();
    let closes =
        futures::future::join_all(crowd.iter_mut().map(|s| closed_after(s, started))).await;
    let slowest = closes.into_iter().max().unwrap();
    assert!(
        slowest < Duration::from_secs(3),
        "the last half-sent request was held {slowest:?}"
    );
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    fresh.write_all(GET).await.unwrap();
    let mut buf = [0u8; 512];
    let n = fresh.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn the_connection_cap_queues_the_next_client_until_a_slot_frees() {
    let addr = spawn(limits(Duration::from_secs(30), 2)).await;
    let held_a = TcpStream::connect(addr).await.unwrap();
    let _held_b = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    let mut buf = [0u8; 512];
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "a third connection was served over a cap of 2"
    );
    drop(held_a);
    let n = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}
