//! The Gateway API `HTTPRoute` of `rollout.trafficRouting`: read at each reconcile of a service
//! that asks for one (a GET, no watch: without the Gateway API CRDs a service that does not
//! route must work as before, and no informer may fail for a kind that does not exist), and
//! written as a merge patch of `spec.rules` that carries the resourceVersion it was read at.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::core::plan::{RouteProblem, RouteSeen};
use crate::error::Result;

fn resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

fn api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource())
}

/// The route `namespace/name` as the server holds it. Not found (also: no such kind) and
/// forbidden are what the rollout waits on; any other error fails the reconcile (retried).
pub async fn read(client: &Client, namespace: &str, name: &str) -> Result<RouteSeen> {
    let route = format!("{namespace}/{name}");
    match api(client, namespace).get(name).await {
        Ok(found) => {
            let rules = found.data["spec"]["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            Ok(RouteSeen::Found {
                rules,
                resource_version: found.metadata.resource_version.unwrap_or_default(),
            })
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {
            Ok(RouteSeen::Problem(RouteProblem::Missing(route)))
        }
        Err(kube::Error::Api(e)) if e.code == 403 => Ok(RouteSeen::Problem(
            RouteProblem::Unreadable(route, e.message),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Writes `rules` as the route's `spec.rules` as `manager`, if it is still at
/// `resource_version` (else 409, and the next reconcile edits a fresh read). Returns the
/// route's new resourceVersion.
pub async fn write(
    client: &Client,
    manager: &str,
    namespace: &str,
    name: &str,
    resource_version: &str,
    rules: &[Value],
) -> Result<Option<String>> {
    let patch = json!({
        "metadata": {"resourceVersion": resource_version},
        "spec": {"rules": rules},
    });
    let params = PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    };
    let written = api(client, namespace)
        .patch(name, &params, &Patch::Merge(&patch))
        .await?;
    Ok(written.metadata.resource_version)
}
