//! The e2e suite's environment: a namespace per test, the operator, and polling helpers.
//!
//! Where the scenarios run (`LOCKSTEP_E2E_TARGET`): `fake` (the default) is the in-repo fake API
//! server, which plays the Deployment controller and kubelet, so every `cargo test` compiles and
//! runs the cluster tier; `cluster` is the cluster of `KUBECONFIG` (kind in
//! `.github/workflows/e2e.yml`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

#[path = "../rbac_support/mod.rs"]
mod rbac_support;
mod target;
pub mod traffic;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AlbumService;
use lockstep_crd::status::{Phase, ServiceStatus};
use serde_json::{Value, json};

/// How long a scenario may wait for one state (`LOCKSTEP_E2E_TIMEOUT` seconds, default 240).
fn timeout() -> Duration {
    let secs = std::env::var("LOCKSTEP_E2E_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    Duration::from_secs(secs)
}

/// `LOCKSTEP_E2E_TARGET=cluster`: a real cluster; anything else the fake API server.
pub fn on_cluster() -> bool {
    std::env::var("LOCKSTEP_E2E_TARGET").as_deref() == Ok("cluster")
}

enum Operator {
    /// `lockstep_operator::run::run` on a task of this test, watching its namespace only.
    InProcess(tokio::task::JoinHandle<()>),
    /// An installed operator (Helm chart) in this namespace.
    Cluster(String),
}

/// One test's namespace and operator.
pub struct Env {
    pub client: Client,
    /// The client the in-process operator runs with.
    operator_client: Client,
    pub ns: String,
    operator: Operator,
    /// The fake API server the scenario runs on (`None` on a cluster).
    fake: Option<lockstep_fake_api::FakeApi>,
}

fn start_operator(client: &Client, ns: &str) -> tokio::task::JoinHandle<()> {
    let args = lockstep_operator::run::args::Args {
        namespace: Some(ns.to_owned()),
        concurrency: 4,
        // On a real cluster the CRDs the suite installed are replaced by this build's own:
        // the `--manage-crds` path, with concurrent operators racing on the same CRDs.
        manage_crds: true,
        ..lockstep_operator::run::args::Args::in_process(&format!("e2e-{ns}"))
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(e) = lockstep_operator::run::run_with(client, args).await {
            eprintln!("operator stopped: {e}");
        }
    })
}

impl Env {
    /// A fresh namespace for `test` with the operator watching it.
    pub async fn new(test: &str) -> Env {
        let fake = if on_cluster() {
            None
        } else {
            Some(target::fake_api().await)
        };
        let client = match &fake {
            Some(fake) => fake.client(),
            None => Client::try_default().await.expect(
                "LOCKSTEP_E2E_TARGET=cluster needs a cluster: set KUBECONFIG (see operator/README.md)",
            ),
        };
        if fake.is_none() {
            target::ensure_crds(&client).await;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let ns = format!("lockstep-e2e-{test}-{nanos:x}");
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": {"name": ns, "labels": {"lockstep.dev/e2e": "true"}}
        }))
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create the test namespace");
        // On the fake the operator runs as the chart's service account: exactly
        // `rbac::PERMISSIONS`, a call outside them is 403 as on a cluster.
        let operator_client = match &fake {
            Some(fake) => rbac_support::operator_client(fake),
            None => client.clone(),
        };
        let operator = match std::env::var("LOCKSTEP_E2E_OPERATOR").as_deref() {
            Ok("cluster") => Operator::Cluster(
                std::env::var("LOCKSTEP_E2E_OPERATOR_NAMESPACE")
                    .unwrap_or_else(|_| "lockstep".into()),
            ),
            _ => Operator::InProcess(start_operator(&operator_client, &ns)),
        };
        Env {
            client,
            operator_client,
            ns,
            operator,
            fake,
        }
    }

    fn api(&self) -> Api<AlbumService> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create(&self, svc: AlbumService) {
        self.api()
            .create(&PostParams::default(), &svc)
            .await
            .expect("create the AlbumService");
    }

    /// Merge-patches `spec` (what `kubectl lockstep` does).
    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.api()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("patch the spec");
    }

    pub async fn get(&self, name: &str) -> AlbumService {
        self.api().get(name).await.expect("get the AlbumService")
    }

    pub async fn status(&self, name: &str) -> ServiceStatus {
        self.get(name).await.status.unwrap_or_default()
    }

    pub async fn deployments(&self, name: &str) -> Vec<Deployment> {
        Api::<Deployment>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default().labels(&format!("lockstep.dev/service={name}")))
            .await
            .expect("list Deployments")
            .items
    }

    /// The Deployment the Service `name` sends traffic to (its selector's revision) mounts a
    /// ConfigMap whose config file contains `needle`. Only that one: a previous revision kept
    /// warm for undo still mounts its own config, as it should.
    pub async fn assert_serves_config(&self, name: &str, needle: &str) {
        let service =
            Api::<k8s_openapi::api::core::v1::Service>::namespaced(self.client.clone(), &self.ns)
                .get(name)
                .await
                .expect("the Service");
        let revision = service
            .spec
            .and_then(|s| s.selector)
            .and_then(|s| s.get("lockstep.dev/revision").cloned())
            .expect("the Service selects one revision at rest");
        let serving: Vec<Deployment> = self
            .deployments(name)
            .await
            .into_iter()
            .filter(|d| {
                d.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("lockstep.dev/revision"))
                    == Some(&revision)
            })
            .collect();
        assert_eq!(serving.len(), 1, "one Deployment of revision {revision}");
        let volume = serving[0]
            .spec
            .clone()
            .and_then(|s| s.template.spec)
            .and_then(|p| p.volumes)
            .and_then(|v| v.into_iter().find(|v| v.name == "config"))
            .and_then(|v| v.config_map)
            .expect("a config volume");
        let cms = Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns);
        let cm = cms
            .get(&volume.name)
            .await
            .expect("the revision's ConfigMap");
        // One file per revision: `config.yaml`, or an AppService's own name.
        let text = cm
            .data
            .unwrap_or_default()
            .into_values()
            .next()
            .unwrap_or_default();
        assert!(
            text.contains(needle),
            "{} serves\n{text}\nwithout {needle:?}",
            volume.name
        );
    }

    /// Stops the operator and starts it again.
    pub async fn restart_operator(&mut self) {
        match &mut self.operator {
            Operator::InProcess(task) => {
                task.abort();
                let _ = (&mut *task).await;
                *task = start_operator(&self.operator_client, &self.ns);
            }
            Operator::Cluster(ns) => {
                let pods = Api::<Pod>::namespaced(self.client.clone(), ns);
                let selector =
                    ListParams::default().labels("app.kubernetes.io/name=lockstep-operator");
                pods.delete_collection(&DeleteParams::default(), &selector)
                    .await
                    .expect("delete the operator pods");
                let deadline = tokio::time::Instant::now() + timeout();
                loop {
                    let ready = pods
                        .list(&selector)
                        .await
                        .expect("list operator pods")
                        .items
                        .iter()
                        .any(|p| {
                            p.metadata.deletion_timestamp.is_none()
                                && p.status
                                    .as_ref()
                                    .and_then(|s| s.conditions.as_ref())
                                    .is_some_and(|c| {
                                        c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                                    })
                        });
                    if ready {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "operator did not come back"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Whether the scenario runs on the fake API server.
    pub fn on_fake(&self) -> bool {
        self.fake.is_some()
    }

    /// The fake API server the scenario runs on (`None` on a cluster).
    pub fn fake(&self) -> Option<&lockstep_fake_api::FakeApi> {
        self.fake.as_ref()
    }

    /// Stops the operator and deletes the namespace (kept when the test failed before this).
    pub async fn teardown(self) {
        if let Operator::InProcess(task) = &self.operator {
            task.abort();
        }
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.ns, &DeleteParams::background())
            .await;
    }
}

/// The phase of a status.
pub fn phase(s: &ServiceStatus) -> Option<Phase> {
    s.phase
}

/// Polls `name` until `pred(status)`; fails with the last status and the events otherwise.
pub async fn wait_for(
    env: &Env,
    name: &str,
    what: &str,
    pred: impl Fn(&ServiceStatus) -> bool,
) -> ServiceStatus {
    let deadline = tokio::time::Instant::now() + timeout();
    loop {
        let status = env.status(name).await;
        if pred(&status) {
            return status;
        }
        if tokio::time::Instant::now() >= deadline {
            let events =
                Api::<k8s_openapi::api::events::v1::Event>::namespaced(env.client.clone(), &env.ns)
                    .list(&ListParams::default())
                    .await
                    .map(|l| {
                        l.items
                            .iter()
                            .map(|e| format!("{:?}: {:?}", e.reason, e.note))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
            panic!(
                "timed out waiting for {name}: {what}\nstatus: {}\nevents: {events:#?}",
                serde_json::to_string_pretty(&status).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `name` created as a canary (2 pods, steps 50 % then pause) and deployed Healthy as
/// revision 1 (a first deploy skips the steps).
pub async fn healthy_canary(env: &Env, name: &str) -> ServiceStatus {
    env.create(album(
        name,
        2,
        &[json!({"setWeight": 50}), json!({"pause": {}})],
    ))
    .await;
    wait_for(env, name, "first deploy healthy", |s| {
        s.phase == Some(Phase::Healthy)
    })
    .await
}

/// A canary waiting for promote: [`healthy_canary`], then a new version and config (log level
/// debug) rolled out to the pause.
pub async fn paused_canary(env: &Env, name: &str) -> ServiceStatus {
    healthy_canary(env, name).await;
    env.patch_spec(
        name,
        json!({"release": {"version": "1.0.1", "config": {"log": {"level": "debug"}}}}),
    )
    .await;
    wait_for(env, name, "paused at 50 %", |s| {
        s.phase == Some(Phase::Paused)
    })
    .await
}

/// The example AlbumService, named `name`, running the e2e image on the embedded SQLite
/// database, Canary with `steps` (Rolling when empty).
pub fn album(name: &str, replicas: i32, steps: &[Value]) -> AlbumService {
    let image = match std::env::var("LOCKSTEP_E2E_IMAGE") {
        Ok(image) => image,
        Err(_) if !on_cluster() => "ghcr.io/lockstep-dev/album-service:e2e".to_owned(),
        Err(_) => {
            panic!("LOCKSTEP_E2E_IMAGE: the album-service image the cluster can run (kind load)")
        }
    };
    album_with_image(name, replicas, steps, &image)
}

/// [`album`] with an explicit image.
pub fn album_with_image(name: &str, replicas: i32, steps: &[Value], image: &str) -> AlbumService {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service.yaml"
    );
    let mut doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["metadata"] = json!({ "name": name });
    doc["spec"]["release"]["image"] = json!(image);
    doc["spec"]["release"]["config"]["database"] = json!({"sqlite_path": "/tmp/albums.db"});
    doc["spec"]["replicas"] = json!(replicas);
    doc["spec"]["rollout"] = json!({
        "strategy": if steps.is_empty() { "Rolling" } else { "Canary" },
        "steps": steps,
        "progressDeadlineSeconds": 120,
    });
    doc["spec"]["pod"]["env"] = json!([]);
    serde_json::from_value(doc).expect("a valid AlbumService")
}
