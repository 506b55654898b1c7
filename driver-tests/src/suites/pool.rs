//! The pool's check before use: idempotent work skips sqlx's ping on a connection used within
//! `alive-bypass-window` (one round trip less per read) and meets a connection that died
//! meanwhile as a retried attempt; all other work, and any work with a zero window, pings first
//! and never sends a statement on a dead connection.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use lockstep_tidb::Db;
use lockstep_tidb::policy::{AttemptError, RetryPolicy};

use super::failover::FAST;
use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "pool",
            idempotent_work_skips_the_ping_and_retries_a_dead_connection
        ),
        case!("pool", other_work_pings_before_use),
        case!("pool", a_zero_window_always_pings),
    ]
}

/// A one-connection `Db` on the case's database (`extra` appended to the URL's query), whose
/// only pooled connection has just been killed by the server; returns it with the retry policy.
async fn with_killed_connection(ctx: &Ctx, extra: &str) -> anyhow::Result<(Db, RetryPolicy)> {
    let sep = if ctx.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}max-connections=1{extra}", ctx.url);
    let db = Db::connect_with(url.parse()?, FAST).await?;
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(db.pool())
        .await?;
    // Let the release (and its ping) finish, so the connection is idle in the pool.
    tokio::time::sleep(Duration::from_millis(20)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
        .execute(ctx.db.pool())
        .await
        .context("KILL")?;
    // The server closes the socket; still well inside the 500 ms window.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let policy = db.retry_policy();
    Ok((db, policy))
}

fn idempotent(policy: RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        idempotent: true,
        ..policy
    }
}

/// Attempts `SELECT 1` took under `policy`.
async fn attempts_of_a_read(db: &Db, policy: &RetryPolicy) -> anyhow::Result<u64> {
    let before = policy.metrics.snapshot().attempts;
    let one: i64 = db
        .run_with_retry(policy, |_, pool| async move {
            sqlx::query_scalar("SELECT 1")
                .fetch_one(pool)
                .await
                .map_err(|e| AttemptError::from(lockstep_tidb::Error::from(e)))
        })
        .await?;
    ensure!(one == 1);
    Ok(policy.metrics.snapshot().attempts - before)
}

async fn idempotent_work_skips_the_ping_and_retries_a_dead_connection(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let (db, policy) = with_killed_connection(&ctx, "").await?;
    // No ping: the first attempt meets the dead connection, the second opens a new one.
    let attempts = attempts_of_a_read(&db, &idempotent(policy)).await?;
    ensure!(attempts == 2, "{attempts} attempts, want 2");
    Ok(())
}

async fn other_work_pings_before_use(ctx: Ctx) -> anyhow::Result<()> {
    let (db, policy) = with_killed_connection(&ctx, "").await?;
    // Not idempotent: the ping finds the dead connection, so the statement is sent once, on a
    // new one (a failed send here would be an outcome in doubt).
    let attempts = attempts_of_a_read(&db, &policy).await?;
    ensure!(attempts == 1, "{attempts} attempts, want 1");
    Ok(())
}

async fn a_zero_window_always_pings(ctx: Ctx) -> anyhow::Result<()> {
    let (db, policy) = with_killed_connection(&ctx, "&alive-bypass-window=0").await?;
    let attempts = attempts_of_a_read(&db, &idempotent(policy)).await?;
    ensure!(attempts == 1, "{attempts} attempts, want 1");
    Ok(())
}
