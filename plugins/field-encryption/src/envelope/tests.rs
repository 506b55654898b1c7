use super::*;
use crate::keys::KeyMaterial;
use proptest::prelude::*;

fn keys(tenant: &str, current: u32) -> TenantKeys {
    let k1 = KeyMaterial::new([1; 32]);
    let k2 = KeyMaterial::new([2; 32]);
    TenantKeys::new(tenant, current, &[(1, k1), (2, k2)], None).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn envelope_layout_and_overhead() {
    let k = keys("acme", 2);
    let env = seal(&k, "notes.body", b"hello").unwrap();
    assert_eq!(env.len(), 5 + OVERHEAD);
    assert_eq!(OVERHEAD, 34);
    let h = Header::parse(&env).unwrap();
    assert_eq!((h.version, h.alg, h.key_id), (VERSION, 1, 2));
    assert_eq!(&env[..6], &Header::prefix(2));
    assert_eq!(open(&k, "notes.body", &env).unwrap(), b"hello");
    assert!(
        !env.windows(5).any(|w| w == b"hello"),
        "plaintext visible in the envelope"
    );
}

/// A version 1 envelope (unpadded AAD), computed independently from the documented layout
/// with aes-gcm alone: key 0x01 × 32, key id 1, nonce 0x11 × 12, tenant `acme`, column
/// `notes.body`, plaintext "hello". Values sealed before version 2 keep opening.
#[test]
fn version_1_envelopes_still_open() {
    let env = hex("010100000001111111111111111111111111e554bcdd11fe4db6f28aa375f8d188778ff2250bdb");
    let k = keys("acme", 1);
    assert_eq!(open(&k, "notes.body", &env).unwrap(), b"hello");
    assert!(open(&k, "notes.title", &env).is_err());
    // The same bytes relabelled version 2 (derived key, other AAD) fail: the version is bound.
    let mut relabelled = env;
    relabelled[0] = VERSION;
    assert!(matches!(
        open(&k, "notes.body", &relabelled),
        Err(Error::Authentication { .. })
    ));
    // A long column name (the heap path of the version 1 AAD).
    let long = "c".repeat(120);
    let aad = Aad::new(&[VERSION_1, 1, 0, 0, 0, 1], "acme", &long);
    assert_eq!(aad.as_bytes().len(), 4 + 6 + 2 + 4 + 2 + 120);
}

/// A version 2 envelope computed independently from the documented layout with hmac, sha2
/// and aes-gcm alone (same key, nonce, tenant, column and plaintext as above): the derived
/// tenant key and the one-block AAD are what the docs say.
#[test]
fn version_2_matches_its_specification() {
    let env = hex("020100000001111111111111111111111111739e5c846b627ea9fd0d4916640c1a82b6073a42aa");
    let k = keys("acme", 1);
    assert_eq!(open(&k, "notes.body", &env).unwrap(), b"hello");
    assert_eq!(seal(&k, "notes.body", b"x").unwrap()[0], VERSION);
    for (tenant, column) in [("globex", "notes.body"), ("acme", "notes.title")] {
        assert!(
            matches!(
                open(&keys(tenant, 1), column, &env),
                Err(Error::Authentication { .. })
            ),
            "{tenant} {column}"
        );
    }
}

/// A keyring set to version 1 seals what binaries before version 2 open: the version 1 header
/// and AAD, checked against the independent decoding of `version_1_envelopes_still_open`.
#[test]
fn version_1_sealing_for_older_readers() {
    let k = keys("acme", 1).with_seal_version(VERSION_1).unwrap();
    let env = seal(&k, "notes.body", b"hello").unwrap();
    assert_eq!(&env[..6], &[1, 1, 0, 0, 0, 1]);
    assert_eq!(
        open(&keys("acme", 1), "notes.body", &env).unwrap(),
        b"hello"
    );
    // The same bytes under the version 1 AAD of another tenant or column fail.
    assert!(open(&keys("globex", 1), "notes.body", &env).is_err());
    assert!(open(&k, "notes.title", &env).is_err());
    assert!(matches!(
        seal_digest(
            &k,
            "notes.body",
            &column_digest("notes.body"),
            Some("7"),
            b"x"
        ),
        Err(Error::Encode { .. })
    ));
    assert!(keys("acme", 1).with_seal_version(3).is_err());
}

#[test]
fn aad_binds_tenant_column_and_table() {
    let acme = keys("acme", 1);
    let env = seal(&acme, "notes.body", b"secret").unwrap();
    // Same key bytes, other tenant: the AAD differs.
    let globex = keys("globex", 1);
    assert!(matches!(
        open(&globex, "notes.body", &env),
        Err(Error::Authentication { .. })
    ));
    assert!(matches!(
        open(&acme, "notes.title", &env),
        Err(Error::Authentication { .. })
    ));
    assert!(matches!(
        open(&acme, "drafts.body", &env),
        Err(Error::Authentication { .. })
    ));
    let only_k1 = TenantKeys::new("acme", 1, &[(1, KeyMaterial::new([1; 32]))], None).unwrap();
    let env2 = seal(&keys("acme", 2), "notes.body", b"x").unwrap();
    assert!(matches!(
        open(&only_k1, "notes.body", &env2),
        Err(Error::UnknownKeyId { key_id: 2, .. })
    ));
}

#[test]
fn malformed_envelopes_are_typed_errors() {
    let k = keys("acme", 1);
    for (bytes, want) in [
        (vec![1u8; 10], "shorter"),
        ([vec![9u8], vec![1; 40]].concat(), "version 9"),
        ([vec![1u8, 7], vec![1; 40]].concat(), "algorithm 7"),
    ] {
        let err = open(&k, "notes.body", &bytes).unwrap_err();
        assert!(
            matches!(err, Error::MalformedEnvelope { .. }) && err.to_string().contains(want),
            "{err}"
        );
    }
    assert!(from_base64("%%%", "n.b").is_err());
}

#[test]
fn nonces_never_repeat_over_a_million_seals() {
    let k = keys("acme", 1);
    let mut seen = std::collections::HashSet::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let env = seal(&k, "t.c", b"").unwrap();
        let nonce: [u8; 12] = env[6..18].try_into().unwrap();
        assert!(seen.insert(nonce), "nonce repeated");
    }
}

proptest! {
    #[test]
    fn round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let k = keys("acme", 1);
        let env = seal(&k, "t.c", &data).unwrap();
        prop_assert_eq!(open(&k, "t.c", &env).unwrap(), data);
        let b64 = to_base64(&env);
        prop_assert_eq!(from_base64(&b64, "t.c").unwrap(), env);
    }

    #[test]
    fn any_single_bit_flip_fails_to_open(data in proptest::collection::vec(any::<u8>(), 0..256), bit in any::<prop::sample::Index>()) {
        let k = keys("acme", 1);
        let mut env = seal(&k, "t.c", &data).unwrap();
        let i = bit.index(env.len() * 8);
        env[i / 8] ^= 1 << (i % 8);
        prop_assert!(open(&k, "t.c", &env).is_err());
    }
}
