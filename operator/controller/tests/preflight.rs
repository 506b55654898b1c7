//! `rollout.preflight` as plans and objects: the Job a new revision gets before any pod, what
//! each state of it plans, and what it leaves alone (the revision hash, rollbacks, revisions
//! already running or already checked).
#![allow(clippy::unwrap_used)] // fixture helpers

mod common;

use common::revision;

use lockstep_crd::AlbumService;
use lockstep_crd::spec::{Preflight, Strategy};
use lockstep_crd::status::{Phase, ServiceStatus};
use lockstep_operator::core::plan::{Action, Cluster, ObservedDeployment, PreflightRun, plan};
use lockstep_operator::core::render;
use lockstep_operator::kinds::ServiceRef;

const T0: i64 = 1_800_000_000;

fn with_preflight() -> AlbumService {
    let mut svc = common::album();
    svc.spec.rollout.strategy = Strategy::Rolling;
    svc.spec.rollout.steps.clear();
    svc.spec.rollout.preflight = Some(Preflight {
        command: Vec::new(),
        timeout_seconds: 60,
    });
    svc
}

fn names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::CreateRevision(r) => format!("CreateRevision({})", r.number),
            Action::CreatePreflight { revision, .. } => {
                format!("CreatePreflight({})", revision.number)
            }
            Action::RecordPreflight(r) => format!("RecordPreflight({})", r.number),
            Action::ScaleRevision { revision, .. } => format!("Scale({})", revision.number),
            Action::ApplyService(_) => "ApplyService".into(),
            Action::PatchStatus { .. } => "PatchStatus".into(),
            Action::Event(t) => format!("Event({})", t.reason),
            Action::CreateConfigMap(r) => format!("CreateConfigMap({})", r.number),
            other => format!("{other:?}"),
        })
        .collect()
}

fn config_valid(status: &ServiceStatus) -> (String, String) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ConfigValid")
        .expect("a ConfigValid condition");
    (c.status.clone(), c.reason.clone())
}

fn failed(logs: Option<&str>) -> PreflightRun {
    PreflightRun::Failed {
        reason: "BackoffLimitExceeded".into(),
        logs: logs.map(str::to_owned),
    }
}

fn status_of(actions: &[Action]) -> ServiceStatus {
    actions
        .iter()
        .find_map(|a| match a {
            Action::PatchStatus { status, .. } => Some((**status).clone()),
            _ => None,
        })
        .expect("a status")
}

/// Revision 1 stable and serving; the spec now asks for revision 2 (recorded, not running).
fn second_revision(run: Option<PreflightRun>) -> (AlbumService, Cluster) {
    let first = with_preflight();
    let mut svc = with_preflight();
    svc.spec.release.config.pagination.default_limit = 30;
    svc.status = Some(ServiceStatus {
        current_revision: Some(1),
        stable_revision: Some(1),
        phase: Some(Phase::Healthy),
        ..ServiceStatus::default()
    });
    let mut cluster = Cluster {
        revisions: vec![revision(&first, 1), revision(&svc, 2)],
        ..Cluster::default()
    };
    cluster.deployments.insert(
        1,
        ObservedDeployment {
            replicas: 2,
            ready: 2,
            template: render::fingerprint("albums", &revision(&first, 1), None, 0),
        },
    );
    // Both revisions' ConfigMaps exist, as they do once recorded.
    for rev in &cluster.revisions {
        let name = format!("albums-cfg-{}", rev.short_hash());
        cluster.config_maps.insert(name);
    }
    cluster.preflight_passed.insert(1);
    if let Some(run) = run {
        cluster.preflight.insert(2, run);
    }
    (svc, cluster)
}

#[test]
fn preflight_is_not_part_of_the_revision() {
    let mut plain = with_preflight();
    plain.spec.rollout.preflight = None;
    assert_eq!(
        revision(&plain, 1).hash,
        revision(&with_preflight(), 1).hash,
        "turning preflight on starts no rollout"
    );
}

#[test]
fn the_job_runs_the_binarys_check_config_on_the_mounted_file_with_the_pods_security() {
    let svc = with_preflight();
    let rev = revision(&svc, 2);
    let sref = ServiceRef::of(&svc).unwrap();
    let check = svc.spec.rollout.preflight.unwrap();
    let job = render::preflight_job(&sref, &rev, &check, Default::default());
    assert_eq!(
        job.metadata.name.as_deref(),
        Some(render::preflight_job_name(&sref, &rev).as_str())
    );
    let labels = job.metadata.labels.clone().unwrap();
    assert_eq!(labels[render::LABEL_SERVICE], "albums");
    assert_eq!(labels[render::LABEL_REVISION], "2");
    let spec = job.spec.unwrap();
    assert_eq!(
        (spec.backoff_limit, spec.active_deadline_seconds),
        (Some(0), Some(60))
    );
    let template = spec.template;
    let pod_labels = template.metadata.unwrap().labels.unwrap();
    assert!(
        !pod_labels.contains_key(render::LABEL_SERVICE),
        "a check's pod is not one of the revision's pods"
    );
    assert_eq!(pod_labels[render::LABEL_PREFLIGHT_OF], "albums");
    let pod = template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some(rev.content.image.as_str()));
    assert_eq!(c.command, None);
    assert_eq!(
        c.args.clone().unwrap(),
        ["check-config", "/etc/lockstep/config.yaml"]
    );
    assert!(c.readiness_probe.is_none() && c.liveness_probe.is_none());
    let deployment = render::deployment(&sref, &rev, 1, None, 0);
    let served = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.volumes, served.volumes,
        "the revision's config, as its pods mount it"
    );
    assert_eq!(c.volume_mounts, served.containers[0].volume_mounts);
    assert_eq!(pod.security_context, served.security_context);
    assert_eq!(c.security_context, served.containers[0].security_context);
    assert_eq!(c.env, served.containers[0].env);
}

#[test]
fn a_new_revision_waits_for_its_check_before_any_pod() {
    let (svc, cluster) = second_revision(None);
    let p = plan(&svc, &cluster, T0, None);
    assert_eq!(
        names(&p.actions),
        [
            "CreatePreflight(2)",
            "Event(PreflightStarted)",
            "PatchStatus"
        ]
    );
    let status = status_of(&p.actions);
    assert_eq!(
        status.message.as_deref(),
        Some("revision 2: preflight running")
    );
    assert_eq!(status.stable_revision, Some(1));
    assert!(p.requeue_after.is_some());

    let (svc, cluster) = second_revision(Some(PreflightRun::Running));
    let p = plan(&svc, &cluster, T0, None);
    assert_eq!(names(&p.actions), ["PatchStatus"], "only the message, once");
}

#[test]
fn a_passed_check_is_recorded_and_the_rollout_starts() {
    let (svc, cluster) = second_revision(Some(PreflightRun::Passed));
    let p = plan(&svc, &cluster, T0, None);
    let names = names(&p.actions);
    assert_eq!(names[..2], ["RecordPreflight(2)", "Event(PreflightPassed)"]);
    assert!(names.contains(&"Scale(2)".to_owned()), "{names:?}");

    let (svc, mut cluster) = second_revision(None);
    cluster.preflight_passed.insert(2);
    let names = self::names(&plan(&svc, &cluster, T0, None).actions);
    assert!(
        names.contains(&"Scale(2)".to_owned()) && !names.iter().any(|n| n.contains("Preflight")),
        "a recorded pass is not checked again: {names:?}"
    );
}

#[test]
fn a_failed_check_refuses_the_revision_with_its_log_and_touches_no_pod() {
    let (svc, cluster) = second_revision(Some(failed(Some("error: root /srv does not exist"))));
    let p = plan(&svc, &cluster, T0, None);
    assert_eq!(names(&p.actions), ["Event(PreflightFailed)", "PatchStatus"]);
    let status = status_of(&p.actions);
    assert_eq!(status.phase, Some(Phase::Degraded));
    let message = status.message.clone().unwrap();
    assert!(
        message.contains("revision 2 failed preflight (BackoffLimitExceeded)")
            && message.ends_with("error: root /srv does not exist"),
        "{message}"
    );
    assert_eq!(
        config_valid(&status),
        ("False".into(), "PreflightFailed".into())
    );

    // The next reconcile does not read the log again, and writes nothing.
    let mut svc = svc;
    svc.status = Some(status);
    let (_, cluster) = second_revision(Some(failed(None)));
    let again = plan(&svc, &cluster, T0 + 5, None);
    assert!(again.actions.is_empty(), "{:?}", names(&again.actions));
}

#[test]
fn rollbacks_and_revisions_already_running_are_not_checked() {
    // Back to revision 1 while 2 is stable: a rollback goes at once.
    let (mut svc, mut cluster) = second_revision(None);
    cluster.preflight_passed.clear();
    svc.spec.release.config.pagination.default_limit = 25;
    svc.status.as_mut().unwrap().stable_revision = Some(2);
    let names = names(&plan(&svc, &cluster, T0, None).actions);
    assert!(!names.iter().any(|n| n.contains("Preflight")), "{names:?}");

    // Revision 2's pods already run (it rolled out before preflight was turned on).
    let (svc, mut cluster) = second_revision(None);
    let d = cluster.deployments[&1].clone();
    cluster.deployments.insert(2, d);
    let names = self::names(&plan(&svc, &cluster, T0, None).actions);
    assert!(!names.iter().any(|n| n.contains("Preflight")), "{names:?}");
}

/// A config refused earlier, then fixed: while the fixed revision's check runs the status no
/// longer says the config is invalid; a second, different refusal is a new Warning event.
#[test]
fn a_refusal_ends_when_a_new_revision_is_checked_and_a_new_one_is_announced() {
    let (mut svc, cluster) = second_revision(Some(PreflightRun::Running));
    let invalid = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        type_: "ConfigValid".into(),
        status: "False".into(),
        reason: "InvalidConfig".into(),
        message: "pagination.max_limit: too big".into(),
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ),
        observed_generation: None,
    };
    svc.status.as_mut().unwrap().conditions = vec![invalid];
    let status = status_of(&plan(&svc, &cluster, T0, None).actions);
    assert_eq!(config_valid(&status), ("True".into(), "Valid".into()));

    let (svc, cluster) = second_revision(Some(failed(Some("first"))));
    let refused = status_of(&plan(&svc, &cluster, T0, None).actions);
    let mut svc = svc;
    svc.status = Some(refused);
    let (_, cluster) = second_revision(Some(failed(Some("second"))));
    let again = names(&plan(&svc, &cluster, T0 + 5, None).actions);
    assert_eq!(
        again,
        ["Event(PreflightFailed)", "PatchStatus"],
        "a new refusal is told"
    );
}

/// A revision recorded without its ConfigMap (the create was cut off mid-reconcile): the
/// ConfigMap is restored before the check that mounts it, while the check runs too, and once.
#[test]
fn a_lost_config_map_is_restored_before_the_check_that_mounts_it() {
    for run in [None, Some(PreflightRun::Running)] {
        let (svc, mut cluster) = second_revision(run);
        let lost = format!("albums-cfg-{}", cluster.revisions[1].short_hash());
        cluster.config_maps.remove(&lost);
        let names = names(&plan(&svc, &cluster, T0, None).actions);
        assert_eq!(
            names[..2],
            ["Event(ConfigMapRestored)", "CreateConfigMap(2)"],
            "{names:?}"
        );
    }
    let (svc, mut cluster) = second_revision(Some(PreflightRun::Passed));
    let lost = format!("albums-cfg-{}", cluster.revisions[1].short_hash());
    cluster.config_maps.remove(&lost);
    let names = names(&plan(&svc, &cluster, T0, None).actions);
    let restores = names.iter().filter(|n| *n == "CreateConfigMap(2)").count();
    assert_eq!(restores, 1, "{names:?}");
}
