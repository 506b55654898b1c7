//! The route edit (`core::traffic::route`): exactly the two weights and the header rules change,
//! written in the form the server stores so an unchanged split costs no write. Each of the
//! three upstream bugs #30 names has a test here: weights ignored (argo-rollouts#4569), header
//! rules rewritten by a weight change (rollouts-plugin-trafficrouter-gatewayapi#158), foreign
//! backends stripped (#203).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockstep_crd::traffic::{HeaderMatch, HeaderRoute, HeaderValue};
use lockstep_operator::core::traffic::Split;
use lockstep_operator::core::traffic::route::{Backends, RouteProblem, edit, escape, weights};
use serde_json::{Value, json};

fn backends() -> Backends {
    Backends {
        stable: "web-stable".into(),
        canary: "web-canary".into(),
        namespace: "shop".into(),
        route_namespace: "shop".into(),
    }
}

/// A route as the server holds it (defaulted): our split rule with a foreign backend and a
/// filter, and a foreign rule.
fn rules() -> Vec<Value> {
    serde_json::from_value(json!([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
         "filters": [{"type": "RequestHeaderModifier",
                      "requestHeaderModifier": {"set": [{"name": "x-team", "value": "shop"}]}}],
         "backendRefs": [
            {"group": "", "kind": "Service", "name": "web-stable", "port": 80, "weight": 100},
            {"group": "", "kind": "Service", "name": "web-canary", "port": 80, "weight": 0},
            {"group": "", "kind": "Service", "name": "legacy", "port": 8080, "weight": 7}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
         "backendRefs": [{"group": "", "kind": "Service", "name": "docs", "port": 80, "weight": 1}]}
    ]))
    .unwrap()
}

fn split(weight: u8, headers: Vec<HeaderRoute>) -> Split {
    Split {
        stable: Some(1),
        canary: Some(2),
        weight,
        headers,
    }
}

fn header(name: &str, value: HeaderValue) -> HeaderRoute {
    HeaderRoute {
        name: name.into(),
        matches: vec![HeaderMatch {
            header_name: "x-canary".into(),
            value,
        }],
    }
}

fn exact(v: &str) -> HeaderValue {
    HeaderValue {
        exact: Some(v.into()),
        prefix: None,
        regular_expression: None,
    }
}

/// Everything but our two weights, to compare before and after.
fn without_our_weights(rules: &[Value]) -> Vec<Value> {
    let mut rules = rules.to_vec();
    for r in rules[0]["backendRefs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .take(2)
    {
        r.as_object_mut().unwrap().remove("weight");
    }
    rules
}

#[test]
fn each_weight_is_written_exactly_and_nothing_else() {
    let mut route = rules();
    for w in [5u8, 25, 100] {
        let edited = edit("shop/web", &route, &backends(), &split(w, vec![]))
            .unwrap()
            .unwrap();
        let refs = &edited[0]["backendRefs"];
        assert_eq!(
            (refs[0]["weight"].clone(), refs[1]["weight"].clone()),
            (json!(100 - w), json!(w))
        );
        assert_eq!(
            refs[2], route[0]["backendRefs"][2],
            "the foreign backend and its weight stay"
        );
        assert_eq!(
            without_our_weights(&edited),
            without_our_weights(&rules()),
            "rules, filters, matches stay"
        );
        assert_eq!(
            weights(&edited, &backends()),
            Some((u64::from(100 - w), u64::from(w)))
        );
        route = edited;
    }
    assert_eq!(
        edit("shop/web", &route, &backends(), &split(100, vec![])).unwrap(),
        None,
        "a route that holds the split costs no write"
    );
    let back = edit("shop/web", &route, &backends(), &split(0, vec![]))
        .unwrap()
        .unwrap();
    assert_eq!(back, rules(), "abort: 100/0, the route as it was");
}

#[test]
fn a_header_route_is_a_rule_of_its_own_and_a_weight_change_leaves_it() {
    let b = backends();
    let with = edit(
        "shop/web",
        &rules(),
        &b,
        &split(5, vec![header("testers", exact("yes"))]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(with.len(), 3, "appended; no rule moved");
    assert_eq!(
        &with[..2],
        &edit("shop/web", &rules(), &b, &split(5, vec![]))
            .unwrap()
            .unwrap()[..]
    );
    assert_eq!(
        with[2],
        json!({"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                            "headers": [{"type": "Exact", "name": "x-canary", "value": "yes"}]}],
               "filters": [{"type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"set": [{"name": "x-lockstep-header-route",
                                                               "value": "testers"}]}}],
               "backendRefs": [{"group": "", "kind": "Service", "name": "web-canary", "port": 80,
                                "weight": 1}]})
    );
    // The next weight changes the weights only: the header rule is untouched (gatewayapi#158).
    let next = edit(
        "shop/web",
        &with,
        &b,
        &split(25, vec![header("testers", exact("yes"))]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(next[2], with[2]);
    assert_eq!(next[0]["backendRefs"][1]["weight"], 25);
    // Removed by a later step (or completion, abort): the route is as it would be without.
    let removed = edit("shop/web", &next, &b, &split(25, vec![]))
        .unwrap()
        .unwrap();
    assert_eq!(
        removed,
        edit("shop/web", &rules(), &b, &split(25, vec![]))
            .unwrap()
            .unwrap()
    );
}

#[test]
fn a_prefix_is_an_escaped_regular_expression() {
    let prefix = HeaderValue {
        exact: None,
        prefix: Some("beta.1+".into()),
        regular_expression: None,
    };
    let edited = edit(
        "shop/web",
        &rules(),
        &backends(),
        &split(0, vec![header("beta", prefix)]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        edited[2]["matches"][0]["headers"][0],
        json!({"type": "RegularExpression", "name": "x-canary", "value": "^beta\\.1\\+.*"})
    );
    assert_eq!(
        escape("a.b*c(d)[e]{f}|g^h$i\\?"),
        "a\\.b\\*c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$i\\\\\\?"
    );
}

#[test]
fn a_route_without_both_backends_or_over_the_limits_is_a_problem() {
    let b = backends();
    let foreign_only = vec![rules()[1].clone()];
    assert!(matches!(
        edit("shop/web", &foreign_only, &b, &split(5, vec![])),
        Err(RouteProblem::NoBackends { .. })
    ));
    // The same names in another namespace are someone else's Services.
    let elsewhere = Backends {
        namespace: "other".into(),
        ..backends()
    };
    assert!(edit("shop/web", &rules(), &elsewhere, &split(5, vec![])).is_err());
    // A route in another namespace names our backends with their namespace.
    let mut cross = rules();
    for r in cross[0]["backendRefs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .take(2)
    {
        r["namespace"] = json!("shop");
    }
    let from_gateway_ns = Backends {
        route_namespace: "gateways".into(),
        ..backends()
    };
    assert!(edit("gateways/web", &cross, &from_gateway_ns, &split(5, vec![])).is_ok());
    assert!(
        edit(
            "gateways/web",
            &rules(),
            &from_gateway_ns,
            &split(5, vec![])
        )
        .is_err()
    );
    // Sixteen rules already: a header rule would be a seventeenth, which the server refuses.
    let mut full = rules();
    full.extend(std::iter::repeat_n(rules()[1].clone(), 14));
    let problem = edit(
        "shop/web",
        &full,
        &b,
        &split(5, vec![header("t", exact("1"))]),
    )
    .unwrap_err();
    assert!(
        problem.to_string().contains("more than the 16"),
        "{problem}"
    );
}

/// A rule someone else sends to the canary alone (a permanent `/canary` path) is theirs: kept
/// through every edit, never taken for a header route.
#[test]
fn a_foreign_rule_to_the_canary_is_not_a_header_route() {
    let b = backends();
    let mut route = rules();
    route.push(
        json!({"matches": [{"path": {"type": "PathPrefix", "value": "/canary"}}],
                      "backendRefs": [{"group": "", "kind": "Service", "name": "web-canary",
                                       "port": 80, "weight": 1}]}),
    );
    let with = edit(
        "shop/web",
        &route,
        &b,
        &split(25, vec![header("t", exact("1"))]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(with.len(), 4);
    assert_eq!(with[2], route[2], "theirs, in place");
    let without = edit("shop/web", &with, &b, &split(0, vec![]))
        .unwrap()
        .unwrap();
    assert_eq!(without, route, "our header rule gone, theirs kept");
}
