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
    /// Run the controllers only while holding the leader Lease (safe with several replicas).
    #[arg(long, env = "LOCKSTEP_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "LOCKSTEP_LEASE_NAME", default_value = "lockstep-operator")]
    pub lease_name: String,
    /// Namespace of the leader Lease; the client's default namespace (the pod's) when unset.
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This candidate's identity in the Lease; the host name (the pod name) when unset.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Lease duration in seconds: a standby takes over this long after the leader vanished.
    #[arg(long, env = "LOCKSTEP_LEASE_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=300))]
    pub lease_seconds: u64,
    /// Prometheus base URL for canary analysis (e.g. `http://prometheus.monitoring:9090`).
    /// Without it, a rollout with `analysis` never passes its analysis steps.
    #[arg(long, env = "PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Reconciles running at once, per kind. Bounds memory and API load when thousands of
    /// services are reconciled together (start-up, operator upgrade).
    #[arg(long, env = "LOCKSTEP_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Server-side apply the operator's own CustomResourceDefinitions at start and wait until
    /// they are served, so a chart upgrade that changes them takes effect (Helm never upgrades
    /// `crds/`). Needs RBAC on those two CRDs; off for namespaced installs.
    #[arg(long, env = "LOCKSTEP_MANAGE_CRDS", default_value_t = false, action = clap::ArgAction::Set)]
    pub manage_crds: bool,
    /// Bound on connecting to the API server and on each read and write of a request, so a
    /// hung API server fails a reconcile (retried with backoff) instead of stalling it forever.
    /// Longer than the server-side watch timeout (290 s), so an idle watch is not cut.
    #[arg(long, env = "LOCKSTEP_API_TIMEOUT_SECONDS", default_value_t = 295, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub api_timeout_seconds: u64,
    /// Log as JSON lines (`--log-json=false` for text).
    #[arg(long, env = "LOCKSTEP_LOG_JSON", default_value_t = true, action = clap::ArgAction::Set)]
    pub log_json: bool,
}

impl Args {
    /// An operator run inside another program (benchmarks, the e2e suite's in-process
    /// operator): HTTP on a free loopback port, no leader election, no analysis, plain logs,
    /// CRDs left alone; `identity` names it in events. Every other field as the CLI defaults it.
    pub fn in_process(identity: &str) -> Args {
        Args {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            namespace: None,
            leader_election: false,
            lease_name: "lockstep-operator".into(),
            lease_namespace: None,
            identity: Some(identity.to_owned()),
            lease_seconds: 15,
            prometheus_url: None,
            concurrency: 16,
            manage_crds: false,
            api_timeout_seconds: 295,
            log_json: false,
        }
    }
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
        assert!(args.leader_election, "on by default");
        assert!(!args.manage_crds, "needs cluster-wide RBAC: opt-in");
        assert_eq!(
            args.api_timeout_seconds, 295,
            "beyond the 290 s server-side watch timeout"
        );
        assert_eq!(args.lease_seconds, 15);
        assert!(
            Args::try_parse_from(["lockstep-operator", "--lease-seconds", "1"]).is_err(),
            "a lease shorter than 3 s cannot be renewed in time"
        );
    }

    #[test]
    fn in_process_differs_from_the_cli_only_where_it_says() {
        let cli = Args::try_parse_from([
            "lockstep-operator",
            "--http-addr",
            "127.0.0.1:0",
            "--leader-election",
            "false",
            "--log-json",
            "false",
            "--identity",
            "bench",
        ])
        .unwrap();
        assert_eq!(
            format!("{:?}", Args::in_process("bench")),
            format!("{cli:?}")
        );
    }
}
