//! Size-aware bulk writes and TiDB SQL helpers (AUTO_RANDOM, stale reads) on a real server.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use lockstep_tidb::{
    AsOf, BatchLimits, BulkInsert, Error, RetryPolicy, TxnMode, delete_in_chunks, sql,
};
use sqlx::AssertSqlSafe;

use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("batch", bulk_insert_splits_into_chunks),
        case!("batch", oversized_row_is_rejected_before_sending),
        case!("batch", delete_in_chunks_removes_exactly_the_matches),
        case!("batch", auto_random_key_table_accepts_inserts),
        case!("batch", stale_read_sees_committed_rows),
        case!("batch", tidb_only_sql_runs_on_tidb_and_is_refused_elsewhere),
    ]
}

const DDL: &str =
    "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, payload BLOB)";
const COLUMNS: [&str; 3] = ["id", "name", "payload"];

type Row = (i32, String, Vec<u8>);

fn size_of(row: &Row) -> usize {
    4 + row.1.len() + row.2.len()
}

async fn insert(ctx: &Ctx, rows: &[Row], limits: BatchLimits) -> lockstep_tidb::Result<u64> {
    let bulk = BulkInsert {
        table: "items",
        columns: &COLUMNS,
        limits,
    };
    bulk.execute(
        ctx.db.pool(),
        &ctx.db.retry_policy(),
        rows,
        size_of,
        |sep, row| {
            sep.push_bind(row.0)
                .push_bind(row.1.clone())
                .push_bind(row.2.clone());
        },
    )
    .await
}

async fn bulk_insert_splits_into_chunks(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let rows: Vec<Row> = (0..5000)
        .map(|i| (i, format!("item-{i}"), vec![(i % 251) as u8; 40]))
        .collect();
    let limits = BatchLimits {
        max_bytes: 64 * 1024,
        max_rows: 700,
    };
    let plan = lockstep_tidb::plan_chunks(rows.iter().map(size_of), 3, limits)?;
    ensure!(
        plan.len() > 5,
        "expected several chunks, got {}",
        plan.len()
    );
    let inserted = insert(&ctx, &rows, limits).await?;
    ensure!(inserted == 5000, "inserted {inserted}");
    let (n, sum): (i64, rust_decimal::Decimal) =
        sqlx::query_as("SELECT COUNT(*), SUM(id) FROM items")
            .fetch_one(ctx.db.pool())
            .await?;
    ensure!(
        n == 5000 && sum == rust_decimal::Decimal::from(4999 * 5000 / 2),
        "{n} {sum}"
    );
    ensure!(ctx.db.retry_metrics().snapshot().transactions == plan.len() as u64);
    Ok(())
}

async fn oversized_row_is_rejected_before_sending(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let rows: Vec<Row> = vec![
        (1, "ok".into(), vec![0; 10]),
        (2, "huge".into(), vec![0; 2048]),
    ];
    let err = insert(
        &ctx,
        &rows,
        BatchLimits {
            max_bytes: 1024,
            max_rows: 10,
        },
    )
    .await
    .err()
    .context("the call was expected to fail")?;
    ensure!(matches!(err, Error::RowTooLarge { index: 1, .. }), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(n == 0, "rows were written before the size check");
    Ok(())
}

async fn delete_in_chunks_removes_exactly_the_matches(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let rows: Vec<Row> = (0..2000)
        .map(|i| (i, format!("n{i}"), Vec::new()))
        .collect();
    insert(&ctx, &rows, BatchLimits::default()).await?;
    let deleted = delete_in_chunks(
        ctx.db.pool(),
        &ctx.db.retry_policy(),
        "items",
        "id % 2 = 0",
        300,
    )
    .await?;
    ensure!(deleted == 1000, "deleted {deleted}");
    let odd: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE id % 2 = 1")
        .fetch_one(ctx.db.pool())
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(odd == 1000 && total == 1000);
    Ok(())
}

async fn auto_random_key_table_accepts_inserts(ctx: Ctx) -> anyhow::Result<()> {
    let pk = sql::auto_random_pk(ctx.db.server(), "id", 5, 54)?;
    ctx.exec_all(&[&format!(
        "CREATE TABLE events ({pk}, body VARCHAR(32) NOT NULL)"
    )])
    .await?;
    let mut ids = Vec::new();
    for i in 0..20 {
        let done = sqlx::query("INSERT INTO events (body) VALUES (?)")
            .bind(format!("e{i}"))
            .execute(ctx.db.pool())
            .await?;
        ids.push(done.last_insert_id());
    }
    ids.sort_unstable();
    ids.dedup();
    ensure!(ids.len() == 20 && ids[0] > 0, "ids {ids:?}");
    Ok(())
}

async fn stale_read_sees_committed_rows(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL, "INSERT INTO items VALUES (1, 'old', NULL)"])
        .await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (name, stale) = ctx
        .db
        .stale_read(&AsOf::Staleness(Duration::from_secs(1)), |tx| {
            Box::pin(async move {
                let name: String = sqlx::query_scalar("SELECT name FROM items WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                Ok(name)
            })
        })
        .await?;
    ensure!(name == "old");
    ensure!(
        stale == ctx.db.server().supports_stale_read(),
        "stale flag {stale}"
    );
    // The read-only transaction really is read-only.
    let err = ctx
        .db
        .stale_read(&AsOf::Staleness(Duration::from_secs(1)), |tx| {
            Box::pin(async move {
                sqlx::query(AssertSqlSafe("UPDATE items SET name = 'new'".to_owned()))
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
        .await;
    ensure!(
        err.is_err(),
        "a write inside a read-only transaction succeeded"
    );
    Ok(())
}

/// `AS OF TIMESTAMP` after a table and `BEGIN OPTIMISTIC` run on TiDB; elsewhere they are
/// refused as `Unsupported` before any SQL is sent (spliced in, `AS OF` is a syntax error, and a
/// plain `BEGIN` would silently lock pessimistically).
async fn tidb_only_sql_runs_on_tidb_and_is_refused_elsewhere(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL, "INSERT INTO items VALUES (1, 'old', NULL)"])
        .await?;
    let tidb = ctx.db.server().is_tidb();
    let as_of = AsOf::Staleness(Duration::from_secs(0));
    match (as_of.clause(ctx.db.server()), tidb) {
        (Ok(clause), true) => {
            let sql = format!("SELECT COUNT(*) FROM items {clause}");
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(ctx.db.pool())
                .await?;
            ensure!(n == 1, "{n}");
        }
        (Err(Error::Unsupported { .. }), false) => {}
        (other, _) => anyhow::bail!("AS OF on {}: {other:?}", ctx.db.server().raw),
    }
    let optimistic = RetryPolicy {
        mode: TxnMode::Optimistic,
        ..ctx.db.retry_policy()
    };
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = sent.clone();
    let result = ctx
        .db
        .transaction_with_policy(&optimistic, move |tx| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                sqlx::query("UPDATE items SET name = 'new' WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
        .await;
    let name: String = sqlx::query_scalar("SELECT name FROM items WHERE id = 1")
        .fetch_one(ctx.db.pool())
        .await?;
    match result {
        Ok(()) if tidb => ensure!(name == "new", "{name}"),
        Err(Error::Unsupported { ref feature, .. }) if !tidb => {
            ensure!(feature == "BEGIN OPTIMISTIC", "{feature}");
            ensure!(!sent.load(std::sync::atomic::Ordering::SeqCst) && name == "old");
        }
        other => anyhow::bail!("optimistic transaction: {other:?}"),
    }
    Ok(())
}
