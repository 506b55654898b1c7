//! Two `lockstep-operator` processes (the real binary: signal handling, caches, controllers,
//! leader election) against the fake API server: SIGTERM to the leader releases the Lease, and
//! the standby — its caches already warm, `/readyz` 200 — holds it in under 2 s. Before the fix
//! the leader's future was dropped before its release ran and the standby waited for expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use lockstep_fake_api::FakeApi;

fn kubeconfig(fake: &FakeApi, user: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters: [{{name: fake, cluster: {{server: '{}'}}}}]\n\
         users: [{{name: fake, user: {{token: {user}}}}}]\n\
         contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: lockstep}}}}]\n",
        fake.client_url()
    )
    .unwrap();
    file
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Replica {
    child: Child,
    port: u16,
    _config: tempfile::NamedTempFile,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(fake: &FakeApi, identity: &str) -> Replica {
    let config = kubeconfig(fake, identity);
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_lockstep-operator"))
        .env("KUBECONFIG", config.path())
        .env("POD_NAME", identity)
        .env("POD_NAMESPACE", "lockstep")
        .env("LOCKSTEP_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("LOCKSTEP_LOG_JSON", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Replica {
        child,
        port,
        _config: config,
    }
}

async fn holder(fake: &FakeApi) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(fake.client(), "lockstep");
    leases
        .get_opt("lockstep-operator")
        .await
        .unwrap()?
        .spec?
        .holder_identity
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status code of `GET /readyz`, or 0 while nothing answers.
async fn readyz(port: u16) -> u16 {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn sigterm_hands_the_lease_to_a_warm_standby_within_two_seconds() {
    let fake = FakeApi::start().await.unwrap();
    fake.install_crds(&lockstep_crd::crds());
    let mut a = start(&fake, "operator-a");
    wait_until("operator-a leads", || async {
        holder(&fake).await.as_deref() == Some("operator-a")
    })
    .await;
    let b = start(&fake, "operator-b");
    wait_until("the standby's caches are synced", || async {
        readyz(b.port).await == 200
    })
    .await;
    assert_eq!(
        holder(&fake).await.as_deref(),
        Some("operator-a"),
        "b stands by"
    );

    let terminated = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until("operator-b leads", || async {
        holder(&fake).await.as_deref() == Some("operator-b")
    })
    .await;
    let takeover = terminated.elapsed();
    eprintln!("SIGTERM to the leader → standby holds the Lease: {takeover:?}");
    assert!(takeover < Duration::from_secs(2), "{takeover:?}");
    let exited = a.child.wait().unwrap();
    assert!(exited.success(), "the old leader exits cleanly: {exited}");
}
