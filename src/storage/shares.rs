//! `shares` and `share_lookups`: holder share codes (stored as an HMAC under the server
//! secret, never in clear) and every lookup that reached a share.

use super::schema::{share_lookups, shares};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = shares)]
pub struct ShareRow {
    pub id: String,
    pub code_hash: String,
    pub holder_code: String,
    /// Licence ids, as a JSON array.
    pub licence_ids: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    /// The hall of the staff member who created it.
    pub hall: String,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

pub fn insert_share(conn: &mut DbConnection, row: &ShareRow) -> StorageResult<()> {
    diesel::insert_into(shares::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_code_hash(
    conn: &mut DbConnection,
    code_hash: &str,
) -> StorageResult<Option<ShareRow>> {
    Ok(shares::table
        .filter(shares::code_hash.eq(code_hash))
        .select(ShareRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_share(conn: &mut DbConnection, id: &str) -> StorageResult<Option<ShareRow>> {
    Ok(shares::table
        .find(id)
        .select(ShareRow::as_select())
        .first(conn)
        .optional()?)
}

/// Newest first; one hall's or every hall's, optionally one holder's.
pub fn list_shares(
    conn: &mut DbConnection,
    hall: Option<&str>,
    holder_code: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<ShareRow>> {
    let mut q = shares::table
        .select(ShareRow::as_select())
        .order(shares::created_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(h) = hall {
        q = q.filter(shares::hall.eq(h.to_string()));
    }
    if let Some(h) = holder_code {
        q = q.filter(shares::holder_code.eq(h.to_string()));
    }
    Ok(q.load(conn)?)
}

/// Revoke; false when it was already revoked.
pub fn revoke_share(
    conn: &mut DbConnection,
    id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> StorageResult<bool> {
    let n = diesel::update(shares::table.find(id).filter(shares::revoked_at.is_null()))
        .set((
            shares::revoked_at.eq(Some(to_db_time(now))),
            shares::revoked_by.eq(Some(by)),
        ))
        .execute(conn)?;
    if n == 0 && find_share(conn, id)?.is_none() {
        return Err(StorageError::NotFound(format!("no share with id {id}")));
    }
    Ok(n == 1)
}

pub fn insert_lookup(
    conn: &mut DbConnection,
    share_id: &str,
    client_ip: &str,
    channel: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::insert_into(share_lookups::table)
        .values((
            share_lookups::share_id.eq(share_id),
            share_lookups::at.eq(to_db_time(now)),
            share_lookups::client_ip.eq(client_ip),
            share_lookups::channel.eq(channel),
            share_lookups::outcome.eq(outcome),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = share_lookups)]
pub struct LookupRow {
    pub id: i64,
    pub share_id: String,
    pub at: NaiveDateTime,
    pub client_ip: String,
    pub channel: String,
    pub outcome: String,
}

/// A share's lookups, oldest first.
pub fn list_lookups(conn: &mut DbConnection, share_id: &str) -> StorageResult<Vec<LookupRow>> {
    Ok(share_lookups::table
        .filter(share_lookups::share_id.eq(share_id))
        .order(share_lookups::id.asc())
        .select(LookupRow::as_select())
        .load(conn)?)
}
