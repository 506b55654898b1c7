//! Field ownership for server-side apply, as the "Server-Side Apply" documentation describes it:
//! each field manager owns the fields it set; an apply sets the fields it sends, removes the
//! fields its manager owned before and no longer sends (unless another manager owns them too),
//! and conflicts with fields another manager owns with a different value unless `force`.
//!
//! Lists: the real server merges a list whose schema says `x-kubernetes-list-type: map` (or a
//! built-in's `patchMergeKey`) element by element, by key, and treats other lists as atomic.
//! Here a list is associative when it is one of the Kubernetes lists in [`LIST_KEYS`] (by field
//! name) and every element is an object with a distinct scalar key; its elements are then
//! addressed by a path segment `[key=<JSON value>]` and owned field by field. Any other list is
//! atomic (owned and replaced whole).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A field: the keys from the root, e.g. `["spec", "template", "spec", "containers",
/// "[name=\"app\"]", "image"]`.
pub type Path = Vec<String>;

/// Associative lists of the Kubernetes API by field name, with their merge key(s) in order of
/// preference (`ports`: a container's `containerPort`, a Service's `port`).
pub const LIST_KEYS: &[(&str, &[&str])] = &[
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("env", &["name"]),
    ("volumes", &["name"]),
    ("imagePullSecrets", &["name"]),
    ("volumeMounts", &["mountPath"]),
    ("ports", &["containerPort", "port"]),
    ("conditions", &["type"]),
    // CustomResourceDefinition spec.versions.
    ("versions", &["name"]),
];

/// The merge key of the list `items` found under field `field`, if it is associative.
fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let (_, keys) = LIST_KEYS.iter().find(|(name, _)| *name == field)?;
    let key = keys
        .iter()
        .find(|k| items.first().is_some_and(|i| i.get(**k).is_some()))?;
    let mut seen = BTreeSet::new();
    items
        .iter()
        .all(|i| {
            i.get(*key)
                .is_some_and(|v| !v.is_object() && !v.is_array() && seen.insert(v.to_string()))
        })
        .then_some(*key)
}

/// `[key=value]` → `(key, value)`.
fn element(segment: &str) -> Option<(&str, Value)> {
    let inner = segment.strip_prefix('[')?.strip_suffix(']')?;
    let (key, value) = inner.split_once('=')?;
    Some((key, serde_json::from_str(value).ok()?))
}

/// The leaf fields of an applied or written object: scalars, atomic lists, empty objects, and
/// the fields of each element of an associative list. `apiVersion`, `kind` and `metadata` other
/// than labels and annotations are identity, not fields anyone owns.
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
        Value::Array(items) if !items.is_empty() => {
            let field = path.last().map_or("", String::as_str);
            let Some(key) = list_key(field, items) else {
                out.insert(path);
                return;
            };
            for item in items {
                let mut next = path.clone();
                next.push(format!("[{key}={}]", item[key]));
                walk(item, next, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// One step down from `at` along `segment`.
fn child<'a>(at: &'a Value, segment: &str) -> Option<&'a Value> {
    match element(segment) {
        Some((key, value)) => at.as_array()?.iter().find(|i| i.get(key) == Some(&value)),
        None => at.get(segment),
    }
}

/// The value at `path`, if any.
pub fn get<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| child(v, key))
}

/// One step down from `at` along `segment`, creating the object or list element on the way.
fn child_or_insert<'a>(at: &'a mut Value, segment: &str, list: bool) -> &'a mut Value {
    if let Some((key, value)) = element(segment) {
        if !at.is_array() {
            *at = Value::Array(Vec::new());
        }
        let Value::Array(items) = at else {
            unreachable!("made an array above")
        };
        let found = items.iter().position(|i| i.get(key) == Some(&value));
        let index = found.unwrap_or_else(|| {
            items.push(serde_json::json!({ key: value }));
            items.len() - 1
        });
        return &mut items[index];
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    let slot = &mut at[segment];
    if list && !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot
}

/// Sets `path` to `value`, creating objects and list elements on the way. An empty object
/// sent for an existing object is ownership of the field, not a request to clear it.
pub fn set(object: &mut Value, path: &[String], value: Value) {
    if value.as_object().is_some_and(Map::is_empty)
        && get(object, path).is_some_and(Value::is_object)
    {
        return;
    }
    let Some((last, parents)) = path.split_last() else {
        *object = value;
        return;
    };
    let mut at = object;
    for (i, key) in parents.iter().enumerate() {
        let next_is_element = element(path[i + 1].as_str()).is_some();
        if !next_is_element && child(at, key).is_some_and(|c| !c.is_object()) {
            // A scalar in the way of an object path: replaced, as an apply would.
            at[key.as_str()] = Value::Object(Map::new());
        }
        at = child_or_insert(at, key, next_is_element);
    }
    if element(last).is_some() {
        *child_or_insert(at, last, false) = value;
    } else {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at[last.as_str()] = value;
    }
}

/// Removes `path`, and any object, list element or list that it leaves empty on the way up.
/// Removing the merge key of a list element removes the element: nobody sends it any more.
pub fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let is_element_key = parents
        .last()
        .and_then(|p| element(p))
        .is_some_and(|(key, _)| key == last);
    if is_element_key {
        remove(object, parents);
        return;
    }
    let mut at = &mut *object;
    for key in parents {
        let next = match element(key) {
            Some((k, v)) => at
                .as_array_mut()
                .and_then(|items| items.iter_mut().find(|i| i.get(k) == Some(&v))),
            None => at.get_mut(key.as_str()),
        };
        match next {
            Some(next) => at = next,
            None => return,
        }
    }
    let emptied = match (element(last), at) {
        (Some((k, v)), Value::Array(items)) => {
            items.retain(|i| i.get(k) != Some(&v));
            items.is_empty()
        }
        (None, Value::Object(members)) => {
            members.remove(last);
            members.is_empty()
                || parents
                    .last()
                    .and_then(|p| element(p))
                    .is_some_and(|(k, _)| members.len() == 1 && members.contains_key(k))
        }
        _ => false,
    };
    if emptied && !parents.is_empty() {
        remove(object, parents);
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
    fn fields_are_leaves() {
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
                p(&["spec", "template", "containers", "[name=\"c\"]", "name"]),
            ]
        );
    }

    #[test]
    fn associative_lists_are_owned_per_element_and_field() {
        let obj = json!({"spec": {"containers": [{"name": "app", "image": "a:1"},
                                                  {"name": "side", "image": "s:1"}],
                                  "args": ["x", "y"], "env": [{"value": "no name"}]}});
        let got: Vec<Path> = fields(&obj).into_iter().collect();
        assert_eq!(
            got,
            [
                p(&["spec", "args"]),
                p(&["spec", "containers", "[name=\"app\"]", "image"]),
                p(&["spec", "containers", "[name=\"app\"]", "name"]),
                p(&["spec", "containers", "[name=\"side\"]", "image"]),
                p(&["spec", "containers", "[name=\"side\"]", "name"]),
                p(&["spec", "env"]),
            ],
            "a list without its merge key is atomic"
        );
        let image = p(&["spec", "containers", "[name=\"side\"]", "image"]);
        assert_eq!(get(&obj, &image), Some(&json!("s:1")));

        let mut edited = obj;
        set(&mut edited, &image, json!("s:2"));
        set(
            &mut edited,
            &p(&["spec", "containers", "[name=\"new\"]", "image"]),
            json!("n:1"),
        );
        assert_eq!(
            edited["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:2"},
                   {"name": "new", "image": "n:1"}])
        );
        // Dropping an element's key (no manager sends the element) drops the element; the
        // last element takes the list with it.
        remove(
            &mut edited,
            &p(&["spec", "containers", "[name=\"side\"]", "name"]),
        );
        remove(
            &mut edited,
            &p(&["spec", "containers", "[name=\"new\"]", "image"]),
        );
        assert_eq!(
            edited["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}])
        );
        remove(
            &mut edited,
            &p(&["spec", "containers", "[name=\"app\"]", "image"]),
        );
        assert!(edited["spec"].get("containers").is_none(), "{edited}");
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
