//! Executing a plan: each [`Action`] becomes one API call, in order — create a revision (and
//! its ConfigMap, owned by it), apply Deployments and the Service (server-side apply, one field
//! manager), delete, patch the spec or the status, publish events. What was written is
//! returned, so the reconcile waits until the caches show it ([`Caches::settle`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::create::create_once;
use crate::cluster::events::Recorder;
use crate::cluster::observe::{Caches, Kind, Written};
use crate::cluster::{preflight, route};
use crate::core::plan::{Action, Cluster, Plan};
use crate::core::render;
use crate::core::rollout::Transition;
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

/// Creates `rev`'s immutable ConfigMap owned by its ControllerRevision (`owner`: the
/// ConfigMap is garbage-collected with it). One that exists already is right: the name carries
/// the content hash and the data cannot change.
async fn create_config_map(
    client: &Client,
    sref: &ServiceRef,
    rev: &Revision,
    owner: OwnerReference,
) -> Result<Option<Written>> {
    let cm = render::config_map(sref, rev, owner);
    let api = Api::<ConfigMap>::namespaced(client.clone(), &sref.namespace);
    create_once(&api, &cm, Kind::ConfigMap).await
}

/// Executes `plan` for `svc`; returns what was written, for [`Caches::settle`].
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
    let mut run = Run {
        ctx,
        svc,
        cluster,
        sref,
        created: Vec::new(),
        uids: BTreeMap::new(),
        written: Vec::new(),
    };
    for action in &plan.actions {
        match action {
            Action::CreateRevision(_)
            | Action::CreateConfigMap(_)
            | Action::DeleteRevision(_)
            | Action::CreatePreflight { .. }
            | Action::RecordPreflight(_) => run.revision(action).await?,
            Action::ScaleRevision { .. } | Action::DeleteDeployment(_) => {
                run.workload(action).await?;
            }
            Action::ApplyService(_)
            | Action::ApplyRevisionService { .. }
            | Action::DeleteService(_)
            | Action::PatchRoute { .. } => run.traffic(action).await?,
            Action::PatchSpec(_) | Action::PatchStatus { .. } => run.service(action).await?,
            Action::Event(t) => run.event(t).await,
        }
    }
    Ok(run.written)
}

/// One execution: what it has written so far.
struct Run<'a, S> {
    ctx: &'a Writer<'a>,
    svc: &'a S,
    cluster: &'a Cluster,
    sref: ServiceRef,
    /// Revisions this plan created (not in `cluster` yet).
    created: Vec<Revision>,
    /// The uids of the ControllerRevisions this plan created (not in the caches yet).
    uids: BTreeMap<i64, Option<String>>,
    written: Vec<Written>,
}

impl<S> Run<'_, S>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.ctx.client.clone(), &self.sref.namespace)
    }

    /// The owner reference to `rev`'s ControllerRevision (its ConfigMap and its preflight Job
    /// go with it): created by this plan, or from the cache.
    fn revision_owner(&self, rev: &Revision) -> Result<OwnerReference> {
        let uid = match self.uids.get(&rev.number) {
            Some(uid) => uid.clone(),
            None => {
                let (ns, name) = (&self.sref.namespace, &self.sref.name);
                let cr = render::revision_name(&self.sref, rev);
                let cached = self.ctx.caches.revisions.get(ns, name, &cr);
                cached
                    .ok_or(Error::RevisionVanished(rev.number))?
                    .uid
                    .clone()
            }
        };
        let uid = uid.ok_or(Error::MissingObjectKey("uid"))?;
        Ok(render::revision_owner(&self.sref, rev, uid))
    }

    /// Revisions, their ConfigMaps and their preflight.
    async fn revision(&mut self, action: &Action) -> Result<()> {
        let client = self.ctx.client;
        match action {
            Action::CreateRevision(rev) => {
                let record = render::controller_revision(&self.sref, rev);
                let cr = self
                    .api::<ControllerRevision>()
                    .create(&PostParams::default(), &record)
                    .await?;
                self.written.push(Written::of(Kind::Revision, &cr));
                self.uids.insert(rev.number, cr.uid());
                let owner = self.revision_owner(rev)?;
                let cm = create_config_map(client, &self.sref, rev, owner).await?;
                self.written.extend(cm);
                self.created.push(rev.clone());
            }
            Action::CreateConfigMap(rev) => {
                let owner = self.revision_owner(rev)?;
                let cm = create_config_map(client, &self.sref, rev, owner).await?;
                self.written.extend(cm);
            }
            Action::DeleteRevision(number) => {
                let rev = find(self.cluster, &self.created, *number)?;
                let name = render::revision_name(&self.sref, rev);
                self.api::<ControllerRevision>()
                    .delete(&name, &DeleteParams::background())
                    .await?;
                self.written.push(Written::gone(Kind::Revision, name));
            }
            Action::CreatePreflight {
                revision: rev,
                check,
            } => {
                let owner = self.revision_owner(rev)?;
                let job = preflight::create(client, &self.sref, rev, check, owner).await?;
                self.written.extend(job);
            }
            Action::RecordPreflight(rev) => {
                let recorded = preflight::record(client, &self.sref, rev).await?;
                self.written.push(recorded);
            }
            // The other actions are routed elsewhere by `execute`.
            _ => {}
        }
        Ok(())
    }

    /// Deployments and the Service, applied server-side with the one field manager.
    async fn workload(&mut self, action: &Action) -> Result<()> {
        let apply = PatchParams::apply(FIELD_MANAGER).force();
        let sref = &self.sref;
        match action {
            Action::ScaleRevision { revision, replicas } => {
                let common = self.svc.common();
                let (restart, min_ready) = (common.restart_at, common.rollout.min_ready_seconds);
                let d = render::deployment(sref, revision, *replicas, restart, min_ready);
                let name = render::revision_name(sref, revision);
                let d = self
                    .api::<Deployment>()
                    .patch(&name, &apply, &Patch::Apply(&d))
                    .await?;
                self.written.push(Written::of(Kind::Deployment, &d));
            }
            Action::DeleteDeployment(number) => {
                let rev = find(self.cluster, &self.created, *number)?;
                let name = render::revision_name(sref, rev);
                self.api::<Deployment>()
                    .delete(&name, &DeleteParams::background())
                    .await?;
                self.written.push(Written::gone(Kind::Deployment, name));
            }
            // The other actions are routed elsewhere by `execute`.
            _ => {}
        }
        Ok(())
    }

    /// The Services (applied with the one field manager) and the route's rules.
    async fn traffic(&mut self, action: &Action) -> Result<()> {
        let apply = PatchParams::apply(FIELD_MANAGER).force();
        let sref = &self.sref;
        let service = match action {
            Action::ApplyService(serving) => render::service(sref, *serving),
            Action::ApplyRevisionService { name, revision } => {
                render::revision_service(sref, name.clone(), *revision)
            }
            Action::DeleteService(name) => {
                self.api::<Service>()
                    .delete(name, &DeleteParams::background())
                    .await?;
                self.written
                    .push(Written::gone(Kind::Service, name.clone()));
                return Ok(());
            }
            Action::PatchRoute {
                namespace,
                name,
                resource_version,
                rules,
            } => {
                let client = self.ctx.client;
                route::write(
                    client,
                    FIELD_MANAGER,
                    namespace,
                    name,
                    resource_version,
                    rules,
                )
                .await?;
                return Ok(());
            }
            // The other actions are routed elsewhere by `execute`.
            _ => return Ok(()),
        };
        let name = service.metadata.name.clone().unwrap_or_default();
        let service = self
            .api::<Service>()
            .patch(&name, &apply, &Patch::Apply(&service))
            .await?;
        self.written.push(Written::of(Kind::Service, &service));
        Ok(())
    }

    /// The service object: its spec (rollbackTo) and its status, by merge patch.
    async fn service(&mut self, action: &Action) -> Result<()> {
        let name = &self.sref.name;
        let params = PatchParams::default();
        let patched = match action {
            Action::PatchSpec(patch) => {
                self.api::<S>()
                    .patch(name, &params, &Patch::Merge(patch))
                    .await?
            }
            Action::PatchStatus { patch, .. } => {
                let patch = serde_json::json!({ "status": patch });
                self.api::<S>()
                    .patch_status(name, &params, &Patch::Merge(&patch))
                    .await?
            }
            _ => return Ok(()),
        };
        self.written.push(Written::of(Kind::Custom, &patched));
        Ok(())
    }

    /// Publishes a transition; an event that cannot be recorded must not fail the rollout.
    async fn event(&self, t: &Transition) {
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
        let reference = self.svc.object_ref(&());
        if let Err(e) = self.ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason = t.reason, "event not recorded");
        }
    }
}
