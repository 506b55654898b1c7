//! Logs: JSON lines (or text) at the config's level; `RUST_LOG` overrides for debugging.

use lockstep_service_config::{LogConfig, LogFormat};

/// Installs the global subscriber. Call once, from `main`.
pub fn init(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // A second init (tests) is not an error worth stopping for: the first subscriber stays.
    let _ = match log.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
