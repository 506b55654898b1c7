//! Authorization as kube-apiserver's RBAC applies it ("Using RBAC Authorization"; the
//! apiserver's `Forbidden` status): the user is who the bearer token says, every request is
//! checked for its verb on `group`/`resource` (the status subresource separately), a denied
//! one is `403 Forbidden` naming user, verb, resource and namespace, and server-side apply
//! needs `create` as well as `patch` when the object does not exist yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use lockstep_fake_api::{FakeApi, Request};
use serde_json::json;

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

#[tokio::test]
async fn requests_are_authorized_per_user_verb_and_resource() {
    let fake = FakeApi::start().await.unwrap();
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let log = seen.clone();
    fake.authorize(move |r| {
        log.lock().unwrap().push(r.clone());
        r.user == "alice" && r.group.is_empty() && r.resource == "configmaps" && r.verb != "delete"
    });
    let alice: Api<ConfigMap> = Api::namespaced(fake.client_as("alice"), "shop");
    let bob: Api<ConfigMap> = Api::namespaced(fake.client_as("bob"), "shop");
    alice
        .create(&PostParams::default(), &config_map("a"))
        .await
        .unwrap();
    alice.list(&ListParams::default()).await.unwrap();

    let kube::Error::Api(denied) = bob.get("a").await.unwrap_err() else {
        panic!("not an API error")
    };
    assert_eq!((denied.code, denied.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denied.message,
        "configmaps \"a\" is forbidden: User \"bob\" cannot get resource \"configmaps\" \
         in API group \"\" in the namespace \"shop\""
    );
    let kube::Error::Api(denied) = alice.delete("a", &Default::default()).await.unwrap_err() else {
        panic!("not an API error")
    };
    assert_eq!(denied.code, 403);

    // The test's own client (no token) is an admin; the authorizer never sees it.
    let before = seen.lock().unwrap().len();
    let admin: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    admin.delete("a", &Default::default()).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), before);
    let verbs: Vec<(&str, Option<String>)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.verb, r.name.clone()))
        .collect();
    assert_eq!(
        verbs,
        vec![
            ("create", None),
            ("list", None),
            ("get", Some("a".into())),
            ("delete", Some("a".into()))
        ]
    );
}

#[tokio::test]
async fn apply_needs_create_only_for_a_missing_object() {
    let fake = FakeApi::start().await.unwrap();
    // patch, never create: an apply may change an object, not make one.
    fake.authorize(|r| r.verb == "patch" || r.verb == "get");
    let api: Api<ConfigMap> = Api::namespaced(fake.client_as("ops"), "shop");
    let apply = PatchParams::apply("ops").force();
    let kube::Error::Api(denied) = api
        .patch("b", &apply, &Patch::Apply(&config_map("b")))
        .await
        .unwrap_err()
    else {
        panic!("not an API error")
    };
    assert_eq!(denied.code, 403);
    assert!(
        denied
            .message
            .contains("cannot create resource \"configmaps\""),
        "{}",
        denied.message
    );

    let admin: Api<ConfigMap> = Api::namespaced(fake.client(), "shop");
    admin
        .create(&PostParams::default(), &config_map("b"))
        .await
        .unwrap();
    let mut changed = config_map("b");
    changed.data = Some([("a".to_owned(), "2".to_owned())].into());
    let applied = api
        .patch("b", &apply, &Patch::Apply(&changed))
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "2");
}

#[tokio::test]
async fn the_status_subresource_is_its_own_resource() {
    let fake = FakeApi::start().await.unwrap();
    fake.authorize(|r| r.resource == "configmaps");
    let api: Api<ConfigMap> = Api::namespaced(fake.client_as("ops"), "shop");
    api.create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    let kube::Error::Api(denied) = api
        .patch_status(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {}})),
        )
        .await
        .unwrap_err()
    else {
        panic!("not an API error")
    };
    assert!(
        denied
            .message
            .contains("cannot patch resource \"configmaps/status\""),
        "{}",
        denied.message
    );
}
