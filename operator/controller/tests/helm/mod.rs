//! helm for the chart tests: found (`HELM`, `target/tools/helm`, `PATH`) or fetched once by
//! `scripts/fetch-helm.sh`; `LOCKSTEP_HELM_OPT_OUT=1` skips, and says so where CI logs show it.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Says a test was skipped where the CI log shows it: libtest captures `eprintln!` of a passing
/// test, but not a write to the stderr handle itself.
pub(crate) fn skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}");
}

/// The helm binary, or `None` when the user opted out.
pub(crate) fn helm() -> Option<PathBuf> {
    if std::env::var("LOCKSTEP_HELM_OPT_OUT").is_ok_and(|v| v == "1") {
        skipped("LOCKSTEP_HELM_OPT_OUT=1: chart test skipped, not passed");
        return None;
    }
    let answers = |candidate: &PathBuf| {
        Command::new(candidate)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let candidates = std::env::var_os("HELM")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join("target/tools/helm"), PathBuf::from("helm")]);
    for candidate in candidates {
        if answers(&candidate) {
            return Some(candidate);
        }
    }
    // Once per test process; the other tests wait for it.
    static FETCHED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let fetched = FETCHED.get_or_init(|| {
        eprintln!("no helm found: running scripts/fetch-helm.sh");
        let out = Command::new("bash")
            .arg(root().join("scripts/fetch-helm.sh"))
            .output()
            .map_err(|e| e.to_string())?;
        let helm = root().join("target/tools/helm");
        if out.status.success() && answers(&helm) {
            Ok(helm)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    match fetched {
        Ok(helm) => Some(helm.clone()),
        Err(why) => panic!(
            "no helm found (HELM, target/tools/helm, PATH) and scripts/fetch-helm.sh failed: \
             {why}\nset HELM=/path/to/helm, or LOCKSTEP_HELM_OPT_OUT=1 to skip the chart tests"
        ),
    }
}

/// Runs helm with `args` on the chart; `Ok(stdout)` or `Err(stderr)`.
pub(crate) fn run(helm: &PathBuf, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `helm template` with `--set` pairs, as parsed documents.
pub(crate) fn render(helm: &PathBuf, sets: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "lockstep",
        "charts/lockstep",
        "--namespace",
        "lockstep-system",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let text = run(helm, &args).unwrap_or_else(|e| panic!("helm template {sets:?}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

pub(crate) fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}
