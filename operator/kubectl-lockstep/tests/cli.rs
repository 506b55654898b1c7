//! Arguments, targets and the patch each verb sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use kubectl_lockstep::Error;
use kubectl_lockstep::cli::{Cli, Command, Kind, Output, Target, parse_target};
use kubectl_lockstep::patch;
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

#[test]
fn undo_goes_to_the_newest_revision_before_the_current_one() {
    assert_eq!(patch::previous_revision(&[5, 4, 2], Some(5)), Some(4));
    // After a rollback the current revision is an old one; undo goes further back.
    assert_eq!(patch::previous_revision(&[5, 4, 2], Some(4)), Some(2));
    assert_eq!(patch::previous_revision(&[5, 4, 2], None), Some(4));
    assert_eq!(patch::previous_revision(&[1], Some(1)), None);
    assert_eq!(patch::previous_revision(&[], None), None);
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
