//! Agent authentication without a database query per request. Idle hall agents long-poll
//! all day; looking their token up on every claim would cost one query per agent per poll.
//!
//! Tokens: a snapshot of every live token (hash -> hall; revoked tokens and deactivated
//! halls' tokens are left out), reloaded in one query when it is older than `TTL`. A
//! revocation or a hall (de)activation drops the snapshot at once: in this process directly
//! (`invalidate`), in every other process through PostgreSQL `NOTIFY` (`wakeup::AUTH_CHANNEL`),
//! so `TTL` only bounds a missed notification. On SQLite no notification comes from another
//! process sharing the file (a command-line tool, a second server), so the snapshot is
//! trusted for `LOCAL_TTL` only (`AgentAuthCache::local`): a revocation made there takes effect
//! within 2 s, and 200 idle agents cost one reload per 2 s instead of a lookup per poll.
//! A token missing from a fresh snapshot (issued since) is looked up on its own and added.
//! Client certificates: whether the hall they name is active, remembered per hall for `TTL`.

use crate::storage::agent_tokens::LiveToken;
use crate::storage::{agent_tokens, halls, DbConnection, StorageError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a cached answer is trusted: the window in which a revocation made elsewhere
/// may still be honoured.
pub const TTL: Duration = Duration::from_secs(30);
/// The same where other processes' revocations are not announced (SQLite).
pub const LOCAL_TTL: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Snapshot {
    tokens: HashMap<String, LiveToken>,
    loaded_at: Option<Instant>,
}

#[derive(Debug)]
pub struct AgentAuthCache {
    snapshot: Mutex<Snapshot>,
    /// Serialises reloads, so 200 agents whose snapshot aged together cause one query.
    reload: tokio::sync::Mutex<()>,
    cert_halls: Mutex<HashMap<String, (bool, Instant)>>,
    /// How long an answer is trusted (zero: no caching at all).
    ttl: Duration,
}

impl Default for AgentAuthCache {
    fn default() -> Self {
        AgentAuthCache::with_ttl(TTL)
    }
}

/// What the cache knows about a token without asking the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The snapshot is fresh and holds the token: its hall, id and kind.
    Hall(LiveToken),
    /// The snapshot is fresh but does not hold the token (new, revoked or never issued).
    Missing,
    /// The snapshot is too old (or was dropped).
    Stale,
}

impl AgentAuthCache {
    fn with_ttl(ttl: Duration) -> AgentAuthCache {
        AgentAuthCache {
            snapshot: Mutex::default(),
            reload: tokio::sync::Mutex::default(),
            cert_halls: Mutex::default(),
            ttl,
        }
    }

    /// A cache that remembers nothing: every answer comes from the database.
    pub fn uncached() -> AgentAuthCache {
        AgentAuthCache::with_ttl(Duration::ZERO)
    }

    /// Where other processes' revocations are not announced (SQLite): trusted `LOCAL_TTL`.
    pub fn local() -> AgentAuthCache {
        AgentAuthCache::with_ttl(LOCAL_TTL)
    }

    fn off(&self) -> bool {
        self.ttl.is_zero()
    }

    fn snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cached(&self, token_hash: &str) -> Cached {
        if self.off() {
            return Cached::Missing;
        }
        let snap = self.snapshot();
        match snap.loaded_at {
            Some(at) if at.elapsed() < self.ttl => match snap.tokens.get(token_hash) {
                Some(hall) => Cached::Hall(hall.clone()),
                None => Cached::Missing,
            },
            _ => Cached::Stale,
        }
    }

    /// Hold this while reloading; re-check `cached` after taking it (another caller may
    /// have reloaded meanwhile).
    pub async fn reload_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reload.lock().await
    }

    /// Replace the snapshot with every live token (blocking: call it off the async workers).
    pub fn reload(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let started = Instant::now();
        let tokens = agent_tokens::list_live_tokens(conn)?.into_iter().collect();
        let mut snap = self.snapshot();
        // Timed from before the query: a revocation committed during it is caught next time.
        *snap = Snapshot {
            tokens,
            loaded_at: Some(started),
        };
        Ok(())
    }

    /// A token found live on its own (issued after the snapshot was taken).
    pub fn remember(&self, token_hash: &str, token: &LiveToken) {
        let mut snap = self.snapshot();
        if snap.loaded_at.is_some() {
            snap.tokens.insert(token_hash.to_string(), token.clone());
        }
    }

    /// Forget everything (a token was revoked in this process).
    pub fn invalidate(&self) {
        *self.snapshot() = Snapshot::default();
        self.cert_halls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Is the hall a client certificate names active? `None`: ask the database.
    pub fn cert_hall_active(&self, hall: &str) -> Option<bool> {
        if self.off() {
            return None;
        }
        let halls = self.cert_halls.lock().unwrap_or_else(|p| p.into_inner());
        halls
            .get(hall)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(active, _)| *active)
    }

    pub fn check_cert_hall(
        &self,
        conn: &mut DbConnection,
        hall: &str,
    ) -> Result<bool, StorageError> {
        let active = halls::find_hall(conn, hall)?.is_some_and(|h| h.active);
        self.cert_halls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hall.to_string(), (active, Instant::now()));
        Ok(active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::AgentKind;

    fn live(hall: &str) -> LiveToken {
        LiveToken {
            hall: hall.into(),
            id: 1,
            kind: AgentKind::Counter,
        }
    }

    #[test]
    fn an_empty_cache_is_stale_and_invalidate_forgets() {
        let cache = AgentAuthCache::default();
        assert_eq!(cache.cached("h"), Cached::Stale);
        {
            let mut snap = cache.snapshot();
            snap.loaded_at = Some(Instant::now());
            snap.tokens.insert("h".into(), live("320382000"));
        }
        assert_eq!(cache.cached("h"), Cached::Hall(live("320382000")));
        assert_eq!(cache.cached("other"), Cached::Missing);
        cache.remember("new", &live("371300000"));
        assert_eq!(cache.cached("new"), Cached::Hall(live("371300000")));
        cache.invalidate();
        assert_eq!(cache.cached("h"), Cached::Stale);
        // Nothing is remembered into a dropped snapshot: the next reload decides.
        cache.remember("new", &live("371300000"));
        assert_eq!(cache.cached("new"), Cached::Stale);
    }

    #[test]
    fn an_uncached_cache_sends_every_lookup_to_the_database() {
        let cache = AgentAuthCache::uncached();
        assert_eq!(cache.cached("h"), Cached::Missing);
        assert_eq!(cache.cert_hall_active("320382000"), None);
    }

    #[test]
    fn a_local_cache_trusts_its_snapshot_for_two_seconds_only() {
        let cache = AgentAuthCache::local();
        {
            let mut snap = cache.snapshot();
            snap.loaded_at = Some(Instant::now());
            snap.tokens.insert("h".into(), live("x"));
        }
        assert_eq!(cache.cached("h"), Cached::Hall(live("x")));
        if let Some(old) = Instant::now().checked_sub(LOCAL_TTL + Duration::from_millis(10)) {
            cache.snapshot().loaded_at = Some(old);
            assert_eq!(cache.cached("h"), Cached::Stale);
        }
    }

    #[test]
    fn an_old_snapshot_is_stale() {
        let cache = AgentAuthCache::default();
        if let Some(old) = Instant::now().checked_sub(TTL + Duration::from_secs(1)) {
            let mut snap = cache.snapshot();
            snap.loaded_at = Some(old);
            snap.tokens.insert("h".into(), live("x"));
            drop(snap);
            assert_eq!(cache.cached("h"), Cached::Stale);
        }
    }
}
