//! What the verify routes remember between requests, per server process:
//!
//! - [`SealCache`]: seals that passed every offline check, keyed by the SHA-256 of their COSE
//!   bytes. Those checks depend on the bytes and the trust store alone (signature, signer,
//!   signer revoked, signing period: never on the clock), and the trust store is fixed for
//!   the process's life, so a repeat skips the ECDSA. Only genuine seals are kept; the
//!   licence's status is not part of a seal (see `RowView` for the register rows).
//!   Bounded: two generations of `capacity / 2` seals; when the young one is full the old
//!   one is dropped (a seal used in either survives: roughly least recently used, O(1)).
//! - [`HeadView`]: the latest published checkpoint's size and cosignatures, re-read when older
//!   than `max_age`, and whenever it would call an integrated entry "not yet logged" (so a
//!   checkpoint this or another process just published is seen at once).
//! - [`RowView`]: the register rows of recently verified seals (status, validity, authority,
//!   log leaf), trusted only while the register's change counter (`register_changes`, moved
//!   by triggers on every licence update or deletion, log entry deletion and hall change) is
//!   known unchanged: this process drops every row at once when
//!   it changes a status itself, and reads the counter again when its last read is older than
//!   `max_lag` (500 ms), dropping every row if it moved. So a status change made anywhere is
//!   answered within `max_lag` plus one read, and a repeat verification costs no statement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::verdict::SealedLicence;
use crate::domain::tlog::merkle::Hash;
use crate::storage::licences::LoggedVerifyRow;
use crate::storage::{licences, tlog, DbConnection, DbPool, PooledConn, StorageResult};

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
    pub fn get(&self, conn: &mut LazyConn<'_>, leaf: Option<u64>) -> StorageResult<(u64, u32)> {
        if let Ok(h) = self.head.lock() {
            if let Some((at, size, cosigned)) = *h {
                let fresh = at.elapsed() < self.max_age;
                if fresh && leaf.is_none_or(|i| i < size) {
                    return Ok((size, cosigned));
                }
            }
        }
        let (size, cosigned) = tlog::latest_head(conn.get()?)?
            .map(|(size, c)| (size, c.max(0) as u32))
            .unwrap_or((0, 0));
        if let Ok(mut h) = self.head.lock() {
            *h = Some((Instant::now(), size, cosigned));
        }
        Ok((size, cosigned))
    }
}

/// A pooled connection taken on first use: a verification answered from memory takes none.
pub struct LazyConn<'a> {
    pool: &'a DbPool,
    conn: Option<PooledConn>,
}

impl<'a> LazyConn<'a> {
    pub fn new(pool: &'a DbPool) -> LazyConn<'a> {
        LazyConn { pool, conn: None }
    }

    pub fn get(&mut self) -> StorageResult<&mut DbConnection> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.pool.get()?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}

/// How stale the view may be: the longest time since the change counter was last read.
pub const ROW_VIEW_MAX_LAG: Duration = Duration::from_millis(500);
/// A kept row is read again after this long even if the counter did not move (a backstop:
/// the triggers cover every write the verify answer depends on).
pub const ROW_VIEW_MAX_AGE: Duration = Duration::from_secs(60);

type RowKey = (String, String);

#[derive(Debug, Default)]
struct RowState {
    /// The counter as last read, and when; `None` until read (and after `invalidate`).
    seq: Option<(i64, Instant)>,
    /// Rows by (identifier, seal SHA-256), each with the counter it was read under and when.
    rows: HashMap<RowKey, (i64, Instant, Arc<LoggedVerifyRow>)>,
}

/// See the module comment.
#[derive(Debug)]
pub struct RowView {
    state: Mutex<RowState>,
    capacity: usize,
    max_lag: Duration,
}

impl Default for RowView {
    fn default() -> Self {
        RowView::new(DEFAULT_CAPACITY, ROW_VIEW_MAX_LAG)
    }
}

impl RowView {
    /// At most `capacity` rows (0: every verification reads the register).
    pub fn new(capacity: usize, max_lag: Duration) -> RowView {
        RowView {
            state: Mutex::new(RowState::default()),
            capacity,
            max_lag,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rows kept now.
    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A status changed in this process (after its commit): trust nothing kept.
    pub fn invalidate(&self) {
        let mut s = self.lock();
        s.seq = None;
        s.rows.clear();
    }

    /// The register row of the licence `identifier` with the log leaf of the seal whose
    /// SHA-256 is `seal_sha256` (as `licences::find_for_verification_logged`), from memory
    /// when current. Only rows whose seal is integrated in the log are kept (a pending entry's
    /// leaf is about to change).
    pub fn find(
        &self,
        conn: &mut LazyConn<'_>,
        identifier: &str,
        seal_sha256: &str,
    ) -> StorageResult<Option<Arc<LoggedVerifyRow>>> {
        if self.capacity == 0 {
            let found =
                licences::find_for_verification_logged(conn.get()?, identifier, seal_sha256)?;
            return Ok(found.map(Arc::new));
        }
        let key = (identifier.to_string(), seal_sha256.to_string());
        let now = Instant::now();
        let seq = {
            let s = self.lock();
            match s.seq {
                Some((seq, read_at)) if now.saturating_duration_since(read_at) < self.max_lag => {
                    if let Some((row_seq, at, row)) = s.rows.get(&key) {
                        if *row_seq == seq && now.saturating_duration_since(*at) < ROW_VIEW_MAX_AGE
                        {
                            metrics::counter!("verify_row_view_total", "result" => "hit")
                                .increment(1);
                            return Ok(Some(row.clone()));
                        }
                    }
                    Some(seq)
                }
                _ => None,
            }
        };
        metrics::counter!("verify_row_view_total", "result" => "miss").increment(1);
        // The counter first, then the row: the row is at least as new as the counter it is
        // kept under.
        let seq = match seq {
            Some(seq) => seq,
            None => {
                let read_at = Instant::now();
                let seq = licences::register_changes(conn.get()?)?;
                let mut s = self.lock();
                if s.seq.is_none_or(|(old, _)| old != seq) {
                    s.rows.clear();
                }
                s.seq = Some((seq, read_at));
                seq
            }
        };
        let found = licences::find_for_verification_logged(conn.get()?, identifier, seal_sha256)?;
        let found = found.map(Arc::new);
        if let Some(row) = found.as_ref().filter(|r| r.2.is_some_and(|leaf| leaf >= 0)) {
            let mut s = self.lock();
            // Kept only under the counter the view still holds (an `invalidate` meanwhile
            // means this row may predate a change).
            if s.seq.is_some_and(|(current, _)| current == seq) {
                if s.rows.len() >= self.capacity {
                    s.rows.clear();
                }
                s.rows.insert(key, (seq, Instant::now(), row.clone()));
            }
        }
        Ok(found)
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
