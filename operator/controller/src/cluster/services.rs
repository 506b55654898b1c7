//! The services themselves, per kind: kube's store (the controllers read it) and a feed of their
//! changes, kept by type so that nothing below the wiring names a kind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use kube::Resource;
use kube::runtime::reflector::Store;
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::kinds::LockstepService;

/// The services of one kind: kube's store (the controller reads it) and their changes.
pub struct Services<S: Resource<DynamicType = ()> + 'static> {
    /// The decoded services, filled by [`crate::cluster::watch::services`].
    pub store: Store<S>,
    /// Each service as its watch delivers it.
    pub changes: broadcast::Sender<Arc<S>>,
}

impl<S: Resource<DynamicType = ()> + 'static> std::fmt::Debug for Services<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl<S: LockstepService> Services<S> {
    /// The services `store` holds; their changes are sent by whoever fills it.
    pub fn new(store: Store<S>) -> Self {
        Services {
            store,
            // A controller that falls this far behind is resynced from the whole store.
            changes: broadcast::channel(1024).0,
        }
    }

    /// Every service now in the cache, then every change: a controller started when this
    /// replica becomes leader looks at all of them once.
    pub fn triggers(&self) -> impl futures::Stream<Item = Arc<S>> + Send + 'static {
        use futures::StreamExt;
        // Subscribe before the snapshot: a change in between is seen twice, never missed.
        let rx = self.changes.subscribe();
        let now = self.store.state();
        let store = self.store.clone();
        futures::stream::iter(now).chain(crate::cluster::caches::changes(rx, move || store.state()))
    }
}

type Synced = Arc<dyn Fn() -> bool + Send + Sync>;

/// Every kind's [`Services`], by type. Cheap to clone.
#[derive(Clone, Default)]
pub struct Kinds {
    by_type: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    synced: Vec<Synced>,
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kinds")
            .field("kinds", &self.by_type.len())
            .finish()
    }
}

impl Kinds {
    /// Adds kind `S`, read from `store`; returns its services (to send their changes).
    pub fn add<S: LockstepService>(&mut self, store: Store<S>) -> Arc<Services<S>> {
        let services = Arc::new(Services::new(store));
        let watched = services.clone();
        self.synced.push(Arc::new(move || {
            crate::cluster::readiness::synced(&watched.store)
        }));
        self.by_type.insert(TypeId::of::<S>(), services.clone());
        services
    }

    /// The services of kind `S`; `Error::KindNotWatched` if it was never added.
    pub fn get<S: LockstepService>(&self) -> Result<&Services<S>> {
        self.by_type
            .get(&TypeId::of::<S>())
            .and_then(|any| any.downcast_ref::<Services<S>>())
            .ok_or(Error::KindNotWatched(S::COMPONENT))
    }

    /// Whether each kind's store holds a first complete LIST.
    pub fn synced(&self) -> impl Iterator<Item = bool> + '_ {
        self.synced.iter().map(|synced| synced())
    }
}
