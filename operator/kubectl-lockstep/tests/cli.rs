//! Arguments, targets and the patch each verb sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use kubectl_lockstep::Error;
use kubectl_lockstep::cli::{Cli, Command, Kind, Output, Target, parse_target};
use kubectl_lockstep::patch;
use lockstep_crd::status::ServiceStatus;
use serde_json::json;

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("kubectl-lockstep").chain(args.iter().copied())).unwrap()
}

#[test]
fn kubectl_connection_flags_work_before_and_after_the_verb() {
    let cli = parse(&[
        "--kubeconfig",
        "/k",
        "--context",
        "kind-a",
        "-n",
        "shop",
        "status",
        "albums",
        "-w",
        "-o",
        "yaml",
    ]);
    assert_eq!(cli.kubeconfig.as_deref(), Some("/k"));
    assert_eq!(cli.context.as_deref(), Some("kind-a"));
    assert_eq!(cli.namespace.as_deref(), Some("shop"));
    assert_eq!(cli.output, Output::Yaml);
    assert!(matches!(cli.command, Command::Status { watch: true, .. }));
    let cli = parse(&[
        "undo",
        "noteservice/notes",
        "--to-revision",
        "3",
        "--namespace",
        "x",
    ]);
    assert!(matches!(
        cli.command,
        Command::Undo {
            to_revision: Some(3),
            ..
        }
    ));
    assert_eq!(cli.namespace.as_deref(), Some("x"));
    let cli = parse(&["promote", "albums", "--full", "--kind", "album"]);
    assert!(matches!(cli.command, Command::Promote { full: true, .. }));
    assert_eq!(cli.kind, Some(Kind::Album));
}

#[test]
fn bad_arguments_are_refused_by_the_parser() {
    for args in [
        vec!["status"],
        vec!["diff", "albums", "1"],
        vec!["diff", "albums", "one", "2"],
        vec!["undo", "albums", "--to-revision", "x"],
        vec!["status", "albums", "-o", "wide"],
        vec!["restart-everything", "albums"],
    ] {
        let mut all = vec!["kubectl-lockstep"];
        all.extend(&args);
        assert!(Cli::try_parse_from(all).is_err(), "{args:?}");
    }
}

#[test]
fn targets_take_kubectl_spellings() {
    let t = |kind, name: &str| Target {
        kind,
        name: name.into(),
    };
    assert_eq!(parse_target("albums", None).unwrap(), t(None, "albums"));
    assert_eq!(
        parse_target("albums", Some(Kind::Note)).unwrap(),
        t(Some(Kind::Note), "albums")
    );
    for text in [
        "albumservice/a",
        "albumservices/a",
        "albumsvc/a",
        "AlbumService/a",
    ] {
        assert_eq!(
            parse_target(text, None).unwrap(),
            t(Some(Kind::Album), "a"),
            "{text}"
        );
    }
    assert_eq!(
        parse_target("noteservice/n", None).unwrap(),
        t(Some(Kind::Note), "n")
    );
    for (text, flag) in [
        ("deployment/a", None),
        ("albumservice/", None),
        ("Albums", None),
        ("a b", None),
        ("albumservice/a", Some(Kind::Note)),
    ] {
        let error = parse_target(text, flag).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{text}: {error}");
        assert!(
            error.to_string().contains(text),
            "names the target: {error}"
        );
    }
}

#[test]
fn each_verb_is_one_merge_patch_of_the_spec() {
    let now = "2026-11-22T09:00:00Z";
    assert_eq!(
        patch::promote(now, false),
        json!({"spec": {"promote": now}})
    );
    assert_eq!(
        patch::promote(now, true),
        json!({"spec": {"promote": "full-2026-11-22T09:00:00Z"}})
    );
    assert_eq!(patch::pause(), json!({"spec": {"paused": true}}));
    assert_eq!(patch::resume(), json!({"spec": {"paused": false}}));
    assert_eq!(patch::abort(now), json!({"spec": {"abort": now}}));
    assert_eq!(
        patch::undo(3),
        json!({"spec": {"rollbackTo": {"revision": 3}}})
    );
    assert_eq!(patch::restart(now), json!({"spec": {"restartAt": now}}));
    assert_eq!(patch::retry(now), json!({"spec": {"retry": now}}));
}

fn at(current: i64, stable: i64, previous: Option<i64>, warm: Option<i64>) -> ServiceStatus {
    ServiceStatus {
        current_revision: Some(current),
        stable_revision: Some(stable),
        previous_revision: previous,
        warm_revision: warm,
        ..ServiceStatus::default()
    }
}

/// Mutation check: with "the newest kept revision before the current one" (the old rule),
/// "revision 2 crashed and was rolled back, then revision 3 rolled out" undoes to 2.
#[test]
fn undo_goes_back_to_what_served_before() {
    let kept = [1, 2, 3];
    // 2 crashed and was rolled back; 3 rolled out from 1: undo goes to 1, warm or not.
    let mut after_crash = at(3, 3, Some(1), Some(1));
    after_crash.aborted_revision = Some(2);
    assert_eq!(patch::previous_revision(&kept, &after_crash), Some(1));
    after_crash.warm_revision = None;
    assert_eq!(patch::previous_revision(&kept, &after_crash), Some(1));
    // A second undo returns to where the first started.
    assert_eq!(
        patch::previous_revision(&kept, &at(1, 1, Some(3), Some(3))),
        Some(3)
    );
    // During a rollout, or after one was rolled back, undo means the stable revision.
    assert_eq!(
        patch::previous_revision(&kept, &at(3, 1, None, None)),
        Some(1)
    );
    // `previousRevision` no longer kept: the newest older one that was not rolled back.
    let mut pruned = at(3, 3, Some(7), None);
    pruned.aborted_revision = Some(2);
    assert_eq!(patch::previous_revision(&kept, &pruned), Some(1));
    // A status from before `previousRevision`: as before.
    let old = ServiceStatus {
        current_revision: Some(5),
        ..ServiceStatus::default()
    };
    assert_eq!(patch::previous_revision(&[5, 4, 2], &old), Some(4));
    assert_eq!(patch::previous_revision(&[1], &at(1, 1, None, None)), None);
    assert_eq!(
        patch::previous_revision(&[], &ServiceStatus::default()),
        None
    );
}

#[test]
fn completion_scripts_name_every_verb_without_a_cluster() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let mut out = Vec::new();
        let cli = parse(&["completion", shell]);
        // No kubeconfig is read: `run` answers before connecting.
        assert!(
            runtime
                .block_on(kubectl_lockstep::run(cli, &mut out))
                .unwrap()
        );
        let script = String::from_utf8(out).unwrap();
        for verb in ["status", "list", "lint", "set", "undo", "request-timeout"] {
            assert!(script.contains(verb), "{shell}: {verb}");
        }
    }
    assert!(
        Cli::try_parse_from(["kubectl-lockstep", "completion", "tcsh"]).is_err(),
        "unknown shell"
    );
    assert!(
        Cli::try_parse_from(["kubectl-lockstep", "lint"]).is_err(),
        "lint needs -f"
    );
    assert!(Cli::try_parse_from(["kubectl-lockstep", "--request-timeout", "5x", "list"]).is_err());
}
