//! # lockstep-fake-api — an in-memory Kubernetes API server for tests
//!
//! Served over loopback HTTP, so the code under test uses a real `kube::Client`, real
//! reflectors and the real `Controller`. It follows the API conventions for the verbs Lockstep
//! uses, and `tests/conformance.rs` and `tests/conformance_watch.rs` check each one on its own:
//!
//! ```text
//!  LIST  label selectors, resourceVersion          GET     404 NotFound
//!  WATCH from a resourceVersion, 410 Expired when   CREATE  409 AlreadyExists, server-set uid,
//!        it is compacted away, BOOKMARKs, timeout           resourceVersion, generation
//!  PUT / merge patch: 409 Conflict on a stale       APPLY   field managers, force, conflicts,
//!        resourceVersion; RFC 7386 nulls delete             fields a manager stops sending go
//!  status subresource: spec writes keep status,     DELETE  garbage collection by ownerReference
//!        /status writes keep everything else        generation bumps on spec changes only
//!  immutable ConfigMaps refuse data changes (422)   no-op writes: no new resourceVersion/event
//! ```
//!
//! Faults for attacking the code under test: refuse chosen requests (a ResourceQuota's 403, a
//! 422), add latency, stall every request, compact the watch history; request counters by verb,
//! resource and user agent for the benchmarks.
//!
//! Custom resources are admitted by their CRD when it is installed (`install_crds`): unknown
//! fields pruned, defaults filled, structural schema and CEL rules checked (422 Invalid).
//!
//! Not modelled (tests needing them belong in the kind e2e tier): admission webhooks, CRD
//! validation ratcheting, list merge keys from schemas (server-side apply knows the associative
//! lists of `ssa::LIST_KEYS` by field name; other lists are atomic), pagination
//! (`limit` returns everything), finalizers, field selectors, `minReadySeconds` (ready pods are
//! available at once).

pub mod gateway;
mod http;
mod http_auth;
mod http_list;
mod http_target;
mod shared;
pub mod ssa;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

pub use shared::{Authorizer, Counters, Refusal, Request};
use shared::{Faults, Inner, Shared, guard};
pub use store::{ApiError, Change, Collection, JobResult, JobRun, JobRunner, Key, Store};

/// A running fake API server. Dropping it stops the server.
pub struct FakeApi {
    shared: Shared,
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// Starts a server on a loopback port with an empty store (bookmarks every second).
    pub async fn start() -> std::io::Result<FakeApi> {
        FakeApi::start_with(Store::default(), Duration::from_secs(1)).await
    }

    /// Starts a server on `store`, sending watch bookmarks every `bookmark_interval`.
    pub async fn start_with(store: Store, bookmark_interval: Duration) -> std::io::Result<FakeApi> {
        let (changes, _) = broadcast::channel(4096);
        let shared = Shared {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                faults: Mutex::new(Faults::default()),
                counters: Mutex::new(Counters::default()),
                stalled: tokio::sync::watch::channel(false).0,
            }),
            changes,
            bookmark_interval,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handler = shared.clone();
        let app = axum::Router::new().fallback(move |method, uri, headers, body| {
            http::handle(handler.clone(), method, uri, headers, body)
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeApi { shared, addr, task })
    }

    /// The server's base URL (`http://127.0.0.1:PORT`), for clients configured by hand.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `kube::Client` for this server (plain HTTP, default namespace `default`).
    pub fn client(&self) -> kube::Client {
        let uri = format!("http://{}", self.addr).parse().unwrap_or_default();
        let config = kube::Config::new(uri);
        kube::Client::try_from(config)
            .unwrap_or_else(|e| panic!("a client for the fake API server: {e}"))
    }

    /// The store, for direct inspection or set-up (changes made here reach watches only through
    /// [`FakeApi::insert_raw`]).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.shared.lock()
    }

    /// Stores `object` without any check and tells the watches: an object the server accepted
    /// that the code under test may not decode.
    pub fn insert_raw(&self, collection: &Collection, namespace: &str, object: Value) -> Value {
        let mut store = self.shared.lock();
        let before = store.resource_version();
        let stored = store.insert_raw(collection, namespace, object);
        for change in store.changes_since(before).unwrap_or_default() {
            let _ = self.shared.changes.send(change);
        }
        stored
    }

    /// Stores `crds` as an installed chart would, so that writes of their custom resources are
    /// admitted by schema and CEL rules (see `store/admission.rs`).
    pub fn install_crds(
        &self,
        crds: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition],
    ) {
        let collection = Collection {
            prefix: "/apis/apiextensions.k8s.io/v1".into(),
            resource: "customresourcedefinitions".into(),
        };
        for crd in crds {
            let object = serde_json::to_value(crd).unwrap_or(Value::Null);
            let mut store = self.shared.lock();
            let before = store.resource_version();
            if let Err(e) = store.create(&collection, "", object, "test") {
                panic!("installing a CRD in the fake API server: {}", e.message);
            }
            for change in store.changes_since(before).unwrap_or_default() {
                let _ = self.shared.changes.send(change);
            }
        }
    }

    /// A client that authenticates as `user` (a bearer token), so that [`FakeApi::authorize`]
    /// applies to it; [`FakeApi::client`]'s requests are always allowed.
    pub fn client_as(&self, user: &str) -> kube::Client {
        let uri = format!("http://{}", self.addr).parse().unwrap_or_default();
        let mut config = kube::Config::new(uri);
        config.auth_info.token = Some(user.to_owned().into());
        kube::Client::try_from(config)
            .unwrap_or_else(|e| panic!("a client for the fake API server: {e}"))
    }

    /// Authorizes every request of a user (a client from [`FakeApi::client_as`]) by `rule`,
    /// as RBAC would: a denied one is `403 Forbidden` with the API server's message.
    pub fn authorize(&self, rule: impl Fn(&Request) -> bool + Send + Sync + 'static) {
        guard(&self.shared.inner.faults).authorizer = Some(Arc::new(rule));
    }

    /// Refuses matching requests with `refusal.error`, `refusal.times` times.
    pub fn refuse(&self, refusal: Refusal) {
        guard(&self.shared.inner.faults).refusals.push(refusal);
    }

    /// Delays every request by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        guard(&self.shared.inner.faults).latency = latency;
    }

    /// Holds every new request (a hung server) until called with `false`.
    pub fn stall(&self, stalled: bool) {
        self.shared.inner.stalled.send_replace(stalled);
    }

    /// Holds every new request of `user` (a client from [`FakeApi::client_as`] cut off from
    /// the server while others still reach it) until called with `false`.
    pub fn stall_user(&self, user: &str, stalled: bool) {
        {
            let mut faults = guard(&self.shared.inner.faults);
            if stalled {
                faults.stalled_users.insert(user.to_owned());
            } else {
                faults.stalled_users.remove(user);
            }
        }
        // Wake the held requests to look again.
        self.shared.inner.stalled.send_modify(|_| {});
    }

    /// The requests seen so far.
    pub fn counters(&self) -> Counters {
        guard(&self.shared.inner.counters).clone()
    }

    /// Clears the request counters.
    pub fn reset_counters(&self) {
        *guard(&self.shared.inner.counters) = Counters::default();
    }
}
