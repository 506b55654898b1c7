//! The note API harness shared by the HTTP test files: the app over a real store (SQLite or the
//! server of `DRIVER_TESTS_MARIADB_URL`), called through tower's `oneshot`.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_field_encryption::{KeyMaterial, Keyring, StaticKeys};
use lockstep_service_config::NoteConfig;
use note_service::auth::{Verifier, mint_hs256};
use note_service::store::SeaStore;
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-that-is-long-enough-for-hs256";

pub fn config() -> NoteConfig {
    let mut c = NoteConfig::default();
    c.server.max_body_bytes = 128 * 1024;
    c
}

pub fn token(tenant: &str) -> String {
    token_of(tenant, "u1")
}

/// A token of user `sub` in `tenant`.
pub fn token_of(tenant: &str, sub: &str) -> String {
    mint_hs256(&config().auth, SECRET, sub, tenant, 600).unwrap()
}

pub fn keyring() -> Keyring {
    Keyring::new(
        StaticKeys::new()
            .with_tenant(
                "acme",
                1,
                vec![(1, KeyMaterial::new([1; 32]))],
                Some(KeyMaterial::new([11; 32])),
            )
            .with_tenant(
                "globex",
                1,
                vec![(1, KeyMaterial::new([2; 32]))],
                Some(KeyMaterial::new([12; 32])),
            )
            // A distinct tenant whose id differs from acme's by case only.
            .with_tenant(
                "ACME",
                1,
                vec![(1, KeyMaterial::new([3; 32]))],
                Some(KeyMaterial::new([13; 32])),
            ),
    )
}

pub struct Api {
    pub app: Router,
    pub store: SeaStore,
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// An answer with its headers and raw bytes.
pub struct Raw {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Api {
    /// [`Api::call`] with extra request headers, answering headers and bytes too.
    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Raw {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body.to_owned())).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Raw {
            status,
            headers,
            bytes,
        }
    }

    /// Rows of `table`, counted in the database.
    pub async fn rows(&self, table: &str) -> i64 {
        lockstep_service_kit::testing::count_rows(&self.store.connection(), table).await
    }
}

pub async fn api(url: Option<&str>, dir: &tempfile::TempDir) -> Api {
    api_with(url, dir, &config()).await
}

/// [`api`] with another config (same auth section).
pub async fn api_with(url: Option<&str>, dir: &tempfile::TempDir, config: &NoteConfig) -> Api {
    let path = dir.path().join("notes.db");
    let store = SeaStore::connect(url, path.to_str().unwrap(), keyring())
        .await
        .unwrap();
    let verifier = Verifier::hs256(&config.auth, SECRET);
    let app = note_service::app(store.clone(), verifier, config, "hash", true).unwrap();
    Api { app, store }
}

/// [`api`] with no notes: a server database is shared by a test file's scenarios.
pub async fn empty_api(url: Option<&str>, dir: &tempfile::TempDir) -> Api {
    let api = api(url, dir).await;
    if url.is_some() {
        use sea_orm::ConnectionTrait;
        api.store
            .connection()
            .execute_unprepared("DELETE FROM notes")
            .await
            .unwrap();
    }
    api
}
