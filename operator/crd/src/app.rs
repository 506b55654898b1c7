//! `AppService`: any team's image, with its config file in the format the binary reads.
//!
//! The typed kinds know their binary: its config type, its port, its probes, its command line.
//! Here the manifest says all of it — `release.configFile` (where the file goes and in which
//! format), `pod.ports`, `pod.readinessProbe`/`livenessProbe`, `pod.command`/`pod.args` — and
//! `release.configSchema` stands in for the config type: a JSON Schema the config must meet
//! before anything rolls out. Nothing here loosens the pod's security: the renderer applies the
//! restricted Pod Security profile to every kind alike.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::{SecretEnv, SecretVolume};

/// Any JSON document, kept as the API server received it.
fn any_document(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

fn optional_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// One release of an `AppService`: the image, its config file, and the schema that file must
/// meet — rolled out and back together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRelease {
    /// Human version label (`1.4.2`); shown in `kubectl get`, not part of identity.
    pub version: String,
    /// Container image, ideally pinned by digest.
    #[schemars(regex(pattern = crate::patterns::IMAGE_PATTERN))]
    pub image: String,
    /// The config document: an object, written to the file in `configFile.format`; a string
    /// for `format: text`, written as it is.
    #[schemars(schema_with = "any_document")]
    pub config: serde_json::Value,
    /// Where the file is mounted, its name, and its format.
    pub config_file: ConfigFile,
    /// A JSON Schema (2020-12) the config must meet: a config that does not is refused before
    /// anything rolls out. Part of the revision, so a rollback restores the schema that
    /// matched its binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_object")]
    pub config_schema: Option<serde_json::Value>,
}

/// The config file of an `AppService`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigFile {
    /// Absolute directory the file is mounted in (read-only), e.g. `/etc/app`.
    #[schemars(length(min = 2, max = 1024))]
    pub mount_path: String,
    /// The file's name in that directory, e.g. `config.toml`.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub file_name: String,
    /// How `release.config` is written to the file.
    pub format: ConfigFormat,
}

/// How the config document becomes the file.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    /// YAML.
    Yaml,
    /// JSON, indented.
    Json,
    /// TOML (the document must be an object; TOML has no null).
    Toml,
    /// The document is a string, written as it is.
    Text,
}

/// A port of the app: the container listens on `containerPort`, the Service exposes it as
/// `servicePort` (default: the same number) under the same name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPort {
    /// A name (an IANA service name: lowercase letters, digits and '-', at most 15), which
    /// probes refer to.
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub name: String,
    /// The port the process listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: u16,
    /// The port on the Service; unset: `containerPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub service_port: Option<u16>,
}

/// An HTTP GET probe.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetProbe {
    /// The path, e.g. `/healthz`.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// The name of one of `pod.ports`.
    pub port: String,
}

/// A TCP connect probe.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketProbe {
    /// The name of one of `pod.ports`.
    pub port: String,
}

/// A readiness or liveness probe: exactly one of `httpGet` and `tcpSocket`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.httpGet) != has(self.tcpSocket)").message("a probe is either httpGet or tcpSocket"))]
pub struct AppProbe {
    /// Probe with an HTTP GET; 2xx and 3xx pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetProbe>,
    /// Probe by opening a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketProbe>,
    /// Seconds between probes (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: Option<i32>,
    /// Seconds after the container starts before the first probe (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub initial_delay_seconds: Option<i32>,
    /// Failures in a row that count (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: Option<i32>,
}

/// How an `AppService`'s pods run the image. Part of the revision's identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppPod {
    /// The container's entrypoint; unset: the image's. May name the config file
    /// (`configFile.mountPath`/`configFile.fileName`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,
    /// Arguments to the entrypoint; unset: the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub args: Vec<String>,
    /// The ports the process listens on (at least one: the Service routes to them).
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub ports: Vec<AppPort>,
    /// When a pod receives traffic (and counts towards a canary step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<AppProbe>,
    /// When a pod is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<AppProbe>,
    /// The uid (and gid) the container runs as; never 0. Unset: 65532, the distroless
    /// `nonroot` user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub run_as_user: Option<i64>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Variables from Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<SecretEnv>,
    /// Secrets mounted as files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_volumes: Vec<SecretVolume>,
}

/// Why a config document cannot be written in its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("release.config as {format:?}: {reason}")]
pub struct RenderError {
    /// The format asked for.
    pub format: ConfigFormat,
    /// What is wrong.
    pub reason: String,
}

impl AppRelease {
    /// The config file, byte for byte what the pods read.
    pub fn render(&self) -> Result<String, RenderError> {
        render(&self.config, self.config_file.format)
    }
}

/// Writes `config` in `format`: an object for YAML, JSON and TOML, a string for text.
pub fn render(config: &serde_json::Value, format: ConfigFormat) -> Result<String, RenderError> {
    let bad = |reason: String| RenderError { format, reason };
    match (format, config) {
        (ConfigFormat::Text, serde_json::Value::String(text)) => Ok(text.clone()),
        (ConfigFormat::Text, _) => Err(bad("format text takes a string".into())),
        (_, serde_json::Value::Object(_)) => match format {
            ConfigFormat::Yaml => serde_yaml::to_string(config).map_err(|e| bad(e.to_string())),
            ConfigFormat::Json => serde_json::to_string_pretty(config)
                .map(|json| json + "\n")
                .map_err(|e| bad(e.to_string())),
            _ => toml::to_string(config).map_err(|e| bad(e.to_string())),
        },
        _ => Err(bad("an object is required".into())),
    }
}

/// Reads a file [`render`] wrote back into the document (a rollback restores `release.config`
/// from the revision's file).
pub fn parse(file: &str, format: ConfigFormat) -> Result<serde_json::Value, RenderError> {
    let bad = |reason: String| RenderError { format, reason };
    match format {
        ConfigFormat::Text => Ok(serde_json::Value::String(file.to_owned())),
        ConfigFormat::Yaml => serde_yaml::from_str(file).map_err(|e| bad(e.to_string())),
        ConfigFormat::Json => serde_json::from_str(file).map_err(|e| bad(e.to_string())),
        ConfigFormat::Toml => toml::from_str::<toml::Table>(file)
            .map_err(|e| bad(e.to_string()))
            .and_then(|t| serde_json::to_value(t).map_err(|e| bad(e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_and_wrong_shapes_are_refused() {
        let doc = serde_json::json!({
            "listen": {"port": 8080, "host": "0.0.0.0"},
            "greeting": "hi",
            "ratio": 0.5,
            "tags": ["a", "b"],
            "debug": false
        });
        for format in [ConfigFormat::Yaml, ConfigFormat::Json, ConfigFormat::Toml] {
            let file = render(&doc, format).unwrap();
            assert_eq!(parse(&file, format).unwrap(), doc, "{format:?}: {file}");
        }
        assert!(
            render(&doc, ConfigFormat::Toml)
                .unwrap()
                .contains("[listen]")
        );
        let text = serde_json::json!("port=8080\n");
        assert_eq!(render(&text, ConfigFormat::Text).unwrap(), "port=8080\n");
        assert_eq!(parse("port=8080\n", ConfigFormat::Text).unwrap(), text);
        assert!(render(&doc, ConfigFormat::Text).is_err());
        assert!(render(&text, ConfigFormat::Yaml).is_err());
        let null = serde_json::json!({"a": null});
        let err = render(&null, ConfigFormat::Toml).unwrap_err();
        assert_eq!(err.format, ConfigFormat::Toml);
    }
}
