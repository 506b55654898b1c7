//! Custom resources admitted by their CustomResourceDefinition, when the store holds it: unknown
//! fields pruned, defaults filled, then the structural schema and the CEL rules
//! (`lockstep_crd::structural`, the same code `kubectl lockstep lint` runs), refusing with
//! `422 Invalid` and field paths as the API server does. A resource without a stored CRD is not
//! checked: tests that want admission install the CRDs (`FakeApi::install_crds`).
//!
//! Not modelled: validation ratcheting (an update may keep an invalid value it does not change,
//! Kubernetes 1.30+), `fieldValidation=Strict` (unknown fields are always pruned here).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use lockstep_crd::structural::{Unknown, admit};
use serde_json::Value;

use super::{ApiError, Collection, Key, Store};

fn crds() -> Collection {
    Collection {
        prefix: "/apis/apiextensions.k8s.io/v1".into(),
        resource: "customresourcedefinitions".into(),
    }
}

impl Store {
    /// The stored CRD serving `c`, if any (`<plural>.<group>`).
    fn crd_for(&self, c: &Collection) -> Option<CustomResourceDefinition> {
        let group = c.prefix.strip_prefix("/apis/")?.split('/').next()?;
        let name = format!("{}.{group}", c.resource);
        let stored = self.get(&Key {
            collection: crds(),
            namespace: String::new(),
            name,
        });
        serde_json::from_value(stored.ok()?).ok()
    }

    /// Whether `c` has a status subresource: a built-in kind that has one, or a custom resource
    /// whose stored CRD declares `subresources.status` (as the API server serves `/status`).
    pub(super) fn has_status(&self, c: &Collection) -> bool {
        self.status_subresource.contains(&c.resource)
            || self.crd_for(c).is_some_and(|crd| {
                crd.spec
                    .versions
                    .iter()
                    .any(|v| v.subresources.as_ref().is_some_and(|s| s.status.is_some()))
            })
    }

    /// Admits `object` for `key` in place (pruned, defaulted) or refuses it.
    pub(super) fn admit(&self, key: &Key, object: &mut Value) -> Result<(), ApiError> {
        let Some(crd) = self.crd_for(&key.collection) else {
            return Ok(());
        };
        let problems = admit(&crd, object, Unknown::Prune);
        if problems.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "{}.{} \"{}\" is invalid: {}",
                crd.spec.names.kind,
                crd.spec.group,
                key.name,
                listed.join(", ")
            ),
        ))
    }
}
