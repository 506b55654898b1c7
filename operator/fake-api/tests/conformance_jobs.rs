//! The Job controller and kubelet the fake plays (`Store::deployments_ready`), as a client sees
//! them: a Job's pod labelled `job-name`, run with the files its ConfigMap volumes mount, its
//! log at `pods/<name>/log` (`tailLines`), and the Job's `Complete` or `Failed` condition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, LogParams, PostParams};
use lockstep_fake_api::{FakeApi, JobResult, JobRun};
use serde_json::json;

fn job(name: &str, config_map: &str) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": {"app": "check"}},
            "spec": {"restartPolicy": "Never",
                "containers": [{"name": "app", "image": "registry.example/echo:1",
                    "args": ["check", "/etc/echo/echo.toml"],
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/echo"}]}],
                "volumes": [{"name": "config", "configMap": {"name": config_map}}]}}}
    }))
    .unwrap()
}

async fn condition(jobs: &Api<Job>, name: &str) -> Option<(String, Option<String>)> {
    for _ in 0..100 {
        let job = jobs.get(name).await.unwrap();
        let done = job
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True");
        if let Some(c) = done {
            return Some((c.type_, c.reason));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn a_job_runs_its_pod_with_the_mounted_files_and_keeps_its_log() {
    let fake = FakeApi::start().await.unwrap();
    fake.store().deployments_ready = true;
    // The "image": exits 1 when its config says `port = 80`, and says why.
    fake.store().job_runner = Some(Arc::new(|run: &JobRun| {
        let config = run
            .files
            .get("/etc/echo/echo.toml")
            .cloned()
            .unwrap_or_default();
        let bad = config.contains("port = 80\n");
        JobResult {
            exit_code: i32::from(bad),
            log: format!(
                "line 1\nline 2\nchecked {} with {:?}\n{}\n",
                run.image,
                run.args,
                if bad { "port 80 needs root" } else { "ok" }
            ),
        }
    }));
    let client = fake.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "shop");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    for (name, port) in [("good", 8080), ("bad", 80)] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name},
            "data": {"echo.toml": format!("port = {port}\n")}}))
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let created = jobs
            .create(&PostParams::default(), &job(name, name))
            .await
            .unwrap();
        assert!(
            created.status.is_none(),
            "the create answers with the Job as created"
        );
    }
    assert_eq!(
        condition(&jobs, "good").await,
        Some(("Complete".into(), Some("CompletionsReached".into())))
    );
    assert_eq!(
        condition(&jobs, "bad").await,
        Some(("Failed".into(), Some("BackoffLimitExceeded".into())))
    );

    let of_bad = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .unwrap()
        .items;
    assert_eq!(of_bad.len(), 1, "one pod, labelled by its Job");
    let pod = &of_bad[0];
    assert_eq!(
        pod.metadata.labels.as_ref().unwrap()["app"],
        "check",
        "the template's labels"
    );
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    let name = pod.metadata.name.clone().unwrap();
    let tail = LogParams {
        tail_lines: Some(2),
        ..LogParams::default()
    };
    let log = pods.logs(&name, &tail).await.unwrap();
    assert_eq!(
        log,
        "checked registry.example/echo:1 with [\"check\", \"/etc/echo/echo.toml\"]\nport 80 needs root\n"
    );
    assert!(
        pods.logs(&name, &LogParams::default())
            .await
            .unwrap()
            .starts_with("line 1\n")
    );
    assert!(
        pods.logs("no-such-pod", &LogParams::default())
            .await
            .is_err(),
        "404"
    );

    // A pod whose ConfigMap does not exist waits, its Job active; it runs once it appears.
    jobs.create(&PostParams::default(), &job("waiting", "missing"))
        .await
        .unwrap();
    let waiting = jobs.get("waiting").await.unwrap().status.unwrap();
    assert_eq!((waiting.active, waiting.conditions), (Some(1), None));
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "missing"},
        "data": {"echo.toml": "port = 8080\n"}}))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(
        condition(&jobs, "waiting").await,
        Some(("Complete".into(), Some("CompletionsReached".into())))
    );
}
