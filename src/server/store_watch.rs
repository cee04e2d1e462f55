//! Watches whether the store answers and takes writes, and tells every live viewer when it
//! stops and when it is back (a `notice`): live connections stay up through an outage and
//! say why new events are not arriving. Ingest answers `503` + `Retry-After` meanwhile and
//! `/health` is red (`api::health`); nothing here changes what is stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::server::state::AppState;

pub const DEGRADED: &str =
    "The event store is unreachable: new events are not being recorded right now. Pulse keeps trying and recovers by itself.";
pub const RECOVERED: &str = "The event store is back: events are being recorded again.";

/// How often the store is looked at, and how long a ping may take.
pub const EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct StoreWatch {
    degraded: AtomicBool,
}

impl StoreWatch {
    /// One look: pings the store and reads the write path; on a change, tells the viewers.
    pub async fn check(&self, state: &AppState) {
        let answers = matches!(tokio::time::timeout(EVERY, state.events.ping()).await, Ok(Ok(())));
        let healthy = answers && state.write_path.check().is_ok();
        let was_degraded = self.degraded.swap(!healthy, Ordering::SeqCst);
        if was_degraded == healthy {
            let (message, level) = if healthy { (RECOVERED, "recovered") } else { (DEGRADED, "degraded") };
            let told = state.hub.notice_all(message);
            if healthy {
                tracing::info!(told, "store {level}");
            } else {
                tracing::error!(told, answers, "store {level}");
            }
        }
    }
}
