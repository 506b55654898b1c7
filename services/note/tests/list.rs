//! `GET /v1/notes`: newest first, cursor pages, creation-time ranges, exact title — per user,
//! on SQLite and on the MySQL-protocol server of `DRIVER_TESTS_MARIADB_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{Api, empty_api, token, token_of};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use serde_json::{Value, json};

async fn create(api: &Api, tenant: &str, title: &str) -> i64 {
    let body = json!({"title": title, "body": "b"}).to_string();
    let (status, v) = api
        .call("POST", "/v1/notes", Some(&token(tenant)), Some(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

/// Every page of `query` from `cursor` on, following `next_cursor`: ids and `created_at`s.
async fn pages_from(
    api: &Api,
    tenant: &str,
    query: &str,
    mut cursor: Option<String>,
) -> Vec<Vec<(i64, String)>> {
    let mut out = Vec::new();
    loop {
        let join = if query.contains('?') { '&' } else { '?' };
        let uri = match &cursor {
            Some(c) => format!("{query}{join}cursor={c}"),
            None => query.to_owned(),
        };
        let (status, v) = api.call("GET", &uri, Some(&token(tenant)), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        out.push(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| (n["id"].as_i64().unwrap(), n["created_at"].to_string()))
                .collect(),
        );
        let Some(next) = v["next_cursor"].as_str() else {
            return out;
        };
        cursor = Some(next.to_owned());
        assert!(out.len() < 50, "paging does not end");
    }
}

async fn pages(api: &Api, tenant: &str, query: &str) -> Vec<Vec<(i64, String)>> {
    pages_from(api, tenant, query, None).await
}

fn ids(pages: &[Vec<(i64, String)>]) -> Vec<i64> {
    pages.iter().flatten().map(|(id, _)| *id).collect()
}

async fn pages_cover_each_note_once_newest_first_per_tenant(api: &Api) {
    let mut acme = Vec::new();
    for i in 0..7 {
        acme.push(create(api, "acme", &format!("note {i}")).await);
        // Case-variant and other tenants in between: never listed for acme.
        if i % 3 == 0 {
            create(api, "ACME", "theirs").await;
            create(api, "globex", "theirs").await;
        }
    }
    let got = pages(api, "acme", "/v1/notes?limit=3").await;
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    acme.reverse();
    assert_eq!(ids(&got), acme, "newest first, each once");
    assert_eq!(ids(&pages(api, "ACME", "/v1/notes").await).len(), 3);

    // A note deleted between two pages: the next page starts after the cursor all the same.
    let (status, first) = api
        .call("GET", "/v1/notes?limit=2", Some(&token("acme")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let last = first["items"][1]["id"].as_i64().unwrap();
    let (status, _) = api
        .call(
            "DELETE",
            &format!("/v1/notes/{last}"),
            Some(&token("acme")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cursor = first["next_cursor"].as_str().map(str::to_owned);
    let rest = pages_from(api, "acme", "/v1/notes?limit=2", cursor).await;
    assert_eq!(ids(&rest), acme[2..]);
}

/// Notes created in the same microsecond are ordered (and paged) by id.
async fn equal_creation_times_page_by_id(api: &Api) {
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(create(api, "acme", &format!("same {i}")).await);
    }
    let conn = api.store.connection();
    let at = match conn.get_database_backend() {
        DatabaseBackend::Sqlite => "2026-01-01T00:00:00.000001+00:00",
        _ => "2026-01-01 00:00:00.000001",
    };
    conn.execute_unprepared(&format!("UPDATE notes SET created_at = '{at}'"))
        .await
        .unwrap();
    let got = pages(api, "acme", "/v1/notes?limit=2").await;
    made.reverse();
    assert_eq!(ids(&got), made);
    assert!(
        got.iter()
            .flatten()
            .all(|(_, at)| at == "\"2026-01-01T00:00:00.000001Z\"")
    );
}

async fn ranges_and_titles_filter(api: &Api) {
    let mut made = Vec::new();
    for title in ["a", "dup", "b", "dup", "c", "dup"] {
        made.push(create(api, "acme", title).await);
        // Distinct creation times, so the range bounds below split the notes.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let all: Vec<(i64, String)> = pages(api, "acme", "/v1/notes?limit=100").await.remove(0);
    let at = |i: usize| all[i].1.trim_matches('"').to_owned();
    // Newest first: index 1 is the fifth note created, index 4 the second.
    let range = format!("/v1/notes?created_from={}&created_before={}", at(4), at(1));
    let got = ids(&pages(api, "acme", &range).await);
    assert_eq!(
        got,
        [made[3], made[2], made[1]],
        "from is inclusive, before exclusive"
    );

    let dups = pages(api, "acme", "/v1/notes?title=dup&limit=2").await;
    assert_eq!(ids(&dups), [made[5], made[3], made[1]]);
    assert!(
        pages(api, "ACME", "/v1/notes?title=dup").await[0].is_empty(),
        "a case-variant tenant's title index is its own"
    );
    let (status, v): (StatusCode, Value) = api
        .call(
            "GET",
            "/v1/notes?title=dup&limit=101",
            Some(&token("acme")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["message"].as_str().unwrap().starts_with("limit:"), "{v}");
}

/// Notes are owned per user inside the tenant (the token's `sub`): another user of the same
/// tenant neither lists, finds, reads, changes nor deletes them.
async fn users_see_only_their_own_notes(api: &Api) {
    let mine = create(api, "acme", "mine").await;
    let (bob, alice) = (token_of("acme", "bob"), token("acme"));
    let (status, page) = api.call("GET", "/v1/notes", Some(&bob), None).await;
    assert_eq!(
        (status, page["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (_, found) = api
        .call("GET", "/v1/notes?title=mine", Some(&bob), None)
        .await;
    assert_eq!(found["items"], json!([]));
    let uri = format!("/v1/notes/{mine}");
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(r#"{"title":"taken"}"#)),
        ("DELETE", None),
    ] {
        let (status, _) = api.call(method, &uri, Some(&bob), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} by another user");
    }
    let (status, note) = api.call("GET", &uri, Some(&alice), None).await;
    assert_eq!(
        (status, note["title"].as_str()),
        (StatusCode::OK, Some("mine"))
    );
    // A note without an owner (written by a release before owners) is nobody's.
    api.store
        .connection()
        .execute_unprepared("UPDATE notes SET owner = ''")
        .await
        .unwrap();
    let (status, _) = api.call("GET", &uri, Some(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn all(url: Option<&str>) {
    for scenario in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let api = empty_api(url, &dir).await;
        match scenario {
            0 => pages_cover_each_note_once_newest_first_per_tenant(&api).await,
            1 => equal_creation_times_page_by_id(&api).await,
            2 => users_see_only_their_own_notes(&api).await,
            _ => ranges_and_titles_filter(&api).await,
        }
    }
}

#[tokio::test]
async fn sqlite() {
    all(None).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("note_list").await else {
        return;
    };
    all(Some(&db.url)).await;
    db.drop_database().await;
}
