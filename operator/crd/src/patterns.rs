//! The regular expressions the CRD schema states, below both the spec types that carry them and
//! the validation that re-checks what they cannot say.

/// What the CRD admits as a pause duration: a non-negative Go duration (`90s`, `1h30m`, `0`),
/// the format `kube::core::Duration` reads. Without it the API server stored `soon`, and the
/// object could then not be decoded.
pub const DURATION_PATTERN: &str = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

/// What the CRD admits as `release.image`: the container image reference grammar of the
/// distribution project (`[registry[:port]/]path[:tag][@algorithm:hex]`). `validate::check_image` is
/// stricter (lowercase `sha256` digests only) and runs in the operator and `lint`; the pattern
/// refuses the empty and the plainly malformed at admission, before any controller sees them.
pub const IMAGE_PATTERN: &str = concat!(
    r"^(?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])",
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])",
    r"(?::[0-9]+)?/)?",
    r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*",
    r"(?::[\w][\w.-]{0,127})?",
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?$",
);
