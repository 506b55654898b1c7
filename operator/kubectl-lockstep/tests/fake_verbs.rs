//! The rollout verbs against the fake API server (`lockstep-fake-api`: real merge patches, CRD
//! admission, RBAC): what each verb leaves on the server — exactly one spec field changed by one
//! write, or nothing — and the one-line errors for a missing service, an unknown revision and an
//! RBAC refusal. The revisions are the operator's own records (`controller_revision`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubectl_lockstep::Error;
use kubectl_lockstep::cli::Cli;
use lockstep_crd::{AlbumService, NoteService};
use lockstep_fake_api::FakeApi;
use lockstep_operator::core::render::controller_revision;
use lockstep_operator::kinds::ServiceRef;
use lockstep_operator::kinds::revision::{Revision, RevisionContent};
use lockstep_service_config::{AlbumConfig, ServiceConfig};
use serde_json::{Value, json};

/// The user the plugin runs as (RBAC rules apply to it when a test installs them).
const DEV: &str = "dev";

fn example(file: &str) -> Value {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut doc: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["metadata"] = json!({"name": "albums", "namespace": "shop"});
    doc
}

/// Revision `n`'s config file, rendered as the operator renders it.
fn config(n: i64) -> String {
    let mut config = AlbumConfig::default();
    config.pagination.default_limit = 20 + u32::try_from(n).unwrap();
    config.to_yaml().unwrap()
}

/// Revision `n` exactly as the operator records it.
fn record(n: i64) -> ControllerRevision {
    let svc = ServiceRef {
        name: "albums".into(),
        namespace: "shop".into(),
        component: "album",
        owner: OwnerReference::default(),
        ports: Vec::new(),
    };
    let rev = Revision {
        number: n,
        hash: n.to_string().repeat(64),
        content: RevisionContent {
            version: n.to_string(),
            image: format!("album:{n}"),
            config: config(n),
            pod: Default::default(),
            app: None,
        },
        cause: "spec change".into(),
        created: "2026-11-22T10:00:00Z".into(),
    };
    let mut cr = controller_revision(&svc, &rev);
    cr.metadata.owner_references = None;
    cr
}

/// The album service `albums` in `shop` with `status`, its revisions 1 and 2 recorded, and a
/// note service of the same name.
async fn cluster(status: Value) -> FakeApi {
    let fake = FakeApi::start().await.unwrap();
    fake.install_crds(&lockstep_crd::crds());
    let client = fake.client();
    let albums: Api<AlbumService> = Api::namespaced(client.clone(), "shop");
    let album = serde_json::from_value(example("album-service.yaml")).unwrap();
    albums.create(&PostParams::default(), &album).await.unwrap();
    albums
        .patch_status(
            "albums",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    let revisions: Api<ControllerRevision> = Api::namespaced(client, "shop");
    for n in [1, 2] {
        revisions
            .create(&PostParams::default(), &record(n))
            .await
            .unwrap();
    }
    fake.reset_counters();
    fake
}

fn healthy() -> Value {
    json!({"phase": "Healthy", "currentRevision": 2, "stableRevision": 2})
}

/// Revision 2 rolled out as a paused canary over stable revision 1.
fn rolling_out() -> Value {
    json!({"phase": "Paused", "currentRevision": 2, "stableRevision": 1, "step": 1})
}

fn rolled_back(current: i64) -> Value {
    json!({"phase": "RolledBack", "currentRevision": current, "stableRevision": 1,
           "abortedRevision": 2, "abortReason": "CrashLoopBackOff"})
}

async fn run(fake: &FakeApi, args: &[&str]) -> (Result<bool, Error>, String) {
    let cli = Cli::try_parse_from([&["kubectl-lockstep"], args].concat()).unwrap();
    let mut out = Vec::new();
    let result = kubectl_lockstep::run_with(&fake.client_as(DEV), "shop", &cli, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

async fn spec(fake: &FakeApi, plural: &str) -> serde_json::Map<String, Value> {
    let resource = kube::api::ApiResource {
        group: "lockstep.dev".into(),
        version: "v1alpha1".into(),
        api_version: "lockstep.dev/v1alpha1".into(),
        kind: String::new(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(fake.client(), "shop", &resource);
    let object = api.get("albums").await.unwrap();
    object.data["spec"].as_object().unwrap().clone()
}

/// Runs `args` and returns the spec fields that changed, with their new values, and the number
/// of writes the plugin made.
async fn changes(
    fake: &FakeApi,
    plural: &str,
    args: &[&str],
) -> (Result<bool, Error>, String, Value, u64) {
    let before = spec(fake, plural).await;
    let (result, out) = run(fake, args).await;
    let after = spec(fake, plural).await;
    let changed: serde_json::Map<String, Value> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(
            before
                .keys()
                .filter(|k| !after.contains_key(*k))
                .map(|k| (k.clone(), Value::Null)),
        )
        .collect();
    (
        result,
        out,
        Value::Object(changed),
        fake.counters().writes(),
    )
}

#[tokio::test]
async fn promote_full_sets_only_a_full_promote_token() {
    let fake = cluster(rolling_out()).await;
    let (result, out, changed, writes) = changes(
        &fake,
        "albumservices",
        &["promote", "albumservice/albums", "--full"],
    )
    .await;
    assert!(result.unwrap());
    assert_eq!(out, "albumservice/albums promoted to 100 %\n");
    assert_eq!(writes, 1);
    let object = changed.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["promote"], "{changed}");
    assert!(
        changed["promote"].as_str().unwrap().starts_with("full-"),
        "{changed}"
    );
}

#[tokio::test]
async fn undo_goes_back_one_revision_read_from_the_operators_records() {
    let fake = cluster(healthy()).await;
    // A bare name: every kind is looked up (no NoteService `albums` here).
    let (result, out, changed, writes) = changes(&fake, "albumservices", &["undo", "albums"]).await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "albumservice/albums rolling back to revision 1 (image and config)\n"
    );
    assert_eq!(
        (changed, writes),
        (json!({"rollbackTo": {"revision": 1}}), 1)
    );
}

#[tokio::test]
async fn undo_to_a_revision_that_is_not_kept_writes_nothing() {
    let fake = cluster(healthy()).await;
    let (result, _, _, writes) = changes(
        &fake,
        "albumservices",
        &["undo", "albumservice/albums", "--to-revision", "9"],
    )
    .await;
    let error = result.unwrap_err();
    assert!(matches!(error, Error::NoSuchRevision(9)), "{error}");
    assert_eq!(
        error.to_string(),
        "revision 9 is not kept (kubectl lockstep history lists the kept ones)"
    );
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn diff_reads_both_configs_from_the_records() {
    let fake = cluster(healthy()).await;
    let (result, out) = run(&fake, &["diff", "albumservice/albums", "1", "2"]).await;
    assert!(result.unwrap());
    assert!(out.starts_with("image: album:1 -> album:2\n"), "{out}");
    assert!(
        out.contains("-  default_limit: 21\n+  default_limit: 22\n"),
        "{out}"
    );
    assert!(!out.contains(" pod ("), "pod fields unchanged: {out}");
}

#[tokio::test]
async fn restart_sets_only_restart_at() {
    let fake = cluster(healthy()).await;
    let notes: Api<NoteService> = Api::namespaced(fake.client(), "shop");
    let note = serde_json::from_value(example("note-service.yaml")).unwrap();
    notes.create(&PostParams::default(), &note).await.unwrap();
    fake.reset_counters();
    let (result, out, changed, writes) =
        changes(&fake, "noteservices", &["restart", "noteservice/albums"]).await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "noteservice/albums restarting: every pod is replaced, the revision stays\n"
    );
    assert_eq!(writes, 1);
    assert_eq!(changed.as_object().unwrap().len(), 1, "{changed}");
    let at = changed["restartAt"].as_str().unwrap();
    assert!(
        at.ends_with('Z') && at.len() == 20,
        "RFC 3339 seconds: {at}"
    );
}

#[tokio::test]
async fn a_missing_service_is_one_line_naming_it() {
    let fake = cluster(healthy()).await;
    let (result, _) = run(&fake, &["pause", "missing"]).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "AlbumService, NoteService, UserService or AppService missing not found in namespace shop"
    );
}

#[tokio::test]
async fn an_rbac_refusal_is_reported_as_forbidden() {
    let fake = cluster(rolling_out()).await;
    // A user who may read services but not change them.
    fake.authorize(|r| r.user != DEV || matches!(r.verb, "get" | "list" | "watch"));
    let (result, _, changed, _) =
        changes(&fake, "albumservices", &["abort", "albumservice/albums"]).await;
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Forbidden(_)), "{error}");
    assert_eq!(changed, json!({}), "nothing changed");
    assert!(
        error.to_string().starts_with(
            "forbidden: albumservices.lockstep.dev \"albums\" is forbidden: User \"dev\" cannot patch"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn status_succeeds_but_watch_fails_on_a_rolled_back_service() {
    let fake = cluster(rolled_back(1)).await;
    for (args, healthy) in [
        (&["status", "albumservice/albums"][..], true),
        (&["status", "albumservice/albums", "-w"][..], false),
    ] {
        let (result, out) = run(&fake, args).await;
        assert_eq!(result.unwrap(), healthy, "{args:?}");
        assert!(
            out.contains("Phase:     RolledBack") && out.contains("(CrashLoopBackOff)"),
            "{out}"
        );
    }
}

#[tokio::test]
async fn history_shows_the_config_hash_the_pods_report() {
    let fake = cluster(healthy()).await;
    let (result, out) = run(&fake, &["history", "albumservice/albums"]).await;
    assert!(result.unwrap());
    // The hash a service computes from its mounted file (`/version`, `build_info`).
    let served = lockstep_service_kit::config::parse::<AlbumConfig>("config.yaml", &config(2))
        .unwrap()
        .hash;
    let line = out.lines().find(|l| l.starts_with("2 ")).unwrap();
    assert!(
        line.contains(&served[..12]),
        "{line} lacks {}",
        &served[..12]
    );
}

#[tokio::test]
async fn promote_and_abort_are_refused_when_nothing_rolls_out() {
    let fake = cluster(healthy()).await;
    for verb in ["abort", "promote"] {
        let (result, out, _, writes) =
            changes(&fake, "albumservices", &[verb, "albumservice/albums"]).await;
        let error = result.unwrap_err();
        assert!(matches!(error, Error::NothingRollingOut(_)), "{error}");
        assert_eq!(
            error.to_string(),
            "nothing is rolling out (phase Healthy, revision 2): promote and abort act on a rollout in progress"
        );
        assert_eq!((out.as_str(), writes), ("", 0));
    }
}

#[tokio::test]
async fn retry_sets_a_token_on_a_rolled_back_service_and_refuses_otherwise() {
    let fake = cluster(rolled_back(2)).await;
    let (result, out, changed, writes) =
        changes(&fake, "albumservices", &["retry", "albums"]).await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "albumservice/albums retrying revision 2: rolling it out again\n"
    );
    assert_eq!(writes, 1);
    assert_eq!(changed.as_object().unwrap().len(), 1, "{changed}");
    assert!(changed["retry"].is_string(), "{changed}");

    let fake = cluster(healthy()).await;
    let (result, _, _, writes) =
        changes(&fake, "albumservices", &["retry", "albumservice/albums"]).await;
    assert!(
        matches!(result, Err(Error::NothingToRetry(_))),
        "{result:?}"
    );
    assert_eq!(writes, 0);
}
