//! Helpers shared by the fake API server's conformance tests.
#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use lockstep_fake_api::FakeApi;
use serde_json::{Value, json};

pub(crate) fn cm(name: &str, labels: Value, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": data}))
    .unwrap()
}

pub(crate) fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}))
    .unwrap()
}

pub(crate) fn code(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("not an API error: {other}"),
    }
}

pub(crate) async fn setup() -> (FakeApi, Api<ConfigMap>, Api<Deployment>) {
    let fake = FakeApi::start_with(Default::default(), Duration::from_millis(100))
        .await
        .unwrap();
    let client = fake.client();
    (
        fake,
        Api::namespaced(client.clone(), "shop"),
        Api::namespaced(client, "shop"),
    )
}
