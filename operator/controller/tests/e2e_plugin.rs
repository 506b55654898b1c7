//! `kubectl lockstep` end to end: the plugin's verbs with the operator working, on the fake API
//! server by default and on the cluster of `KUBECONFIG` with `LOCKSTEP_E2E_TARGET=cluster` (see
//! `tests/e2e.rs` for the set-up and environment variables).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed call fails the test

mod e2e_support;

use clap::Parser;
use e2e_support::{Env, paused_canary, phase, wait_for};
use kubectl_lockstep::Error;
use kubectl_lockstep::cli::Cli;
use lockstep_crd::status::Phase;
use serde_json::Value;

/// Runs `kubectl lockstep <args>` in the test's namespace; the result and what it printed.
async fn plugin(env: &Env, args: &[&str]) -> (Result<bool, Error>, String) {
    let cli = Cli::try_parse_from(std::iter::once("kubectl-lockstep").chain(args.iter().copied()))
        .unwrap();
    let mut out = Vec::new();
    let result = kubectl_lockstep::run_with(&env.client, &env.ns, &cli, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn the_plugin_drives_a_canary_an_undo_and_a_restart() {
    let env = Env::new("plugin").await;
    paused_canary(&env, "albums").await;

    let (ok, out) = plugin(&env, &["status", "albums", "-o", "json"]).await;
    assert!(ok.unwrap());
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["status"]["phase"], "Paused", "{out}");
    assert_eq!(status["revisions"].as_array().unwrap().len(), 2, "{out}");
    let (ok, out) = plugin(&env, &["diff", "albumservice/albums", "1", "2"]).await;
    assert!(ok.unwrap());
    assert!(
        out.contains("image: unchanged") && out.contains("+  level: debug"),
        "{out}"
    );

    let (ok, _) = plugin(&env, &["promote", "albums"]).await;
    assert!(ok.unwrap());
    wait_for(&env, "albums", "promoted", |s| {
        phase(s) == Some(Phase::Healthy) && s.stable_revision == Some(2)
    })
    .await;
    let (ok, out) = plugin(&env, &["history", "albums"]).await;
    assert!(ok.unwrap());
    assert!(
        out.lines()
            .any(|l| l.starts_with('2') && l.contains("1.0.1")),
        "{out}"
    );

    let (error, _) = plugin(&env, &["undo", "albums", "--to-revision", "42"]).await;
    assert!(matches!(error, Err(Error::NoSuchRevision(42))), "{error:?}");
    let (ok, out) = plugin(&env, &["undo", "albums"]).await;
    assert!(ok.unwrap());
    assert!(out.contains("revision 1"), "{out}");
    wait_for(&env, "albums", "revision 1 again", |s| {
        phase(s) == Some(Phase::Healthy) && s.current_revision == Some(1)
    })
    .await;
    env.assert_serves_config("albums", "level: info").await;
    // restart: the pods roll under the same revision.
    let (ok, _) = plugin(&env, &["restart", "albums"]).await;
    assert!(ok.unwrap());
    let annotated = |d: &k8s_openapi::api::apps::v1::Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| {
                a.contains_key(lockstep_operator::core::render::ANNOTATION_RESTARTED_AT)
            })
    };
    let mut waited = 0;
    while !env.deployments("albums").await.iter().all(annotated) {
        assert!(
            waited < 120,
            "the Deployments never got the restart annotation"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        waited += 1;
    }
    let s = wait_for(&env, "albums", "healthy after the restart", |s| {
        phase(s) == Some(Phase::Healthy) && s.current_revision == Some(1)
    })
    .await;
    assert_eq!(s.stable_revision, Some(1), "no new revision");
    // -w returns at once on a healthy service, with success.
    let (ok, _) = plugin(&env, &["status", "albums", "-w"]).await;
    assert!(ok.unwrap());
    env.teardown().await;
}
