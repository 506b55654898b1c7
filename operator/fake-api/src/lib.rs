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

mod http;
mod http_auth;
mod http_list;
mod http_target;
pub mod ssa;
pub mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

pub use store::{ApiError, Change, Collection, Key, Store};

/// A request refusal to inject.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The verb (`create`, `apply`, `patch`, `update`, `delete`, `get`, `list`, `watch`), or
    /// any when `None`.
    pub verb: Option<&'static str>,
    /// The plural resource (`configmaps`), or any when `None`.
    pub resource: Option<String>,
    /// What the server answers.
    pub error: ApiError,
    /// How many matching requests to refuse.
    pub times: u32,
}

#[derive(Default)]
struct Faults {
    refusals: Vec<Refusal>,
    latency: Duration,
    authorizer: Option<Arc<Authorizer>>,
    /// Users whose new requests are held (a partitioned client); `stall_user` wakes them.
    stalled_users: std::collections::BTreeSet<String>,
}

/// Decides whether a user's request is allowed (RBAC's question).
pub type Authorizer = dyn Fn(&Request) -> bool + Send + Sync;

/// A request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The user: the bearer token the client sent (see [`FakeApi::client_as`]).
    pub user: String,
    /// The RBAC verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`).
    pub verb: &'static str,
    /// API group, `""` for the core group.
    pub group: String,
    /// Plural resource, `resource/status` for the status subresource.
    pub resource: String,
    /// Namespace, if namespaced.
    pub namespace: Option<String>,
    /// Object name, if one is addressed.
    pub name: Option<String>,
}

/// Requests seen, by `(verb, resource)` and by user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// `(verb, resource)` → requests.
    pub by_verb: BTreeMap<(String, String), u64>,
    /// User agent → requests.
    pub by_agent: BTreeMap<String, u64>,
}

impl Counters {
    /// Requests that change something (create, update, patch, apply, delete).
    pub fn writes(&self) -> u64 {
        self.by_verb
            .iter()
            .filter(|((v, _), _)| {
                matches!(
                    v.as_str(),
                    "create" | "update" | "patch" | "apply" | "delete"
                )
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_verb.values().sum()
    }

    /// Writes to one resource.
    pub fn writes_to(&self, resource: &str) -> u64 {
        self.by_verb
            .iter()
            .filter(|((v, r), _)| {
                r == resource
                    && matches!(
                        v.as_str(),
                        "create" | "update" | "patch" | "apply" | "delete"
                    )
            })
            .map(|(_, n)| n)
            .sum()
    }
}

struct Inner {
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    counters: Mutex<Counters>,
    stalled: tokio::sync::watch::Sender<bool>,
}

/// Shared by the HTTP handlers and the test's [`FakeApi`] handle.
#[derive(Clone)]
pub(crate) struct Shared {
    inner: Arc<Inner>,
    changes: broadcast::Sender<Change>,
    bookmark_interval: Duration,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        guard(&self.inner.store)
    }

    /// Counts the request, then applies latency, a stall and any matching refusal.
    async fn before_request(
        &self,
        verb: &'static str,
        resource: &str,
        agent: &str,
        user: Option<&str>,
    ) -> Option<ApiError> {
        {
            let mut c = guard(&self.inner.counters);
            *c.by_verb
                .entry((verb.to_owned(), resource.to_owned()))
                .or_default() += 1;
            *c.by_agent.entry(agent.to_owned()).or_default() += 1;
        }
        let latency = guard(&self.inner.faults).latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut stalled = self.inner.stalled.subscribe();
        let _ = stalled.wait_for(|s| !*s).await;
        if let Some(user) = user {
            let mut changed = self.inner.stalled.subscribe();
            while guard(&self.inner.faults).stalled_users.contains(user) {
                let _ = changed.changed().await;
            }
        }
        let mut faults = guard(&self.inner.faults);
        let rule = faults.refusals.iter_mut().find(|r| {
            r.times > 0
                && r.verb.is_none_or(|v| v == verb)
                && r.resource.as_deref().is_none_or(|x| x == resource)
        })?;
        rule.times -= 1;
        Some(rule.error.clone())
    }

    /// Whether the installed authorizer (if any) allows `request`.
    pub(crate) fn allowed(&self, request: &Request) -> bool {
        let authorizer = guard(&self.inner.faults).authorizer.clone();
        authorizer.is_none_or(|a| a(request))
    }

    /// The `kind` of a resource's objects, for bookmarks.
    fn kind_of(&self, resource: &str) -> String {
        KINDS
            .iter()
            .find(|(r, _)| *r == resource)
            .map_or_else(|| "Unknown".to_owned(), |(_, k)| (*k).to_owned())
    }
}

const KINDS: [(&str, &str); 11] = [
    ("albumservices", "AlbumService"),
    ("noteservices", "NoteService"),
    ("userservices", "UserService"),
    ("deployments", "Deployment"),
    ("controllerrevisions", "ControllerRevision"),
    ("configmaps", "ConfigMap"),
    ("services", "Service"),
    ("pods", "Pod"),
    ("leases", "Lease"),
    ("events", "Event"),
    ("secrets", "Secret"),
];

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
