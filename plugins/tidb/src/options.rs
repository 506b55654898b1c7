//! Connection options: one URL naming one or several TiDB endpoints.
//!
//! ```text
//! tidb://user:pass@host-a:4000,host-b:4000/app?ssl-mode=VERIFY_IDENTITY&max-connections=20
//! └─┬─┘ └───┬───┘ └──────────┬──────────┘ └┬┘ └────────────────────┬─────────────────────┘
//! scheme  user    endpoints (stateless,   db   sqlx options (ssl-*, charset, timezone, …)
//! (mysql: 3306   a pool each, the least busy      and pool options (max-connections, …
//!  tidb:  4000)  healthy one per unit of work)    per endpoint)
//! ```
//!
//! Parsing is pure: every problem (unknown option, bad port, a CA file that does not exist,
//! TiDB Cloud without TLS) is reported as [`Error::InvalidUrl`] or [`Error::Tls`] before any
//! socket is opened.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

use crate::deadline::{Timeouts, parse_duration};
use crate::error::{Error, Result};
use crate::session::SessionVars;

/// Options the driver reads itself; everything else is handed to sqlx.
const POOL_KEYS: [&str; 5] = [
    "max-connections",
    "min-connections",
    "acquire-timeout",
    "idle-timeout",
    "max-lifetime",
];
/// Options sqlx understands (and that we therefore pass through untouched).
const SQLX_KEYS: [&str; 13] = [
    "ssl-mode",
    "sslmode",
    "ssl-ca",
    "sslca",
    "ssl-cert",
    "sslcert",
    "ssl-key",
    "sslkey",
    "charset",
    "collation",
    "statement-cache-capacity",
    "timezone",
    "time-zone",
];

/// Pool sizing and timing, for each endpoint's pool. Defaults suit TiDB: TiDB servers are stateless and cheap to
/// reconnect to, load balancers in front of them drop idle connections, so connections are
/// recycled well before common LB idle limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Upper bound of open connections per endpoint (default 10): TiDB limits connections
    /// per server, and one endpoint must be able to carry the load when the others are down.
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a caller waits for a connection before `PoolTimedOut` (default 5 s).
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long (default 5 min).
    pub idle_timeout: Duration,
    /// Every connection is replaced after this long (default 30 min).
    pub max_lifetime: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(1800),
        }
    }
}

/// A parsed connection URL. `Debug` shows endpoints, user and database, never the password
/// (sqlx's own options derive `Debug` with it).
#[derive(Clone)]
pub struct ConnectOptions {
    /// One sqlx option set per endpoint, in URL order.
    pub endpoints: Vec<MySqlConnectOptions>,
    /// Pool settings from the URL's query (or defaults).
    pub pool: PoolSettings,
    /// Time bounds from the URL's query (or defaults).
    pub timeouts: Timeouts,
    /// `set.<name>=<value>` options: session variables for every new connection.
    pub session: SessionVars,
}

impl FromStr for ConnectOptions {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        parse(url)
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self.endpoints.first();
        f.debug_struct("ConnectOptions")
            .field("endpoints", &self.endpoint_names())
            .field("user", &first.map(MySqlConnectOptions::get_username))
            .field(
                "database",
                &first.and_then(MySqlConnectOptions::get_database),
            )
            .field("pool", &self.pool)
            .field("timeouts", &self.timeouts)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// `host:port` of every endpoint, for logs and errors.
    pub fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(endpoint_name).collect()
    }
}

/// `host:port` of one endpoint.
pub fn endpoint_name(options: &MySqlConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// Removes the password from a URL so it can appear in errors and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

fn parse(url: &str) -> Result<ConnectOptions> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: redact(url),
        reason,
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected `mysql://` or `tidb://`".into()))?;
    let default_port = match scheme {
        "mysql" => 3306,
        "tidb" => 4000,
        other => {
            return Err(invalid(format!(
                "unsupported scheme `{other}`, use mysql or tidb"
            )));
        }
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    if hosts.is_empty() {
        return Err(invalid("no host given".into()));
    }
    let Query {
        pool,
        timeouts,
        session,
        passthrough,
    } = split_query(query).map_err(invalid)?;

    let mut endpoints = Vec::new();
    for host in hosts.split(',') {
        let (name, port) = split_host_port(host, default_port).map_err(invalid)?;
        let single = format!(
            "mysql://{}{name}:{port}/{path}{}{passthrough}",
            userinfo.map(|u| format!("{u}@")).unwrap_or_default(),
            if passthrough.is_empty() { "" } else { "?" },
        );
        let options = MySqlConnectOptions::from_str(&single)
            .map_err(|e| invalid(format!("endpoint `{host}`: {e}")))?;
        check_tls(&options, &passthrough)?;
        endpoints.push(options);
    }
    Ok(ConnectOptions {
        endpoints,
        pool,
        timeouts,
        session,
    })
}

fn split_host_port(host: &str, default_port: u16) -> std::result::Result<(&str, u16), String> {
    let host = host.trim();
    if host.is_empty() {
        return Err("empty host in host list".into());
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("bad port `{port}` in `{host}`"))?;
            Ok((name, port))
        }
        Some(_) => Err(format!("bad host `{host}`")),
        None => Ok((host, default_port)),
    }
}

/// A URL query split into what the driver reads and what it hands to sqlx.
struct Query {
    pool: PoolSettings,
    timeouts: Timeouts,
    session: SessionVars,
    passthrough: String,
}

/// Splits the query into pool settings, time bounds, session variables and a pass-through
/// query string for sqlx. Values are taken literally (no percent-decoding).
fn split_query(query: &str) -> std::result::Result<Query, String> {
    let mut pool = PoolSettings::default();
    let mut timeouts = Timeouts::default();
    let mut session = SessionVars::default();
    let mut passthrough = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("option `{pair}` has no value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("option `{key}` wants a number, got `{value}`"))
        };
        match key {
            "max-connections" => {
                pool.max_connections = u32::try_from(number()?).map_err(|e| e.to_string())?
            }
            "min-connections" => {
                pool.min_connections = u32::try_from(number()?).map_err(|e| e.to_string())?
            }
            "acquire-timeout" => pool.acquire_timeout = parse_duration(key, value)?,
            "idle-timeout" => pool.idle_timeout = parse_duration(key, value)?,
            "max-lifetime" => pool.max_lifetime = parse_duration(key, value)?,
            k if Timeouts::KEYS.contains(&k) => timeouts.set(k, value)?,
            k if k.starts_with(SessionVars::PREFIX) => {
                session.push(&k[SessionVars::PREFIX.len()..], value)?
            }
            k if SQLX_KEYS.contains(&k) => passthrough.push(pair),
            other => {
                return Err(format!(
                    "unknown option `{other}` (known: {}, {}, set.<variable>, {})",
                    POOL_KEYS.join(", "),
                    Timeouts::KEYS.join(", "),
                    SQLX_KEYS.join(", ")
                ));
            }
        }
    }
    if pool.max_connections == 0 {
        return Err("max-connections must be at least 1".into());
    }
    if pool.min_connections > pool.max_connections {
        return Err("min-connections is larger than max-connections".into());
    }
    Ok(Query {
        pool,
        timeouts,
        session,
        passthrough: passthrough.join("&"),
    })
}

/// TLS sanity checks that sqlx would only report at connect time, or not at all.
fn check_tls(options: &MySqlConnectOptions, query: &str) -> Result<()> {
    let endpoint = endpoint_name(options);
    let tls_error = |reason: String| Error::Tls {
        endpoint: endpoint.clone(),
        reason,
    };
    for pair in query.split('&') {
        if let Some((key, file)) = pair.split_once('=')
            && matches!(
                key,
                "ssl-ca" | "sslca" | "ssl-cert" | "sslcert" | "ssl-key" | "sslkey"
            )
            && !Path::new(file).is_file()
        {
            return Err(tls_error(format!("{key} file `{file}` does not exist")));
        }
    }
    let mode = options.get_ssl_mode();
    let has_ca = query
        .split('&')
        .any(|p| p.starts_with("ssl-ca=") || p.starts_with("sslca="));
    if matches!(mode, MySqlSslMode::VerifyCa) && !has_ca {
        return Err(tls_error("ssl-mode=VERIFY_CA needs ssl-ca=<file>".into()));
    }
    if options.get_host().ends_with(".tidbcloud.com") {
        if !matches!(mode, MySqlSslMode::VerifyIdentity | MySqlSslMode::VerifyCa) {
            return Err(tls_error(
                "TiDB Cloud requires verified TLS 1.2+: add ssl-mode=VERIFY_IDENTITY".into(),
            ));
        }
        if !options.get_username().contains('.') {
            return Err(tls_error(format!(
                "TiDB Cloud user names carry a cluster prefix (`<prefix>.{}`)",
                options.get_username()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
