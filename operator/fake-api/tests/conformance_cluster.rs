//! Cluster-scoped objects: CustomResourceDefinitions as the apiextensions API server stores
//! them ("Extend the Kubernetes API with CustomResourceDefinitions").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

#[tokio::test]
async fn a_crd_is_cluster_scoped_and_established_once_accepted() {
    let fake = lockstep_fake_api::FakeApi::start().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(fake.client());
    let mut crd = lockstep_crd::crds().remove(0);
    let name = crd.metadata.name.clone().unwrap();
    let applied = crds
        .patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.namespace, None, "no namespace field");
    let status = applied
        .status
        .expect("the apiextensions controllers report");
    let established = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Established")
        .unwrap();
    assert_eq!(established.status, "True");
    assert_eq!(status.accepted_names.unwrap().kind, "AlbumService");
    assert_eq!(status.stored_versions, Some(vec!["v1alpha1".to_owned()]));

    // Re-applying the same CRD is a no-op; a changed schema is a new resourceVersion.
    let again = crds
        .patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
    crd.spec.versions[0].served = false;
    let changed = crds
        .patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    assert_ne!(
        changed.metadata.resource_version,
        applied.metadata.resource_version
    );
    assert!(!changed.spec.versions[0].served);
    assert_eq!(crds.list(&Default::default()).await.unwrap().items.len(), 1);
}
