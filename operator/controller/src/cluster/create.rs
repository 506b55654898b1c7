//! Creating an object whose name carries its content (a revision's ConfigMap, its preflight Job):
//! one that exists already is this one, so `409 AlreadyExists` is success, not a failed reconcile.

use kube::api::{Api, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cluster::observe::{Kind, Written};
use crate::error::Result;

/// Creates `object` through `api`: what was written, or `None` when it exists already.
pub async fn create_once<K>(api: &Api<K>, object: &K, kind: Kind) -> Result<Option<Written>>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(created) => Ok(Some(Written::of(kind, &created))),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}
