//! What the plugin shows, as plain data read from the cluster, and its rendering. Pure: the
//! snapshot tests render fixed data.

use lockstep_crd::status::{Phase, ServiceStatus};
use serde::{Deserialize, Serialize};

/// One service, as `status` and `history` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// `AlbumService`, `NoteService`, `UserService` or `AppService`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `spec.release.version`.
    pub version: String,
    /// `spec.release.image`.
    pub image: String,
    /// `spec.paused`.
    pub paused: bool,
    /// Number of canary steps.
    pub steps: usize,
    /// The operator's status.
    pub status: ServiceStatus,
    /// Kept revisions, newest first.
    pub revisions: Vec<RevisionView>,
    /// Recent events about the service, oldest first.
    pub events: Vec<EventView>,
}

/// A kept revision, as recorded by the operator in its ControllerRevision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    /// Revision number.
    pub number: i64,
    /// Content hash (image, config, pod fields).
    pub hash: String,
    /// What it is.
    pub content: RevisionContent,
    /// Why it was created.
    pub cause: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// `(ready, total)` pods of this revision now.
    #[serde(default)]
    pub pods: (u32, u32),
    /// sha256 of the config file: what the revision's pods report as `config_hash` in
    /// `/version` and `build_info` (set by [`RevisionView::with_config_hash`]).
    #[serde(default)]
    pub config_hash: String,
}

impl RevisionView {
    /// Fills [`RevisionView::config_hash`] from the config text.
    pub fn with_config_hash(mut self) -> RevisionView {
        use sha2::Digest;
        self.config_hash = sha2::Sha256::digest(self.content.config.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self
    }
}

/// The parts of a revision the plugin shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionContent {
    /// Version label.
    pub version: String,
    /// Container image.
    pub image: String,
    /// The config file, as the pods read it.
    pub config: String,
    /// Pod fields (port, resources, Secrets), part of the revision too.
    #[serde(default)]
    pub pod: serde_json::Value,
}

/// An event about the service.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// RFC 3339 time of the last occurrence.
    pub time: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Machine-readable reason (`RolloutStarted`, `RolledBack`, …).
    pub reason: String,
    /// What happened.
    pub message: String,
}

/// Columns padded to their widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn phase_name(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::Progressing) => "Progressing",
        Some(Phase::Paused) => "Paused",
        Some(Phase::Healthy) => "Healthy",
        Some(Phase::Degraded) => "Degraded",
        Some(Phase::RolledBack) => "RolledBack",
        None => "Pending",
    }
}

/// Whether `status -w` stops here, and with which exit code.
pub fn finished(status: &ServiceStatus) -> Option<bool> {
    match status.phase {
        Some(Phase::Healthy) => Some(true),
        Some(Phase::Degraded | Phase::RolledBack) => Some(false),
        _ => None,
    }
}

fn role(view: &ServiceView, number: i64) -> String {
    let s = &view.status;
    let mut roles = Vec::new();
    if s.current_revision == Some(number) {
        roles.push("current");
    }
    if s.stable_revision == Some(number) {
        roles.push("stable");
    }
    if s.aborted_revision == Some(number) {
        roles.push("aborted");
    }
    if s.warm_revision == Some(number) {
        roles.push("warm");
    }
    roles.join(",")
}

/// The split the operator last wrote to the route (`status.traffic`) and blue-green's preview
/// Service; nothing for a service that routes by replicas alone.
fn traffic(s: &ServiceStatus, namespace: &str) -> String {
    let Some(t) = &s.traffic else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(route) = &t.route {
        let rev = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |n| format!(" (revision {n})"));
        out.push_str(&format!(
            "Traffic:   HTTPRoute {route}: stable {} %{}, canary {} %{}\n",
            t.stable_weight,
            rev(t.stable_revision),
            t.canary_weight,
            rev(t.canary_revision)
        ));
        if !t.header_routes.is_empty() {
            let names = t.header_routes.join(", ");
            out.push_str(&format!("Headers:   to the canary only: {names}\n"));
        }
    }
    if let Some(preview) = &t.preview_service {
        out.push_str(&format!(
            "Preview:   {preview}.{namespace}.svc (Service {preview}: the new revision before promotion)\n"
        ));
    }
    out
}

/// `kubectl lockstep status`.
pub fn render_status(view: &ServiceView) -> String {
    let s = &view.status;
    let mut out = format!(
        "{}/{} in {}\n",
        view.kind.to_ascii_lowercase(),
        view.name,
        view.namespace
    );
    let step = match (s.step, view.steps) {
        // The operator counts steps from 0 (its messages say "step 1" for the second).
        (Some(step), n) if n > 0 => format!(" at step {step} (steps 0-{})", n - 1),
        _ => String::new(),
    };
    out.push_str(&format!("Phase:     {}{step}\n", phase_name(s.phase)));
    if let Some(message) = &s.message {
        out.push_str(&format!("Message:   {message}\n"));
    }
    if let Some(reason) = &s.abort_reason {
        out.push_str(&format!(
            "Aborted:   revision {} ({reason})\n",
            s.aborted_revision.unwrap_or(0)
        ));
    }
    out.push_str(&format!("Release:   {} ({})\n", view.version, view.image));
    let rev = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |n| n.to_string());
    out.push_str(&format!(
        "Revisions: current {}, stable {}\n",
        rev(s.current_revision),
        rev(s.stable_revision)
    ));
    if let (Some(warm), Some(until)) = (s.warm_revision, &s.warm_until) {
        out.push_str(&format!(
            "Warm:      revision {warm} until {} (undo to it starts no pod)\n",
            until.0
        ));
    }
    out.push_str(&traffic(s, &view.namespace));
    out.push_str(&format!(
        "Ready:     {}{}\n",
        s.ready.as_deref().unwrap_or("-"),
        if view.paused { "   (paused)" } else { "" }
    ));
    let rows: Vec<Vec<String>> = view
        .revisions
        .iter()
        .filter(|r| r.pods.1 > 0 || !role(view, r.number).is_empty())
        .map(|r| {
            vec![
                r.number.to_string(),
                r.content.version.clone(),
                format!("{}/{}", r.pods.0, r.pods.1),
                role(view, r.number),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&["REVISION", "VERSION", "PODS", "ROLE"], &rows));
    if !view.events.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = view
            .events
            .iter()
            .map(|e| {
                vec![
                    e.time.clone(),
                    e.type_.clone(),
                    e.reason.clone(),
                    e.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(&["TIME", "TYPE", "REASON", "MESSAGE"], &rows));
    }
    out
}

/// `kubectl lockstep history`.
pub fn render_history(view: &ServiceView) -> String {
    let rows: Vec<Vec<String>> = view
        .revisions
        .iter()
        .map(|r| {
            vec![
                r.number.to_string(),
                r.content.version.clone(),
                r.content.image.clone(),
                r.config_hash.chars().take(12).collect(),
                r.created.clone(),
                r.cause.clone(),
                role(view, r.number),
            ]
        })
        .collect();
    table(
        &[
            "REVISION", "VERSION", "IMAGE", "CONFIG", "CREATED", "CAUSE", "ROLE",
        ],
        &rows,
    )
}

/// `kubectl lockstep diff`: the image change, then unified diffs of the config files and, when
/// they differ, of the pod fields.
pub fn render_diff(a: &RevisionView, b: &RevisionView) -> String {
    let mut out = if a.content.image == b.content.image {
        format!("image: unchanged ({})\n", a.content.image)
    } else {
        format!("image: {} -> {}\n", a.content.image, b.content.image)
    };
    let unified = |what: &str, old: &str, new: &str| {
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("revision {} {what} ({})", a.number, a.content.version),
                &format!("revision {} {what} ({})", b.number, b.content.version),
            )
            .to_string()
    };
    if a.content.config == b.content.config {
        out.push_str("config: unchanged\n");
    } else {
        out.push_str(&unified("config", &a.content.config, &b.content.config));
    }
    if a.content.pod != b.content.pod {
        let yaml = |v: &serde_json::Value| serde_yaml::to_string(v).unwrap_or_default();
        out.push_str(&unified(
            "pod",
            &yaml(&a.content.pod),
            &yaml(&b.content.pod),
        ));
    }
    out
}
