//! `kubectl lockstep lint -f FILE…`: what the API server and the operator would say of a
//! manifest, said before it reaches a cluster (a CI step for GitOps repositories).
//!
//! Each AlbumService/NoteService/UserService/AppService document goes through the CRD's own schema and CEL rules
//! (`lockstep_crd::structural`, on the CRDs this build generates, unknown fields refused as
//! kubectl's strict validation does) and then through the operator's release checks
//! (`lockstep_crd::validate`, the code the operator runs). Documents of other kinds are left
//! alone, so a whole directory of manifests can be linted.

pub use lockstep_crd::structural::Problem;
use lockstep_crd::structural::{Unknown, admit};
use lockstep_crd::{AlbumService, AppService, NoteService, UserService};
use lockstep_service_config::ConfigError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A problem located in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The file (`-` for standard input).
    pub source: String,
    /// `Kind/name`, or `document N` when it has none.
    pub object: String,
    /// Field path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}: {}", self.source, self.object, self.message)
        } else {
            write!(
                f,
                "{}: {}: {}: {}",
                self.source, self.object, self.path, self.message
            )
        }
    }
}

/// The outcome over one or more files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Lockstep services checked.
    pub checked: usize,
    /// Everything wrong with them.
    pub findings: Vec<Finding>,
}

/// Lints every YAML document in `text` (read from `source`) into `report`.
pub fn lint_text(source: &str, text: &str, report: &mut Report) {
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let label = format!("document {}", index + 1);
        let parsed = serde_yaml::Value::deserialize(document)
            .map_err(|e| e.to_string())
            .and_then(|yaml| serde_json::to_value(yaml).map_err(|e| e.to_string()));
        match parsed {
            Ok(Value::Null) => {}
            Ok(object) => lint_object(source, &label, object, report),
            Err(e) => {
                report.findings.push(Finding {
                    source: source.to_owned(),
                    object: label,
                    path: String::new(),
                    message: format!("not YAML: {e}"),
                });
                // The YAML stream cannot be resynchronised after a syntax error (the
                // deserializer would repeat it forever).
                break;
            }
        }
    }
}

fn lint_object(source: &str, label: &str, object: Value, report: &mut Report) {
    if object["kind"] == "List" {
        for (i, item) in object["items"].as_array().into_iter().flatten().enumerate() {
            lint_object(
                source,
                &format!("{label} item {}", i + 1),
                item.clone(),
                report,
            );
        }
        return;
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    if !api_version.starts_with(&format!("{}/", lockstep_crd::GROUP)) {
        return;
    }
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let name = object["metadata"]["name"].as_str().map(str::to_owned);
    let object_label = name
        .as_ref()
        .map_or_else(|| format!("{kind} ({label})"), |n| format!("{kind}/{n}"));
    report.checked += 1;
    let problems = problems(&kind, object);
    report
        .findings
        .extend(problems.into_iter().map(|p| Finding {
            source: source.to_owned(),
            object: object_label.clone(),
            path: p.path,
            message: p.message,
        }));
}

/// Everything wrong with one object of the `lockstep.dev` group.
pub fn problems(kind: &str, mut object: Value) -> Vec<Problem> {
    let at = |path: &str, message: String| Problem {
        path: path.to_owned(),
        message,
    };
    let Some(crd) = lockstep_crd::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
    else {
        return vec![at(
            "kind",
            format!(
                "Unsupported value: {kind:?}: supported values: \"AlbumService\", \"NoteService\", \"UserService\", \"AppService\""
            ),
        )];
    };
    let mut out = Vec::new();
    match object["metadata"]["name"].as_str() {
        Some(name) if is_subdomain(name) => {}
        Some(name) => out.push(at(
            "metadata.name",
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'), at most 253"),
        )),
        None if object["metadata"]["generateName"].is_string() => {}
        None => out.push(at("metadata.name", "Required value".into())),
    }
    out.extend(admit(&crd, &mut object, Unknown::Refuse));
    if !out.is_empty() {
        return out;
    }
    // What the operator refuses (ConfigValid=False) although the API server accepts it.
    let checked = match kind {
        "AlbumService" => serde_json::from_value::<AlbumService>(object)
            .map(|s| s.spec.check())
            .map_err(|e| e.to_string()),
        "NoteService" => serde_json::from_value::<NoteService>(object)
            .map(|s| s.spec.check())
            .map_err(|e| e.to_string()),
        "UserService" => serde_json::from_value::<UserService>(object)
            .map(|s| s.spec.check())
            .map_err(|e| e.to_string()),
        _ => serde_json::from_value::<AppService>(object)
            .map(|s| s.spec.check().map(|_file| ()))
            .map_err(|e| e.to_string()),
    };
    match checked {
        Err(decode) => vec![at("spec", format!("the operator cannot read it: {decode}"))],
        Ok(Err(ConfigError::Invalid { field, reason })) => {
            let path = if field.starts_with("pod.") || field.starts_with("release.") {
                format!("spec.{field}")
            } else {
                format!("spec.release.config.{field}")
            };
            vec![at(&path, format!("refused by the operator: {reason}"))]
        }
        Ok(Err(other)) => vec![at(
            "spec.release.config",
            format!("refused by the operator: {other}"),
        )],
        Ok(Ok(())) => Vec::new(),
    }
}

fn is_subdomain(name: &str) -> bool {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && edge(name.bytes().next())
        && edge(name.bytes().last())
}
