//! Access taken away while streams are open: revoking a membership announces it here, and every
//! live session of that user drops the website (an `error forbidden` for it) at once — well
//! inside the 2 s the product promises. Bounded: a session that falls more than `CAPACITY`
//! announcements behind re-checks all its websites against the store instead.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

const CAPACITY: usize = 256;

/// One user lost access to one website.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    pub user_id: i64,
    pub website_id: String,
}

pub struct Revocations {
    tx: broadcast::Sender<Revoked>,
    /// Announcements so far: a session compares it (one atomic load) before each frame it
    /// writes, so a revocation overtakes frames already queued for the connection.
    generation: AtomicU64,
}

impl Default for Revocations {
    fn default() -> Self {
        Self { tx: broadcast::channel(CAPACITY).0, generation: AtomicU64::new(0) }
    }
}

impl Revocations {
    /// Tells every open session; nobody listening is fine.
    pub fn announce(&self, revoked: Revoked) {
        let _ = self.tx.send(revoked);
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Revoked> {
        self.tx.subscribe()
    }
}
