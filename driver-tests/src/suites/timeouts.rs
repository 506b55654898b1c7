//! Bounded waits: a server that stops answering (the proxy stalls, like a SIGSTOPped process or
//! a black-holed path) or disappears must cost at most the configured time, name what failed,
//! and leave no connection behind that hangs the next caller.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use lockstep_tidb::{Db, Error};

use super::failover::{FAST, real_endpoint, with_hosts};
use super::outcome::{DDL, insert_marked_rows, rows};
use crate::case;
use crate::fresh::{Case, Ctx};
use crate::proxy::Proxy;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "timeouts",
            hung_server_costs_the_budget_and_the_pool_recovers
        ),
        case!(
            "timeouts",
            hung_endpoint_fails_over_within_the_attempt_bound
        ),
        case!("timeouts", commit_on_a_hung_server_is_outcome_unknown),
        case!("timeouts", sea_orm_transaction_on_a_hung_server_is_bounded),
        case!("timeouts", batch_chunk_on_a_hung_server_stops_and_counts),
        case!("timeouts", all_endpoints_down_mid_run_names_each_endpoint),
    ]
}

/// Attempts of 1 s in a 3 s budget: short enough for a test, long enough for a real statement.
const BOUNDS: &str = "attempt-timeout=1s&retry-budget=3s&acquire-timeout=1s";
/// The `retry-budget` in [`BOUNDS`].
const BUDGET: Duration = Duration::from_secs(3);
/// Slack for scheduling and the backoff sleep's jitter.
const SLACK: Duration = Duration::from_millis(700);

/// `err` came within the retry budget of `started`.
fn ensure_within_budget(started: Instant, err: &Error) -> anyhow::Result<()> {
    let took = started.elapsed();
    ensure!(took <= BUDGET + SLACK, "took {took:?}: {err}");
    Ok(())
}

async fn connect(ctx: &Ctx, proxies: &[&Proxy]) -> anyhow::Result<Db> {
    let hosts: Vec<String> = proxies.iter().map(|p| p.addr.to_string()).collect();
    let url = with_hosts(&ctx.url, &hosts)?;
    let url = format!("{url}{}{BOUNDS}", if url.contains('?') { '&' } else { '?' });
    let db = Db::connect_with(url.parse()?, FAST).await?;
    ensure!(db.retry_policy().attempt_timeout == Duration::from_secs(1));
    ensure!(db.retry_policy().max_elapsed == BUDGET);
    Ok(db)
}

async fn insert(db: &Db, key: &str) -> lockstep_tidb::Result<()> {
    let key = key.to_owned();
    db.transaction_with_retry(move |tx| {
        let key = key.clone();
        Box::pin(async move {
            sqlx::query("INSERT INTO w (k) VALUES (?)")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    })
    .await
}

async fn keys(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT k FROM w ORDER BY k")
        .fetch_all(ctx.db.pool())
        .await?)
}

/// The endpoints and reasons of a top-level `NoEndpointReachable` (a connection failure once
/// every endpoint is down is that, not a `RetriesExhausted` holding it).
fn unreachable(err: &Error) -> anyhow::Result<&[(String, String)]> {
    match err {
        Error::NoEndpointReachable { attempts } => Ok(attempts),
        other => bail!("not NoEndpointReachable: {other:?}"),
    }
}

/// The `w` table behind one proxied endpoint that stalls once the server has run the first
/// command containing `pattern`.
async fn one_endpoint_hanging_at(ctx: &Ctx, pattern: &[u8]) -> anyhow::Result<(Proxy, Db)> {
    ctx.exec_all(&[DDL]).await?;
    let proxy = Proxy::start(real_endpoint(ctx)?).await?;
    let db = connect(ctx, &[&proxy]).await?;
    proxy.stall_reply_to(pattern);
    Ok((proxy, db))
}

/// The `w` table behind two proxied endpoints.
async fn two_endpoints(ctx: &Ctx) -> anyhow::Result<(Proxy, Proxy, Db)> {
    ctx.exec_all(&[DDL]).await?;
    let upstream = real_endpoint(ctx)?;
    let a = Proxy::start(upstream.clone()).await?;
    let b = Proxy::start(upstream).await?;
    let db = connect(ctx, &[&a, &b]).await?;
    Ok((a, b, db))
}

/// Inserts the key `during`, which must fail within the 3 s retry budget.
async fn insert_fails_within_budget(db: &Db) -> anyhow::Result<Error> {
    let started = Instant::now();
    let err = insert(db, "during")
        .await
        .err()
        .context("a transaction that cannot reach the server reported success")?;
    ensure_within_budget(started, &err)?;
    Ok(err)
}

async fn hung_server_costs_the_budget_and_the_pool_recovers(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[DDL]).await?;
    let proxy = Proxy::start(real_endpoint(&ctx)?).await?;
    let db = connect(&ctx, &[&proxy]).await?;
    insert(&db, "before").await?;
    // sqlx pings a connection when it goes back to the pool; let that finish first (a stall
    // during that ping holds the slot: sqlx does not bound it).
    settle(&db).await;
    // The server runs the INSERT, then stops answering: the attempt hangs mid-transaction.
    proxy.stall_reply_to(b"during");
    let err = insert_fails_within_budget(&db).await?;
    let attempts = unreachable(&err)?;
    ensure!(
        attempts.len() == 1 && attempts[0].0 == proxy.addr.to_string(),
        "{attempts:?}"
    );
    ensure!(attempts[0].1.contains("timed out"), "{attempts:?}");
    // The connections that hung were closed, not handed back to the pool, whose release ping
    // would hold their slots for as long as the server hangs.
    let open = wait_for_no_connections(&db).await;
    ensure!(
        open == 0,
        "{open} pool connections still open on the hung server"
    );
    proxy.resume();
    // Refused at once (nothing sent) until the health checker sees the server back, which it
    // probes every interval / 4 while no endpoint is healthy.
    let started = Instant::now();
    while let Err(e) = insert(&db, "after").await {
        ensure!(unreachable(&e).is_ok(), "{e:?}");
        ensure!(
            started.elapsed() < Duration::from_secs(2),
            "after the server came back: {e}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ensure!(
        keys(&ctx).await? == ["after", "before"],
        "{:?}",
        keys(&ctx).await?
    );
    Ok(())
}

/// Waits until every open pool connection is idle (released and pinged).
async fn settle(db: &Db) {
    for _ in 0..20 {
        if db.pool().num_idle() as u32 == db.pool().size() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The pool's open connections once closing has settled (closes run on spawned tasks).
async fn wait_for_no_connections(db: &Db) -> u32 {
    for _ in 0..20 {
        if db.pool().size() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.pool().size()
}

async fn hung_endpoint_fails_over_within_the_attempt_bound(ctx: Ctx) -> anyhow::Result<()> {
    let (a, _b, db) = two_endpoints(&ctx).await?;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..40 {
        if i == 10 {
            a.stall();
        }
        let one = Instant::now();
        insert(&db, &format!("k{i:02}"))
            .await
            .with_context(|| format!("transaction {i} with endpoint A hung"))?;
        slowest = slowest.max(one.elapsed());
    }
    // A transaction caught on A costs at most one attempt time-out plus a backoff.
    ensure!(slowest < Duration::from_secs(2), "slowest {slowest:?}");
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    ensure!(rows(&ctx).await? == 40, "{} rows", rows(&ctx).await?);
    let status = db.endpoints();
    ensure!(!status[0].healthy && status[1].healthy, "{status:?}");
    Ok(())
}

async fn commit_on_a_hung_server_is_outcome_unknown(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = one_endpoint_hanging_at(&ctx, b"COMMIT").await?;
    let err = insert(&db, "held-commit")
        .await
        .err()
        .context("a COMMIT on a hung server reported success")?;
    ensure!(proxy.replies_lost() == 1, "the fault did not fire");
    let endpoint = proxy.addr.to_string();
    match &err {
        Error::OutcomeUnknown {
            what,
            endpoint: Some(on),
            source,
        } => {
            ensure!(what == "COMMIT", "{what}");
            // The server to check is named, in the message too.
            ensure!(**on == *endpoint, "{on}");
            ensure!(err.to_string().contains(&endpoint), "{err}");
            ensure!(
                matches!(**source, Error::TimedOut { ref what, sent: true, .. } if what == "COMMIT"),
                "{source:?}"
            );
        }
        other => bail!("expected OutcomeUnknown for COMMIT, got {other:?}"),
    }
    proxy.resume();
    // The server committed before it stopped answering; the driver did not commit it twice.
    ensure!(
        keys(&ctx).await? == ["held-commit"],
        "{:?}",
        keys(&ctx).await?
    );
    Ok(())
}

async fn sea_orm_transaction_on_a_hung_server_is_bounded(ctx: Ctx) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, Statement};
    let (proxy, db) = one_endpoint_hanging_at(&ctx, b"sea-during").await?;
    let conn = db.sea_orm();
    let started = Instant::now();
    let err = lockstep_tidb::sea_transaction_with_retry(&conn, &db.retry_policy(), |txn| {
        Box::pin(async move {
            let sql = "INSERT INTO w (k) VALUES ('sea-during')";
            txn.execute_raw(Statement::from_string(txn.get_database_backend(), sql))
                .await?;
            Ok(())
        })
    })
    .await
    .err()
    .context("a SeaORM transaction on a hung server reported success")?;
    ensure_within_budget(started, &err)?;
    let last = match &err {
        Error::RetriesExhausted { last, .. } => last,
        other => bail!("expected RetriesExhausted, got {other:?}"),
    };
    ensure!(matches!(**last, Error::TimedOut { .. }), "{last:?}");
    ensure!(
        err.endpoint() == Some(proxy.addr.to_string().as_str()),
        "{err}"
    );
    proxy.resume();
    // Not committed: the hung attempt's transaction died with its connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(rows(&ctx).await? == 0, "{} rows", rows(&ctx).await?);
    Ok(())
}

async fn batch_chunk_on_a_hung_server_stops_and_counts(ctx: Ctx) -> anyhow::Result<()> {
    let (proxy, db) = one_endpoint_hanging_at(&ctx, b"chunk-2-marker").await?;
    let started = Instant::now();
    let err = insert_marked_rows(&db)
        .await
        .err()
        .context("a batch with a hung chunk reported success")?;
    ensure!(
        started.elapsed() <= Duration::from_secs(1) + SLACK,
        "{:?}",
        started.elapsed()
    );
    match &err {
        Error::BatchIncomplete {
            failed_chunk: 1,
            committed_rows: 100,
            source,
            ..
        } => match &**source {
            Error::OutcomeUnknown {
                what,
                endpoint,
                source,
            } => {
                ensure!(what.contains("chunk 2 of 3"), "{what}");
                ensure!(
                    endpoint.as_deref() == Some(proxy.addr.to_string().as_str()),
                    "{endpoint:?}"
                );
                ensure!(
                    matches!(**source, Error::TimedOut { sent: true, .. }),
                    "{source:?}"
                );
            }
            other => bail!("chunk error {other:?}"),
        },
        other => bail!("expected BatchIncomplete at chunk 1 with 100 rows, got {other:?}"),
    }
    proxy.resume();
    ensure!(rows(&ctx).await? == 200, "{} rows", rows(&ctx).await?);
    Ok(())
}

async fn all_endpoints_down_mid_run_names_each_endpoint(ctx: Ctx) -> anyhow::Result<()> {
    let (a, b, db) = two_endpoints(&ctx).await?;
    insert(&db, "before").await?;
    a.kill();
    b.kill();
    let err = insert_fails_within_budget(&db).await?;
    let attempts = unreachable(&err)?;
    let names: Vec<&str> = attempts.iter().map(|(n, _)| n.as_str()).collect();
    ensure!(
        names == [a.addr.to_string(), b.addr.to_string()],
        "{names:?}"
    );
    ensure!(
        attempts
            .iter()
            .all(|(_, why)| !why.is_empty() && why != "not probed"),
        "{attempts:?}"
    );
    ensure!(keys(&ctx).await? == ["before"], "{:?}", keys(&ctx).await?);
    Ok(())
}
