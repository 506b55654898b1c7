//! The rules a release must meet that the CRD's schema and CEL rules do not state: the typed
//! config file's own validation, a well-formed image reference, the pod port matching the
//! config's, Secret volumes clear of the config directory. The operator refuses a release that
//! breaks one (`ConfigValid=False`, no pods touched); `kubectl lockstep lint` runs the same
//! code offline, before the manifest reaches a cluster.

use lockstep_service_config::{ConfigError, ServiceConfig};

use crate::spec::SecretVolume;
use crate::{AlbumServiceSpec, NoteServiceSpec, UserServiceSpec};

pub use crate::patterns::{DURATION_PATTERN, IMAGE_PATTERN};

/// Where the operator mounts the revision's config file in every pod.
pub const CONFIG_DIR: &str = "/etc/lockstep";

macro_rules! impl_check {
    ($spec:ty) => {
        impl $spec {
            /// Every rule of this module, in the order the operator reports them.
            pub fn check(&self) -> Result<(), ConfigError> {
                let release = &self.release;
                release.config.validate()?;
                check_image(&release.image)?;
                let listens = release.config.port();
                if let Some(port) = self.pod.port
                    && port != listens
                {
                    return Err(ConfigError::Invalid {
                        field: "pod.port",
                        reason: format!(
                            "{port} but the config makes the service listen on {listens}: probes and the Service would miss the process (leave pod.port out to follow the config)"
                        ),
                    });
                }
                check_secret_volumes(&self.pod.secret_volumes)
            }
        }
    };
}

impl_check!(AlbumServiceSpec);
impl_check!(NoteServiceSpec);
impl_check!(UserServiceSpec);

/// Checks `release.image` as a container image reference (`[host[:port]/]path[:tag][@sha256:…]`):
/// the API server accepts any string there, and a Deployment with an empty or malformed image
/// is refused (422) or never starts (`InvalidImageName`) — a config error instead, with no pods
/// touched.
pub fn check_image(image: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Invalid {
        field: "release.image",
        reason: format!("`{image}`: {reason}"),
    };
    if image.is_empty() {
        return Err(bad("an image is required"));
    }
    let (named, digest) = match image.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(bad(
                "the digest must be sha256: and 64 lowercase hex digits",
            ));
        }
    }
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match named[last_slash..].rfind(':') {
        Some(i) => (&named[..last_slash + i], Some(&named[last_slash + i + 1..])),
        None => (named, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return Err(bad(
                "a tag is 1-128 of [A-Za-z0-9_.-], not starting with . or -",
            ));
        }
    }
    let mut components = path.split('/').peekable();
    let host = components.next().filter(|first| {
        path.contains('/') && (first.contains(['.', ':']) || *first == "localhost")
    });
    if let Some(host) = host {
        let (name, port) = host.split_once(':').unwrap_or((host, "0"));
        if name.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the registry must be host[:port]"));
        }
    }
    let repository: Vec<&str> = if host.is_some() {
        components.collect()
    } else {
        path.split('/').collect()
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if repository.is_empty() || !repository.iter().all(|c| component_ok(c)) {
        return Err(bad(
            "repository path components are lowercase letters, digits and . _ -",
        ));
    }
    Ok(())
}

/// The rules for `pod.secretVolumes` that the schema does not state: DNS-1123 names short enough
/// for the `secret-` prefix, absolute mount paths clear of the config directory and `/tmp`, no
/// name or path twice. Broken rules read like config errors (`ConfigValid=False`, no pods
/// touched).
pub fn check_secret_volumes(volumes: &[SecretVolume]) -> Result<(), ConfigError> {
    check_secret_volumes_clear_of(volumes, CONFIG_DIR)
}

/// [`check_secret_volumes`] for a config file mounted in `config_dir` (an `AppService` says
/// where).
pub fn check_secret_volumes_clear_of(
    volumes: &[SecretVolume],
    config_dir: &str,
) -> Result<(), ConfigError> {
    let config_dir = config_dir.trim_end_matches('/');
    let bad = |reason: String| ConfigError::Invalid {
        field: "pod.secretVolumes",
        reason,
    };
    let label = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let mut seen = std::collections::BTreeSet::new();
    for v in volumes {
        if !label(&v.name) || v.name.len() > 56 {
            return Err(bad(format!(
                "name `{}`: lowercase letters, digits and '-', at most 56",
                v.name
            )));
        }
        if v.secret_name.is_empty() || v.secret_name.len() > 253 {
            return Err(bad(format!(
                "{}: secretName must be a Secret's name",
                v.name
            )));
        }
        let path = v.mount_path.trim_end_matches('/');
        let under = |dir: &str| path == dir || path.starts_with(&format!("{dir}/"));
        if !path.starts_with('/') || path.split('/').any(|p| p == "..") || path.is_empty() {
            return Err(bad(format!(
                "{}: mountPath `{}` must be an absolute path",
                v.name, v.mount_path
            )));
        }
        if under(config_dir) || under("/tmp") || config_dir.starts_with(&format!("{path}/")) {
            return Err(bad(format!(
                "{}: mountPath `{}` overlaps {config_dir} or /tmp",
                v.name, v.mount_path
            )));
        }
        if !seen.insert(v.name.as_str()) || !seen.insert(path) {
            return Err(bad(format!("{}: name or mountPath used twice", v.name)));
        }
    }
    Ok(())
}
