//! The plugin against a scripted API server (tower-test): the exact calls per verb, and the
//! one-line errors for a missing service, an unknown revision and RBAC refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::client::Body;
use kubectl_lockstep::Error;
use kubectl_lockstep::cli::Cli;
use lockstep_operator::resources::controller_revision;
use lockstep_operator::revision::{Revision, RevisionContent};
use lockstep_operator::service::ServiceRef;
use lockstep_service_config::{AlbumConfig, ServiceConfig};
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const ALBUMS: &str = "/apis/lockstep.dev/v1alpha1/namespaces/shop/albumservices/albums";
const NOTES: &str = "/apis/lockstep.dev/v1alpha1/namespaces/shop/noteservices/albums";

fn album() -> Value {
    json!({
        "apiVersion": "lockstep.dev/v1alpha1", "kind": "AlbumService",
        "metadata": {"name": "albums", "namespace": "shop", "uid": "u1"},
        "spec": {"release": {"version": "2", "image": "album:2", "config": {}}, "replicas": 2},
        "status": {"phase": "Healthy", "currentRevision": 2, "stableRevision": 2}
    })
}

/// The same service while revision 2 is rolled out as a paused canary over stable revision 1.
fn rolling_out() -> Value {
    let mut svc = album();
    svc["status"] =
        json!({"phase": "Paused", "currentRevision": 2, "stableRevision": 1, "step": 1});
    svc
}

/// Revision `n`'s config file, rendered as the operator renders it.
fn config(n: i64) -> String {
    let mut config = AlbumConfig::default();
    config.pagination.default_limit = 20 + u32::try_from(n).unwrap();
    config.to_yaml().unwrap()
}

/// Revision `n` exactly as the operator records it.
fn record(n: i64) -> Value {
    let svc = ServiceRef {
        name: "albums".into(),
        namespace: "shop".into(),
        component: "album",
        owner: OwnerReference::default(),
    };
    let rev = Revision {
        number: n,
        hash: format!("{n:0>64}"),
        content: RevisionContent {
            version: n.to_string(),
            image: format!("album:{n}"),
            config: config(n),
            pod: Default::default(),
        },
        cause: "spec change".into(),
        created: "2026-11-22T10:00:00Z".into(),
    };
    serde_json::to_value(controller_revision(&svc, &rev)).unwrap()
}

fn list(items: &[Value]) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "reason": reason, "code": code, "message": format!("{reason} by the test server")})
}

/// Answers the next call, which must be `method path`; returns its JSON body.
async fn answer(
    handle: &mut Handle,
    method: Method,
    path: &str,
    code: StatusCode,
    reply: Value,
) -> Value {
    let (request, send) = handle.next_request().await.expect("a further call");
    assert_eq!((request.method(), request.uri().path()), (&method, path));
    if method == Method::PATCH {
        assert_eq!(
            request.headers()["content-type"],
            "application/merge-patch+json"
        );
    }
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    send.send_response(
        Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&reply).unwrap()))
            .unwrap(),
    );
    body
}

/// The reads behind status, history, diff and undo: revisions 1 and 2, no pods, no events.
async fn answer_reads(h: &mut Handle) {
    let revisions = list(&[record(1), record(2)]);
    answer(
        h,
        Method::GET,
        "/apis/apps/v1/namespaces/shop/controllerrevisions",
        StatusCode::OK,
        revisions,
    )
    .await;
    answer(
        h,
        Method::GET,
        "/api/v1/namespaces/shop/pods",
        StatusCode::OK,
        list(&[]),
    )
    .await;
    answer(
        h,
        Method::GET,
        "/api/v1/namespaces/shop/events",
        StatusCode::OK,
        list(&[]),
    )
    .await;
}

/// Runs the plugin with `args` against the script in `server`.
async fn plugin<F>(args: &[&str], server: impl FnOnce(Handle) -> F) -> (Result<bool, Error>, String)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "shop");
    let cli = Cli::try_parse_from(std::iter::once("kubectl-lockstep").chain(args.iter().copied()))
        .unwrap();
    let script = tokio::spawn(server(handle));
    let mut out = Vec::new();
    let result = kubectl_lockstep::run_with(&client, "shop", &cli, &mut out).await;
    drop(client);
    script.await.unwrap();
    (result, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn promote_full_sends_one_merge_patch() {
    let (result, out) = plugin(
        &["promote", "albumservice/albums", "--full"],
        |mut h| async move {
            answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, rolling_out()).await;
            let patch = answer(&mut h, Method::PATCH, ALBUMS, StatusCode::OK, album()).await;
            let token = patch["spec"]["promote"].as_str().unwrap();
            assert!(token.starts_with("full-"), "{patch}");
            assert_eq!(patch.as_object().unwrap().len(), 1, "only spec: {patch}");
            assert_eq!(
                patch["spec"].as_object().unwrap().len(),
                1,
                "only promote: {patch}"
            );
            assert!(h.next_request().await.is_none(), "nothing more");
        },
    )
    .await;
    assert!(result.unwrap());
    assert_eq!(out, "albumservice/albums promoted to 100 %\n");
}

#[tokio::test]
async fn undo_goes_back_one_revision_read_from_the_operators_records() {
    let (result, out) = plugin(&["undo", "albums"], |mut h| async move {
        // A bare name: both kinds are looked up.
        answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
        answer(
            &mut h,
            Method::GET,
            NOTES,
            StatusCode::NOT_FOUND,
            status(404, "NotFound"),
        )
        .await;
        answer_reads(&mut h).await;
        let patch = answer(&mut h, Method::PATCH, ALBUMS, StatusCode::OK, album()).await;
        assert_eq!(patch, json!({"spec": {"rollbackTo": {"revision": 1}}}));
    })
    .await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "albumservice/albums rolling back to revision 1 (image and config)\n"
    );
}

#[tokio::test]
async fn undo_to_a_revision_that_is_not_kept_writes_nothing() {
    let (result, _) = plugin(
        &["undo", "albumservice/albums", "--to-revision", "9"],
        |mut h| async move {
            answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
            answer_reads(&mut h).await;
            assert!(h.next_request().await.is_none(), "no patch");
        },
    )
    .await;
    let error = result.unwrap_err();
    assert!(matches!(error, Error::NoSuchRevision(9)), "{error}");
    assert_eq!(
        error.to_string(),
        "revision 9 is not kept (kubectl lockstep history lists the kept ones)"
    );
}

#[tokio::test]
async fn diff_reads_both_configs_from_the_records() {
    let (result, out) = plugin(
        &["diff", "albumservice/albums", "1", "2"],
        |mut h| async move {
            answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
            answer_reads(&mut h).await;
        },
    )
    .await;
    assert!(result.unwrap());
    assert!(out.starts_with("image: album:1 -> album:2\n"), "{out}");
    assert!(
        out.contains("-  default_limit: 21\n+  default_limit: 22\n"),
        "{out}"
    );
    assert!(!out.contains(" pod ("), "pod fields unchanged: {out}");
}

#[tokio::test]
async fn restart_patches_restart_at_only() {
    let (result, out) = plugin(&["restart", "noteservice/albums"], |mut h| async move {
        answer(&mut h, Method::GET, NOTES, StatusCode::OK, album()).await;
        let patch = answer(&mut h, Method::PATCH, NOTES, StatusCode::OK, album()).await;
        let at = patch["spec"]["restartAt"].as_str().unwrap();
        assert!(
            at.ends_with('Z') && at.len() == 20,
            "RFC 3339 seconds: {patch}"
        );
        assert_eq!(patch["spec"].as_object().unwrap().len(), 1, "{patch}");
    })
    .await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "noteservice/albums restarting: every pod is replaced, the revision stays\n"
    );
}

#[tokio::test]
async fn a_missing_service_is_one_line_naming_it() {
    let (result, _) = plugin(&["pause", "albums"], |mut h| async move {
        answer(
            &mut h,
            Method::GET,
            ALBUMS,
            StatusCode::NOT_FOUND,
            status(404, "NotFound"),
        )
        .await;
        answer(
            &mut h,
            Method::GET,
            NOTES,
            StatusCode::NOT_FOUND,
            status(404, "NotFound"),
        )
        .await;
    })
    .await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "AlbumService or NoteService albums not found in namespace shop"
    );
}

#[tokio::test]
async fn rbac_refusal_is_reported_as_forbidden() {
    let (result, _) = plugin(&["abort", "albumservice/albums"], |mut h| async move {
        answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, rolling_out()).await;
        answer(
            &mut h,
            Method::PATCH,
            ALBUMS,
            StatusCode::FORBIDDEN,
            status(403, "Forbidden"),
        )
        .await;
    })
    .await;
    let error = result.unwrap_err();
    assert!(matches!(error, Error::Forbidden(_)), "{error}");
    assert!(error.to_string().starts_with("forbidden: "), "{error}");
}

#[tokio::test]
async fn status_succeeds_but_watch_fails_on_a_rolled_back_service() {
    let rolled_back = || {
        let mut svc = album();
        svc["status"] = json!({"phase": "RolledBack", "currentRevision": 1, "stableRevision": 1,
                               "abortedRevision": 2, "abortReason": "CrashLoopBackOff"});
        svc
    };
    for (args, healthy) in [
        (&["status", "albumservice/albums"][..], true),
        (&["status", "albumservice/albums", "-w"][..], false),
    ] {
        let (result, out) = plugin(args, move |mut h| async move {
            answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, rolled_back()).await;
            answer_reads(&mut h).await;
        })
        .await;
        assert_eq!(result.unwrap(), healthy, "{args:?}");
        assert!(
            out.contains("Phase:     RolledBack") && out.contains("(CrashLoopBackOff)"),
            "{out}"
        );
    }
}

#[tokio::test]
async fn history_shows_the_config_hash_the_pods_report() {
    let (result, out) = plugin(&["history", "albumservice/albums"], |mut h| async move {
        answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
        answer_reads(&mut h).await;
    })
    .await;
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
    for verb in ["abort", "promote"] {
        let (result, out) = plugin(&[verb, "albumservice/albums"], |mut h| async move {
            answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
            assert!(h.next_request().await.is_none(), "no patch for a no-op");
        })
        .await;
        let error = result.unwrap_err();
        assert!(matches!(error, Error::NothingRollingOut(_)), "{error}");
        assert_eq!(
            error.to_string(),
            "nothing is rolling out (phase Healthy, revision 2): promote and abort act on a rollout in progress"
        );
        assert_eq!(out, "");
    }
}

#[tokio::test]
async fn retry_patches_a_rolled_back_service_and_refuses_otherwise() {
    let rolled_back = || {
        let mut svc = album();
        svc["status"] = json!({"phase": "RolledBack", "currentRevision": 2, "stableRevision": 1,
                               "abortedRevision": 2, "abortReason": "CrashLoopBackOff"});
        svc
    };
    let (result, out) = plugin(&["retry", "albums"], move |mut h| async move {
        answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, rolled_back()).await;
        answer(
            &mut h,
            Method::GET,
            NOTES,
            StatusCode::NOT_FOUND,
            status(404, "NotFound"),
        )
        .await;
        let patch = answer(&mut h, Method::PATCH, ALBUMS, StatusCode::OK, rolled_back()).await;
        assert!(patch["spec"]["retry"].is_string(), "{patch}");
        assert_eq!(patch["spec"].as_object().unwrap().len(), 1, "{patch}");
    })
    .await;
    assert!(result.unwrap());
    assert_eq!(
        out,
        "albumservice/albums retrying revision 2: rolling it out again\n"
    );
    let (result, _) = plugin(&["retry", "albumservice/albums"], |mut h| async move {
        answer(&mut h, Method::GET, ALBUMS, StatusCode::OK, album()).await;
        assert!(h.next_request().await.is_none(), "no patch");
    })
    .await;
    assert!(
        matches!(result, Err(Error::NothingToRetry(_))),
        "{result:?}"
    );
}
