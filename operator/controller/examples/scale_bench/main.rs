//! The operator at scale: N AlbumServices served by `lockstep-fake-api` (real watches, CRD
//! admission, Deployments ready at once); the real operator code path
//! (`lockstep_operator::run::run`: caches, both controllers, reconciles, events) connects to it
//! through a kubeconfig. Measures the time until every service had its first reconcile (its
//! status written) and until every one is Healthy, the operator's resident memory then, and —
//! idle phase — the requests and writes of `IDLE_SECS` seconds (default 60) with nothing to do.
//!
//! `cargo run --release -p lockstep-operator --example scale_bench [-- 1000 10000]`
//! (`PODS=4`: that many running pods per service in the fake, for the pod cache's memory)
//!
//! Three processes per N, so that memory is the operator's alone: this orchestrator, the fake
//! API server (`--serve N`), and the operator (`--operator`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a broken fixture stops it loudly

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn template() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service.yaml"
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn albums() -> lockstep_fake_api::Collection {
    lockstep_fake_api::Collection {
        prefix: "/apis/lockstep.dev/v1alpha1".into(),
        resource: "albumservices".into(),
    }
}

/// `(services with a status, services Healthy)`.
fn progress(fake: &lockstep_fake_api::FakeApi) -> (usize, usize) {
    let all = fake.store().list(&albums(), None, None);
    let with_status = all.iter().filter(|s| !s["status"].is_null()).count();
    let healthy = all
        .iter()
        .filter(|s| s["status"]["phase"] == "Healthy")
        .count();
    (with_status, healthy)
}

/// `--serve N`: print the address; `reconciled <secs>` when every service has a status,
/// `healthy <secs> <requests> <writes>` when every one is Healthy, then after `idle` seconds
/// with nothing to do `idle <secs> <requests> <writes> <watches>` (watch requests apart).
async fn serve(n: usize, idle: u64) {
    let mut store = lockstep_fake_api::Store::default();
    store.deployments_ready = true;
    let fake = lockstep_fake_api::FakeApi::start_with(store, Duration::from_secs(60))
        .await
        .unwrap();
    fake.install_crds(&lockstep_crd::crds());
    {
        let mut store = fake.store();
        for i in 0..n {
            let mut svc = template();
            svc["metadata"] = serde_json::json!({"name": format!("album-{i}")});
            store.create(&albums(), "bench", svc, "bench").unwrap();
        }
    }
    let pods = pods_per_service();
    if pods > 0 {
        let mut store = fake.store();
        for i in 0..n {
            for p in 0..pods {
                store
                    .create(&pods_collection(), "bench", pod(i, p), "bench")
                    .unwrap();
            }
        }
    }
    fake.reset_counters();
    println!("listening {}", fake.addr);
    std::io::stdout().flush().unwrap();
    let started = Instant::now();
    let mut reconciled = false;
    loop {
        // Each look locks and copies the whole collection: not too often.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (with_status, healthy) = progress(&fake);
        if !reconciled && with_status == n {
            reconciled = true;
            println!("reconciled {}", started.elapsed().as_secs_f64());
        }
        if healthy == n {
            let c = fake.counters();
            println!(
                "healthy {} {} {}",
                started.elapsed().as_secs_f64(),
                c.total(),
                c.writes()
            );
            break;
        }
    }
    // Let the last watch events and status writes land, then count an idle stretch.
    tokio::time::sleep(Duration::from_secs(5)).await;
    fake.reset_counters();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let c = fake.counters();
    let watches: u64 = c
        .by_verb
        .iter()
        .filter(|((verb, _), _)| verb == "watch")
        .map(|(_, n)| n)
        .sum();
    println!(
        "idle {idle} {} {} {watches}",
        c.total() - watches,
        c.writes()
    );
    std::io::stdout().flush().unwrap();
    // Stay up while the orchestrator reads the operator's memory.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// `PODS`: running pods per service (default 0: the fake plays the Deployment controller by
/// setting ready replicas and creates no pods), so the operator's pod cache is measured too.
fn pods_per_service() -> usize {
    std::env::var("PODS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn pods_collection() -> lockstep_fake_api::Collection {
    lockstep_fake_api::Collection {
        prefix: "/api/v1".into(),
        resource: "pods".into(),
    }
}

/// A running, ready pod of service `i`'s revision 1, as a kubelet reports it.
fn pod(i: usize, p: usize) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "name": format!("album-{i}-1-{p:05}"),
            "labels": {"lockstep.dev/service": format!("album-{i}"), "lockstep.dev/revision": "1",
                       "app.kubernetes.io/name": "album", "pod-template-hash": "6d8f9c7b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": format!("album-{i}-1-6d8f9c7b5"), "uid": format!("rs-{i}")}]
        },
        "spec": {"containers": [{"name": "album", "image": "ghcr.io/lockstep-dev/album-service:1.4.2",
                                 "ports": [{"name": "http", "containerPort": 8080}]}],
                 "nodeName": "node-1"},
        "status": {
            "phase": "Running", "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
            "startTime": "2026-11-30T10:00:00Z", "qosClass": "Burstable",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-30T10:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T10:00:05Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-30T10:00:05Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-30T10:00:00Z"}],
            "containerStatuses": [{"name": "album", "ready": true, "started": true, "restartCount": 0,
                "image": "ghcr.io/lockstep-dev/album-service:1.4.2",
                "imageID": "ghcr.io/lockstep-dev/album-service@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "containerID": "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "state": {"running": {"startedAt": "2026-11-30T10:00:01Z"}}}]
        }
    })
}

fn kubeconfig(addr: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: 'http://{addr}'}}}}]\n\
         users: [{{name: fake, user: {{token: bench}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: bench}}}}]\n"
    )
    .unwrap();
    file
}

fn spawn(args: &[&str], kubeconfig: Option<&std::path::Path>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(args).stdout(Stdio::piped());
    if let Some(path) = kubeconfig {
        cmd.env("KUBECONFIG", path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
    }
    cmd.spawn().unwrap()
}

fn fields(line: &str, tag: &str) -> Vec<f64> {
    let rest = line
        .strip_prefix(tag)
        .unwrap_or_else(|| panic!("expected {tag}: {line}"));
    rest.split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect()
}

fn measure(n: usize, idle: u64) {
    let mut server = spawn(&["--serve", &n.to_string(), &idle.to_string()], None);
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening ").unwrap().to_owned();
    let config = kubeconfig(&addr);
    let started = Instant::now();
    let mut operator = spawn(&["--operator"], Some(config.path()));
    let reconciled = fields(&lines.next().unwrap().unwrap(), "reconciled ");
    let healthy = fields(&lines.next().unwrap().unwrap(), "healthy ");
    let wall = started.elapsed();
    let rss = status_kib(operator.id(), "VmRSS:");
    let peak = status_kib(operator.id(), "VmHWM:");
    let idle_line = fields(&lines.next().unwrap().unwrap(), "idle ");
    let idle_rss = status_kib(operator.id(), "VmRSS:");
    let _ = operator.kill();
    let _ = server.kill();
    let _ = operator.wait();
    let _ = server.wait();
    let per_min_per_1000 = idle_line[1] * 60.0 / idle_line[0] * 1000.0 / n as f64;
    // Watch restarts do not grow with the number of services: a rate for the whole operator.
    let with_watches_per_min = (idle_line[1] + idle_line[3]) * 60.0 / idle_line[0];
    println!(
        "{n:>6} AlbumServices: first full reconcile pass {:>6.2} s ({:.0} us/CR), all Healthy {:.2} s \
         ({:.2} s incl. start-up), {} API requests, {} writes; operator RSS {} MiB (peak {} MiB)\n\
         {:>6} idle for {} s: {} requests besides {} watch (re)starts, {} writes = {:.2} requests/min per 1000 services, {:.2}/min for the operator with the watch restarts; RSS {} MiB",
        reconciled[0],
        reconciled[0] * 1e6 / n as f64,
        healthy[0],
        wall.as_secs_f64(),
        healthy[1],
        healthy[2],
        rss / 1024,
        peak / 1024,
        "",
        idle_line[0],
        idle_line[1],
        idle_line[3],
        idle_line[2],
        per_min_per_1000,
        with_watches_per_min,
        idle_rss / 1024,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("--serve") => {
            runtime.block_on(serve(args[1].parse().unwrap(), args[2].parse().unwrap()))
        }
        Some("--operator") => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .init();
            let args = lockstep_operator::run::args::Args {
                concurrency: std::env::var("CONCURRENCY")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(16),
                ..lockstep_operator::run::args::Args::in_process("bench")
            };
            runtime
                .block_on(lockstep_operator::run::run(args))
                .expect("operator");
        }
        _ => {
            let sizes: Vec<usize> = if args.is_empty() {
                vec![1_000, 10_000]
            } else {
                args.iter().map(|a| a.parse().unwrap()).collect()
            };
            let idle = std::env::var("IDLE_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            for n in sizes {
                measure(n, idle);
            }
        }
    }
}
