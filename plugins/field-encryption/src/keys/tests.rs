use super::*;

#[test]
fn each_encoding_takes_only_its_own_form() {
    use KeyEncoding::*;
    let raw = [7u8; 32];
    assert_eq!(KeyMaterial::decode(&raw, Raw).unwrap().bytes(), &raw);
    let hex = "07".repeat(32);
    for text in [hex.clone(), format!("{hex}\n"), format!("{hex}\r\n")] {
        assert_eq!(
            KeyMaterial::decode(text.as_bytes(), Hex).unwrap().bytes(),
            &raw
        );
    }
    let b64 = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    assert_eq!(
        KeyMaterial::decode(b64.as_bytes(), Base64).unwrap().bytes(),
        &raw
    );
    // The confusions the loader used to make: text taken as raw bytes, a hex AES-128 key,
    // 31 characters and a newline, hex in a raw file, two newlines.
    let passphrase = b"correct horse battery staple!!\n\n";
    for (data, encoding, want) in [
        (&b"0123456789abcdef0123456789abcdef"[..], Raw, "text"),
        (&b"0123456789abcdefghijklmnopqrstu\n"[..], Raw, "text"),
        (&passphrase[..32], Raw, "text"),
        (hex.as_bytes(), Raw, "exactly 32"),
        (
            &b"0123456789abcdef0123456789abcdef"[..],
            Hex,
            "64 hex digits",
        ),
        (format!("{hex}\n\n").as_bytes(), Hex, "64 hex digits"),
        (&b"short"[..], Base64, "base64"),
        (&[0xff; 31][..], Raw, "exactly 32"),
    ] {
        let err = KeyMaterial::decode(data, encoding).unwrap_err();
        assert!(err.contains(want), "{encoding}: {err}");
    }
    assert!(KeyMaterial::decode(&raw[..31], Raw).is_err());
}

#[test]
fn debug_never_shows_key_bytes() {
    let key = KeyMaterial::new([0xAB; 32]);
    assert_eq!(format!("{key:?}"), "KeyMaterial(***)");
    let keys = TenantKeys::new("acme", 1, &[(1, key.clone())], Some(key)).unwrap();
    let shown = format!("{keys:?}");
    assert!(
        !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
        "{shown}"
    );
    assert!(shown.contains("acme") && shown.contains("current: 1"));
}

#[test]
fn tenant_ids_are_validated() {
    for ok in ["acme", "t-1", "a.b_c"] {
        validate_tenant(ok).unwrap();
    }
    for bad in ["", "a/b", "a b", "x\0", &"t".repeat(65)] {
        assert!(validate_tenant(bad).is_err(), "{bad:?}");
    }
    assert!(TenantKeys::new("acme", 2, &[(1, KeyMaterial::generate())], None).is_err());
}
