//! The command line: kubectl's connection flags plus one subcommand per verb.

use clap::{Parser, Subcommand, ValueEnum};

use crate::Error;

/// Drive Lockstep rollouts: every action is a merge patch of the service's spec, so
/// `kubectl patch` does the same (see the README).
#[derive(Debug, Parser)]
#[command(name = "kubectl-lockstep", bin_name = "kubectl lockstep", version)]
pub struct Cli {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// Output format of status and history.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The service's kind, when TARGET is a bare name found under both kinds.
    #[arg(long, global = true, value_enum)]
    pub kind: Option<Kind>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// The two service kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// `AlbumService`.
    #[value(alias = "albumservice", alias = "albumsvc")]
    Album,
    /// `NoteService`.
    #[value(alias = "noteservice", alias = "notesvc")]
    Note,
}

impl Kind {
    /// The Kubernetes kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Album => "AlbumService",
            Kind::Note => "NoteService",
        }
    }

    /// Both kinds, in lookup order.
    pub const ALL: [Kind; 2] = [Kind::Album, Kind::Note];
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Phase, step, revisions, ready pods per revision and recent events.
    Status {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// Keep printing until the rollout ends: exit 0 when Healthy, 1 when Degraded or
        /// RolledBack.
        #[arg(short, long)]
        watch: bool,
    },
    /// Kept revisions: number, version, image, config hash, creation, cause.
    History {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Unified diff of two revisions' config files, and the image change.
    Diff {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// The older revision.
        rev_a: i64,
        /// The newer revision.
        rev_b: i64,
    },
    /// Move a paused canary to its next step (`--full`: straight to 100 %).
    Promote {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// Skip the remaining steps.
        #[arg(long)]
        full: bool,
    },
    /// Hold the rollout at its current step.
    Pause {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Continue a paused rollout.
    Resume {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Stop the rollout and return to the stable revision (image and config).
    Abort {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Roll out the rolled-back revision again, from its first step, without editing the spec.
    Retry {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Restart every pod of the service (rolling); image, config and revision stay.
    Restart {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
    },
    /// Roll back to the previous revision, or to `--to-revision N` (image and config).
    Undo {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// A revision number from `history`.
        #[arg(long)]
        to_revision: Option<i64>,
    },
}

impl Command {
    /// The TARGET argument of every verb.
    pub fn target(&self) -> &str {
        match self {
            Command::Status { target, .. }
            | Command::History { target }
            | Command::Diff { target, .. }
            | Command::Promote { target, .. }
            | Command::Pause { target }
            | Command::Resume { target }
            | Command::Abort { target }
            | Command::Retry { target }
            | Command::Restart { target }
            | Command::Undo { target, .. } => target,
        }
    }
}

/// A TARGET resolved as far as the command line allows: a kind when one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: look the name up under both kinds.
    pub kind: Option<Kind>,
    /// The object name.
    pub name: String,
}

/// Parses `kind/name` (kubectl's resource spellings) or a bare name; `--kind` must agree.
pub fn parse_target(text: &str, flag: Option<Kind>) -> Result<Target, Error> {
    let bad = |reason: &str| Error::Usage(format!("target `{text}`: {reason}"));
    let (kind, name) = match text.split_once('/') {
        Some((kind, name)) => {
            let kind = match kind.to_ascii_lowercase().as_str() {
                "albumservice" | "albumservices" | "albumsvc" | "albumservice.lockstep.dev" => {
                    Kind::Album
                }
                "noteservice" | "noteservices" | "notesvc" | "noteservice.lockstep.dev" => {
                    Kind::Note
                }
                other => return Err(bad(&format!("unknown kind `{other}`"))),
            };
            if flag.is_some_and(|f| f != kind) {
                return Err(bad("--kind disagrees with the kind in the target"));
            }
            (Some(kind), name)
        }
        None => (flag, text),
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid {
        return Err(bad("not a valid object name"));
    }
    Ok(Target {
        kind,
        name: name.to_owned(),
    })
}
