//! Every config file the repository ships parses and validates, so compose and docs never drift
//! from the types.

use lockstep_service_config::{AlbumConfig, NoteConfig, ServiceConfig, UserConfig};

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

/// The configs of the local run (`services/README.md`: all three services by hand, RS256)
/// are valid, take the ports the README calls, and name files of the repository.
#[test]
fn the_local_run_configs_are_valid_and_name_real_files() {
    let album = AlbumConfig::from_yaml(&read("services/local/album.yaml")).expect("album");
    let note = NoteConfig::from_yaml(&read("services/local/note.yaml")).expect("note");
    let user = UserConfig::from_yaml(&read("services/local/user.yaml")).expect("user");
    assert_eq!([album.port(), note.port(), user.port()], [8080, 8081, 8082]);
    assert_eq!(note.auth.hs256_secret_env, None, "RS256 only");
    let public = note.auth.rs256_public_key_file.as_deref().expect("RS256");
    assert_eq!(public, "compose/stack/jwt/public.pem");
    assert_eq!(
        user.tokens.private_key_file,
        "compose/stack/jwt/private.pem"
    );
    assert_eq!(note.auth.audience, user.tokens.audience);
    assert_eq!(note.auth.issuer, user.tokens.issuer);
    for path in [
        public,
        &user.tokens.private_key_file,
        &note.encryption.keys_dir,
    ] {
        read_exists(path);
    }
}

fn read_exists(path: &str) {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(&full).exists(),
        "{path} does not exist"
    );
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

/// The user service example's `spec.release.config` is a config the service accepts.
#[test]
fn the_user_service_example_config_is_valid() {
    let text = read("examples/user-service.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("one YAML document");
    assert_eq!(doc["kind"], "UserService");
    let config = serde_yaml::to_string(&doc["spec"]["release"]["config"]).unwrap();
    UserConfig::from_yaml(&config).expect("examples/user-service.yaml");
}
