//! The rules an `AppService` must meet that its CRD schema and CEL rules do not state: the config
//! renders in its format and meets `release.configSchema`, the file's place is sound, ports are
//! distinct and probes name one of them, Secret volumes are clear of the config directory. The
//! operator refuses a spec that breaks one (`ConfigValid=False`, nothing rolled out) and
//! `kubectl lockstep lint` runs the same code offline.

use std::collections::BTreeSet;

use lockstep_service_config::ConfigError;

use crate::app::{AppPod, AppProbe, AppRelease, ConfigFile};
use crate::kinds::AppServiceSpec;
use crate::validate::{check_image, check_secret_volumes_clear_of};

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl AppServiceSpec {
    /// Every rule of this module, in the order the operator reports them; the config file on
    /// success (what the revision records).
    pub fn check(&self) -> Result<String, ConfigError> {
        let release = &self.release;
        check_image(&release.image)?;
        check_config_file(&release.config_file)?;
        let file = release
            .render()
            .map_err(|e| invalid("release.config", e.to_string()))?;
        check_schema(release)?;
        check_ports(&self.pod)?;
        if self
            .rollout
            .preflight
            .as_ref()
            .is_some_and(|p| p.command.is_empty())
        {
            return Err(invalid(
                "rollout.preflight.command",
                "an AppService names its check: the image's own command is not known",
            ));
        }
        check_secret_volumes_clear_of(&self.pod.secret_volumes, &release.config_file.mount_path)?;
        Ok(file)
    }
}

/// An absolute, normal directory that is not `/` or `/tmp` (the pod's scratch space), and a file
/// name that is a name, not a path.
fn check_config_file(file: &ConfigFile) -> Result<(), ConfigError> {
    let path = file.mount_path.trim_end_matches('/');
    let normal = path.starts_with('/')
        && path
            .split('/')
            .skip(1)
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if !normal {
        return Err(invalid(
            "release.configFile.mountPath",
            format!("`{}` must be an absolute directory", file.mount_path),
        ));
    }
    if path == "/tmp" || path.starts_with("/tmp/") {
        return Err(invalid(
            "release.configFile.mountPath",
            format!(
                "`{}` overlaps /tmp, the pod's scratch directory",
                file.mount_path
            ),
        ));
    }
    let name = &file.file_name;
    let name_ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(invalid(
            "release.configFile.fileName",
            format!("`{name}`: letters, digits, '.', '_' and '-' only"),
        ));
    }
    Ok(())
}

/// The config against `release.configSchema` (JSON Schema 2020-12): the first violation, with
/// its JSON pointer and the rule it breaks. A schema that is not one is refused too.
fn check_schema(release: &AppRelease) -> Result<(), ConfigError> {
    let Some(schema) = &release.config_schema else {
        return Ok(());
    };
    let validator = jsonschema::draft202012::new(schema).map_err(|e| {
        invalid(
            "release.configSchema",
            format!("not a JSON Schema 2020-12: {e}"),
        )
    })?;
    match validator.iter_errors(&release.config).next() {
        None => Ok(()),
        Some(e) => {
            let pointer = e.instance_path().as_str();
            let at = if pointer.is_empty() { "/" } else { pointer };
            Err(invalid(
                "release.config",
                format!(
                    "does not match release.configSchema at {at}: {e} (rule `{}`)",
                    e.kind().keyword()
                ),
            ))
        }
    }
}

/// At least one port, names and numbers distinct, and every probe naming a declared port.
fn check_ports(pod: &AppPod) -> Result<(), ConfigError> {
    if pod.ports.is_empty() {
        return Err(invalid(
            "pod.ports",
            "at least one port: the Service routes to it and probes name it",
        ));
    }
    let (mut names, mut numbers, mut service) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for p in &pod.ports {
        let service_port = p.service_port.unwrap_or(p.container_port);
        if !names.insert(p.name.as_str())
            || !numbers.insert(p.container_port)
            || !service.insert(service_port)
        {
            return Err(invalid(
                "pod.ports",
                format!(
                    "{}: a name, containerPort or servicePort used twice",
                    p.name
                ),
            ));
        }
    }
    let probes = [
        ("pod.readinessProbe", &pod.readiness_probe),
        ("pod.livenessProbe", &pod.liveness_probe),
    ];
    for (field, probe) in probes {
        let Some(probe) = probe else { continue };
        let port = probe_port(probe);
        if !port.is_some_and(|p| names.contains(p)) {
            return Err(invalid(
                field,
                format!(
                    "port `{}` is not one of pod.ports ({})",
                    port.unwrap_or_default(),
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn probe_port(probe: &AppProbe) -> Option<&str> {
    match (&probe.http_get, &probe.tcp_socket) {
        (Some(http), None) => Some(&http.port),
        (None, Some(tcp)) => Some(&tcp.port),
        _ => None,
    }
}
