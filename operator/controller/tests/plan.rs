//! Reconcile plans against a simulated cluster: the API calls the controller would make.
#![allow(clippy::unwrap_used)] // fixture helpers

mod common;

use std::time::Duration;

use lockstep_crd::AlbumService;
use lockstep_crd::spec::{Step, Strategy};
use lockstep_crd::status::Phase;
use lockstep_operator::model::apply_to_model;
use lockstep_operator::plan::{Action, Cluster, plan};

const T0: i64 = 1_800_000_000;

/// A service object and the cluster it lives in. `run` plans once and applies the actions the
/// way the API server would; pods become ready only when a test says so.
struct Sim {
    svc: AlbumService,
    cluster: Cluster,
    now: i64,
}

impl Sim {
    fn new() -> Sim {
        let mut svc = common::album();
        svc.spec.rollout.strategy = Strategy::Rolling;
        svc.spec.rollout.steps.clear();
        Sim {
            svc,
            cluster: Cluster::default(),
            now: T0,
        }
    }

    fn run(&mut self) -> Vec<Action> {
        let p = plan(&self.svc, &self.cluster, self.now, None);
        for action in &p.actions {
            if let Action::PatchSpec(patch) = action {
                let mut doc = serde_json::to_value(&self.svc).unwrap();
                lockstep_operator::merge::apply(&mut doc, patch);
                self.svc = serde_json::from_value(doc).unwrap();
                self.svc.metadata.generation = self.svc.metadata.generation.map(|g| g + 1);
            } else {
                apply_to_model(&mut self.svc, &mut self.cluster, action, false);
            }
        }
        p.actions
    }

    /// A service deployed once and Healthy (revision 1, all pods ready).
    fn healthy() -> Sim {
        let mut sim = Sim::new();
        sim.run();
        sim.all_ready();
        sim.run();
        sim
    }

    /// Every deployment's pods become ready.
    fn all_ready(&mut self) {
        for d in self.cluster.deployments.values_mut() {
            d.ready = d.replicas;
        }
    }

    fn phase(&self) -> Option<Phase> {
        self.svc.status.as_ref().and_then(|s| s.phase)
    }
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::CreateRevision(r) => format!("CreateRevision({})", r.number),
            Action::ScaleRevision { revision, replicas } => {
                format!("Scale({}={replicas})", revision.number)
            }
            Action::DeleteDeployment(n) => format!("DeleteDeployment({n})"),
            Action::ApplyService(None) => "ApplyService(all)".into(),
            Action::ApplyService(Some(n)) => format!("ApplyService({n})"),
            Action::CreateConfigMap(r) => format!("CreateConfigMap({})", r.number),
            Action::DeleteRevision(n) => format!("DeleteRevision({n})"),
            Action::PatchSpec(_) => "PatchSpec".into(),
            Action::PatchStatus { .. } => "PatchStatus".into(),
            Action::Event(t) => format!("Event({})", t.reason),
        })
        .collect()
}

#[test]
fn first_reconcile_creates_revision_deployment_and_service() {
    let mut sim = Sim::new();
    let actions = sim.run();
    assert_eq!(
        kinds(&actions),
        [
            "CreateRevision(1)",
            "Scale(1=4)",
            "ApplyService(all)",
            "Event(RolloutStarted)",
            "PatchStatus"
        ]
    );
    assert_eq!(sim.phase(), Some(Phase::Progressing));
    sim.all_ready();
    assert_eq!(
        kinds(&sim.run()),
        ["ApplyService(1)", "Event(RolloutCompleted)", "PatchStatus"],
        "at rest the Service selects the serving revision"
    );
    assert_eq!(sim.phase(), Some(Phase::Healthy));
}

#[test]
fn an_unchanged_service_makes_zero_writes() {
    let mut sim = Sim::healthy();
    for _ in 0..3 {
        sim.now += 60;
        assert_eq!(
            kinds(&sim.run()),
            Vec::<String>::new(),
            "steady state must not write"
        );
    }
}

#[test]
fn a_config_change_makes_a_new_revision_and_scaling_does_not() {
    let mut sim = Sim::healthy();
    sim.svc.spec.replicas = 6;
    let actions = kinds(&sim.run());
    assert_eq!(actions[0], "Scale(1=6)", "{actions:?}");
    sim.all_ready();
    sim.run();
    sim.svc.spec.release.config.pagination.max_limit = 300;
    let actions = kinds(&sim.run());
    assert_eq!(
        &actions[..2],
        ["CreateRevision(2)", "Scale(2=6)"],
        "{actions:?}"
    );
    sim.all_ready();
    let actions = kinds(&sim.run());
    assert_eq!(
        actions,
        ["ApplyService(2)", "Event(RolloutCompleted)", "PatchStatus"],
        "revision 1 stays warm (scaleDownDelaySeconds), out of the Service"
    );
    assert_eq!(sim.cluster.deployments[&1].replicas, 6);
    assert_eq!(kinds(&sim.run()), Vec::<String>::new());
    // When the delay is over it goes; the status counts follow once, then nothing changes.
    sim.now += 60;
    assert_eq!(kinds(&sim.run()), ["DeleteDeployment(1)", "PatchStatus"]);
    assert_eq!(kinds(&sim.run()), ["PatchStatus"]);
    assert_eq!(kinds(&sim.run()), Vec::<String>::new());
    assert_eq!(sim.svc.status.as_ref().unwrap().stable_revision, Some(2));
}

/// On a real API server a status merge patch only removes what it names with `null`: the
/// rollout's step fields must be cleared explicitly when it completes, and then nothing is
/// written again (the STEP column once showed 4 on a Healthy service, with a PATCH every
/// reconcile).
#[test]
fn a_completed_canary_clears_its_step_fields_and_then_writes_nothing() {
    let mut sim = Sim::healthy();
    sim.svc.spec.rollout.strategy = Strategy::Canary;
    sim.svc.spec.rollout.steps = vec![Step {
        set_weight: Some(50),
        pause: None,
    }];
    sim.svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:1.5.0".into();
    sim.run();
    let mid = sim.svc.status.clone().unwrap();
    assert!(
        mid.step.is_some() && mid.step_started_at.is_some(),
        "{mid:?}"
    );
    let mut patches = Vec::new();
    for _ in 0..6 {
        sim.all_ready();
        sim.now += 30;
        for action in sim.run() {
            if let Action::PatchStatus { patch, .. } = action {
                patches.push(serde_json::to_string(&patch).unwrap());
            }
        }
    }
    let status = sim.svc.status.clone().unwrap();
    assert_eq!(sim.phase(), Some(Phase::Healthy), "{status:?}");
    assert_eq!(
        (
            status.step,
            status.step_started_at.as_ref(),
            status.analysis_passes
        ),
        (None, None, None),
        "step fields left on a Healthy service"
    );
    assert!(
        patches.iter().any(|p| p.contains(r#""step":null"#)),
        "no patch cleared the step: {patches:?}"
    );
    for _ in 0..10 {
        sim.now += 300;
        assert_eq!(
            kinds(&sim.run()),
            Vec::<String>::new(),
            "steady state wrote"
        );
    }
}

#[test]
fn a_crash_looping_canary_rolls_back_to_stable() {
    let mut sim = Sim::healthy();
    sim.svc.spec.rollout.strategy = Strategy::Canary;
    sim.svc.spec.rollout.steps = vec![Step {
        set_weight: Some(25),
        pause: None,
    }];
    sim.svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:1.5.0".into();
    let actions = kinds(&sim.run());
    assert_eq!(
        &actions[..3],
        ["CreateRevision(2)", "Scale(1=3)", "Scale(2=1)"],
        "{actions:?}"
    );
    sim.cluster.failures.insert(2, "CrashLoopBackOff".into());
    let actions = kinds(&sim.run());
    assert_eq!(
        actions,
        [
            "Scale(1=4)",
            "DeleteDeployment(2)",
            "ApplyService(1)",
            "Event(RolledBack)",
            "PatchStatus"
        ]
    );
    assert_eq!(sim.phase(), Some(Phase::RolledBack));
    let status = sim.svc.status.clone().unwrap();
    assert_eq!(
        (status.stable_revision, status.aborted_revision),
        (Some(1), Some(2))
    );
}

#[test]
fn rollback_to_rewrites_the_spec_and_reuses_the_revision() {
    let mut sim = Sim::healthy();
    let v1 = sim.svc.spec.release.clone();
    let pod1 = sim.svc.spec.pod.clone();
    sim.svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:2.0.0".into();
    sim.svc.spec.release.config.log.level = "debug".into();
    // Fields that revision 1 does not have at all: a merge patch must remove them.
    sim.svc.spec.release.config.database.url_env = None;
    sim.svc.spec.pod.env.push(
        serde_json::from_value(
            serde_json::json!({"name": "EXTRA", "secretKeyRef": {"name": "s", "key": "k"}}),
        )
        .unwrap(),
    );
    sim.svc.spec.pod.resources =
        Some(serde_json::from_value(serde_json::json!({"limits": {"cpu": "2"}})).unwrap());
    sim.run();
    sim.all_ready();
    sim.run();
    sim.run();
    assert_eq!(sim.svc.status.as_ref().unwrap().stable_revision, Some(2));
    sim.svc.spec.rollback_to = Some(lockstep_crd::spec::RollbackTo { revision: 1 });
    assert_eq!(kinds(&sim.run()), ["PatchSpec", "Event(RollbackRequested)"]);
    assert_eq!(sim.svc.spec.release, v1, "image and config both return");
    assert_eq!(sim.svc.spec.pod, pod1, "pod fields added later are removed");
    assert!(sim.svc.spec.rollback_to.is_none());
    let actions = kinds(&sim.run());
    assert!(
        !actions.iter().any(|a| a.starts_with("CreateRevision")),
        "revision 1 is reused: {actions:?}"
    );
    // Within scaleDownDelaySeconds revision 1 is still running at full size: the undo only
    // switches the Service, no pod starts, and it is Healthy in this one reconcile.
    assert!(
        !actions.iter().any(|a| a.starts_with("Scale(")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"ApplyService(1)".to_owned()),
        "{actions:?}"
    );
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    assert_eq!(sim.svc.status.as_ref().unwrap().stable_revision, Some(1));
    assert_eq!(
        sim.svc.status.as_ref().unwrap().warm_revision,
        Some(2),
        "and revision 2 stays warm in turn"
    );
}

#[test]
fn an_invalid_config_touches_no_pods() {
    let mut sim = Sim::healthy();
    sim.svc.spec.release.config.pagination.default_limit = 999;
    let actions = kinds(&sim.run());
    assert_eq!(actions, ["Event(InvalidConfig)", "PatchStatus"]);
    let status = sim.svc.status.clone().unwrap();
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ConfigValid")
        .unwrap();
    assert_eq!(valid.status, "False");
    assert!(
        valid.message.contains("pagination.default_limit"),
        "{}",
        valid.message
    );
    assert_eq!(
        kinds(&sim.run()),
        Vec::<String>::new(),
        "no repeated event or write"
    );
}

#[test]
fn history_is_pruned_but_never_the_stable_or_current_revision() {
    let mut sim = Sim::new();
    sim.svc.spec.revision_history_limit = 2;
    for i in 0..4 {
        sim.svc.spec.release.config.server.request_timeout_ms = 1000 + i;
        sim.run();
        sim.all_ready();
        sim.run();
        sim.run();
    }
    let numbers: Vec<i64> = sim.cluster.revisions.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [3, 4]);
}

#[test]
fn a_deployment_edited_outside_lockstep_is_reapplied() {
    let mut sim = Sim::healthy();
    let d = sim.cluster.deployments.get_mut(&1).unwrap();
    d.template.image = Some("registry.example/album:hotfix".into());
    assert_eq!(
        kinds(&sim.run()),
        ["Event(DriftRepaired)", "Scale(1=4)"],
        "the image someone set by hand is replaced"
    );
    assert_eq!(kinds(&sim.run()), Vec::<String>::new(), "repaired");

    let d = sim.cluster.deployments.get_mut(&1).unwrap();
    d.template.render = None;
    assert_eq!(
        kinds(&sim.run()),
        ["Event(DriftRepaired)", "Scale(1=4)"],
        "a Deployment written by another renderer version is re-applied once"
    );
}

#[test]
fn restart_at_rolls_the_pods_of_every_revision_without_a_new_one() {
    let mut sim = Sim::healthy();
    let revisions = sim.cluster.revisions.len();
    sim.svc.spec.restart_at = Some("2026-11-22T09:00:00Z".into());
    assert_eq!(
        kinds(&sim.run()),
        ["Event(Restarted)", "Scale(1=4)"],
        "a restart, not drift"
    );
    assert_eq!(sim.cluster.revisions.len(), revisions, "no new revision");
    assert_eq!(
        sim.cluster.deployments[&1].template.restarted_at.as_deref(),
        Some("2026-11-22T09:00:00Z")
    );
    assert_eq!(kinds(&sim.run()), Vec::<String>::new(), "once");
    // A hand edit on top of a restart is still drift.
    let d = sim.cluster.deployments.get_mut(&1).unwrap();
    d.template.image = Some("registry.example/album:hotfix".into());
    assert_eq!(kinds(&sim.run()), ["Event(DriftRepaired)", "Scale(1=4)"]);
}

/// A kept revision whose ConfigMap is gone (its create was refused, or it was deleted) gets it
/// back; a Service that was edited or deleted is re-applied. Then all is quiet again.
#[test]
fn missing_config_maps_and_a_drifted_service_are_restored() {
    let mut sim = Sim::healthy();
    assert_eq!(kinds(&sim.run()), Vec::<String>::new());
    sim.cluster.config_maps.clear();
    sim.cluster.service_routes = None;
    let actions = kinds(&sim.run());
    assert!(
        actions.contains(&"CreateConfigMap(1)".to_owned())
            && actions.contains(&"Event(ConfigMapRestored)".to_owned())
            && actions.contains(&"ApplyService(1)".to_owned()),
        "{actions:?}"
    );
    assert_eq!(
        kinds(&sim.run()),
        Vec::<String>::new(),
        "healed, then quiet"
    );
}

/// `rollbackTo` a revision that is not kept is cleared from the spec (it used to stay there
/// forever), with a Warning event listing the kept revisions; then the service is quiet again.
#[test]
fn rollback_to_a_revision_not_kept_is_cleared_with_a_warning() {
    let mut sim = Sim::healthy();
    sim.svc.spec.rollback_to = Some(lockstep_crd::spec::RollbackTo { revision: 9 });
    let actions = sim.run();
    assert_eq!(
        kinds(&actions),
        ["PatchSpec", "Event(RollbackRefused)", "PatchStatus"]
    );
    let warning = actions
        .iter()
        .find_map(|a| match a {
            Action::Event(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert!(warning.warning && warning.message.contains("revision 9 is not kept (kept: 1)"));
    assert!(
        sim.svc.spec.rollback_to.is_none(),
        "the request stayed in the spec"
    );
    sim.run();
    assert_eq!(kinds(&sim.run()), Vec::<String>::new());
    assert_eq!(sim.phase(), Some(Phase::Healthy));
    // The refusal stays as a condition naming the kept revisions, until a rollout starts.
    let refused = |sim: &Sim| {
        sim.svc
            .status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .find(|c| c.type_ == "RollbackRefused")
            .cloned()
    };
    let condition = refused(&sim).expect("a RollbackRefused condition");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "RevisionNotKept")
    );
    assert!(
        condition.message.contains("kept: 1"),
        "{}",
        condition.message
    );
    sim.svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:2.0.0".into();
    sim.run();
    assert!(
        refused(&sim).is_none(),
        "cleared when the next rollout starts"
    );
}

/// The scale subresource's `status.replicas` (what an HPA sees) never counts more than
/// `spec.replicas`, even while the new revision is at full size and the old one still shrinks.
#[test]
fn status_replicas_never_exceed_the_desired_count() {
    let mut sim = Sim::healthy();
    sim.svc.spec.release.image = "ghcr.io/lockstep-dev/album-service:2.0.0".into();
    let mut max_seen = 0;
    for _ in 0..8 {
        sim.run();
        let deployed: i32 = sim.cluster.deployments.values().map(|d| d.replicas).sum();
        let status = sim.svc.status.clone().unwrap();
        assert!(status.replicas <= sim.svc.spec.replicas, "{status:?}");
        max_seen = max_seen.max(deployed);
        sim.all_ready();
    }
    assert!(
        max_seen > sim.svc.spec.replicas,
        "the rollout never surged: {max_seen}"
    );
    assert_eq!(sim.phase(), Some(Phase::Healthy));
}

/// A pod within the grace period of a failure that may heal (a Secret not created yet) gets the
/// service looked at again when the grace ends, even if the service itself is steady.
#[test]
fn a_pod_in_its_grace_period_is_rechecked_when_it_ends() {
    let sim = Sim::healthy();
    let quiet = plan(&sim.svc, &sim.cluster, sim.now, None);
    assert!(
        quiet
            .requeue_after
            .is_none_or(|r| r > Duration::from_secs(40))
    );
    let mut cluster = sim.cluster.clone();
    cluster.recheck_after = Some(Duration::from_secs(40));
    let p = plan(&sim.svc, &cluster, sim.now, None);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(40)));
}
