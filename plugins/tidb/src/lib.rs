//! # lockstep-tidb — a TiDB driver on sqlx
//!
//! TiDB speaks the MySQL protocol, so this crate builds on `sqlx-mysql` and adds what TiDB's own
//! documentation asks applications to do but no driver does for them:
//!
//! ```text
//!  URL (mysql:// | tidb://, several hosts, TLS, time bounds, set.<session variable>)
//!      ──► options ──► Db ──► MySqlPool ──► SeaORM
//!                       │  a pool per endpoint, picked per unit of work; health: pings, backoff
//!  your closure ──► retry::transaction_with_retry ──► policy::run_with_retry
//!                        BEGIN [PESSIMISTIC]          classify error number → retry?
//!                        work / COMMIT / ROLLBACK     sleep ((1.5^n)+rand)*100 ms
//!                        (deadline: attempt-timeout within retry-budget; in doubt → OutcomeUnknown)
//!  rows ──► batch::plan_chunks ──► one statement per chunk under max_allowed_packet / 65,535 binds
//!  sql: AUTO_RANDOM keys, AS OF TIMESTAMP stale reads, BATCH ON … LIMIT (TiDB; Unsupported elsewhere)
//!  types: guards for values sqlx decodes wrongly without an error (signed TIME, exact DECIMAL)
//! ```
//!
//! On MySQL or MariaDB the portable parts degrade to plain behaviour (`BEGIN`, `AUTO_INCREMENT`,
//! current reads), so the same code runs against the local test server and TiDB; what cannot be
//! honoured there (`BEGIN OPTIMISTIC`, `AS OF` in a query) is refused with a typed error.
//!
//! ```no_run
//! # async fn demo() -> lockstep_tidb::Result<()> {
//! use lockstep_tidb::Db;
//! let db = Db::connect("tidb://app@tidb-0:4000,tidb-1:4000/shop").await?;
//! let id: u64 = db
//!     .transaction_with_retry(|tx| Box::pin(async move {
//!         let done = sqlx::query("UPDATE stock SET n = n - 1 WHERE sku = ?")
//!             .bind("A-1")
//!             .execute(&mut *tx)
//!             .await?;
//!         Ok(done.rows_affected())
//!     }))
//!     .await?;
//! # let _ = id; Ok(()) }
//! ```

pub mod batch;
mod bypass;
pub mod classify;
pub mod cluster;
pub mod deadline;
pub mod error;
pub mod health;
pub mod options;
pub mod policy;
pub mod retry;
mod route;
pub mod server;
pub mod session;
pub mod sql;
mod steps;
pub mod types;

pub use batch::{BatchLimits, BulkInsert, delete_in_chunks, plan_chunks};
pub use classify::{ErrorClass, classify_code};
pub use cluster::Db;
pub use deadline::{Lease, Timeouts};
pub use error::{Error, Result};
pub use health::{EndpointStatus, HealthCheck, HealthStats};
pub use options::{ConnectOptions, PoolSettings};
pub use policy::{Attempt, Retry, RetryMetrics, RetryPolicy, RetrySnapshot, TxnMode};
pub use retry::{sea_transaction_with_retry, transaction_with_retry};
pub use server::{ServerInfo, ServerKind};
pub use session::{SessionValue, SessionVars};
pub use sql::AsOf;
pub use types::{ExactDecimal, SignedTime, time_delta};
