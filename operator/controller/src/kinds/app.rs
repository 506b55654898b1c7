//! `AppService`: any image. The manifest states what a typed kind's binary implies — where the
//! config file goes and in which format, the schema it meets, the ports, the probes, the
//! command line — and all of it is part of the revision.

use lockstep_crd::AppService;
use lockstep_crd::app::{AppRelease, parse};
use lockstep_crd::spec::PodTemplate;
use lockstep_crd::status::ServiceStatus;
use lockstep_service_config::ConfigError;

use super::revision::{AppRevision, Revision, RevisionContent};
use super::rollback::release_patch;
use super::{CommonSpec, LockstepService, NamedPort, common_spec};

impl LockstepService for AppService {
    const COMPONENT: &'static str = "app";

    fn common(&self) -> CommonSpec<'_> {
        common_spec!(&self.spec)
    }

    fn content(&self) -> Result<RevisionContent, ConfigError> {
        // The same checks `kubectl lockstep lint` runs offline; the file on success.
        let config = self.spec.check()?;
        let release = &self.spec.release;
        Ok(RevisionContent {
            version: release.version.clone(),
            image: release.image.clone(),
            config,
            // The typed kinds' pod fields; this kind's are in `app.pod`.
            pod: PodTemplate::default(),
            app: Some(AppRevision {
                config_file: release.config_file.clone(),
                config_schema: release.config_schema.clone(),
                pod: self.spec.pod.clone(),
            }),
        })
    }

    fn service_ports(&self) -> Vec<NamedPort> {
        self.spec
            .pod
            .ports
            .iter()
            .map(|p| NamedPort::new(&p.name, p.service_port.unwrap_or(p.container_port)))
            .collect()
    }

    fn status(&self) -> Option<&ServiceStatus> {
        self.status.as_ref()
    }

    fn rollback_patch(&self, rev: &Revision) -> Result<serde_json::Value, ConfigError> {
        let Some(app) = &rev.content.app else {
            return Err(ConfigError::Invalid {
                field: "rollbackTo",
                reason: format!("revision {} was not recorded by an AppService", rev.number),
            });
        };
        let config = parse(&rev.content.config, app.config_file.format).map_err(|e| {
            ConfigError::Invalid {
                field: "rollbackTo",
                reason: format!("revision {}: {e}", rev.number),
            }
        })?;
        let release = AppRelease {
            version: rev.content.version.clone(),
            image: rev.content.image.clone(),
            config,
            config_file: app.config_file.clone(),
            config_schema: app.config_schema.clone(),
        };
        let json =
            |v: Result<serde_json::Value, serde_json::Error>| v.unwrap_or(serde_json::Value::Null);
        Ok(release_patch(
            &json(serde_json::to_value(&self.spec.release)),
            &json(serde_json::to_value(&self.spec.pod)),
            &json(serde_json::to_value(&release)),
            &json(serde_json::to_value(&app.pod)),
        ))
    }
}
