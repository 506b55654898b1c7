//! The note binary as an operator meets it: a missing or short HS256 secret is one line on
//! stderr and exit code 1 — before, a missing secret printed a 35-frame backtrace (with
//! `RUST_BACKTRACE` set) and a 5-byte secret passed `check-config` and start-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// A config whose keys directory exists, in `dir`.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).unwrap();
    let path = dir.join("note.yaml");
    std::fs::write(
        &path,
        format!(
            "encryption: {{keys_dir: {}}}\ndatabase: {{sqlite_path: {}}}\n",
            keys.display(),
            dir.join("notes.db").display()
        ),
    )
    .unwrap();
    path
}

fn note(args: &[&str], secret: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_note-service"));
    cmd.args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .env_remove("NOTE_JWT_SECRET");
    if let Some(secret) = secret {
        cmd.env("NOTE_JWT_SECRET", secret);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_or_short_secret_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let config = config.to_str().unwrap();
    for (secret, want) in [
        (None, "NOTE_JWT_SECRET is not set"),
        (
            Some("abcde"),
            "holds 5 bytes; an HS256 secret needs at least 32",
        ),
    ] {
        let (code, stderr) = note(&["--config", config], secret);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "not one line: {stderr}"
        );
        assert!(
            !stderr.contains("backtrace") && !stderr.contains("stack"),
            "{stderr}"
        );
    }
    // check-config names the rule too when the variable is set here.
    let (code, stderr) = note(&["check-config", config], Some("abcde"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("at least 32"), "{stderr}");
    let (code, stderr) = note(&["check-config", config], Some(&"k".repeat(32)));
    assert_eq!(code, 0, "{stderr}");
}
