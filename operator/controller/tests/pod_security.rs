//! Every pod the operator renders, for every kind, meets the Kubernetes "restricted" Pod
//! Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/):
//! whoever may create a Lockstep service runs its image in that namespace, and no spec field
//! loosens what the pod may do. Checked on the shipped examples, with every pod knob they use.

// Helpers outside #[test] functions panic on bad fixtures too; that is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::revision;
use k8s_openapi::api::core::v1::PodSpec;
use lockstep_crd::{AlbumService, AppService, NoteService, UserService};
use lockstep_operator::core::render;
use lockstep_operator::kinds::{LockstepService, ServiceRef};

fn example<S: LockstepService + serde::de::DeserializeOwned>(file: &str) -> S {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut svc: S = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let meta = kube::Resource::meta_mut(&mut svc);
    meta.namespace = Some("shop".into());
    meta.uid = Some("uid-1".into());
    svc
}

/// The pods a revision of `svc` runs: its Deployment's, and its preflight Job's.
fn pods<S: LockstepService>(svc: &S) -> [PodSpec; 2] {
    let rev = revision(svc, 1);
    let sref = ServiceRef::of(svc).unwrap();
    let deployment = render::deployment(&sref, &rev, 2, None, 0);
    let check = lockstep_crd::spec::Preflight {
        command: vec!["check".into()],
        timeout_seconds: 60,
    };
    let owner = render::revision_owner(&sref, &rev, "uid".into());
    let job = render::preflight_job(&sref, &rev, &check, owner);
    [
        deployment.spec.unwrap().template.spec.unwrap(),
        job.spec.unwrap().template.spec.unwrap(),
    ]
}

/// The shipped example of every kind, rendered.
fn every_kind() -> [(&'static str, [PodSpec; 2]); 4] {
    [
        (
            "AlbumService",
            pods(&example::<AlbumService>("album-service.yaml")),
        ),
        (
            "NoteService",
            pods(&example::<NoteService>("note-service.yaml")),
        ),
        (
            "UserService",
            pods(&example::<UserService>("user-service.yaml")),
        ),
        (
            "AppService",
            pods(&example::<AppService>("app-service.yaml")),
        ),
    ]
}

/// The profile's rules ("restricted", Kubernetes v1.30+), each violation named.
fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    for (field, set) in [
        ("hostNetwork", pod.host_network),
        ("hostPID", pod.host_pid),
        ("hostIPC", pod.host_ipc),
    ] {
        if set == Some(true) {
            out.push(format!("{field} is set"));
        }
    }
    let pod_sc = pod.security_context.clone().unwrap_or_default();
    for volume in pod.volumes.iter().flatten() {
        let allowed = volume.config_map.is_some()
            || volume.secret.is_some()
            || volume.empty_dir.is_some()
            || volume.projected.is_some()
            || volume.downward_api.is_some()
            || volume.persistent_volume_claim.is_some()
            || volume.csi.is_some()
            || volume.ephemeral.is_some();
        if !allowed {
            out.push(format!(
                "volume {} is of a type the profile refuses",
                volume.name
            ));
        }
    }
    let pod_seccomp = pod_sc.seccomp_profile.as_ref().map(|p| p.type_.clone());
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten());
    for c in containers {
        let sc = c.security_context.clone().unwrap_or_default();
        let name = &c.name;
        if sc.privileged == Some(true) {
            out.push(format!("{name}: privileged"));
        }
        if sc.allow_privilege_escalation != Some(false) {
            out.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.unwrap_or_default().iter().any(|d| d == "ALL") {
            out.push(format!("{name}: capabilities do not drop ALL"));
        }
        if caps
            .add
            .unwrap_or_default()
            .iter()
            .any(|a| a != "NET_BIND_SERVICE")
        {
            out.push(format!(
                "{name}: adds a capability other than NET_BIND_SERVICE"
            ));
        }
        if sc.run_as_non_root.or(pod_sc.run_as_non_root) != Some(true) {
            out.push(format!("{name}: runAsNonRoot is not true"));
        }
        if sc.run_as_user.or(pod_sc.run_as_user) == Some(0) {
            out.push(format!("{name}: runs as user 0"));
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .map(|p| p.type_.clone())
            .or(pod_seccomp.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            out.push(format!(
                "{name}: seccompProfile is not RuntimeDefault or Localhost"
            ));
        }
        if c.ports.iter().flatten().any(|p| p.host_port.is_some()) {
            out.push(format!("{name}: hostPort"));
        }
    }
    out
}

#[test]
fn every_kind_renders_restricted_pods() {
    for (kind, [pod, _]) in every_kind() {
        let violations = restricted_violations(&pod);
        assert!(violations.is_empty(), "{kind}: {violations:?}");
    }
}

/// The preflight Job runs the new image too: its pod meets the same profile.
#[test]
fn every_kinds_preflight_pod_is_restricted() {
    for (kind, [_, pod]) in every_kind() {
        let violations = restricted_violations(&pod);
        assert!(violations.is_empty(), "{kind}'s preflight: {violations:?}");
    }
}

/// The checker itself finds what the profile refuses (a test of the test).
#[test]
fn the_checker_refuses_what_the_profile_refuses() {
    let [mut pod, _] = pods(&example::<AlbumService>("album-service.yaml"));
    pod.host_network = Some(true);
    let container = &mut pod.containers[0];
    let sc = container.security_context.as_mut().unwrap();
    sc.allow_privilege_escalation = None;
    sc.capabilities.as_mut().unwrap().add = Some(vec!["SYS_ADMIN".into()]);
    pod.security_context.as_mut().unwrap().seccomp_profile = None;
    let violations = restricted_violations(&pod);
    assert_eq!(violations.len(), 4, "{violations:?}");
}
