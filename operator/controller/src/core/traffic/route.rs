//! The edit of a Gateway API `HTTPRoute` that puts a [`Split`] in place, touching nothing else.
//!
//! Upstream's `rules` is an atomic list: a server-side apply of one weight would own (and
//! rewrite) every rule. So the edit is a read-modify-write of the rules as the server holds
//! them, sent with the resourceVersion it was read at (a concurrent change is a 409, retried
//! from a fresh read):
//!
//! - in every rule that sends to both `<name>-stable` and `<name>-canary`, exactly those two
//!   `weight`s change; other backends, matches, filters and unknown fields stay as they are;
//! - header routes are rules of their own whose only backend is `<name>-canary`, marked by a
//!   `RequestHeaderModifier` that sets `x-lockstep-header-route: <name>` (core support in every
//!   implementation; the canary sees which route sent a request) — the ones the split no longer
//!   asks for are removed, the missing ones appended; no other rule moves, and a rule someone
//!   else sends to the canary is not ours.
//!
//! Everything is written in the form the server stores after defaulting (weights, header match
//! types), so a route that holds the split compares equal and costs no write.

use serde_json::{Map, Value, json};

use super::Split;
use lockstep_crd::traffic::{HeaderMatch, HeaderRoute};

/// Upstream's limits the edit could break: a route holds at most 16 rules.
const MAX_RULES: usize = 16;
/// A rule holds at most 64 matches.
const MAX_MATCHES: usize = 64;

/// The two Services whose weights are set, as the route names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backends {
    /// `<name>-stable`.
    pub stable: String,
    /// `<name>-canary`.
    pub canary: String,
    /// The service's namespace.
    pub namespace: String,
    /// The route's namespace: a backendRef without a namespace is in this one.
    pub route_namespace: String,
}

/// Why the split cannot be written: the rollout holds, with this as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    /// No such route (or no `HTTPRoute` kind: the Gateway API CRDs are not installed).
    #[error("HTTPRoute {0} not found (are the Gateway API CRDs installed and the route created?)")]
    Missing(String),
    /// The operator may not read it.
    #[error("HTTPRoute {0} cannot be read: {1}")]
    Unreadable(String, String),
    /// No rule sends to both Services.
    #[error(
        "HTTPRoute {route} has no rule with both backendRefs {stable} and {canary}: add them (weights are set by the rollout)"
    )]
    NoBackends {
        /// `namespace/name`.
        route: String,
        /// `<name>-stable`.
        stable: String,
        /// `<name>-canary`.
        canary: String,
    },
    /// The edit would break one of upstream's limits; the server would refuse it.
    #[error("HTTPRoute {0}: {1}")]
    Limit(String, String),
}

impl Backends {
    fn is(&self, backend: &Value, name: &str) -> bool {
        let field = |f: &str| backend.get(f).and_then(Value::as_str);
        let namespace = field("namespace").unwrap_or(&self.route_namespace);
        field("name") == Some(name)
            && matches!(field("group"), None | Some(""))
            && matches!(field("kind"), None | Some("Service"))
            && namespace == self.namespace
    }

    fn refs(rule: &Value) -> &[Value] {
        rule.get("backendRefs")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// A rule that sends to both Services: its two weights are the split's.
    fn is_split_rule(&self, rule: &Value) -> bool {
        let refs = Self::refs(rule);
        refs.iter().any(|b| self.is(b, &self.stable))
            && refs.iter().any(|b| self.is(b, &self.canary))
    }

    /// One of our header routes: its only backend is `<name>-canary` and it carries our mark.
    fn is_header_rule(&self, rule: &Value) -> bool {
        let marked = rule
            .get("filters")
            .and_then(Value::as_array)
            .is_some_and(|filters| filters.iter().any(is_mark));
        marked && matches!(Self::refs(rule), [only] if self.is(only, &self.canary))
    }
}

/// Whether the route's `rules` can carry a split: some rule sends to both Services.
pub fn check(route: &str, rules: &[Value], b: &Backends) -> Result<(), RouteProblem> {
    if rules.iter().any(|r| b.is_split_rule(r)) {
        return Ok(());
    }
    Err(RouteProblem::NoBackends {
        route: route.to_owned(),
        stable: b.stable.clone(),
        canary: b.canary.clone(),
    })
}

/// The rules that put `split` in place, or `None` when `rules` hold it already.
pub fn edit(
    route: &str,
    rules: &[Value],
    b: &Backends,
    split: &Split,
) -> Result<Option<Vec<Value>>, RouteProblem> {
    check(route, rules, b)?;
    let canary = u64::from(split.weight.min(100));
    let mut out: Vec<Value> = Vec::with_capacity(rules.len() + split.headers.len());
    let mut split_rules = Vec::new();
    for rule in rules.iter().filter(|r| !b.is_header_rule(r)) {
        let mut rule = rule.clone();
        if b.is_split_rule(&rule) {
            set_weights(&mut rule, b, 100 - canary, canary);
            split_rules.push(rule.clone());
        }
        out.push(rule);
    }
    for header in &split.headers {
        out.push(header_rule(route, &split_rules, b, header)?);
    }
    if out.len() > MAX_RULES {
        let why = format!(
            "{} rules with the header routes, more than the {MAX_RULES} a route may hold",
            out.len()
        );
        return Err(RouteProblem::Limit(route.to_owned(), why));
    }
    Ok((out.as_slice() != rules).then_some(out))
}

/// The weights the route holds: `(stable, canary)` of the first rule with both backends (a
/// missing weight is upstream's default, 1). The status reports the split the operator wrote;
/// this reads back what a route says, to check an edit.
pub fn weights(rules: &[Value], b: &Backends) -> Option<(u64, u64)> {
    let rule = rules.iter().find(|r| b.is_split_rule(r))?;
    let weight = |name: &str| {
        Backends::refs(rule)
            .iter()
            .find(|r| b.is(r, name))
            .map(|r| r.get("weight").and_then(Value::as_u64).unwrap_or(1))
    };
    Some((weight(&b.stable)?, weight(&b.canary)?))
}

fn set_weights(rule: &mut Value, b: &Backends, stable: u64, canary: u64) {
    let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
        return;
    };
    for r in refs {
        let weight = if b.is(r, &b.stable) {
            stable
        } else if b.is(r, &b.canary) {
            canary
        } else {
            continue;
        };
        r["weight"] = json!(weight);
    }
}

/// A header route: the split rules' matches (their paths; `PathPrefix /` when they have none),
/// each with the route's headers added, sending to the canary alone. Gateway API ranks a match
/// with more headers above one with fewer on the same path, so it wins wherever it sits.
fn header_rule(
    route: &str,
    split_rules: &[Value],
    b: &Backends,
    header: &HeaderRoute,
) -> Result<Value, RouteProblem> {
    let headers: Vec<Value> = header.matches.iter().map(header_match).collect();
    let base: Vec<Value> = split_rules
        .iter()
        .flat_map(|r| {
            r.get("matches")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let base = if base.is_empty() {
        vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]
    } else {
        base
    };
    if base.len() > MAX_MATCHES {
        let why = format!(
            "header route {} needs {} matches, more than {MAX_MATCHES}",
            header.name,
            base.len()
        );
        return Err(RouteProblem::Limit(route.to_owned(), why));
    }
    let matches: Vec<Value> = base
        .into_iter()
        .map(|mut m| {
            let mut all = m
                .get("headers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            all.extend(headers.iter().cloned());
            m["headers"] = Value::Array(all);
            m
        })
        .collect();
    let canary = split_rules
        .iter()
        .flat_map(Backends::refs)
        .find(|r| b.is(r, &b.canary))
        .cloned()
        .unwrap_or_else(|| json!({"name": b.canary}));
    let mut canary = canary.as_object().cloned().unwrap_or_else(Map::new);
    canary.insert("weight".into(), json!(1));
    let mark = json!({"type": "RequestHeaderModifier",
                      "requestHeaderModifier": {"set": [{"name": MARK, "value": header.name}]}});
    Ok(json!({"matches": matches, "filters": [mark], "backendRefs": [canary]}))
}

/// The header our header-route rules set on the requests they send: it marks the rule as ours.
pub const MARK: &str = "x-lockstep-header-route";

/// Whether a filter is our mark: a `RequestHeaderModifier` that sets [`MARK`].
fn is_mark(filter: &Value) -> bool {
    let set = filter
        .get("requestHeaderModifier")
        .and_then(|m| m.get("set"))
        .and_then(Value::as_array);
    set.is_some_and(|set| {
        set.iter()
            .any(|h| h.get("name").and_then(Value::as_str) == Some(MARK))
    })
}

/// One header as Gateway API matches it. A prefix is a regular expression: upstream has no
/// prefix match for headers.
fn header_match(m: &HeaderMatch) -> Value {
    let (kind, value) = match (&m.value.exact, &m.value.prefix, &m.value.regular_expression) {
        (Some(exact), _, _) => ("Exact", exact.clone()),
        (None, Some(prefix), _) => ("RegularExpression", format!("^{}.*", escape(prefix))),
        (None, None, Some(regex)) => ("RegularExpression", regex.clone()),
        // The CRD admits exactly one; nothing at all matches only an empty value.
        (None, None, None) => ("Exact", String::new()),
    };
    json!({"type": kind, "name": m.header_name, "value": value})
}

/// `text` as a regular expression matching it literally (RE2 and PCRE metacharacters escaped).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
