//! The album API through `app()` (tower `oneshot`), on SQLite and on the MySQL-protocol server
//! of `DRIVER_TESTS_MARIADB_URL` (see `lockstep_service_kit::testing`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use album_service::store::SeaStore;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lockstep_service_config::AlbumConfig;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(app: &Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn config() -> AlbumConfig {
    let mut config = AlbumConfig::default();
    config.server.max_body_bytes = 4096;
    config.pagination.max_limit = 50;
    config
}

async fn crud(app: &Router) {
    let (status, created) = call(
        app,
        "POST",
        "/v1/albums",
        Some(r#"{"title":" Blue ","artist":"Joni Mitchell","price":"19.99"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["title"], "Blue", "trimmed");
    assert_eq!(created["price"], "19.99");
    let id = created["id"].as_i64().unwrap();

    let (status, got) = call(app, "GET", &format!("/v1/albums/{id}"), None).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));

    let (status, changed) = call(
        app,
        "PATCH",
        &format!("/v1/albums/{id}"),
        Some(r#"{"price": 9.5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["price"].as_str(), changed["title"].as_str()),
        (Some("9.50"), Some("Blue"))
    );

    for (title, artist) in [
        ("Court and Spark", "Joni Mitchell"),
        ("Hejira", "Joni Mitchell"),
        ("Kind of Blue", "Miles Davis"),
    ] {
        let body = json!({"title": title, "artist": artist, "price": "99999999.99"}).to_string();
        let (status, v) = call(app, "POST", "/v1/albums", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(
            v["price"], "99999999.99",
            "the largest DECIMAL(10,2) is exact"
        );
    }
    let (status, page) = call(
        app,
        "GET",
        "/v1/albums?artist=Joni%20Mitchell&limit=2",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let titles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Blue", "Court and Spark"]);
    let next = page["next"].as_i64().expect("a next page");
    let (_, page2) = call(
        app,
        "GET",
        &format!("/v1/albums?artist=Joni%20Mitchell&limit=2&after={next}"),
        None,
    )
    .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2.get("next").is_none(), "last page: {page2}");

    // "Exact" means exact on every backend: no case or emoji folding.
    for artist in ["🎵", "joni mitchell"] {
        let body = json!({"title": "x", "artist": artist, "price": "1.00"}).to_string();
        assert_eq!(
            call(app, "POST", "/v1/albums", Some(&body)).await.0,
            StatusCode::CREATED
        );
    }
    for (query, want) in [
        ("Joni%20Mitchell", 3),
        ("joni%20mitchell", 1),
        ("JONI%20MITCHELL", 0),
        // The filter is trimmed like the stored text, on every backend.
        ("Joni%20Mitchell%20", 3),
        ("%F0%9F%8E%B8", 0),
        ("%F0%9F%8E%B5", 1),
    ] {
        let (status, page) = call(
            app,
            "GET",
            &format!("/v1/albums?artist={query}&limit=10"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            want,
            "artist={query}: {page}"
        );
    }

    let (status, _) = call(app, "DELETE", &format!("/v1/albums/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = call(app, "GET", &format!("/v1/albums/{id}"), None).await;
    assert_eq!(
        (status, gone["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = call(app, "DELETE", &format!("/v1/albums/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bad_input_is_4xx_and_writes_nothing(app: &Router) {
    let long = "x".repeat(201);
    let huge = "y".repeat(5000);
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "POST",
            r#"{"title":"#.into(),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b","price":"1","extra":1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b","price":"-0.01"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b","price":"1.001"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b","price":"100000000"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "POST",
            r#"{"title":"a","artist":"b","price":"abc"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "POST",
            format!(r#"{{"title":"{long}","artist":"b","price":"1"}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "POST",
            r#"{"title":"  ","artist":"b","price":"1"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "POST",
            format!(r#"{{"title":"{huge}","artist":"b","price":"1"}}"#),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (method, body, status, code) in cases {
        let (got, value) = call(app, method, "/v1/albums", Some(&body)).await;
        assert_eq!(
            (got, value["code"].as_str()),
            (status, Some(code)),
            "{} → {value}",
            &body[..body.len().min(80)]
        );
        assert!(
            value["request_id"].as_str().is_some_and(|r| r.len() == 32),
            "{value}"
        );
    }
    for (uri, status, code) in [
        ("/v1/albums/abc", StatusCode::BAD_REQUEST, "bad_id"),
        ("/v1/albums/-3", StatusCode::BAD_REQUEST, "bad_id"),
        ("/v1/albums/424242", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/albums?limit=51",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/albums?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        ("/v1/albums?limit=x", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/nothing", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (got, value) = call(app, "GET", uri, None).await;
        assert_eq!(
            (got, value["code"].as_str()),
            (status, Some(code)),
            "{uri} → {value}"
        );
    }
    let (status, value) = call(app, "PUT", "/v1/albums", None).await;
    assert_eq!(
        (status, value["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")),
        "a 405 is JSON too: {value}"
    );
    let (status, value) = call(app, "PATCH", "/v1/albums/424242", Some(r#"{"title":"t"}"#)).await;
    assert_eq!(
        (status, value["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, page) = call(app, "GET", "/v1/albums", None).await;
    assert_eq!(page["items"], json!([]), "no bad request wrote anything");
}

async fn ops(app: &Router, hash: &str) {
    assert_eq!(call(app, "GET", "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(call(app, "GET", "/readyz", None).await.0, StatusCode::OK);
    let (_, version) = call(app, "GET", "/version", None).await;
    assert_eq!(version["config_hash"], hash);
    call(app, "GET", "/v1/albums/777", None).await;
    let (_, metrics) = call(app, "GET", "/metrics", None).await;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/v1/albums/{id}",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(r#"build_info{{config_hash="{hash}""#)),
        "{text}"
    );
    assert!(text.contains("db_pool_connections"), "{text}");
    // The process's own figures, as every Prometheus client exports them.
    for process in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(process), "{process} missing");
    }
    // Invented methods from unauthenticated clients share one label: the series stay bounded.
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .count()
    };
    let before = series(text);
    for i in 0..40 {
        call(app, &format!("INVENTED{i}"), "/v1/albums", None).await;
        call(app, &format!("PROBE{i}"), &format!("/nowhere/{i}"), None).await;
    }
    let (_, metrics) = call(app, "GET", "/metrics", None).await;
    let text = metrics.as_str().unwrap();
    assert!(
        series(text) <= before + 3,
        "series grew from {before} to {}: {text}",
        series(text)
    );
    assert!(
        !text.contains("INVENTED") && !text.contains("/nowhere"),
        "{text}"
    );
    assert!(text.contains(r#"method="other""#), "{text}");
    let request = Request::builder()
        .uri("/v1/albums/778")
        .header("x-request-id", "trace-abc")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc");
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["request_id"], "trace-abc");
}

async fn app_on(url: Option<&str>, dir: &tempfile::TempDir) -> (Router, String) {
    let path = dir.path().join("albums.db");
    let store = SeaStore::connect(url, path.to_str().unwrap(), 4)
        .await
        .expect("open the store");
    let hash = "c0ffee".to_owned();
    (album_service::app(store, &config(), &hash).unwrap(), hash)
}

async fn all_scenarios(url: Option<&str>) {
    for scenario in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (app, hash) = app_on(url, &dir).await;
        match scenario {
            0 => crud(&app).await,
            1 => bad_input_is_4xx_and_writes_nothing(&app).await,
            _ => ops(&app, &hash).await,
        }
        if url.is_some() {
            // One database per scenario: empty it for the next.
            drop(app);
            let conn = SeaStore::connect(url, "", 1).await.unwrap();
            use sea_orm::ConnectionTrait;
            conn.connection()
                .execute_unprepared("DELETE FROM albums")
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn sqlite() {
    all_scenarios(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("album_http").await else {
        return;
    };
    all_scenarios(Some(&db.url)).await;
    // The typed config's pool size reaches the MySQL pool (the URL's own max-connections, 20,
    // does not win).
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}max-connections=20", db.url);
    let store = SeaStore::connect(Some(&url), "", 3).await.unwrap();
    let conn = store.connection();
    let pool = conn.get_mysql_connection_pool();
    assert_eq!(pool.options().get_max_connections(), 3);
    drop(store);
    db.drop_database().await;
}

#[test]
fn check_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "server:\n  port: 0\n").unwrap();
    let err =
        lockstep_service_kit::config::load::<AlbumConfig>(file.to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("server.port"), "{err}");
    std::fs::write(&file, "server:\n  prot: 80\n").unwrap();
    let err =
        lockstep_service_kit::config::load::<AlbumConfig>(file.to_str().unwrap()).unwrap_err();
    assert!(err.to_string().contains("prot"), "{err}");
    std::fs::write(&file, "server:\n  port: 9000\n").unwrap();
    let a = lockstep_service_kit::config::load::<AlbumConfig>(file.to_str().unwrap()).unwrap();
    std::fs::write(&file, "# a comment\nserver: {port: 9000}\n").unwrap();
    let b = lockstep_service_kit::config::load::<AlbumConfig>(file.to_str().unwrap()).unwrap();
    assert_eq!(
        a.hash, b.hash,
        "the hash is of the canonical config, not the file's formatting"
    );
}
