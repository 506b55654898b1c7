//! JSON merge patch (RFC 7386): computing the exact patch between two documents, and applying
//! one the way the API server does.
//!
//! A merge patch only removes what it names with `null`. A status written as "the new struct,
//! `None` fields skipped" therefore leaves every field that became `None` on the server
//! forever (a STEP column on a Healthy service, stale analysis passes). [`diff`] writes the
//! nulls; [`apply`] is what the server does with them (the fake API server applies patches
//! with it, and the kubectl plugin computes its edits with both).

use serde_json::{Map, Value};

/// The merge patch that turns `from` into `to`: changed members, `null` for removed members,
/// nested objects patched member by member, anything else (arrays included) replaced whole.
/// Equal documents give an empty object.
///
/// `to` must not contain `null` members: RFC 7386 cannot express "set to null" (a serialised
/// struct with `skip_serializing_if = "Option::is_none"` never does).
pub fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(from), Value::Object(to)) => {
            let mut patch = Map::new();
            for (key, old) in from {
                match to.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new) if new != old => {
                        patch.insert(key.clone(), diff(old, new));
                    }
                    Some(_) => {}
                }
            }
            for (key, new) in to {
                if !from.contains_key(key) {
                    patch.insert(key.clone(), new.clone());
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// Applies `patch` to `target` as RFC 7386 section 2 specifies.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(members) = target {
        for (key, value) in patch {
            if value.is_null() {
                members.remove(key);
            } else {
                apply(members.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Whether applying `patch` changes nothing (an empty object).
pub fn is_empty(patch: &Value) -> bool {
    patch.as_object().is_some_and(Map::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386 Appendix A, every example: (original, patch, result).
    fn appendix_a() -> Vec<(Value, Value, Value)> {
        vec![
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ]
    }

    #[test]
    fn apply_follows_rfc_7386_appendix_a() {
        for (original, patch, result) in appendix_a() {
            let mut doc = original.clone();
            apply(&mut doc, &patch);
            assert_eq!(doc, result, "{original} + {patch}");
        }
    }

    #[test]
    fn diff_then_apply_reaches_the_target_and_names_removals() {
        let from = json!({"phase":"Progressing","step":4,"stepStartedAt":"t","analysisPasses":2,
            "nested":{"keep":1,"drop":2},"conditions":[{"type":"A"}]});
        let to = json!({"phase":"Healthy","nested":{"keep":1},"conditions":[{"type":"B"}]});
        let patch = diff(&from, &to);
        assert_eq!(
            patch,
            json!({"phase":"Healthy","step":null,"stepStartedAt":null,"analysisPasses":null,
                "nested":{"drop":null},"conditions":[{"type":"B"}]})
        );
        let mut doc = from;
        apply(&mut doc, &patch);
        assert_eq!(doc, to);
        assert!(is_empty(&diff(&to, &to)));
    }

    #[test]
    fn diff_round_trips_on_generated_documents() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
            proptest::collection::vec(any::<u8>().prop_map(Value::from), 0..3)
                .prop_map(Value::from),
        ];
        let doc = leaf.prop_recursive(3, 16, 4, |inner| {
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        proptest!(|(from in doc.clone(), to in doc)| {
            let mut got = from.clone();
            apply(&mut got, &diff(&from, &to));
            prop_assert_eq!(got, to);
        });
    }
}
