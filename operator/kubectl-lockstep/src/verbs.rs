//! `list`, `set image`, `set config` and `lint`: the verbs that are not about one rollout's
//! progress.

use std::io::Write;

use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::{Kind, Output};
use crate::lint::{self, Report};
use crate::{Error, cluster, emit};

/// One row of `list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListRow {
    /// Namespace.
    pub namespace: String,
    /// `AlbumService`, `NoteService`, `UserService` or `AppService`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// `spec.release.version`.
    pub version: String,
    /// `status.currentRevision`.
    pub revision: Option<i64>,
    /// `status.stableRevision`.
    pub stable: Option<i64>,
    /// `status.phase` (empty before the operator's first status).
    pub phase: String,
    /// `status.ready`, e.g. `4/4`.
    pub ready: String,
}

impl ListRow {
    /// The row for `obj` of `kind`.
    pub fn of(kind: Kind, obj: &DynamicObject) -> ListRow {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let status = &obj.data["status"];
        ListRow {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            kind: kind.name().to_owned(),
            name: obj.metadata.name.clone().unwrap_or_default(),
            version: text(&obj.data["spec"]["release"]["version"]),
            revision: status["currentRevision"].as_i64(),
            stable: status["stableRevision"].as_i64(),
            phase: text(&status["phase"]),
            ready: text(&status["ready"]),
        }
    }
}

/// The `list` table, kubectl style: `NAMESPACE` only with `-A`, `<none>` for what is unset.
pub fn render_list(rows: &[ListRow], all_namespaces: bool) -> String {
    if rows.is_empty() {
        return "No Lockstep services found.\n".to_owned();
    }
    let none = |v: Option<i64>| v.map_or_else(|| "<none>".to_owned(), |n| n.to_string());
    let or_none = |s: &str| if s.is_empty() { "<none>" } else { s }.to_owned();
    let mut table: Vec<Vec<String>> = vec![
        [
            "NAMESPACE",
            "KIND",
            "NAME",
            "VERSION",
            "REVISION",
            "STABLE",
            "PHASE",
            "READY",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in rows {
        table.push(vec![
            r.namespace.clone(),
            r.kind.clone(),
            r.name.clone(),
            or_none(&r.version),
            none(r.revision),
            none(r.stable),
            or_none(&r.phase),
            or_none(&r.ready),
        ]);
    }
    let skip = usize::from(!all_namespaces);
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .skip(skip)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// `list [-A]`.
pub async fn list(
    client: &kube::Client,
    namespace: Option<&str>,
    format: Output,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let mut rows = Vec::new();
    for kind in Kind::ALL {
        for obj in cluster::list(client, namespace, kind).await? {
            rows.push(ListRow::of(kind, &obj));
        }
    }
    rows.sort_by(|a, b| (&a.namespace, &a.name, &a.kind).cmp(&(&b.namespace, &b.name, &b.kind)));
    emit(out, format, &rows, &render_list(&rows, namespace.is_none()))
}

/// The merge patch `set image`/`set config` send: `release` changes against the object as
/// read, with its resourceVersion, so a concurrent edit makes the server answer 409 instead of
/// being overwritten. Before sending, the changed object goes through `lint` (schema, CEL,
/// the operator's checks): a release the operator would refuse never reaches the cluster.
pub fn set_patch(kind: Kind, obj: &DynamicObject, release: &Value) -> Result<Value, Error> {
    let current = &obj.data["spec"]["release"];
    let mut changed = serde_json::to_value(obj).map_err(|e| Error::Usage(e.to_string()))?;
    lockstep_crd::merge::apply(&mut changed["spec"]["release"], release);
    let problems = lint::problems(kind.name(), changed.clone());
    if !problems.is_empty() {
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        return Err(Error::Invalid(text.join("; ")));
    }
    Ok(json!({
        "metadata": {"resourceVersion": obj.metadata.resource_version},
        "spec": {"release": lockstep_crd::merge::diff(current, &changed["spec"]["release"])},
    }))
}

/// The `release` patch of `set image`.
pub fn image_release(image: &str, version: Option<&str>) -> Value {
    let mut release = json!({"image": image});
    if let Some(v) = version {
        release["version"] = json!(v);
    }
    release
}

/// The `release` patch of `set config --from-file`: the file replaces the config (merge
/// nulls remove the keys it lacks, see [`set_patch`]).
pub fn config_release(obj: &DynamicObject, text: &str) -> Result<Value, Error> {
    let config: Value = serde_yaml::from_str(text)
        .map_err(|e| Error::Usage(format!("the config file is not YAML: {e}")))?;
    if !config.is_object() {
        return Err(Error::Usage(
            "the config file must be a YAML mapping".into(),
        ));
    }
    let current = &obj.data["spec"]["release"]["config"];
    // `apply` of the diff yields exactly `config`: keys the file lacks are removed.
    Ok(json!({"config": lockstep_crd::merge::diff(current, &config)}))
}

/// `lint -f FILE…`: prints each finding and a summary; `Ok(false)` when anything is wrong.
pub fn lint_files(files: &[String], format: Output, out: &mut dyn Write) -> Result<bool, Error> {
    let mut report = Report::default();
    for file in files {
        let text = if file == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(file)
        }
        .map_err(|e| Error::Usage(format!("{file}: {e}")))?;
        lint::lint_text(file, &text, &mut report);
    }
    let mut table = String::new();
    for finding in &report.findings {
        table.push_str(&format!("{finding}\n"));
    }
    table.push_str(&format!(
        "{} Lockstep service(s) checked, {} problem(s)\n",
        report.checked,
        report.findings.len()
    ));
    emit(out, format, &report, &table)?;
    Ok(report.findings.is_empty())
}
