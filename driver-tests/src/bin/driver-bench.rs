//! `driver-bench`: measures lockstep-tidb against raw sqlx on the same server.
//!
//! * default: point select / insert / update, autocommit and explicit transaction, raw sqlx and
//!   the driver interleaved round by round in one run; prints µs/op and driver/raw ratios.
//! * `--only raw|driver --op <op>:<mode>`: one side only, for `valgrind --tool=callgrind`
//!   instruction counts (see `driver-tests/bench/callgrind.sh`).
//! * `--contention`: N tasks × M increments of one row with injected 9007 conflicts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::{Parser, ValueEnum};
use driver_tests::bench::{Tally, measure, ratio};
use driver_tests::fresh::{Ctx, with_database};
use driver_tests::suites::concurrency::{COUNTER_DDL, increment_concurrently};
use driver_tests::target::TargetKind;
use lockstep_tidb::policy::{AttemptError, run_with_retry};
use lockstep_tidb::{Db, HealthCheck, RetryPolicy};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

#[derive(Debug, Parser)]
struct Args {
    /// Admin URL of the server to measure on (a fresh database is created and dropped).
    #[arg(
        long,
        env = "DRIVER_BENCH_URL",
        default_value = "mysql://root@127.0.0.1:3306/test"
    )]
    url: String,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Operations per side per round (or in total with --only).
    #[arg(long, default_value_t = 300)]
    iters: u64,
    /// Measure one side only (for callgrind).
    #[arg(long, value_enum)]
    only: Option<Side>,
    /// With --only: which operation, as `<op>:<mode>`.
    #[arg(long, default_value = "point_select:autocommit")]
    op: String,
    /// Run the contention benchmark instead.
    #[arg(long)]
    contention: bool,
    /// Contention: concurrent tasks.
    #[arg(long, default_value_t = 16)]
    tasks: usize,
    /// Contention: increments per task.
    #[arg(long, default_value_t = 500)]
    increments: usize,
    /// Contention: percentage of updates failed with 9007.
    #[arg(long, default_value_t = 30)]
    conflict_percent: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Side {
    Raw,
    Driver,
}

/// Every (operation, mode) pair measured.
const COMBOS: [(&str, &str); 6] = [
    ("point_select", "autocommit"),
    ("point_select", "transaction"),
    ("insert", "autocommit"),
    ("insert", "transaction"),
    ("update", "autocommit"),
    ("update", "transaction"),
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = args.url.clone();
    runtime.block_on(with_database(
        TargetKind::Mariadb,
        &url,
        "bench",
        move |ctx| Box::pin(run(ctx, args)),
    ))
}

async fn run(ctx: Ctx, args: Args) -> anyhow::Result<()> {
    if args.contention {
        return contention(ctx, &args).await;
    }
    ctx.exec_all(&["CREATE TABLE bench (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64) NOT NULL)"]).await?;
    ctx.exec_all(&["INSERT INTO bench (k, v) SELECT seq, CONCAT('value-', seq) FROM (SELECT a.n * 100 + b.n * 10 + c.n + 1 AS seq FROM (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a, (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b, (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c) s"]).await?;
    // The driver's health checker would add a handshake every interval; per-operation cost is
    // what is measured here, so it is pushed out of the run.
    let quiet = HealthCheck {
        interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
        max_backoff: Duration::from_secs(3600),
    };
    let db = Db::connect_with(format!("{}?max-connections=4", ctx.url).parse()?, quiet).await?;
    let raw = MySqlPoolOptions::new()
        .max_connections(4)
        .connect(&ctx.url)
        .await?;
    let policy = db.retry_policy();
    let sides = Sides {
        raw: &raw,
        db: &db,
        policy: &policy,
    };
    if let Some(side) = args.only {
        let (op, mode) = args.op.split_once(':').unwrap_or((&args.op, "autocommit"));
        let mut tally = Tally::default();
        one(&sides, side, op, mode, args.iters, &mut tally).await?;
        println!(
            "{side:?} {op}:{mode} {:.1} us/op over {} ops",
            tally.micros_per_op(),
            tally.ops
        );
        return Ok(());
    }
    let mut tallies = vec![(Tally::default(), Tally::default()); COMBOS.len()];
    for round in 0..args.rounds {
        for (i, (op, mode)) in COMBOS.into_iter().enumerate() {
            let (raw_t, drv_t) = &mut tallies[i];
            // Alternate which side goes first so that warm caches favour neither.
            let order = if round % 2 == 0 {
                [Side::Raw, Side::Driver]
            } else {
                [Side::Driver, Side::Raw]
            };
            for side in order {
                let tally = if side == Side::Raw {
                    &mut *raw_t
                } else {
                    &mut *drv_t
                };
                one(&sides, side, op, mode, args.iters, tally).await?;
            }
        }
    }
    println!(
        "server: {}  rounds: {}  ops per side per round: {}",
        db.server().raw,
        args.rounds,
        args.iters
    );
    println!(
        "{:<13} {:<12} {:>10} {:>10} {:>7}",
        "op", "mode", "raw us/op", "drv us/op", "ratio"
    );
    let mut log_sum = 0.0;
    for (i, (op, mode)) in COMBOS.into_iter().enumerate() {
        let (raw_t, drv_t) = &tallies[i];
        let r = ratio(drv_t, raw_t);
        log_sum += r.ln();
        println!(
            "{op:<13} {mode:<12} {:>10.1} {:>10.1} {:>7.3}",
            raw_t.micros_per_op(),
            drv_t.micros_per_op(),
            r
        );
    }
    println!(
        "geometric mean ratio: {:.3}",
        (log_sum / tallies.len() as f64).exp()
    );
    Ok(())
}

/// The two things compared: a raw sqlx pool and the driver with its retry policy.
struct Sides<'a> {
    raw: &'a MySqlPool,
    db: &'a Db,
    policy: &'a RetryPolicy,
}

/// Runs `n` operations of one kind on one side.
async fn one(
    sides: &Sides<'_>,
    side: Side,
    op: &str,
    mode: &str,
    n: u64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let Sides { raw, db, policy } = *sides;
    let sql: &'static str = match op {
        "point_select" => "SELECT v FROM bench WHERE id = ?",
        "insert" => "INSERT INTO bench (k, v) VALUES (?, 'inserted')",
        "update" => "UPDATE bench SET k = k + 1 WHERE id = ?",
        other => anyhow::bail!("unknown op `{other}` (point_select, insert, update)"),
    };
    let transactional = match mode {
        "autocommit" => false,
        "transaction" => true,
        other => anyhow::bail!("unknown mode `{other}` (autocommit, transaction)"),
    };
    measure(tally, n, |i| {
        let id = (i % 1000 + 1) as i64;
        async move {
            match (side, transactional) {
                (Side::Raw, false) => {
                    sqlx::query(sql).bind(id).execute(raw).await?;
                }
                (Side::Raw, true) => {
                    let mut tx = raw.begin().await?;
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                }
                (Side::Driver, false) => {
                    run_with_retry(policy, |_| async {
                        sqlx::query(sql)
                            .bind(id)
                            .execute(db.pool())
                            .await
                            .map_err(|e| AttemptError::from(lockstep_tidb::Error::from(e)))
                    })
                    .await?;
                }
                (Side::Driver, true) => {
                    db.transaction_with_policy(policy, |tx| {
                        Box::pin(async move {
                            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                            Ok(())
                        })
                    })
                    .await?;
                }
            }
            Ok(())
        }
    })
    .await
}

async fn contention(ctx: Ctx, args: &Args) -> anyhow::Result<()> {
    ctx.exec_all(&COUNTER_DDL).await?;
    driver_tests::inject::fail_counter_updates_randomly(&ctx, args.conflict_percent).await?;
    let db = Arc::new(
        Db::connect_with(
            format!("{}?max-connections={}", ctx.url, args.tasks).parse()?,
            HealthCheck::default(),
        )
        .await?,
    );
    let policy = RetryPolicy {
        max_attempts: 60,
        max_elapsed: Duration::from_secs(600),
        ..db.retry_policy()
    };
    let started = Instant::now();
    increment_concurrently(
        db.clone(),
        policy.clone(),
        args.tasks,
        args.increments,
        true,
    )
    .await?;
    let elapsed = started.elapsed();
    let v: i64 = sqlx::query_scalar("SELECT v FROM counter WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    let want = (args.tasks * args.increments) as i64;
    let s = policy.metrics.snapshot();
    println!("server: {}", db.server().raw);
    println!(
        "{} tasks x {} increments, {}% injected 9007",
        args.tasks, args.increments, args.conflict_percent
    );
    println!(
        "final count {v} of {want}; transactions {} attempts {} retries {} exhausted {} failed {}",
        s.transactions,
        s.attempts,
        s.total_retries(),
        s.exhausted,
        s.failed
    );
    println!(
        "success {:.1}%  elapsed {:.1} s  throughput {:.0} committed tx/s",
        100.0 * v as f64 / want as f64,
        elapsed.as_secs_f64(),
        v as f64 / elapsed.as_secs_f64()
    );
    ensure!(
        v == want && s.exhausted == 0 && s.failed == 0,
        "lost or failed increments"
    );
    Ok(())
}
