//! SIGHUP no longer kills a service (its default action): it is logged and ignored. Its own
//! test binary, since it signals its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[tokio::test]
async fn sighup_is_ignored_not_fatal() {
    lockstep_service_kit::http::ignore_hangups().unwrap();
    let pid = std::process::id().to_string();
    for _ in 0..2 {
        // The shell's own `kill`: no procps needed on the machine.
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -HUP {pid}")])
            .status()
            .unwrap();
        assert!(status.success());
    }
    for _ in 0..50 {
        if lockstep_service_kit::http::hangups_ignored() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still here, and the signal was seen (two may arrive as one).
    assert!(lockstep_service_kit::http::hangups_ignored() >= 1);
}
