//! The Gateway API's `HTTPRoute` (`gateway.networking.k8s.io/v1`) as a CRD of our own, for tests
//! that route traffic by weight: the fields Lockstep reads and writes, with upstream's
//! constraints on them (`config/crd/standard/gateway.networking.k8s.io_httproutes.yaml` of
//! kubernetes-sigs/gateway-api) — at most 16 rules and 16 backendRefs a rule, weights
//! 0–1,000,000 defaulting to 1, ports 1–65,535, header matches `Exact` or `RegularExpression`,
//! path matches defaulting to `PathPrefix /`. Other fields (filters, timeouts, …) are kept as
//! they are sent (`x-kubernetes-preserve-unknown-fields` on a rule), not checked. Lists are
//! atomic under server-side apply, as upstream's are: who applies `rules` owns all of them.
//!
//! Not a copy of upstream: the kind workflow installs the real release.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const GROUP: &str = "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const KIND: &str = "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$";

fn string(min: u32, max: u32, pattern: &str) -> Value {
    json!({"type": "string", "minLength": min, "maxLength": max, "pattern": pattern})
}

/// A `backendRef`: a Service by default, with a weight.
fn backend_ref() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "group": {"type": "string", "default": "", "maxLength": 253, "pattern": GROUP},
            "kind": {"type": "string", "default": "Service", "minLength": 1, "maxLength": 63,
                     "pattern": KIND},
            "name": {"type": "string", "minLength": 1, "maxLength": 253},
            "namespace": string(1, 63, DNS_LABEL),
            "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
            "weight": {"type": "integer", "format": "int32", "default": 1, "minimum": 0,
                       "maximum": 1_000_000}
        }
    })
}

/// A rule's match: a path and headers.
fn route_match() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {
                "type": "object",
                "default": {"type": "PathPrefix", "value": "/"},
                "properties": {
                    "type": {"type": "string", "default": "PathPrefix",
                             "enum": ["Exact", "PathPrefix", "RegularExpression"]},
                    "value": {"type": "string", "default": "/", "maxLength": 1024}
                }
            },
            "headers": {
                "type": "array",
                "maxItems": 16,
                "items": {
                    "type": "object",
                    "required": ["name", "value"],
                    "properties": {
                        "type": {"type": "string", "default": "Exact",
                                 "enum": ["Exact", "RegularExpression"]},
                        "name": {"type": "string", "minLength": 1, "maxLength": 256,
                                 "pattern": "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$"},
                        "value": {"type": "string", "minLength": 1, "maxLength": 4096}
                    }
                }
            }
        }
    })
}

fn spec() -> Value {
    json!({
        "type": "object",
        "properties": {
            "parentRefs": {
                "type": "array",
                "maxItems": 32,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "group": {"type": "string", "default": "gateway.networking.k8s.io",
                                  "maxLength": 253, "pattern": GROUP},
                        "kind": {"type": "string", "default": "Gateway", "minLength": 1,
                                 "maxLength": 63, "pattern": KIND},
                        "name": {"type": "string", "minLength": 1, "maxLength": 253},
                        "namespace": string(1, 63, DNS_LABEL),
                        "sectionName": string(1, 253, DNS_SUBDOMAIN)
                    }
                }
            },
            "hostnames": {
                "type": "array",
                "maxItems": 16,
                "items": string(1, 253, "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
            },
            "rules": {
                "type": "array",
                "maxItems": 16,
                "default": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
                "items": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "name": string(1, 253, DNS_LABEL),
                        "matches": {"type": "array", "maxItems": 64, "items": route_match()},
                        "backendRefs": {"type": "array", "maxItems": 16, "items": backend_ref()}
                    }
                }
            }
        }
    })
}

/// `HTTPRoute` as a dynamic resource, for clients of routes in tests.
pub fn httproute_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

/// The `HTTPRoute` CRD the fake API server admits routes by.
pub fn httproute_crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "httproutes.gateway.networking.k8s.io"},
        "spec": {
            "group": "gateway.networking.k8s.io",
            "names": {"kind": "HTTPRoute", "listKind": "HTTPRouteList", "plural": "httproutes",
                      "singular": "httproute", "categories": ["gateway-api"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec(),
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    });
    serde_json::from_value(crd)
}
