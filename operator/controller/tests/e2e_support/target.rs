//! Where the scenarios run: the CRDs on a real cluster, or a fake API server with them.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// A fake API server with the CRDs installed, playing the Deployment controller and kubelet.
pub(super) async fn fake_api() -> lockstep_fake_api::FakeApi {
    let mut store = lockstep_fake_api::Store::default();
    store.deployments_ready = true;
    let fake = lockstep_fake_api::FakeApi::start_with(store, Duration::from_secs(1))
        .await
        .expect("start the fake API server");
    fake.install_crds(&lockstep_crd::crds());
    fake
}

pub(super) async fn ensure_crds(client: &Client) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in lockstep_crd::crds() {
        let name = crd.name_any();
        if api
            .get_opt(&name)
            .await
            .expect("reach the cluster")
            .is_none()
        {
            api.patch(
                &name,
                &PatchParams::apply("lockstep-e2e"),
                &Patch::Apply(&crd),
            )
            .await
            .expect("install the CRD");
        }
        for _ in 0..60 {
            let established = api
                .get(&name)
                .await
                .ok()
                .and_then(|c| c.status)
                .is_some_and(|s| {
                    s.conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
