//! Rendered objects for a service and a revision.

// Helpers outside #[test] functions panic on bad fixtures too; that is a test failure.
#![allow(clippy::unwrap_used)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
mod common;

use common::revision;

use common::album;
use lockstep_operator::core::render::{self, LABEL_CONFIG_HASH, LABEL_REVISION, LABEL_SERVICE};
use lockstep_operator::kinds::revision::Revision;
use lockstep_operator::kinds::{LockstepService, NamedPort, ServiceRef};

#[test]
fn names_labels_and_ownership() {
    let svc = album();
    let r = ServiceRef::of(&svc).unwrap();
    assert_eq!(
        (r.name.as_str(), r.namespace.as_str(), r.component),
        ("albums", "shop", "album")
    );
    assert_eq!(r.owner.kind, "AlbumService");
    assert_eq!(r.owner.controller, Some(true));
    let rev = revision(&svc, 3);
    let short = &rev.hash[..10];

    let cr = render::controller_revision(&r, &rev);
    assert_eq!(
        cr.metadata.name.as_deref(),
        Some(format!("albums-{short}").as_str())
    );
    assert_eq!(cr.revision, 3);
    let labels = cr.metadata.labels.clone().unwrap();
    assert_eq!(labels[LABEL_REVISION], "3");
    assert_eq!(labels[LABEL_CONFIG_HASH], short);
    assert_eq!(
        render::parse_revision(&cr),
        Some(rev.clone()),
        "the record round-trips"
    );
    let cached = lockstep_operator::cluster::children::CachedRevision::from(cr);
    assert_eq!(cached.meta.revision, Some(3));
    assert_eq!(
        render::parse_revision_json(cached.data.as_deref().unwrap()),
        Some(rev.clone()),
        "and so does the cache's compact form"
    );

    let owner = OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ControllerRevision".into(),
        name: format!("albums-{short}"),
        uid: "uid-cr".into(),
        ..OwnerReference::default()
    };
    let cm = render::config_map(&r, &rev, owner);
    assert_eq!(
        cm.metadata.name.as_deref(),
        Some(format!("albums-cfg-{short}").as_str())
    );
    assert_eq!(cm.immutable, Some(true));
    assert_eq!(
        cm.metadata.owner_references.unwrap()[0].kind,
        "ControllerRevision",
        "pruning the revision collects its ConfigMap"
    );
    let file = &cm.data.unwrap()["config.yaml"];
    assert!(
        file.contains("url_env: ALBUM_DATABASE_URL") && file.contains("max_limit: 200"),
        "{file}"
    );
}

#[test]
fn deployment_runs_the_revision_with_its_config() {
    let svc = album();
    let r = ServiceRef::of(&svc).unwrap();
    let rev = revision(&svc, 2);
    let d = render::deployment(&r, &rev, 3, None, 0);
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let selector = spec.selector.match_labels.unwrap();
    assert_eq!(
        (
            selector[LABEL_SERVICE].as_str(),
            selector[LABEL_REVISION].as_str()
        ),
        ("albums", "2")
    );
    let template = spec.template;
    let pod_labels = template.metadata.unwrap().labels.unwrap();
    assert_eq!(pod_labels[LABEL_CONFIG_HASH], &rev.hash[..10]);
    let pod = template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("ghcr.io/lockstep-dev/album-service:1.4.2")
    );
    assert_eq!(
        c.args.clone().unwrap(),
        ["--config", "/etc/lockstep/config.yaml"]
    );
    assert_eq!(c.ports.clone().unwrap()[0].container_port, 8080);
    let env = c.env.clone().unwrap();
    assert_eq!(env[0].name, "ALBUM_DATABASE_URL");
    assert_eq!(
        env[0]
            .value_from
            .clone()
            .unwrap()
            .secret_key_ref
            .unwrap()
            .name,
        "album-db",
        "secrets are referenced, never copied"
    );
    assert_eq!(
        c.readiness_probe
            .clone()
            .unwrap()
            .http_get
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    let sc = c.security_context.clone().unwrap();
    assert_eq!(
        (
            sc.read_only_root_filesystem,
            sc.allow_privilege_escalation,
            sc.run_as_non_root
        ),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    // runAsNonRoot alone fails on a real node for an image whose USER is not numeric.
    let psc = pod.security_context.clone().unwrap();
    assert_eq!(
        (psc.run_as_non_root, psc.run_as_user, psc.run_as_group),
        (Some(true), Some(65532), Some(65532))
    );
    let volume = &pod.volumes.unwrap()[0];
    assert_eq!(
        volume.config_map.clone().unwrap().name,
        format!("albums-cfg-{}", &rev.hash[..10])
    );
    assert_eq!(
        pod.security_context.unwrap().seccomp_profile.unwrap().type_,
        "RuntimeDefault"
    );
}

#[test]
fn one_service_selects_every_revision_or_the_serving_one() {
    let svc = album();
    let r = ServiceRef::of(&svc).unwrap();
    let s = render::service(&r, None);
    assert_eq!(render::service_routes(&s, "albums"), Some(None));
    let spec = s.spec.clone().unwrap();
    let selector = spec.selector.unwrap();
    assert_eq!(selector.len(), 1);
    assert_eq!(selector[LABEL_SERVICE], "albums");
    // At rest the Service selects the serving revision alone (a warm one stays out of it).
    let serving = render::service(&r, Some(3));
    assert_eq!(
        serving.spec.as_ref().unwrap().selector.as_ref().unwrap()[LABEL_REVISION],
        "3"
    );
    assert_eq!(render::service_routes(&serving, "albums"), Some(Some(3)));
    assert_eq!(
        render::serving_selector("albums", Some(3)),
        "lockstep.dev/revision=3,lockstep.dev/service=albums"
    );
    // By name: a revision that moves pod.port is still reached (the old numeric targetPort
    // kept sending traffic to the previous port).
    assert_eq!(
        spec.ports.unwrap()[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()))
    );
    // Drift: a hand-edited targetPort or selector is not current, defaulted fields are.
    let expected = render::service_ports(&[NamedPort::new("http", 80)]);
    assert_eq!(render::observed_ports(&s), expected);
    let mut edited = s.clone();
    edited.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port =
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9999));
    assert_ne!(render::observed_ports(&edited), expected);
    let mut defaulted = s.clone();
    let spec = defaulted.spec.as_mut().unwrap();
    spec.cluster_ip = Some("10.0.0.7".into());
    spec.ports.as_mut().unwrap()[0].protocol = Some("TCP".into());
    assert_eq!(render::service_routes(&defaulted, "albums"), Some(None));
    assert_eq!(render::observed_ports(&defaulted), expected);
    let mut other = s.clone();
    other.spec.as_mut().unwrap().selector =
        Some([(LABEL_SERVICE.to_owned(), "x".to_owned())].into());
    assert_eq!(render::service_routes(&other, "albums"), None);
    let mut extra = s;
    extra.spec.as_mut().unwrap().selector = Some(
        [
            (LABEL_SERVICE.to_owned(), "albums".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]
        .into(),
    );
    assert_eq!(render::service_routes(&extra, "albums"), None);
}

#[test]
fn an_invalid_config_never_becomes_a_revision() {
    let mut svc = album();
    svc.spec.release.config.pagination.default_limit = 500;
    let err = svc.content().unwrap_err();
    assert!(
        err.to_string().contains("pagination.default_limit"),
        "{err}"
    );
    // Config changes make new revisions; scaling does not.
    let mut scaled = album();
    scaled.spec.replicas = 10;
    assert_eq!(
        album().content().unwrap().hash(),
        scaled.content().unwrap().hash()
    );
    let mut changed = album();
    changed.spec.release.config.pagination.max_limit = 300;
    assert_ne!(
        album().content().unwrap().hash(),
        changed.content().unwrap().hash()
    );
}

#[test]
fn restart_at_is_a_pod_annotation_read_back_by_the_fingerprint() {
    let svc = album();
    let r = ServiceRef::of(&svc).unwrap();
    let rev = revision(&svc, 1);
    let d = render::deployment(&r, &rev, 3, Some("2026-11-22T09:00:00Z"), 0);
    let annotations = d
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone();
    assert_eq!(
        annotations.unwrap()[render::ANNOTATION_RESTARTED_AT],
        "2026-11-22T09:00:00Z"
    );
    assert_eq!(
        render::observed_fingerprint(&d),
        render::fingerprint(&r.name, &rev, Some("2026-11-22T09:00:00Z"), 0)
    );
    let plain = render::deployment(&r, &rev, 3, None, 0);
    assert_eq!(render::observed_fingerprint(&plain).restarted_at, None);
}

fn secret_volume(name: &str, mount_path: &str) -> lockstep_crd::spec::SecretVolume {
    lockstep_crd::spec::SecretVolume {
        name: name.into(),
        secret_name: "note-tenant-keys".into(),
        mount_path: mount_path.into(),
    }
}

#[test]
fn secret_volumes_are_mounted_read_only_and_are_part_of_the_revision() {
    let mut svc = album();
    let before = svc.content().unwrap().hash();
    svc.spec.pod.secret_volumes = vec![secret_volume(
        "keys",
        "/var/run/secrets/lockstep/tenant-keys",
    )];
    let content = svc.content().unwrap();
    assert_ne!(
        content.hash(),
        before,
        "mounting a Secret is a new revision"
    );
    let r = ServiceRef::of(&svc).unwrap();
    let rev = Revision {
        content,
        ..revision(&svc, 2)
    };
    let pod = render::deployment(&r, &rev, 1, None, 0)
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "secret-keys")
        .unwrap();
    let secret = volume.secret.unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("note-tenant-keys"));
    // Key files readable by the pod's group only: the note service refuses world-readable keys.
    assert_eq!(secret.default_mode, Some(0o440));
    assert_eq!(
        pod.security_context.as_ref().unwrap().fs_group,
        Some(lockstep_operator::core::render::RUN_AS_ID)
    );
    let mount = pod.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "secret-keys")
        .cloned()
        .unwrap();
    assert_eq!(mount.mount_path, "/var/run/secrets/lockstep/tenant-keys");
    assert_eq!(mount.read_only, Some(true));
}

#[test]
fn bad_secret_volumes_are_config_errors_naming_the_field() {
    for volumes in [
        vec![secret_volume("Keys", "/keys")],
        vec![secret_volume("keys", "relative/keys")],
        vec![secret_volume("keys", "/etc/lockstep/keys")],
        vec![secret_volume("keys", "/etc")],
        vec![secret_volume("keys", "/tmp")],
        vec![secret_volume("keys", "/a/../etc/lockstep")],
        vec![secret_volume("keys", "/a"), secret_volume("keys", "/b")],
        vec![secret_volume("a", "/keys"), secret_volume("b", "/keys/")],
        vec![secret_volume(&"k".repeat(57), "/keys")],
    ] {
        let mut svc = album();
        svc.spec.pod.secret_volumes = volumes.clone();
        match svc.content() {
            Err(lockstep_service_config::ConfigError::Invalid { field, .. }) => {
                assert_eq!(field, "pod.secretVolumes", "{volumes:?}");
            }
            other => panic!("{volumes:?} accepted: {other:?}"),
        }
    }
}

#[test]
fn a_note_service_without_ports_listens_and_is_probed_on_its_own() {
    let note: lockstep_crd::NoteService = serde_yaml::from_str(
        "apiVersion: lockstep.dev/v1alpha1\nkind: NoteService\nmetadata: {name: n, namespace: d}\n\
         spec: {release: {version: '1', image: 'note:1', config: {}}}\n",
    )
    .unwrap();
    let content = note.content().unwrap();
    assert_eq!(content.port(), 8081);
    assert!(!content.config.contains("port"), "{}", content.config);
}

#[test]
fn a_config_port_other_than_the_pod_port_is_a_config_error() {
    let mut svc = album();
    svc.spec.release.config.server.port = Some(9090);
    svc.spec.pod.port = Some(8080);
    let err = svc.content().unwrap_err();
    assert!(
        err.to_string().contains("pod.port") && err.to_string().contains("9090"),
        "{err}"
    );
    svc.spec.pod.port = Some(9090);
    let stated = svc.content().unwrap();
    // Unset, the pod port follows the config: the same revision as stating it.
    svc.spec.pod.port = None;
    let followed = svc.content().unwrap();
    assert_eq!((followed.port(), followed.hash()), (9090, stated.hash()));
    svc.spec.release.config.server.port = None;
    assert_eq!(
        svc.content().unwrap().port(),
        8080,
        "the album service's own port"
    );
    svc.spec.release.image = String::new();
    assert!(
        svc.content()
            .unwrap_err()
            .to_string()
            .contains("release.image")
    );
}

/// An album config that serves gRPC gets a container port `grpc` on its pods and a Service port
/// `grpc` targeting it by name; without it, and for the note service, there is neither.
#[test]
fn grpc_is_exposed_on_the_pods_and_the_service_when_configured() {
    let mut svc = album();
    svc.spec.release.config.grpc.port = Some(9090);
    let r = ServiceRef::of(&svc).unwrap();
    assert_eq!(
        r.ports,
        [NamedPort::new("http", 80), NamedPort::new("grpc", 9090)]
    );
    let rev = revision(&svc, 2);
    assert_eq!(rev.content.grpc_port("album"), Some(9090));
    assert_eq!(rev.content.grpc_port("note"), None);
    let d = render::deployment(&r, &rev, 1, None, 0);
    let ports: Vec<(Option<String>, i32)> = d.spec.unwrap().template.spec.unwrap().containers[0]
        .ports
        .clone()
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.container_port))
        .collect();
    assert_eq!(
        ports,
        [(Some("http".into()), 8080), (Some("grpc".into()), 9090)]
    );
    let s = render::service(&r, Some(2));
    let by_name =
        |name: &str| k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name.into());
    assert_eq!(
        render::observed_ports(&s),
        [
            (Some("http".into()), 80, Some(by_name("http"))),
            (Some("grpc".into()), 9090, Some(by_name("grpc")))
        ]
    );
    assert_eq!(render::observed_ports(&s), render::service_ports(&r.ports));

    let plain = album();
    let r = ServiceRef::of(&plain).unwrap();
    assert_eq!(r.ports, [NamedPort::new("http", 80)]);
    let rev = revision(&plain, 1);
    let d = render::deployment(&r, &rev, 1, None, 0);
    assert_eq!(
        d.spec.unwrap().template.spec.unwrap().containers[0]
            .ports
            .as_ref()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(render::observed_ports(&render::service(&r, None)).len(), 1);
}
