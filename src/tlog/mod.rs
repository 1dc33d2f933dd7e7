//! The transparency log of every seal (C2SP tlog-tiles, tlog-checkpoint, tlog-cosignature,
//! tlog-witness; RFC 6962 hashing). Entries are written by `storage::tlog` in the event's own
//! transaction; `LogService` integrates them in batches, signs a checkpoint, gathers the
//! witnesses' cosignatures and publishes the checkpoint once the quorum is reached.

pub mod cli;
pub use crate::domain::tlog::entry;
pub use crate::domain::tlog::merkle;
pub mod monitor;
pub use crate::domain::tlog::note;
pub mod tiles;
/// What a verdict says about the log (lives with the verification, which uses it).
pub use crate::verification::log_inclusion as verify;
pub mod witness;

use crate::issuance::note_key::{NoteKey, LOG_KEY_FILE};
use crate::storage::{self, tlog as store, DbPool, StorageError};
use note::{Checkpoint, Note, Signature, Verifier};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub use crate::config::log_settings::{
    default_origin, parse_witnesses, LogConfigError, LogFile, LogSettings, WitnessConfig,
};

/// What one integration round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub size: u64,
    /// Cosignatures gathered for this size (None: nothing new to publish).
    pub cosigned: Option<usize>,
    pub published: bool,
}

pub struct LogService {
    pub settings: LogSettings,
    key: Option<NoteKey>,
    pool: DbPool,
    http: reqwest::Client,
    /// The size each witness last cosigned, as far as this process knows.
    witness_sizes: Mutex<HashMap<String, u64>>,
    /// One round at a time in this process.
    round: tokio::sync::Mutex<()>,
}

impl LogService {
    /// The log key is `log.key.pem` in the keys directory; without it entries are still
    /// recorded and integrated, but no checkpoint is signed.
    pub fn new(settings: LogSettings, keys_dir: &Path, pool: DbPool) -> LogService {
        let path = keys_dir.join(LOG_KEY_FILE);
        let key = if path.exists() {
            match NoteKey::load(&path, &settings.origin) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!(error = %e, "the log key does not load: no checkpoints are signed");
                    None
                }
            }
        } else {
            tracing::warn!(path = %path.display(), "no log key: the transparency log signs no checkpoints");
            None
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        LogService {
            settings,
            key,
            pool,
            http,
            witness_sizes: Mutex::new(HashMap::new()),
            round: tokio::sync::Mutex::new(()),
        }
    }

    pub fn verifier(&self) -> Option<Verifier> {
        self.key.as_ref().map(NoteKey::note_verifier)
    }

    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut storage::DbConnection) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?
    }

    /// Integrate pending entries, sign a checkpoint, gather cosignatures, publish.
    pub async fn run_round(&self) -> Result<Round, StorageError> {
        let _one = self.round.lock().await;
        // An idle log costs one small read a round, no write transaction.
        let (size, root) = self
            .blocking(|conn| {
                let look = store::round_look(conn)?;
                if look.pending {
                    let (size, root) = storage::write_tx(conn, |c| store::integrate(c, 10_000))?;
                    return Ok((size, Some(root)));
                }
                let size = u64::try_from(look.size).unwrap_or(0);
                if look.published.is_some_and(|p| p >= look.size) {
                    return Ok((size, None));
                }
                let root = merkle::root(&mut store::DbHashes::new(conn), size)?;
                Ok((size, Some(root)))
            })
            .await?;
        let Some(root) = root else {
            return Ok(Round {
                size,
                cosigned: None,
                published: false,
            });
        };
        let latest = self.blocking(store::latest_head).await?;
        if latest.is_some_and(|(published, _)| published >= size) {
            return Ok(Round {
                size,
                cosigned: None,
                published: false,
            });
        }
        let Some(key) = &self.key else {
            return Ok(Round {
                size,
                cosigned: None,
                published: false,
            });
        };
        let body = Checkpoint {
            origin: self.settings.origin.clone(),
            size,
            root,
        }
        .body();
        let mut note = key.sign_note(&body);
        let cosignatures = self.gather(&note, size).await;
        let count = cosignatures.len();
        if count < self.settings.quorum {
            tracing::warn!(
                size,
                count,
                quorum = self.settings.quorum,
                "the witnesses' quorum is not reached: checkpoint not published"
            );
            return Ok(Round {
                size,
                cosigned: Some(count),
                published: false,
            });
        }
        note.signatures.extend(cosignatures);
        let text = note.text();
        let now = chrono::Utc::now();
        self.blocking(move |conn| store::publish_checkpoint(conn, size, &text, count, now))
            .await?;
        metrics::gauge!("tlog_size").set(size as f64);
        Ok(Round {
            size,
            cosigned: Some(count),
            published: true,
        })
    }

    /// Ask every witness at once; once the quorum is in, the slower ones get a short grace
    /// and are then left behind (their next checkpoint catches them up).
    async fn gather(&self, note: &Note, size: u64) -> Vec<Signature> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let mut asks: FuturesUnordered<_> = self
            .settings
            .witnesses
            .iter()
            .map(|w| self.ask_witness(w, note, size))
            .collect();
        let mut got = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d, asks.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => asks.next().await,
            };
            match next {
                None => break,
                Some(Some(sig)) => {
                    got.push(sig);
                    if got.len() >= self.settings.quorum && deadline.is_none() {
                        deadline = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                    }
                }
                Some(None) => {}
            }
        }
        got
    }

    /// tlog-witness add-checkpoint: one retry after a 409 that names the witness's size.
    async fn ask_witness(&self, w: &WitnessConfig, note: &Note, size: u64) -> Option<Signature> {
        let mut old = self
            .witness_sizes
            .lock()
            .ok()
            .and_then(|m| m.get(&w.url).copied())
            .unwrap_or(0);
        for _ in 0..2 {
            if old > size {
                tracing::warn!(witness = %w.url, old, size, "the witness has seen a larger tree than this log");
                return None;
            }
            let proof = self
                .blocking(move |conn| {
                    merkle::consistency_proof(&mut store::DbHashes::new(conn), old, size)
                })
                .await
                .ok()?;
            let mut req = format!("old {old}\n");
            for h in &proof {
                req.push_str(&note::encode_hash(h));
                req.push('\n');
            }
            req.push('\n');
            req.push_str(&note.text());
            let resp = match self
                .http
                .post(format!("{}/add-checkpoint", w.url))
                .body(req)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(witness = %w.url, error = %e, "witness unreachable");
                    return None;
                }
            };
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status == reqwest::StatusCode::CONFLICT {
                old = text.trim().parse().ok()?;
                self.remember(&w.url, old);
                continue;
            }
            if !status.is_success() {
                tracing::warn!(witness = %w.url, %status, body = %text.trim(), "witness refused the checkpoint");
                return None;
            }
            let mut cosigned = note.clone();
            cosigned.signatures = text
                .lines()
                .filter_map(|l| Signature::parse_line(l).ok())
                .collect();
            let sig = cosigned
                .signatures
                .iter()
                .find(|s| s.name == w.verifier.name && s.id == w.verifier.id())
                .cloned();
            if cosigned.verify(&w.verifier).is_err() {
                tracing::warn!(witness = %w.url, "the witness's cosignature does not verify");
                return None;
            }
            self.remember(&w.url, size);
            return sig;
        }
        None
    }

    fn remember(&self, url: &str, size: u64) {
        if let Ok(mut m) = self.witness_sizes.lock() {
            m.insert(url.to_string(), size);
        }
    }

    /// Entries for licences sealed before the log existed (start-up, before serving).
    pub async fn backfill(&self) -> Result<usize, StorageError> {
        let ids = self.blocking(store::unlogged_licences).await?;
        let mut total = 0;
        for chunk in ids.chunks(1000) {
            let chunk = chunk.to_vec();
            total += self
                .blocking(move |conn| storage::write_tx(conn, |c| store::backfill(c, &chunk)))
                .await?;
        }
        Ok(total)
    }

    /// Rounds every `interval` until the service is dropped.
    pub fn spawn(self: &std::sync::Arc<Self>) {
        let weak = std::sync::Arc::downgrade(self);
        let every = self.settings.interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(log) = weak.upgrade() else { return };
                if let Err(e) = log.run_round().await {
                    tracing::warn!(error = %e, "transparency log round failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_file_and_refuse_bad_witnesses() {
        // Whatever the key id, a malformed list is refused with the variable's name.
        let bad = LogSettings::load(
            "https://verify.example.cn",
            Some(LogFile {
                witnesses: Some(vec!["http://127.0.0.1:1".into()]),
                ..LogFile::default()
            }),
        );
        assert!(matches!(bad, Err(LogConfigError::Witnesses(_))));
        let none = LogSettings::load("https://verify.example.cn/", None).unwrap();
        assert_eq!(none.origin, "verify.example.cn/log");
        assert_eq!(none.quorum, 0);
    }
}
