//! A minimal in-memory Kubernetes API server: enough of LIST/WATCH/GET/POST/PATCH for the
//! operator's watchers and reconciles. Every applied Deployment is ready at once; watches stay
//! open and silent, so each service is reconciled by its initial LIST (plus its own requeues).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Collections by path (`/apis/apps/v1/namespaces/bench/deployments`), objects by name.
#[derive(Default)]
struct State {
    collections: HashMap<String, BTreeMap<String, Value>>,
    uid: u64,
    reconciled: HashSet<String>,
    first_request: Option<Instant>,
    requests: u64,
    writes: u64,
}

/// The server's shared state and the number of services to wait for.
#[derive(Clone)]
pub(crate) struct Fake {
    state: Arc<Mutex<State>>,
    services: usize,
}

fn status(code: StatusCode, reason: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "reason": reason, "code": code.as_u16(), "message": reason});
    (code, axum::Json(body)).into_response()
}

fn matches(obj: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').all(|term| {
        let labels = &obj["metadata"]["labels"];
        match term.split_once('=') {
            Some((k, v)) => labels[k] == v,
            None => labels.get(term).is_some(),
        }
    })
}

fn merge(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(d), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    d.remove(k);
                } else {
                    merge(d.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (d, p) => *d = p.clone(),
    }
}

impl Fake {
    /// `services` AlbumServices named `albums-N` in namespace `bench`.
    pub(crate) fn new(template: &Value, services: usize) -> Fake {
        let mut state = State::default();
        let albums = state
            .collections
            .entry("/apis/lockstep.dev/v1alpha1/namespaces/bench/albumservices".into())
            .or_default();
        for i in 0..services {
            let mut svc = template.clone();
            let name = format!("albums-{i}");
            svc["metadata"] = json!({"name": name, "namespace": "bench", "uid": format!("uid-{i}"),
                                     "generation": 1, "resourceVersion": "1"});
            // Distinct configs, so every service hashes to its own revision.
            svc["spec"]["release"]["config"]["server"]["request_timeout_ms"] = json!(1000 + i);
            albums.insert(name, svc);
        }
        Fake {
            state: Arc::new(Mutex::new(state)),
            services,
        }
    }

    /// `(seconds from the first request until every service had its status written, requests,
    /// writes)` once that happened.
    pub(crate) fn progress(&self) -> Option<(f64, u64, u64)> {
        let s = self.state.lock().ok()?;
        (s.reconciled.len() >= self.services).then(|| {
            let secs = s.first_request.map_or(0.0, |t| t.elapsed().as_secs_f64());
            (secs, s.requests, s.writes)
        })
    }

    fn list(&self, collection_suffix: &str, selector: Option<&str>) -> Value {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Objects of service X are named X, X-<hash> or X-cfg-<hash>: a name-prefix range finds
        // them without scanning the whole collection, as the label index of a real API server would.
        let prefix = selector
            .and_then(|sel| sel.strip_prefix("lockstep.dev/service="))
            .filter(|v| !v.contains(','));
        // Cluster-wide lists (`/apis/apps/v1/deployments`) cover every namespace.
        let items: Vec<Value> = s
            .collections
            .iter()
            .filter(|(path, _)| path.ends_with(collection_suffix))
            .flat_map(|(_, objs)| match prefix {
                Some(p) => Box::new(
                    objs.range(p.to_owned()..)
                        .take_while(move |(k, _)| k.starts_with(p)),
                ) as Box<dyn Iterator<Item = (&String, &Value)>>,
                None => Box::new(objs.iter()),
            })
            .map(|(_, o)| o)
            .filter(|o| matches(o, selector))
            .cloned()
            .collect();
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
    }

    /// Handles one API request.
    pub(crate) async fn handle(self, method: Method, uri: Uri, body: Bytes) -> Response {
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.first_request.get_or_insert_with(Instant::now);
            s.requests += 1;
            if method != Method::GET {
                s.writes += 1;
            }
        }
        let query: HashMap<String, String> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let path = uri.path().trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        // `/api/v1/...` has 3 prefix segments, `/apis/group/version/...` 4.
        let prefix = if segments.get(1) == Some(&"api") {
            3
        } else {
            4
        };
        let rest = &segments[prefix.min(segments.len())..];
        let (collection, name, sub) = match rest {
            [resource] => (
                format!("{}/{resource}", segments[..prefix].join("/")),
                None,
                None,
            ),
            ["namespaces", _, _] => (path.to_owned(), None, None),
            ["namespaces", _, _, name] => (
                segments[..segments.len() - 1].join("/"),
                Some((*name).to_owned()),
                None,
            ),
            ["namespaces", _, _, name, sub] => (
                segments[..segments.len() - 2].join("/"),
                Some((*name).to_owned()),
                Some(*sub),
            ),
            _ => return status(StatusCode::NOT_FOUND, "NotFound"),
        };
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match (method, name) {
            (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                let silent = futures::stream::pending::<Result<Bytes, Infallible>>();
                Response::new(Body::from_stream(silent))
            }
            (Method::GET, None) => {
                let suffix = if rest.len() == 1 {
                    format!("/{}", rest[0])
                } else {
                    collection
                };
                axum::Json(self.list(&suffix, query.get("labelSelector").map(String::as_str)))
                    .into_response()
            }
            (Method::GET, Some(name)) => {
                let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                match s.collections.get(&collection).and_then(|c| c.get(&name)) {
                    Some(obj) => axum::Json(obj.clone()).into_response(),
                    None => status(StatusCode::NOT_FOUND, "NotFound"),
                }
            }
            (Method::POST, None) => {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                s.uid += 1;
                let mut obj = body;
                obj["metadata"]["uid"] = json!(format!("fake-{}", s.uid));
                obj["metadata"]["resourceVersion"] = json!("1");
                let name = obj["metadata"]["name"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("generated-{}", s.uid));
                obj["metadata"]["name"] = json!(name);
                s.collections
                    .entry(collection)
                    .or_default()
                    .insert(name, obj.clone());
                (StatusCode::CREATED, axum::Json(obj)).into_response()
            }
            (Method::PATCH, Some(name)) => {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let apply = query.contains_key("fieldManager") && sub.is_none();
                let objects = s.collections.entry(collection.clone()).or_default();
                let obj = objects.entry(name.clone()).or_insert_with(|| json!({}));
                if apply
                    && !obj.is_null()
                    && obj.get("spec").is_some()
                    && body.get("spec").is_some()
                {
                    // Server-side apply of an object we fully own: the applied intent replaces it.
                    obj["spec"] = body["spec"].clone();
                } else {
                    merge(obj, &body);
                }
                if collection.ends_with("/deployments") {
                    let replicas = obj["spec"]["replicas"].clone();
                    obj["status"] = json!({"replicas": replicas, "readyReplicas": replicas});
                }
                let answer = obj.clone();
                if sub == Some("status") {
                    s.reconciled.insert(name);
                }
                axum::Json(answer).into_response()
            }
            (Method::DELETE, Some(name)) => {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(c) = s.collections.get_mut(&collection) {
                    c.remove(&name);
                }
                axum::Json(json!({"kind": "Status", "status": "Success"})).into_response()
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        }
    }
}
