//! The gRPC server drains like the HTTP one, on a real socket: at the signal health turns
//! `NOT_SERVING` while calls, on open and on new connections, are still served for the drain
//! delay; then new connections are refused. (It refused new connections 0.3 s after SIGTERM
//! while HTTP still served for its 5 s delay.) Reflection answers on v1 and v1alpha.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use album_service::grpc::pb;
use album_service::grpc::pb::album_service_client::AlbumServiceClient;
use album_service::store::SeaStore;
use lockstep_service_config::AlbumConfig;
use tonic_health::pb::health_check_response::ServingStatus;

async fn connect(
    addr: std::net::SocketAddr,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
}

fn list() -> pb::ListAlbumsRequest {
    pb::ListAlbumsRequest {
        artist: None,
        after: None,
        limit: Some(1),
    }
}

/// The gRPC server on a fresh SQLite store and a free port, draining for `delay` after
/// `shutdown`.
async fn serve(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    delay: Duration,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    let store = SeaStore::connect(None, path.to_str().unwrap(), 2)
        .await
        .unwrap();
    let (routes, health) = album_service::grpc::routes(store, AlbumConfig::default().pagination)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(album_service::grpc::serve(
        listener, routes, health, shutdown, delay,
    ));
    (addr, server, dir)
}

#[tokio::test]
async fn grpc_serves_through_the_drain_delay_then_stops_accepting() {
    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let delay = Duration::from_millis(800);
    let (addr, server, _dir) = serve(
        async {
            let _ = signalled.await;
        },
        delay,
    )
    .await;
    let open = connect(addr).await.unwrap();
    AlbumServiceClient::new(open.clone())
        .list_albums(list())
        .await
        .unwrap();

    signal.send(()).unwrap();
    let signalled_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let check = tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    let status = tonic_health::pb::health_client::HealthClient::new(open.clone())
        .check(check)
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        ServingStatus::NotServing as i32,
        "health while draining"
    );
    // Within the delay: served on the open connection and on a new one.
    AlbumServiceClient::new(open.clone())
        .list_albums(list())
        .await
        .unwrap();
    let fresh = connect(addr)
        .await
        .expect("a new connection within the drain delay");
    AlbumServiceClient::new(fresh)
        .list_albums(list())
        .await
        .unwrap();
    assert!(
        signalled_at.elapsed() < delay,
        "the checks took longer than the delay"
    );

    tokio::time::sleep(delay + Duration::from_millis(300) - signalled_at.elapsed()).await;
    assert!(
        connect(addr).await.is_err(),
        "a new connection after the drain delay"
    );
    drop(open);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server ended after draining")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn reflection_answers_on_v1alpha_too() {
    let (addr, _server, _dir) = serve(std::future::pending(), Duration::ZERO).await;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    let mut reflection = ServerReflectionClient::new(connect(addr).await.unwrap());
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let listed = format!(
        "{:?}",
        answers.message().await.unwrap().unwrap().message_response
    );
    for service in ["album.v1.AlbumService", "grpc.health.v1.Health"] {
        assert!(listed.contains(service), "{listed}");
    }
}
