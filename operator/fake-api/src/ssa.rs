//! Field ownership for server-side apply, as the "Server-Side Apply" documentation describes it:
//! each field manager owns the fields it set; an apply sets the fields it sends, removes the
//! fields its manager owned before and no longer sends (unless another manager owns them too),
//! and conflicts with fields another manager owns with a different value unless `force`.
//!
//! Simplification, stated: lists are atomic (owned and replaced whole), where the real server
//! merges lists with merge keys (containers by name). Lockstep applies each object from one
//! manager, so the difference does not show in its tests.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A field: the object keys from the root, e.g. `["spec", "template", "spec", "containers"]`.
pub type Path = Vec<String>;

/// The leaf fields of an applied or written object: scalars and lists, and empty objects.
/// `apiVersion`, `kind` and `metadata` other than labels and annotations are identity, not
/// fields anyone owns.
pub fn fields(object: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Value::Object(members) = object else {
        return out;
    };
    for (key, value) in members {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for owned in ["labels", "annotations"] {
                    if let Some(v) = value.get(owned) {
                        walk(v, vec![key.clone(), owned.to_owned()], &mut out);
                    }
                }
            }
            _ => walk(value, vec![key.clone()], &mut out),
        }
    }
    out
}

fn walk(value: &Value, path: Path, out: &mut BTreeSet<Path>) {
    match value {
        Value::Object(members) if !members.is_empty() => {
            for (key, v) in members {
                let mut next = path.clone();
                next.push(key.clone());
                walk(v, next, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path`, if any.
pub fn get<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

/// Sets `path` to `value`, creating objects on the way.
pub fn set(object: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *object = value;
        return;
    };
    let mut at = object;
    for key in parents {
        if !at.get(key).is_some_and(Value::is_object) {
            at[key.as_str()] = Value::Object(Map::new());
        }
        at = &mut at[key.as_str()];
    }
    at[last.as_str()] = value;
}

/// Removes `path`, and any object that it leaves empty on the way up.
pub fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = &mut *object;
    for key in parents {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Value::Object(members) = at {
        members.remove(last);
        if members.is_empty() && !parents.is_empty() {
            remove(object, parents);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(path: &[&str]) -> Path {
        path.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fields_are_leaves_and_lists_are_atomic() {
        let obj = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"l": "1"}},
            "spec": {"replicas": 3, "template": {"containers": [{"name": "c"}]}, "empty": {}}});
        let got: Vec<Path> = fields(&obj).into_iter().collect();
        assert_eq!(
            got,
            [
                p(&["metadata", "labels", "l"]),
                p(&["spec", "empty"]),
                p(&["spec", "replicas"]),
                p(&["spec", "template", "containers"]),
            ]
        );
    }

    #[test]
    fn remove_prunes_emptied_parents_and_set_creates_them() {
        let mut obj = json!({"spec": {"a": {"b": 1}, "c": 2}});
        remove(&mut obj, &p(&["spec", "a", "b"]));
        assert_eq!(obj, json!({"spec": {"c": 2}}));
        set(&mut obj, &p(&["spec", "x", "y"]), json!(5));
        assert_eq!(get(&obj, &p(&["spec", "x", "y"])), Some(&json!(5)));
    }
}
