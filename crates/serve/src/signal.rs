//! The stop signal: SIGINT (Ctrl-C) or SIGTERM (what systemd and Kubernetes send).

/// Resolves on the first SIGINT or SIGTERM. If a handler cannot be installed, that signal is
/// never reported (a warning is logged); the other one still is.
pub async fn shutdown_signal() {
    let int = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                "SIGTERM"
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&str>();
    let which = tokio::select! {
        s = int => s,
        s = term => s,
    };
    tracing::info!(signal = which, "stopping: draining in-flight requests");
}
