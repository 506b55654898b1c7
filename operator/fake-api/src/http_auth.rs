//! Who sends a request, and whether RBAC lets them.

use axum::http::{HeaderMap, header};

use crate::http_target::Target;
use crate::shared::Shared;
use crate::store::{ApiError, Key};

/// The user a request authenticates as: its bearer token.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// RBAC as a real server applies it, when the test installed rules (`FakeApi::authorize`):
/// the user is the bearer token; a request without one is the test's own (an admin). Server-side
/// apply is authorized as `patch`, and as `create` too when the object does not exist.
pub(crate) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    verb: &'static str,
    target: &Target,
) -> Option<ApiError> {
    let user = bearer(headers)?;
    let group = target
        .collection
        .prefix
        .strip_prefix("/apis/")
        .and_then(|gv| gv.split('/').next())
        .unwrap_or("")
        .to_owned();
    let resource = if target.status {
        format!("{}/status", target.collection.resource)
    } else if target.log {
        format!("{}/log", target.collection.resource)
    } else {
        target.collection.resource.clone()
    };
    let mut verbs = vec![if verb == "apply" { "patch" } else { verb }];
    if verb == "apply"
        && let Some(name) = &target.name
    {
        let key = Key {
            collection: target.collection.clone(),
            namespace: target.namespace.clone().unwrap_or_default(),
            name: name.clone(),
        };
        if shared.lock().get(&key).is_err() {
            verbs.push("create");
        }
    }
    for verb in verbs {
        let request = crate::shared::Request {
            user: user.clone(),
            verb,
            group: group.clone(),
            resource: resource.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
        };
        if !shared.allowed(&request) {
            let qualified = match group.as_str() {
                "" => target.collection.resource.clone(),
                g => format!("{}.{g}", target.collection.resource),
            };
            let what = match &target.name {
                Some(name) => format!("{qualified} \"{name}\""),
                None => qualified,
            };
            let scope = match &target.namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_owned(),
            };
            return Some(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{what} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" \
                     in API group \"{group}\"{scope}"
                ),
            ));
        }
    }
    None
}
