//! Reconcile decision cost per custom resource: render the config, hash the revision, decide the
//! rollout and plan the API calls — everything a reconcile does besides IO.
//!
//! `cargo run --release -p lockstep-operator --example plan_bench [-- N]` (default 10,000)
//!
//! Prints µs per CR for a first reconcile (new revision) and a steady-state reconcile (which
//! plans zero writes), and the resident memory of N services with their observed state.
#![allow(clippy::unwrap_used)] // a benchmark: a broken fixture should stop it loudly

use std::hint::black_box;
use std::time::Instant;

use lockstep_crd::AlbumService;
use lockstep_operator::model::apply_to_model;
use lockstep_operator::plan::{Cluster, plan};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service.yaml"
    );
    let template: AlbumService =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let before = rss_kib();
    let mut services: Vec<(AlbumService, Cluster)> = (0..n)
        .map(|i| {
            let mut svc = template.clone();
            svc.metadata.name = Some(format!("albums-{i}"));
            svc.metadata.namespace = Some("bench".into());
            svc.metadata.uid = Some(format!("uid-{i}"));
            svc.spec.release.config.server.request_timeout_ms = 1000 + i as u64;
            (svc, Cluster::default())
        })
        .collect();

    let started = Instant::now();
    for (svc, cluster) in &mut services {
        for action in plan(svc, cluster, 1_800_000_000, None).actions {
            apply_to_model(svc, cluster, &action, true);
        }
    }
    let first = started.elapsed();
    // Settle: the rollout completes on the next pass.
    for (svc, cluster) in &mut services {
        for action in plan(svc, cluster, 1_800_000_000, None).actions {
            apply_to_model(svc, cluster, &action, true);
        }
    }
    if std::env::var_os("PLAN_BENCH_DEBUG").is_some() {
        let (svc, cluster) = &services[0];
        eprintln!("{:#?}", plan(svc, cluster, 1_800_000_060, None).actions);
    }
    let started = Instant::now();
    let mut writes = 0;
    for (svc, cluster) in &services {
        writes += black_box(plan(svc, cluster, 1_800_000_060, None))
            .actions
            .len();
    }
    let steady = started.elapsed();
    let after = rss_kib();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("{n} AlbumServices");
    println!(
        "first reconcile (new revision): {:>8.1} us/CR  ({:.2} s for all)",
        per(first),
        first.as_secs_f64()
    );
    println!(
        "steady-state reconcile:         {:>8.1} us/CR  ({:.2} s for all), writes planned: {writes}",
        per(steady),
        steady.as_secs_f64()
    );
    println!(
        "resident memory for {n} services with their revisions and state: {} MiB (process total {} MiB)",
        (after - before) / 1024,
        after / 1024
    );
}
