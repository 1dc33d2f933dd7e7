//! What the verify routes remember between requests, per server process:
//!
//! - [`SealCache`]: seals that passed every offline check, keyed by the SHA-256 of their COSE
//!   bytes. Those checks depend on the bytes and the trust store alone (signature, signer,
//!   signer revoked, signing period: never on the clock), and the trust store is fixed for
//!   the process's life, so a repeat skips the ECDSA. Only genuine seals are kept; the
//!   licence's status is never cached: every verification still reads the register.
//!   Bounded: two generations of `capacity / 2` seals; when the young one is full the old
//!   one is dropped (a seal used in either survives: roughly least recently used, O(1)).
//! - [`HeadView`]: the latest published checkpoint's size and cosignatures, re-read when older
//!   than `max_age`, and whenever it would call an integrated entry "not yet logged" (so a
//!   checkpoint this or another process just published is seen at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::verdict::SealedLicence;
use crate::domain::tlog::merkle::Hash;
use crate::storage::{tlog, DbConnection, StorageResult};

/// Seals kept by default: a busy city's popular licences, ~0.5 KB each (a few MB).
pub const DEFAULT_CAPACITY: usize = 32_768;

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Hash, Arc<SealedLicence>>,
    old: HashMap<Hash, Arc<SealedLicence>>,
}

#[derive(Debug)]
pub struct SealCache {
    generations: Mutex<Generations>,
    half: usize,
}

impl SealCache {
    /// At most `capacity` seals (0: nothing is cached).
    pub fn new(capacity: usize) -> SealCache {
        SealCache {
            generations: Mutex::new(Generations::default()),
            half: capacity / 2,
        }
    }

    pub fn get(&self, key: &Hash) -> Option<Arc<SealedLicence>> {
        let mut g = self.generations.lock().ok()?;
        if let Some(s) = g.young.get(key) {
            return Some(s.clone());
        }
        let s = g.old.remove(key)?;
        Self::put(&mut g, self.half, *key, s.clone());
        Some(s)
    }

    pub fn insert(&self, key: Hash, sealed: Arc<SealedLicence>) {
        if self.half == 0 {
            return;
        }
        if let Ok(mut g) = self.generations.lock() {
            Self::put(&mut g, self.half, key, sealed);
        }
    }

    fn put(g: &mut Generations, half: usize, key: Hash, sealed: Arc<SealedLicence>) {
        if g.young.len() >= half {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, sealed);
    }

    pub fn len(&self) -> usize {
        self.generations
            .lock()
            .map(|g| g.young.len() + g.old.len())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for SealCache {
    fn default() -> Self {
        SealCache::new(DEFAULT_CAPACITY)
    }
}

/// The latest published checkpoint as the verify routes show it: (size, cosignatures).
#[derive(Debug)]
pub struct HeadView {
    head: Mutex<Option<(Instant, u64, u32)>>,
    max_age: Duration,
}

impl Default for HeadView {
    fn default() -> Self {
        HeadView::new(Duration::from_secs(1))
    }
}

impl HeadView {
    pub fn new(max_age: Duration) -> HeadView {
        HeadView {
            head: Mutex::new(None),
            max_age,
        }
    }

    /// The head for an entry at `leaf` (None: not integrated, or no entry): the remembered
    /// one if fresh and, for an integrated entry, already including it; else read again.
    pub fn get(&self, conn: &mut DbConnection, leaf: Option<u64>) -> StorageResult<(u64, u32)> {
        if let Ok(h) = self.head.lock() {
            if let Some((at, size, cosigned)) = *h {
                let fresh = at.elapsed() < self.max_age;
                if fresh && leaf.is_none_or(|i| i < size) {
                    return Ok((size, cosigned));
                }
            }
        }
        let (size, cosigned) = tlog::latest_head(conn)?
            .map(|(size, c)| (size, c.max(0) as u32))
            .unwrap_or((0, 0));
        if let Ok(mut h) = self.head.lock() {
            *h = Some((Instant::now(), size, cosigned));
        }
        Ok((size, cosigned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::seal::SealClaims;

    fn sealed(n: u8) -> Arc<SealedLicence> {
        Arc::new(SealedLicence {
            kid: [n; 8],
            claims: SealClaims {
                iss: format!("{n}"),
                iat: 0,
                exp: None,
                identifier: format!("id{n}"),
                licence_no: String::new(),
                holder_name: String::new(),
                holder_code_masked: String::new(),
                status: None,
            },
        })
    }

    #[test]
    fn keeps_at_most_its_capacity_and_what_was_used_lately() {
        let cache = SealCache::new(4);
        for n in 0..3u8 {
            cache.insert([n; 32], sealed(n));
        }
        // 0 and 1 went to the old generation when 2 came; using 0 brings it back.
        assert_eq!(cache.get(&[0; 32]).map(|s| s.kid), Some([0; 8]));
        cache.insert([3; 32], sealed(3));
        cache.insert([4; 32], sealed(4));
        assert!(cache.len() <= 4, "{}", cache.len());
        assert!(
            cache.get(&[1; 32]).is_none(),
            "the least recently used is gone"
        );
        assert!(cache.get(&[4; 32]).is_some());
        assert!(cache.get(&[9; 32]).is_none());
    }

    #[test]
    fn a_zero_capacity_caches_nothing() {
        let cache = SealCache::new(0);
        cache.insert([1; 32], sealed(1));
        assert!(cache.is_empty());
    }
}
