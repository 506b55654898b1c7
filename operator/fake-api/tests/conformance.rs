//! The fake API server checked against the API conventions it claims to follow, through a real
//! `kube::Client`: create, read, list, write, apply, delete. Each test names the convention;
//! watches and faults are in `conformance_watch.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{cm, code, deployment, setup};

/// API Concepts, "Create": the server sets uid, resourceVersion and (for objects with a spec)
/// generation 1; a second create of the name is 409 AlreadyExists; a missing object is 404.
#[tokio::test]
async fn create_get_and_already_exists() {
    let (_fake, cms, _) = setup().await;
    let made = cms
        .create(
            &PostParams::default(),
            &cm("a", json!({}), json!({"k": "v"})),
        )
        .await
        .unwrap();
    assert!(made.metadata.uid.is_some() && made.metadata.resource_version.is_some());
    let again = cms
        .create(&PostParams::default(), &cm("a", json!({}), json!({})))
        .await
        .unwrap_err();
    assert_eq!(code(again), (409, "AlreadyExists".into()));
    assert_eq!(code(cms.get("nope").await.unwrap_err()).0, 404);
    assert!(cms.get_opt("nope").await.unwrap().is_none());
}

/// API Concepts, "Label selectors": equality, inequality and existence.
#[tokio::test]
async fn list_filters_by_label_selector() {
    let (_fake, cms, _) = setup().await;
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        cms.create(
            &PostParams::default(),
            &cm(name, json!({"tier": tier}), json!({})),
        )
        .await
        .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier=web"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier!=web"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("tier"))
                .await
                .unwrap()
        )
        .len(),
        3
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        )
        .len(),
        0
    );
}

/// RFC 7386: a merge patch changes what it names; `null` deletes. A write that changes
/// nothing creates no new resourceVersion.
#[tokio::test]
async fn merge_patch_nulls_delete_and_no_ops_keep_the_version() {
    let (_fake, cms, _) = setup().await;
    cms.create(
        &PostParams::default(),
        &cm("a", json!({}), json!({"x": "1", "y": "2"})),
    )
    .await
    .unwrap();
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"x": null, "z": "3"}})),
        )
        .await
        .unwrap();
    let data = patched.data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["y", "z"]);
    let rv = patched.metadata.resource_version;
    let same = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"y": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version, rv,
        "a no-op write bumped the resourceVersion"
    );
}

/// api-conventions.md, "Spec and Status" and "Metadata": with a status subresource a write to
/// the main resource ignores status and a /status write ignores everything else;
/// metadata.generation counts spec changes only.
#[tokio::test]
async fn status_subresource_and_generation() {
    let (_fake, _, deps) = setup().await;
    let d = deps
        .create(&PostParams::default(), &deployment("d", 2))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let main = deps
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 9}, "metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert!(
        main.status.is_none(),
        "status written through the main resource"
    );
    assert_eq!(
        main.metadata.generation,
        Some(1),
        "a label change bumped generation"
    );
    let status = deps
        .patch_status(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(
        status.spec.unwrap().replicas,
        Some(2),
        "spec written through /status"
    );
    assert_eq!(status.status.unwrap().replicas, Some(2));
    assert_eq!(status.metadata.generation, Some(1));
    let scaled = deps
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    assert_eq!(
        scaled.status.unwrap().replicas,
        Some(2),
        "a spec write dropped the status"
    );
}

/// api-conventions.md, "Concurrency Control and Consistency": a write carrying a stale
/// resourceVersion is 409 Conflict.
#[tokio::test]
async fn stale_resource_version_is_a_conflict() {
    let (_fake, cms, _) = setup().await;
    let first = cms
        .create(
            &PostParams::default(),
            &cm("a", json!({}), json!({"k": "1"})),
        )
        .await
        .unwrap();
    let mut newer = first.clone();
    newer.data = Some([("k".to_owned(), "2".to_owned())].into());
    cms.replace("a", &PostParams::default(), &newer)
        .await
        .unwrap();
    let mut stale = first;
    stale.data = Some([("k".to_owned(), "3".to_owned())].into());
    assert_eq!(
        code(
            cms.replace("a", &PostParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
}

/// Server-Side Apply: a manager's fields that it stops sending are removed; a field another
/// manager owns with another value conflicts unless forced.
#[tokio::test]
async fn server_side_apply_ownership() {
    let (_fake, cms, _) = setup().await;
    let a = PatchParams::apply("manager-a");
    let apply = |data: Value| {
        Patch::Apply(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": data}),
        )
    };
    cms.patch("s", &a, &apply(json!({"x": "1", "y": "2"})))
        .await
        .unwrap();
    let applied = cms.patch("s", &a, &apply(json!({"x": "1"}))).await.unwrap();
    assert_eq!(
        applied.data.unwrap().keys().collect::<Vec<_>>(),
        ["x"],
        "y was not removed"
    );
    let b = PatchParams::apply("manager-b");
    let conflict = cms
        .patch("s", &b, &apply(json!({"x": "other"})))
        .await
        .unwrap_err();
    assert_eq!(code(conflict).0, 409);
    let forced = cms
        .patch("s", &b.clone().force(), &apply(json!({"x": "other"})))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["x"], "other");
    // manager-a no longer owns x: its next apply without x leaves it.
    let kept = cms.patch("s", &a, &apply(json!({"w": "0"}))).await.unwrap();
    assert_eq!(kept.data.unwrap().keys().collect::<Vec<_>>(), ["w", "x"]);
}

/// Server-Side Apply, "Merge strategy": `containers` is a map keyed by `name`, so a container
/// another manager added survives an apply that does not mention it, and each manager owns
/// only the fields it sent.
#[tokio::test]
async fn server_side_apply_merges_associative_lists_by_key() {
    let (_fake, _, deployments) = setup().await;
    let with = |containers: Value| {
        let mut d = serde_json::to_value(deployment("web", 1)).unwrap();
        d["spec"]["template"]["spec"]["containers"] = containers;
        Patch::Apply(d)
    };
    let a = PatchParams::apply("manager-a");
    deployments
        .patch("web", &a, &with(json!([{"name": "app", "image": "a:1"}])))
        .await
        .unwrap();
    let b = PatchParams::apply("manager-b");
    deployments
        .patch("web", &b, &with(json!([{"name": "side", "image": "s:1"}])))
        .await
        .unwrap();
    let names = |d: k8s_openapi::api::apps::v1::Deployment| -> Vec<(String, String)> {
        d.spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .into_iter()
            .map(|c| (c.name, c.image.unwrap_or_default()))
            .collect()
    };
    let both = deployments
        .patch("web", &a, &with(json!([{"name": "app", "image": "a:2"}])))
        .await
        .unwrap();
    assert_eq!(
        names(both),
        [("app".into(), "a:2".into()), ("side".into(), "s:1".into())]
    );
    // manager-b stops sending its container: it goes; manager-a's stays.
    let mut empty = serde_json::to_value(deployment("web", 1)).unwrap();
    empty["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("containers");
    let one = deployments
        .patch("web", &b, &Patch::Apply(empty))
        .await
        .unwrap();
    assert_eq!(names(one), [("app".into(), "a:2".into())]);
}

/// ConfigMaps, "Immutable ConfigMaps": data cannot change once `immutable: true`.
#[tokio::test]
async fn immutable_config_maps_refuse_data_changes() {
    let (_fake, cms, _) = setup().await;
    let mut c = cm("i", json!({}), json!({"k": "v"}));
    c.immutable = Some(true);
    cms.create(&PostParams::default(), &c).await.unwrap();
    let err = cms
        .patch(
            "i",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(err), (422, "Invalid".into()));
    cms.patch(
        "i",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"l": "1"}}})),
    )
    .await
    .unwrap();
}

/// Garbage Collection: deleting an owner deletes its dependents, transitively.
#[tokio::test]
async fn delete_collects_dependents() {
    let (_fake, cms, deps) = setup().await;
    let owner = deps
        .create(&PostParams::default(), &deployment("owner", 1))
        .await
        .unwrap();
    let mut child = cm("child", json!({}), json!({}));
    child.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({"apiVersion": "apps/v1",
        "kind": "Deployment", "name": "owner", "uid": owner.metadata.uid.unwrap()}))
        .unwrap(),
    ]);
    let child = cms.create(&PostParams::default(), &child).await.unwrap();
    let mut grandchild = cm("grandchild", json!({}), json!({}));
    grandchild.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({"apiVersion": "v1",
        "kind": "ConfigMap", "name": "child", "uid": child.metadata.uid.unwrap()}))
        .unwrap(),
    ]);
    cms.create(&PostParams::default(), &grandchild)
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &cm("unrelated", json!({}), json!({})),
    )
    .await
    .unwrap();
    deps.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let left: Vec<_> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["unrelated"]);
}
