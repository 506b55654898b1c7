//! The labels, names and metadata every rendered object shares.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::kinds::ServiceRef;
use crate::kinds::revision::{HASH_SCHEMA, Revision};

/// Label: the service object's name.
pub const LABEL_SERVICE: &str = "lockstep.dev/service";
/// Label: the revision number.
pub const LABEL_REVISION: &str = "lockstep.dev/revision";
/// Label: the short content hash.
pub const LABEL_CONFIG_HASH: &str = "lockstep.dev/config-hash";
/// Label: the hashing recipe version.
pub const LABEL_HASH_SCHEMA: &str = "lockstep.dev/hash-schema";
/// Pod template annotation carrying `spec.restartAt`: a new value rolls the pods.
pub const ANNOTATION_RESTARTED_AT: &str = "lockstep.dev/restartedAt";
/// Label carrying the component (`album`, `note`); the app container has this name.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/name";

pub(super) fn labels(svc: &ServiceRef, rev: Option<&Revision>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (LABEL_SERVICE.to_owned(), svc.name.clone()),
        (LABEL_COMPONENT.to_owned(), svc.component.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), svc.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "lockstep".to_owned(),
        ),
    ]);
    if let Some(rev) = rev {
        labels.insert(LABEL_REVISION.to_owned(), rev.number.to_string());
        labels.insert(LABEL_CONFIG_HASH.to_owned(), rev.short_hash().to_owned());
        labels.insert(LABEL_HASH_SCHEMA.to_owned(), HASH_SCHEMA.to_string());
    }
    labels
}

pub fn meta(
    svc: &ServiceRef,
    name: String,
    rev: Option<&Revision>,
    owner: OwnerReference,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(svc.namespace.clone()),
        labels: Some(labels(svc, rev)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    }
}

/// `<service>-<hash10>`: the ControllerRevision's and the Deployment's name.
pub fn revision_name(svc: &ServiceRef, rev: &Revision) -> String {
    format!("{}-{}", svc.name, rev.short_hash())
}

/// `<service>-cfg-<hash10>`.
pub fn config_map_name(svc: &ServiceRef, rev: &Revision) -> String {
    format!("{}-cfg-{}", svc.name, rev.short_hash())
}
