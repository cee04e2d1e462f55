//! Graceful shutdown: one `watch` flag flipped by SIGINT/SIGTERM, by a test, or by a failed
//! essential task (`fail`, which also records why, so the process exits non-zero). The HTTP
//! server stops accepting, live connections close with "going away", and the writer flushes.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
    /// Set when an essential task failed: the server stops and `pulse serve` exits non-zero.
    failure: Arc<Mutex<Option<String>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self { tx: watch::channel(false).0, failure: Arc::new(Mutex::new(None)) }
    }

    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Stops the server because an essential task failed; the first reason is kept.
    pub fn fail(&self, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::error!(%reason, "essential task failed; stopping so a supervisor restarts Pulse");
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.trigger();
    }

    /// Why the server stopped, if it was a failure.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        let mut rx = self.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
