//! Unit tests of the retry loop on a paused clock.

use super::*;
use crate::classify::ErrorClass;

fn server_error(code: u16) -> Error {
    Error::Server {
        code,
        sqlstate: "HY000".into(),
        message: format!("error {code}"),
        class: crate::classify::classify_code(code),
        endpoint: None,
        source: sqlx::Error::RowNotFound,
    }
}

#[test]
fn backoff_follows_tidb_formula_and_is_capped() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(150));
    assert_eq!(policy.backoff(2, 0.5), Duration::from_millis(275));
    assert_eq!(policy.backoff(3, 0.0), Duration::from_micros(337_500));
    assert_eq!(policy.backoff(30, 0.9), policy.max_backoff);
    // jitter is clamped into [0, 1]
    assert_eq!(policy.backoff(1, 7.0), Duration::from_millis(250));
}

#[test]
fn begin_statement_degrades_or_refuses_off_tidb() {
    assert_eq!(
        TxnMode::Pessimistic.begin_statement(true).unwrap(),
        "BEGIN PESSIMISTIC"
    );
    assert_eq!(
        TxnMode::Optimistic.begin_statement(true).unwrap(),
        "BEGIN OPTIMISTIC"
    );
    assert_eq!(
        TxnMode::Pessimistic.begin_statement(false).unwrap(),
        "BEGIN"
    );
    assert_eq!(
        TxnMode::ServerDefault.begin_statement(true).unwrap(),
        "BEGIN"
    );
    assert_eq!(
        TxnMode::ServerDefault.begin_statement(false).unwrap(),
        "BEGIN"
    );
    // Optimistic cannot be honoured off TiDB: refused, not silently pessimistic.
    let err = TxnMode::Optimistic.begin_statement(false).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported { needs: "TiDB", .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_retryable_codes_until_success() {
    let policy = RetryPolicy::default();
    let out = run_with_retry(&policy, |a| async move {
        if a.number < 4 {
            Err(server_error(9007).into())
        } else {
            Ok(a.number)
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 4);
    let s = policy.metrics.snapshot();
    assert_eq!((s.transactions, s.attempts, s.total_retries()), (1, 4, 3));
    assert_eq!(s.retries[class_index(ErrorClass::RetryTransaction)], 3);
}

#[tokio::test(start_paused = true)]
async fn never_retries_a_non_retryable_error() {
    let policy = RetryPolicy::default();
    let err = run_with_retry(&policy, |_| async {
        Err::<(), _>(server_error(8004).into())
    })
    .await
    .unwrap_err();
    assert_eq!(err.server_code(), Some(8004));
    assert!(matches!(err, Error::Server { .. }));
    assert_eq!(policy.metrics.snapshot().attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_need_idempotent_work() {
    let strict = RetryPolicy::default();
    run_with_retry(&strict, |_| async {
        Err::<(), _>(server_error(9005).into())
    })
    .await
    .unwrap_err();
    assert_eq!(strict.metrics.snapshot().attempts, 1);

    let relaxed = RetryPolicy {
        idempotent: true,
        ..RetryPolicy::default()
    };
    let out = run_with_retry(&relaxed, |a| async move {
        if a.number == 1 {
            Err(server_error(9005).into())
        } else {
            Ok("done")
        }
    })
    .await
    .unwrap();
    assert_eq!(out, "done");
}

fn io() -> Error {
    Error::from(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
}

#[tokio::test(start_paused = true)]
async fn a_broken_commit_is_outcome_unknown_unless_idempotent() {
    let policy = RetryPolicy::default();
    let err = run_with_retry(&policy, |_| async move {
        Err::<(), _>(AttemptError::in_doubt(io(), "COMMIT"))
    })
    .await
    .unwrap_err();
    match &err {
        Error::OutcomeUnknown { what, source, .. } => {
            assert_eq!(what, "COMMIT");
            assert!(matches!(
                **source,
                Error::Sqlx {
                    source: sqlx::Error::Io(_),
                    ..
                }
            ));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("may or may not"), "{err}");
    assert_eq!(policy.metrics.snapshot().attempts, 1);
    let idempotent = RetryPolicy {
        idempotent: true,
        ..RetryPolicy::default()
    };
    let out = run_with_retry(&idempotent, |a| async move {
        if a.number == 1 {
            Err(AttemptError::in_doubt(io(), "COMMIT"))
        } else {
            Ok(a.number)
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 2);
}

#[tokio::test(start_paused = true)]
async fn unknown_work_is_in_doubt_but_a_connection_never_obtained_is_retried() {
    let policy = RetryPolicy::default();
    // `?` on a plain error: the driver cannot know the statement was not an autocommit write.
    let err = run_with_retry(&policy, |_| async { Err::<(), _>(io().into()) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    let out = run_with_retry(&policy, |a| async move {
        if a.number == 1 {
            Err(Error::from(sqlx::Error::PoolTimedOut).into())
        } else {
            Ok(a.number)
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 2);
    // Inside a transaction before COMMIT, a broken link is safe to retry.
    let out = run_with_retry(&policy, |a| async move {
        if a.number == 1 {
            Err(AttemptError::before_commit(io()))
        } else {
            Ok(a.number)
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 2);
    // A server error is a definite answer, never "unknown".
    let err = run_with_retry(&policy, |_| async {
        Err::<(), _>(AttemptError::in_doubt(server_error(1062), "INSERT"))
    })
    .await
    .unwrap_err();
    assert_eq!(err.server_code(), Some(1062));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let err = run_with_retry(&policy, |_| async {
        Err::<(), _>(server_error(8022).into())
    })
    .await
    .unwrap_err();
    match err {
        Error::RetriesExhausted {
            attempts, ref last, ..
        } => {
            assert_eq!(attempts, 3);
            assert_eq!(last.server_code(), Some(8022));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(policy.metrics.snapshot().exhausted, 1);
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_the_time_budget_is_spent() {
    let policy = RetryPolicy {
        max_attempts: 1000,
        max_elapsed: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let started = tokio::time::Instant::now();
    let err = run_with_retry(&policy, |_| async {
        Err::<(), _>(server_error(1213).into())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { .. }));
    assert!(started.elapsed() <= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_is_stopped_at_its_time_out_and_is_in_doubt() {
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let err = run_with_retry(&policy, |_| async {
        std::future::pending::<()>().await;
        Ok::<(), AttemptError>(())
    })
    .await
    .unwrap_err();
    // Work the loop knows nothing about may have been an autocommit write that reached the server.
    match &err {
        Error::OutcomeUnknown { what, source, .. } => {
            assert_eq!(what, "the statement");
            assert!(
                matches!(**source, Error::TimedOut { sent: true, after, .. } if after == Duration::from_secs(2)),
                "{source:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn hung_attempts_never_outlast_the_retry_budget() {
    // Before commit, a timed-out attempt is retried; 10 s attempts in a 25 s budget: the third
    // one is cut at the budget's end, not at its own time-out.
    let policy = RetryPolicy {
        max_elapsed: Duration::from_secs(25),
        attempt_timeout: Duration::from_secs(10),
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let deadlines = std::sync::Mutex::new(Vec::new());
    let err = run_with_retry(&policy, |a| {
        deadlines.lock().unwrap().push(a.deadline - started);
        async move {
            let step = tokio::time::sleep_until(a.deadline + Duration::from_secs(60));
            crate::deadline::within(a.deadline, Instant::now(), "the work", async {
                step.await;
                Ok::<(), Error>(())
            })
            .await
            .map_err(AttemptError::before_commit)
        }
    })
    .await
    .unwrap_err();
    assert!(
        started.elapsed() <= Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    let deadlines = deadlines.into_inner().unwrap();
    assert!(deadlines.len() >= 2, "{deadlines:?}");
    assert!(
        deadlines.iter().all(|d| *d <= Duration::from_secs(25)),
        "{deadlines:?}"
    );
    assert_eq!(
        *deadlines.last().unwrap(),
        Duration::from_secs(25),
        "{deadlines:?}"
    );
    match err {
        Error::RetriesExhausted { last, .. } => {
            assert!(
                matches!(*last, Error::TimedOut { ref what, .. } if what == "the work"),
                "{last:?}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_connection_is_not_in_doubt() {
    let policy = RetryPolicy::default();
    let out = run_with_retry(&policy, |a| async move {
        if a.number == 1 {
            Err(AttemptError::in_doubt(
                crate::deadline::timed_out(
                    "waiting for a connection",
                    Duration::from_secs(1),
                    false,
                ),
                "INSERT",
            ))
        } else {
            Ok(a.number)
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 2);
}
