//! Executing a plan: each [`Action`] becomes one API call, in order — create a revision (and
//! its ConfigMap, owned by it), apply Deployments and the Service (server-side apply, one field
//! manager), delete, patch the spec or the status, publish events. What was written is
//! returned, so the reconcile waits until the caches show it ([`Caches::settle`]).

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::events::Recorder;
use crate::cluster::observe::{Caches, Kind, Written};
use crate::cluster::preflight;
use crate::core::plan::{Action, Cluster, Plan};
use crate::core::render;
use crate::error::{Error, Result};
use crate::kinds::revision::Revision;
use crate::kinds::{LockstepService, ServiceRef};

/// What executing a plan needs: the client, where events go, and the caches (a lost ConfigMap
/// is recreated owned by its cached ControllerRevision).
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)] // a client and a recorder: nothing to show
pub struct Writer<'a> {
    /// API client.
    pub client: &'a Client,
    /// Event recorder.
    pub recorder: &'a Recorder,
    /// The watch caches.
    pub caches: &'a Caches,
}

/// The one field manager for server-side apply.
pub const FIELD_MANAGER: &str = "lockstep-operator";

fn find<'a>(cluster: &'a Cluster, created: &'a [Revision], number: i64) -> Result<&'a Revision> {
    cluster
        .revisions
        .iter()
        .chain(created)
        .find(|r| r.number == number)
        .ok_or(Error::RevisionVanished(number))
}

/// Creates `rev`'s immutable ConfigMap owned by its ControllerRevision `cr`. One that exists
/// already is right: the name carries the content hash and the data cannot change.
async fn create_config_map(
    client: &Client,
    sref: &ServiceRef,
    rev: &Revision,
    // The ControllerRevision's name and uid (the ConfigMap is garbage-collected with it).
    owner: (&str, Option<&str>),
) -> Result<Option<Written>> {
    let (owner_name, owner_uid) = owner;
    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ControllerRevision".into(),
        name: owner_name.to_owned(),
        uid: owner_uid.ok_or(Error::MissingObjectKey("uid"))?.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let cm = render::config_map(sref, rev, owner);
    match Api::<ConfigMap>::namespaced(client.clone(), &sref.namespace)
        .create(&PostParams::default(), &cm)
        .await
    {
        Ok(cm) => Ok(Some(Written::of(Kind::ConfigMap, &cm))),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Executes `plan` for `svc`; returns what was written, for [`crate::cluster::observe::Caches::settle`].
pub async fn execute<S>(
    ctx: &Writer<'_>,
    svc: &S,
    cluster: &Cluster,
    plan: &Plan,
) -> Result<Vec<Written>>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let sref = ServiceRef::of(svc).ok_or(Error::MissingObjectKey("namespace or uid"))?;
    let (ns, name) = (sref.namespace.clone(), sref.name.clone());
    let (client, recorder) = (ctx.client, ctx.recorder);
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let mut created = Vec::new();
    // The uids of the ControllerRevisions this plan created (not in the caches yet).
    let mut uids = std::collections::BTreeMap::new();
    let mut written = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateRevision(rev) => {
                let cr = Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .create(
                        &PostParams::default(),
                        &render::controller_revision(&sref, rev),
                    )
                    .await?;
                written.push(Written::of(Kind::Revision, &cr));
                let (owner, uid) = (cr.name_any(), cr.uid());
                uids.insert(rev.number, uid.clone());
                let owner = (owner.as_str(), uid.as_deref());
                written.extend(create_config_map(client, &sref, rev, owner).await?);
                created.push(rev.clone());
            }
            Action::CreateConfigMap(rev) => {
                let revision_name = render::revision_name(&sref, rev);
                let cr = ctx
                    .caches
                    .revisions
                    .get(&ns, &name, &revision_name)
                    .ok_or(Error::RevisionVanished(rev.number))?;
                let owner = (revision_name.as_str(), cr.uid.as_deref());
                written.extend(create_config_map(client, &sref, rev, owner).await?);
            }
            Action::ScaleRevision { revision, replicas } => {
                let common = svc.common();
                let d = render::deployment(
                    &sref,
                    revision,
                    *replicas,
                    common.restart_at,
                    common.rollout.min_ready_seconds,
                );
                let deployment_name = render::revision_name(&sref, revision);
                let d = Api::<Deployment>::namespaced(client.clone(), &ns)
                    .patch(&deployment_name, &apply, &Patch::Apply(&d))
                    .await?;
                written.push(Written::of(Kind::Deployment, &d));
            }
            Action::DeleteDeployment(number) => {
                let rev = find(cluster, &created, *number)?;
                let deployment_name = render::revision_name(&sref, rev);
                Api::<Deployment>::namespaced(client.clone(), &ns)
                    .delete(&deployment_name, &DeleteParams::background())
                    .await?;
                written.push(Written::gone(Kind::Deployment, deployment_name));
            }
            Action::ApplyService(serving) => {
                let service = render::service(&sref, *serving);
                let service = Api::<Service>::namespaced(client.clone(), &ns)
                    .patch(&name, &apply, &Patch::Apply(&service))
                    .await?;
                written.push(Written::of(Kind::Service, &service));
            }
            Action::DeleteRevision(number) => {
                let rev = find(cluster, &created, *number)?;
                let revision_name = render::revision_name(&sref, rev);
                Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .delete(&revision_name, &DeleteParams::background())
                    .await?;
                written.push(Written::gone(Kind::Revision, revision_name));
            }
            Action::PatchSpec(patch) => {
                let svc = Api::<S>::namespaced(client.clone(), &ns)
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
                written.push(Written::of(Kind::Custom, &svc));
            }
            Action::PatchStatus { patch, .. } => {
                let patch = serde_json::json!({ "status": patch });
                let svc = Api::<S>::namespaced(client.clone(), &ns)
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                written.push(Written::of(Kind::Custom, &svc));
            }
            Action::CreatePreflight {
                revision: rev,
                check,
            } => {
                let uid = match uids.get(&rev.number) {
                    Some(uid) => uid.clone(),
                    None => ctx
                        .caches
                        .revisions
                        .get(&ns, &name, &render::revision_name(&sref, rev))
                        .ok_or(Error::RevisionVanished(rev.number))?
                        .uid
                        .clone(),
                };
                let owner = preflight::revision_owner(&sref, rev, uid.as_deref())?;
                written.extend(preflight::create(client, &sref, rev, check, owner).await?);
            }
            Action::RecordPreflight(rev) => {
                written.push(preflight::record(client, &sref, rev).await?);
            }
            Action::Event(t) => {
                let event = Event {
                    type_: if t.warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: t.reason.into(),
                    note: Some(t.message.clone()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                // An event that cannot be recorded must not fail the rollout.
                if let Err(e) = recorder.publish(&event, &svc.object_ref(&())).await {
                    tracing::warn!(error = %e, reason = t.reason, "event not recorded");
                }
            }
        }
    }
    Ok(written)
}
