//! `server.rate_limit.per_tenant`: a tenant over its rate is answered 429 `rate_limited` with
//! `Retry-After` before anything is read or written; other tenants and unauthenticated requests
//! do not touch its budget. (Per-client limits are tested on a real socket in the kit.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{api_with, config, token};
use lockstep_service_config::Quota;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn a_tenant_over_its_rate_is_429_and_others_are_not() {
    let mut limited = config();
    limited.server.rate_limit.per_tenant = Some(Quota {
        per_second: 1,
        burst: 2,
    });
    let dir = tempfile::tempdir().unwrap();
    let api = api_with(None, &dir, &limited).await;
    let body = json!({"title": "t"}).to_string();
    // Bad tokens are refused before the limit: they do not spend acme's budget.
    for _ in 0..5 {
        let (status, _) = api
            .call("GET", "/v1/notes", Some("not-a-token"), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        let (status, _) = api
            .call("POST", "/v1/notes", Some(&token("acme")), Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let request = Request::builder()
        .method("POST")
        .uri("/v1/notes")
        .header("authorization", format!("Bearer {}", token("acme")))
        .header("content-type", "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    // Nothing was written by the refused request.
    let (_, page) = api
        .call("GET", "/v1/notes", Some(&token("globex")), None)
        .await;
    assert_eq!(page["items"], json!([]), "globex has its own budget");
    let (status, v) = api
        .call("GET", "/v1/notes", Some(&token("acme")), None)
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    // The case-variant tenant `ACME` is another tenant with another budget.
    let (status, _) = api
        .call("GET", "/v1/notes", Some(&token("ACME")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    let (status, page) = api
        .call("GET", "/v1/notes", Some(&token("acme")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "the third POST wrote nothing"
    );
}
