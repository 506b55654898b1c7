//! The children index (`lockstep_operator::cluster::caches::Index`) as a reflector must behave: a
//! re-LIST replaces everything when it completes (objects deleted while the watch was down
//! go), a relabelled object moves to its new service, deletes remove, and readiness means a
//! first complete LIST. And `caught_up`, the read-your-writes test on resourceVersions.
#![allow(clippy::unwrap_used)]

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::Event;
use lockstep_operator::cluster::caches::Index;
use lockstep_operator::cluster::children::CachedConfigMap;
use lockstep_operator::cluster::observe::caught_up;

fn config_map(name: &str, service: Option<&str>, version: &str) -> CachedConfigMap {
    let labels = service.map(|s| serde_json::json!({"lockstep.dev/service": s}));
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {
        "name": name, "namespace": "shop", "resourceVersion": version, "labels": labels}}))
    .unwrap();
    cm.into()
}

fn cm(name: &str, service: &str, version: &str) -> CachedConfigMap {
    config_map(name, Some(service), version)
}

fn names(index: &Index<CachedConfigMap>, service: &str) -> Vec<String> {
    index
        .children("shop", service)
        .iter()
        .filter_map(|c| c.meta.name.clone())
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
            .meta
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
    index.apply(Event::Apply(config_map("y", None, "4")));
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

/// The cache keeps of a Deployment what a reconcile reads: its fingerprint (drift check), its
/// counted pods, its replicas and revision, as the functions reading the whole object see them.
#[test]
fn a_cached_deployment_reads_as_the_whole_one() {
    use lockstep_operator::cluster::children::CachedDeployment;
    use lockstep_operator::core::{pods, render};
    use lockstep_operator::kinds::revision::Revision;
    use lockstep_operator::kinds::{LockstepService, ServiceRef};
    let album = common::album();
    let content = album.content().unwrap();
    let rev = Revision {
        number: 2,
        hash: content.hash(),
        content,
        cause: "spec change".into(),
        created: "2026-11-22T00:00:00Z".into(),
    };
    let svc = ServiceRef::of(&album).unwrap();
    let mut d = render::deployment(&svc, &rev, 4, Some("2026-11-22T09:00:00Z"), 30);
    d.metadata.resource_version = Some("17".into());
    d.status = Some(
        serde_json::from_value(serde_json::json!(
        {"replicas": 4, "readyReplicas": 4, "availableReplicas": 3}))
        .unwrap(),
    );
    let cached = CachedDeployment::from(d.clone());
    assert_eq!(cached.fingerprint, render::observed_fingerprint(&d));
    assert_eq!(
        cached.fingerprint,
        render::fingerprint("albums", &rev, Some("2026-11-22T09:00:00Z"), 30),
        "the rendered template's fingerprint: a fresh Deployment is not drifted"
    );
    assert_eq!(cached.counted, 3, "minReadySeconds: available pods");
    assert_eq!(cached.counted, pods::counted(&d));
    assert_eq!(cached.replicas, 4);
    assert_eq!(cached.meta.revision, Some(2));
    assert_eq!(cached.meta.service.as_deref(), Some("albums"));
    assert_eq!(cached.meta.component.as_deref(), Some("album"));
    assert_eq!(cached.meta.resource_version.as_deref(), Some("17"));
}

/// The cache keeps a Service's routing as `render::service_routes` reads it and its ports;
/// a reconcile counts it as drifted when either differs from what the spec asks for.
#[test]
fn a_cached_service_keeps_its_routes_and_ports() {
    use lockstep_operator::cluster::children::CachedService;
    use lockstep_operator::core::render::{self, service_ports};
    use lockstep_operator::kinds::{NamedPort, ServiceRef};
    let typed = |grpc: Option<u16>| {
        let mut ports = vec![NamedPort::new("http", 80)];
        ports.extend(grpc.map(|p| NamedPort::new("grpc", p)));
        ports
    };
    let mut svc = ServiceRef::of(&common::album()).unwrap();
    let rendered = render::service(&svc, Some(3));
    let cached = CachedService::from(rendered.clone());
    assert_eq!(
        cached.routes_with(&service_ports(&typed(None))),
        Some(Some(3))
    );
    assert_eq!(
        cached.routes_with(&service_ports(&typed(Some(9090)))),
        None,
        "the spec now serves gRPC: the Service lacks its port"
    );
    let mut drifted = rendered;
    drifted.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port =
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9999));
    assert_eq!(
        CachedService::from(drifted).routes_with(&service_ports(&typed(None))),
        None
    );
    svc.ports = typed(Some(9090));
    let with_grpc = CachedService::from(render::service(&svc, None));
    assert_eq!(
        with_grpc.routes_with(&service_ports(&typed(Some(9090)))),
        Some(None)
    );
    assert_eq!(with_grpc.routes_with(&service_ports(&typed(None))), None);
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
    assert_eq!(announced.meta.name.as_deref(), Some("a-1"));
    assert_eq!(names(&index, "a"), ["a-1"], "and the index holds it");
    index.apply(Event::Apply(cm("a-2", "a", "2")));
    let announced = changes.next().now_or_never().flatten().unwrap();
    assert_eq!(announced.meta.name.as_deref(), Some("a-2"));
}

/// Services are decoded one by one for the cache: their `managedFields` (often most of what the
/// API server returns) are not kept, and an object that does not decode is reported with its
/// name and the decoder's reason instead of failing the rest.
#[test]
fn a_decoded_service_keeps_no_managed_fields() {
    use kube::api::DynamicObject;
    use lockstep_crd::AlbumService;
    use lockstep_operator::cluster::watch::decode;
    let mut json = serde_json::to_value(common::album()).unwrap();
    json["metadata"]["managedFields"] = serde_json::json!([{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "lockstep.dev/v1alpha1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]);
    let object: DynamicObject = serde_json::from_value(json.clone()).unwrap();
    assert!(
        object.metadata.managed_fields.is_some(),
        "the fixture has them"
    );
    let decoded: AlbumService = decode(object).unwrap();
    assert_eq!(decoded.metadata.managed_fields, None);
    assert_eq!(decoded.spec, common::album().spec);

    json["spec"]["replicas"] = serde_json::json!("four");
    let bad = decode::<AlbumService>(serde_json::from_value(json).unwrap()).unwrap_err();
    assert_eq!(bad.metadata.name, common::album().metadata.name);
    assert!(bad.error.contains("expected i32"), "{}", bad.error);
}

/// A service's children come back sorted by name whatever order the watch delivered them in
/// (the first pod failure read per revision must not depend on it), and a newer version of an
/// object replaces it in place.
#[test]
fn children_are_sorted_by_name_and_replaced_in_place() {
    let index = Index::default();
    index.apply(Event::Init);
    index.apply(Event::InitDone);
    for name in ["c", "a", "b"] {
        index.apply(Event::Apply(cm(name, "svc", "1")));
    }
    assert_eq!(names(&index, "svc"), ["a", "b", "c"]);
    index.apply(Event::Apply(cm("b", "svc", "2")));
    assert_eq!(names(&index, "svc"), ["a", "b", "c"]);
    assert_eq!(index.len(), 3);
    let b = index.get("shop", "svc", "b").unwrap();
    assert_eq!(b.meta.resource_version.as_deref(), Some("2"));
    assert!(index.get("shop", "svc", "d").is_none());
    assert!(index.get("shop", "other", "b").is_none());
}
