//! Exact outcomes for writes under the request timeout.
//!
//! The request timeout drops a handler's future. Dropped before its write was sent, nothing
//! happens and 504 is the truth. Dropped while its `INSERT` or `COMMIT` was in flight, the
//! write may still commit on the server while the client is told 504: 64 concurrent
//! registrations on MariaDB answered 29 × 504 and 35 × 201, and 36 users existed. So a handler
//! says [`writing`] right before its first write; from then on the timeout no longer cancels
//! it, and the client gets the write's own result (late), never a guess. What bounds a write
//! then is the database driver's own time bounds (acquire, attempt, retry budget).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

tokio::task_local! {
    static WRITING: Arc<AtomicBool>;
}

/// Marks the current request as writing: the request timeout no longer cancels it. Call it
/// right before the first statement that changes data (after validation, hashing, reads).
/// Outside a request (a test calling a handler directly) it does nothing.
pub fn writing() {
    let _ = WRITING.try_with(|flag| flag.store(true, Ordering::SeqCst));
}

/// How a request run under [`bounded`] ended.
#[derive(Debug)]
pub enum Bounded<T> {
    /// It finished within the timeout.
    Done(T),
    /// It finished after the timeout, because it had started writing.
    Late(T),
    /// It was cancelled at the timeout before writing anything.
    TimedOut,
}

/// Runs `request` for at most `timeout`, unless it has started [`writing`] by then: then it
/// runs to completion.
pub async fn bounded<T>(timeout: Duration, request: impl Future<Output = T>) -> Bounded<T> {
    let flag = Arc::new(AtomicBool::new(false));
    let request = WRITING.scope(flag.clone(), request);
    tokio::pin!(request);
    match tokio::time::timeout(timeout, &mut request).await {
        Ok(done) => Bounded::Done(done),
        Err(_) if flag.load(Ordering::SeqCst) => Bounded::Late(request.await),
        Err(_) => Bounded::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_that_started_writing_finishes() {
        let wrote = Arc::new(AtomicBool::new(false));
        let w = wrote.clone();
        let outcome = bounded(Duration::from_secs(1), async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            writing();
            tokio::time::sleep(Duration::from_secs(2)).await;
            w.store(true, Ordering::SeqCst);
            7
        })
        .await;
        assert!(matches!(outcome, Bounded::Late(7)), "{outcome:?}");
        assert!(wrote.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_still_reading_is_cancelled_and_a_quick_one_is_done() {
        let wrote = Arc::new(AtomicBool::new(false));
        let w = wrote.clone();
        let outcome = bounded(Duration::from_secs(1), async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            writing();
            w.store(true, Ordering::SeqCst);
        })
        .await;
        assert!(matches!(outcome, Bounded::TimedOut), "{outcome:?}");
        assert!(!wrote.load(Ordering::SeqCst));
        let quick = bounded(Duration::from_secs(1), async { 1 }).await;
        assert!(matches!(quick, Bounded::Done(1)));
        writing(); // outside a request: nothing to mark, no panic
    }
}
