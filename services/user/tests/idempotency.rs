//! `Idempotency-Key` on registration, on SQLite and on the MySQL-protocol server of
//! `DRIVER_TESTS_MARIADB_URL`: a retry answers the first registration and registers nothing; a
//! key reused for another name or password is refused; the password is never in the key's
//! record. Users are counted in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_service_config::UserConfig;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tower::ServiceExt;
use user_service::store::SeaStore;
use user_service::tokens::Issuer;

async fn register(
    app: &Router,
    key: &str,
    username: &str,
    password: &str,
) -> (StatusCode, HeaderMap, String) {
    let body = json!({"tenant": "acme", "username": username, "password": password});
    let request = Request::builder()
        .method("POST")
        .uri("/v1/users")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn count(store: &SeaStore, sql: &str) -> i64 {
    let conn = store.connection();
    let statement = sea_orm::Statement::from_string(conn.get_database_backend(), sql.to_owned());
    conn.query_one_raw(statement)
        .await
        .unwrap()
        .unwrap()
        .try_get_by(0)
        .unwrap()
}

/// Mutation check: without `Idempotency-Key` the retry of a registration whose answer was lost
/// answers 409 `user_exists`, and the client cannot tell it registered.
async fn scenario(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SeaStore::connect(url, dir.path().join("users.db").to_str().unwrap())
        .await
        .unwrap();
    let mut config = UserConfig::default();
    config.tokens.private_key_file = format!(
        "{}/../note/tests/fixtures/rs256-test-private.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let issuer = Issuer::from_config(&config.tokens).unwrap();
    let app = user_service::app(store.clone(), issuer, &config, "hash").unwrap();
    let password = "correct horse battery";

    let (status, headers, first) = register(&app, "k-1", "Alice", password).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(headers.get("idempotent-replayed"), None);
    let (status, headers, again) = register(&app, "k-1", "alice", password).await;
    assert_eq!(
        (status, &again),
        (StatusCode::CREATED, &first),
        "the same user, the same answer"
    );
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 1);

    let (status, _, body) = register(&app, "k-1", "alice", "another long password").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "idempotency_key_reused"
    );
    let (status, _, _) = register(&app, "k-1", "bob", password).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without the key the name is taken, as before.
    let (status, _, _) = register(&app, "k-2", "alice", password).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 1);

    // Nothing in the key's record is the password, its hash or the name.
    let conn = store.connection();
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT fingerprint, body FROM idempotency_keys".to_owned(),
        ))
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "only the committed registration keeps its answer"
    );
    let body: Vec<u8> = rows[0].try_get_by(1).unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("horse") && !text.contains("argon2"),
        "{text}"
    );

    // Concurrent twins register once and all answer it.
    let twins = (0..6).map(|_| register(&app, "k-3", "carol", password));
    let answers = futures::future::join_all(twins).await;
    for (status, _, body) in &answers {
        assert_eq!((*status, body), (StatusCode::CREATED, &answers[0].2));
    }
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, 2);
}

#[tokio::test]
async fn sqlite() {
    scenario(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("user_idem").await else {
        return;
    };
    scenario(Some(&db.url)).await;
    db.drop_database().await;
}
