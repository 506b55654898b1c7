//! Every Kubernetes API call the operator makes, as RBAC rules: the one list the Helm chart's
//! ClusterRole/Role must grant (checked by `tests/chart.rs`) and every call the operator makes
//! to the fake API server in its tests must fall under (`tests/fake_support`: the fake refuses
//! any other call with 403, as RBAC would). A new call without a new line here fails the tests
//! instead of failing in a cluster with 403.

/// One RBAC rule: verbs on a resource (or subresource) of an API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API group; `""` is the core group.
    pub group: &'static str,
    /// Plural resource, `resource/subresource` for a subresource.
    pub resource: &'static str,
    /// The verbs used.
    pub verbs: &'static [&'static str],
    /// Where the rule is needed.
    pub scope: Scope,
    /// `resourceNames` the rule is limited to; empty: every object.
    pub names: &'static [&'static str],
}

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In every watched namespace (a ClusterRole, or a Role in the watched namespace).
    Watched,
    /// In the operator's own namespace only (the leader Lease).
    Own,
    /// Cluster-wide, only with `--manage-crds` (a cluster-wide install): the operator's own
    /// CustomResourceDefinitions, by name.
    Crds,
}

/// The operator's calls. Server-side apply of an object that does not exist yet creates it,
/// hence `create` beside `patch` on the applied kinds.
pub const PERMISSIONS: &[Permission] = &[
    // Every kind: watched (list+watch), rollbackTo rewrites the spec, status merge patches.
    rule("lockstep.dev", "albumservices", &["list", "watch", "patch"]),
    rule("lockstep.dev", "albumservices/status", &["patch"]),
    rule("lockstep.dev", "noteservices", &["list", "watch", "patch"]),
    rule("lockstep.dev", "noteservices/status", &["patch"]),
    rule("lockstep.dev", "userservices", &["list", "watch", "patch"]),
    rule("lockstep.dev", "userservices/status", &["patch"]),
    rule("lockstep.dev", "appservices", &["list", "watch", "patch"]),
    rule("lockstep.dev", "appservices/status", &["patch"]),
    // One Deployment per active revision: owned (watched), applied, deleted after promotion.
    rule(
        "apps",
        "deployments",
        &["list", "watch", "create", "patch", "delete"],
    ),
    // Everything below is read from watch caches (crate::cluster::caches), labelled
    // lockstep.dev/service: list+watch, never get.
    // Revision history, pruned beyond revisionHistoryLimit.
    // (patch: a revision whose preflight passed is annotated so, and never checked again.)
    rule(
        "apps",
        "controllerrevisions",
        &["list", "watch", "create", "patch", "delete"],
    ),
    // rollout.preflight: a Job per new revision (watched: its end triggers the reconcile),
    // collected with its revision; a failed one's pod is found by label and its log read.
    rule("batch", "jobs", &["list", "watch", "create"]),
    rule("", "pods/log", &["get"]),
    // A revision's config file (immutable, owned by its ControllerRevision, collected with it;
    // watched so that a missing one is recreated).
    rule("", "configmaps", &["list", "watch", "create"]),
    // The Service in front of the revisions' pods (watched: drift is repaired); with
    // trafficRouting `<name>-stable`/`-canary`, with BlueGreen `<name>-preview`, deleted when
    // the spec stops asking for them.
    rule(
        "",
        "services",
        &["list", "watch", "create", "patch", "delete"],
    ),
    // rollout.trafficRouting: the named HTTPRoute is read at each reconcile (no watch, so the
    // Gateway API CRDs stay optional) and its rules patched with the resourceVersion read.
    rule("gateway.networking.k8s.io", "httproutes", &["get", "patch"]),
    // Pod health for the gates (crash loops, image pull failures); watched so that a failing
    // canary is seen in seconds, not at the next requeue.
    rule("", "pods", &["list", "watch"]),
    // crate::cluster::events::Recorder: new events, and series counts on repeats.
    rule("events.k8s.io", "events", &["create", "patch"]),
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        scope: Scope::Own,
        names: &[],
    },
    // crate::cluster::crds::ensure: read and replace the embedded CRDs, wait for Established. No
    // create: RBAC cannot limit a create to a name.
    Permission {
        group: "apiextensions.k8s.io",
        resource: "customresourcedefinitions",
        verbs: &["get", "update"],
        scope: Scope::Crds,
        names: &[
            "albumservices.lockstep.dev",
            "appservices.lockstep.dev",
            "noteservices.lockstep.dev",
            "userservices.lockstep.dev",
        ],
    },
];

const fn rule(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
) -> Permission {
    Permission {
        group,
        resource,
        verbs,
        scope: Scope::Watched,
        names: &[],
    }
}

/// A request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// API group.
    pub group: String,
    /// Resource, with `/subresource` if any.
    pub resource: String,
    /// RBAC verb.
    pub verb: &'static str,
}

/// The RBAC view of an HTTP request to the API server (`None` for non-resource paths).
/// `watch` is whether the query asks for a watch.
pub fn call_of(method: &str, path: &str, watch: bool) -> Option<Call> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return None,
    };
    let verb = match (method, named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some(Call {
        group: group.to_owned(),
        resource,
        verb,
    })
}

/// Whether [`PERMISSIONS`] covers `call`.
pub fn allows(call: &Call) -> bool {
    PERMISSIONS.iter().any(|p| {
        p.group == call.group && p.resource == call.resource && p.verbs.contains(&call.verb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_rbac_verbs() {
        let c = |m, p, w| call_of(m, p, w).map(|c| (c.group, c.resource, c.verb));
        let s = |g: &str, r: &str, v| Some((g.to_owned(), r.to_owned(), v));
        assert_eq!(
            c("GET", "/apis/lockstep.dev/v1alpha1/albumservices", true),
            s("lockstep.dev", "albumservices", "watch")
        );
        assert_eq!(
            c(
                "PATCH",
                "/apis/lockstep.dev/v1alpha1/namespaces/a/albumservices/x/status",
                false
            ),
            s("lockstep.dev", "albumservices/status", "patch")
        );
        assert_eq!(
            c("GET", "/api/v1/namespaces/a/pods", false),
            s("", "pods", "list")
        );
        assert_eq!(
            c("GET", "/api/v1/namespaces/a/services/x", false),
            s("", "services", "get")
        );
        // A namespace object itself (one segment after `namespaces`).
        assert_eq!(
            c("GET", "/api/v1/namespaces/a", false),
            s("", "namespaces", "get")
        );
        assert_eq!(c("GET", "/version", false), None);
    }

    #[test]
    fn crd_rules_name_exactly_the_embedded_crds() {
        let mut embedded: Vec<String> = lockstep_crd::crds()
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        embedded.sort();
        for p in PERMISSIONS.iter().filter(|p| p.scope == Scope::Crds) {
            assert_eq!(p.names, embedded.as_slice());
        }
    }

    #[test]
    fn the_list_covers_what_it_says_and_no_more() {
        let call = |g: &str, r: &str, v| Call {
            group: g.into(),
            resource: r.into(),
            verb: v,
        };
        assert!(allows(&call("apps", "deployments", "delete")));
        assert!(!allows(&call("apps", "deployments", "update")));
        assert!(!allows(&call("", "secrets", "get")));
        assert!(!allows(&call("", "configmaps", "delete")));
    }
}
