//! The preflight Job of a revision: its image, its config file mounted where its pods get it,
//! the pod's security context, env and Secrets — everything a pod of the revision has — running
//! the check instead of the service, once, before any pod of the revision starts.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use lockstep_crd::spec::Preflight;

use super::deployment::deployment;
use super::meta::{LABEL_COMPONENT, meta};
use super::shape::CONFIG_FILE;
use crate::kinds::ServiceRef;
use crate::kinds::revision::Revision;

/// Label on a preflight Job's pod: the service it checks a revision of. Not
/// `lockstep.dev/service`, so the pods of a check are never counted as the revision's pods.
pub const LABEL_PREFLIGHT_OF: &str = "lockstep.dev/preflight-of";
/// Annotation on a ControllerRevision whose preflight passed: it is not run again (an operator
/// restart, a rollback to it).
pub const ANNOTATION_PREFLIGHT: &str = "lockstep.dev/preflight";
/// [`ANNOTATION_PREFLIGHT`]'s value.
pub const PREFLIGHT_PASSED: &str = "passed";

/// `<service>-preflight-<hash10>`.
pub fn preflight_job_name(svc: &ServiceRef, rev: &Revision) -> String {
    format!("{}-preflight-{}", svc.name, rev.short_hash())
}

/// The Job that checks revision `rev` with `preflight`, owned by the revision's
/// ControllerRevision `owner` (pruning the revision collects it). A typed kind without a
/// command runs its binary's `check-config` on the mounted file.
pub fn preflight_job(
    svc: &ServiceRef,
    rev: &Revision,
    preflight: &Preflight,
    owner: OwnerReference,
) -> Job {
    let rendered = deployment(svc, rev, 1, None, 0);
    let template = rendered.spec.map(|s| s.template).unwrap_or_default();
    let mut pod = template.spec.unwrap_or_default();
    pod.restart_policy = Some("Never".into());
    for c in &mut pod.containers {
        c.readiness_probe = None;
        c.liveness_probe = None;
        c.ports = None;
        if preflight.command.is_empty() {
            c.command = None;
            c.args = Some(vec![
                "check-config".into(),
                format!("{}/{CONFIG_FILE}", lockstep_crd::validate::CONFIG_DIR),
            ]);
        } else {
            c.command = Some(preflight.command.clone());
            c.args = None;
        }
    }
    let labels = BTreeMap::from([
        (LABEL_PREFLIGHT_OF.to_owned(), svc.name.clone()),
        (LABEL_COMPONENT.to_owned(), svc.component.to_owned()),
    ]);
    let metadata = meta(svc, preflight_job_name(svc, rev), Some(rev), owner);
    Job {
        metadata,
        spec: Some(JobSpec {
            // One attempt: a config check that fails fails again.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(i64::from(preflight.timeout_seconds)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}
