//! Process signals: SIGTERM/SIGINT start the drain, SIGHUP is ignored.

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// SIGHUPs received and ignored since [`ignore_hangups`].
static HANGUPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// From now on SIGHUP is logged and ignored instead of ending the process (its default): a
/// service's config is part of its revision, so a new config is a new rollout, not a reload.
pub fn ignore_hangups() -> std::io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            HANGUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(
                "SIGHUP ignored: nothing is reloaded (the config is part of the revision; roll out a new one to change it)"
            );
        }
    });
    Ok(())
}

/// How many SIGHUPs [`ignore_hangups`] has ignored.
pub fn hangups_ignored() -> u64 {
    HANGUPS.load(std::sync::atomic::Ordering::SeqCst)
}
