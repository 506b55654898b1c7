//! Watch caches of the services' children, indexed by service, so a reconcile reads memory
//! instead of the API server.
//!
//! ```text
//!  watch ControllerRevisions ─┐                       reconcile(svc) ─► Caches::observe (no request)
//!  watch Deployments ─────────┤  label lockstep.dev/     │
//!  watch Pods (status only) ──┼─► service: Index ────────┤ writes ─► settle: wait until every
//!  watch ConfigMaps (meta) ───┤  by (ns, service)        │           index shows what was written
//!  watch Services ────────────┘      │ each change       │           (read-your-writes)
//!                                    └─► triggers ─────► the controllers (while leading)
//! ```
//!
//! Why an index of our own instead of kube's `Store`: a reconcile needs the children of *one*
//! service; a `Store` can only be scanned whole, which at 10,000 services is 40,000 objects per
//! reconcile. Why settle: a cache lags the writes the operator made itself, and a reconcile
//! planned from a cache that misses a ControllerRevision it just created would create another
//! (the Deployment controller in kube-controller-manager solves the same with "expectations").
//!
//! The caches run whether or not this replica leads, so a standby that takes over reconciles
//! from warm caches at once. They hold projections ([`crate::cluster::children`]), not API objects: the
//! watch's object is reduced to what a reconcile reads as it arrives.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::cluster::children::Child;
use crate::core::render::LABEL_SERVICE;

/// `(namespace, service name)`: the key children are indexed by.
pub type ServiceKey = (String, String);

struct IndexState<K> {
    /// Each service's children, sorted by name. A service has a few children per kind, so a
    /// sorted `Vec` (a pointer each) beats a map: a `BTreeMap` allocates a node of eleven slots
    /// (~370 bytes) for its first entry, for every service in every index.
    by_service: HashMap<ServiceKey, Vec<Arc<K>>>,
    /// The service each object is indexed under, by `(namespace, name)`, so a relabelled or
    /// deleted object is found.
    placed: HashMap<(String, String), String>,
    /// Objects of a re-LIST in progress; swapped in whole when it completes.
    relisting: Option<Vec<Arc<K>>>,
    synced: bool,
}

/// The objects of one kind carrying the `lockstep.dev/service` label, by service.
pub struct Index<K> {
    state: Arc<RwLock<IndexState<K>>>,
    changes: broadcast::Sender<Arc<K>>,
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Index {
            state: self.state.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<K: Child> std::fmt::Debug for Index<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("objects", &self.len())
            .field("synced", &self.synced())
            .finish()
    }
}

impl<K> Default for Index<K> {
    fn default() -> Self {
        Index {
            state: Arc::new(RwLock::new(IndexState {
                by_service: HashMap::new(),
                placed: HashMap::new(),
                relisting: None,
                synced: false,
            })),
            // A controller that falls this far behind is resynced from the whole index.
            changes: broadcast::channel(1024).0,
        }
    }
}

fn name_of<K: Child>(obj: &K) -> &str {
    obj.meta().name.as_deref().unwrap_or_default()
}

fn key_of<K: Child>(obj: &K) -> Option<(ServiceKey, (String, String))> {
    let meta = obj.meta();
    let namespace = meta.namespace.clone()?;
    let service = meta.service.clone()?;
    let name = meta.name.clone()?;
    Some(((namespace.clone(), service), (namespace, name)))
}

impl<K: Child> Index<K> {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, IndexState<K>> {
        // A panic while holding the lock leaves plain maps behind; they stay usable.
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, IndexState<K>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(state: &mut IndexState<K>, obj: Arc<K>) {
        Self::remove(state, &*obj);
        let Some((service, name)) = key_of(&*obj) else {
            return;
        };
        let children = state.by_service.entry(service.clone()).or_default();
        match children.binary_search_by(|c| name_of(&**c).cmp(&name.1)) {
            Ok(at) => children[at] = obj,
            Err(at) => children.insert(at, obj),
        }
        state.placed.insert(name, service.1);
    }

    fn remove(state: &mut IndexState<K>, obj: &K) {
        let (Some(ns), Some(name)) = (obj.meta().namespace.clone(), obj.meta().name.clone()) else {
            return;
        };
        let Some(service) = state.placed.remove(&(ns.clone(), name.clone())) else {
            return;
        };
        let key = (ns, service);
        if let Some(children) = state.by_service.get_mut(&key) {
            children.retain(|c| name_of(&**c) != name);
            if children.is_empty() {
                state.by_service.remove(&key);
            }
        }
    }

    /// Applies one watcher event, as kube's reflector does: a re-LIST replaces everything at
    /// its end, so objects deleted while the watch was down disappear. Its objects are
    /// announced as changed only then, when a reconcile they trigger reads them.
    pub fn apply(&self, event: Event<K>) {
        let changed: Vec<Arc<K>> = {
            let mut state = self.write();
            match event {
                Event::Init => {
                    state.relisting = Some(Vec::new());
                    Vec::new()
                }
                Event::InitApply(obj) => {
                    state
                        .relisting
                        .get_or_insert_with(Vec::new)
                        .push(Arc::new(obj));
                    Vec::new()
                }
                Event::InitDone => {
                    let objects = state.relisting.take().unwrap_or_default();
                    state.by_service.clear();
                    state.placed.clear();
                    for obj in &objects {
                        Self::insert(&mut state, obj.clone());
                    }
                    state.synced = true;
                    objects
                }
                Event::Apply(obj) => {
                    let obj = Arc::new(obj);
                    Self::insert(&mut state, obj.clone());
                    vec![obj]
                }
                Event::Delete(obj) => {
                    let obj = Arc::new(obj);
                    Self::remove(&mut state, &obj);
                    vec![obj]
                }
            }
        };
        for obj in changed {
            // No receiver (a standby runs no controller) is fine; one that falls behind
            // resyncs from the index (see `changes`).
            let _ = self.changes.send(obj);
        }
    }

    /// The children of one service.
    pub fn children(&self, namespace: &str, service: &str) -> Vec<Arc<K>> {
        self.read()
            .by_service
            .get(&(namespace.to_owned(), service.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// One object by service and name.
    pub fn get(&self, namespace: &str, service: &str, name: &str) -> Option<Arc<K>> {
        self.read()
            .by_service
            .get(&(namespace.to_owned(), service.to_owned()))?
            .iter()
            .find(|c| name_of(&***c) == name)
            .cloned()
    }

    /// Whether a first complete LIST has been applied.
    pub fn synced(&self) -> bool {
        self.read().synced
    }

    /// Objects indexed.
    pub fn len(&self) -> usize {
        self.read().placed.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every change from now on; when the receiver falls behind, every indexed object once
    /// (a controller that missed changes looks at everything again rather than at nothing).
    pub fn changes(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let index = self.clone();
        changes(self.changes.subscribe(), move || {
            index
                .read()
                .by_service
                .values()
                .flat_map(|c| c.iter().cloned())
                .collect()
        })
    }
}

/// The objects `rx` receives; when it falls behind, every object `everything` returns once
/// (a controller that missed changes looks at everything again rather than at nothing).
pub(crate) fn changes<T: Send + Sync + 'static>(
    rx: broadcast::Receiver<Arc<T>>,
    everything: impl Fn() -> Vec<Arc<T>> + Send + Sync + 'static,
) -> impl Stream<Item = Arc<T>> + Send + 'static {
    let everything = Arc::new(everything);
    futures::stream::unfold(rx, move |mut rx| {
        let everything = everything.clone();
        async move {
            match rx.recv().await {
                Ok(obj) => Some((vec![obj], rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "change feed lagged; resyncing from the cache");
                    Some((everything(), rx))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        }
    })
    .flat_map(futures::stream::iter)
}

/// Keeps `index` filled from a watch of `api` until the stream ends (never, in practice: the
/// watcher retries with backoff), each object reduced to its projection `V` as it arrives.
pub async fn feed<K, V>(api: Api<K>, index: Index<V>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    V: Child + From<K>,
{
    let config = watcher::Config::default().labels(LABEL_SERVICE);
    run(watcher::watcher(api, config), index).await;
}

/// The projection's event for the object's.
pub fn project<K, V: From<K>>(event: Event<K>) -> Event<V> {
    match event {
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(obj.into()),
        Event::InitDone => Event::InitDone,
        Event::Apply(obj) => Event::Apply(obj.into()),
        Event::Delete(obj) => Event::Delete(obj.into()),
    }
}

pub(crate) async fn run<K, V>(
    events: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    index: Index<V>,
) where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
    V: Child + From<K>,
{
    let events = events.default_backoff();
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => index.apply(project(event)),
            Err(e) => tracing::warn!(error = %e, kind = %K::kind(&()) , "watch failed; retrying"),
        }
    }
}
