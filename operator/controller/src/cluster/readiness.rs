//! `/readyz`: a replica is ready once every cache holds a first complete LIST. Leader or
//! standby alike: the caches run on both (a standby takes over warm), and before they are
//! filled a leader would act on a partial picture and a standby could not take over at once;
//! a stalled API server would go unnoticed behind a 200.

use futures::FutureExt;
use kube::runtime::reflector::Store;

/// Whether `store` has been filled by a first complete LIST (without waiting).
pub fn synced<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .wait_until_ready()
        .now_or_never()
        .is_some_and(|r| r.is_ok())
}

/// The readiness answer: every cache is synced.
pub fn ready(caches_synced: &[bool]) -> bool {
    caches_synced.iter().all(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_cache_is_synced() {
        assert!(!ready(&[true, false]), "one cache not synced");
        assert!(ready(&[true, true]));
    }
}
