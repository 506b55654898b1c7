//! The note schema as migrations (`lockstep_service_kit::migrate`): run at start-up, or by
//! `note-service migrate` with `database.migrate_on_start: false`. Append new ones; never edit
//! or rename one that shipped. Each must leave a schema the previous release still works with
//! (a rollback runs it against the same database) and be idempotent. Databases made before
//! the ledger existed (start-up DDL) are brought up by the same steps: each creates only what
//! is missing and changes only what is not yet changed.

use lockstep_field_encryption::Storage;
use lockstep_service_kit::database::Database;
use lockstep_service_kit::migrate::{Migration, Step};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};

use super::upgrade::{TENANT_MYSQL, binary_tenant_column, medium_blob_body};

/// The service's name in the migration ledger.
pub const SERVICE: &str = "note-service";

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_notes",
        up: notes,
    },
    Migration {
        name: "0002_tenant_byte_exact",
        up: tenant_byte_exact,
    },
    Migration {
        name: "0003_body_mediumblob",
        up: body_mediumblob,
    },
    Migration {
        name: "0004_notes_tenant_created",
        up: tenant_created_index,
    },
    Migration {
        name: "0005_notes_owner",
        up: owner_column,
    },
    Migration {
        name: "0006_idempotency_keys",
        up: lockstep_service_kit::idempotency::create_table,
    },
];

/// `notes` (sealed title and body, blind title index) and its plaintext twin `plain_notes`.
fn notes(db: &Database) -> Step<'_> {
    Box::pin(async move {
        let conn = &db.conn();
        let backend = conn.get_database_backend();
        // Tenant ids compare byte for byte on every backend: MySQL-family servers default to
        // case-insensitive collations, under which tenant `ACME` would match `acme`'s rows.
        let (id, blob, time, tenant) = match backend {
            DatabaseBackend::Sqlite => (
                "id INTEGER PRIMARY KEY AUTOINCREMENT",
                "BLOB",
                "TEXT",
                "VARCHAR(64)",
            ),
            // BLOB holds 65,535 bytes: a 64 KiB body plus the 34-byte envelope does not fit
            // (an error, or with a lax sql_mode a truncated, undecryptable value).
            _ => (
                "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
                "MEDIUMBLOB",
                "DATETIME(6)",
                TENANT_MYSQL,
            ),
        };
        // The database refuses anything but an envelope in the encrypted columns (a plaintext
        // `col_expr` or hand-written UPDATE): new tables only, see `sealed_check`.
        let sealed = |column| {
            lockstep_field_encryption::sealed_check(backend, column, Storage::Binary)
                .map_err(|e| DbErr::Custom(e.to_string()))
        };
        conn.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS notes ({id}, tenant {tenant} NOT NULL, \
             title {blob} NOT NULL {}, title_idx BINARY(16) NOT NULL, body {blob} NOT NULL {}, \
             tags TEXT NOT NULL, created_at {time} NOT NULL, updated_at {time} NOT NULL)",
            sealed("title")?,
            sealed("body")?,
        ))
        .await?;
        conn.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS plain_notes ({id}, tenant {tenant} NOT NULL, \
             title VARCHAR(255) NOT NULL, body TEXT NOT NULL, tags TEXT NOT NULL, \
             created_at {time} NOT NULL, updated_at {time} NOT NULL)"
        ))
        .await?;
        db.ensure_index(
            "notes_tenant_title",
            "notes",
            &["tenant", "title_idx"],
            false,
        )
        .await?;
        db.ensure_index("notes_tenant_id", "notes", &["tenant", "id"], false)
            .await?;
        db.ensure_index(
            "plain_notes_tenant_id",
            "plain_notes",
            &["tenant", "id"],
            false,
        )
        .await
    })
}

/// Tables of releases that used the server's default (case-insensitive) collation.
fn tenant_byte_exact(db: &Database) -> Step<'_> {
    Box::pin(async move {
        if db.conn().get_database_backend() == DatabaseBackend::MySql {
            for table in ["notes", "plain_notes"] {
                binary_tenant_column(&db.conn(), table).await?;
            }
        }
        Ok(())
    })
}

/// `notes.body` of releases that made it a 64 KiB `BLOB`.
fn body_mediumblob(db: &Database) -> Step<'_> {
    Box::pin(async move {
        if db.conn().get_database_backend() == DatabaseBackend::MySql {
            medium_blob_body(&db.conn()).await?;
        }
        Ok(())
    })
}

/// The index newest-first listing pages on.
fn tenant_created_index(db: &Database) -> Step<'_> {
    Box::pin(db.ensure_index(
        "notes_tenant_created",
        "notes",
        &["tenant", "created_at"],
        false,
    ))
}

/// Notes owned per user: `owner` (the token's `sub`), indexed with the tenant and creation time
/// for listing. Additive, so the previous release still works on it: its inserts get the
/// default `''`, which no user owns — notes written during a rollback need an `UPDATE … SET
/// owner` to reappear. Existing notes also start with `''`.
fn owner_column(db: &Database) -> Step<'_> {
    Box::pin(async move {
        let backend = db.conn().get_database_backend();
        if !has_column(db, backend, "notes", "owner").await? {
            let text = match backend {
                DatabaseBackend::Sqlite => "VARCHAR(64)",
                _ => "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin",
            };
            db.conn()
                .execute_unprepared(&format!(
                    "ALTER TABLE notes ADD COLUMN owner {text} NOT NULL DEFAULT ''"
                ))
                .await?;
        }
        db.ensure_index(
            "notes_owner_created",
            "notes",
            &["tenant", "owner", "created_at"],
            false,
        )
        .await
    })
}

async fn has_column(
    db: &Database,
    backend: DatabaseBackend,
    table: &str,
    column: &str,
) -> Result<bool, DbErr> {
    let sql = match backend {
        DatabaseBackend::Sqlite => {
            format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?")
        }
        _ => "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
              AND TABLE_NAME = ? AND COLUMN_NAME = ?"
            .to_owned(),
    };
    let values: Vec<sea_orm::Value> = match backend {
        DatabaseBackend::Sqlite => vec![column.into()],
        _ => vec![table.into(), column.into()],
    };
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
    let count: i64 = match row {
        Some(row) => row.try_get_by(0)?,
        None => 0,
    };
    Ok(count > 0)
}
