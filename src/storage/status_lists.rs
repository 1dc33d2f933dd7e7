//! `status_lists`, `status_list_entries` and `trust_list_state`: which list and random index
//! each licence holds, each list's revision (bumped with every status change, so server
//! processes notice staleness with one small query) and the signed trust list's sequence.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Text, Timestamp};
use rand::Rng;

use super::schema::{status_list_entries, status_lists, trust_list_state};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use crate::domain::status_list::{CAPACITY, FILL_LIMIT};

/// A licence's place in a status list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub list_id: i64,
    pub idx: u64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = status_lists)]
pub struct StatusListRow {
    pub id: i64,
    pub capacity: i64,
    pub revision: i64,
    pub changed_at: NaiveDateTime,
}

pub fn list_status_lists(conn: &mut DbConnection) -> StorageResult<Vec<StatusListRow>> {
    Ok(status_lists::table
        .order(status_lists::id.asc())
        .select(StatusListRow::as_select())
        .load(conn)?)
}

pub fn find_slot(conn: &mut DbConnection, licence_id: &str) -> StorageResult<Option<Slot>> {
    let row: Option<(i64, i64)> = status_list_entries::table
        .filter(status_list_entries::licence_id.eq(licence_id))
        .select((status_list_entries::list_id, status_list_entries::idx))
        .first(conn)
        .optional()?;
    Ok(row.map(|(list_id, idx)| Slot {
        list_id,
        idx: idx as u64,
    }))
}

fn open_list(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> StorageResult<()> {
    diesel::sql_query(
        "INSERT INTO status_lists (id, capacity, revision, changed_at) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind::<BigInt, _>(id)
    .bind::<BigInt, _>(CAPACITY as i64)
    .bind::<Timestamp, _>(to_db_time(now))
    .execute(conn)?;
    Ok(())
}

fn current_list(conn: &mut DbConnection, now: DateTime<Utc>) -> StorageResult<(i64, u64)> {
    let last: Option<(i64, i64)> = status_lists::table
        .order(status_lists::id.desc())
        .select((status_lists::id, status_lists::capacity))
        .first(conn)
        .optional()?;
    match last {
        Some((id, capacity)) => Ok((id, capacity as u64)),
        None => {
            open_list(conn, 1, now)?;
            Ok((1, CAPACITY))
        }
    }
}

fn entries_in(conn: &mut DbConnection, list_id: i64) -> StorageResult<i64> {
    Ok(status_list_entries::table
        .filter(status_list_entries::list_id.eq(list_id))
        .count()
        .get_result(conn)?)
}

/// Gives a licence a random free index in the current list (opening the next list once the
/// current one holds `FILL_LIMIT` licences). Call inside the issuing write transaction. The
/// insert runs in a savepoint: two PostgreSQL transactions that drew the same index meet at
/// the primary key, and the loser draws again instead of failing the issue.
///
/// The list's entries are counted only after `COUNT_AFTER_COLLISIONS` taken draws in a row:
/// a list filled to a fraction f collides that often with probability f^3 (under 2% below
/// the fill limit of a quarter), where counting at the first collision made about one issue
/// in five count a quarter of a million entries inside the write lock at a million licences.
/// A list may so pass the limit by a few entries before the next one opens.
pub fn allocate(
    conn: &mut DbConnection,
    licence_id: &str,
    legacy: bool,
    now: DateTime<Utc>,
) -> StorageResult<Slot> {
    const COUNT_AFTER_COLLISIONS: u32 = 3;
    let mut rng = rand::thread_rng();
    let mut collisions = 0;
    for _ in 0..64 {
        let (list_id, capacity) = current_list(conn, now)?;
        let idx = rng.gen_range(0..capacity) as i64;
        let taken: bool = diesel::select(diesel::dsl::exists(
            status_list_entries::table
                .filter(status_list_entries::list_id.eq(list_id))
                .filter(status_list_entries::idx.eq(idx)),
        ))
        .get_result(conn)?;
        if taken {
            // Counting is only worth it when the list seems crowded.
            collisions += 1;
            if collisions >= COUNT_AFTER_COLLISIONS
                && entries_in(conn, list_id)? >= FILL_LIMIT as i64
            {
                open_list(conn, list_id + 1, now)?;
                collisions = 0;
            }
            continue;
        }
        let inserted = conn.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::insert_into(status_list_entries::table)
                .values((
                    status_list_entries::list_id.eq(list_id),
                    status_list_entries::idx.eq(idx),
                    status_list_entries::licence_id.eq(licence_id),
                    status_list_entries::legacy.eq(legacy),
                ))
                .execute(c)
        });
        match inserted.map_err(StorageError::from) {
            Ok(_) => {
                return Ok(Slot {
                    list_id,
                    idx: idx as u64,
                })
            }
            Err(e) if e.is_unique_violation() => {
                // Another process gave this licence its index meanwhile (older licences are
                // indexed by every server at start), or drew the same index: look again.
                if let Some(slot) = find_slot(conn, licence_id)? {
                    return Ok(slot);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(StorageError::Conflict(
        "no free status-list index found in 64 draws".into(),
    ))
}

/// Marks the list holding `licence_id` as changed. Call in the transaction of the change.
pub fn note_change(
    conn: &mut DbConnection,
    licence_id: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::sql_query(
        // Placeholders in order of appearance: SQLite numbers `$n` by first use.
        "UPDATE status_lists SET revision = revision + 1, changed_at = $1 \
         WHERE id IN (SELECT list_id FROM status_list_entries WHERE licence_id = $2)",
    )
    .bind::<Timestamp, _>(to_db_time(now))
    .bind::<Text, _>(licence_id)
    .execute(conn)?;
    Ok(())
}

/// Marks every list as changed (after older licences were indexed into them).
pub fn note_all_changed(conn: &mut DbConnection, now: DateTime<Utc>) -> StorageResult<()> {
    diesel::update(status_lists::table)
        .set((
            status_lists::revision.eq(status_lists::revision + 1),
            status_lists::changed_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A licence of a list that is not plainly valid: its stored status and end of validity.
#[derive(Debug, Clone, QueryableByName)]
pub struct ListedStatus {
    #[diesel(sql_type = BigInt)]
    pub idx: i64,
    #[diesel(sql_type = Text)]
    pub status: crate::domain::licence::LicenceStatus,
    #[diesel(sql_type = Nullable<Date>)]
    pub valid_to: Option<NaiveDate>,
}

/// Every licence of the list whose list status is not 0 on `today`: a stored status other
/// than valid, or a validity that ended before `today`. Valid licences are the zeros the
/// list starts with, so they are not read.
pub fn list_non_valid(
    conn: &mut DbConnection,
    list_id: i64,
    today: NaiveDate,
) -> StorageResult<Vec<ListedStatus>> {
    Ok(diesel::sql_query(
        "SELECT e.idx AS idx, l.status AS status, l.valid_to AS valid_to \
         FROM status_list_entries e JOIN licences l ON l.id = e.licence_id \
         WHERE e.list_id = $1 AND (l.status <> 'valid' OR l.valid_to < $2)",
    )
    .bind::<BigInt, _>(list_id)
    .bind::<Date, _>(today)
    .load(conn)?)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct LegacyEntry {
    #[diesel(sql_type = Text)]
    pub identifier: String,
    #[diesel(sql_type = BigInt)]
    pub list_id: i64,
    #[diesel(sql_type = BigInt)]
    pub idx: i64,
}

/// The licences sealed before status lists, with their slots.
pub fn list_legacy(conn: &mut DbConnection) -> StorageResult<Vec<LegacyEntry>> {
    Ok(diesel::sql_query(
        "SELECT l.identifier AS identifier, e.list_id AS list_id, e.idx AS idx \
         FROM status_list_entries e JOIN licences l ON l.id = e.licence_id \
         WHERE e.legacy = $1 ORDER BY e.list_id, e.idx",
    )
    .bind::<Bool, _>(true)
    .load(conn)?)
}

#[derive(Debug, Clone, QueryableByName)]
struct LicenceId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Up to `limit` licences without a status-list slot (sealed before status lists).
pub fn list_unindexed(conn: &mut DbConnection, limit: i64) -> StorageResult<Vec<String>> {
    let rows: Vec<LicenceId> = diesel::sql_query(
        "SELECT l.id AS id FROM licences l WHERE NOT EXISTS \
         (SELECT 1 FROM status_list_entries e WHERE e.licence_id = l.id) \
         ORDER BY l.id LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The trust list's current sequence for content whose SHA-256 is `content_sha256`: the
/// stored one when the content is unchanged, else the next (also when several processes
/// notice the same change at once: the conditional update lets one of them bump it).
pub fn trust_list_sequence(
    conn: &mut DbConnection,
    content_sha256: &str,
    now: DateTime<Utc>,
) -> StorageResult<(u64, DateTime<Utc>)> {
    for _ in 0..4 {
        let row: Option<(i64, String, NaiveDateTime)> = trust_list_state::table
            .find(1)
            .select((
                trust_list_state::sequence,
                trust_list_state::content_sha256,
                trust_list_state::changed_at,
            ))
            .first(conn)
            .optional()?;
        match row {
            None => {
                let n = diesel::sql_query(
                    "INSERT INTO trust_list_state (id, sequence, content_sha256, changed_at) \
                     VALUES (1, 1, $1, $2) ON CONFLICT (id) DO NOTHING",
                )
                .bind::<Text, _>(content_sha256)
                .bind::<Timestamp, _>(to_db_time(now))
                .execute(conn)?;
                if n == 1 {
                    super::tlog::append_trust_list(conn, 1, content_sha256, now)?;
                }
            }
            Some((seq, hash, at)) if hash == content_sha256 => {
                return Ok((seq as u64, super::from_db_time(at)));
            }
            Some((seq, _, _)) => {
                let n = diesel::update(
                    trust_list_state::table
                        .find(1)
                        .filter(trust_list_state::sequence.eq(seq)),
                )
                .set((
                    trust_list_state::sequence.eq(seq + 1),
                    trust_list_state::content_sha256.eq(content_sha256),
                    trust_list_state::changed_at.eq(to_db_time(now)),
                ))
                .execute(conn)?;
                if n == 1 {
                    super::tlog::append_trust_list(conn, seq + 1, content_sha256, now)?;
                }
            }
        }
    }
    Err(StorageError::Conflict(
        "the trust list's sequence keeps changing".into(),
    ))
}
