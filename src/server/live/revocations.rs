//! Access taken away while streams are open: revoking a membership, deleting a website or a
//! share link, logging out, changing a password or removing a user announces it here, and every
//! live session concerned drops the website (`error forbidden`) or ends (`error unauthorized`)
//! at once — well inside the 2 s the product promises. Bounded: a session that falls more than
//! `CAPACITY` announcements behind re-checks its access against the store instead.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

const CAPACITY: usize = 256;

/// What was taken away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// One user lost access to one website.
    Membership { user_id: i64, website_id: String },
    /// The website is gone: nobody watches it any more.
    Website { website_id: String },
    /// The website's share link was revoked (or replaced).
    Share { website_id: String },
    /// One login ended (logout).
    Session { session_id: String },
    /// Every login of the user ended (password changed, account removed).
    User { user_id: i64 },
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

    /// Starts listening now: taken before a stream authenticates, so nothing announced between
    /// the check and the stream's start is missed.
    pub fn watch(&self) -> Watch {
        Watch { generation: self.generation(), rx: self.subscribe() }
    }
}

/// Announcements from a moment on (see `Revocations::watch`).
pub struct Watch {
    pub generation: u64,
    pub rx: broadcast::Receiver<Revoked>,
}
