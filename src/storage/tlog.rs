//! `tlog_entries`, `tlog_nodes`, `tlog_state`, `tlog_checkpoints`: the transparency log's
//! storage. `append*` run inside the event's own write transaction; `integrate` numbers the
//! pending entries and stores the complete-subtree hashes they close.

use super::{from_db_time, to_db_time, DbConnection, StorageResult};
use crate::domain::tlog::entry::Entry;
use crate::domain::tlog::merkle::{self, Hash, HashReader};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Timestamp};
use std::collections::HashMap;

/// Append an entry (inside the event's write transaction).
pub fn append(conn: &mut DbConnection, entry: &Entry, now: DateTime<Utc>) -> StorageResult<()> {
    diesel::sql_query(
        "INSERT INTO tlog_entries (kind, subject, sha256, logged_at, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind::<Text, _>(&entry.kind)
    .bind::<Text, _>(&entry.subject)
    .bind::<Text, _>(&entry.sha256)
    .bind::<Timestamp, _>(to_db_time(now))
    .bind::<Binary, _>(entry.encode())
    .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct SealRow {
    #[diesel(sql_type = Text)]
    identifier: String,
    #[diesel(sql_type = Binary)]
    cose: Vec<u8>,
}

/// Append the entry of a licence event (`issued`, `status:revoked`, ...) for licence `id`.
pub fn append_licence(
    conn: &mut DbConnection,
    licence_id: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    let row: SealRow = diesel::sql_query("SELECT identifier, cose FROM licences WHERE id = $1")
        .bind::<Text, _>(licence_id)
        .get_result(conn)?;
    append(
        conn,
        &Entry {
            kind: kind.to_string(),
            time: now.timestamp(),
            subject: row.identifier,
            sha256: hex::encode(merkle::sha256(&row.cose)),
        },
        now,
    )
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    size: i64,
}

/// The integrated size.
pub fn size(conn: &mut DbConnection) -> StorageResult<u64> {
    let s: Size = diesel::sql_query("SELECT size FROM tlog_state WHERE id = 1").get_result(conn)?;
    Ok(s.size as u64)
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// What a round looks at first, in one statement: entries waiting to be integrated, the
/// integrated size, the largest published checkpoint.
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundLook {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub pending: bool,
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    pub published: Option<i64>,
}

/// See [`RoundLook`]: an idle log costs this one read per round.
pub fn round_look(conn: &mut DbConnection) -> StorageResult<RoundLook> {
    Ok(diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM tlog_entries WHERE leaf_index IS NULL) AS pending, \
                (SELECT size FROM tlog_state WHERE id = 1) AS size, \
                (SELECT MAX(size) FROM tlog_checkpoints) AS published",
    )
    .get_result(conn)?)
}

/// Are entries waiting to be integrated?
pub fn has_pending(conn: &mut DbConnection) -> StorageResult<bool> {
    let row: Option<One> =
        diesel::sql_query("SELECT id FROM tlog_entries WHERE leaf_index IS NULL LIMIT 1")
            .get_result(conn)
            .optional()?;
    Ok(row.is_some_and(|r| r.id >= 0))
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Binary)]
    data: Vec<u8>,
}

#[derive(QueryableByName)]
struct NodeRow {
    #[diesel(sql_type = Binary)]
    hash: Vec<u8>,
}

fn to_hash(v: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(v);
    }
    h
}

/// Complete-subtree hashes read from the database (with the nodes of the batch being
/// integrated, not yet visible to a fresh read on every backend, in `fresh`).
pub struct DbHashes<'c> {
    pub conn: &'c mut DbConnection,
    fresh: HashMap<(u8, u64), Hash>,
}

impl<'c> DbHashes<'c> {
    pub fn new(conn: &'c mut DbConnection) -> DbHashes<'c> {
        DbHashes {
            conn,
            fresh: HashMap::new(),
        }
    }
}

impl HashReader for DbHashes<'_> {
    type Error = super::StorageError;
    fn node(&mut self, level: u8, index: u64) -> StorageResult<Hash> {
        if let Some(h) = self.fresh.get(&(level, index)) {
            return Ok(*h);
        }
        let rows = nodes(self.conn, level, index, index + 1)?;
        rows.first().copied().ok_or_else(|| {
            super::StorageError::NotFound(format!("no log node at level {level} index {index}"))
        })
    }
}

/// Hashes of level `level`, indexes `from..to` (those stored).
pub fn nodes(conn: &mut DbConnection, level: u8, from: u64, to: u64) -> StorageResult<Vec<Hash>> {
    let rows: Vec<NodeRow> = diesel::sql_query(
        "SELECT hash FROM tlog_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
    )
    .bind::<Integer, _>(level as i32)
    .bind::<BigInt, _>(from as i64)
    .bind::<BigInt, _>(to as i64)
    .load(conn)?;
    Ok(rows.iter().map(|r| to_hash(&r.hash)).collect())
}

fn insert_node(conn: &mut DbConnection, level: u8, idx: u64, hash: &Hash) -> StorageResult<()> {
    diesel::sql_query("INSERT INTO tlog_nodes (level, idx, hash) VALUES ($1, $2, $3)")
        .bind::<Integer, _>(level as i32)
        .bind::<BigInt, _>(idx as i64)
        .bind::<Binary, _>(hash.to_vec())
        .execute(conn)?;
    Ok(())
}

/// Number up to `batch` pending entries after the integrated ones, store their leaf hashes
/// and the subtree hashes they complete; returns the new size and root. Call inside a
/// write transaction: the first statement locks `tlog_state`, so integrators take turns.
pub fn integrate(conn: &mut DbConnection, batch: i64) -> StorageResult<(u64, Hash)> {
    let locked: Size =
        diesel::sql_query("UPDATE tlog_state SET size = size WHERE id = 1 RETURNING size")
            .get_result(conn)?;
    let mut size = locked.size as u64;
    let pending: Vec<Pending> = diesel::sql_query(
        "SELECT id, data FROM tlog_entries WHERE leaf_index IS NULL ORDER BY id LIMIT $1",
    )
    .bind::<BigInt, _>(batch)
    .load(conn)?;
    let mut hashes = DbHashes::new(conn);
    for p in &pending {
        diesel::sql_query("UPDATE tlog_entries SET leaf_index = $1 WHERE id = $2")
            .bind::<BigInt, _>(size as i64)
            .bind::<BigInt, _>(p.id)
            .execute(hashes.conn)?;
        let mut h = merkle::leaf_hash(&p.data);
        let (mut level, mut idx) = (0u8, size);
        insert_node(hashes.conn, level, idx, &h)?;
        hashes.fresh.insert((level, idx), h);
        while idx % 2 == 1 {
            let left = hashes.node(level, idx - 1)?;
            h = merkle::node_hash(&left, &h);
            level += 1;
            idx /= 2;
            insert_node(hashes.conn, level, idx, &h)?;
            hashes.fresh.insert((level, idx), h);
        }
        size += 1;
    }
    let root = merkle::root(&mut hashes, size)?;
    if !pending.is_empty() {
        diesel::sql_query("UPDATE tlog_state SET size = $1 WHERE id = 1")
            .bind::<BigInt, _>(size as i64)
            .execute(conn)?;
    }
    Ok((size, root))
}

#[derive(QueryableByName)]
struct EntryData {
    #[diesel(sql_type = Binary)]
    data: Vec<u8>,
}

/// The integrated entries `from..to`, in order.
pub fn entries(conn: &mut DbConnection, from: u64, to: u64) -> StorageResult<Vec<Vec<u8>>> {
    let rows: Vec<EntryData> = diesel::sql_query(
        "SELECT data FROM tlog_entries WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
    )
    .bind::<BigInt, _>(from as i64)
    .bind::<BigInt, _>(to as i64)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.data).collect())
}

#[derive(QueryableByName)]
struct Newest {
    #[diesel(sql_type = Nullable<BigInt>)]
    leaf_index: Option<i64>,
    #[diesel(sql_type = Binary)]
    data: Vec<u8>,
}

/// The newest entry about `subject`: its leaf index (None while pending) and bytes.
pub fn newest_for(
    conn: &mut DbConnection,
    subject: &str,
) -> StorageResult<Option<(Option<u64>, Vec<u8>)>> {
    let row: Option<Newest> = diesel::sql_query(
        "SELECT leaf_index, data FROM tlog_entries WHERE subject = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind::<Text, _>(subject)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| (r.leaf_index.map(|i| i as u64), r.data)))
}

/// A published checkpoint.
#[derive(Debug, Clone)]
pub struct PublishedCheckpoint {
    pub size: u64,
    pub note: String,
    pub cosignatures: i32,
    pub published_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct CheckpointRow {
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = Text)]
    note: String,
    #[diesel(sql_type = Integer)]
    cosignatures: i32,
    #[diesel(sql_type = Timestamp)]
    published_at: chrono::NaiveDateTime,
}

pub fn latest_checkpoint(conn: &mut DbConnection) -> StorageResult<Option<PublishedCheckpoint>> {
    let row: Option<CheckpointRow> = diesel::sql_query(
        "SELECT size, note, cosignatures, published_at FROM tlog_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| PublishedCheckpoint {
        size: r.size as u64,
        note: r.note,
        cosignatures: r.cosignatures,
        published_at: from_db_time(r.published_at),
    }))
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = Integer)]
    cosignatures: i32,
}

/// The latest published checkpoint's size and cosignature count (the verify path's read).
pub fn latest_head(conn: &mut DbConnection) -> StorageResult<Option<(u64, i32)>> {
    let row: Option<Head> = diesel::sql_query(
        "SELECT size, cosignatures FROM tlog_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .get_result(conn)
    .optional()?;
    Ok(row.map(|h| (h.size as u64, h.cosignatures)))
}

/// Publish a checkpoint (a second publisher of the same size keeps the first).
pub fn publish_checkpoint(
    conn: &mut DbConnection,
    size: u64,
    note: &str,
    cosignatures: usize,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::sql_query(
        "INSERT INTO tlog_checkpoints (size, note, cosignatures, published_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (size) DO NOTHING",
    )
    .bind::<BigInt, _>(size as i64)
    .bind::<Text, _>(note)
    .bind::<Integer, _>(cosignatures as i32)
    .bind::<Timestamp, _>(to_db_time(now))
    .execute(conn)?;
    Ok(())
}

/// The `issued` entry of a licence version being inserted.
pub fn append_issued(
    conn: &mut DbConnection,
    row: &super::licences::LicenceRow,
) -> StorageResult<()> {
    let at = from_db_time(row.issued_at);
    append(
        conn,
        &Entry {
            kind: "issued".into(),
            time: at.timestamp(),
            subject: row.identifier.clone(),
            sha256: hex::encode(merkle::sha256(&row.cose)),
        },
        at,
    )
}

/// The entry of trust-list version `sequence` (content hash in hex).
pub fn append_trust_list(
    conn: &mut DbConnection,
    sequence: i64,
    content_sha256: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    append(
        conn,
        &Entry {
            kind: "trust-list".into(),
            time: now.timestamp(),
            subject: format!("trust-list/{sequence}"),
            sha256: content_sha256.to_string(),
        },
        now,
    )
}

#[derive(QueryableByName)]
struct LicenceId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The licences sealed before the log (no entry at all), oldest first. One scan of the
/// register: asking again for the next batch rescanned every licence already done, so a
/// backlog of N took O(N²/batch) probes (388 s at 100,000).
pub fn unlogged_licences(conn: &mut DbConnection) -> StorageResult<Vec<String>> {
    let ids: Vec<LicenceId> = diesel::sql_query(
        "SELECT l.id AS id FROM licences l WHERE NOT EXISTS \
         (SELECT 1 FROM tlog_entries e WHERE e.subject = l.identifier) ORDER BY l.issued_at, l.id",
    )
    .load(conn)?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

#[derive(QueryableByName)]
struct Logged {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    logged: bool,
}

/// Give each of the licences `ids` its `issued` entry, unless it has an entry by now
/// (another process backfilled it meanwhile); returns how many were written. Call inside a
/// write transaction.
pub fn backfill(conn: &mut DbConnection, ids: &[String]) -> StorageResult<usize> {
    let mut written = 0;
    for id in ids {
        let row = super::licences::get_licence(conn, id)?;
        let found: Logged = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM tlog_entries WHERE subject = $1) AS logged",
        )
        .bind::<Text, _>(&row.identifier)
        .get_result(conn)?;
        if !found.logged {
            append_issued(conn, &row)?;
            written += 1;
        }
    }
    Ok(written)
}
