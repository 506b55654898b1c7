//! RS256 verification from a public key file, and algorithm confusion is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lockstep_service_config::AuthConfig;
use note_service::auth::{Claims, Verifier};

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
        aud: "note-service".into(),
        exp: now + 300,
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
