//! Pure renderers: service + revision in, Kubernetes objects out. The controller applies them
//! with server-side apply, so what is rendered here is the whole intent for each object.
//!
//! ```text
//!  AlbumService albums ──owns──► ControllerRevision albums-<hash10>  (number, image, config, …)
//!        │                             └──owns──► ConfigMap albums-cfg-<hash10> (immutable)
//!        ├──owns──► Deployment albums-<hash10>  pods: lockstep.dev/revision, config-hash;
//!        │                                      mounts albums-cfg-<hash10> at /etc/lockstep
//!        └──owns──► Service albums  (selects every revision: canary weight = replica share)
//! ```
mod deployment;
mod meta;
mod preflight;
mod service;
mod shape;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

pub use deployment::{
    ANNOTATION_RENDER, RENDER_VERSION, TemplateFingerprint, deployment, fingerprint,
    observed_fingerprint,
};
pub use lockstep_crd::validate::CONFIG_DIR;
pub use meta::{
    ANNOTATION_RESTARTED_AT, LABEL_COMPONENT, LABEL_CONFIG_HASH, LABEL_HASH_SCHEMA, LABEL_REVISION,
    LABEL_SERVICE, config_map_name, meta, revision_name,
};
pub use preflight::{
    ANNOTATION_PREFLIGHT, LABEL_PREFLIGHT_OF, PREFLIGHT_PASSED, preflight_job, preflight_job_name,
};
pub use service::{
    PortShape, observed_ports, revision_service, service, service_ports, service_routes,
    serving_selector,
};
pub use shape::{CONFIG_FILE, RUN_AS_ID, config_file_name};

use crate::kinds::ServiceRef;
use crate::kinds::revision::Revision;

/// The revision record, owned by the service object.
pub fn controller_revision(svc: &ServiceRef, rev: &Revision) -> ControllerRevision {
    ControllerRevision {
        metadata: meta(svc, revision_name(svc, rev), Some(rev), svc.owner.clone()),
        revision: rev.number,
        data: Some(RawExtension(
            serde_json::to_value(rev).unwrap_or(serde_json::Value::Null),
        )),
    }
}

/// Reads a revision back from its record.
pub fn parse_revision(cr: &ControllerRevision) -> Option<Revision> {
    serde_json::from_value(cr.data.as_ref()?.0.clone()).ok()
}

/// Reads a revision back from its record's data as JSON text, as the operator's cache keeps it
/// ([`crate::cluster::children::CachedRevision`]).
pub fn parse_revision_json(json: &str) -> Option<Revision> {
    serde_json::from_str(json).ok()
}

/// The owner reference to revision `rev`'s ControllerRevision, whose uid is `uid`: its
/// ConfigMap and its preflight Job are garbage-collected with it.
pub fn revision_owner(svc: &ServiceRef, rev: &Revision, uid: String) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ControllerRevision".into(),
        name: revision_name(svc, rev),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The revision's config file, immutable, owned by its ControllerRevision (`owner`) so that
/// pruning the revision garbage-collects it.
pub fn config_map(svc: &ServiceRef, rev: &Revision, owner: OwnerReference) -> ConfigMap {
    ConfigMap {
        metadata: meta(svc, config_map_name(svc, rev), Some(rev), owner),
        immutable: Some(true),
        data: Some(BTreeMap::from([(
            config_file_name(rev).to_owned(),
            rev.content.config.clone(),
        )])),
        ..ConfigMap::default()
    }
}
