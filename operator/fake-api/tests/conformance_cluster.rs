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
    let apply = |crd: &CustomResourceDefinition| {
        let (crds, name, crd) = (crds.clone(), name.clone(), crd.clone());
        async move {
            let params = PatchParams::apply("test").force();
            crds.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .unwrap()
        }
    };
    let applied = apply(&crd).await;
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
    let again = apply(&crd).await;
    assert_eq!(
        again.metadata.resource_version,
        applied.metadata.resource_version
    );
    crd.spec.versions[0].served = false;
    let changed = apply(&crd).await;
    assert_ne!(
        changed.metadata.resource_version,
        applied.metadata.resource_version
    );
    assert!(!changed.spec.versions[0].served);
    assert_eq!(crds.list(&Default::default()).await.unwrap().items.len(), 1);
}

/// "Validation", "Defaulting", "Pruning" and "Validation rules" of CustomResourceDefinitions:
/// with the CRD installed, a custom resource is pruned, defaulted and checked on every write
/// (create, merge patch, status); a refusal is 422 and changes nothing.
#[tokio::test]
async fn custom_resources_are_admitted_by_their_installed_crd() {
    use kube::api::PostParams;
    use lockstep_crd::AlbumService;
    use serde_json::{Value, json};

    let fake = lockstep_fake_api::FakeApi::start().await.unwrap();
    fake.install_crds(&lockstep_crd::crds());
    let albums: Api<kube::api::DynamicObject> = Api::namespaced_with(
        fake.client(),
        "shop",
        &kube::api::ApiResource::erase::<AlbumService>(&()),
    );
    let example = || -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/album-service.yaml"
        );
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let create = |body: Value| {
        let albums = albums.clone();
        async move {
            albums
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(body).unwrap(),
                )
                .await
        }
    };
    let refused = |result: Result<kube::api::DynamicObject, kube::Error>| match result {
        Err(kube::Error::Api(status)) if status.code == 422 => status.message,
        other => panic!("not refused: {other:?}"),
    };

    let mut body = example();
    body["spec"]["extra"] = json!(1);
    let stored = create(body).await.unwrap();
    assert!(stored.data["spec"].get("extra").is_none(), "pruned");
    assert_eq!(stored.data["spec"]["revisionHistoryLimit"], 5, "defaulted");

    // The example named `name`, changed by `edit`.
    let variant = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut body = example();
        body["metadata"]["name"] = json!(name);
        edit(&mut body);
        body
    };
    let too_many = variant("too-many", &|b| b["spec"]["replicas"] = json!(5000));
    let message = refused(create(too_many).await);
    assert!(
        message.starts_with("AlbumService.lockstep.dev \"too-many\" is invalid: spec.replicas"),
        "{message}"
    );
    let decreasing = variant("decreasing", &|b| {
        b["spec"]["rollout"]["steps"][2]["setWeight"] = json!(10);
    });
    assert!(refused(create(decreasing).await).contains("setWeight must not decrease"));

    // The pause duration that once stopped every LIST of the kind is refused at admission now.
    let soon = variant("soon", &|b| {
        b["spec"]["rollout"]["steps"][1]["pause"]["duration"] = json!("soon");
    });
    assert!(
        refused(create(soon).await).contains("spec.rollout.steps[1].pause.duration"),
        "refused"
    );
    let no_image = variant("no-image", &|b| b["spec"]["release"]["image"] = json!(""));
    assert!(refused(create(no_image).await).contains("spec.release.image"));

    let patch = kube::api::Patch::Merge(json!({"spec": {"replicas": -1}}));
    let params = kube::api::PatchParams::default();
    assert!(refused(albums.patch("albums", &params, &patch).await).contains("spec.replicas"));
    assert_eq!(
        albums.get("albums").await.unwrap().data["spec"]["replicas"],
        4
    );
    let status = kube::api::Patch::Merge(json!({"status": {"phase": "Exploded"}}));
    assert!(
        refused(albums.patch_status("albums", &params, &status).await).contains("status.phase")
    );
}

/// "Subresources" of CustomResourceDefinitions: a custom resource has `/status` exactly when its
/// installed CRD declares `subresources.status` — a write to the main resource then keeps the
/// stored status, a `/status` write keeps everything else — and without its CRD it has none.
#[tokio::test]
async fn a_crd_that_declares_status_gets_the_status_subresource() {
    use kube::api::PostParams;
    use lockstep_crd::AppService;
    use serde_json::json;

    let fake = lockstep_fake_api::FakeApi::start().await.unwrap();
    let resource = kube::api::ApiResource::erase::<AppService>(&());
    let apps: Api<kube::api::DynamicObject> =
        Api::namespaced_with(fake.client(), "shop", &resource);
    let body = |name: &str| {
        serde_json::from_value::<kube::api::DynamicObject>(json!({
            "apiVersion": "lockstep.dev/v1alpha1",
            "kind": "AppService",
            "metadata": {"name": name},
            "spec": {
                "release": {
                    "version": "1", "image": "registry.example/echo:1",
                    "config": {"port": 8080},
                    "configFile": {"mountPath": "/etc/echo", "fileName": "echo.toml", "format": "toml"}
                },
                "pod": {"ports": [{"name": "http", "containerPort": 8080}]}
            },
            "status": {"phase": "Healthy"}
        }))
        .unwrap()
    };
    // No CRD: a plain resource, the status is written with the rest.
    let plain = apps
        .create(&PostParams::default(), &body("plain"))
        .await
        .unwrap();
    assert_eq!(plain.data["status"]["phase"], "Healthy");

    fake.install_crds(&lockstep_crd::crds());
    let made = apps
        .create(&PostParams::default(), &body("echo"))
        .await
        .unwrap();
    assert!(made.data.get("status").is_none(), "create ignores status");
    let patch = |v: serde_json::Value| Patch::Merge(v);
    let main = apps
        .patch(
            "echo",
            &PatchParams::default(),
            &patch(json!({"status": {"phase": "Healthy"}, "spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert!(
        main.data.get("status").is_none(),
        "status written through the main resource"
    );
    assert_eq!(main.data["spec"]["replicas"], 3);
    let status = apps
        .patch_status(
            "echo",
            &PatchParams::default(),
            &patch(json!({"status": {"phase": "Healthy"}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["phase"], "Healthy");
    assert_eq!(
        status.data["spec"]["replicas"], 3,
        "spec written through /status"
    );
}
