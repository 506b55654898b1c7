//! Draining on a real socket: at the signal `/readyz` turns 503 ("draining") while requests are
//! still served for the delay, then the server stops accepting. Its own test binary: the
//! draining flag is the process's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use lockstep_service_kit::http::{drain_after, serve, wrap};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get_path(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let head = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn readiness_fails_first_then_the_server_stops_accepting() {
    let ops = common::ready_ops(None);
    let routes = Router::new().route("/things", get(|| async { "thing" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let delay = Duration::from_millis(600);
    let server = tokio::spawn(serve(
        listener,
        wrap(routes, ops),
        drain_after(
            async {
                let _ = signalled.await;
            },
            delay,
        ),
        Duration::from_secs(1),
    ));
    assert!(
        get_path(addr, "/readyz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    signal.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Within the delay: not ready, naming why, and still serving.
    let ready = get_path(addr, "/readyz").await.unwrap();
    assert!(
        ready.starts_with("HTTP/1.1 503") && ready.contains("draining"),
        "{ready}"
    );
    assert!(
        get_path(addr, "/things")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    // After it: the server has stopped.
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the server ends after the delay")
        .unwrap()
        .unwrap();
    assert!(
        get_path(addr, "/things").await.is_err(),
        "still accepting after the drain"
    );
}
