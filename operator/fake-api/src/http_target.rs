//! What a request addresses: the collection, namespace, name, and `/status` (or a pod's `/log`)
//! of an API path.

use crate::store::Collection;

/// What a request addresses.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) collection: Collection,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) status: bool,
    /// `GET …/pods/<name>/log`.
    pub(crate) log: bool,
}

pub(crate) fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (format!("/api/{v}"), rest),
        ["apis", g, v, rest @ ..] => (format!("/apis/{g}/{v}"), rest),
        _ => return None,
    };
    let collection = |resource: &str| Collection {
        prefix: prefix.clone(),
        resource: resource.to_owned(),
    };
    let (ns, resource, name, sub) = match rest {
        [resource] => (None, *resource, None, None),
        ["namespaces", ns, resource] => (Some(*ns), *resource, None, None),
        ["namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name), None),
        ["namespaces", ns, resource, name, sub] => (Some(*ns), *resource, Some(*name), Some(*sub)),
        // Cluster-scoped objects (CustomResourceDefinitions, Namespaces).
        [resource, name] => (None, *resource, Some(*name), None),
        [resource, name, sub] => (None, *resource, Some(*name), Some(*sub)),
        _ => return None,
    };
    let log = sub == Some("log") && resource == "pods";
    if sub.is_some_and(|s| s != "status") && !log {
        return None;
    }
    Some(Target {
        collection: collection(resource),
        namespace: ns.map(str::to_owned),
        name: name.map(str::to_owned),
        status: sub == Some("status"),
        log,
    })
}
