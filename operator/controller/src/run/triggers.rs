//! What makes a service reconcile, and the watches behind it.
//!
//! ```text
//!  start_caches ─► watches of every kind (decoded per object, crate::cluster::watch) ──┐ run always,
//!               └► watches of the children (crate::cluster::caches)  ──────────────────┘ leader or not
//!  controller::<S> (built when leading) ─► every cached service once, then its changes,
//!                                          and each change of a child labelled with it
//! ```

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::children::{Child, ChildMeta};
use crate::cluster::events::Recorder;
use crate::cluster::observe::{Caches, Kinds, Services};
use crate::cluster::watch::Undecodable;
use crate::error::Result;
use crate::kinds::{LockstepService, every_kind};
use crate::run::metrics::Metrics;

/// The caches of every kind and their children, and the future that keeps them filled (run it
/// for the life of the process). Undecodable services are logged and counted; the leader also
/// puts a Warning event on them.
pub fn start_caches(
    client: &Client,
    namespace: Option<&str>,
    recorder: &Recorder,
    metrics: &Arc<Metrics>,
) -> (
    Caches,
    impl std::future::Future<Output = ()> + Send + 'static + use<>,
) {
    let mut kinds = Kinds::default();
    let mut feeds: Vec<BoxFuture<'static, ()>> = Vec::new();
    macro_rules! watch_kinds {
        ($($kind:ty),*) => {$(
            let writer = reflector::store::Writer::<$kind>::new(());
            let services = kinds.add(writer.as_reader());
            feeds.push(service_feed(client, namespace, writer, &services, recorder, metrics).boxed());
        )*};
    }
    every_kind!(watch_kinds);
    let (caches, children) = Caches::new(client, namespace, kinds);
    feeds.push(children.boxed());
    (caches, async move {
        futures::future::join_all(feeds).await;
    })
}

fn service_feed<S>(
    client: &Client,
    namespace: Option<&str>,
    writer: reflector::store::Writer<S>,
    services: &Services<S>,
    recorder: &Recorder,
    metrics: &Arc<Metrics>,
) -> impl std::future::Future<Output = ()> + Send + 'static + use<S>
where
    S: LockstepService + DeserializeOwned + std::fmt::Debug,
{
    let changes = services.changes.clone();
    crate::cluster::watch::services(
        crate::cluster::watch::raw_api::<S>(client, namespace),
        watcher::Config::default(),
        writer,
        report_undecodable::<S>(recorder.clone(), metrics.clone()),
    )
    .for_each(move |service| {
        if let Ok(service) = service {
            // No receiver while standing by is fine: a controller starts from the whole cache.
            let _ = changes.send(Arc::new(service));
        }
        futures::future::ready(())
    })
}

fn report_undecodable<S: LockstepService>(
    recorder: Recorder,
    metrics: Arc<Metrics>,
) -> impl FnMut(Undecodable) + Send + 'static {
    let resource = kube::api::ApiResource::erase::<S>(&());
    move |bad: Undecodable| {
        tracing::warn!(kind = S::COMPONENT, name = ?bad.metadata.name, namespace = ?bad.metadata.namespace,
            error = %bad.error, "object cannot be decoded; it is not reconciled");
        metrics.count_undecodable(S::COMPONENT);
        if !metrics.is_leader() {
            // One Warning per object, from the replica that acts.
            return;
        }
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(resource.api_version.clone()),
            kind: Some(resource.kind.clone()),
            name: bad.metadata.name.clone(),
            namespace: bad.metadata.namespace.clone(),
            uid: bad.metadata.uid.clone(),
            resource_version: bad.metadata.resource_version.clone(),
            field_path: None,
        };
        let event = kube::runtime::events::Event {
            type_: kube::runtime::events::EventType::Warning,
            reason: "Undecodable".into(),
            note: Some(format!(
                "the operator cannot read this object, so it is not reconciled: {}",
                bad.error
            )),
            action: "Decode".into(),
            secondary: None,
        };
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, "event not recorded");
            }
        });
    }
}

/// The controller for kind `S` over `caches`: each service once, then on each change of it or
/// of a child (a crashing canary's pod status, a deleted ConfigMap, an edited Service), until
/// `shutdown` resolves.
pub fn controller<S>(
    caches: &Caches,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<Controller<S>>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let feed = caches.kinds.get::<S>()?;
    // The caches hold projections, not API objects, so children trigger by reference.
    let children = futures::stream::select_all([
        owners::<S, _>(caches.revisions.changes()),
        owners::<S, _>(caches.deployments.changes()),
        owners::<S, _>(caches.pods.changes()),
        owners::<S, _>(caches.config_maps.changes()),
        owners::<S, _>(caches.services.changes()),
        owners::<S, _>(caches.jobs.changes()),
    ]);
    Ok(
        Controller::for_shared_stream(feed.triggers(), feed.store.clone())
            .reconcile_on(children)
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(shutdown),
    )
}

fn owners<S: LockstepService, C: Child>(
    changes: impl futures::Stream<Item = Arc<C>> + Send + 'static,
) -> futures::stream::BoxStream<'static, ObjectRef<S>> {
    changes
        .filter_map(|child| futures::future::ready(owner::<S>(child.meta())))
        .boxed()
}

/// The service of kind `S` a child belongs to, by its labels (the children of every kind share
/// the caches; `app.kubernetes.io/name` tells them apart).
pub fn owner<S: LockstepService>(child: &ChildMeta) -> Option<ObjectRef<S>> {
    if child.component.as_deref() != Some(S::COMPONENT) {
        return None;
    }
    let name = child.service.as_deref()?;
    let namespace = child.namespace.as_deref()?;
    Some(ObjectRef::new(name).within(namespace))
}
