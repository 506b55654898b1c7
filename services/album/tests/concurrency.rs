//! Safe retries and safe concurrent edits, on SQLite and on the MySQL-protocol server of
//! `DRIVER_TESTS_MARIADB_URL`: `Idempotency-Key` on create, `ETag`/`If-Match`/`If-None-Match`
//! on one album, and one timestamp shape. Rows are counted in the database, never taken from
//! the answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use album_service::store::SeaStore;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_service_config::AlbumConfig;
use serde_json::Value;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        bytes,
    }
}

async fn rows(store: &SeaStore) -> i64 {
    lockstep_service_kit::testing::count_rows(&store.connection(), "albums").await
}

const BLUE: &str = r#"{"title":"Blue","artist":"Joni Mitchell","price":"19.99"}"#;

/// Mutation check: without `Idempotency-Key` support the retry creates a second album (2 rows).
async fn retries_with_a_key_create_once(app: &Router, store: &SeaStore) {
    let key = [("idempotency-key", "7c9e6679-7425-40de-944b-e07fc1f90ae7")];
    let first = call(app, "POST", "/v1/albums", &key, BLUE).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    // The same request with other whitespace and key order is the same request.
    let same = r#"{ "artist": "Joni Mitchell", "title": "Blue", "price": "19.99" }"#;
    let again = call(app, "POST", "/v1/albums", &key, same).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.text(),
        first.text(),
        "the first answer, byte for byte"
    );
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(rows(store).await, 1);

    let other = call(
        app,
        "POST",
        "/v1/albums",
        &key,
        &BLUE.replace("19.99", "9.99"),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.json()["code"], "idempotency_key_reused");
    assert_eq!(rows(store).await, 1, "a refused request writes nothing");

    // Keys are exact: a case variant is another key (MySQL collations fold case).
    let upper = [("idempotency-key", "7C9E6679-7425-40DE-944B-E07FC1F90AE7")];
    assert_eq!(
        call(app, "POST", "/v1/albums", &upper, BLUE).await.status,
        StatusCode::CREATED
    );
    assert_eq!(rows(store).await, 2);

    // A request that failed stored nothing: the same key then does the work.
    let key2 = [("idempotency-key", "retry-after-422")];
    let bad = call(
        app,
        "POST",
        "/v1/albums",
        &key2,
        &BLUE.replace("19.99", "-1"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        call(app, "POST", "/v1/albums", &key2, BLUE).await.status,
        StatusCode::CREATED
    );
    assert_eq!(rows(store).await, 3);

    for bad_key in ["a b", &"k".repeat(256)] {
        let refused = call(
            app,
            "POST",
            "/v1/albums",
            &[("idempotency-key", bad_key)],
            BLUE,
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.json()["code"], "bad_idempotency_key");
    }
    assert_eq!(rows(store).await, 3);
}

/// Mutation check: with the key recorded outside the create's transaction (or not at all),
/// concurrent twins create several albums.
async fn concurrent_twins_create_once(app: &Router, store: &SeaStore) {
    let before = rows(store).await;
    let key = [("idempotency-key", "twins")];
    let twins = (0..12).map(|_| call(app, "POST", "/v1/albums", &key, BLUE));
    let answers = futures::future::join_all(twins).await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
            a.json()["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every twin answers the one album");
    assert_eq!(rows(store).await, before + 1);
}

/// Mutation check: without `If-Match` the stale PATCH overwrites the newer price (200).
async fn stale_edits_are_refused(app: &Router) {
    let created = call(app, "POST", "/v1/albums", &[], BLUE).await;
    let uri = created.header("location").unwrap().to_owned();
    let v1 = created.header("etag").unwrap().to_owned();
    let got = call(app, "GET", &uri, &[], "").await;
    assert_eq!(
        got.header("etag"),
        Some(v1.as_str()),
        "GET tags what POST tagged"
    );
    let unchanged = call(app, "GET", &uri, &[("if-none-match", &v1)], "").await;
    assert_eq!(
        (unchanged.status, unchanged.bytes.len()),
        (StatusCode::NOT_MODIFIED, 0)
    );

    let patched = call(
        app,
        "PATCH",
        &uri,
        &[("if-match", &v1)],
        r#"{"price":"9.99"}"#,
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    let v2 = patched.header("etag").unwrap().to_owned();
    assert_ne!(v2, v1);
    let stale = call(
        app,
        "PATCH",
        &uri,
        &[("if-match", &v1)],
        r#"{"price":"1.00"}"#,
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.json()["code"], "precondition_failed");
    assert_eq!(
        call(app, "GET", &uri, &[], "").await.json()["price"],
        "9.99",
        "nothing changed"
    );
    let weak_tag = format!("W/{v2}");
    let weak = call(
        app,
        "PATCH",
        &uri,
        &[("if-match", &weak_tag)],
        r#"{"price":"1.00"}"#,
    )
    .await;
    assert_eq!(
        weak.status,
        StatusCode::PRECONDITION_FAILED,
        "If-Match compares strongly"
    );

    let refused = call(app, "DELETE", &uri, &[("if-match", &v1)], "").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        call(app, "GET", &uri, &[], "").await.status,
        StatusCode::OK,
        "still there"
    );
    let malformed = call(app, "DELETE", &uri, &[("if-match", "v2")], "").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json()["code"], "bad_precondition");
    assert_eq!(
        call(app, "DELETE", &uri, &[("if-match", &v2)], "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // Gone is 404 whatever the precondition says (RFC 9110 §13.2.1).
    let gone = call(
        app,
        "PATCH",
        &uri,
        &[("if-match", "*")],
        r#"{"price":"1.00"}"#,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

/// Mutation check: on MariaDB `created_at` was a TIMESTAMP (whole seconds), so the create's
/// answer and a later read disagreed; HTTP wrote `Z` with 0–9 digits.
async fn one_timestamp_shape(app: &Router) {
    let created = call(app, "POST", "/v1/albums", &[], BLUE).await;
    let stamp = created.json()["created_at"].as_str().unwrap().to_owned();
    let shape = regex_lite(&stamp);
    assert!(shape, "{stamp}: RFC 3339, UTC as Z, six digits");
    let read = call(app, "GET", created.header("location").unwrap(), &[], "").await;
    assert_eq!(
        read.json()["created_at"],
        stamp.as_str(),
        "read back as answered"
    );
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn regex_lite(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

async fn scenarios(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    let store = SeaStore::connect(url, path.to_str().unwrap(), 4)
        .await
        .unwrap();
    let app = album_service::app(store.clone(), &AlbumConfig::default(), "c0ffee").unwrap();
    retries_with_a_key_create_once(&app, &store).await;
    concurrent_twins_create_once(&app, &store).await;
    stale_edits_are_refused(&app).await;
    one_timestamp_shape(&app).await;
}

#[tokio::test]
async fn sqlite() {
    scenarios(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("album_conc").await else {
        return;
    };
    scenarios(Some(&db.url)).await;
    db.drop_database().await;
}
