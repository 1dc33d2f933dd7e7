//! What the server publishes for offline verifiers, signed by the list signer and served from
//! memory: the trust list (`/api/v1/trust-list.cose`), the status lists
//! (`/api/v1/status-lists/{id}`) and the status index of licences sealed before status lists
//! (`/api/v1/status-index.cose`).
//!
//! A background task asks the database every `lists.refresh_ms` for the lists' revisions (one
//! query on a table of a few rows: cheap on an idle server) and rebuilds only a list whose
//! revision moved; every list is also re-signed at the start of each hour. Times in the
//! signed documents derive from the database (the list's last change) and the hour, never
//! from when a process happened to rebuild, so several processes over one PostgreSQL database
//! publish the same content under the same ETag.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::config::ListSettings;
use crate::domain::status_list::{ListStatus, PackedStatuses, StatusListClaims, TYP};
use crate::issuance::{KeySet, ListSignError};
use crate::storage::{self, status_lists, DbConnection, DbPool, StorageError};
use crate::verification::signed_list::{
    identifier_hash, IndexEntry, SignedTrustList, StatusIndex, STATUS_INDEX_TYP, TRUST_LIST_TYP,
};
use crate::verification::TrustList;

/// Every document is re-signed (fresh `iat`/`exp`) at the start of each such window.
pub const WINDOW_S: i64 = 3600;
/// Older licences indexed per transaction at start-up.
const BACKFILL_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the key set has no list signer: signed lists are not published")]
    NoListSigner,
    #[error(transparent)]
    Sign(#[from] ListSignError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for PublishError {
    fn from(e: diesel::result::Error) -> Self {
        PublishError::Storage(e.into())
    }
}

/// A signed document ready to serve.
#[derive(Debug, Clone)]
pub struct Document {
    pub bytes: Vec<u8>,
    /// `W/"<first 16 bytes of SHA-256 of the payload, hex>"`: weak, because two processes
    /// sign the same payload with different (randomised) ECDSA signatures.
    pub etag: String,
    pub content_type: &'static str,
    pub max_age_s: i64,
}

impl Document {
    fn new(bytes: Vec<u8>, payload: &[u8], content_type: &'static str, max_age_s: i64) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA256, payload);
        Document {
            bytes,
            etag: format!("W/\"{}\"", hex::encode(&d.as_ref()[..16])),
            content_type,
            max_age_s,
        }
    }

    /// Whether an `If-None-Match` header value names this document (weak comparison).
    pub fn matches(&self, if_none_match: &str) -> bool {
        let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        let mine = strip(&self.etag);
        if_none_match
            .split(',')
            .any(|t| t.trim() == "*" || strip(t) == mine)
    }
}

#[derive(Debug, Default, Clone)]
struct Snapshot {
    window: Option<i64>,
    revisions: HashMap<i64, i64>,
    lists: HashMap<i64, Arc<Document>>,
    trust_list: Option<Arc<Document>>,
    status_index: Option<Arc<Document>>,
}

/// What one refresh did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub lists_rebuilt: Vec<i64>,
    pub resigned_all: bool,
    pub backfilled: usize,
}

#[derive(Debug, Default)]
pub struct Published {
    snapshot: RwLock<Snapshot>,
    /// Wakes this process's refresher at once after a change made here (other processes
    /// notice on their next tick).
    pub(crate) wake: tokio::sync::Notify,
}

fn window_start(window: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(window * WINDOW_S, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Builds the signed status list `list_id` as of `today`.
pub fn build_status_list(
    conn: &mut DbConnection,
    keys: &KeySet,
    list: &status_lists::StatusListRow,
    uri: String,
    iat: DateTime<Utc>,
    settings: &ListSettings,
) -> Result<Document, PublishError> {
    let signer = keys.list_signer().ok_or(PublishError::NoListSigner)?;
    let rows = status_lists::list_non_valid(conn, list.id, iat.date_naive())?;
    let mut packed = PackedStatuses::new(list.capacity as u64);
    for r in rows {
        let stored = r.status;
        let status = ListStatus::of(stored.effective(r.valid_to, iat.date_naive()));
        // An index outside the list would be a database bug; the list stays correct for the rest.
        if packed.set(r.idx as u64, status).is_err() {
            tracing::error!(
                list = list.id,
                idx = r.idx,
                "status-list index out of range"
            );
        }
    }
    let claims = StatusListClaims {
        sub: uri,
        iat: iat.timestamp(),
        exp: iat.timestamp() + settings.status_exp_s,
        ttl: settings.status_ttl_s,
        lst: packed.deflate(),
    };
    let payload = claims.to_cbor();
    let bytes = signer.sign(TYP, payload.clone(), iat)?;
    Ok(Document::new(bytes, &payload, TYP, settings.status_ttl_s))
}

impl Published {
    /// A licence was issued or changed here: refresh now rather than at the next tick.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    pub fn status_list(&self, id: i64) -> Option<Arc<Document>> {
        self.read().lists.get(&id).cloned()
    }

    pub fn trust_list(&self) -> Option<Arc<Document>> {
        self.read().trust_list.clone()
    }

    pub fn status_index(&self) -> Option<Arc<Document>> {
        self.read().status_index.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the published documents up to date: indexes older licences and re-signs
    /// everything at the start of a window; rebuilds a status list whose revision moved.
    pub fn refresh(
        &self,
        pool: &DbPool,
        keys: &KeySet,
        public_url: &str,
        settings: &ListSettings,
        now: DateTime<Utc>,
    ) -> Result<Refreshed, PublishError> {
        if keys.list_signer().is_none() {
            return Err(PublishError::NoListSigner);
        }
        let window = now.timestamp().div_euclid(WINDOW_S);
        let start = window_start(window);
        let (old_window, old_revisions) = {
            let s = self.read();
            (s.window, s.revisions.clone())
        };
        let new_window = old_window != Some(window);
        let mut conn = pool.get().map_err(StorageError::from)?;
        let mut done = Refreshed {
            resigned_all: new_window,
            ..Refreshed::default()
        };
        if new_window {
            done.backfilled = backfill(&mut conn, now)?;
        }
        let rows = status_lists::list_status_lists(&mut conn)?;
        let mut lists = Vec::new();
        for row in &rows {
            if new_window || old_revisions.get(&row.id) != Some(&row.revision) {
                let iat = start.max(storage::from_db_time(row.changed_at));
                let uri = crate::registration::status_list_uri(public_url, row.id);
                let doc = build_status_list(&mut conn, keys, row, uri, iat, settings)?;
                lists.push((row.id, row.revision, Arc::new(doc)));
                done.lists_rebuilt.push(row.id);
            }
        }
        // A list opened since the last build must appear in the index at once.
        let new_list = rows.iter().any(|r| !old_revisions.contains_key(&r.id));
        let trust_list = if new_window {
            Some(Arc::new(build_trust_list(
                &mut conn, keys, start, settings, now,
            )?))
        } else {
            None
        };
        // Any change may have added a licence published through the index.
        let status_index = if new_window || new_list || !done.lists_rebuilt.is_empty() {
            Some(Arc::new(build_status_index(
                &mut conn, keys, public_url, start, settings,
            )?))
        } else {
            None
        };
        let mut s = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        s.window = Some(window);
        for (id, revision, doc) in lists {
            s.revisions.insert(id, revision);
            s.lists.insert(id, doc);
        }
        if trust_list.is_some() {
            s.trust_list = trust_list;
        }
        if status_index.is_some() {
            s.status_index = status_index;
        }
        Ok(done)
    }
}

/// Gives every licence sealed before status lists its slot; returns how many got one.
fn backfill(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, PublishError> {
    let mut total = 0;
    loop {
        let ids = status_lists::list_unindexed(conn, BACKFILL_BATCH)?;
        if ids.is_empty() {
            return Ok(total);
        }
        storage::write_tx(conn, |conn| -> Result<(), PublishError> {
            for id in &ids {
                status_lists::allocate(conn, id, true, now)?;
            }
            // Other processes rebuild too: their lists lack these licences' statuses.
            status_lists::note_all_changed(conn, now)?;
            Ok(())
        })?;
        total += ids.len();
        tracing::info!(indexed = total, "older licences given status-list indexes");
    }
}

fn build_trust_list(
    conn: &mut DbConnection,
    keys: &KeySet,
    start: DateTime<Utc>,
    settings: &ListSettings,
    now: DateTime<Utc>,
) -> Result<Document, PublishError> {
    let signer = keys.list_signer().ok_or(PublishError::NoListSigner)?;
    let list = TrustList::from_keyset(keys, now);
    let mut content = SignedTrustList {
        sequence: 0,
        issued_at: 0,
        expires_at: 0,
        root: list.root,
        signers: list.signers,
    };
    let hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &content.to_cbor(),
    ));
    let (sequence, changed_at) = storage::write_tx(conn, |conn| {
        status_lists::trust_list_sequence(conn, &hash, now)
    })?;
    let issued_at = start.max(changed_at);
    content.sequence = sequence;
    content.issued_at = issued_at.timestamp();
    content.expires_at = (issued_at + Duration::seconds(settings.trust_exp_s)).timestamp();
    let payload = content.to_cbor();
    let bytes = signer.sign(TRUST_LIST_TYP, payload.clone(), issued_at)?;
    Ok(Document::new(bytes, &payload, "application/cose", WINDOW_S))
}

fn build_status_index(
    conn: &mut DbConnection,
    keys: &KeySet,
    public_url: &str,
    start: DateTime<Utc>,
    settings: &ListSettings,
) -> Result<Document, PublishError> {
    let signer = keys.list_signer().ok_or(PublishError::NoListSigner)?;
    let lists = status_lists::list_status_lists(conn)?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let entries = status_lists::list_legacy(conn)?
        .into_iter()
        .map(|e| IndexEntry {
            id_hash: identifier_hash(&e.identifier),
            list: e.list_id,
            idx: e.idx as u64,
        })
        .collect();
    let index = StatusIndex {
        issued_at: start.timestamp(),
        base_uri: format!("{}/api/v1/status-lists/", public_url.trim_end_matches('/')),
        lists,
        entries,
    };
    let payload = index.to_cbor();
    let bytes = signer.sign(STATUS_INDEX_TYP, payload.clone(), start)?;
    Ok(Document::new(
        bytes,
        &payload,
        "application/cose",
        settings.status_ttl_s,
    ))
}
