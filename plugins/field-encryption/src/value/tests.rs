use super::*;
use crate::KeyMaterial;

crate::encrypted_column!(Doc, "docs.body");

#[test]
fn values_that_cannot_encode_are_errors_not_empty_ciphertexts() {
    let keys = TenantKeys::new("acme", 1, &[(1, KeyMaterial::generate())], None).unwrap();
    let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let err = Encrypted::<Json<_>, Doc>::seal_with(&keys, Json(bad)).unwrap_err();
    assert!(matches!(err, Error::Encode { .. }), "{err}");
    let good =
        Encrypted::<Json<Vec<String>>, Doc>::seal_with(&keys, Json(vec!["a".into()])).unwrap();
    let back =
        Encrypted::<Json<Vec<String>>, Doc>::open_with(&keys, good.envelope().to_vec()).unwrap();
    assert_eq!(back.get().0, ["a"]);
    assert!(
        format!("{good:?}").starts_with("Encrypted<docs.body>(***"),
        "Debug shows no plaintext"
    );
}

/// Migration mode never takes a damaged envelope for plaintext: every single-bit flip and
/// every truncation of real envelopes (String and bytes plaintexts, both versions) fails to
/// open, while text written before encryption, the empty value included, still reads.
/// (16 of 400 such values came back as "legacy plaintext" when only a parsable header
/// counted as an envelope.)
#[test]
fn migration_mode_never_reads_a_damaged_envelope_as_plaintext() {
    let keys = TenantKeys::new("acme", 1, &[(1, KeyMaterial::generate())], None).unwrap();
    let v1 = TenantKeys::new("acme", 1, &[(1, KeyMaterial::generate())], None)
        .unwrap()
        .with_seal_version(crate::envelope::VERSION_1)
        .unwrap();
    let mut damaged = 0;
    for (keys, plain) in [(&keys, "a note of some length"), (&v1, ""), (&keys, "x")] {
        let sealed = Encrypted::<String, Doc>::seal_with(keys, plain.into()).unwrap();
        let env = sealed.envelope().to_vec();
        let mut variants: Vec<Vec<u8>> = (1..env.len()).map(|n| env[..n].to_vec()).collect();
        for bit in 0..env.len() * 8 {
            let mut flipped = env.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            variants.push(flipped);
        }
        for variant in variants {
            damaged += 1;
            let opened = Encrypted::<String, Doc>::open_in(keys, true, None, variant.clone());
            assert!(
                opened.is_err(),
                "damaged envelope {variant:02x?} read as plaintext"
            );
            let text = envelope::to_base64(&variant);
            assert!(envelope::may_be_envelope_text(&text), "{text}");
            // One character ("A") cannot be told from text; two can.
            let cut = &envelope::to_base64(&env)[..variant.len().clamp(2, 40)];
            assert!(envelope::may_be_envelope_text(cut), "{cut}");
        }
    }
    assert!(damaged > 1000, "{damaged}");
    for legacy in [
        "plain body 0",
        "",
        "two\nlines\twith tabs",
        "Ünïcode ✓",
        "Agenda: plans",
    ] {
        let opened = Encrypted::<String, Doc>::open_in(&keys, true, None, legacy.into()).unwrap();
        assert_eq!(opened.get(), legacy);
        assert!(!envelope::may_be_envelope(legacy.as_bytes()));
    }
    assert!(!envelope::may_be_envelope_text("plain body 0"));
}
