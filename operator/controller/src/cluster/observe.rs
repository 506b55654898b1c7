//! What a reconcile reads — the caches of [`crate::cluster::caches`] — and the wait after it wrote
//! ([`Caches::settle`]), so the next reconcile of the same service sees its own writes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};

use crate::cluster::caches::{Index, feed};
use crate::cluster::children::{
    CachedConfigMap, CachedDeployment, CachedJob, CachedPod, CachedRevision, CachedService, Child,
};
pub use crate::cluster::services::{Kinds, Services};
use crate::core::plan::{Cluster, ObservedDeployment};
use crate::core::render;
use crate::error::{Error, Result};
use crate::kinds::LockstepService;

/// Every cache a reconcile reads. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Caches {
    /// ControllerRevisions (revision content).
    pub revisions: Index<CachedRevision>,
    /// Deployments, one per running revision.
    pub deployments: Index<CachedDeployment>,
    /// Pods: what their statuses say about their revision's health.
    pub pods: Index<CachedPod>,
    /// ConfigMaps (that they exist).
    pub config_maps: Index<CachedConfigMap>,
    /// The Services routing to the revisions.
    pub services: Index<CachedService>,
    /// The preflight Jobs of new revisions.
    pub jobs: Index<CachedJob>,
    /// The services of every kind.
    pub kinds: Kinds,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

impl Caches {
    /// Empty caches and the future that fills the children's ones (run it for the life of
    /// the process, leading or not). The services' stores are filled by their watches
    /// ([`crate::cluster::watch::services`]), given the kinds' stores.
    pub fn new(
        client: &Client,
        namespace: Option<&str>,
        kinds: Kinds,
    ) -> (
        Caches,
        impl std::future::Future<Output = ()> + Send + 'static + use<>,
    ) {
        let caches = Caches {
            revisions: Index::default(),
            deployments: Index::default(),
            pods: Index::default(),
            config_maps: Index::default(),
            services: Index::default(),
            jobs: Index::default(),
            kinds,
        };
        let feeds = futures::future::join5(
            feed(
                api::<ControllerRevision>(client, namespace),
                caches.revisions.clone(),
            ),
            feed(
                api::<Deployment>(client, namespace),
                caches.deployments.clone(),
            ),
            feed(api::<Pod>(client, namespace), caches.pods.clone()),
            // Metadata only: the operator needs a ConfigMap's name, never its data.
            feed(
                api::<PartialObjectMeta<ConfigMap>>(client, namespace),
                caches.config_maps.clone(),
            ),
            feed(api::<Service>(client, namespace), caches.services.clone()),
        );
        let feeds = futures::future::join(
            feeds,
            feed(api::<Job>(client, namespace), caches.jobs.clone()),
        );
        (caches, async move {
            Box::pin(feeds).await;
        })
    }

    /// Whether every cache holds a first complete LIST.
    pub fn synced(&self) -> Vec<bool> {
        let children = [
            self.revisions.synced(),
            self.deployments.synced(),
            self.pods.synced(),
            self.config_maps.synced(),
            self.services.synced(),
            self.jobs.synced(),
        ];
        children.into_iter().chain(self.kinds.synced()).collect()
    }

    /// Waits, polling, until every cache holds a first complete LIST, for at most `limit`.
    /// A reconcile must not plan before: an empty cache of a service that has revisions and
    /// Deployments reads as a new service (a restarted operator would create revision 1
    /// again). The controllers start on the services' cache alone, hence this.
    pub async fn wait_synced(&self, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while !crate::cluster::readiness::ready(&self.synced()) {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::CacheBehind(format!(
                    "a first complete LIST (synced: {:?})",
                    self.synced()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// What the cluster holds for the service `name` in `ns`, at Unix time `now`; its Service
    /// counts as drifted unless it has `service_ports` (what the current spec asks for,
    /// [`render::service_ports`]).
    pub fn observe(
        &self,
        ns: &str,
        name: &str,
        now: i64,
        service_ports: &[render::PortShape],
    ) -> Cluster {
        let mut cluster = Cluster {
            revisions: self
                .revisions
                .children(ns, name)
                .iter()
                .filter_map(|r| render::parse_revision_json(r.data.as_deref()?))
                .collect(),
            service_routes: self
                .services
                .get(ns, name, name)
                .and_then(|s| s.routes_with(service_ports)),
            config_maps: self
                .config_maps
                .children(ns, name)
                .iter()
                .filter_map(|m| m.meta.name.clone())
                .collect(),
            ..Cluster::default()
        };
        cluster.revisions.sort_by_key(|r| r.number);
        cluster.revision_services = self
            .services
            .children(ns, name)
            .iter()
            .filter_map(|s| Some((s.meta.name.clone()?, s.routes_with(service_ports))))
            .filter(|(n, _)| revision_service_names(name).contains(n))
            .collect();
        cluster.preflight_passed = self
            .revisions
            .children(ns, name)
            .iter()
            .filter(|r| r.preflight_passed)
            .filter_map(|r| r.meta.revision)
            .collect();
        cluster.preflight = self
            .jobs
            .children(ns, name)
            .iter()
            .filter_map(|j| Some((j.meta.revision?, j.run.clone())))
            .collect();
        for d in self.deployments.children(ns, name) {
            let Some(number) = d.meta.revision else {
                continue;
            };
            cluster.deployments.insert(
                number,
                ObservedDeployment {
                    replicas: d.replicas,
                    ready: d.counted,
                    template: d.fingerprint.clone(),
                },
            );
        }
        let pods = self.pods.children(ns, name);
        let pods = pods.iter().map(|p| &**p);
        let seen = crate::core::pods::failures(pods.clone(), now);
        cluster.failures = seen.failures;
        cluster.recheck_after = seen
            .recheck_after
            .map(|s| Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)));
        cluster.restarts = crate::core::pods::restarts(pods);
        cluster
    }

    /// Waits until the caches show every write in `written` (read-your-writes), polling, for
    /// at most `limit`; `Error::CacheBehind` names the first write still missing.
    pub async fn settle<S: LockstepService>(
        &self,
        ns: &str,
        name: &str,
        written: &[Written],
        limit: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let missing = written.iter().find(|w| !self.shows::<S>(ns, name, w));
            let Some(missing) = missing else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::CacheBehind(missing.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn shows<S: LockstepService>(&self, ns: &str, service: &str, written: &Written) -> bool {
        fn version<K: Child>(obj: Option<Arc<K>>) -> Option<String> {
            obj.and_then(|o| o.meta().resource_version.clone())
        }
        let (kind, name) = (written.kind, written.name.as_str());
        let seen = match kind {
            Kind::Revision => version(self.revisions.get(ns, service, name)),
            Kind::ConfigMap => version(self.config_maps.get(ns, service, name)),
            Kind::Deployment => version(self.deployments.get(ns, service, name)),
            Kind::Service => version(self.services.get(ns, service, name)),
            Kind::Job => version(self.jobs.get(ns, service, name)),
            Kind::Custom => self.kinds.get::<S>().ok().and_then(|services| {
                services
                    .store
                    .get(&ObjectRef::new(name).within(ns))
                    .and_then(|s| s.resource_version())
            }),
        };
        match (&written.version, seen) {
            (None, seen) => seen.is_none(),
            (Some(_), None) => false,
            (Some(wrote), Some(seen)) => caught_up(&seen, wrote),
        }
    }
}

/// The Services besides the main one a service may have: only these are deleted when the spec
/// no longer asks for them.
fn revision_service_names(name: &str) -> [String; 3] {
    use crate::core::traffic::{canary_service, preview_service, stable_service};
    [
        stable_service(name),
        canary_service(name),
        preview_service(name),
    ]
}

/// Whether a cached resourceVersion `seen` is the written one `wrote` or newer. Versions are
/// opaque to clients, but both kube-apiserver (etcd revisions) and the fake API server issue
/// increasing integers; a version that is not one is compared for equality only.
pub fn caught_up(seen: &str, wrote: &str) -> bool {
    seen == wrote || matches!((seen.parse::<u64>(), wrote.parse::<u64>()), (Ok(s), Ok(w)) if s > w)
}

/// The kinds a reconcile writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ControllerRevision.
    Revision,
    /// ConfigMap.
    ConfigMap,
    /// Deployment.
    Deployment,
    /// Service.
    Service,
    /// A preflight Job.
    Job,
    /// The Lockstep service object itself.
    Custom,
}

/// One write of a reconcile: the object and its resourceVersion after it, `None` once deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// The resourceVersion the server returned; `None` for a delete.
    pub version: Option<String>,
}

impl Written {
    /// The delete of `name`.
    pub fn gone(kind: Kind, name: String) -> Written {
        Written {
            kind,
            name,
            version: None,
        }
    }

    /// The write that returned `obj`.
    pub fn of<K: Resource>(kind: Kind, obj: &K) -> Written {
        Written {
            kind,
            name: obj.meta().name.clone().unwrap_or_default(),
            version: obj.resource_version(),
        }
    }
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{:?} {} at resourceVersion {v}", self.kind, self.name),
            None => write!(f, "{:?} {} deleted", self.kind, self.name),
        }
    }
}
