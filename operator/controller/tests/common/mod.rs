//! Fixtures shared by the operator's integration tests.

use lockstep_crd::AlbumService;

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
