//! Bulk writes for `crosscert admin seed-load`: licences, their status-list slots, their
//! transparency-log entries (numbered and hashed on the way in, as the integrator would) and
//! the serial counters, many rows per statement on PostgreSQL (one round trip per few hundred
//! rows) and one prepared insert per row on SQLite (in-process calls; diesel would wrap a batch
//! in a savepoint there). Call inside one write transaction per batch.

use super::licences::LicenceRow;
use super::schema::{licence_sequences, licences, status_list_entries, status_lists};
use super::{to_db_time, DbConnection, StorageResult};
use crate::domain::tlog::entry::Entry;
use crate::domain::tlog::merkle::{self, Hash};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use std::collections::{HashMap, HashSet};

// The log's tables are read and written with SQL text elsewhere (`storage::tlog`); the bulk
// insert needs their typed columns, declared here only.
mod log_tables {
    diesel::table! {
        tlog_entries (id) {
            id -> BigInt,
            leaf_index -> Nullable<BigInt>,
            kind -> Text,
            subject -> Text,
            sha256 -> Text,
            logged_at -> Timestamp,
            data -> Binary,
        }
    }
    diesel::table! {
        tlog_nodes (level, idx) {
            level -> Integer,
            idx -> BigInt,
            hash -> Binary,
        }
    }
}
use log_tables::{tlog_entries, tlog_nodes};

/// Rows per multi-row statement on PostgreSQL (22 columns a licence: well under its 65,535
/// parameters).
const CHUNK: usize = 500;

/// After a bulk load, PostgreSQL's planner statistics (`ANALYZE`): without them, as on a
/// server whose autovacuum is off or has not run yet, a first verification at 1,000,000
/// licences scanned the log by its primary key (250 ms) instead of its subject index
/// (0.14 ms). SQLite's planner works from the indexes alone: nothing to do there.
pub fn refresh_statistics(conn: &mut DbConnection) -> StorageResult<()> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("ANALYZE").execute(c)?;
    }
    Ok(())
}

/// One insert per chunk on PostgreSQL, one per row on SQLite.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        match $conn {
            DbConnection::Pg(c) => {
                for chunk in $rows.chunks(CHUNK) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            DbConnection::Sqlite(c) => {
                for row in $rows.iter() {
                    diesel::insert_into($table).values(row).execute(c)?;
                }
            }
        }
    }};
}

/// The last serial of every (type, authority) pair.
pub fn last_serials(conn: &mut DbConnection) -> StorageResult<HashMap<(String, String), i64>> {
    let rows: Vec<(String, String, i64)> = licence_sequences::table
        .select((
            licence_sequences::type_code,
            licence_sequences::issuer_code,
            licence_sequences::last_serial,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(t, i, s)| ((t, i), s)).collect())
}

/// Store the serial counters reached (upsert: new pairs are inserted).
pub fn set_serials(
    conn: &mut DbConnection,
    serials: &HashMap<(String, String), i64>,
) -> StorageResult<()> {
    use diesel::sql_types::Text;
    for ((type_code, issuer_code), last) in serials {
        diesel::sql_query(
            "INSERT INTO licence_sequences (type_code, issuer_code, last_serial) VALUES ($1, $2, $3) \
             ON CONFLICT (type_code, issuer_code) DO UPDATE SET last_serial = excluded.last_serial",
        )
        .bind::<Text, _>(type_code)
        .bind::<Text, _>(issuer_code)
        .bind::<BigInt, _>(*last)
        .execute(conn)?;
    }
    Ok(())
}

/// The newest status list and the indexes already taken in it (empty database: list 1,
/// which the migration creates).
pub fn current_list(conn: &mut DbConnection) -> StorageResult<(i64, HashSet<u64>)> {
    let id: Option<i64> = status_lists::table
        .select(diesel::dsl::max(status_lists::id))
        .first(conn)?;
    let id = id.unwrap_or(1);
    let taken: Vec<i64> = status_list_entries::table
        .filter(status_list_entries::list_id.eq(id))
        .select(status_list_entries::idx)
        .load(conn)?;
    Ok((id, taken.into_iter().map(|i| i as u64).collect()))
}

/// Open status list `id` (nothing if it exists).
pub fn open_list(
    conn: &mut DbConnection,
    id: i64,
    capacity: u64,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    use diesel::sql_types::Timestamp;
    diesel::sql_query(
        "INSERT INTO status_lists (id, capacity, revision, changed_at) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind::<BigInt, _>(id)
    .bind::<BigInt, _>(capacity as i64)
    .bind::<Timestamp, _>(to_db_time(now))
    .execute(conn)?;
    Ok(())
}

/// A licence's slot: (list, index, licence id).
pub type SlotRow = (i64, i64, String);

pub fn insert_licences(conn: &mut DbConnection, rows: &[LicenceRow]) -> StorageResult<()> {
    insert_rows!(conn, licences::table, rows);
    Ok(())
}

pub fn insert_slots(conn: &mut DbConnection, slots: &[SlotRow]) -> StorageResult<()> {
    let rows: Vec<_> = slots
        .iter()
        .map(|(list, idx, licence)| {
            (
                status_list_entries::list_id.eq(*list),
                status_list_entries::idx.eq(*idx),
                status_list_entries::licence_id.eq(licence.as_str()),
                status_list_entries::legacy.eq(false),
            )
        })
        .collect();
    insert_rows!(conn, status_list_entries::table, rows);
    Ok(())
}

/// Append `entries` to the log already integrated: each gets the next leaf index, its leaf
/// hash and the subtree hashes it completes are stored, and the log's size moves on, exactly
/// as `tlog::integrate` would have done one by one. Entries still pending from elsewhere are
/// integrated first, so leaf order stays the order of `id`. Returns the new size.
pub fn append_integrated(
    conn: &mut DbConnection,
    entries: &[Entry],
    now: DateTime<Utc>,
) -> StorageResult<u64> {
    while super::tlog::has_pending(conn)? {
        super::tlog::integrate(conn, 10_000)?;
    }
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = BigInt)]
        size: i64,
    }
    let locked: Size =
        diesel::sql_query("UPDATE tlog_state SET size = size WHERE id = 1 RETURNING size")
            .get_result(conn)?;
    let start = locked.size as u64;
    let at: NaiveDateTime = to_db_time(now);
    let mut fresh: HashMap<(u8, u64), Hash> = HashMap::new();
    let mut nodes: Vec<(i32, i64, Vec<u8>)> = Vec::with_capacity(entries.len() * 2);
    let mut rows = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let data = entry.encode();
        let leaf = start + i as u64;
        let mut h = merkle::leaf_hash(&data);
        let (mut level, mut idx) = (0u8, leaf);
        nodes.push((0, idx as i64, h.to_vec()));
        fresh.insert((0, idx), h);
        while idx % 2 == 1 {
            let left = match fresh.get(&(level, idx - 1)) {
                Some(l) => *l,
                None => super::tlog::nodes(conn, level, idx - 1, idx)?
                    .first()
                    .copied()
                    .ok_or_else(|| {
                        super::StorageError::NotFound(format!(
                            "no log node at level {level} index {}",
                            idx - 1
                        ))
                    })?,
            };
            h = merkle::node_hash(&left, &h);
            level += 1;
            idx /= 2;
            nodes.push((level as i32, idx as i64, h.to_vec()));
            fresh.insert((level, idx), h);
        }
        rows.push((
            tlog_entries::leaf_index.eq(leaf as i64),
            tlog_entries::kind.eq(entry.kind.as_str()),
            tlog_entries::subject.eq(entry.subject.as_str()),
            tlog_entries::sha256.eq(entry.sha256.as_str()),
            tlog_entries::logged_at.eq(at),
            tlog_entries::data.eq(data),
        ));
    }
    insert_rows!(conn, tlog_entries::table, rows);
    let node_rows: Vec<_> = nodes
        .iter()
        .map(|(level, idx, hash)| {
            (
                tlog_nodes::level.eq(*level),
                tlog_nodes::idx.eq(*idx),
                tlog_nodes::hash.eq(hash.as_slice()),
            )
        })
        .collect();
    insert_rows!(conn, tlog_nodes::table, node_rows);
    let size = start + entries.len() as u64;
    diesel::sql_query("UPDATE tlog_state SET size = $1 WHERE id = 1")
        .bind::<BigInt, _>(size as i64)
        .execute(conn)?;
    Ok(size)
}
