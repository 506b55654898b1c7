//! Loading the config file the operator versions.

use lockstep_service_config::{ConfigError, ServiceConfig};
use sha2::{Digest, Sha256};

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It does not parse or does not validate (the error names the field).
    #[error("config file {path}: {source}")]
    Invalid {
        /// The path given.
        path: String,
        /// The cause.
        #[source]
        source: ConfigError,
    },
}

/// A loaded config and the hash `/version` and `build_info` report.
#[derive(Debug, Clone)]
pub struct Loaded<C> {
    /// The validated config.
    pub config: C,
    /// sha256 (hex) of the canonical text ([`ServiceConfig::to_yaml`]): equal configs hash
    /// equally however the file was formatted.
    pub hash: String,
}

/// Parses and validates `text`.
pub fn parse<C: ServiceConfig>(path: &str, text: &str) -> Result<Loaded<C>, LoadError> {
    let invalid = |source| LoadError::Invalid {
        path: path.to_owned(),
        source,
    };
    let config = C::from_yaml(text).map_err(invalid)?;
    let canonical = config.to_yaml().map_err(invalid)?;
    let hash = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Loaded { config, hash })
}

/// Reads, parses and validates the file at `path`.
pub fn load<C: ServiceConfig>(path: &str) -> Result<Loaded<C>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// The file at `path`, or the config's defaults when no path is given (a fresh checkout runs
/// with `cargo run`).
pub fn load_or_default<C: ServiceConfig + Default>(
    path: Option<&str>,
) -> Result<Loaded<C>, LoadError> {
    match path {
        Some(path) => load(path),
        None => {
            let text = C::default()
                .to_yaml()
                .map_err(|source| LoadError::Invalid {
                    path: "<built-in defaults>".into(),
                    source,
                })?;
            parse("<built-in defaults>", &text)
        }
    }
}

/// `check-config FILE`: prints `ok <hash>` and exits 0, or the reason (naming the field) and
/// exits 1.
pub fn check_config<C: ServiceConfig>(path: &str) -> std::process::ExitCode {
    check_config_with::<C>(path, |_| Ok(()))
}

/// [`check_config`] plus `preflight`: the files and paths the service will open, checked on
/// this machine (a config can be valid and still name a key file that is not there).
pub fn check_config_with<C: ServiceConfig>(
    path: &str,
    preflight: impl Fn(&C) -> Result<(), String>,
) -> std::process::ExitCode {
    let checked = load::<C>(path)
        .map_err(|e| e.to_string())
        .and_then(|loaded| preflight(&loaded.config).map(|()| loaded.hash));
    match checked {
        Ok(hash) => {
            println!("ok {path} sha256:{hash}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The exit of a service binary: a failure is one line on stderr — the error and its causes,
/// `a: b: c` — and exit code 1, never Rust's `Error: …` debug print (which, with
/// `RUST_BACKTRACE` set, added a 35-frame backtrace to "the secret is not set").
pub fn exit_with<E: std::fmt::Display>(
    result: Result<std::process::ExitCode, E>,
) -> std::process::ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}

/// Whether the embedded SQLite file can be created or opened for writing: its directory exists
/// and takes a new file. Nothing to check when the database comes from `url_env`.
pub fn writable_sqlite_path(service: &impl ServiceConfig) -> Result<(), String> {
    if service.database().url_env.is_some() {
        return Ok(());
    }
    let path = std::path::Path::new(service.sqlite_path());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let probe = dir.join(format!(".lockstep-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| {
            format!(
                "database.sqlite_path: cannot write in {}: {e}",
                dir.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
