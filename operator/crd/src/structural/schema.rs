//! A CRD's structural schema applied the way the API server applies it to a create or update
//! ("Extend the Kubernetes API with CustomResourceDefinitions": pruning, defaulting,
//! validation, CEL), offline:
//!
//! 1. fields the schema does not know are pruned ([`prune`], the server's default) or refused
//!    (kubectl's default `--validate=strict`: [`validate`] reports them);
//! 2. `null` in a field that is not `nullable` is dropped (the server prunes it);
//! 3. missing fields get their `default`, where their parent object exists;
//! 4. types, `required`, `enum`, bounds and sizes are checked;
//! 5. `x-kubernetes-validations` rules run ([`super::cel`]) on subtrees that passed 4.
//!
//! [`KNOWN`] lists the schema keywords handled; a test fails if the CRDs start using another,
//! so nothing in the schema is silently left unchecked.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

use super::problem::Problem;

/// The schema keywords this module implements (the rest are documentation).
pub const KNOWN: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "nullable",
    "default",
    "format",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "description",
    "title",
];

fn items(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.items.as_ref()? {
        JSONSchemaPropsOrArray::Schema(s) => Some(s),
        JSONSchemaPropsOrArray::Schemas(s) => s.first(),
    }
}

fn additional(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.additional_properties.as_ref()? {
        JSONSchemaPropsOrBool::Schema(s) => Some(s),
        JSONSchemaPropsOrBool::Bool(_) => None,
    }
}

/// Step 1, the API server's way: removes every field `schema` does not declare (unless it says
/// `x-kubernetes-preserve-unknown-fields`), returning their paths (the server sends them back
/// as warnings).
pub fn prune(value: &mut Value, schema: &JSONSchemaProps, path: &str) -> Vec<String> {
    let mut pruned = Vec::new();
    match value {
        Value::Object(map) => {
            if let Some(properties) = &schema.properties {
                if schema.x_kubernetes_preserve_unknown_fields != Some(true) {
                    map.retain(|k, _| {
                        let known = properties.contains_key(k);
                        if !known {
                            pruned.push(join(path, k));
                        }
                        known
                    });
                }
                for (name, v) in map.iter_mut() {
                    if let Some(property) = properties.get(name) {
                        pruned.extend(prune(v, property, &join(path, name)));
                    }
                }
            } else if let Some(values) = additional(schema) {
                for (name, v) in map.iter_mut() {
                    pruned.extend(prune(v, values, &join(path, name)));
                }
            } else if schema.x_kubernetes_preserve_unknown_fields != Some(true)
                && schema.additional_properties.is_none()
                && !map.is_empty()
            {
                pruned.extend(map.keys().map(|k| join(path, k)));
                map.clear();
            }
        }
        Value::Array(list) => {
            if let Some(item) = items(schema) {
                for (i, v) in list.iter_mut().enumerate() {
                    pruned.extend(prune(v, item, &format!("{path}[{i}]")));
                }
            }
        }
        _ => {}
    }
    pruned
}

/// Steps 2 and 3: drops nulls that are not allowed and fills defaults in place.
pub fn default(value: &mut Value, schema: &JSONSchemaProps) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = &schema.properties {
                map.retain(|k, v| {
                    !v.is_null() || properties.get(k).is_none_or(|p| p.nullable == Some(true))
                });
                for (name, property) in properties {
                    if let (false, Some(default)) = (map.contains_key(name), &property.default) {
                        map.insert(name.clone(), default.0.clone());
                    }
                }
                for (name, v) in map.iter_mut() {
                    if let Some(property) = properties.get(name) {
                        default(v, property);
                    }
                }
            } else if let Some(values) = additional(schema) {
                map.values_mut().for_each(|v| default(v, values));
            }
        }
        Value::Array(list) => {
            if let Some(item) = items(schema) {
                list.iter_mut().for_each(|v| default(v, item));
            }
        }
        _ => {}
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(value: &Value, schema: &JSONSchemaProps) -> bool {
    if value.is_null() {
        return schema.nullable == Some(true);
    }
    if schema.x_kubernetes_int_or_string == Some(true) {
        return matches!(type_name(value), "integer" | "string");
    }
    match schema.type_.as_deref() {
        None => true,
        Some("number") => value.is_number(),
        Some(t) => t == type_name(value),
    }
}

/// Step 3 (and 4 through `cel`): every problem under `path`.
pub fn validate(
    value: &Value,
    schema: &JSONSchemaProps,
    path: &str,
    cel: &mut dyn FnMut(&Value, &JSONSchemaProps, &str) -> Vec<Problem>,
) -> Vec<Problem> {
    let at = |message: String| Problem {
        path: path.to_owned(),
        message,
    };
    if !type_ok(value, schema) {
        let want = schema.type_.as_deref().unwrap_or("integer or string");
        return vec![at(format!(
            "Invalid value: {}: must be of type {want}",
            type_name(value)
        ))];
    }
    let mut out = Vec::new();
    if let Some(allowed) = &schema.enum_
        && !allowed.iter().any(|a| a.0 == *value)
    {
        let list: Vec<String> = allowed.iter().map(|a| a.0.to_string()).collect();
        out.push(at(format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        )));
    }
    if let Some(n) = value.as_f64() {
        let exclusive = |flag: Option<bool>| flag == Some(true);
        if let Some(min) = schema.minimum
            && (n < min || (exclusive(schema.exclusive_minimum) && n == min))
        {
            out.push(at(format!(
                "Invalid value: {value}: should be greater than or equal to {min}"
            )));
        }
        if let Some(max) = schema.maximum
            && (n > max || (exclusive(schema.exclusive_maximum) && n == max))
        {
            out.push(at(format!(
                "Invalid value: {value}: should be less than or equal to {max}"
            )));
        }
    }
    let size = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let bounds = |len: i64, min: Option<i64>, max: Option<i64>, what: &str| {
        let mut found = Vec::new();
        if min.is_some_and(|m| len < m) {
            found.push(format!("must have at least {} {what}", min.unwrap_or(0)));
        }
        if max.is_some_and(|m| len > m) {
            found.push(format!("must have at most {} {what}", max.unwrap_or(0)));
        }
        found
    };
    match value {
        Value::String(s) => {
            let len = size(s.chars().count());
            for m in bounds(len, schema.min_length, schema.max_length, "characters") {
                out.push(at(format!("Invalid value: {value}: {m}")));
            }
            if let Some(pattern) = &schema.pattern {
                match matches(pattern, s) {
                    Ok(true) => {}
                    Ok(false) => out.push(at(format!(
                        "Invalid value: {value}: should match '{pattern}'"
                    ))),
                    Err(e) => out.push(at(format!("the schema's pattern does not compile: {e}"))),
                }
            }
        }
        Value::Array(list) => {
            for m in bounds(
                size(list.len()),
                schema.min_items,
                schema.max_items,
                "items",
            ) {
                out.push(at(format!("Too many or too few items: {m}")));
            }
            if let Some(item) = items(schema) {
                for (i, v) in list.iter().enumerate() {
                    out.extend(validate(v, item, &format!("{path}[{i}]"), cel));
                }
            }
        }
        Value::Object(map) => {
            for name in schema.required.iter().flatten() {
                if !map.contains_key(name) {
                    out.push(Problem {
                        path: join(path, name),
                        message: "Required value".into(),
                    });
                }
            }
            for (name, v) in map {
                let child = join(path, name);
                match (schema.properties.as_ref(), additional(schema)) {
                    (Some(props), _) if props.contains_key(name) => {
                        out.extend(validate(v, &props[name], &child, cel));
                    }
                    (None, Some(values)) => out.extend(validate(v, values, &child, cel)),
                    _ if schema.x_kubernetes_preserve_unknown_fields == Some(true) => {}
                    _ if schema.properties.is_none() && schema.additional_properties.is_some() => {}
                    _ => out.push(Problem {
                        path: child,
                        message: "unknown field".into(),
                    }),
                }
            }
        }
        _ => {}
    }
    if out.is_empty() {
        out.extend(cel(value, schema, path));
    }
    out
}

/// Whether `text` matches `pattern`, with compiled patterns kept for the process.
fn matches(pattern: &str, text: &str) -> Result<bool, regex::Error> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static COMPILED: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let mut cache = COMPILED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !cache.contains_key(pattern) {
        cache.insert(pattern.to_owned(), regex::Regex::new(pattern)?);
    }
    Ok(cache[pattern].is_match(text))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The keywords `schema` and its subschemas use that are not in [`KNOWN`].
pub fn unknown_keywords(schema: &JSONSchemaProps) -> Vec<String> {
    let mut out = Vec::new();
    let value = serde_json::to_value(schema).unwrap_or(Value::Null);
    collect(&value, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect(schema: &Value, out: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    for (key, v) in map {
        if !KNOWN.contains(&key.as_str()) {
            out.push(key.clone());
        }
        match key.as_str() {
            "properties" => v
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .for_each(|p| collect(p, out)),
            "items" | "additionalProperties" => collect(v, out),
            _ => {}
        }
    }
}
