//! `/readyz` of the note service names the tenant keys when their directory cannot be read
//! (a Secret that is not mounted): every request would fail, so the pod must not get traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_field_encryption::{FileKeys, Keyring};
use lockstep_service_config::NoteConfig;
use note_service::auth::Verifier;
use note_service::store::SeaStore;
use tower::ServiceExt;

#[tokio::test]
async fn readiness_names_unreadable_tenant_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let path = dir.path().join("notes.db");
    let store = SeaStore::connect(
        None,
        path.to_str().unwrap(),
        Keyring::new(FileKeys::new(&keys)),
    )
    .await
    .unwrap();
    let config = NoteConfig::default();
    let verifier = Verifier::hs256(&config.auth, b"a-secret-that-is-long-enough-for-hs256");
    let app = note_service::app(store, verifier, &config, "hash", false).unwrap();
    let readyz = || async {
        let response = app
            .clone()
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("tenant keys:") && body.contains("keys"),
        "{body}"
    );
    std::fs::create_dir(&keys).unwrap();
    assert_eq!(readyz().await.0, StatusCode::OK);
}
