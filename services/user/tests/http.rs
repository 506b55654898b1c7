//! The user API through `app()`, on SQLite and on the MySQL-protocol server of
//! `DRIVER_TESTS_MARIADB_URL`: registration (duplicates, case-folded names, tenants apart),
//! login (one answer and the same work for an unknown user and a wrong password), the login
//! rate, and tokens the note service accepts end to end. Plus the OpenAPI document against the
//! router.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_field_encryption::{KeyMaterial, Keyring, StaticKeys};
use lockstep_service_config::{AuthConfig, NoteConfig, Quota, UserConfig};
use serde_json::{Value, json};
use tower::ServiceExt;
use user_service::store::SeaStore;
use user_service::tokens::Issuer;

fn fixture(name: &str) -> String {
    format!(
        "{}/../note/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn config() -> UserConfig {
    let mut c = UserConfig::default();
    c.tokens.private_key_file = fixture("rs256-test-private.pem");
    c.tokens.login_attempts = Quota {
        per_second: 1,
        burst: 3,
    };
    c
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Value,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn creds(tenant: &str, username: &str, password: &str) -> Value {
    json!({"tenant": tenant, "username": username, "password": password})
}

/// The note service's token check as deployed next to this one: RS256 with the public key.
fn note_auth(public_key: String) -> AuthConfig {
    AuthConfig {
        hs256_secret_env: None,
        rs256_public_key_file: Some(public_key),
        ..AuthConfig::default()
    }
}

/// `POST /v1/tokens`.
async fn login(app: &Router, tenant: &str, username: &str, password: &str) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        "/v1/tokens",
        creds(tenant, username, password),
        None,
    )
    .await
}

/// The note service as deployed next to this one: RS256 verification with the public key.
async fn note_app(dir: &tempfile::TempDir) -> Router {
    let auth = note_auth(fixture("rs256-test-public.pem"));
    let verifier = note_service::auth::Verifier::from_config(&auth).unwrap();
    let keys = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        1,
        vec![(1, KeyMaterial::new([1; 32]))],
        Some(KeyMaterial::new([2; 32])),
    ));
    let path = dir.path().join("notes.db");
    let store = note_service::store::SeaStore::connect(None, path.to_str().unwrap(), keys)
        .await
        .unwrap();
    let note = NoteConfig {
        auth,
        ..NoteConfig::default()
    };
    note_service::app(store, verifier, &note, "hash", false).unwrap()
}

async fn scenario(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.db");
    let store = SeaStore::connect(url, path.to_str().unwrap())
        .await
        .unwrap();
    let config = config();
    let issuer = Issuer::from_config(&config.tokens).unwrap();
    let app = user_service::app(store, issuer, &config, "hash").unwrap();
    let password = "correct horse battery";

    let (status, alice) = call(
        &app,
        "POST",
        "/v1/users",
        creds("acme", "Alice", password),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    assert_eq!(alice["username"], "alice");
    for (body, status, code) in [
        (
            creds("acme", "ALICE", password),
            StatusCode::CONFLICT,
            "user_exists",
        ),
        (
            creds("acme", "bob", "short"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            creds("../x", "bob", password),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            creds("acme", "b", password),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ] {
        let (got, v) = call(&app, "POST", "/v1/users", body.clone(), None).await;
        assert_eq!((got, v["code"].as_str()), (status, Some(code)), "{body}");
    }
    // Registration closed for tenants not listed; logins unaffected.
    let mut closed = config.clone();
    closed.registration.tenants = Some(vec!["acme".into()]);
    let closed_app = user_service::app(
        SeaStore::connect(url, path.to_str().unwrap())
            .await
            .unwrap(),
        Issuer::from_config(&closed.tokens).unwrap(),
        &closed,
        "hash",
    )
    .unwrap();
    let (status, v) = call(
        &closed_app,
        "POST",
        "/v1/users",
        creds("globex", "carol", password),
        None,
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("registration_closed"))
    );
    let (status, _) = call(
        &closed_app,
        "POST",
        "/v1/users",
        creds("acme", "carol", password),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // A tenant differing by case only is another tenant, with its own alice.
    let (status, _) = call(
        &app,
        "POST",
        "/v1/users",
        creds("ACME", "alice", password),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Log in; the note service accepts the token and files the note under the user's tenant.
    let (status, token) = login(&app, "acme", "alice", password).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let auth = note_auth(fixture("rs256-test-public.pem"));
    let claims = note_service::auth::Verifier::from_config(&auth)
        .unwrap()
        .verify(&token)
        .unwrap();
    assert_eq!(
        (claims.tenant.as_str(), claims.sub),
        ("acme", alice["id"].to_string())
    );
    let notes = note_app(&dir).await;
    let (status, note) = call(
        &notes,
        "POST",
        "/v1/notes",
        json!({"title": "from a login"}),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");

    // Wrong password and unknown user: one answer, and both ran argon2.
    let started = Instant::now();
    let (status, wrong) = login(&app, "acme", "alice", "wrong password!").await;
    let wrong_took = started.elapsed();
    assert_eq!(
        (status, wrong["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let started = Instant::now();
    let (status, unknown) = login(&app, "acme", "nobody", "wrong password!").await;
    let unknown_took = started.elapsed();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown["message"], wrong["message"]);
    assert!(
        unknown_took * 3 > wrong_took && wrong_took * 3 > unknown_took,
        "unknown user {unknown_took:?} vs wrong password {wrong_took:?}: the times tell them apart"
    );

    // Login attempts: a burst of 3 per user name (one wrong above, two more), then 429 even
    // with the right password; another user is not affected.
    for _ in 0..2 {
        login(&app, "acme", "alice", "wrong password!").await;
    }
    let request = Request::post("/v1/tokens")
        .header("content-type", "application/json")
        .body(Body::from(creds("acme", "alice", password).to_string()))
        .unwrap();
    let limited = app.clone().oneshot(request).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    let (status, _) = login(&app, "ACME", "alice", password).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (status, _) = login(&app, "acme", "alice", password).await;
    assert_eq!(status, StatusCode::OK, "a token is back after a second");
}

#[tokio::test]
async fn sqlite() {
    scenario(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("user_http").await else {
        return;
    };
    scenario(Some(&db.url)).await;
    db.drop_database().await;
}

#[tokio::test]
async fn the_document_matches_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.db");
    let store = SeaStore::connect(None, path.to_str().unwrap())
        .await
        .unwrap();
    let config = config();
    let app = user_service::app(
        store,
        Issuer::from_config(&config.tokens).unwrap(),
        &config,
        "h",
    )
    .unwrap();
    let checked = lockstep_service_kit::testing::openapi::check_document(&app, |method, path| {
        assert_eq!(*method, Method::POST);
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(
                creds("acme", "dora", "a long enough password").to_string(),
            ))
            .unwrap()
    })
    .await;
    assert_eq!(checked, ["POST /v1/tokens", "POST /v1/users"]);
}

/// The compose stack's key pair belongs together: a token the user service signs with
/// `compose/stack/jwt/private.pem` passes the note service's check with `public.pem`.
#[test]
fn the_compose_key_pair_matches() {
    let compose = format!("{}/../../compose/stack/jwt", env!("CARGO_MANIFEST_DIR"));
    let mut tokens = UserConfig::default().tokens;
    tokens.private_key_file = format!("{compose}/private.pem");
    let user = alice();
    let (token, _) = Issuer::from_config(&tokens).unwrap().issue(&user).unwrap();
    let auth = note_auth(format!("{compose}/public.pem"));
    let claims = note_service::auth::Verifier::from_config(&auth)
        .unwrap()
        .verify(&token)
        .unwrap();
    assert_eq!((claims.sub.as_str(), claims.tenant.as_str()), ("7", "acme"));
}

/// Rotating the signing key without downtime: the note service reads public keys by `kid` from
/// a directory; tokens of the old and the new key verify side by side while both are there, and
/// the old key's stop verifying once it is removed. A `kid` naming no key, or the wrong key's
/// signature, is refused.
#[test]
fn a_signing_key_rotates_with_tokens_of_both_keys_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let compose = format!("{}/../../compose/stack/jwt", env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        fixture("rs256-test-public.pem"),
        dir.path().join("2026-11.pem"),
    )
    .unwrap();
    std::fs::copy(
        format!("{compose}/public.pem"),
        dir.path().join("2026-12.pem"),
    )
    .unwrap();
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    let auth = AuthConfig {
        hs256_secret_env: None,
        rs256_public_keys_dir: Some(dir.path().to_str().unwrap().into()),
        ..AuthConfig::default()
    };
    let issuer = |file: String, kid: Option<&str>| {
        let mut tokens = UserConfig::default().tokens;
        tokens.private_key_file = file;
        tokens.key_id = kid.map(str::to_owned);
        Issuer::from_config(&tokens).unwrap()
    };
    let old = issuer(fixture("rs256-test-private.pem"), Some("2026-11"));
    let new = issuer(format!("{compose}/private.pem"), Some("2026-12"));
    assert_eq!(
        issuer(format!("{compose}/private.pem"), None).key_id(),
        "private"
    );
    let user = alice();
    let (old_token, _) = old.issue(&user).unwrap();
    let (new_token, _) = new.issue(&user).unwrap();
    let both = note_service::auth::Verifier::from_config(&auth).unwrap();
    assert_eq!(both.verify(&old_token).unwrap().sub, "7");
    assert_eq!(both.verify(&new_token).unwrap().sub, "7");
    // The old key's private half under the new key's id: the signature does not verify.
    let (forged, _) = issuer(fixture("rs256-test-private.pem"), Some("2026-12"))
        .issue(&user)
        .unwrap();
    assert!(
        both.verify(&forged)
            .unwrap_err()
            .message
            .contains("signature")
    );
    let (stranger, _) = issuer(fixture("rs256-test-private.pem"), Some("2025-01"))
        .issue(&user)
        .unwrap();
    assert!(
        both.verify(&stranger)
            .unwrap_err()
            .message
            .contains("key id (kid)")
    );
    // The old key removed (after its tokens expired): only the new key's tokens verify.
    std::fs::remove_file(dir.path().join("2026-11.pem")).unwrap();
    let rotated = note_service::auth::Verifier::from_config(&auth).unwrap();
    assert!(rotated.verify(&old_token).is_err());
    assert_eq!(rotated.verify(&new_token).unwrap().sub, "7");
}

/// User 7, alice of acme, as the token tests sign for.
fn alice() -> user_service::domain::User {
    user_service::domain::User {
        id: 7,
        tenant: "acme".into(),
        username: "alice".into(),
        password_hash: String::new(),
        created_at: chrono::Utc::now(),
    }
}
