//! # kubectl-lockstep — drive Lockstep rollouts from kubectl
//!
//! `kubectl lockstep status|history|diff|promote|pause|resume|abort|retry|undo|restart TARGET`,
//! `set image|config TARGET …`, `list [-A]`, `lint -f FILE…`, `completion SHELL`.
//!
//! Every action is one merge patch of the service's spec ([`patch`]); the operator does the
//! rest and reports in `status`. So the plugin holds no state and needs no more than `get`,
//! `list` and `patch` on the services, `list` on controllerrevisions, pods and events.
//!
//! Layout: [`cli`] parses, [`patch`] builds patches and [`view`] renders (both pure, tested by
//! snapshots), [`lint`] checks manifests offline, [`verbs`] holds `list`, `set` and `lint`,
//! [`cluster`] talks to the API server, [`run`] ties them together.

pub mod cli;
pub mod cluster;
pub mod lint;
pub mod patch;
pub mod verbs;
pub mod view;

use std::io::Write;
use std::time::Duration;

use cli::{Cli, Command, Output, SetCommand};
use serde::Serialize;

/// Why a command failed; `main` prints it on one line and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The service does not exist.
    #[error("{what} {name} not found in namespace {namespace}")]
    NotFound {
        /// Which kind(s) were looked up.
        what: String,
        /// Object name.
        name: String,
        /// Namespace.
        namespace: String,
    },
    /// The revision is not kept.
    #[error("revision {0} is not kept (kubectl lockstep history lists the kept ones)")]
    NoSuchRevision(i64),
    /// RBAC refused the call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The API server refused the change (validation).
    #[error("refused by the API server: {0}")]
    Invalid(String),
    /// No usable kubeconfig/context.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// Any other API failure.
    #[error("API server: {0}")]
    Api(String),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(String),
    /// `retry` while no revision is rolled back.
    #[error("nothing to retry (phase {0}): retry rolls a RolledBack revision out again")]
    NothingToRetry(String),
    /// `promote` or `abort` while no rollout is in progress: they would do nothing.
    #[error("nothing is rolling out ({0}): promote and abort act on a rollout in progress")]
    NothingRollingOut(String),
}

/// `promote` and `abort` act on the rollout in progress (the operator acknowledges tokens seen
/// while steady and ignores them), so the plugin refuses them up front when there is none,
/// instead of printing "aborted" for a no-op.
fn require_rollout(obj: &kube::api::DynamicObject) -> Result<(), Error> {
    let status = &obj.data["status"];
    let phase = status["phase"].as_str().unwrap_or("no status yet");
    let (current, stable) = (
        status["currentRevision"].as_i64(),
        status["stableRevision"].as_i64(),
    );
    if matches!(phase, "Progressing" | "Paused") && current != stable {
        return Ok(());
    }
    let revision = current.map_or_else(String::new, |c| format!(", revision {c}"));
    Err(Error::NothingRollingOut(format!("phase {phase}{revision}")))
}

impl Error {
    /// Sorts a kube error into the cases users act on differently.
    pub fn from_kube(error: kube::Error) -> Error {
        match error {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden(status.message),
            kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
                Error::Invalid(status.message)
            }
            other => Error::Api(other.to_string()),
        }
    }
}

pub(crate) fn emit(
    out: &mut dyn Write,
    format: Output,
    value: &impl Serialize,
    table: &str,
) -> Result<(), Error> {
    let text = match format {
        Output::Table => table.to_owned(),
        Output::Json => {
            serde_json::to_string_pretty(value).map_err(|e| Error::Output(e.to_string()))? + "\n"
        }
        Output::Yaml => serde_yaml::to_string(value).map_err(|e| Error::Output(e.to_string()))?,
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Output(e.to_string()))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs the command; `Ok(false)` when it ran but reports failure (`status -w` ending Degraded
/// or RolledBack).
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<bool, Error> {
    match &cli.command {
        Command::Lint { files } => return verbs::lint_files(files, cli.output, out),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "kubectl-lockstep", out);
            return Ok(true);
        }
        _ => {}
    }
    // Arguments first: a typo should not wait for the API server.
    if let Some(target) = cli.command.target() {
        cli::parse_target(target, cli.kind)?;
    }
    let (client, ns) = cluster::connect(&cli).await?;
    run_with(&client, &ns, &cli, out).await
}

/// [`run`] with a given client and namespace (the tests run it on the fake API server).
pub async fn run_with(
    client: &kube::Client,
    ns: &str,
    cli: &Cli,
    out: &mut dyn Write,
) -> Result<bool, Error> {
    let (client, ns) = (client.clone(), ns.to_owned());
    let target = match (&cli.command, cli.command.target()) {
        (Command::List { all_namespaces }, _) => {
            let namespace = (!all_namespaces).then_some(ns.as_str());
            verbs::list(&client, namespace, cli.output, out).await?;
            return Ok(true);
        }
        (Command::Lint { files }, _) => return verbs::lint_files(files, cli.output, out),
        (_, Some(target)) => cli::parse_target(target, cli.kind)?,
        (_, None) => return Err(Error::Usage("this verb needs no cluster".into())),
    };
    let (kind, obj) = cluster::resolve(&client, &ns, &target).await?;
    let name = target.name.as_str();
    let said = |out: &mut dyn Write, what: &str| {
        writeln!(out, "{}/{name} {what}", kind.name().to_ascii_lowercase())
            .map_err(|e| Error::Output(e.to_string()))
    };
    match &cli.command {
        Command::Status { watch, .. } => {
            let mut view = cluster::load(&client, &ns, kind, &obj).await?;
            loop {
                emit(out, cli.output, &view, &view::render_status(&view))?;
                if !watch {
                    return Ok(true);
                }
                if let Some(healthy) = view::finished(&view.status) {
                    return Ok(healthy);
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                let found = cli::Target {
                    kind: Some(kind),
                    name: target.name.clone(),
                };
                let (_, obj) = cluster::resolve(&client, &ns, &found).await?;
                view = cluster::load(&client, &ns, kind, &obj).await?;
                if cli.output == Output::Table {
                    writeln!(out, "---").map_err(|e| Error::Output(e.to_string()))?;
                }
            }
        }
        Command::History { .. } => {
            let view = cluster::load(&client, &ns, kind, &obj).await?;
            emit(
                out,
                cli.output,
                &view.revisions,
                &view::render_history(&view),
            )?;
        }
        Command::Diff { rev_a, rev_b, .. } => {
            let view = cluster::load(&client, &ns, kind, &obj).await?;
            let find = |n: i64| {
                view.revisions
                    .iter()
                    .find(|r| r.number == n)
                    .ok_or(Error::NoSuchRevision(n))
            };
            let text = view::render_diff(find(*rev_a)?, find(*rev_b)?);
            out.write_all(text.as_bytes())
                .map_err(|e| Error::Output(e.to_string()))?;
        }
        Command::Promote { full, .. } => {
            require_rollout(&obj)?;
            cluster::patch(&client, &ns, kind, name, &patch::promote(&now(), *full)).await?;
            said(
                out,
                if *full {
                    "promoted to 100 %"
                } else {
                    "promoted to the next step"
                },
            )?;
        }
        Command::Pause { .. } => {
            cluster::patch(&client, &ns, kind, name, &patch::pause()).await?;
            said(out, "paused")?;
        }
        Command::Resume { .. } => {
            cluster::patch(&client, &ns, kind, name, &patch::resume()).await?;
            said(out, "resumed")?;
        }
        Command::Abort { .. } => {
            require_rollout(&obj)?;
            cluster::patch(&client, &ns, kind, name, &patch::abort(&now())).await?;
            said(out, "aborted: returning to the stable revision")?;
        }
        Command::Retry { .. } => {
            let status = &obj.data["status"];
            if status["phase"].as_str() != Some("RolledBack") {
                return Err(Error::NothingToRetry(
                    status["phase"]
                        .as_str()
                        .unwrap_or("no status yet")
                        .to_owned(),
                ));
            }
            cluster::patch(&client, &ns, kind, name, &patch::retry(&now())).await?;
            let revision = status["abortedRevision"]
                .as_i64()
                .map_or_else(String::new, |r| format!(" revision {r}"));
            said(out, &format!("retrying{revision}: rolling it out again"))?;
        }
        Command::Restart { .. } => {
            cluster::patch(&client, &ns, kind, name, &patch::restart(&now())).await?;
            said(out, "restarting: every pod is replaced, the revision stays")?;
        }
        Command::Set { what } => {
            let release = match what {
                SetCommand::Image {
                    image,
                    release_version,
                    ..
                } => verbs::image_release(image, release_version.as_deref()),
                SetCommand::Config { from_file, .. } => {
                    let text = std::fs::read_to_string(from_file)
                        .map_err(|e| Error::Usage(format!("{from_file}: {e}")))?;
                    verbs::config_release(&obj, &text)?
                }
            };
            let patch = verbs::set_patch(kind, &obj, &release)?;
            if lockstep_crd::merge::is_empty(&patch["spec"]["release"]) {
                said(out, "unchanged: the release already is that")?;
                return Ok(true);
            }
            cluster::patch(&client, &ns, kind, name, &patch).await?;
            said(
                out,
                "release changed: the operator rolls out a new revision",
            )?;
        }
        Command::List { .. } | Command::Lint { .. } | Command::Completion { .. } => {}
        Command::Undo { to_revision, .. } => {
            let view = cluster::load(&client, &ns, kind, &obj).await?;
            let kept: Vec<i64> = view.revisions.iter().map(|r| r.number).collect();
            let revision = match to_revision {
                Some(n) if kept.contains(n) => *n,
                Some(n) => return Err(Error::NoSuchRevision(*n)),
                None => patch::previous_revision(&kept, &view.status)
                    .ok_or_else(|| Error::Usage("no earlier revision is kept".into()))?,
            };
            cluster::patch(&client, &ns, kind, name, &patch::undo(revision)).await?;
            said(
                out,
                &format!("rolling back to revision {revision} (image and config)"),
            )?;
        }
    }
    Ok(true)
}
