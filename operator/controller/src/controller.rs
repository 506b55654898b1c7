//! The IO around [`crate::plan`]: read what the cluster holds for one service, plan, execute.
//!
//! ```text
//!  reconcile(svc) ─► observe: LIST ControllerRevisions, Deployments, Pods, ConfigMaps (metadata)
//!                 │           (by lockstep.dev/service), GET Service
//!                 ├─► plan(svc, cluster, now)            (pure; zero actions in steady state)
//!                 └─► execute: create revision (+ its ConfigMap, owned by it), apply Deployments
//!                     and the Service (server-side apply, one field manager), delete, patch spec
//!                     or status, publish events
//! ```

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::events::Recorder;
use crate::plan::{Action, Cluster, ObservedDeployment, Plan};
use crate::resources::{self, LABEL_REVISION, LABEL_SERVICE};
use crate::revision::Revision;
use crate::rollout::AnalysisOutcome;
use crate::service::{LockstepService, ServiceRef};

/// The one field manager for server-side apply.
pub const FIELD_MANAGER: &str = "lockstep-operator";

fn revision_label<K: Resource>(obj: &K) -> Option<i64> {
    obj.labels().get(LABEL_REVISION)?.parse().ok()
}

/// Reads what the cluster holds for the service `name` in `ns`.
pub async fn observe(client: &Client, ns: &str, name: &str) -> Result<Cluster> {
    let selector = ListParams::default().labels(&format!("{LABEL_SERVICE}={name}"));
    let revisions = Api::<ControllerRevision>::namespaced(client.clone(), ns)
        .list(&selector)
        .await?;
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&selector)
        .await?;
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&selector)
        .await?;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list_metadata(&selector)
        .await?;
    let service = Api::<Service>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?;
    let mut cluster = Cluster {
        revisions: revisions
            .items
            .iter()
            .filter_map(resources::parse_revision)
            .collect(),
        service_routes: service
            .as_ref()
            .and_then(|s| resources::service_routes(s, name)),
        config_maps: config_maps
            .items
            .into_iter()
            .filter_map(|m| m.metadata.name)
            .collect(),
        ..Cluster::default()
    };
    cluster.revisions.sort_by_key(|r| r.number);
    for d in &deployments.items {
        let Some(number) = revision_label(d) else {
            continue;
        };
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let ready = crate::pods::counted(d);
        cluster.deployments.insert(
            number,
            ObservedDeployment {
                replicas,
                ready,
                template: resources::observed_fingerprint(d),
            },
        );
    }
    let seen = crate::pods::failures(&pods.items, k8s_openapi::jiff::Timestamp::now().as_second());
    cluster.failures = seen.failures;
    cluster.recheck_after = seen
        .recheck_after
        .map(|s| std::time::Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)));
    cluster.restarts = crate::pods::restarts(&pods.items);
    Ok(cluster)
}

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
    cr: &ControllerRevision,
) -> Result<()> {
    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ControllerRevision".into(),
        name: cr.name_any(),
        uid: cr.uid().ok_or(Error::MissingObjectKey("uid"))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let cm = resources::config_map(sref, rev, owner);
    match Api::<ConfigMap>::namespaced(client.clone(), &sref.namespace)
        .create(&PostParams::default(), &cm)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Executes `plan` for `svc`.
pub async fn execute<S>(
    client: &Client,
    recorder: &Recorder,
    svc: &S,
    cluster: &Cluster,
    plan: &Plan,
) -> Result<()>
where
    S: LockstepService + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let sref = ServiceRef::of(svc).ok_or(Error::MissingObjectKey("namespace or uid"))?;
    let (ns, name) = (sref.namespace.clone(), sref.name.clone());
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let mut created = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateRevision(rev) => {
                let cr = Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .create(
                        &PostParams::default(),
                        &resources::controller_revision(&sref, rev),
                    )
                    .await?;
                create_config_map(client, &sref, rev, &cr).await?;
                created.push(rev.clone());
            }
            Action::CreateConfigMap(rev) => {
                let cr = Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .get(&resources::revision_name(&sref, rev))
                    .await?;
                create_config_map(client, &sref, rev, &cr).await?;
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
                Api::<Deployment>::namespaced(client.clone(), &ns)
                    .patch(&deployment_name, &apply, &Patch::Apply(&d))
                    .await?;
            }
            Action::DeleteDeployment(number) => {
                let rev = find(cluster, &created, *number)?;
                let deployment_name = resources::revision_name(&sref, rev);
                Api::<Deployment>::namespaced(client.clone(), &ns)
                    .delete(&deployment_name, &DeleteParams::background())
                    .await?;
            }
            Action::ApplyService(serving) => {
                let service = resources::service(&sref, *serving);
                Api::<Service>::namespaced(client.clone(), &ns)
                    .patch(&name, &apply, &Patch::Apply(&service))
                    .await?;
            }
            Action::DeleteRevision(number) => {
                let rev = find(cluster, &created, *number)?;
                Api::<ControllerRevision>::namespaced(client.clone(), &ns)
                    .delete(
                        &resources::revision_name(&sref, rev),
                        &DeleteParams::background(),
                    )
                    .await?;
            }
            Action::PatchSpec(patch) => {
                Api::<S>::namespaced(client.clone(), &ns)
                    .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
            }
            Action::PatchStatus { patch, .. } => {
                let patch = serde_json::json!({ "status": patch });
                Api::<S>::namespaced(client.clone(), &ns)
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
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
    Ok(())
}

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
}

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
    let cluster = observe(&ctx.client, &ns, &svc.name_any()).await?;
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let mut plan = crate::plan::plan(&*svc, &cluster, now, None);
    if plan.analysis_needed {
        let outcome = analyze(&*svc, &ctx, plan.target.unwrap_or_default()).await;
        plan = crate::plan::plan(&*svc, &cluster, now, Some(outcome));
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
    if let Err(e) = execute(&ctx.client, &ctx.recorder, &*svc, &cluster, &plan).await {
        crate::failure::report(&ctx, &*svc, &e).await;
        return Err(e);
    }
    ctx.backoff.succeeded(&backoff_key(&*svc));
    Ok(match plan.requeue_after {
        Some(after) => kube::runtime::controller::Action::requeue(
            after.max(std::time::Duration::from_millis(200)),
        ),
        None => kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(300)),
    })
}

/// One analysis sample for the canary `revision`. Errors are logged and counted, and are
/// inconclusive: they never promote, and the progress deadline bounds the step.
async fn analyze<S: LockstepService>(svc: &S, ctx: &Context, revision: i64) -> AnalysisOutcome {
    let Some(analysis) = svc.common().rollout.analysis.as_ref() else {
        return AnalysisOutcome::Inconclusive;
    };
    let Some(prometheus) = ctx.prometheus.as_ref() else {
        tracing::warn!("spec.rollout.analysis is set but the operator has no --prometheus-url");
        ctx.metrics.count_analysis(S::COMPONENT, "no_prometheus");
        return AnalysisOutcome::Inconclusive;
    };
    let query = crate::analysis::render_query(&analysis.query, revision);
    match prometheus.query(&query).await {
        Ok(outcome) => {
            let result = match outcome {
                AnalysisOutcome::Value(v) if crate::rollout::passes(analysis, v) => "pass",
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
    }
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
