//! `max_allowed_packet`: the driver reads the server's limit at connect and sizes batch chunks
//! to it. Run against a server lowered to 1 MiB (`SET GLOBAL`, restored afterwards; the case is
//! exclusive so no other case connects meanwhile).

use anyhow::{Context as _, bail, ensure};
use lockstep_tidb::{BatchLimits, Db, Error};
use sqlx::AssertSqlSafe;

use super::failover::FAST;
use crate::case;
use crate::fresh::{Case, Ctx};

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![case!(exclusive "packet", chunks_fit_a_one_mebibyte_packet)]
}

const ONE_MIB: i64 = 1 << 20;

async fn global_packet(ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(@@GLOBAL.max_allowed_packet AS SIGNED)")
            .fetch_one(ctx.db.pool())
            .await?,
    )
}

async fn set_global_packet(ctx: &Ctx, bytes: i64) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET GLOBAL max_allowed_packet = {bytes}"
    )))
    .execute(ctx.db.pool())
    .await
    .context("SET GLOBAL max_allowed_packet (needs SUPER or SYSTEM_VARIABLES_ADMIN)")?;
    Ok(())
}

async fn chunks_fit_a_one_mebibyte_packet(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE blobs (id INT PRIMARY KEY, body BLOB NOT NULL)"])
        .await?;
    let before = global_packet(&ctx).await?;
    set_global_packet(&ctx, ONE_MIB).await?;
    let outcome = with_small_packet(&ctx).await;
    set_global_packet(&ctx, before).await?;
    outcome
}

/// 1,500 rows of 2 KiB: 3 MiB, three times the packet; 1,000 of them (the default row limit)
/// make a 2 MiB statement.
fn rows() -> Vec<(i32, Vec<u8>)> {
    (1..=1500).map(|i| (i, vec![b'x'; 2048])).collect()
}

async fn with_small_packet(ctx: &Ctx) -> anyhow::Result<()> {
    // A new handle: its connections are opened after the change.
    let db = Db::connect_with(ctx.url.parse()?, FAST).await?;
    ensure!(
        db.max_allowed_packet() == ONE_MIB as u64,
        "read {} at connect",
        db.max_allowed_packet()
    );
    let rows = rows();
    let insert = |limits: BatchLimits| {
        let bulk = lockstep_tidb::BulkInsert {
            limits,
            ..db.bulk_insert("blobs", &["id", "body"])
        };
        let rows = &rows;
        let db = &db;
        async move {
            bulk.execute(
                db.pool(),
                &db.retry_policy(),
                rows,
                |r| 4 + r.1.len(),
                |sep, r| {
                    sep.push_bind(r.0).push_bind(r.1.clone());
                },
            )
            .await
        }
    };
    // The server really refuses what the default limits send: a 2 MiB first chunk.
    match insert(BatchLimits::default()).await {
        Err(Error::BatchIncomplete {
            failed_chunk: 0,
            committed_rows: 0,
            source,
            ..
        }) => println!("default limits on a 1 MiB server: {source}"),
        other => bail!("a 2 MiB chunk against a 1 MiB packet: {other:?}"),
    }
    // Sized from the packet read at connect, the same rows go in.
    let inserted = insert(db.batch_limits()).await?;
    ensure!(inserted == 1500, "{inserted} rows");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(stored == 1500, "{stored} rows stored");
    // A row that cannot fit is refused before anything is sent.
    let big = vec![(9999, vec![b'y'; ONE_MIB as usize])];
    let err = db
        .bulk_insert("blobs", &["id", "body"])
        .execute(
            db.pool(),
            &db.retry_policy(),
            &big,
            |r| 4 + r.1.len(),
            |sep, r| {
                sep.push_bind(r.0).push_bind(r.1.clone());
            },
        )
        .await
        .err()
        .context("a 1 MiB row against a 1 MiB packet was accepted")?;
    ensure!(matches!(err, Error::RowTooLarge { .. }), "{err:?}");
    Ok(())
}
