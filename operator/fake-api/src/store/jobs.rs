//! The Job controller and the kubelet for Job pods, played at once when a Job is created
//! ([`Store::deployments_ready`] plays the controllers): one pod per Job (`backoffLimit` and
//! parallelism beyond one are not modelled), labelled `job-name` as the Job controller labels
//! it, run to the end by the test's [`JobRunner`] with the files its ConfigMap volumes mount,
//! its log kept for `GET …/pods/<name>/log`. The Job's status then carries the conditions
//! Kubernetes 1.31 sets: `SuccessCriteriaMet` and `Complete`, or `FailureTarget` and `Failed`
//! (`BackoffLimitExceeded`). A pod whose ConfigMap is missing waits, its Job active, and runs
//! once the ConfigMap is created (the kubelet retries the mount); `activeDeadlineSeconds` is not
//! modelled.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::job_run::{JobResult, JobRun, JobRunner};
use super::{Collection, Key, Store};

fn collection(prefix: &str, resource: &str) -> Collection {
    Collection {
        prefix: prefix.into(),
        resource: resource.into(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

impl Store {
    /// The files `pod`'s first container mounts from ConfigMaps; `Err` with the name of one
    /// that does not exist.
    fn mounted_files(
        &self,
        namespace: &str,
        pod: &Value,
    ) -> Result<BTreeMap<String, String>, String> {
        let container = &pod["containers"][0];
        let mut files = BTreeMap::new();
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            let Some(config_map) = volume["configMap"]["name"].as_str() else {
                continue;
            };
            let key = Key {
                collection: collection("/api/v1", "configmaps"),
                namespace: namespace.to_owned(),
                name: config_map.to_owned(),
            };
            let data = match self.get(&key) {
                Ok(config_map) => config_map["data"].clone(),
                Err(_) => return Err(config_map.to_owned()),
            };
            let mount = container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["name"] == volume["name"]);
            let Some(dir) = mount.and_then(|m| m["mountPath"].as_str()) else {
                continue;
            };
            for (file, text) in data.as_object().into_iter().flatten() {
                let path = format!("{}/{file}", dir.trim_end_matches('/'));
                files.insert(path, text.as_str().unwrap_or_default().to_owned());
            }
        }
        Ok(files)
    }

    /// Plays the Job controller and kubelet for the Job just created as `job`.
    pub(super) fn run_job(&mut self, namespace: &str, job: &Value) {
        let name = job["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let template = &job["spec"]["template"];
        let files = match self.mounted_files(namespace, &template["spec"]) {
            Ok(files) => files,
            Err(missing) => {
                // The kubelet retries the mount; the pod starts once the ConfigMap exists.
                self.waiting_jobs
                    .entry((namespace.to_owned(), missing))
                    .or_default()
                    .insert(name.clone());
                self.set_job_status(namespace, &name, json!({"active": 1}));
                return;
            }
        };
        let container = &template["spec"]["containers"][0];
        let run = JobRun {
            namespace: namespace.to_owned(),
            job: name.clone(),
            image: container["image"].as_str().unwrap_or_default().to_owned(),
            command: strings(&container["command"]),
            args: strings(&container["args"]),
            files,
        };
        let result = self.job_runner.clone().map_or(
            JobResult {
                exit_code: 0,
                log: String::new(),
            },
            |runner: Arc<JobRunner>| runner(&run),
        );
        let pod_name = format!("{name}-{}", self.uid % 100_000);
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["job-name"] = json!(name);
        labels["batch.kubernetes.io/job-name"] = json!(name);
        let (phase, reason) = if result.exit_code == 0 {
            ("Succeeded", "Completed")
        } else {
            ("Failed", "Error")
        };
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "labels": labels,
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                    "uid": job["metadata"]["uid"], "controller": true}]},
            "spec": template["spec"],
            "status": {"phase": phase, "containerStatuses": [{
                "name": container["name"], "image": run.image, "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": result.exit_code, "reason": reason}}}]}
        });
        self.insert_raw(&collection("/api/v1", "pods"), namespace, pod);
        self.pod_logs
            .insert((namespace.to_owned(), pod_name), result.log);
        let condition = |type_: &str, reason: &str, message: &str| {
            json!({"type": type_, "status": "True", "reason": reason, "message": message,
                   "lastProbeTime": "2026-01-01T00:00:00Z",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        let status = if result.exit_code == 0 {
            json!({"succeeded": 1, "conditions": [
                condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]})
        } else {
            let why = "Job has reached the specified backoff limit";
            json!({"failed": 1, "conditions": [
                condition("FailureTarget", "BackoffLimitExceeded", why),
                condition("Failed", "BackoffLimitExceeded", why)]})
        };
        self.set_job_status(namespace, &name, status);
    }

    /// Starts the Jobs of `namespace` whose pods waited for the ConfigMap `config_map`.
    pub(super) fn start_waiting_jobs(&mut self, namespace: &str, config_map: &str) {
        let waiting = self
            .waiting_jobs
            .remove(&(namespace.to_owned(), config_map.to_owned()))
            .unwrap_or_default();
        for name in waiting {
            let key = Key {
                collection: collection("/apis/batch/v1", "jobs"),
                namespace: namespace.to_owned(),
                name,
            };
            if let Ok(job) = self.get(&key) {
                self.run_job(namespace, &job);
            }
        }
    }

    fn set_job_status(&mut self, namespace: &str, name: &str, status: Value) {
        let key = Key {
            collection: collection("/apis/batch/v1", "jobs"),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        if let Ok(mut job) = self.get(&key) {
            job["status"] = status;
            self.insert_raw(&key.collection, namespace, job);
        }
    }

    /// The log of pod `name` in `namespace`, its last `tail` lines when given.
    pub fn pod_log(&self, namespace: &str, name: &str, tail: Option<usize>) -> Option<String> {
        let log = self
            .pod_logs
            .get(&(namespace.to_owned(), name.to_owned()))?;
        Some(match tail {
            None => log.clone(),
            Some(n) => {
                let lines: Vec<&str> = log.lines().collect();
                let mut tail = lines[lines.len().saturating_sub(n)..].join("\n");
                if log.ends_with('\n') && !tail.is_empty() {
                    tail.push('\n');
                }
                tail
            }
        })
    }
}
