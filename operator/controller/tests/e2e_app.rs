//! An `AppService` end to end: `examples/app-service.yaml` — static-web-server, an image that is
//! not one of ours, with its TOML config and a JSON Schema for it — deployed by the operator; a
//! config change (with a new image and schema) rolled out as a canary; a config that breaks the
//! schema refused with nothing rolled out; `rollbackTo` restoring image, config and schema
//! together. On the fake API server in every `cargo test`; on a cluster with
//! `LOCKSTEP_E2E_TARGET=cluster` (the kind workflow pulls the image).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed call fails the test

mod e2e_support;

use std::time::Duration;

use e2e_support::{Env, phase};
use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_crd::AppService;
use lockstep_crd::status::{Phase, ServiceStatus};
use serde_json::{Value, json};

fn example() -> AppService {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/app-service.yaml"
    );
    let mut doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // A short pause: the scenario checks the canary step, not the minute.
    doc["spec"]["rollout"]["steps"] = json!([{"setWeight": 25}, {"pause": {"duration": "2s"}}]);
    serde_json::from_value(doc).unwrap()
}

async fn status_of(api: &Api<AppService>) -> ServiceStatus {
    api.get("web").await.unwrap().status.unwrap_or_default()
}

async fn wait_for(api: &Api<AppService>, what: &str, pred: impl Fn(&ServiceStatus) -> bool) {
    for _ in 0..480 {
        if pred(&status_of(api).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "web: timed out waiting for {what}: {:?}",
        status_of(api).await
    );
}

async fn revisions(env: &Env) -> usize {
    Api::<ControllerRevision>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("lockstep.dev/service=web"))
        .await
        .unwrap()
        .items
        .len()
}

/// `kubectl lockstep <args>` in the test's namespace; its output.
async fn lockstep(env: &Env, args: &[&str]) -> String {
    use clap::Parser;
    let cli =
        kubectl_lockstep::cli::Cli::try_parse_from([&["kubectl-lockstep"], args].concat()).unwrap();
    let mut out = Vec::new();
    kubectl_lockstep::run_with(&env.client, &env.ns, &cli, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_app_service_rolls_out_refuses_a_bad_config_and_rolls_back() {
    let env = Env::new("apps").await;
    let api: Api<AppService> = Api::namespaced(env.client.clone(), &env.ns);
    api.create(&PostParams::default(), &example())
        .await
        .unwrap();
    let healthy = |rev: i64| {
        move |s: &ServiceStatus| phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(rev)
    };
    wait_for(&api, "revision 1 healthy", healthy(1)).await;
    env.assert_serves_config("web", "port = 8787").await;

    // Revision 2: a new image, a config key the old schema did not allow, and the schema
    // that allows it — one change, rolled out as a canary.
    let change = json!({"spec": {"release": {
        "version": "2.40.0",
        "image": "docker.io/joseluisq/static-web-server:2.40.0",
        "config": {"general": {"compression": true}},
        "configSchema": {"properties": {"general": {"properties": {"compression": {"type": "boolean"}}}}}
    }}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_for(&api, "the canary at step 0 or 1", |s| {
        s.current_revision == Some(2) && s.stable_revision == Some(1) && s.step.is_some()
    })
    .await;
    wait_for(&api, "revision 2 stable", healthy(2)).await;
    env.assert_serves_config("web", "compression = true").await;

    // Port 80 breaks the schema's minimum: refused, nothing rolled out.
    let bad = json!({"spec": {"release": {"config": {"general": {"port": 80}}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap();
    wait_for(&api, "the config refused", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "ConfigValid" && c.status == "False")
    })
    .await;
    let refused = status_of(&api).await;
    assert_eq!(refused.phase, Some(Phase::Degraded));
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains("/general/port") && message.contains("minimum"),
        "the pointer and the rule: {message}"
    );
    assert_eq!(revisions(&env).await, 2, "no revision for a refused config");
    assert_eq!(refused.current_revision, Some(2));
    env.assert_serves_config("web", "port = 8787").await;

    // What a user types: the history, then `kubectl lockstep undo web`. Image, config and
    // schema return together.
    let history = lockstep(&env, &["history", "appservice/web"]).await;
    assert!(
        history.contains("2.39.0") && history.contains("2.40.0"),
        "{history}"
    );
    lockstep(&env, &["undo", "web"]).await;
    wait_for(&api, "revision 1 stable again", healthy(1)).await;
    env.assert_serves_config("web", "port = 8787").await;
    let release = api.get("web").await.unwrap().spec.release;
    assert_eq!(
        release.image,
        "docker.io/joseluisq/static-web-server:2.39.0"
    );
    assert_eq!(
        release.config,
        example().spec.release.config,
        "the config of revision 1"
    );
    assert_eq!(
        release.config_schema,
        example().spec.release.config_schema,
        "the schema of revision 1"
    );
    env.teardown().await;
}

/// `rollout.preflight` on an `AppService`: before any pod of a new revision starts, its image
/// runs the named check with its config mounted. A config the schema accepts but the binary
/// refuses is refused with the check's last lines; a pass is recorded and never run again. The
/// fake API server plays the image (its Job runner); on a cluster this needs an image with a
/// check command, so the scenario runs on the fake only.
#[tokio::test]
async fn preflight_refuses_a_config_the_image_rejects_with_its_log() {
    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::batch::v1::Job;
    use lockstep_fake_api::{JobResult, JobRun};

    if e2e_support::on_cluster() {
        eprintln!("skipped on a cluster: the fake API server plays the checking image");
        return;
    }
    let mut env = Env::new("preflight").await;
    // The "image": its check refuses a root directory it does not have.
    env.fake().unwrap().store().job_runner = Some(Arc::new(|run: &JobRun| {
        let config = run
            .files
            .get("/etc/sws/config.toml")
            .cloned()
            .unwrap_or_default();
        let fine = config.contains("root = \"/public\"");
        JobResult {
            exit_code: i32::from(!fine),
            log: format!(
                "reading {}\n{}\n",
                run.command[1..].join(" "),
                if fine {
                    "ok"
                } else {
                    "error: root directory does not exist"
                }
            ),
        }
    }));
    let mut svc = example();
    svc.spec.rollout.preflight = Some(lockstep_crd::spec::Preflight {
        command: vec!["sws-check".into(), "/etc/sws/config.toml".into()],
        timeout_seconds: 60,
    });
    let api: Api<AppService> = Api::namespaced(env.client.clone(), &env.ns);
    api.create(&PostParams::default(), &svc).await.unwrap();
    wait_for(&api, "revision 1 healthy after its check", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(1)
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), &env.ns);
    let all = ListParams::default().labels("lockstep.dev/service=web");
    assert_eq!(jobs.list(&all).await.unwrap().items.len(), 1);
    let recorded = Api::<ControllerRevision>::namespaced(env.client.clone(), &env.ns)
        .list(&all)
        .await
        .unwrap()
        .items;
    assert_eq!(
        recorded[0].metadata.annotations.as_ref().unwrap()["lockstep.dev/preflight"],
        "passed"
    );

    // The schema allows any root; the image does not.
    let srv = json!({"spec": {"release": {"config": {"general": {"root": "/srv"}}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&srv))
        .await
        .unwrap();
    wait_for(&api, "revision 2 refused by its check", |s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "ConfigValid" && c.reason == "PreflightFailed")
    })
    .await;
    let refused = status_of(&api).await;
    assert_eq!(refused.phase, Some(Phase::Degraded));
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains("revision 2 failed preflight")
            && message
                .ends_with("reading /etc/sws/config.toml\nerror: root directory does not exist"),
        "the check's last lines: {message}"
    );
    let deployments = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .list(&all)
        .await
        .unwrap()
        .items;
    let revisions: Vec<_> = deployments
        .iter()
        .filter_map(|d| {
            d.metadata
                .labels
                .as_ref()?
                .get("lockstep.dev/revision")
                .cloned()
        })
        .collect();
    assert_eq!(revisions, ["1"], "no pod of revision 2");
    assert_eq!(refused.stable_revision, Some(1));

    // A restarted operator neither re-reads the log nor checks again: the refusal stands.
    env.restart_operator().await;
    let annotate = json!({"metadata": {"annotations": {"touch": "1"}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status_of(&api).await.message, Some(message.clone()));
    assert_eq!(jobs.list(&all).await.unwrap().items.len(), 2);

    // The directory now exists in the image: deleting the failed Job runs the check again.
    env.fake().unwrap().store().job_runner = None;
    let of_two = ListParams::default().labels("lockstep.dev/service=web,lockstep.dev/revision=2");
    let failed = jobs.list(&of_two).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    jobs.delete(&failed, &Default::default()).await.unwrap();
    wait_for(&api, "revision 2 healthy after its second check", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;

    // Back to revision 1: a rollback, not checked again (it passed once anyway).
    let back = json!({"spec": {"release": {"config": {"general": {"root": "/public"}}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&back))
        .await
        .unwrap();
    wait_for(&api, "revision 1 healthy, unchecked", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(1)
    })
    .await;
    assert_eq!(
        jobs.list(&all).await.unwrap().items.len(),
        2,
        "one Job per checked revision"
    );
    env.teardown().await;
}
