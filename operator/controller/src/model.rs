//! A model of the API server for benchmarks and tests: what the cluster would hold after a
//! plan's actions, without a cluster. Status patches are applied with RFC 7386 semantics, as
//! the API server applies them (not replaced).

use kube::ResourceExt;

use crate::plan::{Action, Cluster};
use crate::service::LockstepService;

fn config_map<S: LockstepService>(svc: &S, rev: &crate::revision::Revision) -> String {
    format!("{}-cfg-{}", svc.name_any(), rev.short_hash())
}

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
        Action::CreateRevision(rev) => {
            cluster.revisions.push(rev.clone());
            cluster.config_maps.insert(config_map(svc, rev));
        }
        Action::CreateConfigMap(rev) => {
            cluster.config_maps.insert(config_map(svc, rev));
        }
        Action::ScaleRevision { revision, replicas } => {
            let d = cluster.deployments.entry(revision.number).or_default();
            d.replicas = *replicas;
            let common = svc.common();
            d.template = crate::resources::fingerprint(
                &svc.name_any(),
                revision,
                common.restart_at,
                common.rollout.min_ready_seconds,
            );
            if ready {
                d.ready = *replicas;
            }
        }
        Action::DeleteDeployment(n) => {
            cluster.deployments.remove(n);
        }
        Action::ApplyService(serving) => cluster.service_routes = Some(*serving),
        // The ConfigMap goes with its ControllerRevision (garbage collection).
        Action::DeleteRevision(n) => {
            let gone: Vec<String> = cluster
                .revisions
                .iter()
                .filter(|r| r.number == *n)
                .map(|r| config_map(svc, r))
                .collect();
            cluster.revisions.retain(|r| r.number != *n);
            for name in gone {
                cluster.config_maps.remove(&name);
            }
        }
        // What the API server does with a merge patch: only the named fields change, so a
        // patch that forgets a `null` leaves the old value here too.
        Action::PatchStatus { patch, .. } => {
            let mut doc = svc
                .status()
                .and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or_else(|| serde_json::json!({}));
            crate::merge::apply(&mut doc, patch);
            match serde_json::from_value(doc) {
                Ok(status) => svc.set_status(status),
                Err(e) => panic!("status patch produced an undecodable status: {e}"),
            }
        }
        Action::PatchSpec(_) | Action::Event(_) => {}
    }
}
