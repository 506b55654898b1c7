//! Transactions: commit, rollback, isolation of concurrent readers.

use anyhow::{Context as _, ensure};
use lockstep_tidb::Error;
use sqlx::Connection as _;

use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("tx", commit_makes_all_rows_visible),
        case!("tx", work_error_rolls_back_and_is_not_retried),
        case!("tx", failed_statement_rolls_back_the_whole_attempt),
        case!("tx", concurrent_reader_never_sees_uncommitted_rows),
    ]
}

const DDL: &str = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)";

async fn count(ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(ctx.db.pool())
        .await?)
}

async fn commit_makes_all_rows_visible(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let statements = &[
        "INSERT INTO t VALUES (1, 'a')",
        "INSERT INTO t VALUES (2, 'b')",
    ];
    ctx.tx_exec(&ctx.db.retry_policy(), statements).await?;
    ensure!(count(&ctx).await? == 2);
    Ok(())
}

async fn work_error_rolls_back_and_is_not_retried(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let err = ctx
        .db
        .transaction_with_retry(|tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t VALUES (1, 'a')")
                    .execute(&mut *tx)
                    .await?;
                Err::<(), _>(Error::Work("out of stock".into()))
            })
        })
        .await
        .err()
        .context("the call was expected to fail")?;
    ensure!(matches!(err, Error::Work(_)), "{err}");
    ensure!(count(&ctx).await? == 0, "rolled-back row is visible");
    let snap = ctx.db.retry_metrics().snapshot();
    ensure!(snap.attempts == 1 && snap.failed == 1, "{snap:?}");
    Ok(())
}

async fn failed_statement_rolls_back_the_whole_attempt(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL, "INSERT INTO t VALUES (7, 'existing')"])
        .await?;
    let statements = &[
        "INSERT INTO t VALUES (1, 'new')",
        "INSERT INTO t VALUES (7, 'dup')",
    ];
    let err = ctx
        .tx_exec(&ctx.db.retry_policy(), statements)
        .await
        .err()
        .context("the call was expected to fail")?;
    ensure!(
        err.server_code() == Some(1062),
        "expected duplicate key, got {err}"
    );
    ensure!(
        count(&ctx).await? == 1,
        "first insert of the failed attempt survived"
    );
    Ok(())
}

async fn concurrent_reader_never_sees_uncommitted_rows(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let mut writer = ctx.connection().await?;
    let mut reader = ctx.connection().await?;
    let mut tx = writer.begin().await?;
    sqlx::query("INSERT INTO t VALUES (1, 'pending')")
        .execute(&mut *tx)
        .await?;
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut reader)
        .await?;
    ensure!(seen == 0, "reader saw an uncommitted row");
    tx.commit().await?;
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut reader)
        .await?;
    ensure!(seen == 1, "reader does not see the committed row");
    Ok(())
}
