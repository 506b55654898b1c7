//! What differs between the kinds' containers: how the binary is started, its ports and probes,
//! where its config file is, which uid it runs as. A typed kind's shape follows from its binary;
//! an `AppService` revision states its own. Everything else about the pod — the restricted
//! security context, `/tmp`, the Secrets — is rendered the same for every kind.

use k8s_openapi::api::core::v1::{
    ContainerPort, HTTPGetAction, Probe, ResourceRequirements, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use lockstep_crd::app::AppProbe;
use lockstep_crd::spec::{SecretEnv, SecretVolume};

use crate::kinds::ServiceRef;
use crate::kinds::revision::{AppRevision, Revision};
use lockstep_crd::validate::CONFIG_DIR;

/// A typed kind's config file's name in the ConfigMap and the mount.
pub const CONFIG_FILE: &str = "config.yaml";
/// The uid and gid the services' images run as (distroless `nonroot`, numeric in
/// `services/Dockerfile`), and an `AppService`'s unless it says otherwise. A kubelet refuses
/// `runAsNonRoot` for an image whose `USER` is a name unless the pod says which uid it runs as
/// ("cannot verify user is non-root").
pub const RUN_AS_ID: i64 = 65532;

/// One revision's container, as far as the kinds differ.
pub(super) struct Shape<'a> {
    pub(super) command: Option<Vec<String>>,
    pub(super) args: Option<Vec<String>>,
    pub(super) ports: Vec<ContainerPort>,
    pub(super) readiness: Option<Probe>,
    pub(super) liveness: Option<Probe>,
    /// The directory the config file is mounted in.
    pub(super) config_dir: &'a str,
    pub(super) run_as: i64,
    pub(super) resources: Option<&'a ResourceRequirements>,
    pub(super) env: &'a [SecretEnv],
    pub(super) secret_volumes: &'a [SecretVolume],
}

/// The shape of revision `rev`'s container.
pub(super) fn shape<'a>(svc: &ServiceRef, rev: &'a Revision) -> Shape<'a> {
    match &rev.content.app {
        Some(app) => app_shape(app),
        None => typed_shape(svc, rev),
    }
}

/// The name of revision `rev`'s config file (the ConfigMap key and the file in the mount).
pub fn config_file_name(rev: &Revision) -> &str {
    rev.content
        .app
        .as_ref()
        .map_or(CONFIG_FILE, |app| app.config_file.file_name.as_str())
}

fn named_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(port),
        ..ContainerPort::default()
    }
}

/// A typed kind's binary: `--config <file>`, `http` (and `grpc` when its config serves gRPC),
/// probes on `/readyz` and `/healthz`.
fn typed_shape<'a>(svc: &ServiceRef, rev: &'a Revision) -> Shape<'a> {
    let http_probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    let mut ports = vec![named_port("http", rev.content.port())];
    ports.extend(
        rev.content
            .grpc_port(svc.component)
            .map(|p| named_port("grpc", p)),
    );
    let pod = &rev.content.pod;
    Shape {
        command: None,
        args: Some(vec![
            "--config".into(),
            format!("{CONFIG_DIR}/{CONFIG_FILE}"),
        ]),
        ports,
        readiness: Some(http_probe("/readyz", 5)),
        liveness: Some(http_probe("/healthz", 10)),
        config_dir: CONFIG_DIR,
        run_as: RUN_AS_ID,
        resources: pod.resources.as_ref(),
        env: &pod.env,
        secret_volumes: &pod.secret_volumes,
    }
}

/// An `AppService` revision: what its pod fields say.
fn app_shape(app: &AppRevision) -> Shape<'_> {
    let pod = &app.pod;
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    Shape {
        command: list(&pod.command),
        args: list(&pod.args),
        ports: pod
            .ports
            .iter()
            .map(|p| named_port(&p.name, p.container_port))
            .collect(),
        readiness: pod.readiness_probe.as_ref().map(probe),
        liveness: pod.liveness_probe.as_ref().map(probe),
        config_dir: app.config_file.mount_path.trim_end_matches('/'),
        run_as: pod.run_as_user.unwrap_or(RUN_AS_ID),
        resources: pod.resources.as_ref(),
        env: &pod.env,
        secret_volumes: &pod.secret_volumes,
    }
}

fn probe(p: &AppProbe) -> Probe {
    let port = |name: &str| IntOrString::String(name.to_owned());
    Probe {
        http_get: p.http_get.as_ref().map(|h| HTTPGetAction {
            path: Some(h.path.clone()),
            port: port(&h.port),
            ..HTTPGetAction::default()
        }),
        tcp_socket: p.tcp_socket.as_ref().map(|t| TCPSocketAction {
            port: port(&t.port),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(p.period_seconds.unwrap_or(10)),
        initial_delay_seconds: p.initial_delay_seconds,
        failure_threshold: Some(p.failure_threshold.unwrap_or(3)),
        ..Probe::default()
    }
}
