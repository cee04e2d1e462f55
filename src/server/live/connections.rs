//! Connection accounting: total and per-user limits (`too_many_connections`), and the live
//! connection gauge by transport. A `ConnectionGuard` releases its slot when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::server::metrics::{Metrics, Transport};

pub struct Connections {
    max_total: usize,
    max_per_user: usize,
    metrics: Metrics,
    /// `(total, per user)`; a user's entry is removed when it reaches zero.
    counts: Mutex<(usize, HashMap<i64, usize>)>,
}

pub struct ConnectionGuard {
    owner: Arc<Connections>,
    user: i64,
    transport: Transport,
}

impl Connections {
    pub fn new(max_total: usize, max_per_user: usize, metrics: Metrics) -> Self {
        Self { max_total, max_per_user, metrics, counts: Mutex::new((0, HashMap::new())) }
    }

    /// Takes a slot, or says which limit is reached.
    pub fn open(self: &Arc<Self>, user: i64, transport: Transport) -> Result<ConnectionGuard, String> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 >= self.max_total {
            return Err(format!("the server holds its maximum of {} live connections", self.max_total));
        }
        let mine = c.1.entry(user).or_default();
        if *mine >= self.max_per_user {
            return Err(format!("at most {} live connections per user", self.max_per_user));
        }
        *mine += 1;
        c.0 += 1;
        self.metrics.connection_opened(transport);
        Ok(ConnectionGuard { owner: self.clone(), user, transport })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut c = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.0 = c.0.saturating_sub(1);
        if let Some(n) = c.1.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.1.remove(&self.user);
            }
        }
        self.owner.metrics.connection_closed(self.transport);
    }
}
