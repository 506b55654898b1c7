//! The CRD's admission patterns agree with the code that reads the values: every duration the
//! pattern admits decodes, and every image the operator accepts (`check_image`, run before any
//! pod is touched) is admitted — the pattern only refuses what the operator would refuse anyway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockstep_crd::validate::{DURATION_PATTERN, IMAGE_PATTERN, check_image};
use regex::Regex;

#[test]
fn every_admitted_duration_decodes() {
    let pattern = Regex::new(DURATION_PATTERN).unwrap();
    let admitted = [
        "0", "60s", "1h30m", "1.5h", ".5s", "1.s", "500ms", "1us", "2µs", "3μs", "10ns", "0s",
    ];
    let refused = [
        "soon", "", "-5s", "+5s", "5", "5d", "1e3s", "s", "1h 30m", "1..5s", "∞s",
    ];
    for text in admitted {
        assert!(pattern.is_match(text), "{text:?} admitted");
        text.parse::<kube::core::Duration>()
            .unwrap_or_else(|e| panic!("{text:?} admitted but does not decode: {e}"));
    }
    for text in refused {
        assert!(!pattern.is_match(text), "{text:?} refused");
    }
    // The original incident: `soon` was stored, then every LIST of the kind failed to decode.
    assert!("soon".parse::<kube::core::Duration>().is_err());
}

#[test]
fn every_image_the_operator_accepts_is_admitted() {
    let pattern = Regex::new(IMAGE_PATTERN).unwrap();
    for good in [
        "album:2",
        "ghcr.io/lockstep-dev/album-service:1.5.0",
        "localhost:5000/album",
        "registry.example.com:443/team/album@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "album-service:e2e",
        "a/b/c/d:v_1.2-rc.3",
    ] {
        check_image(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert!(pattern.is_match(good), "{good} admitted");
    }
    for bad in [
        "",
        "NOT A VALID image!!:",
        "album:",
        "Album:1",
        "album@sha256:xyz",
        "album:-1",
        "/album",
        "album//x",
    ] {
        assert!(!pattern.is_match(bad), "{bad:?} refused at admission");
        let refused = check_image(bad).expect_err(bad);
        assert!(
            refused.to_string().contains("release.image"),
            "{bad:?} refused by the operator too, naming the field: {refused}"
        );
    }
}
