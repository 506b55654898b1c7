//! Rendering of status, history and diffs, checked against `tests/snapshots/*.txt`
//! (`UPDATE_SNAPSHOTS=1` rewrites them; review the diff before committing). Under CI (`CI` set)
//! a snapshot is never rewritten: a run that would accept its own output fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubectl_lockstep::view::{self, EventView, RevisionContent, RevisionView, ServiceView};
use lockstep_crd::status::{Phase, ServiceStatus};

fn snapshot(name: &str, actual: &str) {
    let path = format!("{}/tests/snapshots/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        assert!(
            std::env::var_os("CI").is_none(),
            "UPDATE_SNAPSHOTS=1 under CI: snapshots are reviewed and committed, never accepted by CI"
        );
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_SNAPSHOTS=1 creates it)"));
    assert_eq!(actual, expected, "{name} differs from {path}");
}

fn revision(
    number: i64,
    version: &str,
    image: &str,
    config: &str,
    pods: (u32, u32),
) -> RevisionView {
    RevisionView {
        number,
        hash: format!("{number:0>2}c0ffee4b1d8e2f7a"),
        content: RevisionContent {
            version: version.into(),
            image: image.into(),
            config: config.into(),
            pod: serde_json::json!({"port": 8080}),
        },
        cause: if number == 1 {
            "created".into()
        } else {
            "spec change".into()
        },
        created: format!("2026-11-2{number}T10:00:00Z"),
        pods,
        config_hash: String::new(),
    }
    .with_config_hash()
}

const CONFIG_2: &str = "server:\n  port: 8080\ndatabase:\n  url_env: ALBUM_DATABASE_URL\n  max_connections: 20\npagination:\n  default_limit: 25\n  max_limit: 200\nlog:\n  level: info\n";
const CONFIG_3: &str = "server:\n  port: 8080\ndatabase:\n  url_env: ALBUM_DATABASE_URL\n  max_connections: 40\npagination:\n  default_limit: 25\n  max_limit: 200\nlog:\n  level: debug\n";

fn canary() -> ServiceView {
    ServiceView {
        kind: "AlbumService".into(),
        name: "albums".into(),
        namespace: "shop".into(),
        version: "1.4.2".into(),
        image: "ghcr.io/lockstep-dev/album-service:1.4.2".into(),
        paused: false,
        steps: 4,
        status: ServiceStatus {
            phase: Some(Phase::Paused),
            current_revision: Some(3),
            stable_revision: Some(2),
            step: Some(1),
            ready: Some("4/4".into()),
            message: Some("step 1: waiting for promote at 25 %".into()),
            ..ServiceStatus::default()
        },
        revisions: vec![
            revision(
                3,
                "1.4.2",
                "ghcr.io/lockstep-dev/album-service:1.4.2",
                CONFIG_3,
                (1, 1),
            ),
            revision(
                2,
                "1.4.1",
                "ghcr.io/lockstep-dev/album-service:1.4.1",
                CONFIG_2,
                (3, 3),
            ),
            revision(
                1,
                "1.4.0",
                "ghcr.io/lockstep-dev/album-service:1.4.0",
                CONFIG_2,
                (0, 0),
            ),
        ],
        events: vec![
            EventView {
                time: "2026-11-23T10:00:01Z".into(),
                type_: "Normal".into(),
                reason: "RolloutStarted".into(),
                message: "revision 3 (1.4.2): canary 25 %".into(),
            },
            EventView {
                time: "2026-11-23T10:00:40Z".into(),
                type_: "Normal".into(),
                reason: "Paused".into(),
                message: "step 1: waiting for promote at 25 %".into(),
            },
        ],
    }
}

#[test]
fn status_of_a_paused_canary() {
    snapshot("status_canary", &view::render_status(&canary()));
}

#[test]
fn status_after_an_automatic_rollback() {
    let mut v = canary();
    v.status.phase = Some(Phase::RolledBack);
    v.status.step = None;
    v.status.current_revision = Some(2);
    v.status.aborted_revision = Some(3);
    v.status.abort_reason = Some("canary pod album-3-x: CrashLoopBackOff".into());
    v.status.message = Some("revision 3 rolled back to 2 (image and config)".into());
    v.revisions[0].pods = (0, 0);
    v.revisions[1].pods = (4, 4);
    v.events.clear();
    snapshot("status_rolled_back", &view::render_status(&v));
    assert_eq!(view::finished(&v.status), Some(false), "-w exits 1");
}

#[test]
fn watch_stops_on_the_end_states_only() {
    let mut s = ServiceStatus::default();
    for (phase, end) in [
        (None, None),
        (Some(Phase::Progressing), None),
        (Some(Phase::Paused), None),
        (Some(Phase::Healthy), Some(true)),
        (Some(Phase::Degraded), Some(false)),
        (Some(Phase::RolledBack), Some(false)),
    ] {
        s.phase = phase;
        assert_eq!(view::finished(&s), end, "{phase:?}");
    }
}

#[test]
fn history_marks_current_and_stable() {
    snapshot("history", &view::render_history(&canary()));
}

#[test]
fn diff_shows_the_image_change_and_the_config_lines() {
    let v = canary();
    snapshot(
        "diff_2_3",
        &view::render_diff(&v.revisions[1], &v.revisions[0]),
    );
    let same = view::render_diff(&v.revisions[2], &v.revisions[1]);
    assert!(same.contains("config: unchanged"), "{same}");
    assert!(
        same.starts_with("image: ghcr.io/lockstep-dev/album-service:1.4.0 -> "),
        "{same}"
    );
}

#[test]
fn diff_shows_pod_changes_too() {
    let v = canary();
    let mut b = v.revisions[0].clone();
    b.content.pod = serde_json::json!({"port": 8080, "secretVolumes": [
        {"name": "keys", "secretName": "k", "mountPath": "/keys"}]});
    let out = view::render_diff(&v.revisions[0], &b);
    assert!(out.contains("config: unchanged"), "{out}");
    assert!(out.contains("+++ revision 3 pod (1.4.2)"), "{out}");
    assert!(out.contains("+secretVolumes:"), "{out}");
}

#[test]
fn json_output_carries_the_same_facts() {
    let value = serde_json::to_value(canary()).unwrap();
    assert_eq!(value["status"]["currentRevision"], 3);
    assert_eq!(
        value["revisions"][0]["content"]["image"],
        "ghcr.io/lockstep-dev/album-service:1.4.2"
    );
    assert_eq!(value["revisions"][1]["pods"], serde_json::json!([3, 3]));
}

#[test]
fn status_names_the_warm_revision() {
    let mut view = canary();
    view.status.phase = Some(Phase::Healthy);
    view.status.current_revision = Some(3);
    view.status.stable_revision = Some(3);
    view.status.warm_revision = Some(2);
    view.status.warm_until = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-30T10:06:00Z".parse().unwrap(),
    ));
    let text = view::render_status(&view);
    assert!(
        text.contains(
            "Warm:      revision 2 until 2026-11-30T10:06:00Z (undo to it starts no pod)"
        ),
        "{text}"
    );
    assert!(
        view::render_history(&view).contains("warm"),
        "history marks it"
    );
}

#[test]
fn status_shows_the_split_written_and_the_preview() {
    let mut view = canary();
    view.status.traffic = Some(lockstep_crd::traffic::TrafficStatus {
        route: Some("shop/web".into()),
        stable_weight: 75,
        canary_weight: 25,
        stable_revision: Some(2),
        canary_revision: Some(3),
        header_routes: vec!["testers".into()],
        preview_service: None,
    });
    snapshot("status_routed", &view::render_status(&view));
    view.status.traffic = Some(lockstep_crd::traffic::TrafficStatus {
        preview_service: Some("albums-preview".into()),
        ..Default::default()
    });
    let text = view::render_status(&view);
    assert!(
        text.contains(
            "Preview:   albums-preview.shop.svc (Service albums-preview: the new revision before promotion)"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Traffic:"),
        "no route, no split line: {text}"
    );
}
