//! The typed kinds: `release.config` is the service's own config type, so a manifest that
//! validates is a file the binary parses.

use lockstep_crd::status::ServiceStatus;
use lockstep_crd::{AlbumService, NoteService, UserService};
use lockstep_service_config::{ConfigError, ServiceConfig};

use super::revision::{Revision, RevisionContent};
use super::rollback::rollback_patch;
use super::{CommonSpec, LockstepService, NamedPort, common_spec};

macro_rules! impl_service {
    ($kind:ty, $component:literal, $config:ty) => {
        impl LockstepService for $kind {
            const COMPONENT: &'static str = $component;

            fn common(&self) -> CommonSpec<'_> {
                common_spec!(&self.spec)
            }

            fn content(&self) -> Result<RevisionContent, ConfigError> {
                // The same checks `kubectl lockstep lint` runs offline.
                self.spec.check()?;
                let release = &self.spec.release;
                // The port is part of the identity as the pods get it: an unset `pod.port`
                // follows the config, so stating the same port later is no new revision.
                let mut pod = self.spec.pod.clone();
                pod.port = Some(release.config.port());
                Ok(RevisionContent {
                    version: release.version.clone(),
                    image: release.image.clone(),
                    config: release.config.to_yaml()?,
                    pod,
                    app: None,
                })
            }

            fn service_ports(&self) -> Vec<NamedPort> {
                // `http` on 80, and `grpc` on its own number when the config serves gRPC.
                let grpc = self.spec.release.config.grpc_port();
                std::iter::once(NamedPort::new("http", 80))
                    .chain(grpc.map(|p| NamedPort::new("grpc", p)))
                    .collect()
            }

            fn status(&self) -> Option<&ServiceStatus> {
                self.status.as_ref()
            }

            fn rollback_patch(&self, rev: &Revision) -> Result<serde_json::Value, ConfigError> {
                let value = |v: Result<serde_json::Value, serde_json::Error>| {
                    v.unwrap_or(serde_json::Value::Null)
                };
                rollback_patch::<$config>(
                    &value(serde_json::to_value(&self.spec.release)),
                    &value(serde_json::to_value(&self.spec.pod)),
                    rev,
                )
            }
        }
    };
}

impl_service!(AlbumService, "album", lockstep_service_config::AlbumConfig);
impl_service!(NoteService, "note", lockstep_service_config::NoteConfig);
impl_service!(UserService, "user", lockstep_service_config::UserConfig);
