//! The album schema's migrations: applied and recorded on a fresh database, idempotent, and
//! the `migrate` subcommand with `database.migrate_on_start: false` — the service refuses to
//! start while a migration is pending, `album-service migrate` applies it, then it starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use album_service::store::SeaStore;
use album_service::store::schema::{MIGRATIONS, SERVICE};
use lockstep_service_config::{AlbumConfig, ServiceConfig};
use lockstep_service_kit::database::Database;
use lockstep_service_kit::migrate;

#[tokio::test]
async fn migrations_apply_once_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    let db = Database::connect(None, path.to_str().unwrap(), 1)
        .await
        .unwrap();
    let report = migrate::run(&db, SERVICE, MIGRATIONS).await.unwrap();
    assert_eq!(
        report.applied,
        [
            "0001_albums",
            "0002_idempotency_keys",
            "0003_created_at_micros"
        ]
    );
    for migration in MIGRATIONS {
        (migration.up)(&db).await.unwrap();
    }
    assert!(
        migrate::pending(&db, SERVICE, MIGRATIONS)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn manual_migrations_gate_the_start_and_the_subcommand_applies_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("albums.db");
    let file = dir.path().join("album.yaml");
    std::fs::write(
        &file,
        format!(
            "database: {{sqlite_path: '{}', migrate_on_start: false}}\n",
            path.display()
        ),
    )
    .unwrap();
    let config = AlbumConfig::from_yaml(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let refused = SeaStore::open(&config).await.unwrap_err().to_string();
    assert!(
        refused.contains("pending (0001_albums, 0002_idempotency_keys, 0003_created_at_micros)")
            && refused.contains("album-service migrate"),
        "{refused}"
    );

    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_album-service"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .output()
            .unwrap()
    };
    let first = run(&["migrate"]);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "applied          0001_albums\napplied          0002_idempotency_keys\n\
         applied          0003_created_at_micros\n"
    );
    let second = run(&["migrate"]);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "already applied  0001_albums\nalready applied  0002_idempotency_keys\n\
         already applied  0003_created_at_micros\n"
    );
    SeaStore::open(&config).await.unwrap();
    assert_eq!(config.sqlite_path(), path.to_str().unwrap());
}

/// An album written before `0003_created_at_micros` (a whole-second `TIMESTAMP`) reads back the
/// same after it, and new albums keep their microseconds.
#[tokio::test]
async fn created_at_survives_the_move_to_microseconds() {
    use album_service::domain::{AlbumStore, NewAlbum};
    use sea_orm::ConnectionTrait;
    let Some(fresh) = lockstep_service_kit::testing::fresh_database("album_migr").await else {
        return;
    };
    let db = Database::connect(Some(&fresh.url), "", 1).await.unwrap();
    migrate::run(&db, SERVICE, &MIGRATIONS[..1]).await.unwrap();
    db.conn()
        .execute_unprepared(
            "INSERT INTO albums (title, artist, price, created_at) \
             VALUES ('Blue', 'Joni Mitchell', 19.99, '2026-01-02 03:04:05')",
        )
        .await
        .unwrap();
    let store = SeaStore::connect(Some(&fresh.url), "", 1).await.unwrap();
    let old = store.get(1).await.unwrap();
    assert_eq!(old.created_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    let new = store
        .create(
            NewAlbum {
                title: "Hejira".into(),
                artist: "Joni Mitchell".into(),
                price: 9.into(),
            },
            None,
        )
        .await
        .unwrap();
    let lockstep_service_kit::idempotency::Answer::Done(new) = new else {
        panic!("no key, no replay")
    };
    assert_eq!(store.get(new.id).await.unwrap().created_at, new.created_at);
    drop((store, db));
    fresh.drop_database().await;
}
