//! The operator at scale: N AlbumServices served by a fake API server; the real operator binary
//! code path (`lockstep_operator::run::run`, both controllers, watchers, reconciles, events)
//! connects to it through a kubeconfig. Measures the time until every service had its first
//! reconcile (its status written) and the operator's resident memory then.
//!
//! `cargo run --release -p lockstep-operator --example scale_bench [-- 1000 10000]`
//!
//! Three processes per N, so that memory is the operator's alone: this orchestrator, the fake
//! API server (`--serve N`), and the operator (`--operator`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a broken fixture stops it loudly

mod fake_api;

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

/// `--serve N`: print the address, then `done <secs> <requests> <writes>` when every service
/// was reconciled once.
async fn serve(n: usize) {
    let fake = fake_api::Fake::new(&template(), n);
    let handler = fake.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, body: axum::body::Bytes| {
            handler.clone().handle(method, uri, body)
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some((secs, requests, writes)) = fake.progress() {
            println!("done {secs} {requests} {writes}");
            std::io::stdout().flush().unwrap();
            // Stay up while the orchestrator reads the operator's memory.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
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

fn measure(n: usize) {
    let mut server = spawn(&["--serve", &n.to_string()], None);
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("listening ").unwrap().to_owned();
    let config = kubeconfig(&addr);
    let started = Instant::now();
    let mut operator = spawn(&["--operator"], Some(config.path()));
    let done = lines.next().unwrap().unwrap();
    let wall = started.elapsed();
    let fields: Vec<f64> = done
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap())
        .collect();
    let rss = status_kib(operator.id(), "VmRSS:");
    let peak = status_kib(operator.id(), "VmHWM:");
    let _ = operator.kill();
    let _ = server.kill();
    let _ = operator.wait();
    let _ = server.wait();
    println!(
        "{n:>6} AlbumServices: first full reconcile pass {:>6.2} s ({:.0} us/CR; {:.2} s incl. start-up), \
         {} API requests, {} writes; operator RSS {} MiB (peak {} MiB)",
        fields[0],
        fields[0] * 1e6 / n as f64,
        wall.as_secs_f64(),
        fields[1],
        fields[2],
        rss / 1024,
        peak / 1024
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("--serve") => runtime.block_on(serve(args[1].parse().unwrap())),
        Some("--operator") => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .init();
            let args = lockstep_operator::args::Args {
                http_addr: "127.0.0.1:0".parse().unwrap(),
                namespace: None,
                leader_election: false,
                lease_name: "unused".into(),
                lease_namespace: None,
                identity: Some("bench".into()),
                lease_seconds: 15,
                prometheus_url: None,
                concurrency: std::env::var("CONCURRENCY")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(16),
                log_json: false,
                manage_crds: false,
                api_timeout_seconds: 295,
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
            for n in sizes {
                measure(n);
            }
        }
    }
}
