//! The children index (`lockstep_operator::caches::Index`) as a reflector must behave: a
//! re-LIST replaces everything when it completes (objects deleted while the watch was down
//! go), a relabelled object moves to its new service, deletes remove, and readiness means a
//! first complete LIST. And `caught_up`, the read-your-writes test on resourceVersions.
#![allow(clippy::unwrap_used)]

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::Event;
use lockstep_operator::caches::Index;
use lockstep_operator::observe::caught_up;

fn cm(name: &str, service: &str, version: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({"metadata": {
        "name": name, "namespace": "shop", "resourceVersion": version,
        "labels": {"lockstep.dev/service": service}}}))
    .unwrap()
}

fn names(index: &Index<ConfigMap>, service: &str) -> Vec<String> {
    index
        .children("shop", service)
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect()
}

#[test]
fn a_relist_replaces_everything_when_it_completes() {
    let index = Index::default();
    assert!(!index.synced());
    index.apply(Event::Init);
    index.apply(Event::InitApply(cm("a-1", "a", "1")));
    index.apply(Event::InitApply(cm("a-2", "a", "2")));
    assert!(!index.synced(), "not before InitDone");
    assert_eq!(names(&index, "a"), Vec::<String>::new());
    index.apply(Event::InitDone);
    assert!(index.synced());
    assert_eq!(names(&index, "a"), ["a-1", "a-2"]);

    // The watch broke; a-1 was deleted meanwhile. The relist's end drops it.
    index.apply(Event::Init);
    index.apply(Event::InitApply(cm("a-2", "a", "5")));
    assert_eq!(
        names(&index, "a"),
        ["a-1", "a-2"],
        "old picture until the end"
    );
    index.apply(Event::InitDone);
    assert_eq!(names(&index, "a"), ["a-2"]);
    assert_eq!(
        index
            .get("shop", "a", "a-2")
            .unwrap()
            .metadata
            .resource_version
            .as_deref(),
        Some("5")
    );
}

#[test]
fn relabels_move_and_deletes_remove() {
    let index = Index::default();
    index.apply(Event::Init);
    index.apply(Event::InitDone);
    index.apply(Event::Apply(cm("x", "a", "1")));
    index.apply(Event::Apply(cm("x", "b", "2")));
    assert_eq!(names(&index, "a"), Vec::<String>::new());
    assert_eq!(names(&index, "b"), ["x"]);
    index.apply(Event::Delete(cm("x", "b", "3")));
    assert!(index.is_empty());
    // Unlabelled objects are not indexed (the watch selects the label; a removed label is an
    // update the watch still delivers).
    let mut plain = cm("y", "a", "4");
    plain.metadata.labels = None;
    index.apply(Event::Apply(plain));
    assert!(index.is_empty());
}

#[test]
fn versions_are_caught_up_when_equal_or_newer() {
    assert!(caught_up("7", "7"));
    assert!(caught_up("12", "7"), "numeric, not lexical");
    assert!(!caught_up("7", "12"));
    assert!(!caught_up("6", "7"));
    assert!(caught_up("opaque", "opaque"));
    assert!(
        !caught_up("opaque-2", "opaque-1"),
        "opaque versions only by equality"
    );
}

/// The cached Deployment is trimmed to what a reconcile reads: its fingerprint (drift check)
/// and its counted pods are those of the whole object, and most of the template is gone.
#[test]
fn a_trimmed_deployment_reads_as_the_whole_one() {
    use lockstep_operator::service::{LockstepService, ServiceRef};
    use lockstep_operator::{observe::trim_deployment, pods, resources, revision::Revision};
    let album = common::album();
    let content = album.content().unwrap();
    let rev = Revision {
        number: 1,
        hash: content.hash(),
        content,
        cause: "spec change".into(),
        created: "2026-11-22T00:00:00Z".into(),
    };
    let svc = ServiceRef::of(&album).unwrap();
    let mut d = resources::deployment(&svc, &rev, 4, Some("2026-11-22T09:00:00Z"), 30);
    d.status = Some(
        serde_json::from_value(serde_json::json!(
        {"replicas": 4, "readyReplicas": 4, "availableReplicas": 3}))
        .unwrap(),
    );
    let whole = d.clone();
    trim_deployment(&mut d);
    assert_eq!(
        resources::observed_fingerprint(&d),
        resources::observed_fingerprint(&whole)
    );
    assert_eq!(pods::counted(&d), pods::counted(&whole));
    assert_eq!(pods::counted(&d), 3, "minReadySeconds: available pods");
    let size = |d: &k8s_openapi::api::apps::v1::Deployment| serde_json::to_string(d).unwrap().len();
    assert!(
        size(&d) * 2 < size(&whole),
        "{} of {} bytes kept",
        size(&d),
        size(&whole)
    );
}

/// A re-LIST's objects are announced when it completes, when the index holds them: a
/// reconcile they trigger must read them, not the picture from before the watch broke.
#[test]
fn a_relist_is_announced_when_the_index_holds_it() {
    use futures::{FutureExt, StreamExt};
    let index = Index::default();
    let mut changes = Box::pin(index.changes());
    index.apply(Event::Init);
    index.apply(Event::InitApply(cm("a-1", "a", "1")));
    assert!(changes.next().now_or_never().is_none(), "not yet");
    index.apply(Event::InitDone);
    let announced = changes.next().now_or_never().flatten().unwrap();
    assert_eq!(announced.metadata.name.as_deref(), Some("a-1"));
    assert_eq!(names(&index, "a"), ["a-1"], "and the index holds it");
    index.apply(Event::Apply(cm("a-2", "a", "2")));
    let announced = changes.next().now_or_never().flatten().unwrap();
    assert_eq!(announced.metadata.name.as_deref(), Some("a-2"));
}
