//! The tower-http layers on a real socket: a panicking handler is a JSON 500 and the server goes
//! on; gzip only for clients that ask; CORS answers the configured origin and no other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).to_lowercase()
}

fn routes() -> Router {
    Router::new()
        .route(
            "/boom",
            get(|| async {
                if true {
                    panic!("a bug");
                }
                "unreachable"
            }),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_the_server_goes_on() {
    let addr = common::spawn(routes(), common::ready_ops(None)).await;
    let answer = raw(
        addr,
        "GET /boom HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("http/1.1 500"), "{answer}");
    assert!(
        answer.contains("\"code\":\"internal\"") && answer.contains("x-request-id"),
        "{answer}"
    );
    let again = raw(
        addr,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(again.starts_with("http/1.1 200"), "{again}");
}

#[tokio::test]
async fn gzip_only_when_asked() {
    let addr = common::spawn(routes(), common::ready_ops(None)).await;
    let plain = raw(
        addr,
        "GET /big HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(!plain.contains("content-encoding"), "{}", &plain[..200]);
    let gzip = raw(
        addr,
        "GET /big HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(gzip.contains("content-encoding: gzip"), "{}", &gzip[..200]);
    let mut off = common::ready_ops(None);
    off.compression = false;
    let addr = common::spawn(routes(), off).await;
    let asked = raw(
        addr,
        "GET /big HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(!asked.contains("content-encoding"), "compression off");
}

#[tokio::test]
async fn cors_answers_the_configured_origin_only() {
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /big HTTP/1.1\r\nhost: x\r\norigin: {origin}\r\n\
             access-control-request-method: GET\r\nconnection: close\r\n\r\n"
        )
    };
    let mut ops = common::ready_ops(None);
    ops.cors_origins = vec![HeaderValue::from_static("https://app.example")];
    let addr = common::spawn(routes(), ops).await;
    let allowed = raw(addr, &preflight("https://app.example")).await;
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example"),
        "{allowed}"
    );
    let other = raw(addr, &preflight("https://evil.example")).await;
    assert!(!other.contains("access-control-allow-origin"), "{other}");
    // Without configured origins there are no CORS headers at all.
    let addr = common::spawn(routes(), common::ready_ops(None)).await;
    let none = raw(addr, &preflight("https://app.example")).await;
    assert!(!none.contains("access-control-allow-origin"), "{none}");
}
