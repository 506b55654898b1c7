//! `user-service check-config FILE`, as the operator's preflight Job runs it
//! (`rollout.preflight: {}`: args `check-config /etc/lockstep/config.yaml`): exit 0 for a file the
//! service starts with, 1 and the field on stderr for one it refuses — including what no schema
//! can see, a signing key missing from its Secret.

use lockstep_service_kit::testing::check_config;

const BINARY: &str = env!("CARGO_BIN_EXE_user-service");

#[test]
fn check_config_passes_a_good_file_and_names_the_field_of_a_bad_one() {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../note/tests/fixtures/rs256-test-private.pem"
    );
    let good = check_config(BINARY, &format!("tokens:\n  private_key_file: {key}\n"));
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(good.stdout.starts_with("ok "), "{}", good.stdout);
    let no_key = check_config(
        BINARY,
        "tokens:\n  private_key_file: /nonexistent/private.pem\n",
    );
    assert_eq!(no_key.code, 1);
    assert!(
        no_key.stderr.contains("tokens.private_key_file"),
        "{}",
        no_key.stderr
    );
    let bad = check_config(BINARY, "tokens:\n  token_ttl_seconds: 0\n");
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("token_ttl_seconds"), "{}", bad.stderr);
}
