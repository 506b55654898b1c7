//! `album-service check-config FILE`, as the operator's preflight Job runs it
//! (`rollout.preflight: {}`: args `check-config /etc/lockstep/config.yaml`): exit 0 for a file the
//! service starts with, 1 and the field on stderr for one it refuses.

use lockstep_service_kit::testing::check_config;

const BINARY: &str = env!("CARGO_BIN_EXE_album-service");

#[test]
fn check_config_passes_a_good_file_and_names_the_field_of_a_bad_one() {
    let good = check_config(BINARY, "server:\n  port: 8080\n");
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(good.stdout.starts_with("ok "), "{}", good.stdout);
    let bad = check_config(
        BINARY,
        "pagination:\n  default_limit: 500\n  max_limit: 100\n",
    );
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("pagination"), "{}", bad.stderr);
}
