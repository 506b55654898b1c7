//! Command line and environment, parsed once at start-up.

use std::net::SocketAddr;

/// The Lockstep operator.
#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Args {
    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(long, env = "LOCKSTEP_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Watch one namespace only (namespaced install); all namespaces when unset.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Log as JSON lines (`--log-json=false` for text).
    #[arg(long, env = "LOCKSTEP_LOG_JSON", default_value_t = true, action = clap::ArgAction::Set)]
    pub log_json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn verify_cli() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "lockstep-operator",
            "--namespace",
            "shop",
            "--log-json",
            "false",
        ])
        .unwrap();
        assert_eq!(args.namespace.as_deref(), Some("shop"));
        assert!(!args.log_json);
        assert_eq!(args.http_addr.port(), 8080);
    }
}
