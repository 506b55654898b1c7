//! The note API through `app()` (tower `oneshot`), on SQLite and on the MySQL-protocol server
//! of `DRIVER_TESTS_MARIADB_URL`: tokens, tenant isolation, encryption at rest, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Api, SECRET, config, empty_api, token};
use http_body_util::BodyExt;
use note_service::auth::{Verifier, mint_hs256};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tower::ServiceExt;

async fn tokens_are_required_and_checked(api: &Api) {
    let mut other_audience = config().auth;
    other_audience.audience = "someone-else".into();
    let wrong_aud = mint_hs256(&other_audience, SECRET, "u1", "acme", 600).unwrap();
    let wrong_key = mint_hs256(
        &config().auth,
        b"another-secret-another-secret-another",
        "u1",
        "acme",
        600,
    )
    .unwrap();
    let bad_tenant = mint_hs256(&config().auth, SECRET, "u1", "../etc", 600).unwrap();
    // `exp` = now is within the default 30 s leeway; one well in the past is not.
    let long_expired = {
        let mut c = config().auth;
        c.leeway_seconds = 0;
        let t = mint_hs256(&c, SECRET, "u1", "acme", 0).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        (t, c)
    };
    let strict = Verifier::hs256(&long_expired.1, SECRET);
    let err = strict.verify(&long_expired.0).unwrap_err();
    assert_eq!(err.code, "token_expired");
    for (token, code) in [
        (None, "missing_token"),
        (Some("not-a-jwt"), "invalid_token"),
        (Some(wrong_aud.as_str()), "invalid_token"),
        (Some(wrong_key.as_str()), "invalid_token"),
        (Some(bad_tenant.as_str()), "invalid_token"),
    ] {
        let (status, body) = api.call("GET", "/v1/notes/1", token, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some(code)),
            "{token:?}"
        );
        let (status, _) = api
            .call("POST", "/v1/notes", token, Some(r#"{"title":"x"}"#))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (_, body) = api
        .call("GET", "/v1/notes?title=x", Some(&token("acme")), None)
        .await;
    assert_eq!(
        body["items"],
        json!([]),
        "no request without a valid token wrote anything"
    );
}

async fn tenants_are_isolated_and_data_is_encrypted(api: &Api) {
    let (acme, globex) = (token("acme"), token("globex"));
    let body = json!({"title": "Groceries", "body": "milk, eggs, secret-sauce", "tags": ["home"]})
        .to_string();
    let (status, note) = api
        .call("POST", "/v1/notes", Some(&acme), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    let id = note["id"].as_i64().unwrap();
    let uri = format!("/v1/notes/{id}");

    let (status, got) = api.call("GET", &uri, Some(&acme), None).await;
    assert_eq!(
        (status, got["body"].as_str()),
        (StatusCode::OK, Some("milk, eggs, secret-sauce"))
    );
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"body":"mine now"}"#)),
        ("DELETE", None),
    ] {
        let (status, v) = api.call(method, &uri, Some(&globex), body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "globex {method}"
        );
    }
    let (_, found) = api
        .call("GET", "/v1/notes?title=Groceries", Some(&globex), None)
        .await;
    assert_eq!(found["items"], json!([]), "globex cannot find acme's title");
    let (_, found) = api
        .call("GET", "/v1/notes?title=Groceries", Some(&acme), None)
        .await;
    assert_eq!(found["items"][0]["id"], id);
    let (_, found) = api
        .call("GET", "/v1/notes?title=groceries", Some(&acme), None)
        .await;
    assert_eq!(found["items"], json!([]), "exact match only");
    let (_, after) = api.call("GET", &uri, Some(&acme), None).await;
    assert_eq!(
        after["body"], "milk, eggs, secret-sauce",
        "globex's PATCH changed nothing"
    );

    let sql = format!("SELECT title, body FROM notes WHERE id = {id}");
    let conn = api.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    for col in ["title", "body"] {
        let bytes: Vec<u8> = row.try_get("", col).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("Groceries") && !text.contains("secret-sauce"),
            "{col} stored in clear"
        );
    }

    let (status, changed) = api
        .call(
            "PATCH",
            &uri,
            Some(&acme),
            Some(r#"{"title":"Errands","tags":["a","b"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["title"].as_str(), changed["tags"].clone()),
        (Some("Errands"), json!(["a", "b"]))
    );
    let (_, found) = api
        .call("GET", "/v1/notes?title=Errands", Some(&acme), None)
        .await;
    assert_eq!(
        found["items"][0]["id"], id,
        "the blind index follows the new title"
    );
    let (status, _) = api.call("DELETE", &uri, Some(&acme), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", &uri, Some(&acme), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, plain) = api
        .call("POST", "/v1/control/notes", Some(&acme), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let control = format!("/v1/control/notes/{}", plain["id"]);
    assert_eq!(
        api.call("GET", &control, Some(&acme), None).await.1["body"],
        "milk, eggs, secret-sauce"
    );
    assert_eq!(
        api.call("GET", &control, Some(&globex), None).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn bad_input_is_4xx(api: &Api) {
    let acme = token("acme");
    let big = "b".repeat(64 * 1024 + 1);
    let tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for (body, status, code) in [
        (
            r#"{"title":"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            r#"{"body":"no title"}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"title":"t","owner":"globex"}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"title":"   "}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"title": "t", "body": big}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"title": "t", "tags": tags}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ] {
        let (got, v) = api
            .call("POST", "/v1/notes", Some(&acme), Some(&body))
            .await;
        assert_eq!(
            (got, v["code"].as_str()),
            (status, Some(code)),
            "{}",
            &body[..body.len().min(60)]
        );
    }
    for (uri, status, code) in [
        ("/v1/notes/x", StatusCode::BAD_REQUEST, "bad_id"),
        (
            "/v1/notes?title=t&limit=101",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/notes?cursor=abc",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/notes?created_from=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/notes?created_from=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        ("/v1/notes?sort=title", StatusCode::BAD_REQUEST, "bad_query"),
    ] {
        let (got, v) = api.call("GET", uri, Some(&acme), None).await;
        assert_eq!((got, v["code"].as_str()), (status, Some(code)), "{uri}");
    }
    let conn = api.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM notes",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        0,
        "nothing half-written"
    );
}

/// A token for a tenant this deployment has no keys for is the client's fault: 403, not a 503
/// that lands in the 5xx series canary analysis reads — and never a plaintext write.
async fn unknown_tenant_keys_are_403_not_plaintext(api: &Api) {
    let stranger = token("initech");
    let (status, v) = api
        .call(
            "POST",
            "/v1/notes",
            Some(&stranger),
            Some(r#"{"title":"t","body":"b"}"#),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("tenant_not_provisioned"))
    );
    let (status, _) = api
        .call("GET", "/v1/notes?title=t", Some(&stranger), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Every route answers the same for a tenant without keys (DELETE answered 404).
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"title":"x"}"#)),
        ("DELETE", None),
    ] {
        let (status, v) = api.call(method, "/v1/notes/1", Some(&stranger), body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("tenant_not_provisioned")),
            "{method}"
        );
    }
}

/// A body at the documented limit (64 KiB) is stored sealed and read back on every backend
/// (MySQL-family BLOB holds 65,535 bytes: the envelope's 34 bytes did not fit).
async fn a_body_at_the_limit_fits(api: &Api) {
    let acme = token("acme");
    let text = "b".repeat(note_service::domain::MAX_BODY);
    let body = json!({"title": "Long", "body": text}).to_string();
    let (status, note) = api
        .call("POST", "/v1/notes", Some(&acme), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    let uri = format!("/v1/notes/{}", note["id"].as_i64().unwrap());
    let (status, got) = api.call("GET", &uri, Some(&acme), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got["body"].as_str().map(str::len),
        Some(note_service::domain::MAX_BODY)
    );
}

/// Tenant ids are case-sensitive: `ACME` is not `acme`. On MySQL-family servers a
/// case-insensitive `tenant` column made `ACME`'s DELETE remove `acme`'s note.
async fn case_variant_tenants_are_isolated(api: &Api) {
    for (owner_id, other) in [("acme", "ACME"), ("ACME", "acme")] {
        let (owner, other) = (token(owner_id), token(other));
        let title = format!("Case of {owner_id}");
        let body = json!({"title": title, "body": "owned"}).to_string();
        let (status, note) = api
            .call("POST", "/v1/notes", Some(&owner), Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{note}");
        let uri = format!("/v1/notes/{}", note["id"].as_i64().unwrap());
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(r#"{"body":"taken"}"#)),
            ("DELETE", None),
        ] {
            let (status, v) = api.call(method, &uri, Some(&other), body).await;
            assert_eq!(
                (status, v["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{method} by the case-variant tenant"
            );
        }
        let search = format!("/v1/notes?title=Case%20of%20{owner_id}");
        let (_, found) = api.call("GET", &search, Some(&other), None).await;
        assert_eq!(found["items"], json!([]), "search across case variants");
        let (_, found) = api.call("GET", &search, Some(&owner), None).await;
        assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
        let (status, still) = api.call("GET", &uri, Some(&owner), None).await;
        assert_eq!(
            (status, still["body"].as_str()),
            (StatusCode::OK, Some("owned"))
        );
    }
}

/// `field_encryption_seals{key_id}` counts the title and body of every note created.
async fn seals_are_counted_per_key_id(api: &Api) {
    let acme = token("acme");
    for title in ["a", "b"] {
        let body = json!({"title": title, "body": "text"}).to_string();
        let (status, _) = api
            .call("POST", "/v1/notes", Some(&acme), Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = api.app.clone().oneshot(request).await.unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(
        text.contains("field_encryption_seals{key_id=\"1\"} 4"),
        "{text}"
    );
}

async fn all(url: Option<&str>) {
    for scenario in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        let api = empty_api(url, &dir).await;
        match scenario {
            0 => tokens_are_required_and_checked(&api).await,
            1 => tenants_are_isolated_and_data_is_encrypted(&api).await,
            2 => bad_input_is_4xx(&api).await,
            3 => case_variant_tenants_are_isolated(&api).await,
            4 => a_body_at_the_limit_fits(&api).await,
            5 => seals_are_counted_per_key_id(&api).await,
            _ => unknown_tenant_keys_are_403_not_plaintext(&api).await,
        }
    }
}

#[tokio::test]
async fn sqlite() {
    all(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("note_http").await else {
        return;
    };
    all(Some(&db.url)).await;
    db.drop_database().await;
}
