//! What the HTTP handlers and the test's handle share: the store, the injected faults and the
//! request counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::store::{ApiError, Change, Store};

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
pub(crate) struct Faults {
    pub(crate) refusals: Vec<Refusal>,
    pub(crate) latency: Duration,
    pub(crate) authorizer: Option<Arc<Authorizer>>,
    /// Users whose new requests are held (a partitioned client); `stall_user` wakes them.
    pub(crate) stalled_users: std::collections::BTreeSet<String>,
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

pub(crate) struct Inner {
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) counters: Mutex<Counters>,
    pub(crate) stalled: tokio::sync::watch::Sender<bool>,
}

/// Shared by the HTTP handlers and the test's [`FakeApi`] handle.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) inner: Arc<Inner>,
    pub(crate) changes: broadcast::Sender<Change>,
    pub(crate) bookmark_interval: Duration,
}

pub(crate) fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        guard(&self.inner.store)
    }

    /// Counts the request, then applies latency, a stall and any matching refusal.
    pub(crate) async fn before_request(
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
    pub(crate) fn kind_of(&self, resource: &str) -> String {
        KINDS
            .iter()
            .find(|(r, _)| *r == resource)
            .map_or_else(|| "Unknown".to_owned(), |(_, k)| (*k).to_owned())
    }
}

const KINDS: [(&str, &str); 12] = [
    ("albumservices", "AlbumService"),
    ("noteservices", "NoteService"),
    ("userservices", "UserService"),
    ("appservices", "AppService"),
    ("deployments", "Deployment"),
    ("controllerrevisions", "ControllerRevision"),
    ("configmaps", "ConfigMap"),
    ("services", "Service"),
    ("pods", "Pod"),
    ("leases", "Lease"),
    ("events", "Event"),
    ("secrets", "Secret"),
];
