//! What stands in front of the public verify routes: the per-client rate limit, and a bound
//! on verifications running at once. Each verification is blocking work (ECDSA, then one
//! query); letting every waiting request hold a blocking thread makes dozens of threads fight
//! over a couple of cores and over the connection pool, and the slowest requests wait longest.
//! Waiting for a slot on the async side instead keeps the queue cheap and first come, first
//! served.

use tokio::sync::{Semaphore, SemaphorePermit};

use super::rate_limit::RateLimiter;

/// Two verifications per core keep the cores busy while one waits on its query, and never
/// more than the pool has connections (measured in docs/performance.md: 64 at once gave more
/// throughput but a p99 twice as long).
pub fn default_concurrency(pool_size: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).min(pool_size.max(1) as usize)
}

#[derive(Debug)]
pub struct VerifyGate {
    pub limiter: RateLimiter,
    slots: Semaphore,
    /// Genuine seals already checked (`seal_cache`): repeats skip the ECDSA.
    pub seals: super::seal_cache::SealCache,
    /// The latest published checkpoint, re-read at least once a second.
    pub head: super::seal_cache::HeadView,
    /// Register rows of recently verified seals, kept while no status changed.
    pub rows: super::seal_cache::RowView,
}

impl VerifyGate {
    /// `per_second` per client (0 = off); at most `concurrency` verifications at once (at
    /// least one).
    pub fn new(per_second: u32, concurrency: usize) -> VerifyGate {
        VerifyGate {
            limiter: RateLimiter::new(per_second),
            slots: Semaphore::new(concurrency.max(1)),
            seals: super::seal_cache::SealCache::default(),
            head: super::seal_cache::HeadView::default(),
            rows: super::seal_cache::RowView::default(),
        }
    }

    /// Wait for a slot; the verification runs while the permit lives. `None` only if the
    /// semaphore were closed, which this type never does.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }
}
