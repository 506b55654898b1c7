//! `--manage-crds` against the fake API server: a CRD left behind by an older chart (Helm never
//! upgrades `crds/`) is replaced by the operator's own — a property it added appears, one it
//! dropped goes although Helm's field manager owns it — an unchanged one is left alone, a
//! missing one is a typed error, and every call is one the chart's CRD role grants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::api::{Api, PostParams};
use lockstep_fake_api::{ApiError, FakeApi, Refusal};
use lockstep_operator::cluster::crds::{CrdError, ensure, established};
use lockstep_operator::run::rbac::{Scope, call_of};

/// `crd` as an older release shipped it: without `spec.retry`, with a `spec.legacy` since
/// dropped.
fn older(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let schema = crd.spec.versions[0].schema.as_mut().unwrap();
    let spec = schema
        .open_api_v3_schema
        .as_mut()
        .unwrap()
        .properties
        .as_mut()
        .unwrap()
        .get_mut("spec")
        .unwrap();
    let properties = spec.properties.as_mut().unwrap();
    assert!(
        properties.remove("retry").is_some(),
        "the current CRD has spec.retry"
    );
    properties.insert("legacy".into(), JSONSchemaProps::default());
    crd
}

/// Stores `crd` as `helm install` does: created by Helm's field manager.
async fn helm_installs(api: &Api<CustomResourceDefinition>, crd: &CustomResourceDefinition) {
    let params = PostParams {
        field_manager: Some("helm".into()),
        ..PostParams::default()
    };
    api.create(&params, crd).await.unwrap();
}

/// The resourceVersion of every stored CRD.
async fn resource_versions(api: &Api<CustomResourceDefinition>) -> Vec<Option<String>> {
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.resource_version)
        .collect()
}

#[tokio::test]
async fn old_crds_are_replaced_by_the_operators_own() {
    let fake = FakeApi::start().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(fake.client());
    for crd in lockstep_crd::crds() {
        helm_installs(&api, &older(crd)).await;
    }
    let old = api.get("albumservices.lockstep.dev").await.unwrap();
    fake.reset_counters();

    ensure(&fake.client(), Duration::from_secs(5))
        .await
        .unwrap();

    for want in lockstep_crd::crds() {
        let name = want.metadata.name.clone().unwrap();
        let got = api.get(&name).await.unwrap();
        assert_eq!(
            serde_json::to_value(&got.spec).unwrap(),
            serde_json::to_value(&want.spec).unwrap(),
            "{name} is the operator's own"
        );
        assert!(established(&got), "{name} is served");
        let spec = &serde_json::to_value(&got.spec).unwrap()["versions"][0]["schema"]["openAPIV3Schema"]
            ["properties"]["spec"]["properties"];
        assert!(spec["retry"].is_object() && spec["legacy"].is_null());
    }
    let album = api.get("albumservices.lockstep.dev").await.unwrap();
    assert_ne!(
        album.metadata.resource_version,
        old.metadata.resource_version
    );

    // Every call falls under the CRD role the chart grants.
    let allowed = lockstep_operator::run::rbac::PERMISSIONS
        .iter()
        .find(|p| p.scope == Scope::Crds)
        .unwrap();
    for (verb, resource) in fake.counters().by_verb.keys() {
        assert_eq!(resource, "customresourcedefinitions");
        assert!(allowed.verbs.contains(&verb.as_str()), "{verb} is granted");
    }
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/albumservices.lockstep.dev";
    assert_eq!(call_of("PUT", path, false).unwrap().verb, "update");

    // A second start changes nothing.
    let before = resource_versions(&api).await;
    ensure(&fake.client(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        before,
        resource_versions(&api).await,
        "an unchanged CRD is not rewritten"
    );
}

#[tokio::test]
async fn a_missing_crd_is_an_error_naming_it() {
    let fake = FakeApi::start().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(fake.client());
    helm_installs(&api, &older(lockstep_crd::crds().remove(0))).await;
    fake.reset_counters();
    let error = ensure(&fake.client(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CrdError::Missing { name } if name == "noteservices.lockstep.dev"),
        "{error}"
    );
    assert!(
        fake.counters()
            .by_verb
            .keys()
            .all(|(verb, _)| verb != "create")
    );
}

#[tokio::test]
async fn a_refused_write_names_the_crd() {
    let fake = FakeApi::start().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(fake.client());
    for crd in lockstep_crd::crds() {
        helm_installs(&api, &crd).await;
    }
    fake.refuse(Refusal {
        verb: Some("update"),
        resource: Some("customresourcedefinitions".into()),
        error: ApiError::new(
            403,
            "Forbidden",
            "customresourcedefinitions.apiextensions.k8s.io \"albumservices.lockstep.dev\" is forbidden",
        ),
        times: 1,
    });
    let error = ensure(&fake.client(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CrdError::Apply { name, .. } if name == "albumservices.lockstep.dev"),
        "{error}"
    );
    assert!(error.to_string().contains("forbidden"), "{error}");
}

/// Why `ensure` replaces instead of applying: with server-side apply, a property that Helm's
/// field manager owns survives although this build's CRD dropped it.
#[tokio::test]
async fn server_side_apply_would_keep_a_dropped_property() {
    use kube::api::{Patch, PatchParams};
    let fake = FakeApi::start().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(fake.client());
    let current = lockstep_crd::crds().remove(0);
    helm_installs(&api, &older(current.clone())).await;
    let applied = api
        .patch(
            "albumservices.lockstep.dev",
            &PatchParams::apply("lockstep-operator").force(),
            &Patch::Apply(&current),
        )
        .await
        .unwrap();
    let spec = &serde_json::to_value(&applied.spec).unwrap()["versions"][0]["schema"]["openAPIV3Schema"]
        ["properties"]["spec"]["properties"];
    assert!(spec["legacy"].is_object(), "kept: owned by helm");
}

/// Two replicas starting together write the same CRD: the one that loses the race gets 409
/// Conflict on its stale resourceVersion, reads again and succeeds.
#[tokio::test]
async fn a_lost_race_with_another_replica_is_retried() {
    let fake = FakeApi::start().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(fake.client());
    for crd in lockstep_crd::crds() {
        helm_installs(&api, &older(crd)).await;
    }
    fake.refuse(Refusal {
        verb: Some("update"),
        resource: Some("customresourcedefinitions".into()),
        error: ApiError::new(409, "Conflict", "the object has been modified"),
        times: 1,
    });
    ensure(&fake.client(), Duration::from_secs(5))
        .await
        .unwrap();
    let updates =
        fake.counters().by_verb[&("update".to_owned(), "customresourcedefinitions".to_owned())];
    assert_eq!(
        updates,
        1 + lockstep_crd::crds().len() as u64,
        "one refused, then every CRD written"
    );
    let album = api.get("albumservices.lockstep.dev").await.unwrap();
    let spec = &serde_json::to_value(&album.spec).unwrap()["versions"][0]["schema"]["openAPIV3Schema"]
        ["properties"]["spec"]["properties"];
    assert!(spec["retry"].is_object(), "written after the retry");
}
