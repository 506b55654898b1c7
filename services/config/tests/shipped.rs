//! Every config file the repository ships parses and validates, so compose and docs never drift
//! from the types.

use lockstep_service_config::{AlbumConfig, NoteConfig, ServiceConfig};

fn read(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn compose_stack_configs_are_valid() {
    AlbumConfig::from_yaml(&read("compose/stack/album.yaml")).expect("compose/stack/album.yaml");
    NoteConfig::from_yaml(&read("compose/stack/note.yaml")).expect("compose/stack/note.yaml");
}
