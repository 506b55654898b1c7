//! Admission of a custom resource by its CRD, as the API server does it ("Extend the Kubernetes
//! API with CustomResourceDefinitions": pruning, defaulting, validation, validation rules),
//! without a cluster. Two users: `kubectl lockstep lint` (offline checks, unknown fields
//! refused like kubectl's strict validation) and the fake API server of the tests (unknown
//! fields pruned, like a server's default).
//!
//! The schema is any CRD's, not only ours: [`schema::KNOWN`] says which keywords are
//! implemented, and a test fails when our CRDs use another.

pub mod cel;
mod problem;
pub mod schema;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

pub use problem::Problem;

/// What happens to fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Removed, as the API server does by default (`fieldValidation` other than `Strict`).
    Prune,
    /// Reported, as `kubectl apply` does by default (`--validate=strict`).
    Refuse,
}

/// Admits `object` (a whole custom resource: apiVersion, kind, metadata, spec, status) under
/// `crd`: unknown fields per `unknown`, defaults filled in place, then every schema and rule
/// problem. `metadata` is the API server's own business and left alone. An apiVersion the CRD
/// does not serve is a problem too.
pub fn admit(crd: &CustomResourceDefinition, object: &mut Value, unknown: Unknown) -> Vec<Problem> {
    let problem = |path: &str, message: String| Problem {
        path: path.to_owned(),
        message,
    };
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let group = &crd.spec.group;
    let version = api_version
        .strip_prefix(&format!("{group}/"))
        .and_then(|v| crd.spec.versions.iter().find(|c| c.name == v && c.served));
    let Some(version) = version else {
        let served: Vec<String> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| format!("{group}/{}", v.name))
            .collect();
        return vec![problem(
            "apiVersion",
            format!("Unsupported value: {api_version:?}: supported values: {served:?}"),
        )];
    };
    let Some(root) = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
    else {
        return Vec::new();
    };
    let Some(map) = object.as_object_mut() else {
        return vec![problem("", "Invalid value: not an object".into())];
    };
    // The API server's own fields, whatever the schema declares of them.
    let identity: Vec<(String, Value)> = ["apiVersion", "kind", "metadata"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), map.remove(k)?)))
        .collect();
    if unknown == Unknown::Prune {
        schema::prune(object, root, "");
    }
    schema::default(object, root);
    let problems = schema::validate(object, root, "", &mut cel::check);
    if let Some(map) = object.as_object_mut() {
        map.extend(identity);
    }
    problems
}
