//! A connection attempt with a secret password, to endpoints that refuse: neither the error
//! (`Display`, `Debug`) nor any log line at any level (the driver's and sqlx's) holds it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use lockstep_tidb::{Db, HealthCheck};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_error_or_log_line_holds_the_password() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let health = HealthCheck {
        timeout: std::time::Duration::from_millis(500),
        ..HealthCheck::default()
    };
    for url in [
        "mysql://app:ZQXsecret@127.0.0.1:1,127.0.0.1:2/db",
        "tidb://app:ZQX%2Fsecret@[::1]:1/db?connect-timeout=1",
    ] {
        let err = Db::connect_with(url.parse().expect("a valid URL"), health)
            .await
            .expect_err("nothing listens on ports 1 and 2");
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("127.0.0.1:1") || shown.contains("[::1]:1"),
            "{shown}"
        );
        assert!(!shown.contains("ZQX"), "password in the error: {shown}");
    }
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).into_owned();
    assert!(
        logs.contains("endpoint is down"),
        "nothing was logged: {logs}"
    );
    assert!(!logs.contains("ZQX"), "password in a log line: {logs}");
}
