//! `user-service check-config FILE`, as the operator's preflight Job runs it
//! (`rollout.preflight: {}`: args `check-config /etc/lockstep/config.yaml`): exit 0 for a file the
//! service starts with, 1 and the field on stderr for one it refuses.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_user-service"))
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
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../note/tests/fixtures/rs256-test-private.pem"
    );
    let (code, stdout, stderr) = check(&format!("tokens:\n  private_key_file: {key}\n"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ok "), "{stdout}");
    // What a preflight catches that the schema cannot: the Secret's key file is not there.
    let (code, _, stderr) = check("tokens:\n  private_key_file: /nonexistent/private.pem\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("tokens.private_key_file"), "{stderr}");
    let (code, _, stderr) = check("tokens:\n  token_ttl_seconds: 0\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("token_ttl_seconds"), "{stderr}");
}
