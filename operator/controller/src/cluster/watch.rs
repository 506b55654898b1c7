//! The services are watched as raw objects and decoded one by one.
//!
//! The API server accepts objects the operator's types cannot decode (a value the CRD schema
//! lets through, an older or newer version's field). A typed watcher decodes the whole LIST at
//! once, so one such object fails the LIST and no service of that kind in any namespace is
//! reconciled again until it is deleted. Here each object is decoded on its own: the bad one is
//! left out of the cache and reported (log, `lockstep_reconcile_failures_total{error=
//! "undecodable"}`, a Warning event on it), the others reconcile as usual.

use std::collections::HashSet;

use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::ObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector};
use serde::de::DeserializeOwned;

use crate::kinds::LockstepService;

/// An object that did not decode as its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    /// Its metadata (name, namespace, uid, resourceVersion).
    pub metadata: ObjectMeta,
    /// The decoder's message, e.g. the field path and what was wrong.
    pub error: String,
}

/// Decodes one object; `Err` carries its metadata and why. The object's `managedFields` are
/// dropped first: the operator never reads them, they are often the largest part of an object
/// the API server returns, and the cache keeps every service.
pub fn decode<S: DeserializeOwned>(mut object: DynamicObject) -> Result<S, Box<Undecodable>> {
    object.metadata.managed_fields = None;
    let metadata = object.metadata.clone();
    serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            Box::new(Undecodable {
                metadata,
                error: e.to_string(),
            })
        })
}

/// The typed event for a raw one: objects that do not decode are dropped from it and handed
/// to `bad` (an `Apply` or `Delete` of a bad object becomes `None`).
pub fn decode_event<S: DeserializeOwned>(
    event: Event<DynamicObject>,
    bad: &mut dyn FnMut(Undecodable),
) -> Option<Event<S>> {
    let mut typed = |object| decode::<S>(object).map_err(|u| bad(*u)).ok();
    match event {
        Event::Init => Some(Event::Init),
        Event::InitDone => Some(Event::InitDone),
        Event::InitApply(o) => typed(o).map(Event::InitApply),
        Event::Apply(o) => typed(o).map(Event::Apply),
        Event::Delete(o) => typed(o).map(Event::Delete),
    }
}

/// Watches kind `S` through `api` (namespaced or all), decoding per object, and keeps `writer`'s
/// cache; yields the objects to reconcile. `bad` hears about each undecodable object version
/// once.
pub fn services<S>(
    api: Api<DynamicObject>,
    config: watcher::Config,
    writer: reflector::store::Writer<S>,
    mut bad: impl FnMut(Undecodable) + Send + 'static,
) -> impl Stream<Item = Result<S, watcher::Error>> + Send
where
    S: LockstepService + DeserializeOwned + Send + Sync + 'static,
{
    // (uid, resourceVersion) already reported: a relist must not repeat the warning.
    let mut reported: HashSet<(String, String)> = HashSet::new();
    // Backoff as `Controller::new` would: a failing watch must not spin.
    let events = watcher::watcher(api, config)
        .default_backoff()
        .filter_map(move |event| {
            let decoded = event.map(|e| {
                decode_event::<S>(e, &mut |u: Undecodable| {
                    let seen = (
                        u.metadata.uid.clone().unwrap_or_default(),
                        u.metadata.resource_version.clone().unwrap_or_default(),
                    );
                    if reported.insert(seen) {
                        bad(u);
                    }
                })
            });
            futures::future::ready(decoded.transpose())
        });
    reflector::reflector(writer, events).applied_objects()
}

/// The raw API for kind `S` in `namespace` (all namespaces if `None`).
pub fn raw_api<S: LockstepService>(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<S>(&());
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}
