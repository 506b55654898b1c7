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

use tokio::time::Instant;

use crate::deadline::{Lease, within};
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
    let begin = policy.mode.begin_statement(is_tidb)?;
    let mut retry = Retry::start(policy);
    loop {
        retry.attempt();
        let (started, deadline) = (Instant::now(), retry.deadline());
        let failure = match Lease::acquire(pool, deadline).await {
            Ok(mut lease) => {
                match attempt(lease.conn(), begin, &mut work, started, deadline).await {
                    Ok(value) => {
                        lease.finished();
                        return Ok(value);
                    }
                    // A connection that timed out is closed when the lease drops unfinished.
                    Err(failure) if matches!(failure.error, Error::TimedOut { .. }) => failure,
                    Err(failure) => {
                        lease.finished();
                        failure
                    }
                }
            }
            Err(e) => AttemptError::before_commit(e),
        };
        retry.failed(failure).await?;
    }
}

/// One attempt on one connection: `BEGIN`, the work, `COMMIT`, each bounded by `deadline`.
async fn attempt<T, F>(
    conn: &mut MySqlConnection,
    begin: &'static str,
    work: &mut F,
    started: Instant,
    deadline: Instant,
) -> std::result::Result<T, AttemptError>
where
    F: for<'c> FnMut(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T>>,
{
    let mut tx = within(
        deadline,
        started,
        begin,
        sqlx::Connection::begin_with(conn, begin),
    )
    .await
    .map_err(AttemptError::before_commit)?;
    match within(deadline, started, "the transaction's work", work(&mut tx)).await {
        Ok(value) => match within(deadline, started, "COMMIT", tx.commit()).await {
            Ok(()) => Ok(value),
            Err(e) => Err(AttemptError::in_doubt(e, "COMMIT")),
        },
        Err(error) => {
            // A broken connection cannot roll back; the server discards the transaction when
            // the session ends, so a rollback error is not the story.
            if !matches!(error, Error::TimedOut { .. })
                && let Err(rollback) = within(deadline, started, "ROLLBACK", tx.rollback()).await
            {
                tracing::debug!(%rollback, "rollback after failed attempt");
            }
            Err(AttemptError::before_commit(error))
        }
    }
}

/// The SeaORM counterpart of [`transaction_with_retry`]: `work` gets a `DatabaseTransaction`.
///
/// SeaORM always opens with plain `BEGIN`, so the server's `tidb_txn_mode` decides the mode.
/// Each step is bounded by the attempt's deadline like the sqlx path, but SeaORM owns the
/// connection: one abandoned by a time-out goes back to sqlx's pool, whose release ping holds
/// that pool slot until the server answers or the link fails.
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
        let (started, deadline) = (Instant::now(), retry.deadline());
        let txn = match within(deadline, started, "BEGIN", db.begin()).await {
            Ok(txn) => txn,
            Err(e) => {
                retry.failed(AttemptError::before_commit(e)).await?;
                continue;
            }
        };
        let failure = match within(deadline, started, "the transaction's work", work(&txn)).await {
            Ok(value) => match within(deadline, started, "COMMIT", txn.commit()).await {
                Ok(()) => return Ok(value),
                Err(e) => AttemptError::in_doubt(e, "COMMIT"),
            },
            Err(error) => {
                if let Err(rollback) = within(deadline, started, "ROLLBACK", txn.rollback()).await {
                    tracing::debug!(%rollback, "rollback after failed attempt");
                }
                AttemptError::before_commit(error)
            }
        };
        retry.failed(failure).await?;
    }
}
