//! `spec.rollbackTo` as a spec patch: the release and pod fields of a kept revision.

use lockstep_service_config::{ConfigError, ServiceConfig};

use super::revision::Revision;

/// The merge patch that makes `rev` the spec's release again (`spec.rollbackTo`): image, version,
/// config and pod fields return together, and `rollbackTo` is cleared, so the spec tells the
/// truth to GitOps tools and `kubectl get -o yaml`. `current_release` and `current_pod` are the
/// spec's present values: every field they have that `rev` lacks is nulled, because a merge
/// patch otherwise keeps it (e.g. an env var or a CPU limit added after revision `rev`).
pub fn rollback_patch<C: ServiceConfig>(
    current_release: &serde_json::Value,
    current_pod: &serde_json::Value,
    rev: &Revision,
) -> Result<serde_json::Value, ConfigError> {
    let config: C = C::from_yaml(&rev.content.config)?;
    let release = serde_json::json!({
        "version": rev.content.version,
        "image": rev.content.image,
        "config": config,
    });
    let pod = serde_json::to_value(&rev.content.pod).unwrap_or(serde_json::Value::Null);
    Ok(release_patch(current_release, current_pod, &release, &pod))
}

/// `{"spec": {release, pod, rollbackTo: null}}`: the merge patch from the spec's present
/// `release` and `pod` to exactly `release` and `pod`.
pub fn release_patch(
    current_release: &serde_json::Value,
    current_pod: &serde_json::Value,
    release: &serde_json::Value,
    pod: &serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "spec": {
            "release": merge_patch_to(current_release, release),
            "pod": merge_patch_to(current_pod, pod),
            "rollbackTo": null,
        }
    })
}

/// The RFC 7386 merge patch that turns `current` into exactly `target`.
pub fn merge_patch_to(
    current: &serde_json::Value,
    target: &serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value;
    match (current, target) {
        (Value::Object(c), Value::Object(t)) => {
            let mut patch = serde_json::Map::new();
            for (k, tv) in t {
                patch.insert(
                    k.clone(),
                    merge_patch_to(c.get(k).unwrap_or(&Value::Null), tv),
                );
            }
            for k in c.keys().filter(|k| !t.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        (_, t) => t.clone(),
    }
}
