//! Safe retries and safe concurrent edits of notes, on SQLite and on the MySQL-protocol server
//! of `DRIVER_TESTS_MARIADB_URL`: `Idempotency-Key` per tenant and user (the stored answer
//! sealed like the note), `ETag`/`If-Match`/`If-None-Match`, one timestamp shape. Rows are
//! counted in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{Api, empty_api, token, token_of};
use sea_orm::ConnectionTrait;

const NOTE: &str = r#"{"title":"groceries","body":"oat milk, the good bread"}"#;

/// Mutation check: without `Idempotency-Key` support the retry creates a second note.
async fn retries_with_a_key_create_once(api: &Api) {
    let alice = token("acme");
    let key = [("idempotency-key", "3f1d2c7e-retry")];
    let first = api.raw("POST", "/v1/notes", &alice, &key, NOTE).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = api.raw("POST", "/v1/notes", &alice, &key, NOTE).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        String::from_utf8_lossy(&again.bytes),
        String::from_utf8_lossy(&first.bytes)
    );
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(api.rows("notes").await, 1);

    let other = api
        .raw(
            "POST",
            "/v1/notes",
            &alice,
            &key,
            &NOTE.replace("oat", "soy"),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.json()["code"], "idempotency_key_reused");
    assert_eq!(api.rows("notes").await, 1);

    // Keys are per tenant and user: another user's identical key is another key, and never
    // finds alice's answer.
    for token in [token_of("acme", "u2"), token("ACME"), token("globex")] {
        let theirs = api.raw("POST", "/v1/notes", &token, &key, NOTE).await;
        assert_eq!(theirs.status, StatusCode::CREATED);
        assert_eq!(theirs.header("idempotent-replayed"), None);
        assert_ne!(theirs.header("location"), first.header("location"));
    }
    assert_eq!(api.rows("notes").await, 4);

    // The stored answer holds alice's plaintext: it is sealed, and the fingerprint is keyed.
    let conn = api.store.connection();
    let stored = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT body, fingerprint FROM idempotency_keys",
        ))
        .await
        .unwrap();
    assert_eq!(stored.len(), 4);
    let mut fingerprints = std::collections::BTreeSet::new();
    for row in stored {
        let body: Vec<u8> = row.try_get_by(0).unwrap();
        assert!(lockstep_field_encryption::envelope::may_be_envelope(&body));
        assert!(
            !body.windows(8).any(|w| w == b"oat milk"),
            "no plaintext at rest"
        );
        let fingerprint: String = row.try_get_by(1).unwrap();
        assert_eq!(
            fingerprint.len(),
            32,
            "a keyed 128-bit index, not a bare SHA-256"
        );
        fingerprints.insert(fingerprint);
    }
    assert_eq!(
        fingerprints.len(),
        3,
        "one per tenant key: the same body hashes apart"
    );
}

/// Mutation check: without `If-Match` the stale PATCH overwrites the newer title.
async fn stale_edits_are_refused(api: &Api) {
    let alice = token("acme");
    let created = api.raw("POST", "/v1/notes", &alice, &[], NOTE).await;
    let uri = created.header("location").unwrap().to_owned();
    let v1 = created.header("etag").unwrap().to_owned();
    assert_eq!(
        api.raw("GET", &uri, &alice, &[], "").await.header("etag"),
        Some(v1.as_str())
    );
    let cached = api
        .raw("GET", &uri, &alice, &[("if-none-match", &v1)], "")
        .await;
    assert_eq!(
        (cached.status, cached.bytes.len()),
        (StatusCode::NOT_MODIFIED, 0)
    );

    let patched = api
        .raw(
            "PATCH",
            &uri,
            &alice,
            &[("if-match", &v1)],
            r#"{"title":"two"}"#,
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let v2 = patched.header("etag").unwrap().to_owned();
    assert_ne!(v1, v2);
    let stale = api
        .raw(
            "PATCH",
            &uri,
            &alice,
            &[("if-match", &v1)],
            r#"{"title":"three"}"#,
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.json()["code"], "precondition_failed");
    assert_eq!(
        api.raw("GET", &uri, &alice, &[], "").await.json()["title"],
        "two"
    );

    // Another user's note is missing, whatever the precondition.
    let bob = token_of("acme", "u2");
    let theirs = api
        .raw("DELETE", &uri, &bob, &[("if-match", &v2)], "")
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let refused = api
        .raw("DELETE", &uri, &alice, &[("if-match", &v1)], "")
        .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        api.raw("GET", &uri, &alice, &[], "").await.status,
        StatusCode::OK
    );
    let done = api
        .raw("DELETE", &uri, &alice, &[("if-match", &v2)], "")
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
}

/// Mutation check: notes answered `created_at` with 0–6 digits (chrono drops trailing zeros)
/// and albums' gRPC wrote `+00:00`: one shape everywhere now.
async fn one_timestamp_shape(api: &Api) {
    let alice = token("acme");
    let created = api.raw("POST", "/v1/notes", &alice, &[], NOTE).await.json();
    for field in ["created_at", "updated_at"] {
        let stamp = created[field].as_str().unwrap();
        assert_eq!(stamp.len(), 27, "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
            "{stamp}"
        );
    }
    let uri = format!("/v1/notes/{}", created["id"]);
    let read = api.raw("GET", &uri, &alice, &[], "").await.json();
    assert_eq!(read["created_at"], created["created_at"]);
}

async fn scenarios(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let api = empty_api(url, &dir).await;
    retries_with_a_key_create_once(&api).await;
    stale_edits_are_refused(&api).await;
    one_timestamp_shape(&api).await;
}

#[tokio::test]
async fn sqlite() {
    scenarios(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("note_conc").await else {
        return;
    };
    scenarios(Some(&db.url)).await;
    db.drop_database().await;
}
