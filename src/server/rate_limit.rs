//! Keyed rate limiting (governor's token buckets) for tracking (per IP and per website) and
//! login attempts (per IP and per account), and the client IP they key on.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The client's IP: behind `trusted_proxies` reverse proxies, the `X-Forwarded-For` entry the
/// outermost trusted proxy added (counting from the right); else, or when there is no such
/// header, the peer address.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trusted_proxies: usize) -> IpAddr {
    let peer = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
    if trusted_proxies == 0 {
        return peer;
    }
    // every X-Forwarded-For header, in order, as one list; each proxy appends the address it
    // saw, so the rightmost entry comes from the nearest proxy (the peer) and the entries
    // left of the trusted ones were written by the client, whatever they say
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Some(entry) = entries.get(entries.len().saturating_sub(trusted_proxies)) else {
        return peer;
    };
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        // a trusted proxy wrote something that is not an address: count the proxy itself
        .unwrap_or(peer)
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Token buckets per key. Keys are pruned every minute (`retain_recent`), which bounds memory
/// to the keys of the last burst window.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

/// Per client IP.
pub type IpLimiter = KeyedLimiter<IpAddr>;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_second` sustained, bursts up to `burst` (never below the rate).
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self::with_quota(Quota::per_second(at_least_one(per_second)).allow_burst(at_least_one(burst.max(per_second))))
    }

    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self::with_quota(Quota::per_minute(at_least_one(per_minute)).allow_burst(at_least_one(burst)))
    }

    fn with_quota(quota: Quota) -> Self {
        Self { limiter: RateLimiter::keyed(quota) }
    }

    /// `Err(seconds to wait, at least 1)` when the key is over its rate.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Keys refused until a moment (accounts with too many failed logins). Bounded: at most
/// `LOCKOUTS` keys, the least recently used forgotten first.
pub struct Lockouts {
    until: quick_cache::sync::Cache<String, std::time::Instant>,
}

const LOCKOUTS: usize = 10_000;

impl Default for Lockouts {
    fn default() -> Self {
        Self { until: quick_cache::sync::Cache::new(LOCKOUTS) }
    }
}

impl Lockouts {
    pub fn lock(&self, key: &str, secs: u64) {
        self.until.insert(key.to_string(), std::time::Instant::now() + std::time::Duration::from_secs(secs));
    }

    /// Seconds left (at least 1) while `key` is locked.
    pub fn remaining(&self, key: &str) -> Option<u64> {
        let left = self.until.get(key)?.checked_duration_since(std::time::Instant::now())?;
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;
    use axum::http::HeaderMap;
    use std::net::{IpAddr, SocketAddr};

    fn ip(xff: &[&str], hops: usize) -> IpAddr {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        client_ip(&h, Some(SocketAddr::from(([10, 0, 0, 9], 443))), hops)
    }

    #[test]
    fn a_forged_leftmost_entry_is_never_believed() {
        // the client wrote "6.6.6.6"; the proxy appended the address it saw
        assert_eq!(ip(&["6.6.6.6, 203.0.113.7"], 1).to_string(), "203.0.113.7");
        // two proxies: the outer one saw the client, the inner one the outer proxy
        assert_eq!(ip(&["6.6.6.6, 203.0.113.7, 10.0.0.2"], 2).to_string(), "203.0.113.7");
        // split over several headers, with a port
        assert_eq!(ip(&["6.6.6.6", "203.0.113.7:5123"], 1).to_string(), "203.0.113.7");
    }

    #[test]
    fn without_trusted_proxies_or_entries_the_peer_counts() {
        assert_eq!(ip(&["6.6.6.6"], 0).to_string(), "10.0.0.9");
        assert_eq!(ip(&[], 1).to_string(), "10.0.0.9");
        assert_eq!(ip(&["not-an-ip"], 1).to_string(), "10.0.0.9");
        // fewer entries than proxies: the leftmost was still written by a trusted proxy
        assert_eq!(ip(&["203.0.113.7"], 3).to_string(), "203.0.113.7");
    }
}
