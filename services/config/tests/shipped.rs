//! Every config file the repository ships parses and validates, so compose and docs never drift
//! from the types.

use lockstep_service_config::{AlbumConfig, NoteConfig, ServiceConfig, UserConfig};
use serde::Deserialize;

fn read(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn compose_stack_configs_are_valid() {
    AlbumConfig::from_yaml(&read("compose/stack/album.yaml")).expect("compose/stack/album.yaml");
    NoteConfig::from_yaml(&read("compose/stack/note.yaml")).expect("compose/stack/note.yaml");
    UserConfig::from_yaml(&read("compose/stack/user.yaml")).expect("compose/stack/user.yaml");
}

#[test]
fn compose_stack_services_send_traces_to_its_jaeger() {
    let stack: serde_yaml::Value = serde_yaml::from_str(&read("compose/stack.yml")).unwrap();
    let services = &stack["services"];
    let jaeger_ports = services["jaeger"]["ports"].as_sequence().expect("jaeger");
    assert!(jaeger_ports.iter().any(|p| p.as_str() == Some("4318:4318")));
    for name in ["album", "note", "user"] {
        let endpoint = &services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"];
        assert_eq!(endpoint.as_str(), Some("http://jaeger:4318"), "{name}");
    }
}

/// The stack publishes each service on the port it takes when run by hand with no config
/// (album 8080, note 8081, user 8082): one set of ports in every README path (compose used
/// 8081/8082/8083).
#[test]
fn compose_publishes_the_ports_services_take_by_hand() {
    let stack: serde_yaml::Value = serde_yaml::from_str(&read("compose/stack.yml")).unwrap();
    for (name, by_hand) in [
        ("album", AlbumConfig::default().port()),
        ("note", NoteConfig::default().port()),
        ("user", UserConfig::default().port()),
    ] {
        let ports = stack["services"][name]["ports"].as_sequence().expect(name);
        let published: Vec<&str> = ports.iter().filter_map(|p| p.as_str()).collect();
        assert_eq!(published, [format!("{by_hand}:8080")], "{name}");
    }
    assert_eq!(
        [
            AlbumConfig::default().port(),
            NoteConfig::default().port(),
            UserConfig::default().port()
        ],
        [8080, 8081, 8082]
    );
}

/// The user service example's ConfigMap holds a config the service accepts.
#[test]
fn the_user_service_example_config_is_valid() {
    let text = read("examples/user-service.yaml");
    let config_map = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_yaml::Value::deserialize(doc).unwrap())
        .find(|doc| doc["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    let config = config_map["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml");
    UserConfig::from_yaml(config).expect("examples/user-service.yaml");
}
