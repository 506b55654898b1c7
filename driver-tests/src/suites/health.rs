//! The health checker's own cost and its reaction to an endpoint that comes back: probes ping a
//! kept connection instead of opening one per round, a dead endpoint is retried with backoff,
//! and a recovered endpoint gets new work as soon as the health checker sees it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use lockstep_tidb::{Db, HealthStats};

use super::failover::{FAST, real_endpoint, with_hosts};
use crate::case;
use crate::fresh::{Case, Ctx};
use crate::proxy::Proxy;

/// The suite's cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!("health", probes_ping_one_kept_connection_per_endpoint),
        case!("health", a_dead_endpoint_is_retried_with_backoff),
        case!("health", a_recovered_endpoint_gets_its_share_back),
        case!(exclusive "health", dropping_a_db_leaves_no_aborted_client),
    ]
}

/// Probe rounds in `window` at `FAST`'s 100 ms interval.
async fn stats_over(db: &Db, window: Duration) -> HealthStats {
    let before = db.health_stats();
    tokio::time::sleep(window).await;
    let after = db.health_stats();
    HealthStats {
        pings: after.pings - before.pings,
        connects: after.connects - before.connects,
    }
}

async fn probes_ping_one_kept_connection_per_endpoint(ctx: Ctx) -> anyhow::Result<()> {
    let proxy = Proxy::start(real_endpoint(&ctx)?).await?;
    let url = with_hosts(&ctx.url, &[proxy.addr.to_string()])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    let window = stats_over(&db, Duration::from_secs(2)).await;
    // ~20 rounds: every one a ping, none a new connection (each used to be a full handshake).
    ensure!(window.pings >= 12 && window.connects == 0, "{window:?}");
    // The probe's connection is the only one open: the pool has not been used.
    ensure!(proxy.links() == 1, "{} links", proxy.links());
    Ok(())
}

async fn a_dead_endpoint_is_retried_with_backoff(ctx: Ctx) -> anyhow::Result<()> {
    // Port 1 refuses connections.
    let url = with_hosts(&ctx.url, &["127.0.0.1:1".into(), real_endpoint(&ctx)?])?;
    let db = Db::connect_with(url.parse()?, FAST).await?;
    let window = stats_over(&db, Duration::from_secs(3)).await;
    // Every 100 ms would be ~30 attempts; 100, 200, 400, then 800 ms apart is at most 6.
    ensure!(window.connects <= 6, "{window:?}");
    ensure!(
        window.pings >= 15,
        "the live endpoint was not probed: {window:?}"
    );
    ensure!(!db.endpoints()[0].healthy && db.endpoints()[1].healthy);
    Ok(())
}

async fn a_recovered_endpoint_gets_its_share_back(ctx: Ctx) -> anyhow::Result<()> {
    let upstream = real_endpoint(&ctx)?;
    let a = Proxy::start(upstream.clone()).await?;
    let b = Proxy::start(upstream.clone()).await?;
    let url = with_hosts(&ctx.url, &[a.addr.to_string(), b.addr.to_string()])?;
    let url = format!(
        "{url}{}max-connections=8",
        if url.contains('?') { '&' } else { '?' }
    );
    let db = Arc::new(Db::connect_with(url.parse()?, FAST).await?);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (db, stop) = (db.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Endpoint A dies under some of these: the driver retries them on B (work
                // waiting for one of A's connections is woken when A is found down).
                let _ = db
                    .transaction_with_retry(|tx| {
                        Box::pin(async move {
                            sqlx::query("SELECT SLEEP(0.005)").execute(&mut *tx).await?;
                            Ok(())
                        })
                    })
                    .await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let addr = a.addr;
    drop(a);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ensure!(!db.endpoints()[0].healthy, "{:?}", db.endpoints());
    ensure!(
        b.links() >= 8,
        "the pool did not move to B: {} links",
        b.links()
    );
    let a = Proxy::start_at(addr, upstream).await?;
    let back = Instant::now();
    // Pool connections on A: its links minus the health probe's. Noticing the recovery waits
    // for the dead endpoint's backoff (at most FAST's 800 ms); the spread after that does not.
    let (mut on_a, mut noticed) = (0, None);
    while back.elapsed() < Duration::from_secs(6) {
        if noticed.is_none() && db.endpoints()[0].healthy {
            noticed = Some(back.elapsed());
        }
        on_a = a.links().saturating_sub(1);
        if on_a >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = back.elapsed();
    let noticed = noticed.context("the recovery was never noticed")?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.context("worker")?;
    }
    println!(
        "recovered endpoint holds {on_a} pool connections {took:?} after it came back, {:?} after the health checker saw it; {:?} {:?} (open, idle) {:?}",
        took - noticed,
        db.health_stats(),
        db.endpoints(),
        db.pool_state()
    );
    ensure!(
        on_a >= 3,
        "after {took:?} endpoint A holds {on_a} of 8 pool connections"
    );
    // New work goes to the least busy endpoint: the recovered one, at once.
    ensure!(
        took - noticed < Duration::from_millis(300),
        "{:?} from noticed to 3 connections",
        took - noticed
    );
    Ok(())
}

async fn aborted_clients(ctx: &Ctx) -> anyhow::Result<i64> {
    let (_, value): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")
        .fetch_one(ctx.db.pool())
        .await?;
    Ok(value.parse()?)
}

/// The server counts (and logs) a client that vanishes without `COM_QUIT`; a dropped `Db` closes
/// its probe connections politely. (Runs alone: the counter is server-wide.)
async fn dropping_a_db_leaves_no_aborted_client(ctx: Ctx) -> anyhow::Result<()> {
    let before = aborted_clients(&ctx).await?;
    let db = Db::connect_with(ctx.url.parse()?, FAST).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(db.health_stats().pings >= 1, "{:?}", db.health_stats());
    drop(db);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = aborted_clients(&ctx).await?;
    ensure!(after == before, "{} aborted clients", after - before);
    Ok(())
}
