//! `testbench`: runs every suite against the configured targets and prints a report.
//!
//! Targets come from the same environment variables as the test harness; with none set it uses
//! `--default-url` (the local MariaDB) and says so.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use driver_tests::target::{Selection, Source, TargetKind, TargetSpec, select_from_env};
use driver_tests::{Prepared, fresh, suites};

/// Run the lockstep-tidb suites against TiDB, MySQL or MariaDB.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// MariaDB admin URL used when no DRIVER_TESTS_* variable names a target.
    #[arg(
        long,
        env = "TESTBENCH_DEFAULT_URL",
        default_value = "mysql://root@127.0.0.1:3306/test"
    )]
    default_url: String,
    /// Only run cases whose `<suite>::<case>` name contains this text.
    #[arg(long, default_value = "")]
    filter: String,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let selection = match select_from_env() {
        Ok(Selection::OptedOut) => {
            println!("DRIVER_TESTS_OPT_OUT=1: nothing to run");
            return Ok(ExitCode::SUCCESS);
        }
        Ok(selection) => selection,
        Err(_) => {
            println!(
                "no DRIVER_TESTS_* target set; using the default MariaDB at {}",
                args.default_url
            );
            Selection::Targets(vec![TargetSpec {
                kind: TargetKind::Mariadb,
                source: Source::Url(args.default_url.clone()),
            }])
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&selection, &args.filter))
}

async fn run(selection: &Selection, filter: &str) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::start(selection).await?;
    let (mut passed, mut failed) = (0u32, 0u32);
    for (kind, url) in &prepared.targets {
        println!("== {kind} ({})", lockstep_tidb::options::redact(url));
        for case in suites::all()
            .iter()
            .filter(|c| format!("{}::{}", c.suite, c.name).contains(filter))
        {
            let started = Instant::now();
            let outcome = fresh::run_case(*kind, url, case).await;
            let ms = started.elapsed().as_millis();
            match outcome {
                Ok(()) => {
                    passed += 1;
                    println!("  ok    {:>6} ms  {}::{}", ms, case.suite, case.name);
                }
                Err(e) => {
                    failed += 1;
                    println!("  FAIL  {:>6} ms  {}::{}: {e:#}", ms, case.suite, case.name);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
