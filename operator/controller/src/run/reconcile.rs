//! One reconcile of one service, and what every reconcile shares ([`Context`]).
//!
//! ```text
//!  reconcile(svc) ─► observe: the caches (crate::cluster::observe), no request
//!                 ├─► plan(svc, cluster, now)            (pure; zero actions in steady state)
//!                 ├─► analysis, when the plan asks: Prometheus, then plan again with the sample
//!                 ├─► execute (crate::cluster::execute): the plan's writes, in order
//!                 └─► settle: wait until the caches show those writes
//! ```

use kube::{Client, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::events::Recorder;
use crate::cluster::execute::{Writer, execute};
use crate::core::plan::{Action, Cluster, PreflightRun, is_refused};
use crate::core::rollout::AnalysisOutcome;
use crate::error::{Error, Result};
use crate::kinds::{LockstepService, ServiceRef};

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
    pub metrics: std::sync::Arc<crate::run::metrics::Metrics>,
    /// Where canary analysis queries go; without it every analysis is inconclusive.
    pub prometheus: Option<crate::cluster::analysis::Prometheus>,
    /// Retry delays after failed reconciles, per object.
    pub backoff: crate::cluster::failure::Backoff,
    /// The watch caches reconciles read.
    pub caches: crate::cluster::observe::Caches,
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
    let ports = crate::core::render::service_ports(&svc.service_ports());
    let mut cluster = ctx.caches.observe(&ns, &name, now, &ports);
    read_preflight_log(&*svc, &ctx.client, &mut cluster).await;
    if let Some(routing) = &svc.common().rollout.traffic_routing {
        let route = &routing.gateway_api;
        let route_ns = route.namespace.as_deref().unwrap_or(&ns);
        let seen = crate::cluster::route::read(&ctx.client, route_ns, &route.http_route).await?;
        cluster.route = Some(seen);
    }
    let mut plan = crate::core::plan::plan(&*svc, &cluster, now, None);
    if plan.analysis_needed {
        let target = plan.target.unwrap_or_default();
        let outcome = analyze::<S>(plan.analysis.as_ref(), &ctx, target).await;
        // The sample's time, rounded up: the status keeps whole seconds, and a sample taken at
        // 10.98 s recorded as 10 let the next one come at 15.0 s, 4.02 s later, under a 5 s
        // interval (tests/fake_analysis.rs caught it). Rounded up, samples are never closer.
        let sampled = k8s_openapi::jiff::Timestamp::now();
        let sampled_at = sampled.as_second() + i64::from(sampled.subsec_nanosecond() > 0);
        plan = crate::core::plan::plan(&*svc, &cluster, sampled_at.max(now), Some(outcome));
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
    let written = match execute(
        &Writer {
            client: &ctx.client,
            recorder: &ctx.recorder,
            caches: &ctx.caches,
        },
        &*svc,
        &cluster,
        &plan,
    )
    .await
    {
        Ok(written) => written,
        Err(e) => {
            crate::cluster::failure::report(&ctx.client, &ctx.recorder, &*svc, &e).await;
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

/// The last lines of the failed preflight of the revision the spec asks for, once: when the
/// status already shows them, nothing is read.
async fn read_preflight_log<S: LockstepService>(svc: &S, client: &Client, cluster: &mut Cluster) {
    let failed = |run: &PreflightRun| matches!(run, PreflightRun::Failed { logs: None, .. });
    // The common case costs nothing: no failed check, no rendering of the spec's content.
    if !cluster.preflight.values().any(failed) {
        return;
    }
    let Ok(content) = svc.content() else {
        return;
    };
    let hash = content.hash();
    let Some(rev) = cluster.revisions.iter().find(|r| r.hash == hash).cloned() else {
        return;
    };
    let Some(PreflightRun::Failed { logs, .. }) = cluster.preflight.get_mut(&rev.number) else {
        return;
    };
    if is_refused(svc.status(), rev.number) {
        return;
    }
    let Some(sref) = ServiceRef::of(svc) else {
        return;
    };
    let job = crate::core::render::preflight_job_name(&sref, &rev);
    *logs = Some(crate::cluster::preflight::last_lines(client, &sref.namespace, &job).await);
}

/// One sample of `analysis` for the new `revision`: every query, in order (`query`, then
/// `queries`). Errors are logged and counted, and are inconclusive: they never promote, and the
/// progress deadline (or `inconclusiveLimit`) bounds the step.
async fn analyze<S: LockstepService>(
    analysis: Option<&lockstep_crd::spec::Analysis>,
    ctx: &Context,
    revision: i64,
) -> Vec<AnalysisOutcome> {
    let Some(analysis) = analysis else {
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
        let query = crate::cluster::analysis::render_query(query, revision);
        let outcome = match prometheus.query(&query).await {
            Ok(outcome) => {
                let result = match outcome {
                    AnalysisOutcome::Value(v)
                        if crate::core::rollout::compare(comparison, v, threshold) =>
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
