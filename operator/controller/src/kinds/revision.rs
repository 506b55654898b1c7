//! Revisions: the identity of (image, config file, pod-shaping fields), and their records.
//!
//! ```text
//!  spec.release.image ─┐
//!  config file text ───┼─► canonical JSON {"schema":1,…} ─► sha256 ─► hash (hex)
//!  spec.pod (port, …) ─┘                                           │
//!                                  ControllerRevision <name>-<hash[..10]> {number, version,
//!                                  image, config, pod, hash, cause, created}  ◄──┘
//! ```
//!
//! The hash covers the *rendered config file*, not the decoded struct, so two specs that render
//! the same file are the same revision, and a change in how a struct decodes cannot silently
//! change identity. Keys are sorted before hashing, so map order never matters. `HASH_SCHEMA`
//! goes into the hashed document and the labels: if the recipe ever changes, old and new hashes
//! cannot be confused.

use std::collections::BTreeMap;

use lockstep_crd::app::{AppPod, ConfigFile};
use lockstep_crd::spec::PodTemplate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the hashing recipe.
pub const HASH_SCHEMA: u32 = 1;
/// Hex characters of the hash used in object names.
pub const SHORT_HASH: usize = 10;

/// What makes a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionContent {
    /// Human version label (not part of the identity).
    pub version: String,
    /// Container image.
    pub image: String,
    /// The rendered config file, byte for byte what the pods read.
    pub config: String,
    /// Pod-shaping fields.
    pub pod: PodTemplate,
    /// What an `AppService` states that a typed kind's binary implies: the config file's place
    /// and format, its schema, and how the pod runs the image. `None` for the typed kinds (and
    /// then absent from the record and the hash, so their revisions keep their hashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppRevision>,
}

/// The `AppService` part of a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRevision {
    /// Where the file is mounted, its name and format.
    pub config_file: ConfigFile,
    /// The schema the config met (`release.configSchema`), restored with it on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
    /// How the pods run the image.
    pub pod: AppPod,
}

/// The container port of a revision recorded without one. [`LockstepService::content`] always
/// records it; records from before `pod.port` was optional stated it (it defaulted to 8080).
///
/// [`LockstepService::content`]: crate::kinds::LockstepService::content
pub const RECORDED_PORT_DEFAULT: u16 = 8080;

impl RevisionContent {
    /// The container port the revision's pods listen on (a typed kind's; an `AppService`
    /// revision lists its ports in [`AppRevision::pod`]).
    pub fn port(&self) -> u16 {
        self.pod.port.unwrap_or(RECORDED_PORT_DEFAULT)
    }

    /// The gRPC port the revision's pods serve, read from its config file (only the album
    /// service has gRPC). Read from the file, not recorded beside it: revisions recorded before
    /// the operator exposed gRPC have it too, and the hash stays what it was.
    pub fn grpc_port(&self, component: &str) -> Option<u16> {
        use lockstep_service_config::ServiceConfig as _;
        if component != "album" {
            return None;
        }
        lockstep_service_config::AlbumConfig::from_yaml(&self.config)
            .ok()?
            .grpc_port()
    }

    /// The revision hash: sha256 over the canonical JSON of image, config and pod fields (and
    /// an `AppService`'s config file, schema and pod).
    pub fn hash(&self) -> String {
        let mut doc = serde_json::json!({
            "schema": HASH_SCHEMA,
            "image": self.image,
            "config": self.config,
            "pod": serde_json::to_value(&self.pod).unwrap_or(serde_json::Value::Null),
        });
        // Only when there is one: a typed kind's hash is what it always was.
        if let Some(app) = &self.app {
            doc["app"] = serde_json::to_value(app).unwrap_or(serde_json::Value::Null);
        }
        let digest = Sha256::digest(canonical_json(&doc).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// JSON with object keys sorted at every level and no insignificant white space, independent
/// of how serde_json's maps are ordered in this build.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// A stored revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// 1, 2, 3, … per service; reused when rolling back.
    pub number: i64,
    /// Full hex hash of the content.
    pub hash: String,
    /// What it is.
    pub content: RevisionContent,
    /// Why it was created (`spec change`, `rollbackTo 3`, …).
    pub cause: String,
    /// RFC 3339 creation time.
    pub created: String,
}

impl Revision {
    /// The first [`SHORT_HASH`] characters of the hash, used in object names.
    pub fn short_hash(&self) -> &str {
        &self.hash[..SHORT_HASH.min(self.hash.len())]
    }
}

/// The number a new revision gets: one more than any kept so far.
pub fn next_number(existing: &[Revision]) -> i64 {
    existing.iter().map(|r| r.number).max().unwrap_or(0) + 1
}

/// The kept revision with this content hash, if any (rolling back reuses it).
pub fn find_by_hash<'a>(existing: &'a [Revision], hash: &str) -> Option<&'a Revision> {
    existing.iter().find(|r| r.hash == hash)
}

/// Revisions to delete so that at most `limit` remain, oldest first, never one in `keep`
/// (the stable and current revisions). Deleting a revision garbage-collects its ConfigMap.
pub fn prune(existing: &[Revision], limit: u32, keep: &[i64]) -> Vec<i64> {
    let mut numbers: Vec<i64> = existing.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    let excess = numbers.len().saturating_sub(limit as usize);
    numbers
        .into_iter()
        .filter(|n| !keep.contains(n))
        .take(excess)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(image: &str, config: &str) -> RevisionContent {
        RevisionContent {
            version: "1.0".into(),
            image: image.into(),
            config: config.into(),
            pod: PodTemplate::default(),
            app: None,
        }
    }

    fn revision(number: i64, hash: &str) -> Revision {
        Revision {
            number,
            hash: hash.into(),
            content: content("img", "cfg"),
            cause: "test".into(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn hash_is_stable_and_covers_image_config_and_pod() {
        let base = content("album:1", "server:\n  port: 8080\n");
        // Pinned: a change here means every running service would get a new revision on upgrade.
        assert_eq!(
            base.hash(),
            content("album:1", "server:\n  port: 8080\n").hash()
        );
        assert_eq!(base.hash().len(), 64);
        let mut other_version = base.clone();
        other_version.version = "1.0.1".into();
        assert_eq!(
            base.hash(),
            other_version.hash(),
            "the version label is not identity"
        );
        assert_ne!(
            base.hash(),
            content("album:2", "server:\n  port: 8080\n").hash()
        );
        assert_ne!(
            base.hash(),
            content("album:1", "server:\n  port: 8081\n").hash()
        );
        let mut pod = base.clone();
        pod.pod.port = Some(9090);
        assert_ne!(base.hash(), pod.hash());
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":null}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        // Key order in resource maps (limits/requests) does not change the hash.
        let mut p1 = content("i", "c");
        let mut p2 = content("i", "c");
        let limits = |pairs: &[(&str, &str)]| {
            use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
            k8s_openapi::api::core::v1::ResourceRequirements {
                limits: Some(
                    pairs
                        .iter()
                        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                        .collect(),
                ),
                ..Default::default()
            }
        };
        p1.pod.resources = Some(limits(&[("cpu", "1"), ("memory", "1Gi")]));
        p2.pod.resources = Some(limits(&[("memory", "1Gi"), ("cpu", "1")]));
        assert_eq!(p1.hash(), p2.hash());
    }

    #[test]
    fn numbering_lookup_and_pruning() {
        let kept = vec![
            revision(1, "a"),
            revision(2, "b"),
            revision(3, "c"),
            revision(5, "e"),
        ];
        assert_eq!(next_number(&kept), 6);
        assert_eq!(next_number(&[]), 1);
        assert_eq!(find_by_hash(&kept, "b").map(|r| r.number), Some(2));
        assert!(find_by_hash(&kept, "z").is_none());
        assert_eq!(prune(&kept, 2, &[5, 3]), [1, 2]);
        assert_eq!(
            prune(&kept, 2, &[1, 5]),
            [2, 3],
            "the stable revision is never pruned"
        );
        assert_eq!(prune(&kept, 10, &[]), Vec::<i64>::new());
        assert_eq!(prune(&kept, 1, &[1, 2, 3, 5]), Vec::<i64>::new());
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    /// A known input and its hash. If this fails, the recipe changed: every running service
    /// would see a new revision after an operator upgrade. Bump `HASH_SCHEMA` deliberately instead.
    #[test]
    fn hash_recipe_is_pinned() {
        let content = RevisionContent {
            version: "1.4.2".into(),
            image: "ghcr.io/lockstep-dev/album-service:1.4.2".into(),
            config: "server:\n  port: 8080\n".into(),
            // What `pod: {}` recorded before the port was optional (and what `content()`
            // records for it now): the same hash.
            pod: PodTemplate {
                port: Some(8080),
                ..PodTemplate::default()
            },
            app: None,
        };
        assert_eq!(content.hash(), PINNED);
    }

    // Cross-checked with Python: sha256 of json.dumps(doc, sort_keys=True, separators=(",", ":")).
    const PINNED: &str = "81d59d48f5faa39794c4f10aa6921362041d5c3764476a86aeba7a0f80685744";
}
