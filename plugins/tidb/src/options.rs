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

mod url;

pub use url::redact;

/// Options the driver reads itself; everything else is handed to sqlx.
const POOL_KEYS: [&str; 6] = [
    "max-connections",
    "min-connections",
    "acquire-timeout",
    "idle-timeout",
    "max-lifetime",
    "alive-bypass-window",
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
    /// Idempotent work ([`crate::cluster::Db::run_with_retry`]) gets a connection used within
    /// this long without sqlx's ping before use (default 500 ms, HikariCP's
    /// `aliveBypassWindowMs`; zero always pings). See `crate::bypass`.
    pub alive_bypass_window: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(1800),
            alive_bypass_window: Duration::from_millis(500),
        }
    }
}

/// A parsed connection URL. `Debug` shows endpoints, user and database, never the password;
/// the sqlx options (which carry it, and whose own `Debug` prints it) are not public.
#[derive(Clone)]
pub struct ConnectOptions {
    /// One sqlx option set per endpoint, in URL order.
    pub(crate) endpoints: Vec<MySqlConnectOptions>,
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
        f.debug_struct("ConnectOptions")
            .field("endpoints", &self.endpoint_names())
            .field("user", &self.user())
            .field("database", &self.database())
            .field("pool", &self.pool)
            .field("timeouts", &self.timeouts)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl ConnectOptions {
    /// `host:port` of every endpoint (`[ipv6]:port` for IPv6), for logs and errors.
    pub fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(endpoint_name).collect()
    }

    /// The user name every endpoint is logged into with.
    pub fn user(&self) -> &str {
        self.endpoints
            .first()
            .map_or("", MySqlConnectOptions::get_username)
    }

    /// The default database, if the URL names one.
    pub fn database(&self) -> Option<&str> {
        self.endpoints
            .first()
            .and_then(MySqlConnectOptions::get_database)
    }
}

/// `host:port` of one endpoint.
pub fn endpoint_name(options: &MySqlConnectOptions) -> String {
    display_endpoint(options.get_host(), options.get_port())
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn display_endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn parse(url: &str) -> Result<ConnectOptions> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: redact(url),
        reason,
    };
    let parts = url::split(url).map_err(invalid)?;
    let Query {
        pool,
        timeouts,
        session,
        passthrough,
    } = split_query(parts.query).map_err(invalid)?;
    // sqlx reads the pass-through options (TLS, charset, time zone) from a URL that holds no
    // secret; user, password and database are set directly, so no sqlx error can quote them.
    let base = MySqlConnectOptions::from_str(&format!("mysql://localhost/?{passthrough}"))
        .map_err(|e| invalid(format!("options: {e}")))?;
    let mut endpoints = Vec::new();
    for (host, port) in &parts.hosts {
        let mut options = base.clone().host(host).port(*port);
        if let Some(user) = &parts.user {
            options = options.username(user);
        }
        if let Some(password) = &parts.password {
            options = options.password(password);
        }
        if let Some(database) = &parts.database {
            options = options.database(database);
        }
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

/// A URL query split into what the driver reads and what it hands to sqlx.
struct Query {
    pool: PoolSettings,
    timeouts: Timeouts,
    session: SessionVars,
    passthrough: String,
}

/// The most connections one endpoint's pool may open: far above any TiDB server's comfort, but
/// a typo like `max-connections=1000000` is refused instead of taken.
const MAX_CONNECTIONS: u32 = 10_000;

/// Splits the query into pool settings, time bounds, session variables and a pass-through
/// query string for sqlx. The driver's own values are taken literally (no percent-decoding);
/// sqlx decodes the pass-through ones. An option given twice (also as its alias, `sslmode`
/// for `ssl-mode`) is refused: which one would win is a guess.
fn split_query(query: &str) -> std::result::Result<Query, String> {
    let mut pool = PoolSettings::default();
    let mut timeouts = Timeouts::default();
    let mut session = SessionVars::default();
    let mut passthrough = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("option `{pair}` has no value"))?;
        let canonical = key.replace('-', "");
        if !key.starts_with(SessionVars::PREFIX) {
            if seen.contains(&canonical) {
                return Err(format!("option `{key}` is given twice"));
            }
            seen.push(canonical);
        }
        let connections = || match value.parse::<u32>() {
            Ok(n) if n <= MAX_CONNECTIONS => Ok(n),
            _ => Err(format!(
                "option `{key}` wants a number from 0 to {MAX_CONNECTIONS}, got `{value}`"
            )),
        };
        match key {
            "max-connections" => pool.max_connections = connections()?,
            "min-connections" => pool.min_connections = connections()?,
            "acquire-timeout" => pool.acquire_timeout = parse_duration(key, value)?,
            "idle-timeout" => pool.idle_timeout = parse_duration(key, value)?,
            "max-lifetime" => pool.max_lifetime = parse_duration(key, value)?,
            // Zero is allowed here: it turns the bypass off.
            "alive-bypass-window" if matches!(value, "0" | "0s" | "0ms") => {
                pool.alive_bypass_window = Duration::ZERO
            }
            "alive-bypass-window" => pool.alive_bypass_window = parse_duration(key, value)?,
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
            && !url::decode(file).is_some_and(|path| Path::new(&path).is_file())
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
