//! The gRPC album API through a real client over TCP, on SQLite and on the MySQL-protocol
//! server of `DRIVER_TESTS_MARIADB_URL`: CRUD and paging, the HTTP API's validation and error
//! mapping as status codes, the same store as HTTP, health (and `NOT_SERVING` when draining)
//! and reflection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use album_service::grpc::pb;
use album_service::grpc::pb::album_service_client::AlbumServiceClient;
use album_service::store::SeaStore;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use lockstep_service_config::AlbumConfig;
use std::time::Duration;

use tonic::Code;
use tower::ServiceExt;

/// The status code of a call that must fail.
fn code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    result.unwrap_err().code()
}

async fn scenario(store: SeaStore) {
    let config = AlbumConfig::default();
    let (routes, health) = album_service::grpc::routes(store.clone(), config.pagination.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(album_service::grpc::serve(
        listener,
        routes,
        health.clone(),
        async {
            let _ = stopped.await;
        },
        Duration::ZERO,
    ));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut albums = AlbumServiceClient::new(channel.clone());

    let create = |title: &str, price: &str| pb::CreateAlbumRequest {
        title: title.into(),
        artist: "Joni Mitchell".into(),
        price: price.into(),
    };
    let blue = albums
        .create_album(create(" Blue ", "19.99"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (blue.title.as_str(), blue.price.as_str()),
        ("Blue", "19.99")
    );
    // One timestamp shape on both protocols (gRPC wrote `+00:00` where HTTP wrote `Z`), and
    // what the create answered is what a read returns.
    let stamp = &blue.created_at;
    assert!(stamp.len() == 27 && stamp.ends_with('Z'), "{stamp}");
    let read = albums
        .get_album(pb::GetAlbumRequest { id: blue.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&read.created_at, stamp);
    for (request, field) in [
        (create("", "1"), "title:"),
        (create("t", "abc"), "price:"),
        (create("t", "1.999"), "price:"),
        (create("t", "-1"), "price:"),
    ] {
        let status = albums.create_album(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(field), "{status:?}");
    }

    // The same store as HTTP: what gRPC wrote, HTTP reads.
    let app = album_service::app(store, &config, "hash").unwrap();
    let response = app
        .oneshot(
            Request::get(format!("/v1/albums/{}", blue.id))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (json["title"].as_str(), json["price"].as_str()),
        (Some("Blue"), Some("19.99"))
    );

    let got = albums
        .get_album(pb::GetAlbumRequest { id: blue.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, blue);
    assert_eq!(
        code(albums.get_album(pb::GetAlbumRequest { id: 424_242 }).await),
        Code::NotFound
    );
    assert_eq!(
        code(albums.get_album(pb::GetAlbumRequest { id: 0 }).await),
        Code::InvalidArgument
    );

    // Paging by id: two pages for three albums, the cursor ends.
    albums
        .create_album(create("Court and Spark", "9.99"))
        .await
        .unwrap();
    albums
        .create_album(create("Hejira", "12.50"))
        .await
        .unwrap();
    let list = |after: Option<i64>, limit: Option<u32>| pb::ListAlbumsRequest {
        artist: Some("Joni Mitchell".into()),
        after,
        limit,
    };
    let first = albums
        .list_albums(list(None, Some(2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items.len(), 2);
    let rest = albums
        .list_albums(list(first.next, Some(2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rest.items.len(), rest.next), (1, None));
    for limit in [0, 1000] {
        let status = albums
            .list_albums(list(None, Some(limit)))
            .await
            .unwrap_err();
        assert!(status.message().starts_with("limit:"), "{status:?}");
    }

    let changed = albums
        .update_album(pb::UpdateAlbumRequest {
            id: blue.id,
            price: Some("9.99".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (changed.title.as_str(), changed.price.as_str()),
        ("Blue", "9.99")
    );
    albums
        .delete_album(pb::DeleteAlbumRequest { id: blue.id })
        .await
        .unwrap();
    assert_eq!(
        code(albums.get_album(pb::GetAlbumRequest { id: blue.id }).await),
        Code::NotFound
    );
    assert_eq!(
        code(
            albums
                .delete_album(pb::DeleteAlbumRequest { id: blue.id })
                .await
        ),
        Code::NotFound
    );

    // Health: serving, then NOT_SERVING once draining.
    let mut checks = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let check = |service: &str| tonic_health::pb::HealthCheckRequest {
        service: service.into(),
    };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let reply = checks
        .check(check("album.v1.AlbumService"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, serving);
    health.draining().await;
    let reply = checks
        .check(check("album.v1.AlbumService"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(reply.status, serving);

    // Reflection names the services (what grpcurl lists).
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let listed = format!("{:?}", answer.message_response);
    for service in ["album.v1.AlbumService", "grpc.health.v1.Health"] {
        assert!(listed.contains(service), "{listed}");
    }

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    scenario(
        SeaStore::connect(None, path.to_str().unwrap(), 2)
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("album_grpc").await else {
        return;
    };
    scenario(SeaStore::connect(Some(&db.url), "", 4).await.unwrap()).await;
    db.drop_database().await;
}
