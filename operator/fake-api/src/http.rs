//! The HTTP face of the [`crate::store::Store`]: paths, verbs, content types, watch streams,
//! faults and request counters, as a `kube::Client` sees a real API server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::http_target::{Target, parse};
use crate::shared::Shared;
use crate::store::{ApiError, Change, Key, selects};

fn reply(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body.clone())).into_response()
}

fn refuse(e: &ApiError) -> Response {
    reply(e.code, &e.to_status())
}

/// The verb as RBAC and the request counters name it.
fn verb(
    method: &Method,
    target: &Target,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> &'static str {
    let content = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match *method {
        Method::GET if target.name.is_some() => "get",
        Method::GET if query.get("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH if content.starts_with("application/apply-patch") => "apply",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

/// `GET …/pods/<name>/log[?tailLines=N]`: what the pod's container wrote, as text (the Job pods
/// the store ran; any other pod logged nothing).
fn pod_log(
    shared: &Shared,
    target: &Target,
    query: &HashMap<String, String>,
    verb: &str,
) -> Response {
    if verb != "get" {
        return refuse(&ApiError::new(
            405,
            "MethodNotAllowed",
            "only GET of a pod's log",
        ));
    }
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    let store = shared.lock();
    let key = Key {
        collection: target.collection.clone(),
        namespace: ns.clone(),
        name: name.clone(),
    };
    if let Err(e) = store.get(&key) {
        return refuse(&e);
    }
    let tail = query.get("tailLines").and_then(|n| n.parse().ok());
    let log = store.pod_log(&ns, &name, tail).unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], log).into_response()
}

/// Handles one request.
pub(crate) async fn handle(
    shared: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let Some(target) = parse(uri.path()) else {
        return refuse(&ApiError::new(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        ));
    };
    let verb = verb(&method, &target, &query, &headers);
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let user = crate::http_auth::bearer(&headers);
    let fault = shared
        .before_request(verb, &target.collection.resource, &agent, user.as_deref())
        .await;
    if let Some(e) = fault {
        return refuse(&e);
    }
    if let Some(e) = crate::http_auth::authorize(&shared, &headers, verb, &target) {
        return refuse(&e);
    }
    if verb == "watch" {
        return watch(&shared, &target, &query);
    }
    if target.log {
        return pod_log(&shared, &target, &query, verb);
    }
    let manager = query
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| agent.split('/').next().unwrap_or("unknown").to_owned());
    let parsed: Value = match body.is_empty() {
        true => Value::Null,
        false if verb == "apply" => match serde_yaml::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return refuse(&ApiError::new(400, "BadRequest", e.to_string())),
        },
        false => match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return refuse(&ApiError::new(400, "BadRequest", e.to_string())),
        },
    };
    let mut store = shared.lock();
    let before = store.resource_version();
    let ns = target.namespace.clone().unwrap_or_default();
    let key = |name: &String| Key {
        collection: target.collection.clone(),
        namespace: ns.clone(),
        name: name.clone(),
    };
    let outcome = match (verb, target.name.as_ref()) {
        ("list", _) => {
            let api_version = target
                .collection
                .prefix
                .trim_start_matches("/api/")
                .trim_start_matches("/apis/");
            crate::http_list::list(&store, &target, &query).map(|(items, metadata)| {
                (
                    200,
                    json!({"apiVersion": api_version, "kind": "List",
                           "metadata": metadata, "items": items}),
                )
            })
        }
        ("get", Some(name)) => store.get(&key(name)).map(|o| (200, o)),
        ("create", None) => store
            .create(&target.collection, &ns, parsed, &manager)
            .map(|o| (201, o)),
        ("update", Some(name)) => store
            .replace(&key(name), parsed, target.status, &manager)
            .map(|o| (200, o)),
        ("patch", Some(name)) => store
            .merge_patch(&key(name), &parsed, target.status, &manager)
            .map(|o| (200, o)),
        ("apply", Some(name)) => {
            let Some(manager) = query.get("fieldManager") else {
                return refuse(&ApiError::new(
                    400,
                    "BadRequest",
                    "fieldManager is required for apply requests",
                ));
            };
            let force = query.get("force").is_some_and(|f| f == "true");
            store
                .apply(&key(name), parsed, manager, force, target.status)
                .map(|o| (200, o))
        }
        ("delete", Some(name)) => store.delete(&key(name)).map(|_| {
            (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            )
        }),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on {}", uri.path()),
        )),
    };
    let changes = store.changes_since(before).unwrap_or_default();
    drop(store);
    for change in changes {
        let _ = shared.changes.send(change);
    }
    match outcome {
        Ok((code, body)) => reply(code, &body),
        Err(e) => refuse(&e),
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// WATCH ("API Concepts", "Efficient detection of changes"): from `resourceVersion` on (an
/// empty or `0` version starts with the current objects as ADDED), `410 Gone` as an ERROR event
/// when that version is no longer in the log, BOOKMARK events when `allowWatchBookmarks`, and the
/// stream ends after `timeoutSeconds`.
fn watch(shared: &Shared, target: &Target, query: &HashMap<String, String>) -> Response {
    let selector = query.get("labelSelector").cloned();
    let timeout = Duration::from_secs(
        query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1800),
    );
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let (collection, namespace) = (target.collection.clone(), target.namespace.clone());
    let wanted = move |c: &Change| {
        c.collection == collection
            && namespace
                .as_deref()
                .is_none_or(|ns| c.object["metadata"]["namespace"] == ns)
            && selects(selector.as_deref(), &c.object)
    };
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, Infallible>>();
    let mut live = shared.changes.subscribe();
    let (backlog, mut last) = {
        let store = shared.lock();
        let since = query
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0);
        let backlog = match since {
            Some(rv) => store
                .changes_since(rv)
                .map(|c| c.into_iter().filter(&wanted).collect::<Vec<_>>()),
            None => Ok(store
                .list(&target.collection, target.namespace.as_deref(), None)
                .into_iter()
                .map(|object| Change {
                    rv: 0,
                    collection: target.collection.clone(),
                    kind: "ADDED",
                    object,
                })
                .filter(&wanted)
                .collect()),
        };
        (backlog, store.resource_version())
    };
    let kind = shared.kind_of(&target.collection.resource);
    let api_version = target
        .collection
        .prefix
        .trim_start_matches("/api/")
        .trim_start_matches("/apis/")
        .to_owned();
    let interval = shared.bookmark_interval;
    // Changes up to here are in the backlog; the live feed may repeat some of them.
    let floor = last;
    tokio::spawn(async move {
        let send = |line: Bytes| tx.unbounded_send(Ok(line)).is_ok();
        match backlog {
            Err(gone) => {
                send(event_line("ERROR", &gone.to_status()));
                return;
            }
            Ok(changes) => {
                for c in changes {
                    if !send(event_line(c.kind, &c.object)) {
                        return;
                    }
                }
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut deadline => return,
                _ = tick.tick(), if bookmarks => {
                    let mark = json!({"kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": last.to_string()}});
                    if !send(event_line("BOOKMARK", &mark)) { return; }
                }
                change = live.recv() => match change {
                    Ok(c) if c.rv <= floor => {}
                    Ok(c) => {
                        last = last.max(c.rv);
                        if wanted(&c) && !send(event_line(c.kind, &c.object)) { return; }
                    }
                    // A watcher that fell behind is told to start over, as the server does.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        send(event_line("ERROR", &ApiError::new(410, "Expired", "watch fell behind").to_status()));
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(rx.map(|r| r)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_collection_namespace_object_and_status() {
        let t = parse("/apis/apps/v1/namespaces/shop/deployments/albums-1/status").unwrap();
        assert_eq!(
            (t.collection.prefix.as_str(), t.collection.resource.as_str()),
            ("/apis/apps/v1", "deployments")
        );
        assert_eq!(
            (t.namespace.as_deref(), t.name.as_deref(), t.status),
            (Some("shop"), Some("albums-1"), true)
        );
        let all = parse("/api/v1/pods").unwrap();
        assert_eq!((all.namespace, all.name), (None, None));
        assert!(parse("/apis/apps/v1/namespaces/shop/deployments/x/scale").is_none());
        let crd = parse(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/albumservices.lockstep.dev",
        )
        .unwrap();
        assert_eq!(
            (
                crd.collection.resource.as_str(),
                crd.namespace,
                crd.name.as_deref()
            ),
            (
                "customresourcedefinitions",
                None,
                Some("albumservices.lockstep.dev")
            )
        );
        assert!(parse("/healthz").is_none());
    }
}
