//! The note schema's migrations on SQLite and on the MySQL-protocol server of
//! `DRIVER_TESTS_MARIADB_URL`: all applied and recorded on a fresh database, each idempotent
//! (run again after it ran: a crash between a step and its ledger row), a database made by an
//! earlier release's start-up DDL brought up to date, and `migrate_on_start: false` refusing a
//! schema that is behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockstep_service_kit::database::{Database, OpenError};
use lockstep_service_kit::migrate::prepare_schema;
use lockstep_service_kit::migrate::{self, MigrateError};
use note_service::store::schema::{MIGRATIONS, SERVICE};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

async fn column(db: &Database, table: &str, column: &str, of: &str) -> String {
    let row = db
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            format!(
                "SELECT {of} FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = ? AND COLUMN_NAME = ?"
            ),
            [table.into(), column.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by::<String, _>(0).unwrap()
}

async fn fresh_schema_is_current_and_steps_are_idempotent(db: &Database) {
    // Manual migrations: a fresh schema is behind, and says what to run.
    match prepare_schema(db, SERVICE, MIGRATIONS, false).await {
        Err(OpenError::Migrate(MigrateError::Pending { pending, .. })) => {
            assert_eq!(pending.len(), MIGRATIONS.len());
        }
        other => panic!("{other:?}"),
    }
    let report = migrate::run(db, SERVICE, MIGRATIONS).await.unwrap();
    let names: Vec<_> = MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(report.applied, names);
    for migration in MIGRATIONS {
        (migration.up)(db)
            .await
            .unwrap_or_else(|e| panic!("{} is not idempotent: {e}", migration.name));
    }
    prepare_schema(db, SERVICE, MIGRATIONS, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let db = Database::connect(None, path.to_str().unwrap(), 2)
        .await
        .unwrap();
    fresh_schema_is_current_and_steps_are_idempotent(&db).await;
}

#[tokio::test]
async fn mysql_server() {
    let Some(fresh) = lockstep_service_kit::testing::fresh_database("note_migrations").await else {
        return;
    };
    let db = Database::connect(Some(&fresh.url), "", 4).await.unwrap();
    fresh_schema_is_current_and_steps_are_idempotent(&db).await;

    // An earlier release's start-up DDL: the server's default collation for tenants, a 64 KiB
    // BLOB body, no ledger. The migrations bring it up to date and record themselves.
    for table in ["notes", "plain_notes", "lockstep_migrations"] {
        db.conn()
            .execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
    db.conn()
        .execute_unprepared(
            "CREATE TABLE notes (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             tenant VARCHAR(64) COLLATE utf8mb4_general_ci NOT NULL, title BLOB NOT NULL, \
             title_idx BINARY(16) NOT NULL, body BLOB NOT NULL, tags TEXT NOT NULL, \
             created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)",
        )
        .await
        .unwrap();
    let report = migrate::run(&db, SERVICE, MIGRATIONS).await.unwrap();
    assert_eq!(report.applied.len(), MIGRATIONS.len());
    assert_eq!(
        column(&db, "notes", "tenant", "COLLATION_NAME").await,
        "ascii_bin"
    );
    assert_eq!(
        column(&db, "notes", "body", "DATA_TYPE")
            .await
            .to_lowercase(),
        "mediumblob"
    );
    assert_eq!(
        column(&db, "plain_notes", "tenant", "COLLATION_NAME").await,
        "ascii_bin"
    );
    fresh.drop_database().await;
}
