//! Bringing tables created by earlier versions up to date on MySQL-family servers: the steps of
//! migrations `0002_tenant_byte_exact` and `0003_body_mediumblob` (`schema.rs`). Each checks
//! before it changes, so it is idempotent.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// The tenant column on MySQL-family servers: tenant ids are ASCII (`[A-Za-z0-9_.-]`, checked
/// at the token boundary), compared byte for byte.
pub(super) const TENANT_MYSQL: &str = "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin";

/// Moves a `tenant` column created by an earlier version (the server's default, usually
/// case-insensitive collation) to [`TENANT_MYSQL`]. Idempotent: a column already binary is left
/// alone.
pub(super) async fn binary_tenant_column(
    conn: &sea_orm::DatabaseConnection,
    table: &str,
) -> Result<(), sea_orm::DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'tenant'",
            [table.into()],
        ))
        .await?;
    let collation: Option<String> = match row {
        Some(row) => row.try_get_by(0)?,
        None => return Ok(()),
    };
    if collation.as_deref() != Some("ascii_bin") {
        tracing::warn!(
            table,
            ?collation,
            "making the tenant column byte-exact (ascii_bin)"
        );
        conn.execute_unprepared(&format!(
            "ALTER TABLE {table} MODIFY tenant {TENANT_MYSQL} NOT NULL"
        ))
        .await?;
    }
    Ok(())
}

/// Widens a `notes.body` created as `BLOB` by an earlier version to `MEDIUMBLOB`, so a body at
/// the documented limit fits sealed. Idempotent.
pub(super) async fn medium_blob_body(
    conn: &sea_orm::DatabaseConnection,
) -> Result<(), sea_orm::DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'notes' AND COLUMN_NAME = 'body'",
        ))
        .await?;
    let data_type: Option<String> = match row {
        Some(row) => row.try_get_by(0)?,
        None => return Ok(()),
    };
    if data_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("blob"))
    {
        tracing::warn!("widening notes.body to MEDIUMBLOB");
        conn.execute_unprepared("ALTER TABLE notes MODIFY body MEDIUMBLOB NOT NULL")
            .await?;
    }
    Ok(())
}
