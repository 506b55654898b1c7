//! The one Service in front of every revision, and the drift check of an observed one: which
//! revisions its selector routes to, and whether its ports are those the spec asks for.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{LABEL_REVISION, LABEL_SERVICE, meta};
use crate::kinds::{NamedPort, ServiceRef};

/// The one Service in front of every revision: traffic splits by ready pods, so the canary's
/// weight is its share of replicas. It targets the container ports by name (`http`, and `grpc`
/// when the current spec serves gRPC; an `AppService`'s own names), so a revision that moves a
/// port is reached on its own number while the previous revision's pods still serve on theirs.
pub fn service(svc: &ServiceRef, serving: Option<i64>) -> Service {
    Service {
        metadata: meta(svc, svc.name.clone(), None, svc.owner.clone()),
        spec: Some(service_spec(&svc.name, serving, &svc.ports)),
        ..Service::default()
    }
}

/// A Service named `name` in front of revision `revision` of the service alone: `<name>-stable`
/// and `<name>-canary` (the route's backends) and blue-green's `<name>-preview`. Same ports as
/// the main Service, owned by the service object.
pub fn revision_service(svc: &ServiceRef, name: String, revision: i64) -> Service {
    Service {
        metadata: meta(svc, name, None, svc.owner.clone()),
        spec: Some(service_spec(&svc.name, Some(revision), &svc.ports)),
        ..Service::default()
    }
}

fn selector(name: &str, serving: Option<i64>) -> BTreeMap<String, String> {
    let mut selector = BTreeMap::from([(LABEL_SERVICE.to_owned(), name.to_owned())]);
    if let Some(revision) = serving {
        selector.insert(LABEL_REVISION.to_owned(), revision.to_string());
    }
    selector
}

/// The label selector of the pods that serve (`status.selector`, what an HPA measures).
pub fn serving_selector(name: &str, serving: Option<i64>) -> String {
    selector(name, serving)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn service_spec(name: &str, serving: Option<i64>, ports: &[NamedPort]) -> ServiceSpec {
    let ports = ports
        .iter()
        .map(|p| ServicePort {
            name: Some(p.name.clone()),
            port: i32::from(p.port),
            target_port: Some(IntOrString::String(p.name.clone())),
            ..ServicePort::default()
        })
        .collect();
    ServiceSpec {
        selector: Some(selector(name, serving)),
        ports: Some(ports),
        ..ServiceSpec::default()
    }
}

/// A Service port as the drift check compares it: name, port and target port (the API server
/// defaults the protocol).
pub type PortShape = (Option<String>, i32, Option<IntOrString>);

fn port_shapes(spec: &ServiceSpec) -> Vec<PortShape> {
    spec.ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.port, p.target_port.clone()))
        .collect()
}

/// The ports [`service`] renders for `ports` (what the current spec asks for,
/// [`LockstepService::service_ports`](crate::kinds::LockstepService::service_ports)).
pub fn service_ports(ports: &[NamedPort]) -> Vec<PortShape> {
    port_shapes(&service_spec("", None, ports))
}

/// The ports of an observed Service.
pub fn observed_ports(observed: &Service) -> Vec<PortShape> {
    observed.spec.as_ref().map(port_shapes).unwrap_or_default()
}

/// How an observed Service of service `name` (its `lockstep.dev/service` label) routes, if its selector is as [`service`] renders
/// it (the service's pods, alone or with one revision's label): `Some(Some(n))` to revision
/// `n`, `Some(None)` to every revision, `None` for anything else (drift). Its ports are compared
/// separately ([`service_ports`]), against what the current spec asks for. Fields the API
/// server defaults (cluster IP, protocol, session affinity) are not compared.
pub fn service_routes(observed: &Service, name: &str) -> Option<Option<i64>> {
    let spec = observed.spec.as_ref()?;
    let routes = spec
        .selector
        .as_ref()?
        .get(LABEL_REVISION)
        .map(|n| n.parse::<i64>().ok())
        .map_or(Some(None), |n| n.map(Some))?;
    (spec.selector == Some(selector(name, routes))).then_some(routes)
}
