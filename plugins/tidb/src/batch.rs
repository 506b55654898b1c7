//! Size-aware bulk writes.
//!
//! TiDB rejects a single key-value entry over `txn-entry-size-limit` (6 MiB by default, error
//! 8025) and a transaction over `txn-total-size-limit` (error 8004); MySQL-protocol servers also
//! cap a statement at `max_allowed_packet` and 65,535 placeholders. [`plan_chunks`] cuts a list of
//! rows into statements that stay under all of these, and [`BulkInsert::execute`] sends each chunk as
//! its own auto-committed statement, retried on TiDB's retryable errors.

use std::ops::Range;

use sqlx::mysql::{MySql, MySqlArguments, MySqlConnection, MySqlPool};
use sqlx::query::Query;
use sqlx::query_builder::Separated;
use sqlx::{AssertSqlSafe, QueryBuilder};
use tokio::time::Instant;

use crate::deadline::within;
use crate::error::{Error, Result};
use crate::policy::{Attempt, AttemptError, RetryPolicy, run_with_retry};
use crate::route::Route;
use crate::sql::quote_ident;

/// The most placeholders one MySQL-protocol statement may carry.
pub const MAX_PLACEHOLDERS: usize = 65_535;

/// Limits for one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Estimated bytes of bound values per statement (default 4 MiB: below TiDB's 6 MiB entry
    /// limit and MariaDB's 16 MiB default packet, with room for the SQL text).
    pub max_bytes: usize,
    /// Rows per statement (default 1,000, TiDB's recommended batch size).
    pub max_rows: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_bytes: 4 << 20,
            max_rows: 1000,
        }
    }
}

/// What one bound value adds to a statement besides its own bytes, at most: its placeholder and
/// separator in the SQL text (`?, `), its type in the execute packet (2 bytes), its length prefix
/// (up to 9 bytes). [`BulkInsert::execute`] adds it to every value's estimated size.
pub const PER_VALUE_OVERHEAD: usize = 16;

impl BatchLimits {
    /// The defaults, with `max_bytes` lowered to fit a server's `max_allowed_packet` (read at
    /// connect, see [`crate::Db::batch_limits`]): three quarters of it, leaving room for the
    /// statement text a size estimate does not see.
    pub fn for_packet(max_allowed_packet: u64) -> Self {
        let fits = usize::try_from(max_allowed_packet / 4 * 3).unwrap_or(usize::MAX);
        let defaults = BatchLimits::default();
        BatchLimits {
            max_bytes: defaults.max_bytes.min(fits).max(1),
            ..defaults
        }
    }
}

/// Splits rows with the given estimated sizes into consecutive ranges, each within `limits` and
/// within [`MAX_PLACEHOLDERS`] for `columns` values per row.
///
/// A row that alone exceeds `max_bytes` is an error: no batching can send it.
pub fn plan_chunks(
    sizes: impl IntoIterator<Item = usize>,
    columns: usize,
    limits: BatchLimits,
) -> Result<Vec<Range<usize>>> {
    if columns == 0 || limits.max_rows == 0 || limits.max_bytes == 0 {
        return Err(Error::InvalidArgument(
            "batch limits and column count must be non-zero".into(),
        ));
    }
    let max_rows = limits.max_rows.min(MAX_PLACEHOLDERS / columns).max(1);
    let mut chunks = Vec::new();
    let (mut start, mut bytes, mut end) = (0usize, 0usize, 0usize);
    for (index, size) in sizes.into_iter().enumerate() {
        if size > limits.max_bytes {
            return Err(Error::RowTooLarge {
                index,
                bytes: size,
                limit: limits.max_bytes,
            });
        }
        if index > start && (bytes + size > limits.max_bytes || index - start == max_rows) {
            chunks.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
        end = index + 1;
    }
    if end > start {
        chunks.push(start..end);
    }
    Ok(chunks)
}

/// A bulk `INSERT` into one table: which columns, and the limits of one statement.
#[derive(Debug, Clone, Copy)]
pub struct BulkInsert<'a> {
    /// Target table (a plain identifier).
    pub table: &'a str,
    /// Columns in the order `bind` pushes values.
    pub columns: &'a [&'a str],
    /// Limits of one statement.
    pub limits: BatchLimits,
}

impl BulkInsert<'_> {
    /// The chunks for `rows`: each value's estimate plus [`PER_VALUE_OVERHEAD`].
    fn plan<R>(&self, rows: &[R], size_of: &impl Fn(&R) -> usize) -> Result<Vec<Range<usize>>> {
        let per_row = PER_VALUE_OVERHEAD * self.columns.len();
        plan_chunks(
            rows.iter().map(|r| size_of(r) + per_row),
            self.columns.len(),
            self.limits,
        )
    }

    /// Inserts `rows` in as many statements as [`plan_chunks`] says, each one auto-committed and
    /// retried under `policy`. Returns the number of rows inserted.
    ///
    /// `size_of` estimates a row's encoded size in bytes; `bind` pushes the row's values in the
    /// order of `columns`.
    ///
    /// Each chunk is its own commit. A chunk whose connection broke after it was sent is retried
    /// only when `policy.idempotent` (e.g. `INSERT IGNORE` on a unique key); otherwise the call
    /// stops with [`Error::OutcomeUnknown`] for that chunk. Any failure part-way is returned as
    /// [`Error::BatchIncomplete`] saying how many chunks and rows are committed. For
    /// all-or-nothing, run [`BulkInsert::execute_on`] inside
    /// [`crate::retry::transaction_with_retry`] (and stay under TiDB's total transaction size).
    pub async fn execute<R>(
        &self,
        pool: &MySqlPool,
        policy: &RetryPolicy,
        rows: &[R],
        size_of: impl Fn(&R) -> usize,
        bind: impl Fn(&mut Separated<'_, MySql, &'static str>, &R),
    ) -> Result<u64> {
        let head = insert_head(self.table, self.columns)?;
        let chunks = self.plan(rows, &size_of)?;
        let mut inserted = 0;
        for (index, chunk) in chunks.iter().enumerate() {
            let slice = &rows[chunk.clone()];
            let what = format!(
                "INSERT chunk {} of {} (rows {}..{}) into `{}`",
                index + 1,
                chunks.len(),
                chunk.start,
                chunk.end,
                self.table
            );
            let done = run_with_retry(policy, |attempt| {
                let mut statement = chunk_insert(&head, slice, &bind);
                let what = &what;
                async move { autocommit(pool, attempt, what, statement.build()).await }
            })
            .await;
            match done {
                Ok(n) => inserted += n,
                Err(source) => {
                    return Err(Error::BatchIncomplete {
                        failed_chunk: index,
                        chunks: chunks.len(),
                        committed_rows: inserted,
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(inserted)
    }

    /// Inserts `rows` chunk by chunk on the caller's connection or open transaction, without
    /// retrying: inside [`crate::retry::transaction_with_retry`] the whole transaction is the
    /// unit that is retried, so the batch is all-or-nothing.
    pub async fn execute_on<R>(
        &self,
        conn: &mut MySqlConnection,
        rows: &[R],
        size_of: impl Fn(&R) -> usize,
        bind: impl Fn(&mut Separated<'_, MySql, &'static str>, &R),
    ) -> Result<u64> {
        let head = insert_head(self.table, self.columns)?;
        let chunks = self.plan(rows, &size_of)?;
        let mut inserted = 0;
        for chunk in chunks {
            inserted += chunk_insert(&head, &rows[chunk], &bind)
                .build()
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        Ok(inserted)
    }
}

/// Deletes the rows matching `condition` in chunks of `chunk_rows` until none are left, so no
/// single transaction grows past TiDB's limits. Returns the number of rows deleted.
///
/// Each chunk is its own commit; a chunk in doubt is retried only under an idempotent policy
/// (deleting "the next N matching rows" again is harmless, but the count is then a lower bound).
/// A failure is [`Error::BatchIncomplete`] with the rows deleted before it (`chunks` there is
/// the number of chunks attempted: the total is not known in advance).
///
/// `condition` is SQL written by the programmer (never user input): it is spliced as is.
/// On TiDB 6.1+ [`crate::sql::batch_dml`] does the same server-side.
pub async fn delete_in_chunks(
    pool: &MySqlPool,
    policy: &RetryPolicy,
    table: &str,
    condition: &'static str,
    chunk_rows: u32,
) -> Result<u64> {
    if chunk_rows == 0 {
        return Err(Error::InvalidArgument(
            "chunk_rows must be at least 1".into(),
        ));
    }
    let sql = format!(
        "DELETE FROM {} WHERE {condition} LIMIT {chunk_rows}",
        quote_ident(table)?
    );
    let mut deleted = 0;
    let mut chunk = 0usize;
    loop {
        let what = format!("DELETE chunk {} from `{table}`", chunk + 1);
        let affected = run_with_retry(policy, |attempt| {
            let statement = sqlx::query(AssertSqlSafe(sql.clone()));
            let what = &what;
            async move { autocommit(pool, attempt, what, statement).await }
        })
        .await
        .map_err(|source| Error::BatchIncomplete {
            failed_chunk: chunk,
            chunks: chunk + 1,
            committed_rows: deleted,
            source: Box::new(source),
        })?;
        chunk += 1;
        deleted += affected;
        if affected < u64::from(chunk_rows) {
            return Ok(deleted);
        }
    }
}

/// Runs one autocommit statement within the attempt's deadline and returns the rows affected.
/// It is its own commit, so a broken link or a time-out after it was sent leaves it in doubt.
async fn autocommit(
    pool: &MySqlPool,
    attempt: Attempt,
    what: &str,
    statement: Query<'_, MySql, MySqlArguments>,
) -> std::result::Result<u64, AttemptError> {
    let started = Instant::now();
    let route = Route::single(pool);
    let mut lease = route
        .lease(attempt.deadline)
        .await
        .map_err(|e| AttemptError::before_commit(route.named(e)))?;
    let done = within(
        attempt.deadline,
        started,
        what,
        statement.execute(lease.conn()),
    )
    .await
    .map_err(|e| AttemptError::in_doubt(route.named(e), what))?;
    lease.finished();
    Ok(done.rows_affected())
}

/// The `INSERT … VALUES (…), (…)` statement of one chunk.
fn chunk_insert<R>(
    head: &str,
    rows: &[R],
    bind: &impl Fn(&mut Separated<'_, MySql, &'static str>, &R),
) -> QueryBuilder<MySql> {
    let mut builder = QueryBuilder::<MySql>::new(head.to_owned());
    builder.push_values(rows, |mut sep, row| bind(&mut sep, row));
    builder
}

fn insert_head(table: &str, columns: &[&str]) -> Result<String> {
    let columns = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!(
        "INSERT INTO {} ({}) ",
        quote_ident(table)?,
        columns.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max_bytes: usize, max_rows: usize) -> BatchLimits {
        BatchLimits {
            max_bytes,
            max_rows,
        }
    }

    #[test]
    fn chunks_respect_bytes_rows_and_placeholders() {
        assert_eq!(
            plan_chunks([4, 4, 4, 4], 1, limits(8, 10)).unwrap(),
            [0..2, 2..4]
        );
        assert_eq!(
            plan_chunks([1; 5], 1, limits(100, 2)).unwrap(),
            [0..2, 2..4, 4..5]
        );
        // 3 columns: at most 21,845 rows per statement by placeholders
        let plan = plan_chunks(vec![1; 50_000], 3, limits(usize::MAX, 100_000)).unwrap();
        assert_eq!(plan[0], 0..21_845);
        assert!(
            plan_chunks(Vec::<usize>::new(), 1, BatchLimits::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn limits_fit_the_server_packet() {
        assert_eq!(BatchLimits::for_packet(64 << 20), BatchLimits::default());
        let one_mib = BatchLimits::for_packet(1 << 20);
        assert_eq!(one_mib.max_bytes, 786_432);
        assert_eq!(one_mib.max_rows, 1000);
        assert_eq!(BatchLimits::for_packet(0).max_bytes, 1);
    }

    #[test]
    fn an_oversized_row_is_a_typed_error() {
        let err = plan_chunks([1, 9, 1], 1, limits(8, 10)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::RowTooLarge {
                    index: 1,
                    bytes: 9,
                    limit: 8
                }
            ),
            "{err}"
        );
        assert!(plan_chunks([1], 0, BatchLimits::default()).is_err());
    }

    #[test]
    fn insert_head_quotes_and_checks_names() {
        assert_eq!(
            insert_head("albums", &["title", "price"]).unwrap(),
            "INSERT INTO `albums` (`title`, `price`) "
        );
        assert!(insert_head("albums; DROP", &["x"]).is_err());
    }

    proptest! {
        #[test]
        fn chunks_cover_every_row_once_within_limits(
            sizes in proptest::collection::vec(0usize..100, 0..300),
            max_bytes in 100usize..1000,
            max_rows in 1usize..50,
            columns in 1usize..5,
        ) {
            let plan = plan_chunks(sizes.iter().copied(), columns, limits(max_bytes, max_rows)).unwrap();
            let mut next = 0;
            for range in &plan {
                prop_assert_eq!(range.start, next);
                prop_assert!(!range.is_empty());
                prop_assert!(range.len() <= max_rows);
                prop_assert!(sizes[range.clone()].iter().sum::<usize>() <= max_bytes);
                next = range.end;
            }
            prop_assert_eq!(next, sizes.len());
        }
    }
}
