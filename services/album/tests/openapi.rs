//! `/openapi.json` against the router: every documented operation answers as documented (a
//! status the document lists, a body of the documented shape), and the document lists exactly
//! the album API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use album_service::store::SeaStore;
use axum::body::Body;
use axum::http::{Method, Request};
use lockstep_service_config::AlbumConfig;
use lockstep_service_kit::testing::openapi::check_document;

#[tokio::test]
async fn the_document_matches_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    let store = SeaStore::connect(None, path.to_str().unwrap(), 1)
        .await
        .unwrap();
    let app = album_service::app(store, &AlbumConfig::default(), "hash").unwrap();
    let checked = check_document(&app, |method, path| {
        let body = match *method {
            Method::POST => r#"{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}"#,
            Method::PATCH => r#"{"price":"9.99"}"#,
            _ => "",
        };
        Request::builder()
            .method(method.clone())
            .uri(path.replace("{id}", "1"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    })
    .await;
    assert_eq!(
        checked,
        [
            "DELETE /v1/albums/{id}",
            "GET /v1/albums",
            "GET /v1/albums/{id}",
            "PATCH /v1/albums/{id}",
            "POST /v1/albums",
        ]
    );
}
