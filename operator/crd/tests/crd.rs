//! The generated CRDs: drift against the chart, the shape kubectl users rely on, and the
//! example manifests.

use std::path::PathBuf;

use lockstep_crd::spec::Strategy;
use lockstep_crd::{AlbumService, NoteService, UserService, crds, crds_yaml};
use lockstep_service_config::ServiceConfig;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn chart_crds_match_the_generator() {
    for (name, yaml) in crds_yaml().unwrap() {
        let path = repo_root().join("charts/lockstep/crds").join(&name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} is out of date: run `cargo run -p lockstep-crd --bin crdgen`",
            path.display()
        );
    }
}

#[test]
fn names_columns_and_subresources() {
    for crd in crds() {
        let spec = &crd.spec;
        assert_eq!(spec.group, "lockstep.dev");
        assert_eq!(
            spec.names.categories.as_deref(),
            Some(&["lockstep".to_string()][..])
        );
        let version = &spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        let columns: Vec<_> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.to_uppercase())
            .collect();
        assert_eq!(
            columns,
            [
                "VERSION", "REVISION", "STABLE", "STEP", "PHASE", "READY", "AGE"
            ]
        );
        let sub = version.subresources.as_ref().unwrap();
        assert!(sub.status.is_some());
        let scale = sub.scale.as_ref().unwrap();
        assert_eq!(
            (
                scale.spec_replicas_path.as_str(),
                scale.status_replicas_path.as_str()
            ),
            (".spec.replicas", ".status.replicas")
        );
        assert_eq!(
            scale.label_selector_path.as_deref(),
            Some(".status.selector")
        );
    }
}

#[test]
fn schema_carries_typed_config_and_cel_rules() {
    let album = serde_json::to_string(&crds()[0]).unwrap();
    let note = serde_json::to_string(&crds()[1]).unwrap();
    assert!(album.contains("\"pagination\"") && !album.contains("\"encryption\""));
    assert!(note.contains("\"encryption\"") && note.contains("\"hs256_secret_env\""));
    for rule in [
        "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0)",
        "has(self.trafficRouting) || self.steps.all(",
        "self.strategy == 'BlueGreen' || !has(self.blueGreen)",
        "self.strategy == 'Canary' || size(self.steps) == 0",
        "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
    ] {
        assert!(
            album.contains(rule) && note.contains(rule),
            "missing rule {rule}"
        );
    }
    // Structural schemas may not say additionalProperties: false.
    assert!(!album.contains("\"additionalProperties\":false"));
}

#[test]
fn example_manifests_parse_and_their_configs_validate() {
    let album: AlbumService = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("examples/album-service.yaml")).unwrap(),
    )
    .unwrap();
    album.spec.release.config.validate().unwrap();
    assert_eq!(album.spec.rollout.strategy, Strategy::Canary);
    assert_eq!(album.spec.rollout.steps.len(), 4);
    assert_eq!(album.spec.rollout.steps[0].set_weight, Some(25));
    let timed = album.spec.rollout.steps[3]
        .pause
        .as_ref()
        .unwrap()
        .duration
        .unwrap();
    assert_eq!(
        std::time::Duration::from(timed),
        std::time::Duration::from_secs(60)
    );
    assert_eq!(album.spec.revision_history_limit, 5);

    let note: NoteService = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("examples/note-service.yaml")).unwrap(),
    )
    .unwrap();
    note.spec.release.config.validate().unwrap();
    // Pods run with a read-only root filesystem; only /tmp (an emptyDir) is writable.
    let config = &note.spec.release.config;
    let db = &config.database;
    assert!(
        db.url_env.is_some() || config.sqlite_path().starts_with("/tmp/"),
        "the note example would open SQLite on a read-only filesystem: {db:?}"
    );
    assert_eq!(note.spec.rollout.strategy, Strategy::Rolling);
    assert_eq!(note.spec.rollout.progress_deadline_seconds, 600);

    let user: UserService = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("examples/user-service.yaml")).unwrap(),
    )
    .unwrap();
    user.spec.check().unwrap();
    // The key it signs with is the one the operator mounts from the Secret.
    let key = &user.spec.release.config.tokens.private_key_file;
    let jwt = &user.spec.pod.secret_volumes[0];
    assert!(key.starts_with(&format!("{}/", jwt.mount_path)), "{key}");
}
