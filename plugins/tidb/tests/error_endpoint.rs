//! Errors name the endpoint the failing work ran on: `Error::at` fills it in once, through the
//! wrappers, and `Display` shows it.

use std::time::Duration;

use lockstep_tidb::Error;

fn link_reset() -> Error {
    Error::from(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
}

#[test]
fn at_names_the_endpoint_through_wrappers_and_keeps_the_first() {
    let err = Error::RetriesExhausted {
        attempts: 3,
        elapsed: Duration::from_secs(2),
        last: Box::new(link_reset()),
    }
    .at("tidb-1:4000");
    assert_eq!(err.endpoint(), Some("tidb-1:4000"));
    assert!(err.to_string().contains("on tidb-1:4000"), "{err}");
    // Named once: a later (outer) call does not rename it.
    let again = err.at("tidb-0:4000");
    assert_eq!(again.endpoint(), Some("tidb-1:4000"));
}

#[test]
fn outcome_unknown_and_batches_name_the_server_to_check() {
    let doubt = Error::OutcomeUnknown {
        what: "COMMIT".into(),
        endpoint: None,
        source: Box::new(link_reset()),
    }
    .at("10.0.0.7:4000");
    let text = doubt.to_string();
    assert!(
        text.starts_with("outcome unknown: COMMIT was sent on 10.0.0.7:4000"),
        "{text}"
    );
    let batch = Error::BatchIncomplete {
        failed_chunk: 1,
        chunks: 3,
        committed_rows: 100,
        source: Box::new(doubt),
    };
    assert_eq!(batch.endpoint(), Some("10.0.0.7:4000"));
}

#[test]
fn errors_without_a_connection_name_none() {
    let invalid = Error::InvalidArgument("chunk_rows must be at least 1".into()).at("x:1");
    assert_eq!(invalid.endpoint(), None);
    assert_eq!(link_reset().endpoint(), None);
    let down = Error::EndpointDown {
        endpoint: "tidb-2:4000".into(),
        reason: "connection refused".into(),
    };
    assert_eq!(down.endpoint(), Some("tidb-2:4000"));
}

#[test]
fn the_error_stays_small_enough_to_return_by_value() {
    // `Result<T, Error>` is moved through every `.await` of the retry loop.
    assert!(
        std::mem::size_of::<Error>() < 128,
        "{}",
        std::mem::size_of::<Error>()
    );
}
