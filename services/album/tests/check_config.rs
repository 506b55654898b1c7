//! `album-service check-config FILE`, as the operator's preflight Job runs it
//! (`rollout.preflight: {}`: args `check-config /etc/lockstep/config.yaml`): exit 0 for a file the
//! service starts with, 1 and the field on stderr for one it refuses.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_album-service"))
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_passes_a_good_file_and_names_the_field_of_a_bad_one() {
    let (code, stdout, stderr) = check("server:\n  port: 8080\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok "), "{stdout}");
    let (code, _, stderr) = check("pagination:\n  default_limit: 500\n  max_limit: 100\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("pagination"), "{stderr}");
}
