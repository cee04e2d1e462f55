//! The write path's health, as `/health` reports it: whether the store accepted the last batch.
//! (A writer or publisher that stopped shuts the server down as failed; `/health` reads that
//! from `Shutdown::failure`.) Written by the writer, read by the health handler; a leaf module,
//! so `state.rs` holds it without importing any handler.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a refused batch keeps `/health` red without a newer one. A load balancer that
/// takes the instance out on `503` sends no more events, so no batch could clear it; after
/// this the instance is offered traffic again, and a store still failing turns it red again.
const FAILING_FOR: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct WritePath {
    /// The store's error for the last batch and when, cleared by the next batch it stores.
    failing: Mutex<Option<(String, Instant)>>,
}

impl WritePath {
    pub fn batch_failed(&self, error: impl Into<String>) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = Some((error.into(), Instant::now()));
    }

    pub fn batch_stored(&self) {
        let mut f = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_some() {
            tracing::info!("the store accepts writes again");
            *f = None;
        }
    }

    /// `Err(reason)` when ingest cannot store events now.
    pub fn check(&self) -> Result<(), String> {
        if let Some((e, at)) = self.failing.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < FAILING_FOR
        {
            return Err(format!("the store refused the last batch: {e}"));
        }
        Ok(())
    }
}
