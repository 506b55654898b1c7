//! `list`, `set image`, `set config` and `--request-timeout` against the fake API server
//! (`lockstep-fake-api`: real HTTP, merge-patch and resourceVersion semantics).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use clap::Parser;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubectl_lockstep::cli::{Cli, Kind, parse_timeout};
use kubectl_lockstep::{Error, cluster, verbs};
use lockstep_crd::{AlbumService, NoteService};
use lockstep_fake_api::FakeApi;
use serde_json::{Value, json};

fn example(file: &str, namespace: &str) -> Value {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["metadata"]["namespace"] = json!(namespace);
    doc
}

/// The fake with the example album service in `shop` (revision 3, Healthy) and the example
/// note service in `ops` (no status yet).
async fn cluster() -> FakeApi {
    let fake = FakeApi::start().await.unwrap();
    fake.install_crds(&lockstep_crd::crds());
    let client = fake.client();
    let albums: Api<AlbumService> = Api::namespaced(client.clone(), "shop");
    let album = serde_json::from_value(example("album-service.yaml", "shop")).unwrap();
    albums.create(&PostParams::default(), &album).await.unwrap();
    let status = json!({"status": {"phase": "Healthy", "currentRevision": 3,
                                   "stableRevision": 3, "ready": "4/4"}});
    albums
        .patch_status("albums", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let notes: Api<NoteService> = Api::namespaced(client, "ops");
    let note = serde_json::from_value(example("note-service.yaml", "ops")).unwrap();
    notes.create(&PostParams::default(), &note).await.unwrap();
    fake
}

async fn run(fake: &FakeApi, args: &[&str]) -> (Result<bool, Error>, String) {
    let cli = Cli::try_parse_from([&["kubectl-lockstep"], args].concat()).unwrap();
    let mut out = Vec::new();
    let ns = cli.namespace.clone().unwrap_or_else(|| "shop".into());
    let result = kubectl_lockstep::run_with(&fake.client(), &ns, &cli, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

async fn album(fake: &FakeApi) -> AlbumService {
    Api::<AlbumService>::namespaced(fake.client(), "shop")
        .get("albums")
        .await
        .unwrap()
}

#[tokio::test]
async fn list_shows_the_namespace_or_everything() {
    let fake = cluster().await;
    let (ok, text) = run(&fake, &["list"]).await;
    assert!(ok.unwrap());
    assert_eq!(
        text,
        "KIND           NAME     VERSION   REVISION   STABLE   PHASE     READY\n\
         AlbumService   albums   1.4.2     3          3        Healthy   4/4\n"
    );
    let (_, text) = run(&fake, &["list", "-A"]).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAMESPACE   KIND"));
    assert!(
        lines[1].starts_with("ops         NoteService    notes"),
        "{text}"
    );
    assert_eq!(
        lines[1].matches("<none>").count(),
        4,
        "no status yet: {text}"
    );
    let (_, json) = run(&fake, &["list", "-A", "-o", "json"]).await;
    let rows: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[1]["kind"], "AlbumService");
    assert_eq!(rows[1]["revision"], 3);
    let (_, empty) = run(&fake, &["list", "-n", "nowhere"]).await;
    assert_eq!(empty, "No Lockstep services found.\n");
}

#[tokio::test]
async fn set_image_changes_only_the_image_and_refuses_a_bad_one_offline() {
    let fake = cluster().await;
    let before = album(&fake).await;
    let (ok, text) = run(
        &fake,
        &[
            "set",
            "image",
            "albums",
            "ghcr.io/lockstep-dev/album-service:1.5.0",
            "--release-version",
            "1.5.0",
        ],
    )
    .await;
    assert!(ok.unwrap(), "{text}");
    let after = album(&fake).await;
    assert_eq!(
        after.spec.release.image,
        "ghcr.io/lockstep-dev/album-service:1.5.0"
    );
    assert_eq!(after.spec.release.version, "1.5.0");
    assert_eq!(after.spec.release.config, before.spec.release.config);
    assert_eq!(after.spec.rollout, before.spec.rollout);

    fake.reset_counters();
    let (refused, _) = run(&fake, &["set", "image", "albums", "NOT A VALID image!!:"]).await;
    let error = refused.unwrap_err();
    assert!(
        matches!(&error, Error::Invalid(m) if m.contains("spec.release.image")),
        "{error}"
    );
    assert_eq!(fake.counters().writes(), 0, "nothing was sent");
    let (same, text) = run(
        &fake,
        &[
            "set",
            "image",
            "albums",
            "ghcr.io/lockstep-dev/album-service:1.5.0",
        ],
    )
    .await;
    assert!(same.unwrap());
    assert!(text.contains("unchanged"), "{text}");
    assert_eq!(fake.counters().writes(), 0);
}

#[tokio::test]
async fn set_config_replaces_the_file_and_checks_it_against_the_pod() {
    let fake = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("album.yaml");
    // No `pagination` any more; a new log level.
    std::fs::write(
        &file,
        "server: {port: 8080}\ndatabase: {url_env: ALBUM_DATABASE_URL}\nlog: {level: debug}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, text) = run(
        &fake,
        &["set", "config", "albumservice/albums", "--from-file", path],
    )
    .await;
    assert!(ok.unwrap(), "{text}");
    let config = album(&fake).await.spec.release.config;
    assert_eq!(config.log.level, "debug");
    assert_eq!(
        config.pagination,
        lockstep_service_config::AlbumConfig::default().pagination,
        "keys the file lacks are removed (defaults), not kept"
    );

    std::fs::write(&file, "server: {port: 9090}\n").unwrap();
    fake.reset_counters();
    let (refused, _) = run(&fake, &["set", "config", "albums", "--from-file", path]).await;
    let error = refused.unwrap_err();
    assert!(
        matches!(&error, Error::Invalid(m) if m.contains("spec.pod.port")),
        "{error}"
    );
    assert_eq!(fake.counters().writes(), 0);
}

#[tokio::test]
async fn a_concurrent_edit_is_a_conflict_not_overwritten() {
    let fake = cluster().await;
    let client = fake.client();
    let (kind, read) = cluster::resolve(
        &client,
        "shop",
        &kubectl_lockstep::cli::parse_target("albums", None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(kind, Kind::Album);
    let patch = verbs::set_patch(kind, &read, &verbs::image_release("album:9", None)).unwrap();
    // Someone else changes the release between our read and our write.
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "shop",
        &kube::api::ApiResource::erase::<AlbumService>(&()),
    );
    api.patch(
        "albums",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"release": {"version": "1.4.3"}}})),
    )
    .await
    .unwrap();
    let error = cluster::patch(&client, "shop", kind, "albums", &patch)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("409") || error.to_string().to_lowercase().contains("conflict"),
        "{error}"
    );
    assert_eq!(
        album(&fake).await.spec.release.image,
        "ghcr.io/lockstep-dev/album-service:1.4.2"
    );
}

#[tokio::test]
async fn request_timeout_bounds_a_hung_server() {
    assert_eq!(parse_timeout("0").unwrap().0, None);
    assert_eq!(
        parse_timeout("500ms").unwrap().0,
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        parse_timeout("2m").unwrap().0,
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_timeout("30").unwrap().0,
        Some(Duration::from_secs(30))
    );
    assert!(parse_timeout("1d").is_err() && parse_timeout("soon").is_err());

    let fake = cluster().await;
    let mut config = kube::Config::new(fake.client_url().parse().unwrap());
    cluster::with_timeout(&mut config, parse_timeout("300ms").unwrap());
    let client = kube::Client::try_from(config).unwrap();
    fake.stall(true);
    let started = Instant::now();
    let cli = Cli::try_parse_from(["kubectl-lockstep", "list"]).unwrap();
    let result = kubectl_lockstep::run_with(&client, "shop", &cli, &mut Vec::new()).await;
    let waited = started.elapsed();
    fake.stall(false);
    assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
    assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
}
