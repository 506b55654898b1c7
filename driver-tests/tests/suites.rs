//! Runs every suite case on every target as its own test (`<target>::<suite>::<case>`).
//!
//! A custom harness (libtest-mimic) so that the list of tests follows the targets chosen by the
//! environment, and so that containers are started once per run, not once per test.

use std::process::ExitCode;

use driver_tests::target::{Selection, select_from_env};
use driver_tests::{Prepared, fresh, suites};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let selection = match select_from_env() {
        Ok(selection) => selection,
        Err(help) => {
            eprintln!("{help}");
            return ExitCode::FAILURE;
        }
    };
    if selection == Selection::OptedOut {
        // Every case is listed as ignored, so the summary counts what the opt-out skipped
        // instead of reporting a clean "0 passed".
        eprintln!("driver-tests: DRIVER_TESTS_OPT_OUT=1, no database suite runs");
        let trials = suites::all()
            .into_iter()
            .map(|case| {
                let name = format!("opted-out::{}::{}", case.suite, case.name);
                Trial::test(name, || Ok(())).with_ignored_flag(true)
            })
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("driver-tests: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Listing must not start containers.
    let prepared = if args.list {
        Prepared::default()
    } else {
        match runtime.block_on(Prepared::start(&selection)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("driver-tests: cannot prepare targets: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    };
    let kinds: Vec<_> = match &selection {
        Selection::Targets(specs) => specs.iter().map(|s| s.kind).collect(),
        Selection::OptedOut => Vec::new(),
    };
    let handle = runtime.handle().clone();
    let mut trials = Vec::new();
    for kind in kinds {
        let url = prepared
            .targets
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, u)| u.clone());
        for case in suites::all() {
            let (handle, url) = (handle.clone(), url.clone());
            let name = format!("{kind}::{}::{}", case.suite, case.name);
            trials.push(Trial::test(name, move || {
                let url = url.ok_or_else(|| Failed::from("target was not prepared"))?;
                handle
                    .block_on(fresh::run_case(kind, &url, &case))
                    .map_err(|e| Failed::from(format!("{e:#}")))
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(prepared);
    conclusion.exit_code()
}
