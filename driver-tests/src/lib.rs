//! # driver-tests — the testbench for `lockstep-tidb`
//!
//! ```text
//!  env (target.rs) ──► targets: servers by URL | containers (containers.rs, testcontainers)
//!                          │
//!  suites/*.rs ── cases ──►│ run_case (fresh.rs): CREATE DATABASE dt_… ─► Db ─► case ─► DROP
//!                          ▼
//!  tests/suites.rs (libtest-mimic: one test per target × case) and bin `testbench`
//! ```
//!
//! Every case runs on every selected target. No target means failure with a message saying how
//! to provide one; `DRIVER_TESTS_OPT_OUT=1` is the only way to run nothing.

pub mod bench;
pub mod containers;
pub mod fresh;
pub mod inject;
pub mod proxy;
pub mod suites;
pub mod target;

use target::{Selection, Source, TargetKind};

/// Targets ready for cases: each with its admin URL. Holds the containers it started; dropping
/// it removes them.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `(kind, admin URL)` of every target.
    pub targets: Vec<(TargetKind, String)>,
    containers: Vec<containers::Running>,
}

impl Prepared {
    /// Starts the containers a selection asks for.
    pub async fn start(selection: &Selection) -> anyhow::Result<Prepared> {
        let mut prepared = Prepared::default();
        let Selection::Targets(specs) = selection else {
            return Ok(prepared);
        };
        for spec in specs {
            let url = match &spec.source {
                Source::Url(url) => url.clone(),
                Source::Container => {
                    let running = containers::start(spec.kind).await?;
                    let url = running.url.clone();
                    prepared.containers.push(running);
                    url
                }
            };
            prepared.targets.push((spec.kind, url));
        }
        Ok(prepared)
    }
}
