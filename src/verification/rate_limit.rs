//! Per-client token buckets for the public verify routes (`settings.verify_rate_limit`
//! requests per second per client address, 0 = off). In-process: each `serve` process
//! limits on its own, which is enough to keep one scanner from monopolising a server.
//!
//! Time comes from the injected clock, so tests step it instead of sleeping. The client is
//! the TCP peer address; a forwarded-for header is not trusted, since anyone can write one.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Above this many tracked clients, idle buckets (refilled to full) are dropped, so a scan
/// from many addresses cannot grow the map without bound.
const PRUNE_ABOVE: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Refused: the client may try again after this many whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_s: u64,
}

impl RateLimiter {
    /// `per_second` requests a second per client, with a burst of one second's worth.
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.per_second == 0
    }

    /// Take one token for `client` at `now`, or say how long to wait.
    pub fn check(&self, client: IpAddr, now: DateTime<Utc>) -> Result<(), Limited> {
        if self.is_off() {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refilled(b, now, rate) < rate);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, rate);
        // A clock stepped backwards must not mint tokens when it comes forward again: the
        // bucket's time never moves back.
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Err(Limited {
                retry_after_s: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

fn refilled(b: &Bucket, now: DateTime<Utc>, rate: f64) -> f64 {
    let elapsed_us = (now - b.at).num_microseconds().unwrap_or(i64::MAX).max(0);
    (b.tokens + elapsed_us as f64 / 1e6 * rate).min(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn allows_a_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Utc::now();
        assert!(limiter.check(ip, t0).is_ok());
        assert!(limiter.check(ip, t0).is_ok());
        assert_eq!(limiter.check(ip, t0), Err(Limited { retry_after_s: 1 }));
        // Another client has its own bucket.
        assert!(limiter.check(other, t0).is_ok());
        // Half a second later: one token back.
        let t1 = t0 + Duration::milliseconds(500);
        assert!(limiter.check(ip, t1).is_ok());
        assert!(limiter.check(ip, t1).is_err());
        // A long pause refills to the burst, not beyond it.
        let t2 = t1 + Duration::seconds(60);
        assert!(limiter.check(ip, t2).is_ok());
        assert!(limiter.check(ip, t2).is_ok());
        assert!(limiter.check(ip, t2).is_err());
    }

    #[test]
    fn zero_means_off_and_a_clock_stepped_back_mints_nothing() {
        let off = RateLimiter::new(0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Utc::now();
        for _ in 0..1000 {
            assert!(off.check(ip, t0).is_ok());
        }
        let limiter = RateLimiter::new(1);
        assert!(limiter.check(ip, t0).is_ok());
        let back = t0 - Duration::seconds(3600);
        assert!(limiter.check(ip, back).is_err());
        assert!(limiter.check(ip, t0).is_err());
    }
}
