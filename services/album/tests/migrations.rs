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
    assert_eq!(report.applied, ["0001_albums"]);
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
        refused.contains("pending (0001_albums)") && refused.contains("album-service migrate"),
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
        "applied          0001_albums\n"
    );
    let second = run(&["migrate"]);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "already applied  0001_albums\n"
    );
    SeaStore::open(&config).await.unwrap();
    assert_eq!(config.sqlite_path(), path.to_str().unwrap());
}
