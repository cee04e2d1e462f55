//! Per-IP rate limiting (governor's keyed token buckets) for tracking and login requests, and
//! the client IP they key on.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The client's IP: the first `X-Forwarded-For` hop when Pulse runs behind a trusted proxy,
/// else the peer address.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> IpAddr {
    if trust_proxy
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip())
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Per-IP token buckets. Keys are pruned every minute (`retain_recent`), which bounds memory to
/// the clients of the last burst window.
pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl IpLimiter {
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

    /// `Err(seconds to wait)` when the IP is over its rate.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
