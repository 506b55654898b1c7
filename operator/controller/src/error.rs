//! The operator's error type.

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a reconcile can fail with. Every variant is retried by the controller with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a call.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The object lacks a field the API server always sets (name, namespace, uid).
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// A plan referred to a revision that is not in the cluster any more.
    #[error("revision {0} vanished during the reconcile")]
    RevisionVanished(i64),
    /// The watch caches did not show a write of this reconcile in time; planning again from
    /// them could repeat it.
    #[error("the caches do not show {0} yet")]
    CacheBehind(String),
    /// The wiring never started the watch of this kind (a kind missing from `every_kind!`).
    #[error("no watch of {0} services was started")]
    KindNotWatched(&'static str),
}

impl Error {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::RevisionVanished(_) => "revision_vanished",
            Error::CacheBehind(_) => "cache_behind",
            Error::KindNotWatched(_) => "kind_not_watched",
        }
    }
}
