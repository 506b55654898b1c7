//! The Deployment controller and kubelet, played instantly: ready replicas follow the spec
//! unless a mounted ConfigMap is missing.

use serde_json::{Value, json};

use super::{Change, Collection, Store};

fn config_maps() -> Collection {
    Collection {
        prefix: "/api/v1".into(),
        resource: "configmaps".into(),
    }
}

fn deployments() -> Collection {
    Collection {
        prefix: "/apis/apps/v1".into(),
        resource: "deployments".into(),
    }
}

impl Store {
    /// The status a Deployment would reach: every replica ready, or none while a ConfigMap
    /// volume of its pod template does not exist in `namespace`.
    pub(super) fn deployment_status(&self, namespace: &str, deployment: &Value) -> Value {
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let present = |name: &str| {
            self.objects
                .get(&config_maps())
                .is_some_and(|m| m.contains_key(&(namespace.to_owned(), name.to_owned())))
        };
        let mounts_present = deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["configMap"]["name"].as_str())
            .all(present);
        let ready = if mounts_present { replicas } else { 0 };
        json!({"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
               "availableReplicas": ready, "observedGeneration": deployment["metadata"]["generation"]})
    }

    /// Re-evaluates the Deployments of `namespace` after a ConfigMap appeared or went.
    pub(super) fn kubelet(&mut self, namespace: &str) {
        let names: Vec<String> = self
            .objects
            .get(&deployments())
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|(ns, _)| ns == namespace)
            .map(|(_, name)| name.clone())
            .collect();
        for name in names {
            let key = (namespace.to_owned(), name);
            let Some(current) = self.objects.get(&deployments()).and_then(|m| m.get(&key)) else {
                continue;
            };
            let status = self.deployment_status(namespace, &current.object);
            if current.object["status"] == status {
                continue;
            }
            self.rv += 1;
            let rv = self.rv;
            if let Some(stored) = self
                .objects
                .get_mut(&deployments())
                .and_then(|m| m.get_mut(&key))
            {
                stored.object["status"] = status;
                stored.object["metadata"]["resourceVersion"] = json!(rv.to_string());
                let object = stored.object.clone();
                self.log.push(Change {
                    rv,
                    collection: deployments(),
                    kind: "MODIFIED",
                    object,
                });
            }
        }
    }
}
