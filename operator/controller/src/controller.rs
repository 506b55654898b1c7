//! The IO around [`crate::plan`]: read what the cluster holds for one service, plan, execute.
//!
//! ```text
//!  reconcile(svc) ─► observe: the caches (crate::caches), no request
//!                 ├─► plan(svc, cluster, now)            (pure; zero actions in steady state)
//!                 ├─► execute: create revision (+ its ConfigMap, owned by it), apply Deployments
//!                 │   and the Service (server-side apply, one field manager), delete, patch spec
//!                 │   or status, publish events
//!                 └─► settle: wait until the caches show those writes
//! ```

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::events::Recorder;
use crate::observe::{Kind, Written};
use crate::plan::{Action, Cluster, Plan};
use crate::resources;
use crate::revision::Revision;
use crate::rollout::AnalysisOutcome;
use crate::service::{LockstepService, ServiceRef};

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
    let cm = resources::config_map(sref, rev, owner);
    match Api::<ConfigMap>::namespaced(client.clone(), &sref.namespace)
        .create(&PostParams::default(), &cm)
        .await
    {
        Ok(cm) => Ok(Some(Written::of(Kind::ConfigMap, &cm))),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Executes `plan` for `svc`; returns what was written, for [`crate::observe::Caches::settle`].
pub async fn execute<S>(
    ctx: &Context,
    svc: &S,
    cluster: &Cluster,
    plan: &Plan,
) -> Result<Vec<Written>>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let sref = ServiceRef::of(svc).ok_or(Error::MissingObjectKey("namespace or uid"))?;
    let (ns, name) = (sref.namespace.clone(), sref.name.clone());
    let (client, recorder) = (&ctx.client, &ctx.recorder);
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let mut created = Vec::new();
    let mut written = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateRevision(rev) => {
                let cr = Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .create(
                        &PostParams::default(),
                        &resources::controller_revision(&sref, rev),
                    )
                    .await?;
                written.push(Written::of(Kind::Revision, &cr));
                let (owner, uid) = (cr.name_any(), cr.uid());
                let owner = (owner.as_str(), uid.as_deref());
                written.extend(create_config_map(client, &sref, rev, owner).await?);
                created.push(rev.clone());
            }
            Action::CreateConfigMap(rev) => {
                let revision_name = resources::revision_name(&sref, rev);
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
                let d = resources::deployment(
                    &sref,
                    revision,
                    *replicas,
                    common.restart_at,
                    common.rollout.min_ready_seconds,
                );
                let deployment_name = resources::revision_name(&sref, revision);
                let d = Api::<Deployment>::namespaced(client.clone(), &ns)
                    .patch(&deployment_name, &apply, &Patch::Apply(&d))
                    .await?;
                written.push(Written::of(Kind::Deployment, &d));
            }
            Action::DeleteDeployment(number) => {
                let rev = find(cluster, &created, *number)?;
                let deployment_name = resources::revision_name(&sref, rev);
                Api::<Deployment>::namespaced(client.clone(), &ns)
                    .delete(&deployment_name, &DeleteParams::background())
                    .await?;
                written.push(Written::gone(Kind::Deployment, deployment_name));
            }
            Action::ApplyService(serving) => {
                let service = resources::service(&sref, *serving);
                let service = Api::<Service>::namespaced(client.clone(), &ns)
                    .patch(&name, &apply, &Patch::Apply(&service))
                    .await?;
                written.push(Written::of(Kind::Service, &service));
            }
            Action::DeleteRevision(number) => {
                let rev = find(cluster, &created, *number)?;
                let revision_name = resources::revision_name(&sref, rev);
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

/// How long a reconcile waits for the caches to show its own writes before it fails (and is
/// retried with backoff): a watch event normally follows a write within milliseconds.
pub const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every reconcile needs.
#[derive(Clone)]
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Where canary analysis queries go; without it every analysis is inconclusive.
    pub prometheus: Option<crate::analysis::Prometheus>,
    /// Retry delays after failed reconciles, per object.
    pub backoff: crate::failure::Backoff,
    /// The watch caches reconciles read.
    pub caches: crate::observe::Caches,
    /// When a service with nothing scheduled is looked at again ([`IDLE_REQUEUE`]).
    pub idle_requeue: std::time::Duration,
}

/// The idle requeue. Every change of a service or a child triggers a reconcile and every timed
/// step asks for its own requeue, so this is a safety net only (a change whose event was lost,
/// drift nobody announced); with the caches it costs no API request, only a plan.
pub const IDLE_REQUEUE: std::time::Duration = std::time::Duration::from_secs(300);

/// One reconcile of one service: observe, plan, execute, and say when to look again.
#[tracing::instrument(skip(svc, ctx), fields(kind = S::COMPONENT, name = %svc.name_any()))]
pub async fn reconcile<S>(
    svc: std::sync::Arc<S>,
    ctx: std::sync::Arc<Context>,
) -> Result<kube::runtime::controller::Action>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let _timer = ctx.metrics.reconcile_timer(S::COMPONENT);
    let ns = svc
        .namespace()
        .ok_or(Error::MissingObjectKey("namespace"))?;
    let name = svc.name_any();
    ctx.caches.wait_synced(SETTLE_LIMIT).await?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let ports = crate::resources::service_ports(svc.grpc_port());
    let cluster = ctx.caches.observe(&ns, &name, now, &ports);
    let mut plan = crate::plan::plan(&*svc, &cluster, now, None);
    if plan.analysis_needed {
        let outcome = analyze(&*svc, &ctx, plan.target.unwrap_or_default()).await;
        // The sample's time, rounded up: the status keeps whole seconds, and a sample taken at
        // 10.98 s recorded as 10 let the next one come at 15.0 s, 4.02 s later, under a 5 s
        // interval (tests/fake_analysis.rs caught it). Rounded up, samples are never closer.
        let sampled = k8s_openapi::jiff::Timestamp::now();
        let sampled_at = sampled.as_second() + i64::from(sampled.subsec_nanosecond() > 0);
        plan = crate::plan::plan(&*svc, &cluster, sampled_at.max(now), Some(outcome));
    }
    let writes = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, Action::Event(_)))
        .count();
    ctx.metrics.count_writes(S::COMPONENT, writes);
    ctx.metrics.count_transitions(
        S::COMPONENT,
        plan.actions.iter().filter_map(|a| match a {
            Action::Event(t) => Some(t.reason),
            _ => None,
        }),
    );
    let written = match execute(&ctx, &*svc, &cluster, &plan).await {
        Ok(written) => written,
        Err(e) => {
            crate::failure::report(&ctx.client, &ctx.recorder, &*svc, &e).await;
            return Err(e);
        }
    };
    ctx.caches
        .settle::<S>(&ns, &name, &written, SETTLE_LIMIT)
        .await?;
    ctx.backoff.succeeded(&backoff_key(&*svc));
    Ok(match plan.requeue_after {
        Some(after) => kube::runtime::controller::Action::requeue(
            after.max(std::time::Duration::from_millis(200)),
        ),
        None => kube::runtime::controller::Action::requeue(ctx.idle_requeue),
    })
}

/// One analysis sample for the canary `revision`: every query of the analysis, in order
/// (`query`, then `queries`). Errors are logged and counted, and are inconclusive: they never
/// promote, and the progress deadline (or `inconclusiveLimit`) bounds the step.
async fn analyze<S: LockstepService>(
    svc: &S,
    ctx: &Context,
    revision: i64,
) -> Vec<AnalysisOutcome> {
    let Some(analysis) = svc.common().rollout.analysis.as_ref() else {
        return vec![AnalysisOutcome::Inconclusive];
    };
    let queries = std::iter::once((
        analysis.query.as_str(),
        analysis.comparison,
        analysis.threshold,
    ))
    .chain(
        analysis
            .queries
            .iter()
            .map(|q| (q.query.as_str(), q.comparison, q.threshold)),
    );
    let Some(prometheus) = ctx.prometheus.as_ref() else {
        tracing::warn!("spec.rollout.analysis is set but the operator has no --prometheus-url");
        ctx.metrics.count_analysis(S::COMPONENT, "no_prometheus");
        return queries.map(|_| AnalysisOutcome::Inconclusive).collect();
    };
    let mut outcomes = Vec::new();
    for (query, comparison, threshold) in queries {
        let query = crate::analysis::render_query(query, revision);
        let outcome = match prometheus.query(&query).await {
            Ok(outcome) => {
                let result = match outcome {
                    AnalysisOutcome::Value(v)
                        if crate::rollout::compare(comparison, v, threshold) =>
                    {
                        "pass"
                    }
                    AnalysisOutcome::Value(_) => "fail",
                    AnalysisOutcome::Inconclusive => "inconclusive",
                };
                tracing::info!(%query, ?outcome, result, "analysis sample");
                ctx.metrics.count_analysis(S::COMPONENT, result);
                outcome
            }
            Err(e) => {
                tracing::warn!(%query, error = %e, "analysis query failed; inconclusive");
                ctx.metrics.count_analysis(S::COMPONENT, e.metric_label());
                AnalysisOutcome::Inconclusive
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

fn backoff_key<S: LockstepService>(svc: &S) -> String {
    format!(
        "{}/{}/{}",
        S::COMPONENT,
        svc.namespace().unwrap_or_default(),
        svc.name_any()
    )
}

/// Failed reconciles are counted and retried with a per-object exponential backoff.
#[allow(clippy::needless_pass_by_value)] // the signature kube-runtime's Controller::run expects
pub fn error_policy<S: LockstepService>(
    svc: std::sync::Arc<S>,
    error: &Error,
    ctx: std::sync::Arc<Context>,
) -> kube::runtime::controller::Action {
    let delay = ctx.backoff.failed(&backoff_key(&*svc));
    tracing::warn!(%error, kind = S::COMPONENT, retry_in = ?delay, "reconcile failed");
    ctx.metrics.count_failure(S::COMPONENT, error);
    kube::runtime::controller::Action::requeue(delay)
}
