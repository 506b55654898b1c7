//! `kubectl lockstep lint`: the shipped examples pass; each kind of mistake is reported with
//! its field path by the layer that catches it on a cluster (schema, CEL rule, operator).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kubectl_lockstep::lint::{Report, lint_text};
use lockstep_crd::structural::schema;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example() -> serde_yaml::Value {
    let text = std::fs::read_to_string(root().join("examples/album-service.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Lints the example after `edit`; the findings as `path: message`.
fn lint_edited(edit: impl FnOnce(&mut serde_yaml::Value)) -> Vec<String> {
    let mut doc = example();
    edit(&mut doc);
    let mut report = Report::default();
    lint_text("x.yaml", &serde_yaml::to_string(&doc).unwrap(), &mut report);
    assert_eq!(report.checked, 1);
    report
        .findings
        .into_iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect()
}

/// A change to the example manifest.
type Edit = Box<dyn FnOnce(&mut serde_yaml::Value)>;

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn the_shipped_examples_and_chart_example_pass() {
    for file in [
        "examples/album-service.yaml",
        "examples/note-service.yaml",
        "examples/user-service.yaml",
        "examples/app-service.yaml",
        "examples/album-service-gateway.yaml",
        "examples/album-service-blue-green.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let mut report = Report::default();
        lint_text(file, &text, &mut report);
        assert_eq!(report.checked, 1, "{file}");
        assert!(report.findings.is_empty(), "{file}: {:?}", report.findings);
    }
}

#[test]
fn every_schema_keyword_the_crds_use_is_checked() {
    for crd in lockstep_crd::crds() {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap();
        assert_eq!(
            schema::unknown_keywords(schema),
            Vec::<String>::new(),
            "{}: lint would not check these keywords",
            crd.spec.names.kind
        );
    }
}

#[test]
fn schema_mistakes_have_their_path() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|d| d["spec"]["replicas"] = yaml("5000")),
            "spec.replicas: Invalid value: 5000: should be less than or equal to 1000",
        ),
        (
            Box::new(|d| d["spec"]["rollout"]["strategy"] = yaml("Blue")),
            "spec.rollout.strategy: Unsupported value: \"Blue\"",
        ),
        (
            Box::new(|d| d["spec"]["replicas"] = yaml("\"four\"")),
            "spec.replicas: Invalid value: string: must be of type integer",
        ),
        (
            Box::new(|d| d["spec"]["release"]["image"] = yaml("\"NOT A VALID image!!:\"")),
            "spec.release.image: Invalid value: \"NOT A VALID image!!:\": should match",
        ),
        (
            Box::new(|d| d["spec"]["rollout"]["steps"][3]["pause"]["duration"] = yaml("soon")),
            "spec.rollout.steps[3].pause.duration: Invalid value: \"soon\": should match",
        ),
        (
            Box::new(|d| d["spec"]["rolout"] = yaml("{}")),
            "spec.rolout: unknown field",
        ),
        (
            Box::new(|d| {
                d["spec"].as_mapping_mut().unwrap().remove("release");
            }),
            "spec.release: Required value",
        ),
        (
            Box::new(|d| d["spec"]["release"]["config"]["server"]["prot"] = yaml("8080")),
            "spec.release.config.server.prot: unknown field",
        ),
    ];
    for (edit, want) in cases {
        let found = lint_edited(edit);
        assert!(
            found.iter().any(|f| f.starts_with(want)),
            "want {want}, got {found:?}"
        );
    }
}

#[test]
fn cel_rules_run_after_defaulting() {
    let rolling_with_steps = lint_edited(|d| {
        d["spec"]["rollout"]
            .as_mapping_mut()
            .unwrap()
            .remove("strategy");
    });
    assert_eq!(
        rolling_with_steps,
        ["spec.rollout: Invalid value: steps need strategy Canary"],
        "strategy defaults to Rolling, then the rule fails"
    );
    let decreasing = lint_edited(|d| d["spec"]["rollout"]["steps"][2]["setWeight"] = yaml("10"));
    assert_eq!(
        decreasing,
        ["spec.rollout: Invalid value: setWeight must not decrease from step to step"]
    );
    let both = lint_edited(|d| d["spec"]["rollout"]["steps"][1]["setWeight"] = yaml("30"));
    assert!(
        both.contains(
            &"spec.rollout.steps[1]: Invalid value: a step is exactly one of setWeight, pause, setHeaderRoute, setCanaryScale".to_owned()
        ),
        "{both:?}"
    );
}

#[test]
fn traffic_and_blue_green_fields_are_checked() {
    let route = "{gatewayAPI: {httpRoute: web}}";
    let header =
        "{setHeaderRoute: {name: testers, match: [{headerName: x-canary, value: {exact: yes}}]}}";
    let routed = lint_edited(|d| {
        d["spec"]["rollout"]["trafficRouting"] = yaml(route);
        d["spec"]["rollout"]["steps"][1] = yaml(header);
    });
    assert_eq!(
        routed,
        Vec::<String>::new(),
        "a routed canary with a header step"
    );
    let unrouted = lint_edited(|d| d["spec"]["rollout"]["steps"][1] = yaml(header));
    assert_eq!(
        unrouted,
        ["spec.rollout: Invalid value: setHeaderRoute and setCanaryScale need trafficRouting"]
    );
    let two_values = lint_edited(|d| {
        d["spec"]["rollout"]["trafficRouting"] = yaml(route);
        d["spec"]["rollout"]["steps"][1] = yaml(
            "{setHeaderRoute: {name: t, match: [{headerName: x, value: {exact: a, prefix: b}}]}}",
        );
    });
    assert_eq!(
        two_values,
        [
            "spec.rollout.steps[1].setHeaderRoute.match[0].value: Invalid value: a header value is exactly one of exact, prefix, regularExpression"
        ]
    );
    let scale = lint_edited(|d| {
        d["spec"]["rollout"]["trafficRouting"] = yaml(route);
        d["spec"]["rollout"]["steps"][1] = yaml("{setCanaryScale: {replicas: 2, weight: 10}}");
    });
    assert_eq!(
        scale,
        [
            "spec.rollout.steps[1].setCanaryScale: Invalid value: setCanaryScale is exactly one of replicas, weight, matchTrafficWeight: true"
        ]
    );
    let no_route_name = lint_edited(|d| {
        d["spec"]["rollout"]["trafficRouting"] = yaml("{gatewayAPI: {httpRoute: \"\"}}")
    });
    assert!(
        no_route_name[0]
            .starts_with("spec.rollout.trafficRouting.gatewayAPI.httpRoute: Invalid value"),
        "{no_route_name:?}"
    );
    let blue_green_on_canary =
        lint_edited(|d| d["spec"]["rollout"]["blueGreen"] = yaml("{previewReplicas: 1}"));
    assert_eq!(
        blue_green_on_canary,
        ["spec.rollout: Invalid value: blueGreen needs strategy BlueGreen"]
    );
    let blue_green = lint_edited(|d| {
        let rollout = d["spec"]["rollout"].as_mapping_mut().unwrap();
        rollout.remove("steps");
        rollout.remove("analysis");
        d["spec"]["rollout"]["strategy"] = yaml("BlueGreen");
        d["spec"]["rollout"]["blueGreen"] = yaml("{previewReplicas: 0}");
    });
    assert!(
        blue_green[0].starts_with("spec.rollout.blueGreen.previewReplicas: Invalid value"),
        "{blue_green:?}"
    );
}

#[test]
fn the_operators_own_checks_run_too() {
    let port = lint_edited(|d| d["spec"]["pod"]["port"] = yaml("9090"));
    assert_eq!(port.len(), 1, "{port:?}");
    assert!(
        port[0].starts_with(
            "spec.pod.port: refused by the operator: 9090 but the config makes the service listen on 8080"
        ),
        "{port:?}"
    );
    // Admitted by the CRD's image pattern (any digest algorithm), refused by the operator
    // (sha256 only).
    let image = lint_edited(|d| {
        d["spec"]["release"]["image"] = yaml("\"album@md5:0123456789abcdef0123456789abcdef\"")
    });
    assert!(
        image[0].starts_with("spec.release.image: refused by the operator"),
        "{image:?}"
    );
    let config =
        lint_edited(|d| d["spec"]["release"]["config"]["pagination"]["max_limit"] = yaml("5000"));
    assert!(
        config[0].starts_with("spec.release.config.pagination.max_limit: refused by the operator"),
        "{config:?}"
    );
}

#[test]
fn other_kinds_are_skipped_and_bad_documents_reported() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n\
                apiVersion: lockstep.dev/v1beta9\nkind: AlbumService\nmetadata: {name: a}\nspec: {}\n---\n\
                apiVersion: lockstep.dev/v1alpha1\nkind: AlbumService\nmetadata: {name: Bad_Name}\n---\n\
                key: [unclosed\n";
    let mut report = Report::default();
    lint_text("many.yaml", text, &mut report);
    let found: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert_eq!(report.checked, 2, "{found:?}");
    assert!(found[0].starts_with("many.yaml: AlbumService/a: apiVersion: Unsupported value"));
    assert!(
        found.iter().any(
            |f| f.starts_with("many.yaml: AlbumService/Bad_Name: metadata.name: Invalid value")
        )
    );
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("many.yaml: AlbumService/Bad_Name: spec: Required value"))
    );
    assert!(
        found
            .last()
            .unwrap()
            .starts_with("many.yaml: document 4: not YAML"),
        "{found:?}"
    );
}

#[test]
fn the_binary_exits_1_with_one_line_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let mut doc = example();
    doc["spec"]["replicas"] = yaml("-1");
    std::fs::write(&bad, serde_yaml::to_string(&doc).unwrap()).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-lockstep"))
            .arg("lint")
            .args(args)
            .output()
            .unwrap()
    };
    let good = root().join("examples/album-service.yaml");
    let out = run(&["-f".as_ref(), good.as_os_str()]);
    assert!(out.status.success(), "{out:?}");
    let out = run(&[
        "-f".as_ref(),
        good.as_os_str(),
        "-f".as_ref(),
        bad.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("bad.yaml: AlbumService/albums: spec.replicas: Invalid value: -1"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("2 Lockstep service(s) checked, 1 problem(s)\n"),
        "{stdout}"
    );
}

/// An `AppService` is linted by its CRD and by the operator's checks, its config against its
/// own `release.configSchema`: the JSON pointer and the rule, before anything reaches a cluster.
#[test]
fn an_app_service_config_is_checked_against_its_schema_offline() {
    let text = std::fs::read_to_string(root().join("examples/app-service.yaml")).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["spec"]["release"]["config"]["general"]["port"] = yaml("80");
    let mut report = Report::default();
    lint_text(
        "app.yaml",
        &serde_yaml::to_string(&doc).unwrap(),
        &mut report,
    );
    let findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect();
    assert_eq!(
        findings,
        [
            "spec.release.config: refused by the operator: does not match release.configSchema \
          at /general/port: 80 is less than the minimum of 1024 (rule `minimum`)"
        ]
    );
    // A probe port the CRD's CEL rule does not see, the operator does.
    doc["spec"]["release"]["config"]["general"]["port"] = yaml("8787");
    doc["spec"]["pod"]["livenessProbe"] = yaml("{tcpSocket: {port: metrics}}");
    let mut report = Report::default();
    lint_text(
        "app.yaml",
        &serde_yaml::to_string(&doc).unwrap(),
        &mut report,
    );
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].path, "spec.pod.livenessProbe");
    // Both httpGet and tcpSocket: the CRD's own rule.
    doc["spec"]["pod"]["livenessProbe"] =
        yaml("{tcpSocket: {port: http}, httpGet: {path: /, port: http}}");
    let mut report = Report::default();
    lint_text(
        "app.yaml",
        &serde_yaml::to_string(&doc).unwrap(),
        &mut report,
    );
    assert!(
        report.findings[0]
            .message
            .contains("a probe is either httpGet or tcpSocket"),
        "{:?}",
        report.findings
    );
}
