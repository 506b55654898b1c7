//! Several endpoints: a dead one must not fail requests another can serve.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use lockstep_tidb::{ConnectOptions, Db, Error, HealthCheck};

use crate::case;
use crate::fresh::{Case, Ctx};
use crate::proxy::Proxy;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("failover", dead_endpoint_in_the_list_fails_no_request),
        case!("failover", endpoint_dying_mid_run_fails_no_transaction),
        case!("failover", all_endpoints_down_is_a_typed_error),
        case!("failover", errors_name_the_endpoint_that_answered),
        case!("failover", every_endpoint_down_fails_fast_and_recovers),
    ]
}

pub(crate) const FAST: HealthCheck = HealthCheck {
    interval: Duration::from_millis(100),
    timeout: Duration::from_secs(1),
    max_backoff: Duration::from_millis(800),
};

/// `url` with its host list replaced by `hosts`.
pub(crate) fn with_hosts(url: &str, hosts: &[String]) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("url scheme")?;
    let (userinfo, after) = rest.split_once('@').context("url user")?;
    let path = &after[after.find('/').context("url path")?..];
    Ok(format!("{scheme}://{userinfo}@{}{path}", hosts.join(",")))
}

pub(crate) fn real_endpoint(ctx: &Ctx) -> anyhow::Result<String> {
    let options: ConnectOptions = ctx.url.parse()?;
    Ok(options.endpoint_names().remove(0))
}

async fn dead_endpoint_in_the_list_fails_no_request(ctx: Ctx) -> anyhow::Result<()> {
    // Port 1 on loopback refuses connections: a server that is down.
    let url = with_hosts(&ctx.url, &["127.0.0.1:1".into(), real_endpoint(&ctx)?])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    for i in 0..30 {
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(db.pool())
            .await
            .with_context(|| format!("query {i}"))?;
        ensure!(one == 1);
    }
    let status = db.endpoints();
    ensure!(!status[0].healthy && status[1].healthy, "{status:?}");
    ensure!(
        status[0]
            .last_error
            .as_deref()
            .is_some_and(|e| !e.is_empty())
    );
    Ok(())
}

async fn endpoint_dying_mid_run_fails_no_transaction(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&["CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, n INT NOT NULL)"])
        .await?;
    let upstream = real_endpoint(&ctx)?;
    let a = Proxy::start(upstream.clone()).await?;
    let b = Proxy::start(upstream).await?;
    let url = with_hosts(&ctx.url, &[a.addr.to_string(), b.addr.to_string()])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    for i in 0..60 {
        if i == 20 {
            a.kill();
        }
        db.transaction_with_retry(|tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (n) VALUES (?)")
                    .bind(i)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            })
        })
        .await
        .with_context(|| format!("transaction {i} after endpoint A died"))?;
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(ctx.db.pool())
        .await?;
    ensure!(rows == 60, "{rows} rows, expected 60");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = db.endpoints();
    ensure!(!status[0].healthy && status[1].healthy, "{status:?}");
    Ok(())
}

async fn all_endpoints_down_is_a_typed_error(ctx: Ctx) -> anyhow::Result<()> {
    let url = with_hosts(&ctx.url, &["127.0.0.1:1".into(), "127.0.0.1:2".into()])?;
    let err = Db::connect_with(url.parse()?, FAST)
        .await
        .err()
        .context("the call was expected to fail")?;
    match &err {
        Error::NoEndpointReachable { attempts } => {
            let names: Vec<_> = attempts.iter().map(|(n, _)| n.as_str()).collect();
            ensure!(names == ["127.0.0.1:1", "127.0.0.1:2"], "{names:?}");
        }
        other => anyhow::bail!("expected NoEndpointReachable, got {other}"),
    }
    ensure!(err.to_string().contains("127.0.0.1:2"), "{err}");
    Ok(())
}

/// A duplicate key on `t`: a server error every time, from whichever endpoint ran it.
async fn duplicate(db: &Db) -> anyhow::Result<Error> {
    db.transaction_with_retry(|tx| {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (id, n) VALUES (1, 0)")
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    })
    .await
    .err()
    .context("a duplicate key was accepted")
}

/// The endpoint in an error is the one the failing work ran on: with one endpoint of two left,
/// every error names it, then the other once they swap.
async fn errors_name_the_endpoint_that_answered(ctx: Ctx) -> anyhow::Result<()> {
    ctx.exec_all(&[
        "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)",
        "INSERT INTO t VALUES (1, 0)",
    ])
    .await?;
    let upstream = real_endpoint(&ctx)?;
    let a = Proxy::start(upstream.clone()).await?;
    let b = Proxy::start(upstream.clone()).await?;
    let (a_name, b_name) = (a.addr.to_string(), b.addr.to_string());
    let url = with_hosts(&ctx.url, &[a_name.clone(), b_name.clone()])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(duplicate(&db).await?.endpoint().map(str::to_owned));
    }
    // Idle endpoints take turns.
    ensure!(
        seen.contains(&Some(a_name.clone())) && seen.contains(&Some(b_name.clone())),
        "{seen:?}"
    );
    let addr = a.addr;
    drop(a);
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..4 {
        let err = duplicate(&db).await?;
        ensure!(err.server_code() == Some(1062), "{err}");
        ensure!(err.endpoint() == Some(b_name.as_str()), "{err}");
        ensure!(err.to_string().contains(&b_name), "{err}");
    }
    let _a = Proxy::start_at(addr, upstream).await?;
    b.kill();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..4 {
        let err = duplicate(&db).await?;
        ensure!(err.endpoint() == Some(a_name.as_str()), "{err}");
    }
    Ok(())
}

/// `SELECT 1` in a transaction.
async fn one(db: &Db) -> lockstep_tidb::Result<i64> {
    db.transaction_with_retry(|tx| {
        Box::pin(async move {
            let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *tx).await?;
            Ok(one)
        })
    })
    .await
}

/// The endpoints named by a top-level `NoEndpointReachable`, each with a reason.
fn unreachable_names(err: &Error) -> anyhow::Result<Vec<String>> {
    match err {
        Error::NoEndpointReachable { attempts } => {
            ensure!(
                attempts.iter().all(|(_, why)| !why.is_empty()),
                "{attempts:?}"
            );
            Ok(attempts.iter().map(|(name, _)| name.clone()).collect())
        }
        other => anyhow::bail!("expected a top-level NoEndpointReachable, got {other:?}"),
    }
}

/// Every endpoint dies mid-run, with the default health check: the call in flight ends in
/// seconds (it took 28.5 s, the retry budget); once the health checker knows, every operation
/// fails at once with a top-level `NoEndpointReachable` naming both endpoints (it waited out
/// the budget again, with `NoEndpointReachable` only inside `RetriesExhausted`); an endpoint
/// that returns serves work within 1.2 s.
async fn every_endpoint_down_fails_fast_and_recovers(ctx: Ctx) -> anyhow::Result<()> {
    let upstream = real_endpoint(&ctx)?;
    let a = Proxy::start(upstream.clone()).await?;
    let b = Proxy::start(upstream.clone()).await?;
    let names = vec![a.addr.to_string(), b.addr.to_string()];
    let url = with_hosts(&ctx.url, &names)?;
    let db = Db::connect_with(url.parse()?, HealthCheck::default()).await?;
    ensure!(one(&db).await? == 1);
    let a_addr = a.addr;
    drop((a, b));
    let started = std::time::Instant::now();
    let first = one(&db)
        .await
        .err()
        .context("a call with every endpoint dead succeeded")?;
    let took = started.elapsed();
    ensure!(
        took < Duration::from_secs(5),
        "the call in flight took {took:?}: {first}"
    );
    ensure!(unreachable_names(&first)? == names, "{first}");
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let err = one(&db).await.err().context("succeeded while down")?;
        let took = started.elapsed();
        ensure!(
            took < Duration::from_millis(50),
            "took {took:?} while known down"
        );
        ensure!(unreachable_names(&err)? == names, "{err}");
    }
    let policy = db.retry_policy();
    let sea = db
        .sea_transaction_with_retry(&policy, |_| Box::pin(async { Ok(()) }))
        .await
        .err()
        .context("SeaORM work succeeded while down")?;
    ensure!(unreachable_names(&sea)? == names, "{sea}");
    let run = db
        .run_with_retry(&policy, |_, _| async { Ok(()) })
        .await
        .err()
        .context("run_with_retry succeeded while down")?;
    ensure!(unreachable_names(&run)? == names, "{run}");
    let stale = lockstep_tidb::AsOf::Staleness(Duration::from_secs(1));
    let read = db
        .stale_read(&stale, |_| Box::pin(async { Ok(()) }))
        .await
        .err()
        .context("a stale read succeeded while down")?;
    ensure!(unreachable_names(&read)? == names, "{read}");

    let _a = Proxy::start_at(a_addr, upstream).await?;
    let back = std::time::Instant::now();
    loop {
        if one(&db).await.is_ok() {
            break;
        }
        ensure!(
            back.elapsed() < Duration::from_millis(1200),
            "no work served 1.2 s after an endpoint returned: {:?}",
            db.endpoints()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "every endpoint down: in-flight call failed after {took:?}; served again {:?} after an endpoint returned",
        back.elapsed()
    );
    Ok(())
}
