//! Fixtures shared by the operator's integration tests.

#![allow(dead_code)] // each test crate uses its own subset

use lockstep_crd::AlbumService;
use lockstep_operator::kinds::LockstepService;
use lockstep_operator::kinds::revision::Revision;

/// `examples/album-service.yaml` as if read from the API server (namespace, uid, generation).
pub(crate) fn album() -> AlbumService {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/album-service.yaml"
    );
    let text = std::fs::read_to_string(path).expect("examples/album-service.yaml");
    let mut svc: AlbumService = serde_yaml::from_str(&text).expect("a valid AlbumService");
    svc.metadata.namespace = Some("shop".into());
    svc.metadata.uid = Some("uid-1".into());
    svc.metadata.generation = Some(1);
    svc
}

/// Revision `number` of `svc`'s spec, as the operator records it.
pub(crate) fn revision<S: LockstepService>(svc: &S, number: i64) -> Revision {
    let content = svc.content().expect("a valid spec");
    Revision {
        number,
        hash: content.hash(),
        content,
        cause: "spec change".into(),
        created: "2026-12-07T00:00:00Z".into(),
    }
}
