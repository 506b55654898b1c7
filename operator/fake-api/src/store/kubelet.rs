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
    /// The ConfigMap volumes of `deployment`'s pod template that do not exist in `namespace`.
    fn missing_mounts(&self, namespace: &str, deployment: &Value) -> Vec<String> {
        deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["configMap"]["name"].as_str())
            .filter(|name| {
                !self
                    .objects
                    .get(&config_maps())
                    .is_some_and(|m| m.contains_key(&(namespace.to_owned(), (*name).to_owned())))
            })
            .map(str::to_owned)
            .collect()
    }

    /// The status a Deployment would reach: every replica ready, or none while a ConfigMap
    /// volume of its pod template does not exist in `namespace` (then it waits for that
    /// ConfigMap: [`Store::kubelet`] looks at it again when it appears).
    pub(super) fn deployment_status(
        &mut self,
        namespace: &str,
        name: &str,
        deployment: &Value,
    ) -> Value {
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let missing = self.missing_mounts(namespace, deployment);
        for config_map in &missing {
            self.waiting
                .entry((namespace.to_owned(), config_map.clone()))
                .or_default()
                .insert(name.to_owned());
        }
        let ready = if missing.is_empty() { replicas } else { 0 };
        json!({"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
               "availableReplicas": ready, "observedGeneration": deployment["metadata"]["generation"]})
    }

    /// Re-evaluates the Deployments of `namespace` waiting for the ConfigMap `config_map`
    /// after it appeared.
    pub(super) fn kubelet(&mut self, namespace: &str, config_map: &str) {
        let names = self
            .waiting
            .remove(&(namespace.to_owned(), config_map.to_owned()))
            .unwrap_or_default();
        for name in names {
            let key = (namespace.to_owned(), name.clone());
            let Some(current) = self
                .objects
                .get(&deployments())
                .and_then(|m| m.get(&key))
                .map(|s| s.object.clone())
            else {
                continue;
            };
            let status = self.deployment_status(namespace, &name, &current);
            if current["status"] == status {
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
                self.record(Change {
                    rv,
                    collection: deployments(),
                    kind: "MODIFIED",
                    object,
                });
            }
        }
    }
}
