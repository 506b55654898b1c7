//! The real controller on the fake API server keeping children as the revision says: a hand
//! edit of a Deployment, a Deployment of another renderer version, an edited Service and a
//! deleted ConfigMap are repaired as soon as their watch reports them (no idle requeue needed:
//! it is 300 s here); `restartAt` rolls the pods without a new revision; an invalid config
//! writes no child.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fake_support;

use std::time::Duration;

use fake_support::{Operator, create_rolling, fake, until, wait_for_phase};
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use lockstep_crd::AlbumService;
use lockstep_crd::status::Phase;
use lockstep_fake_api::FakeApi;
use serde_json::json;

/// Revision 1's Deployment's name (it carries the revision's hash).
async fn revision_1(deployments: &Api<Deployment>) -> String {
    let selector = ListParams::default().labels("lockstep.dev/revision=1");
    deployments.list(&selector).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap()
}

/// A Healthy Rolling service `albums` under a running operator: the fake, the service's API,
/// the operator, the Deployments' API and revision 1's Deployment name.
async fn healthy() -> (
    FakeApi,
    Api<AlbumService>,
    Operator,
    Api<Deployment>,
    String,
) {
    let fake = fake().await;
    let api = create_rolling(&fake, "albums").await;
    let operator = Operator::start(&fake);
    wait_for_phase(&api, "albums", Phase::Healthy).await;
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "shop");
    let name_1 = revision_1(&deployments).await;
    (fake, api, operator, deployments, name_1)
}

/// How many ControllerRevisions `shop` holds.
async fn revisions(fake: &FakeApi) -> usize {
    let revisions: Api<ControllerRevision> = Api::namespaced(fake.client(), "shop");
    revisions
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len()
}

fn image(d: &Deployment) -> Option<String> {
    d.spec.as_ref()?.template.spec.as_ref()?.containers[0]
        .image
        .clone()
}

#[tokio::test]
async fn children_edited_or_deleted_by_hand_are_repaired_at_once() {
    let (fake, _, operator, deployments, name_1) = healthy().await;
    let original = image(&deployments.get(&name_1).await.unwrap());

    // Someone sets a hotfix image by hand (another field manager).
    let hotfix = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "album", "image": "registry.example/album:hotfix"}]}}}});
    deployments
        .patch(
            &name_1,
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&hotfix),
        )
        .await
        .unwrap();
    until("the Deployment's image is the revision's again", || async {
        image(&deployments.get(&name_1).await.unwrap()) == original
    })
    .await;

    // A Deployment written by another renderer version (its render annotation differs) is
    // re-applied, which puts the current renderer's annotation back.
    let render = |d: &Deployment| {
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("lockstep.dev/render").cloned())
    };
    let current = render(&deployments.get(&name_1).await.unwrap());
    assert!(current.is_some(), "the operator renders the annotation");
    let older = json!({"metadata": {"annotations": {"lockstep.dev/render": "0"}}});
    deployments
        .patch(&name_1, &PatchParams::default(), &Patch::Merge(&older))
        .await
        .unwrap();
    until(
        "the Deployment is rendered by this version again",
        || async { render(&deployments.get(&name_1).await.unwrap()) == current },
    )
    .await;

    // The Service is pointed at a revision that does not exist, then deleted.
    let services: Api<Service> = Api::namespaced(fake.client(), "shop");
    let selects = |revision: &'static str| {
        let services = services.clone();
        async move {
            services.get_opt("albums").await.unwrap().is_some_and(|s| {
                s.spec.unwrap().selector.unwrap_or_default()["lockstep.dev/revision"] == revision
            })
        }
    };
    assert!(selects("1").await, "serving revision 1");
    let elsewhere = json!({"spec": {"selector": {"lockstep.dev/revision": "9"}}});
    services
        .patch("albums", &PatchParams::default(), &Patch::Merge(&elsewhere))
        .await
        .unwrap();
    until("the Service selects revision 1 again", || selects("1")).await;
    services
        .delete("albums", &DeleteParams::default())
        .await
        .unwrap();
    until("the Service is back", || selects("1")).await;

    // The revision's ConfigMap is deleted.
    let config_maps: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    let selector = ListParams::default().labels("lockstep.dev/service=albums");
    let name = config_maps.list(&selector).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    config_maps
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    until("the ConfigMap is back", || async {
        config_maps.get_opt(&name).await.unwrap().is_some()
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn restart_at_rolls_the_pods_without_a_new_revision() {
    let (fake, api, operator, deployments, name_1) = healthy().await;
    let restart = json!({"spec": {"restartAt": "2026-11-22T09:00:00Z"}});
    api.patch("albums", &PatchParams::default(), &Patch::Merge(&restart))
        .await
        .unwrap();
    until("the pod template carries the restart", || async {
        let d = deployments.get(&name_1).await.unwrap();
        let annotations = d.spec.unwrap().template.metadata.unwrap().annotations;
        annotations.is_some_and(|a| {
            a.get("lockstep.dev/restartedAt").map(String::as_str) == Some("2026-11-22T09:00:00Z")
        })
    })
    .await;
    operator.stop().await;
    assert_eq!(revisions(&fake).await, 1, "no new revision");
}

#[tokio::test]
async fn an_invalid_config_writes_no_child() {
    let (fake, api, operator, deployments, name_1) = healthy().await;
    let before = deployments
        .get(&name_1)
        .await
        .unwrap()
        .metadata
        .resource_version;
    // The CRD lets this through (a range the operator's config check owns); the operator
    // refuses it.
    let bad = json!({"spec": {"release": {"config": {"pagination": {"default_limit": 999}}}}});
    api.patch("albums", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap();
    until("ConfigValid=False", || async {
        let status = api.get("albums").await.unwrap().status.unwrap_or_default();
        status.conditions.iter().any(|c| {
            c.type_ == "ConfigValid"
                && c.status == "False"
                && c.message.contains("pagination.default_limit")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    operator.stop().await;
    let after = deployments
        .get(&name_1)
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(
        before, after,
        "the running revision's Deployment is untouched"
    );
    assert_eq!(
        revisions(&fake).await,
        1,
        "no revision for an invalid config"
    );
}
