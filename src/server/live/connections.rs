//! Connection accounting: total, per-user and per-IP limits (`too_many_connections`), and the
//! live connection gauge by transport. A `ConnectionGuard` releases its slot when dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::server::metrics::{Metrics, Transport};

pub struct Connections {
    max_total: usize,
    max_per_user: usize,
    max_per_ip: usize,
    metrics: Metrics,
    counts: Mutex<Counts>,
}

/// Open connections: in total, per user and per IP (an entry is removed when it reaches zero,
/// so the maps hold only holders of a connection).
#[derive(Default)]
struct Counts {
    total: usize,
    users: HashMap<i64, usize>,
    ips: HashMap<IpAddr, usize>,
}

pub struct ConnectionGuard {
    owner: Arc<Connections>,
    /// `None` for a share link (counted per IP and in total only).
    user: Option<i64>,
    ip: IpAddr,
    transport: Transport,
}

fn release<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Connections {
    pub fn new(max_total: usize, max_per_user: usize, max_per_ip: usize, metrics: Metrics) -> Self {
        Self { max_total, max_per_user, max_per_ip, metrics, counts: Mutex::new(Counts::default()) }
    }

    /// Takes a slot, or says which limit is reached.
    pub fn open(self: &Arc<Self>, user: Option<i64>, ip: IpAddr, transport: Transport) -> Result<ConnectionGuard, String> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_total {
            return Err(format!("the server holds its maximum of {} live connections", self.max_total));
        }
        if let Some(user) = user
            && c.users.get(&user).copied().unwrap_or(0) >= self.max_per_user
        {
            return Err(format!(
                "at most {} live connections per user: close a Pulse tab or window first",
                self.max_per_user
            ));
        }
        if c.ips.get(&ip).copied().unwrap_or(0) >= self.max_per_ip {
            return Err(format!("at most {} live connections per IP address", self.max_per_ip));
        }
        if let Some(user) = user {
            *c.users.entry(user).or_default() += 1;
        }
        *c.ips.entry(ip).or_default() += 1;
        c.total += 1;
        self.metrics.connection_opened(transport);
        Ok(ConnectionGuard { owner: self.clone(), user, ip, transport })
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut c = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(user) = self.user {
            release(&mut c.users, &user);
        }
        release(&mut c.ips, &self.ip);
        self.owner.metrics.connection_closed(self.transport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_holds_and_a_closed_connection_frees_its_slot() {
        let c = Arc::new(Connections::new(100, 2, 3, Metrics::new()));
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let first = c.open(Some(1), a, Transport::Websocket).unwrap();
        let _second = c.open(Some(1), a, Transport::Sse).unwrap();
        let refused = |r: Result<ConnectionGuard, String>| r.err().unwrap_or_default();
        assert!(refused(c.open(Some(1), b, Transport::Websocket)).contains("per user"));
        let _third = c.open(Some(2), a, Transport::Websocket).unwrap();
        assert!(refused(c.open(Some(3), a, Transport::Websocket)).contains("per IP"));
        drop(first);
        assert!(c.open(Some(3), a, Transport::Websocket).is_ok(), "the dropped slot is free again");
        assert_eq!(c.counts.lock().unwrap().users.get(&1), Some(&1));
    }
}
