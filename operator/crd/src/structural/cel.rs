//! The CRD's `x-kubernetes-validations` rules, evaluated by a CEL interpreter with `self` bound
//! to the value at the rule's place, as the API server does after defaulting.
//!
//! Besides standard CEL (macros `has`, `all`, `exists`, `map`, `filter`), Kubernetes adds
//! libraries to its CEL environment; the ones our rules call are registered here (`isSorted`
//! from the list library). A rule that calls anything else fails to evaluate and is reported
//! as such, never as passed.

use std::sync::Arc;

use cel_interpreter::extractors::This;
use cel_interpreter::{Context, ExecutionError, Program, Value as Cel};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

use super::problem::Problem;

/// Kubernetes' `<list>.isSorted()`: elements in ascending order (equal neighbours allowed).
fn is_sorted(This(list): This<Arc<Vec<Cel>>>) -> Result<bool, ExecutionError> {
    for pair in list.windows(2) {
        match pair[0].partial_cmp(&pair[1]) {
            Some(std::cmp::Ordering::Greater) => return Ok(false),
            Some(_) => {}
            None => {
                return Err(ExecutionError::function_error(
                    "isSorted",
                    "elements are not comparable",
                ));
            }
        }
    }
    Ok(true)
}

/// Runs every rule of `schema` on `value`; a rule that is false or cannot be evaluated is a
/// problem at `path` with the rule's message.
pub fn check(value: &Value, schema: &JSONSchemaProps, path: &str) -> Vec<Problem> {
    let Some(rules) = &schema.x_kubernetes_validations else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rule in rules {
        let message = rule
            .message
            .clone()
            .unwrap_or_else(|| format!("failed rule: {}", rule.rule));
        let at = |message: String| Problem {
            path: rule
                .field_path
                .as_deref()
                .map_or_else(|| path.to_owned(), |f| format!("{path}{f}")),
            message,
        };
        match evaluate(&rule.rule, value) {
            Ok(true) => {}
            Ok(false) => out.push(at(format!("Invalid value: {message}"))),
            Err(e) => out.push(at(format!(
                "rule `{}` could not be evaluated: {e}",
                rule.rule
            ))),
        }
    }
    out
}

/// Evaluates `rule` with `self` = `value`: `Ok(passed)`, or why it could not run.
pub fn evaluate(rule: &str, value: &Value) -> Result<bool, String> {
    // The parser (antlr4rust) panics on some malformed input instead of returning its error;
    // the rules come from this build's CRDs (all parse, see the tests), but a panic must still
    // not take the plugin down.
    let program = std::panic::catch_unwind(|| Program::compile(rule))
        .map_err(|_| format!("`{rule}` does not parse"))?
        .map_err(|e| e.to_string())?;
    let mut context = Context::default();
    context.add_function("isSorted", is_sorted);
    let bound = cel_interpreter::to_value(value).map_err(|e| e.to_string())?;
    context.add_variable_from_value("self", bound);
    match program.execute(&context).map_err(|e| e.to_string())? {
        Cel::Bool(passed) => Ok(passed),
        other => Err(format!("the rule gave {other:?}, not a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubernetes_list_library_and_macros() {
        let steps = json!({"strategy": "Canary",
            "steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]});
        let sorted = "self.steps.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()";
        assert_eq!(evaluate(sorted, &steps), Ok(true));
        let unsorted = json!({"steps": [{"setWeight": 50}, {"setWeight": 10}]});
        assert_eq!(evaluate(sorted, &unsorted), Ok(false));
        assert_eq!(
            evaluate(
                "has(self.setWeight) != has(self.pause)",
                &json!({"pause": {}})
            ),
            Ok(true)
        );
        assert_eq!(
            evaluate(
                "has(self.setWeight) != has(self.pause)",
                &json!({"pause": {}, "setWeight": 5})
            ),
            Ok(false)
        );
        assert_eq!(
            evaluate(
                "self.strategy == 'Canary' || size(self.steps) == 0",
                &json!({"strategy": "Rolling", "steps": [{"setWeight": 5}]})
            ),
            Ok(false)
        );
    }

    fn rules(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if key == "x-kubernetes-validations" {
                        for rule in v.as_array().into_iter().flatten() {
                            out.push(rule["rule"].as_str().unwrap().to_owned());
                        }
                    } else {
                        rules(v, out);
                    }
                }
            }
            Value::Array(list) => list.iter().for_each(|v| rules(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_rule_of_the_crds_parses() {
        for crd in crate::crds() {
            let mut found = Vec::new();
            rules(&serde_json::to_value(&crd).unwrap(), &mut found);
            // Eight shared (a step, its header value and canary scale, the rollout five times);
            // AppService's two probes one each.
            let expected = if crd.spec.names.kind == "AppService" {
                10
            } else {
                8
            };
            assert_eq!(found.len(), expected, "{}", crd.spec.names.kind);
            for rule in found {
                assert!(Program::compile(&rule).is_ok(), "{rule}");
            }
        }
    }

    #[test]
    fn a_rule_that_cannot_run_is_an_error_not_a_pass() {
        assert!(evaluate("self.noSuchField == 1", &json!({})).is_err());
        assert!(evaluate("self.x.unknownFunction()", &json!({"x": [1]})).is_err());
        assert!(evaluate("self.x +", &json!({})).is_err(), "does not parse");
        assert!(evaluate("1", &json!({})).is_err(), "not a boolean");
    }
}
