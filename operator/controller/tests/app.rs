//! `AppService`: what its revision is, the objects rendered for it, the checks that refuse a
//! spec before anything rolls out, and the rollback patch — on `examples/app-service.yaml`.

// Helpers outside #[test] functions panic on bad fixtures too; that is a test failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::revision;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use lockstep_crd::AppService;
use lockstep_operator::core::render;
use lockstep_operator::kinds::{LockstepService, NamedPort, ServiceRef};
use lockstep_service_config::ConfigError;
use serde_json::{Value, json};

fn example() -> AppService {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/app-service.yaml"
    );
    let mut svc: AppService =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    svc.metadata.namespace = Some("shop".into());
    svc.metadata.uid = Some("uid-1".into());
    svc
}

fn refused(svc: &AppService) -> String {
    match svc.content() {
        Err(ConfigError::Invalid { field, reason }) => format!("{field}: {reason}"),
        other => panic!("not refused: {other:?}"),
    }
}

fn with_config(mut svc: AppService, patch: &Value) -> AppService {
    lockstep_crd::merge::apply(&mut svc.spec.release.config, patch);
    svc
}

#[test]
fn the_config_file_is_rendered_in_its_format_and_mounted_where_the_spec_says() {
    let svc = example();
    let rev = revision(&svc, 1);
    assert!(
        rev.content.config.contains("[general]"),
        "TOML: {}",
        rev.content.config
    );
    assert!(rev.content.config.contains("port = 8787"));
    let sref = ServiceRef::of(&svc).unwrap();
    let owner = OwnerReference::default();
    let cm = render::config_map(&sref, &rev, owner);
    let data = cm.data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["config.toml"]);
    assert_eq!(data["config.toml"], rev.content.config);

    let d = render::deployment(&sref, &rev, 2, None, 0);
    let pod = d.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.name, "app");
    assert_eq!(
        c.image.as_deref(),
        Some("docker.io/joseluisq/static-web-server:2.39.0")
    );
    assert_eq!(c.command, None, "the image's entrypoint");
    assert_eq!(
        c.args.clone().unwrap(),
        ["--config-file", "/etc/sws/config.toml"]
    );
    let ports = c.ports.clone().unwrap();
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].container_port),
        (Some("http"), 8787)
    );
    let readiness = c.readiness_probe.clone().unwrap();
    let http = readiness.http_get.unwrap();
    assert_eq!(http.path.as_deref(), Some("/health"));
    assert_eq!(http.port, IntOrString::String("http".into()));
    assert_eq!(readiness.period_seconds, Some(5));
    let liveness = c.liveness_probe.clone().unwrap();
    assert_eq!(
        liveness.tcp_socket.unwrap().port,
        IntOrString::String("http".into())
    );
    let config_mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "config")
        .unwrap();
    assert_eq!(config_mount.mount_path, "/etc/sws");
    assert_eq!(config_mount.read_only, Some(true));
    let security = pod.security_context.unwrap();
    assert_eq!(security.run_as_user, Some(render::RUN_AS_ID));

    let s = render::service(&sref, Some(1));
    let by_name = |name: &str| IntOrString::String(name.into());
    assert_eq!(
        render::observed_ports(&s),
        [(Some("http".into()), 80, Some(by_name("http")))]
    );
    assert_eq!(sref.ports, [NamedPort::new("http", 80)]);
    assert_eq!(
        render::observed_ports(&s),
        render::service_ports(&svc.service_ports())
    );
}

#[test]
fn identity_covers_image_config_file_schema_and_pod() {
    let base = revision(&example(), 1).hash;
    let mut schema = example();
    schema.spec.release.config_schema.as_mut().unwrap()["title"] = json!("web");
    let mut place = example();
    place.spec.release.config_file.mount_path = "/etc/web".into();
    let mut args = example();
    args.spec.pod.args.push("--log-level=debug".into());
    let mut version = example();
    version.spec.release.version = "2.39.1".into();
    for (what, svc) in [("schema", schema), ("mountPath", place), ("args", args)] {
        assert_ne!(
            revision(&svc, 1).hash,
            base,
            "{what} is part of the revision"
        );
    }
    assert_eq!(revision(&version, 1).hash, base, "the version label is not");
}

#[test]
fn a_config_that_breaks_its_schema_is_refused_with_the_pointer_and_the_rule() {
    let low_port = with_config(example(), &json!({"general": {"port": 80}}));
    let why = refused(&low_port);
    assert!(why.starts_with("release.config:"), "{why}");
    assert!(
        why.contains("/general/port") && why.contains("`minimum`"),
        "{why}"
    );
    let unknown = with_config(example(), &json!({"general": {"gzip": true}}));
    assert!(refused(&unknown).contains("`additionalProperties`"));
    let missing = with_config(example(), &json!({"general": {"root": null}}));
    assert!(refused(&missing).contains("`required`"));

    let mut not_a_schema = example();
    not_a_schema.spec.release.config_schema = Some(json!({"type": "no-such-type"}));
    assert!(refused(&not_a_schema).starts_with("release.configSchema: not a JSON Schema"));
    let mut no_schema = low_port;
    no_schema.spec.release.config_schema = None;
    assert!(
        no_schema.content().is_ok(),
        "without a schema any object goes"
    );
}

#[test]
fn broken_pod_and_file_fields_are_refused() {
    type Break = Box<dyn Fn(&mut AppService)>;
    let cases: Vec<(&str, Break)> = vec![
        ("pod.ports", Box::new(|s| s.spec.pod.ports.clear())),
        (
            "pod.readinessProbe",
            Box::new(|s| {
                s.spec
                    .pod
                    .readiness_probe
                    .as_mut()
                    .unwrap()
                    .http_get
                    .as_mut()
                    .unwrap()
                    .port = "metrics".into();
            }),
        ),
        (
            "pod.ports",
            Box::new(|s| {
                let twice = s.spec.pod.ports[0].clone();
                s.spec.pod.ports.push(twice);
            }),
        ),
        (
            "release.configFile.mountPath",
            Box::new(|s| s.spec.release.config_file.mount_path = "/tmp/sws".into()),
        ),
        (
            "release.configFile.mountPath",
            Box::new(|s| s.spec.release.config_file.mount_path = "/etc/../root".into()),
        ),
        (
            "release.configFile.fileName",
            Box::new(|s| s.spec.release.config_file.file_name = "..".into()),
        ),
        (
            "release.config",
            Box::new(|s| s.spec.release.config_file.format = lockstep_crd::app::ConfigFormat::Text),
        ),
        (
            "pod.secretVolumes",
            Box::new(|s| {
                s.spec
                    .pod
                    .secret_volumes
                    .push(lockstep_crd::spec::SecretVolume {
                        name: "tls".into(),
                        secret_name: "web-tls".into(),
                        mount_path: "/etc/sws/tls".into(),
                    });
            }),
        ),
        (
            "release.image",
            Box::new(|s| s.spec.release.image = "Not An Image".into()),
        ),
    ];
    for (field, break_it) in cases {
        let mut svc = example();
        break_it(&mut svc);
        let why = refused(&svc);
        assert!(why.starts_with(field), "expected {field}, got {why}");
    }
}

#[test]
fn rollback_restores_release_schema_and_pod_of_the_revision() {
    let first = example();
    let rev = revision(&first, 1);
    let mut now = with_config(example(), &json!({"general": {"compression": true}}));
    now.spec.release.image = "docker.io/joseluisq/static-web-server:2.40.0".into();
    now.spec.release.config_schema = None;
    now.spec.pod.args.push("--log-level=debug".into());
    let patch = now.rollback_patch(&rev).unwrap();
    let mut spec = serde_json::to_value(&now.spec).unwrap();
    lockstep_crd::merge::apply(&mut spec, &patch["spec"]);
    let restored: lockstep_crd::AppServiceSpec = serde_json::from_value(spec).unwrap();
    assert_eq!(restored.release, first.spec.release);
    assert_eq!(restored.pod, first.spec.pod);
    assert_eq!(restored.rollback_to, None);

    // A typed kind's revision is not one to restore here.
    let mut typed = rev;
    typed.content.app = None;
    assert!(now.rollback_patch(&typed).is_err());
}
