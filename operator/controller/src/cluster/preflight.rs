//! The preflight's I/O: create a revision's Job, record that it passed on the revision, and
//! read the last lines its pod logged when it failed (the status message shows them).

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use lockstep_crd::spec::Preflight;

use crate::cluster::create::create_once;
use crate::cluster::observe::{Kind, Written};
use crate::core::render;
use crate::error::Result;
use crate::kinds::ServiceRef;
use crate::kinds::revision::Revision;

/// Lines of a failed check's log shown in the status message and the event.
pub const LOG_LINES: i64 = 10;

/// Creates `rev`'s preflight Job. One that exists already is this one: its name carries the
/// revision's hash.
pub async fn create(
    client: &Client,
    sref: &ServiceRef,
    rev: &Revision,
    preflight: &Preflight,
    owner: OwnerReference,
) -> Result<Option<Written>> {
    let job = render::preflight_job(sref, rev, preflight, owner);
    let api = Api::<Job>::namespaced(client.clone(), &sref.namespace);
    create_once(&api, &job, Kind::Job).await
}

/// Annotates `rev`'s ControllerRevision: its preflight passed, and is not run again.
pub async fn record(client: &Client, sref: &ServiceRef, rev: &Revision) -> Result<Written> {
    let patch = serde_json::json!({"metadata": {"annotations": {
        render::ANNOTATION_PREFLIGHT: render::PREFLIGHT_PASSED
    }}});
    let cr = Api::<ControllerRevision>::namespaced(client.clone(), &sref.namespace)
        .patch(
            &render::revision_name(sref, rev),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(Written::of(Kind::Revision, &cr))
}

/// The last [`LOG_LINES`] lines the pod of the Job `job` logged (the Job controller labels its
/// pods `job-name`). A log that cannot be read says why instead: the refusal stands either way.
pub async fn last_lines(client: &Client, namespace: &str, job: &str) -> String {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await;
    let newest = match listed {
        Ok(list) => list
            .items
            .into_iter()
            .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0)),
        Err(e) => return format!("(its log could not be read: {e})"),
    };
    let Some(name) = newest.and_then(|p| p.metadata.name) else {
        return "(its pod is gone, and its log with it)".into();
    };
    let params = LogParams {
        tail_lines: Some(LOG_LINES),
        ..LogParams::default()
    };
    match pods.logs(&name, &params).await {
        Ok(log) if log.trim().is_empty() => "(it logged nothing)".into(),
        Ok(log) => log.trim_end().to_owned(),
        Err(e) => format!("(its log could not be read: {e})"),
    }
}
