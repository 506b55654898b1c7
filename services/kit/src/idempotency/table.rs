//! The `idempotency_keys` table: one row per claimed key, written in the transaction of the
//! work it answers for.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, SqlErr, Statement, Value};

use super::claim::{AnswerCodec, Claim, RETENTION, Stored};
use crate::database::Database;
use crate::migrate::Step;

/// A concurrent request with the same key committed first.
#[derive(Debug, thiserror::Error)]
#[error("a concurrent request holds this idempotency key")]
pub(super) struct Raced;

/// What the table holds for a claim.
#[derive(Debug)]
pub(super) enum Prior {
    /// Nothing (or an expired row).
    Fresh,
    /// The answer stored with the same fingerprint.
    Same(Stored),
    /// A row with another fingerprint.
    Other,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn oldest_kept() -> i64 {
    now_ms() - i64::try_from(RETENTION.as_millis()).unwrap_or(i64::MAX)
}

fn statement(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(conn.get_database_backend(), sql, values)
}

/// The migration step that creates the table (add it to a service's `MIGRATIONS`).
pub fn create_table(db: &Database) -> Step<'_> {
    Box::pin(async move {
        let conn = db.conn();
        let (hex, text, blob) = match conn.get_database_backend() {
            DatabaseBackend::Sqlite => ("TEXT", "TEXT", "BLOB"),
            // Hex compares byte for byte; a note's sealed answer can pass 64 KiB.
            _ => (
                "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin",
                "VARCHAR(255)",
                "MEDIUMBLOB",
            ),
        };
        conn.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS idempotency_keys (id {hex} NOT NULL PRIMARY KEY, \
             fingerprint {hex} NOT NULL, status INTEGER NOT NULL, location {text} NULL, \
             etag {text} NULL, body {blob} NOT NULL, created_at BIGINT NOT NULL)"
        ))
        .await?;
        db.ensure_index(
            "idempotency_keys_created_at",
            "idempotency_keys",
            &["created_at"],
            false,
        )
        .await
    })
}

/// The row for `claim`. An expired one is deleted here (not in [`record`]'s transaction: a
/// DELETE of a missing key takes gap locks on MySQL, and two of them deadlock the inserts).
pub(super) async fn lookup(
    conn: &impl ConnectionTrait,
    claim: &Claim,
    codec: &dyn AnswerCodec,
) -> Result<Prior, lockstep_tidb::Error> {
    let sql = "SELECT fingerprint, status, location, etag, body, created_at \
               FROM idempotency_keys WHERE id = ?";
    let Some(row) = conn
        .query_one_raw(statement(conn, sql, vec![claim.id.clone().into()]))
        .await?
    else {
        return Ok(Prior::Fresh);
    };
    let created_at: i64 = row.try_get_by(5)?;
    if created_at < oldest_kept() {
        let expired = "DELETE FROM idempotency_keys WHERE id = ? AND created_at = ?";
        let values = vec![claim.id.clone().into(), created_at.into()];
        conn.execute_raw(statement(conn, expired, values)).await?;
        return Ok(Prior::Fresh);
    }
    let fingerprint: String = row.try_get_by(0)?;
    if fingerprint != codec.fingerprint(&claim.fingerprint)? {
        return Ok(Prior::Other);
    }
    let status: i32 = row.try_get_by(1)?;
    let body: Vec<u8> = row.try_get_by(4)?;
    Ok(Prior::Same(Stored {
        status: u16::try_from(status).map_err(|_| DbErr::Custom(format!("status {status}")))?,
        location: row.try_get_by(2)?,
        etag: row.try_get_by(3)?,
        body: codec.open(&body)?,
    }))
}

/// Writes `claim`'s row with `stored` inside the caller's transaction `txn`. A row already there
/// (a concurrent request won) fails the transaction with [`Raced`], so the work it answers for
/// is rolled back with it.
pub(super) async fn record(
    txn: &impl ConnectionTrait,
    claim: &Claim,
    stored: &Stored,
    codec: &dyn AnswerCodec,
) -> Result<(), lockstep_tidb::Error> {
    let insert = "INSERT INTO idempotency_keys \
                  (id, fingerprint, status, location, etag, body, created_at) \
                  VALUES (?, ?, ?, ?, ?, ?, ?)";
    let values = vec![
        claim.id.clone().into(),
        codec.fingerprint(&claim.fingerprint)?.into(),
        i32::from(stored.status).into(),
        stored.location.clone().into(),
        stored.etag.clone().into(),
        codec.seal(&stored.body)?.into(),
        now_ms().into(),
    ];
    match txn.execute_raw(statement(txn, insert, values)).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(lockstep_tidb::Error::Work(Box::new(Raced)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes rows older than [`RETENTION`]; the count deleted. Expired rows are already ignored,
/// this only frees the space.
pub async fn sweep(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let sql = "DELETE FROM idempotency_keys WHERE created_at < ?";
    let done = conn
        .execute_raw(statement(conn, sql, vec![oldest_kept().into()]))
        .await?;
    Ok(done.rows_affected())
}

/// [`sweep`] every `every`, for the life of the process (spawn it; failures are logged and
/// tried again next time).
pub async fn sweep_every(conn: sea_orm::DatabaseConnection, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        match sweep(&conn).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "sweeping idempotency keys failed"),
        }
    }
}
