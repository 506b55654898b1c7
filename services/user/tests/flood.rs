//! The user service under a registration and login flood, on a real socket and the MySQL-protocol
//! server of `DRIVER_TESTS_MARIADB_URL`: every answer is exact (each 201 has its row, no other
//! answer has one, though the request timeout passes while inserts run), overload is a 503
//! `overloaded` with `Retry-After`, and memory stays bounded (argon2id takes 19 MiB per hash).
//! Its own test binary: the password hasher and the RSS are the process's.
//!
//! `LOCKSTEP_FLOOD=64,256,512 cargo test --release -p user-service --test flood -- --nocapture`
//! prints the RSS before and after each size (the default is one flood of 256).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use lockstep_service_config::UserConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use user_service::store::SeaStore;
use user_service::tokens::Issuer;

/// The process's resident memory, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// One POST on its own connection: the status and the whole head.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer)
}

fn credentials(username: &str) -> String {
    serde_json::json!({"tenant": "acme", "username": username, "password": "a long enough password"})
        .to_string()
}

fn sizes() -> Vec<usize> {
    std::env::var("LOCKSTEP_FLOOD").map_or_else(
        |_| vec![256],
        |v| v.split(',').map(|n| n.trim().parse().unwrap()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_exact_answers_in_bounded_memory() {
    let Some(db) = lockstep_service_kit::testing::fresh_database("user_flood").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SeaStore::connect(
        Some(&db.url),
        dir.path().join("unused.db").to_str().unwrap(),
    )
    .await
    .unwrap();
    // Each insert takes 300 ms on the server, so the 400 ms request timeout passes while many
    // inserts are in flight: the case that answered 504 for a user that then existed.
    let admin = sqlx::MySqlPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER slow_insert BEFORE INSERT ON users FOR EACH ROW SET @slept = SLEEP(0.3)",
    )
    .execute(&admin)
    .await
    .unwrap();
    let mut config = UserConfig::default();
    config.tokens.private_key_file = format!(
        "{}/../note/tests/fixtures/rs256-test-private.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    config.server.request_timeout_ms = 400;
    let issuer = Issuer::from_config(&config.tokens).unwrap();
    let app = user_service::app(store, issuer, &config, "h").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(lockstep_service_kit::http::serve(
        listener,
        app,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let workers = user_service::passwords::shared().unwrap().limits().workers as u64;

    let before = rss_mib();
    for (round, size) in sizes().into_iter().enumerate() {
        let names: Vec<String> = (0..size).map(|i| format!("u{round}x{i}")).collect();
        let answers = futures::future::join_all(names.iter().map(|name| async move {
            (
                name.clone(),
                post(addr, "/v1/users", &credentials(name)).await,
            )
        }))
        .await;
        let logins = futures::future::join_all((0..size).map(|i| async move {
            post(addr, "/v1/tokens", &credentials(&format!("nobody{i}"))).await
        }))
        .await;
        // Late answers have all arrived (the clients waited); give nothing else time to land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stored: BTreeSet<String> =
            sqlx::query_scalar("SELECT username FROM users WHERE username LIKE ?")
                .bind(format!("u{round}x%"))
                .fetch_all(&admin)
                .await
                .unwrap()
                .into_iter()
                .collect();
        let created: BTreeSet<String> = answers
            .iter()
            .filter(|(_, (status, _))| *status == 201)
            .map(|(name, _)| name.clone())
            .collect();
        let mut tally = std::collections::BTreeMap::new();
        let heads = answers
            .iter()
            .map(|(_, answer)| answer)
            .chain(logins.iter());
        for (status, head) in heads {
            *tally.entry(*status).or_insert(0) += 1;
            if *status == 503 && head.contains("overloaded") {
                assert!(
                    head.to_ascii_lowercase().contains("retry-after: "),
                    "{head}"
                );
            }
        }
        assert_eq!(
            created, stored,
            "answers and rows differ: 201 without a row, or a row without a 201 ({tally:?})"
        );
        assert!(!created.is_empty(), "nothing was registered: {tally:?}");
        for (status, _) in &logins {
            assert!(matches!(status, 401 | 503 | 504), "login answered {status}");
        }
        for (_, (status, _)) in &answers {
            assert!(
                matches!(status, 201 | 503 | 504),
                "registration answered {status}"
            );
        }
        let after = rss_mib();
        println!(
            "flood of {size} registrations + {size} logins: answers {tally:?}; RSS {before} -> {after} MiB ({workers} hashing threads)"
        );
        // 19 MiB per hashing thread, and room for connections, buffers and the allocator: the
        // unbounded service grew by 19 MiB per concurrent request (1.2 GB for 64).
        let bound = 64 + 24 * workers;
        assert!(
            after.saturating_sub(before) <= bound,
            "RSS grew {} MiB over {bound} MiB: {before} -> {after}",
            after - before
        );
    }
    db.drop_database().await;
}
