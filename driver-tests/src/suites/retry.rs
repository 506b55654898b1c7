//! The retry path on a real server: TiDB's error codes come back from the server and the
//! driver must retry exactly the retryable ones, with an exactly-once effect.
//!
//! MySQL/MariaDB: codes are injected by a trigger (see [`crate::inject`]). TiDB has no
//! triggers, so there every case provokes real optimistic write conflicts (9007) instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, ensure};
use lockstep_tidb::{Error, RetryPolicy, TxnMode};
use tokio::sync::Mutex;

use crate::case;
use crate::fresh::Case;
use crate::fresh::Ctx;
use crate::inject::{attempts_seen, fail_ledger_inserts};
use crate::target::TargetKind;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("retry", retryable_codes_take_effect_exactly_once),
        case!("retry", non_retryable_codes_fail_on_the_first_attempt),
        case!("retry", transient_codes_are_retried_only_when_idempotent),
        case!("retry", retries_stop_at_the_attempt_budget),
        case!("retry", sea_orm_transactions_are_retried_too),
    ]
}

async fn insert_ledger(ctx: &Ctx, policy: &RetryPolicy) -> lockstep_tidb::Result<()> {
    ctx.tx_exec(policy, &["INSERT INTO ledger (amount) VALUES (10)"])
        .await
}

async fn ledger_rows(ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ledger")
        .fetch_one(ctx.db.pool())
        .await?)
}

/// TiDB: increments `hot` in an optimistic transaction while a side session commits a
/// conflicting write during the first `conflicts` attempts, so COMMIT fails with a real 9007.
async fn real_conflicts(ctx: &Ctx, conflicts: u32, policy: RetryPolicy) -> anyhow::Result<()> {
    ctx.exec_all(&[
        "CREATE TABLE hot (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO hot VALUES (1, 0)",
    ])
    .await?;
    let side = Arc::new(Mutex::new(ctx.connection().await?));
    let attempts = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy {
        mode: TxnMode::Optimistic,
        ..policy
    };
    ctx.db
        .transaction_with_policy(&policy, |tx| {
            let (side, attempts) = (side.clone(), attempts.clone());
            Box::pin(async move {
                sqlx::query("UPDATE hot SET v = v + 1 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                if attempts.fetch_add(1, Ordering::SeqCst) < conflicts {
                    let mut side = side.lock().await;
                    sqlx::query("UPDATE hot SET v = v + 100 WHERE id = 1")
                        .execute(&mut *side)
                        .await?;
                }
                Ok(())
            })
        })
        .await?;
    let v: i32 = sqlx::query_scalar("SELECT v FROM hot WHERE id = 1")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(
        v == 1 + 100 * conflicts as i32,
        "v = {v}: our increment did not land exactly once"
    );
    ensure!(
        attempts.load(Ordering::SeqCst) == conflicts + 1,
        "attempts {}",
        attempts.load(Ordering::SeqCst)
    );
    Ok(())
}

async fn retryable_codes_take_effect_exactly_once(ctx: Ctx) -> anyhow::Result<()> {
    if ctx.kind == TargetKind::Tidb {
        return real_conflicts(&ctx, 2, ctx.db.retry_policy()).await;
    }
    for code in [9007u16, 8002, 8022, 8028, 1213, 8005] {
        ctx.exec_all(&[
            "DROP TABLE IF EXISTS ledger",
            "DROP TABLE IF EXISTS inject_counter",
        ])
        .await?;
        fail_ledger_inserts(&ctx, code, 2).await?;
        let before = ctx.db.retry_metrics().snapshot();
        insert_ledger(&ctx, &ctx.db.retry_policy()).await?;
        let after = ctx.db.retry_metrics().snapshot();
        ensure!(
            ledger_rows(&ctx).await? == 1,
            "code {code}: effect not exactly once"
        );
        ensure!(
            attempts_seen(&ctx).await? == 3,
            "code {code}: {} attempts",
            attempts_seen(&ctx).await?
        );
        ensure!(
            after.total_retries() - before.total_retries() == 2,
            "code {code}: retries {after:?}"
        );
    }
    Ok(())
}

async fn non_retryable_codes_fail_on_the_first_attempt(ctx: Ctx) -> anyhow::Result<()> {
    if ctx.kind == TargetKind::Tidb {
        // A real non-retryable error on TiDB: duplicate key.
        ctx.exec_all(&[
            crate::inject::LEDGER_DDL,
            "INSERT INTO ledger VALUES (1, 5)",
        ])
        .await?;
        let err = ctx
            .tx_exec(
                &ctx.db.retry_policy(),
                &["INSERT INTO ledger VALUES (1, 6)"],
            )
            .await
            .err()
            .context("the call was expected to fail")?;
        ensure!(
            err.server_code() == Some(1062) && ctx.db.retry_metrics().snapshot().attempts == 1,
            "{err}"
        );
        return Ok(());
    }
    for code in [8004u16, 8025, 1205, 9006, 8055] {
        ctx.exec_all(&[
            "DROP TABLE IF EXISTS ledger",
            "DROP TABLE IF EXISTS inject_counter",
        ])
        .await?;
        fail_ledger_inserts(&ctx, code, 1).await?;
        let err = insert_ledger(&ctx, &ctx.db.retry_policy())
            .await
            .err()
            .context("the call was expected to fail")?;
        ensure!(
            matches!(err, Error::Server { .. }) && err.server_code() == Some(code),
            "code {code}: {err}"
        );
        ensure!(
            err.to_string().contains(&format!("injected error {code}")),
            "message lost: {err}"
        );
        ensure!(attempts_seen(&ctx).await? == 1, "code {code} was retried");
        ensure!(ledger_rows(&ctx).await? == 0);
    }
    Ok(())
}

async fn transient_codes_are_retried_only_when_idempotent(ctx: Ctx) -> anyhow::Result<()> {
    if ctx.kind == TargetKind::Tidb {
        let policy = RetryPolicy {
            idempotent: true,
            ..ctx.db.retry_policy()
        };
        return real_conflicts(&ctx, 1, policy).await;
    }
    fail_ledger_inserts(&ctx, 9005, 1).await?;
    let err = insert_ledger(&ctx, &ctx.db.retry_policy())
        .await
        .err()
        .context("the call was expected to fail")?;
    ensure!(
        err.server_code() == Some(9005) && attempts_seen(&ctx).await? == 1,
        "{err}"
    );
    ctx.exec_all(&["UPDATE inject_counter SET n = 0"]).await?;
    let idempotent = RetryPolicy {
        idempotent: true,
        ..ctx.db.retry_policy()
    };
    insert_ledger(&ctx, &idempotent).await?;
    ensure!(attempts_seen(&ctx).await? == 2 && ledger_rows(&ctx).await? == 1);
    Ok(())
}

async fn retries_stop_at_the_attempt_budget(ctx: Ctx) -> anyhow::Result<()> {
    let policy = RetryPolicy {
        max_attempts: 3,
        ..ctx.db.retry_policy()
    };
    if ctx.kind == TargetKind::Tidb {
        let err = real_conflicts(&ctx, 10, policy)
            .await
            .err()
            .context("the call was expected to fail")?;
        let err = err.downcast::<Error>()?;
        ensure!(
            matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
            "{err}"
        );
        return Ok(());
    }
    fail_ledger_inserts(&ctx, 9007, 100).await?;
    let err = insert_ledger(&ctx, &policy)
        .await
        .err()
        .context("the call was expected to fail")?;
    ensure!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    ensure!(err.server_code() == Some(9007));
    ensure!(attempts_seen(&ctx).await? == 3 && ledger_rows(&ctx).await? == 0);
    ensure!(ctx.db.retry_metrics().snapshot().exhausted == 1);
    Ok(())
}

async fn sea_orm_transactions_are_retried_too(ctx: Ctx) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};
    if ctx.kind == TargetKind::Tidb {
        ctx.exec_all(&[crate::inject::LEDGER_DDL]).await?;
    } else {
        fail_ledger_inserts(&ctx, 9007, 2).await?;
    }
    let conn = ctx.db.sea_orm();
    let policy = ctx.db.retry_policy();
    lockstep_tidb::sea_transaction_with_retry(&conn, &policy, |txn| {
        Box::pin(async move {
            txn.execute_raw(Statement::from_string(
                txn.get_database_backend(),
                "INSERT INTO ledger (amount) VALUES (10)",
            ))
            .await?;
            Ok(())
        })
    })
    .await?;
    ensure!(ledger_rows(&ctx).await? == 1);
    if ctx.kind != TargetKind::Tidb {
        ensure!(attempts_seen(&ctx).await? == 3 && policy.metrics.snapshot().total_retries() == 2);
    }
    Ok(())
}
