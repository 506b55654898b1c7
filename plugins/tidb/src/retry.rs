//! Whole-transaction retry for sqlx and SeaORM.
//!
//! ```text
//!  attempt n: BEGIN [PESSIMISTIC|OPTIMISTIC] ─► work(&mut conn) ─► COMMIT ─► Ok
//!                    │ error                      │ error              │ error
//!                    ▼                            ▼                    ▼
//!               ROLLBACK (if open) ◄──────────────┘        in doubt: OutcomeUnknown unless idempotent
//!                    │
//!      classify ─► retryable? ─► sleep ((1.5^n)+rand)*100ms ─► attempt n+1
//! ```
//!
//! The closure runs once per attempt, so it must not keep side effects outside the database
//! (or must make them idempotent). Rolling back before each retry is explicit: a failed
//! statement on TiDB leaves the transaction open, and reusing it would commit half the work.

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use sqlx::mysql::{MySqlConnection, MySqlPool};

use crate::error::{Error, Result};
use crate::policy::{AttemptError, Retry, RetryPolicy};

/// Runs `work` inside a transaction on `pool`, retrying the whole transaction on TiDB's
/// retryable errors according to `policy`.
///
/// `is_tidb` chooses whether `policy.mode` may emit `BEGIN PESSIMISTIC/OPTIMISTIC`
/// ([`crate::Db::transaction_with_retry`] fills it in from server detection).
pub async fn transaction_with_retry<T, F>(
    pool: &MySqlPool,
    policy: &RetryPolicy,
    is_tidb: bool,
    mut work: F,
) -> Result<T>
where
    F: for<'c> FnMut(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
{
    let begin = policy.mode.begin_statement(is_tidb);
    let mut retry = Retry::start(policy);
    loop {
        retry.attempt();
        let mut tx = match pool.begin_with(begin).await {
            Ok(tx) => tx,
            Err(e) => {
                retry
                    .failed(AttemptError::before_commit(Error::from(e)))
                    .await?;
                continue;
            }
        };
        let failure = match work(&mut tx).await {
            Ok(value) => match tx.commit().await {
                Ok(()) => return Ok(value),
                Err(e) => AttemptError::in_doubt(e.into(), "COMMIT"),
            },
            Err(error) => {
                // A broken connection cannot roll back; the server discards the transaction
                // when the session ends, so a rollback error is not the story.
                if let Err(rollback) = tx.rollback().await {
                    tracing::debug!(%rollback, "rollback after failed attempt");
                }
                AttemptError::before_commit(error)
            }
        };
        retry.failed(failure).await?;
    }
}

/// The SeaORM counterpart of [`transaction_with_retry`]: `work` gets a `DatabaseTransaction`.
///
/// SeaORM always opens with plain `BEGIN`, so the server's `tidb_txn_mode` decides the mode.
pub async fn sea_transaction_with_retry<T, F>(
    db: &DatabaseConnection,
    policy: &RetryPolicy,
    mut work: F,
) -> Result<T>
where
    F: for<'c> FnMut(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T>>,
{
    let mut retry = Retry::start(policy);
    loop {
        retry.attempt();
        let txn = match db.begin().await {
            Ok(txn) => txn,
            Err(e) => {
                retry
                    .failed(AttemptError::before_commit(Error::from(e)))
                    .await?;
                continue;
            }
        };
        let failure = match work(&txn).await {
            Ok(value) => match txn.commit().await {
                Ok(()) => return Ok(value),
                Err(e) => AttemptError::in_doubt(e.into(), "COMMIT"),
            },
            Err(error) => {
                if let Err(rollback) = txn.rollback().await {
                    tracing::debug!(%rollback, "rollback after failed attempt");
                }
                AttemptError::before_commit(error)
            }
        };
        retry.failed(failure).await?;
    }
}
