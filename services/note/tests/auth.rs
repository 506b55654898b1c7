//! RS256 verification from a public key file, algorithm confusion refused, and the JWT
//! interop cases: `nbf` enforced, `aud` as a string or an array, the scheme case-insensitive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lockstep_service_config::AuthConfig;
use note_service::auth::{Audience, Claims, Verifier, bearer_token};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config() -> AuthConfig {
    AuthConfig {
        hs256_secret_env: None,
        rs256_public_key_file: Some(fixture("rs256-test-public.pem")),
        ..AuthConfig::default()
    }
}

fn claims(tenant: &str) -> Claims {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Claims {
        sub: "u1".into(),
        tenant: tenant.into(),
        iss: "lockstep".into(),
        aud: Audience::One("note-service".into()),
        exp: now + 300,
        nbf: None,
    }
}

#[test]
fn rs256_tokens_verify_with_the_public_key_file() {
    let verifier = Verifier::from_config(&config()).unwrap();
    let private = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims("acme"),
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().tenant, "acme");
}

#[test]
fn an_hs256_token_signed_with_the_public_key_is_rejected() {
    let verifier = Verifier::from_config(&config()).unwrap();
    let public = std::fs::read(fixture("rs256-test-public.pem")).unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("acme"),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(verifier.verify(&forged).unwrap_err().code, "invalid_token");
}

#[test]
fn a_missing_key_file_is_a_setup_error_naming_the_field() {
    let mut c = config();
    c.rs256_public_key_file = Some("/nonexistent.pem".into());
    let err = Verifier::from_config(&c).unwrap_err().to_string();
    assert!(err.contains("auth.rs256_public_key_file"), "{err}");
}

fn sign(claims: &Claims) -> String {
    let private = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_token_is_refused_before_its_nbf() {
    let verifier = Verifier::from_config(&config()).unwrap();
    let mut early = claims("acme");
    // Beyond the default 30 s leeway.
    early.nbf = Some(early.exp - 300 + 3600);
    early.exp += 7200;
    let err = verifier.verify(&sign(&early)).unwrap_err();
    assert_eq!(err.code, "invalid_token");
    assert!(
        err.message.contains("not valid yet (nbf)"),
        "{}",
        err.message
    );
    let mut due = claims("acme");
    due.nbf = Some(due.exp - 300);
    assert_eq!(verifier.verify(&sign(&due)).unwrap().tenant, "acme");
}

#[test]
fn aud_may_be_an_array_that_contains_ours() {
    let verifier = Verifier::from_config(&config()).unwrap();
    let mut many = claims("acme");
    many.aud = Audience::Many(vec!["other".into(), "note-service".into()]);
    assert_eq!(verifier.verify(&sign(&many)).unwrap().tenant, "acme");
    many.aud = Audience::Many(vec!["other".into()]);
    assert_eq!(
        verifier.verify(&sign(&many)).unwrap_err().code,
        "invalid_token"
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    for value in ["Bearer abc", "bearer abc", "BEARER abc", "  Bearer   abc "] {
        assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
    }
    for value in ["Basic abc", "Bearerabc", "abc", ""] {
        assert_eq!(bearer_token(value), None, "{value:?}");
    }
}

/// `check-config` checks what the service will open on this machine: a missing RS256 key file,
/// a keys directory that is not there, an SQLite path that cannot be written.
#[test]
fn preflight_checks_the_files_and_paths_the_service_opens() {
    let dir = tempfile::tempdir().unwrap();
    let mut note = lockstep_service_config::NoteConfig {
        auth: config(),
        ..Default::default()
    };
    note.encryption.keys_dir = dir.path().to_string_lossy().into_owned();
    note.database.url_env = None;
    note.database.sqlite_path = Some(dir.path().join("notes.db").to_string_lossy().into_owned());
    note_service::preflight(&note).unwrap();

    let mut missing_key = note.clone();
    missing_key.auth.rs256_public_key_file = Some("/nonexistent.pem".into());
    let err = note_service::preflight(&missing_key).unwrap_err();
    assert!(err.contains("auth.rs256_public_key_file"), "{err}");

    let mut no_keys = note.clone();
    no_keys.encryption.keys_dir = "/nonexistent/keys".into();
    let err = note_service::preflight(&no_keys).unwrap_err();
    assert!(err.contains("encryption.keys_dir"), "{err}");

    let mut unwritable = note;
    unwritable.database.sqlite_path = Some("/proc/notes.db".into());
    let err = note_service::preflight(&unwritable).unwrap_err();
    assert!(err.contains("database.sqlite_path"), "{err}");
}

/// `sub` owns notes: an empty, overlong or non-printable one is not a user.
#[test]
fn a_token_without_a_usable_sub_is_rejected() {
    let verifier = Verifier::from_config(&config()).unwrap();
    let private = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    let sign = |sub: &str| {
        let mut c = claims("acme");
        c.sub = sub.into();
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &c,
            &EncodingKey::from_rsa_pem(&private).unwrap(),
        )
        .unwrap()
    };
    for bad in ["", "a b", &"x".repeat(65)] {
        assert_eq!(
            verifier.verify(&sign(bad)).unwrap_err().code,
            "invalid_token",
            "{bad:?}"
        );
    }
    assert_eq!(verifier.verify(&sign("42")).unwrap().sub, "42");
}

/// Refusals name the rule and the claim, never the JWT library's internals (they said
/// ``unknown variant `none`, expected one of `HS256`…`` and ``missing field `sub` at line 1
/// column 89``).
#[test]
fn refusals_name_the_rule_not_the_library() {
    use base64::Engine as _;
    let verifier = Verifier::from_config(&config()).unwrap();
    let private = std::fs::read(fixture("rs256-test-private.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&private).unwrap();
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let c = claims("acme");
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&serde_json::to_value(&c).unwrap())
    );
    let mut no_sub = serde_json::to_value(&c).unwrap();
    no_sub.as_object_mut().unwrap().remove("sub");
    let no_sub = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &no_sub, &key).unwrap();
    let mut wrong_iss = c.clone();
    wrong_iss.iss = "someone-else".into();
    let wrong_iss = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &wrong_iss, &key).unwrap();
    let valid = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &c, &key).unwrap();
    // acme's signature on claims changed to globex's.
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_value(claims("globex")).unwrap()),
        parts[2]
    );
    let cases = [
        (none.as_str(), "must name a supported algorithm (RS256)"),
        (no_sub.as_str(), "claims must hold string `sub`"),
        (wrong_iss.as_str(), "issuer (iss)"),
        (tampered.as_str(), "signature does not verify"),
        ("not-a-jwt", "not a well-formed JWT"),
    ];
    for (token, want) in cases {
        let err = verifier.verify(token).unwrap_err();
        assert_eq!(err.code, "invalid_token");
        assert!(err.message.contains(want), "{want}: {}", err.message);
        for internal in [
            "variant",
            "expected one of",
            "line 1",
            "column",
            "missing field",
        ] {
            assert!(
                !err.message.contains(internal),
                "`{internal}` in {}",
                err.message
            );
        }
    }
}
