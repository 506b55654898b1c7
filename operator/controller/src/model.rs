//! A model of the API server for benchmarks and tests: what the cluster would hold after a
//! plan's actions, without a cluster.

use kube::ResourceExt;

use crate::plan::{Action, Cluster};
use crate::service::LockstepService;

/// A model of the API server for benchmarks and tests: applies `action` to `svc` and `cluster`
/// the way the cluster would, with every scaled Deployment's pods `ready` at once (or none).
/// Spec patches and events have no effect on the model.
pub fn apply_to_model<S: LockstepService>(
    svc: &mut S,
    cluster: &mut Cluster,
    action: &Action,
    ready: bool,
) {
    match action {
        Action::CreateRevision(rev) => cluster.revisions.push(rev.clone()),
        Action::ScaleRevision { revision, replicas } => {
            let d = cluster.deployments.entry(revision.number).or_default();
            d.replicas = *replicas;
            let restart_at = svc.common().restart_at.map(str::to_owned);
            d.template =
                crate::resources::fingerprint(&svc.name_any(), revision, restart_at.as_deref());
            if ready {
                d.ready = *replicas;
            }
        }
        Action::DeleteDeployment(n) => {
            cluster.deployments.remove(n);
        }
        Action::CreateService => cluster.service_exists = true,
        Action::DeleteRevision(n) => cluster.revisions.retain(|r| r.number != *n),
        Action::PatchStatus(status) => svc.set_status((**status).clone()),
        Action::PatchSpec(_) | Action::Event(_) => {}
    }
}
