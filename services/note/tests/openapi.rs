//! `/openapi.json` against the router: every documented operation answers as documented (a
//! status the document lists, a body of the documented shape), and the document lists exactly
//! the note API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::{api, token};
use lockstep_service_kit::testing::openapi::check_document;

#[tokio::test]
async fn the_document_matches_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(None, &dir).await;
    let acme = token("acme");
    // A note to read, change and delete, so those operations answer 200/204, not only 404.
    let (status, _) = api
        .call(
            "POST",
            "/v1/notes",
            Some(&acme),
            Some(r#"{"title":"kept"}"#),
        )
        .await;
    assert_eq!(status, 201);
    let checked = check_document(&api.app, |method, path| {
        let uri = path.replace("{id}", "1");
        let body = match *method {
            Method::POST => r#"{"title":"t","body":"b","tags":["x"]}"#,
            Method::PATCH => r#"{"title":"changed"}"#,
            _ => "",
        };
        Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("authorization", format!("Bearer {acme}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    })
    .await;
    assert_eq!(
        checked,
        [
            "DELETE /v1/notes/{id}",
            "GET /v1/notes",
            "GET /v1/notes/{id}",
            "PATCH /v1/notes/{id}",
            "POST /v1/notes",
        ]
    );
}
