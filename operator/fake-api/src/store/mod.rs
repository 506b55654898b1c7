//! The objects and the semantics of each verb, without HTTP. Each rule cites the convention it
//! follows (Kubernetes "API Concepts", `api-conventions.md`, "Server-Side Apply", RFC 7386);
//! `tests/conformance*.rs` check them through a real `kube::Client`. Reads live here, writes in
//! [`write`].

mod admission;
mod job_run;
mod jobs;
pub use job_run::{JobResult, JobRun, JobRunner};
mod kubelet;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Value, json};

use crate::ssa::Path;

/// A resource collection: `/api/v1` + `configmaps`, `/apis/apps/v1` + `deployments`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Collection {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub prefix: String,
    /// The plural resource name.
    pub resource: String,
}

/// One object's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Its collection.
    pub collection: Collection,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A refusal, as the API server's `Status` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP code: 404, 409, 410, 422, …
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Expired`, `Invalid`, `Forbidden`, …
    pub reason: String,
    /// What the server says.
    pub message: String,
}

impl ApiError {
    /// A refusal with `code`, `reason` and `message`.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// The `Status` body the API server sends.
    pub fn to_status(&self) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "code": self.code})
    }
}

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// Where.
    pub collection: Collection,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after (or, deleted, before) the change.
    pub object: Value,
}

struct Stored {
    object: Value,
    /// Field manager → the fields it owns.
    managers: BTreeMap<String, BTreeSet<Path>>,
}

/// Changes the log keeps before it compacts (kube-apiserver keeps a time window of etcd
/// history; a count is what a test can reason about). Large enough that no test here reaches it
/// except on purpose, small enough that a 10,000-service benchmark stays in memory.
pub const LOG_LIMIT: usize = 100_000;

/// All objects, one resourceVersion sequence, and the change log watches read.
pub struct Store {
    objects: BTreeMap<Collection, BTreeMap<(String, String), Stored>>,
    rv: u64,
    uid: u64,
    log: Vec<Change>,
    /// Watches from a resourceVersion below this get `410 Gone` ("API Concepts": the server
    /// keeps a limited history).
    compacted_below: u64,
    /// Resources whose status is a subresource: writes to the main resource leave status alone
    /// and `/status` writes change nothing else (`api-conventions.md`, "Spec and Status").
    pub status_subresource: HashSet<String>,
    /// Play the Deployment controller and kubelet: a Deployment reports all its replicas ready
    /// right after each write — unless a ConfigMap its pods mount is missing, when none is
    /// (the pods would wait in ContainerCreating); creating the ConfigMap makes them ready.
    pub deployments_ready: bool,
    /// `(namespace, ConfigMap)` → the Deployments whose pods wait for it to exist.
    waiting: BTreeMap<(String, String), BTreeSet<String>>,
    /// `(namespace, ConfigMap)` → the Jobs whose pods wait for it to exist.
    waiting_jobs: BTreeMap<(String, String), BTreeSet<String>>,
    /// What a Job's pod does when the controllers are played (every pod succeeds without one).
    pub job_runner: Option<std::sync::Arc<JobRunner>>,
    /// The logs of the Job pods, by `(namespace, pod)`.
    pod_logs: BTreeMap<(String, String), String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.rv)
            .field(
                "objects",
                &self.objects.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Store {
    fn default() -> Self {
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            uid: 0,
            log: Vec::new(),
            compacted_below: 0,
            status_subresource: [
                "deployments",
                "pods",
                "services",
                "albumservices",
                "noteservices",
                "customresourcedefinitions",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            deployments_ready: false,
            waiting: BTreeMap::new(),
            waiting_jobs: BTreeMap::new(),
            job_runner: None,
            pod_logs: BTreeMap::new(),
        }
    }
}

/// Whether `object`'s labels satisfy `selector` (`k=v`, `k!=v`, `k`, `!k`, comma = and).
pub fn selects(selector: Option<&str>, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.is_none_or(|sel| {
        sel.split(',').filter(|t| !t.is_empty()).all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()] != v.trim()
            } else if let Some((k, v)) = term.split_once('=') {
                labels[k.trim().trim_end_matches('=')] == v.trim()
            } else if let Some(k) = term.strip_prefix('!') {
                labels.get(k.trim()).is_none()
            } else {
                labels.get(term.trim()).is_some()
            }
        })
    })
}

/// Everything but `metadata` and `status`: what `metadata.generation` counts changes of.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

fn not_found(key: &Key) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} \"{}\" not found", key.collection.resource, key.name),
    )
}

impl Store {
    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Forgets the change log below the current resourceVersion: older watches get 410.
    pub fn compact(&mut self) {
        self.compacted_below = self.rv;
        self.log.clear();
    }

    /// Objects of `collection` in `namespace` (all namespaces if `None`) matching `selector`.
    pub fn list(
        &self,
        c: &Collection,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Vec<Value> {
        self.objects
            .get(c)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .map(|(_, s)| &s.object)
            .filter(|o| selects(selector, o))
            .cloned()
            .collect()
    }

    /// One page of [`Store::list`]: at most `limit` objects after `after` (a `(namespace,
    /// name)` key, exclusive), in key order, and the key to continue after if more remain
    /// ("API Concepts", "Retrieving large results sets in chunks").
    pub fn list_page(
        &self,
        c: &Collection,
        namespace: Option<&str>,
        selector: Option<&str>,
        limit: usize,
        after: Option<&(String, String)>,
    ) -> (Vec<Value>, Option<(String, String)>) {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = self
            .objects
            .get(c)
            .into_iter()
            .flat_map(|m| m.range((start, Bound::Unbounded)))
            .filter(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .filter(|(_, s)| selects(selector, &s.object));
        let page: Vec<(&(String, String), &Stored)> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let next = page.last().filter(|_| more).map(|(k, _)| (*k).clone());
        (
            page.into_iter().map(|(_, s)| s.object.clone()).collect(),
            next,
        )
    }

    /// One object.
    pub fn get(&self, key: &Key) -> Result<Value, ApiError> {
        self.stored(key)
            .map(|s| s.object.clone())
            .ok_or_else(|| not_found(key))
    }

    /// Who owns which fields of one object (dotted paths), as `metadata.managedFields` tells a
    /// client of kube-apiserver: for tests that another manager's fields stay its own.
    pub fn field_managers(&self, key: &Key) -> Option<BTreeMap<String, BTreeSet<String>>> {
        let stored = self.stored(key)?;
        let dotted = |paths: &BTreeSet<Path>| paths.iter().map(|p| p.join(".")).collect();
        Some(
            stored
                .managers
                .iter()
                .map(|(m, paths)| (m.clone(), dotted(paths)))
                .collect(),
        )
    }

    fn stored(&self, key: &Key) -> Option<&Stored> {
        self.objects
            .get(&key.collection)?
            .get(&(key.namespace.clone(), key.name.clone()))
    }

    /// Changes after resourceVersion `since`, or `410 Expired` if the log no longer reaches back
    /// that far ("API Concepts", "Efficient detection of changes").
    pub fn changes_since(&self, since: u64) -> Result<Vec<Change>, ApiError> {
        if since < self.compacted_below {
            return Err(ApiError::new(
                410,
                "Expired",
                format!(
                    "too old resource version: {since} ({})",
                    self.compacted_below
                ),
            ));
        }
        // The log is in resourceVersion order.
        let from = self.log.partition_point(|c| c.rv <= since);
        Ok(self.log[from..].to_vec())
    }

    /// Appends to the change log, forgetting the oldest entries beyond [`LOG_LIMIT`] as a
    /// server's compaction does (a watch resuming from before them gets 410).
    pub(crate) fn record(&mut self, change: Change) {
        self.log.push(change);
        if self.log.len() > LOG_LIMIT {
            let dropped = self.log.len() - LOG_LIMIT / 2;
            self.compacted_below = self.log[dropped].rv;
            self.log.drain(..dropped);
        }
    }
}
