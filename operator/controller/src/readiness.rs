//! `/readyz`: a leader is ready once its controllers' caches hold a first complete LIST (before
//! that it would act on a partial picture, and a stalled API server would go unnoticed behind
//! a 200); a standby, which runs no controller, is ready as it is, so it keeps counting as
//! available for a PodDisruptionBudget.

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

/// The readiness answer: a standby is ready; a leader once every cache is synced.
pub fn ready(leading: bool, caches_synced: &[bool]) -> bool {
    !leading || caches_synced.iter().all(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_waits_for_its_caches_a_standby_does_not() {
        assert!(ready(false, &[false, false]), "standby");
        assert!(
            !ready(true, &[true, false]),
            "leader with one cache not synced"
        );
        assert!(ready(true, &[true, true]));
    }
}
