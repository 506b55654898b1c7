//! Which failures may be retried, and how.
//!
//! TiDB documents its retryable errors but leaves retrying to the application; this module turns
//! a server error number (or a connection-level failure) into an [`ErrorClass`] that the retry
//! loop in [`crate::retry`] acts on. It is a pure table so it can be tested exhaustively.

/// How the driver treats a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The whole transaction failed and was rolled back by the server; running it again from
    /// `BEGIN` is safe (write conflicts 9007/8002, commit failed 8022, schema changed 8028,
    /// deadlock 1213).
    RetryTransaction,
    /// A write conflict with a stale start timestamp (8005); retried like a transaction, kept
    /// apart so that metrics show optimistic-mode conflicts separately.
    RetryWrite,
    /// The cluster was briefly unavailable (PD/TiKV time-out or busy, region unavailable:
    /// 9001–9005). Whether the work took effect is unknown, so it is retried only when the
    /// caller marked it idempotent.
    TransientIfIdempotent,
    /// The connection broke or could not be obtained. Safe to retry before `COMMIT` was sent;
    /// after that only idempotent work is retried.
    Connection,
    /// Retrying cannot help (size limits, lock-wait time-out, GC safe point, constraint
    /// violations, syntax, permissions, …).
    Never,
}

/// TiDB's "transaction too large" / "entry too large" errors: split the work instead.
pub const SIZE_LIMIT_CODES: [u16; 2] = [8004, 8025];

/// Classifies a MySQL/TiDB server error number.
pub fn classify_code(code: u16) -> ErrorClass {
    match code {
        8002 | 8022 | 8028 | 9007 | 1213 => ErrorClass::RetryTransaction,
        8005 => ErrorClass::RetryWrite,
        9001..=9005 => ErrorClass::TransientIfIdempotent,
        // 8004/8025 size, 1205 lock wait time-out, 9006/8055 GC life time / snapshot too old,
        // and every other server error.
        _ => ErrorClass::Never,
    }
}

/// Classifies any sqlx error: server errors by number, broken connections as
/// [`ErrorClass::Connection`], everything else as [`ErrorClass::Never`].
pub fn classify_sqlx(err: &sqlx::Error) -> ErrorClass {
    match err {
        sqlx::Error::Database(_) => server_code_of(err).map_or(ErrorClass::Never, classify_code),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => ErrorClass::Connection,
        _ => ErrorClass::Never,
    }
}

/// Classifies the crate's own error.
pub fn classify_error(err: &crate::Error) -> ErrorClass {
    match err {
        crate::Error::Server { class, .. } => *class,
        crate::Error::Sqlx { source, .. } => classify_sqlx(source),
        crate::Error::SeaOrm { source, .. } => classify_db_err(source),
        crate::Error::NoEndpointReachable { .. } | crate::Error::EndpointDown { .. } => {
            ErrorClass::Connection
        }
        // The connection was closed: like a broken link, in doubt once sent.
        crate::Error::TimedOut { .. } => ErrorClass::Connection,
        // Already decided: retrying would guess.
        crate::Error::OutcomeUnknown { .. } => ErrorClass::Never,
        _ => ErrorClass::Never,
    }
}

/// Classifies a SeaORM error by the sqlx error inside it.
pub fn classify_db_err(err: &sea_orm::DbErr) -> ErrorClass {
    match (err, sqlx_in_db_err(err)) {
        (_, Some(e)) => classify_sqlx(e),
        (sea_orm::DbErr::ConnectionAcquire(_), None) => ErrorClass::Connection,
        _ => ErrorClass::Never,
    }
}

/// The sqlx error a SeaORM error wraps, if any.
pub fn sqlx_in_db_err(err: &sea_orm::DbErr) -> Option<&sqlx::Error> {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The server error number inside a sqlx error, if it is a MySQL/TiDB server error.
pub fn server_code_of(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()?
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

impl ErrorClass {
    /// Whether the retry loop may run the work again.
    ///
    /// `idempotent`: the caller promised that running the work twice is harmless.
    /// `in_doubt`: the link broke after work that commits as it runs (`COMMIT`, an autocommit
    /// statement) was sent, so whether it took effect is unknown.
    pub fn retryable(self, idempotent: bool, in_doubt: bool) -> bool {
        match self {
            ErrorClass::RetryTransaction | ErrorClass::RetryWrite => true,
            ErrorClass::TransientIfIdempotent => idempotent,
            ErrorClass::Connection => idempotent || !in_doubt,
            ErrorClass::Never => false,
        }
    }

    /// A bounded label for metrics.
    pub fn metric_label(self) -> &'static str {
        match self {
            ErrorClass::RetryTransaction => "retry_transaction",
            ErrorClass::RetryWrite => "retry_write",
            ErrorClass::TransientIfIdempotent => "transient",
            ErrorClass::Connection => "connection",
            ErrorClass::Never => "never",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_are_classified() {
        let table: &[(u16, ErrorClass)] = &[
            (8002, ErrorClass::RetryTransaction),
            (8022, ErrorClass::RetryTransaction),
            (8028, ErrorClass::RetryTransaction),
            (9007, ErrorClass::RetryTransaction),
            (1213, ErrorClass::RetryTransaction),
            (8005, ErrorClass::RetryWrite),
            (9001, ErrorClass::TransientIfIdempotent),
            (9002, ErrorClass::TransientIfIdempotent),
            (9003, ErrorClass::TransientIfIdempotent),
            (9004, ErrorClass::TransientIfIdempotent),
            (9005, ErrorClass::TransientIfIdempotent),
            (8004, ErrorClass::Never),
            (8025, ErrorClass::Never),
            (1205, ErrorClass::Never),
            (9006, ErrorClass::Never),
            (8055, ErrorClass::Never),
            (1062, ErrorClass::Never),
            (1064, ErrorClass::Never),
        ];
        for (code, class) in table {
            assert_eq!(classify_code(*code), *class, "code {code}");
        }
    }

    #[test]
    fn retry_decision_respects_idempotence_and_commit_state() {
        use ErrorClass::*;
        // (class, idempotent, in_doubt, expected)
        let table = [
            (RetryTransaction, false, true, true),
            (RetryWrite, false, false, true),
            (TransientIfIdempotent, false, false, false),
            (TransientIfIdempotent, true, true, true),
            (Connection, false, false, true),
            (Connection, false, true, false),
            (Connection, true, true, true),
            (Never, true, false, false),
        ];
        for (class, idem, commit, want) in table {
            assert_eq!(
                class.retryable(idem, commit),
                want,
                "{class:?} {idem} {commit}"
            );
        }
    }

    #[test]
    fn io_errors_are_connection_class() {
        let err = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify_sqlx(&err), ErrorClass::Connection);
        assert_eq!(classify_sqlx(&sqlx::Error::RowNotFound), ErrorClass::Never);
    }
}
