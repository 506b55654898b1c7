//! Per-client rate limits on a real server (`serve` over TCP, so the peer address is known):
//! 429 `rate_limited` with `Retry-After` before the handler runs, probes never limited, and
//! `X-Forwarded-For` keys clients only when trusted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use lockstep_service_config::{Quota, RateLimitConfig};
use lockstep_service_kit::ratelimit::ClientLimit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server admitting 2 requests at once and 1 per second per client; counts handler runs.
async fn server(trust_forwarded_for: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let config = RateLimitConfig {
        per_client: Some(Quota {
            per_second: 1,
            burst: 2,
        }),
        trust_forwarded_for,
        ..RateLimitConfig::default()
    };
    let ops = common::ready_ops(ClientLimit::from_config(&config));
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let routes = Router::new().route(
        "/things",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "thing" }
        }),
    );
    let addr = common::spawn(routes, ops).await;
    (addr, runs)
}

/// One request on a new connection; the whole answer (head and body) as text.
async fn get_path(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&answer).to_lowercase()
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_before_the_handler() {
    let (addr, runs) = server(false).await;
    for _ in 0..2 {
        let answer = get_path(addr, "/things", "").await;
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
    }
    let answer = get_path(addr, "/things", "").await;
    assert!(answer.starts_with("http/1.1 429"), "{answer}");
    assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("\"code\":\"rate_limited\""), "{answer}");
    assert!(answer.contains("\r\nx-request-id: "), "{answer}");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the refused request ran nothing"
    );

    // Probes and scrapes are never limited; the 429 is in the metrics as a client fault.
    for path in ["/healthz", "/readyz"] {
        assert!(
            get_path(addr, path, "").await.starts_with("http/1.1 200"),
            "{path}"
        );
    }
    let metrics = get_path(addr, "/metrics", "").await;
    assert!(metrics.contains("status=\"429\""), "{metrics}");

    // A second later one token is back.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert!(
        get_path(addr, "/things", "")
            .await
            .starts_with("http/1.1 200")
    );
}

#[tokio::test]
async fn forwarded_for_keys_clients_only_when_trusted() {
    let (untrusted, _) = server(false).await;
    for n in 0..3 {
        let answer = get_path(
            untrusted,
            "/things",
            &format!("x-forwarded-for: 10.0.0.{n}\r\n"),
        )
        .await;
        // The header is the client's own word: all three are this one peer.
        assert_eq!(answer.starts_with("http/1.1 429"), n == 2, "{answer}");
    }
    let (trusted, _) = server(true).await;
    for n in 0..3 {
        let answer = get_path(
            trusted,
            "/things",
            &format!("x-forwarded-for: 10.0.0.{n}, 10.1.1.1\r\n"),
        )
        .await;
        assert!(answer.starts_with("http/1.1 200"), "client {n}: {answer}");
    }
}

/// A 405 is JSON and keeps axum's `Allow` header (as `services/README.md` says).
#[tokio::test]
async fn a_405_is_json_with_allow() {
    let (addr, _) = server(false).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"DELETE /things HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let answer = answer.to_lowercase();
    assert!(answer.starts_with("http/1.1 405"), "{answer}");
    assert!(answer.contains("\r\nallow: get,head\r\n"), "{answer}");
    assert!(
        answer.contains("\"code\":\"method_not_allowed\""),
        "{answer}"
    );
}
