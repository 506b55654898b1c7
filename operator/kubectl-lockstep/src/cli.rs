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
    /// The service's kind, when TARGET is a bare name found under every kind.
    #[arg(long, global = true, value_enum)]
    pub kind: Option<Kind>,
    /// Give up on an API request after this long (`30s`, `1m`, `500ms`; `0`: never), like
    /// kubectl's flag of the same name.
    #[arg(long, global = true, value_parser = parse_timeout, default_value = "0")]
    pub request_timeout: Timeout,
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

/// The service kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// `AlbumService`.
    #[value(alias = "albumservice", alias = "albumsvc")]
    Album,
    /// `NoteService`.
    #[value(alias = "noteservice", alias = "notesvc")]
    Note,
    /// `UserService`.
    #[value(alias = "userservice", alias = "usersvc")]
    User,
    /// `AppService`.
    #[value(alias = "appservice", alias = "appsvc")]
    App,
}

impl Kind {
    /// The Kubernetes kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Album => "AlbumService",
            Kind::Note => "NoteService",
            Kind::User => "UserService",
            Kind::App => "AppService",
        }
    }

    /// Every kind, in lookup order.
    pub const ALL: [Kind; 4] = [Kind::Album, Kind::Note, Kind::User, Kind::App];
}

/// `--request-timeout`: `None` waits as long as the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Option<std::time::Duration>);

/// kubectl's spelling: a number with `ms`, `s`, `m` or `h` (plain numbers are seconds); `0` is
/// no timeout.
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: a duration like 30s, 1m or 500ms"))?;
    let millis = match unit {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(format!("`{text}`: the unit is one of ms, s, m, h")),
    };
    Ok(Timeout(
        (millis > 0).then(|| std::time::Duration::from_millis(millis)),
    ))
}

/// What `set` changes.
#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Roll out another image (a new revision with the same config); `--version` sets the
    /// revision's version label too.
    Image {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// The image reference, e.g. `ghcr.io/acme/album-service:1.4.0`.
        image: String,
        /// The release's version label.
        #[arg(long = "release-version")]
        release_version: Option<String>,
    },
    /// Roll out another config file (a new revision with the same image). The file replaces
    /// the config: keys it lacks are removed, not kept.
    Config {
        /// `albumservice/NAME`, `noteservice/NAME` or `NAME`.
        target: String,
        /// The service's config file (YAML), as the service itself reads it.
        #[arg(long)]
        from_file: String,
    },
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every Lockstep service in the namespace (`-A`: in all namespaces): kind, version,
    /// revision, stable revision, phase, ready pods.
    List {
        /// List across all namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// Check manifests offline: the CRDs' schema and CEL rules, then the operator's own
    /// release checks. Exit 1 with `FILE: Kind/name: field.path: message` per problem.
    Lint {
        /// Files to check (`-` for standard input); documents of other kinds are skipped.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
    /// Change the image or the config file: one merge patch of the spec, checked like `lint`
    /// before it is sent.
    Set {
        /// What to change.
        #[command(subcommand)]
        what: SetCommand,
    },
    /// Print a shell completion script (`source <(kubectl-lockstep completion bash)`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
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
    /// The TARGET argument of the verbs that act on one service.
    pub fn target(&self) -> Option<&str> {
        Some(match self {
            Command::List { .. } | Command::Lint { .. } | Command::Completion { .. } => {
                return None;
            }
            Command::Set {
                what: SetCommand::Image { target, .. } | SetCommand::Config { target, .. },
            } => target,
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
        })
    }
}

/// A TARGET resolved as far as the command line allows: a kind when one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: look the name up under every kind.
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
                "userservice" | "userservices" | "usersvc" | "userservice.lockstep.dev" => {
                    Kind::User
                }
                "appservice" | "appservices" | "appsvc" | "appservice.lockstep.dev" => Kind::App,
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
