//! Keeps the cluster's CustomResourceDefinitions those of this operator build.
//!
//! Helm installs `charts/lockstep/crds/` once and never upgrades it (helm/helm#8972, by design),
//! so a chart upgrade that changes the schema would silently keep the old one. With
//! `--manage-crds` (the chart sets it on a cluster-wide install) the operator writes its
//! embedded CRDs at start and waits until the API server serves them. RBAC for this is scoped
//! to the two CRD names (the `Scope::Crds` entry of [`crate::run::rbac::PERMISSIONS`]); a
//! namespaced install never gets it and never calls this.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

use crate::cluster::execute::FIELD_MANAGER;

/// Why the CRDs could not be made current.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The API server refused the write or the read (RBAC, validation).
    #[error("writing CustomResourceDefinition {name}: {source}")]
    Apply {
        /// CRD name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The CRD does not exist: RBAC cannot limit a create to a name, so the operator is not
    /// allowed to create CRDs; Helm's `crds/` (or `kubectl apply`) installs them once.
    #[error(
        "CustomResourceDefinition {name} is not installed: install the chart without --skip-crds, \
         or kubectl apply -f charts/lockstep/crds/ (the operator only upgrades its CRDs)"
    )]
    Missing {
        /// CRD name.
        name: String,
    },
    /// The CRD was applied but not reported `Established` in time.
    #[error("CustomResourceDefinition {name} is not Established after {waited:?}")]
    NotEstablished {
        /// CRD name.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
}

/// Whether the API server reports `crd` as established (its resources are served).
pub fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Makes every embedded CRD's spec the cluster's: the stored CRD's spec is replaced (PUT, on the
/// resourceVersion just read), then each is awaited `Established` for up to `wait`. An
/// unchanged CRD is a no-op on the server (no new resourceVersion, no watch event).
///
/// Not server-side apply: fields of a CRD installed by `helm install` are owned by Helm's field
/// manager, and apply keeps fields another manager owns, so a property this build removed
/// would stay in the served schema. A replace leaves exactly this build's spec.
pub async fn ensure(client: &kube::Client, wait: Duration) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in lockstep_crd::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let failed = |source| CrdError::Apply {
            name: name.clone(),
            source,
        };
        let Some(mut applied) = replace(&api, &name, crd).await.map_err(failed)? else {
            return Err(CrdError::Missing { name });
        };
        let started = tokio::time::Instant::now();
        while !established(&applied) {
            if started.elapsed() >= wait {
                return Err(CrdError::NotEstablished { name, waited: wait });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            applied = api.get(&name).await.map_err(failed)?;
        }
        tracing::info!(crd = %name, resource_version = ?applied.metadata.resource_version,
            "CustomResourceDefinition is current");
    }
    Ok(())
}

/// Replaces the spec of the stored `crd` (`None` when there is none), retrying a lost race
/// (409) a few times: another replica may write the same CRD at the same moment.
async fn replace(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    crd: CustomResourceDefinition,
) -> Result<Option<CustomResourceDefinition>, kube::Error> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let Some(mut stored) = api.get_opt(name).await? else {
            return Ok(None);
        };
        stored.spec = crd.spec.clone();
        // Labels and annotations of ours win; others' (e.g. Helm's) stay.
        for (mine, theirs) in [
            (&crd.metadata.labels, &mut stored.metadata.labels),
            (&crd.metadata.annotations, &mut stored.metadata.annotations),
        ] {
            if let Some(mine) = mine {
                theirs.get_or_insert_default().extend(mine.clone());
            }
        }
        stored.metadata.managed_fields = None;
        match api.replace(name, &params, &stored).await {
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 5 => continue,
            other => return other.map(Some),
        }
    }
}
