//! The crate's one error type.
//!
//! Server errors keep TiDB's error number, SQLSTATE and message, plus the retry class the driver
//! derived from them, so a caller can log, alert or branch without re-parsing strings.

use std::time::Duration;

use crate::classify::ErrorClass;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the driver can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection URL could not be understood (bad scheme, host list, port or option).
    /// `url` has the password removed.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with its password redacted.
        url: String,
        /// What exactly is wrong with it.
        reason: String,
    },

    /// TLS settings are inconsistent or point at files that do not exist, or the server
    /// demands TLS (TiDB Cloud) and the URL disables it.
    #[error("TLS misconfiguration for {endpoint}: {reason}")]
    Tls {
        /// `host:port` the setting applies to.
        endpoint: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// No endpoint answered when the driver started, or the health checker knows every
    /// endpoint is down: the driver's operations then fail with this at once, top-level
    /// (never inside [`Error::RetriesExhausted`]), so one match arm covers "the database is
    /// down":
    ///
    /// ```
    /// use lockstep_tidb::Error;
    ///
    /// fn status(err: &Error) -> (u16, String) {
    ///     match err {
    ///         Error::NoEndpointReachable { attempts } => {
    ///             let down: Vec<String> =
    ///                 attempts.iter().map(|(endpoint, why)| format!("{endpoint} ({why})")).collect();
    ///             (503, format!("database unavailable: {}", down.join(", ")))
    ///         }
    ///         other => (500, other.to_string()),
    ///     }
    /// }
    ///
    /// let err = Error::NoEndpointReachable {
    ///     attempts: vec![
    ///         ("tidb-0:4000".into(), "Connection refused (os error 111)".into()),
    ///         ("tidb-1:4000".into(), "probe timed out".into()),
    ///     ],
    /// };
    /// assert_eq!(status(&err).0, 503);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "no database endpoint is reachable: tidb-0:4000: Connection refused (os error 111); \
    ///      tidb-1:4000: probe timed out"
    /// );
    /// ```
    #[error("no database endpoint is reachable: {}", describe_endpoints(.attempts))]
    NoEndpointReachable {
        /// Each endpoint with the reason it failed.
        attempts: Vec<(String, String)>,
    },

    /// Work was waiting for a connection to `endpoint` when the health checker found it down;
    /// nothing was sent. Retried on another endpoint.
    #[error("endpoint {endpoint} went down while waiting for its connection: {reason}")]
    EndpointDown {
        /// `host:port`.
        endpoint: String,
        /// Why its probe failed.
        reason: String,
    },

    /// A step did not finish within its time bound (see [`crate::deadline::Timeouts`]); the
    /// connection it used was closed. `sent` is false when the step was waiting for a connection,
    /// so nothing reached the server.
    #[error("{what} timed out after {after:?}{}{}", if *.sent { "" } else { " (nothing was sent)" }, on(.endpoint))]
    TimedOut {
        /// The step: `BEGIN`, `COMMIT`, the work, a chunk, waiting for a connection.
        what: String,
        /// How long the attempt had run when it was stopped.
        after: Duration,
        /// Whether the step may have reached the server.
        sent: bool,
        /// `host:port` of the endpoint the attempt ran on (see [`Error::endpoint`]).
        endpoint: Option<Box<str>>,
    },

    /// The server returned an error. `class` says whether and how it may be retried.
    #[error("server error {code} ({sqlstate}) [{class:?}]{}: {message}", on(.endpoint))]
    Server {
        /// The MySQL/TiDB error number, e.g. 9007.
        code: u16,
        /// The SQLSTATE, e.g. `HY000`.
        sqlstate: String,
        /// The server's message.
        message: String,
        /// How the driver classified it.
        class: ErrorClass,
        /// `host:port` of the endpoint that answered (see [`Error::endpoint`]).
        endpoint: Option<Box<str>>,
        /// The underlying sqlx error.
        #[source]
        source: sqlx::Error,
    },

    /// A retryable error kept happening until the attempt or time budget ran out.
    #[error("gave up after {attempts} attempts in {elapsed:?}: {last}")]
    RetriesExhausted {
        /// How many times the work ran.
        attempts: u32,
        /// Time spent including backoff sleeps.
        elapsed: Duration,
        /// The error of the last attempt.
        #[source]
        last: Box<Error>,
    },

    /// The link broke after work that commits as it runs was sent — a `COMMIT`, an autocommit
    /// statement or a batch chunk — so it may or may not have taken effect. The driver did not
    /// retry it (the policy does not declare the work idempotent): check before running it again.
    #[error(
        "outcome unknown: {what} was sent{} and the connection broke before the reply; it may or may not have taken effect: {source}", on(.endpoint)
    )]
    OutcomeUnknown {
        /// The statement, chunk or `COMMIT` in doubt.
        what: String,
        /// `host:port` of the endpoint it was sent to: the server to check.
        endpoint: Option<Box<str>>,
        /// The connection failure.
        #[source]
        source: Box<Error>,
    },

    /// A batch stopped part-way: the chunks before `failed_chunk` are committed, the rest were
    /// not sent (or, with an [`Error::OutcomeUnknown`] source, the failed one is in doubt).
    #[error(
        "batch stopped at chunk {failed_chunk} of {chunks}: {committed_rows} rows in {failed_chunk} chunks were committed before it: {source}"
    )]
    BatchIncomplete {
        /// 0-based index of the chunk that failed = the number of committed chunks.
        failed_chunk: usize,
        /// Chunks the batch was split into.
        chunks: usize,
        /// Rows committed by the earlier chunks.
        committed_rows: u64,
        /// Why the chunk failed.
        #[source]
        source: Box<Error>,
    },

    /// One row is larger than the batch byte limit, so it can never be sent in a batch.
    #[error("row {index} needs {bytes} bytes, over the batch limit of {limit} bytes")]
    RowTooLarge {
        /// Position of the row in the input.
        index: usize,
        /// Its estimated encoded size.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },

    /// A TiDB feature was asked of a server that does not have it. Refused before any SQL is
    /// sent, instead of a syntax error from the server or a silent plain-MySQL substitute.
    #[error("{feature} needs {needs}; the server is `{server}`")]
    Unsupported {
        /// What was asked, e.g. `BEGIN OPTIMISTIC`.
        feature: String,
        /// Which server and version has it, e.g. `TiDB 5.1+`.
        needs: &'static str,
        /// The server's `VERSION()` (or its family when only that is known).
        server: String,
    },

    /// A value read exactly cannot be converted without losing digits (see [`crate::types`]).
    #[error("{value} does not fit {into} exactly: {reason}")]
    Lossy {
        /// The exact value, as the server sent it.
        value: String,
        /// The type it was to become.
        into: &'static str,
        /// Why not.
        reason: String,
    },

    /// An argument to a SQL helper was out of range or unsafe to splice into SQL.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The caller's own closure stopped the work with an error of its own; never retried.
    #[error("transaction work failed: {0}")]
    Work(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A SeaORM call failed with an error that is not a server error.
    #[error("{source}{}", on(.endpoint))]
    SeaOrm {
        /// SeaORM's error.
        #[source]
        source: sea_orm::DbErr,
        /// `host:port` of the endpoint the work ran on (see [`Error::endpoint`]).
        endpoint: Option<Box<str>>,
    },

    /// Any other sqlx failure (I/O, pool time-out, decoding, protocol).
    #[error("{source}{}", on(.endpoint))]
    Sqlx {
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
        /// `host:port` of the endpoint the work ran on (see [`Error::endpoint`]).
        endpoint: Option<Box<str>>,
    },
}

impl Error {
    /// A short, bounded label for Prometheus metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "invalid_url",
            Error::Tls { .. } => "tls",
            Error::NoEndpointReachable { .. } => "no_endpoint",
            Error::EndpointDown { .. } => "endpoint_down",
            Error::TimedOut { .. } => "timed_out",
            Error::Server { .. } => "server",
            Error::RetriesExhausted { .. } => "retries_exhausted",
            Error::OutcomeUnknown { .. } => "outcome_unknown",
            Error::BatchIncomplete { .. } => "batch_incomplete",
            Error::RowTooLarge { .. } => "row_too_large",
            Error::Unsupported { .. } => "unsupported",
            Error::Lossy { .. } => "lossy",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Work(_) => "work",
            Error::SeaOrm { .. } => "sea_orm",
            Error::Sqlx { .. } => "sqlx",
        }
    }

    /// The server error number, if this error (or the last retried attempt) came from the server.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Error::Server { code, .. } => Some(*code),
            Error::RetriesExhausted { last, .. } => last.server_code(),
            Error::OutcomeUnknown { source, .. } | Error::BatchIncomplete { source, .. } => {
                source.server_code()
            }
            Error::SeaOrm { source, .. } => {
                crate::classify::sqlx_in_db_err(source).and_then(crate::classify::server_code_of)
            }
            _ => None,
        }
    }

    /// `host:port` of the endpoint the failing step ran on, when the error came from work on a
    /// connection (for [`Error::RetriesExhausted`], the last attempt's). The driver's own
    /// operations name it exactly: each endpoint has its own pool (see [`crate::Db`]).
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Error::TimedOut { endpoint, .. }
            | Error::Server { endpoint, .. }
            | Error::SeaOrm { endpoint, .. }
            | Error::Sqlx { endpoint, .. } => endpoint.as_deref(),
            Error::EndpointDown { endpoint, .. } => Some(endpoint),
            Error::OutcomeUnknown {
                endpoint, source, ..
            } => endpoint.as_deref().or_else(|| source.endpoint()),
            Error::RetriesExhausted { last, .. } => last.endpoint(),
            Error::BatchIncomplete { source, .. } => source.endpoint(),
            _ => None,
        }
    }

    /// Names `endpoint` as where this error happened, unless it already names one.
    pub fn at(mut self, name: &str) -> Error {
        self.name_endpoint(name);
        self
    }

    fn name_endpoint(&mut self, name: &str) {
        match self {
            Error::TimedOut { endpoint, .. }
            | Error::Server { endpoint, .. }
            | Error::SeaOrm { endpoint, .. }
            | Error::Sqlx { endpoint, .. } => {
                endpoint.get_or_insert_with(|| name.into());
            }
            Error::OutcomeUnknown {
                endpoint, source, ..
            } => {
                endpoint.get_or_insert_with(|| name.into());
                source.name_endpoint(name);
            }
            Error::RetriesExhausted { last: inner, .. }
            | Error::BatchIncomplete { source: inner, .. } => inner.name_endpoint(name),
            _ => {}
        }
    }
}

/// ` on host:port` for messages, or nothing.
fn on(endpoint: &Option<Box<str>>) -> String {
    endpoint
        .as_deref()
        .map_or_else(String::new, |e| format!(" on {e}"))
}

impl From<sea_orm::DbErr> for Error {
    fn from(source: sea_orm::DbErr) -> Self {
        Error::SeaOrm {
            source,
            endpoint: None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        let plain = |source| Error::Sqlx {
            source,
            endpoint: None,
        };
        let Some(db) = err.as_database_error() else {
            return plain(err);
        };
        let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() else {
            return plain(err);
        };
        let code = mysql.number();
        let sqlstate = mysql.code().unwrap_or("HY000").to_owned();
        let message = mysql.message().to_owned();
        Error::Server {
            code,
            sqlstate,
            message,
            class: crate::classify::classify_code(code),
            endpoint: None,
            source: err,
        }
    }
}

fn describe_endpoints(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(endpoint, reason)| format!("{endpoint}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}
