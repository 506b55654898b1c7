//! A write whose reply is lost: applied on the server, a broken link for the client. The driver
//! must never apply it twice and must say that the outcome is unknown. The proxy executes the
//! chosen statement on the real server and swallows its reply (`Proxy::lose_reply_to`).

use anyhow::{Context as _, ensure};
use lockstep_tidb::policy::AttemptError;
use lockstep_tidb::{BatchLimits, BulkInsert, Db, Error, RetryPolicy};

use super::failover::{FAST, real_endpoint, with_hosts};
use crate::case;
use crate::fresh::{Case, Ctx};
use crate::proxy::Proxy;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "outcome",
            autocommit_insert_with_a_lost_reply_is_outcome_unknown
        ),
        case!(
            "outcome",
            idempotent_insert_with_a_lost_reply_is_retried_once
        ),
        case!("outcome", lost_commit_reply_is_outcome_unknown),
        case!(
            "outcome",
            bulk_insert_chunk_with_a_lost_reply_stops_and_counts
        ),
        case!("outcome", bulk_insert_in_a_transaction_is_all_or_nothing),
    ]
}

pub(crate) const DDL: &str =
    "CREATE TABLE w (id INT PRIMARY KEY AUTO_INCREMENT, k VARCHAR(40) NOT NULL, UNIQUE KEY (k))";

/// The case's database through a proxy that can lose replies.
async fn proxied(ctx: &Ctx) -> anyhow::Result<(Proxy, Db)> {
    ctx.exec_all(&[DDL]).await?;
    let proxy = Proxy::start(real_endpoint(ctx)?).await?;
    let url = with_hosts(&ctx.url, &[proxy.addr.to_string()])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    Ok((proxy, db))
}

pub(crate) async fn rows(ctx: &Ctx) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM w")
        .fetch_one(ctx.db.pool())
        .await?)
}

async fn insert_key(
    db: &Db,
    policy: &RetryPolicy,
    sql: &'static str,
    key: &str,
) -> lockstep_tidb::Result<u64> {
    db.run_with_retry(policy, |_, pool| async move {
        sqlx::query(sql)
            .bind(key)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| AttemptError::from(Error::from(e)))
    })
    .await
}

fn is_outcome_unknown(err: &Error) -> bool {
    matches!(err, Error::OutcomeUnknown { .. })
}

async fn autocommit_insert_with_a_lost_reply_is_outcome_unknown(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = proxied(&ctx).await?;
    proxy.lose_reply_to(b"lost-reply-1", 0);
    let err = insert_key(
        &db,
        &db.retry_policy(),
        "INSERT INTO w (k) VALUES (?)",
        "lost-reply-1",
    )
    .await
    .err()
    .context("an insert whose reply was lost reported success")?;
    ensure!(proxy.replies_lost() == 1, "the fault did not fire");
    ensure!(
        is_outcome_unknown(&err),
        "expected OutcomeUnknown, got {err:?}"
    );
    ensure!(err.to_string().contains("may or may not"), "{err}");
    // `Db::run_with_retry` names the server to check, though the work returned a bare error.
    let endpoint = proxy.addr.to_string();
    ensure!(err.endpoint() == Some(endpoint.as_str()), "{err:?}");
    ensure!(err.to_string().contains(&endpoint), "{err}");
    ensure!(
        rows(&ctx).await? == 1,
        "the insert was applied {} times",
        rows(&ctx).await?
    );
    Ok(())
}

async fn idempotent_insert_with_a_lost_reply_is_retried_once(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = proxied(&ctx).await?;
    proxy.lose_reply_to(b"lost-reply-2", 0);
    let policy = RetryPolicy {
        idempotent: true,
        ..db.retry_policy()
    };
    // The caller declares the statement idempotent (INSERT IGNORE on a unique key): the retry
    // finds the row there and inserts nothing.
    let affected = insert_key(
        &db,
        &policy,
        "INSERT IGNORE INTO w (k) VALUES (?)",
        "lost-reply-2",
    )
    .await?;
    ensure!(proxy.replies_lost() == 1, "the fault did not fire");
    ensure!(affected == 0, "the retry inserted {affected} rows");
    ensure!(rows(&ctx).await? == 1, "{} rows", rows(&ctx).await?);
    Ok(())
}

async fn lost_commit_reply_is_outcome_unknown(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = proxied(&ctx).await?;
    proxy.lose_reply_to(b"COMMIT", 0);
    let err = db
        .transaction_with_retry(|tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO w (k) VALUES ('in-commit')")
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
        .await
        .err()
        .context("a transaction whose COMMIT reply was lost reported success")?;
    ensure!(proxy.replies_lost() == 1, "the fault did not fire");
    match &err {
        Error::OutcomeUnknown { what, .. } => ensure!(what == "COMMIT", "{what}"),
        other => anyhow::bail!("expected OutcomeUnknown for COMMIT, got {other:?}"),
    }
    ensure!(rows(&ctx).await? == 1, "{} rows", rows(&ctx).await?);
    Ok(())
}

type Row = (i32, String);

fn bulk() -> BulkInsert<'static> {
    BulkInsert {
        table: "w",
        columns: &["id", "k"],
        limits: BatchLimits {
            max_bytes: 1 << 20,
            max_rows: 100,
        },
    }
}

/// 300 rows in 3 chunks of 100; row 150 (chunk 2) carries the marker.
fn marked_rows() -> Vec<Row> {
    (1..=300)
        .map(|i| {
            (
                i,
                if i == 150 {
                    "chunk-2-marker".into()
                } else {
                    format!("row-{i}")
                },
            )
        })
        .collect()
}

/// [`marked_rows`] through `BulkInsert::execute` with the handle's retry policy.
pub(crate) async fn insert_marked_rows(db: &Db) -> lockstep_tidb::Result<u64> {
    bulk()
        .execute(
            db.pool(),
            &db.retry_policy(),
            &marked_rows(),
            |r| 4 + r.1.len(),
            |sep, r| {
                sep.push_bind(r.0).push_bind(r.1.clone());
            },
        )
        .await
}

async fn bulk_insert_chunk_with_a_lost_reply_stops_and_counts(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = proxied(&ctx).await?;
    proxy.lose_reply_to(b"chunk-2-marker", 0);
    let err = insert_marked_rows(&db)
        .await
        .err()
        .context("a batch with a lost chunk reply reported success")?;
    match &err {
        Error::BatchIncomplete {
            failed_chunk,
            chunks,
            committed_rows,
            source,
        } => {
            ensure!(
                (*failed_chunk, *chunks, *committed_rows) == (1, 3, 100),
                "{failed_chunk} {chunks} {committed_rows}"
            );
            ensure!(is_outcome_unknown(source), "chunk error {source:?}");
            ensure!(
                source.to_string().contains("chunk 2 of 3 (rows 100..200)"),
                "{source}"
            );
        }
        other => anyhow::bail!("expected BatchIncomplete, got {other:?}"),
    }
    // Chunk 1 committed and reported; chunk 2 applied once although its reply was lost;
    // chunk 3 never sent. Never 400 rows (a doubled chunk would fail on the primary key, or
    // double a table without one).
    ensure!(rows(&ctx).await? == 200, "{} rows", rows(&ctx).await?);
    Ok(())
}

async fn bulk_insert_in_a_transaction_is_all_or_nothing(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = proxied(&ctx).await?;
    proxy.lose_reply_to(b"chunk-2-marker", 0);
    // The closure must not borrow from this frame (its future lives as long as any connection).
    let rows_in = std::sync::Arc::new(marked_rows());
    let inserted = db
        .transaction_with_retry(|tx| {
            let rows = rows_in.clone();
            Box::pin(async move {
                bulk()
                    .execute_on(
                        tx,
                        &rows,
                        |r| 4 + r.1.len(),
                        |sep, r| {
                            sep.push_bind(r.0).push_bind(r.1.clone());
                        },
                    )
                    .await
            })
        })
        .await?;
    ensure!(proxy.replies_lost() == 1, "the fault did not fire");
    // The first attempt died inside its transaction (rolled back by the server); the retry
    // inserted everything once.
    ensure!(inserted == 300, "inserted {inserted}");
    ensure!(rows(&ctx).await? == 300, "{} rows", rows(&ctx).await?);
    Ok(())
}
