//! `dept_clients` and `dept_access_log`: department API clients (bearer tokens stored as
//! SHA-256 hashes, revocable) and the append-only log of every department access.

use super::schema::{dept_access_log, dept_clients};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dept_clients)]
pub struct DeptClientRow {
    pub id: i64,
    pub name: String,
    pub token_hash: String,
    /// Type codes, comma-separated.
    pub granted_types: String,
    /// Domain keys, comma-separated.
    pub granted_domains: String,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub revoked_at: Option<NaiveDateTime>,
}

pub struct NewDeptClient<'a> {
    pub name: &'a str,
    pub token_hash: &'a str,
    pub granted_types: &'a str,
    pub granted_domains: &'a str,
    pub created_by: &'a str,
}

pub fn insert_client(
    conn: &mut DbConnection,
    c: &NewDeptClient<'_>,
    now: DateTime<Utc>,
) -> StorageResult<i64> {
    diesel::insert_into(dept_clients::table)
        .values((
            dept_clients::name.eq(c.name),
            dept_clients::token_hash.eq(c.token_hash),
            dept_clients::granted_types.eq(c.granted_types),
            dept_clients::granted_domains.eq(c.granted_domains),
            dept_clients::created_at.eq(to_db_time(now)),
            dept_clients::created_by.eq(c.created_by),
        ))
        .execute(conn)?;
    Ok(dept_clients::table
        .filter(dept_clients::token_hash.eq(c.token_hash))
        .select(dept_clients::id)
        .first(conn)?)
}

/// The live (not revoked) client holding this token hash.
pub fn find_live_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> StorageResult<Option<DeptClientRow>> {
    Ok(dept_clients::table
        .filter(dept_clients::token_hash.eq(token_hash))
        .filter(dept_clients::revoked_at.is_null())
        .select(DeptClientRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_clients(conn: &mut DbConnection) -> StorageResult<Vec<DeptClientRow>> {
    Ok(dept_clients::table
        .select(DeptClientRow::as_select())
        .order(dept_clients::id.asc())
        .load(conn)?)
}

pub fn get_client(conn: &mut DbConnection, id: i64) -> StorageResult<DeptClientRow> {
    dept_clients::table
        .find(id)
        .select(DeptClientRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no department client with id {id}")))
}

/// Revoke; false when it was already revoked.
pub fn revoke_client(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> StorageResult<bool> {
    let n = diesel::update(
        dept_clients::table
            .find(id)
            .filter(dept_clients::revoked_at.is_null()),
    )
    .set(dept_clients::revoked_at.eq(Some(to_db_time(now))))
    .execute(conn)?;
    Ok(n == 1)
}

/// One access, as written.
pub struct NewAccess<'a> {
    pub client_id: i64,
    pub route: &'a str,
    pub purpose: &'a str,
    pub holder_code: Option<&'a str>,
    /// Type codes asked for, comma-separated ("" = every granted type).
    pub requested_types: &'a str,
    /// Identifiers of the licences returned, as a JSON array.
    pub licences: &'a str,
    pub outcome: &'a str,
}

pub fn insert_access(
    conn: &mut DbConnection,
    a: &NewAccess<'_>,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::insert_into(dept_access_log::table)
        .values((
            dept_access_log::client_id.eq(a.client_id),
            dept_access_log::at.eq(to_db_time(now)),
            dept_access_log::route.eq(a.route),
            dept_access_log::purpose.eq(a.purpose),
            dept_access_log::holder_code.eq(a.holder_code),
            dept_access_log::requested_types.eq(a.requested_types),
            dept_access_log::licences.eq(a.licences),
            dept_access_log::outcome.eq(a.outcome),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dept_access_log)]
pub struct AccessRow {
    pub id: i64,
    pub client_id: i64,
    pub at: NaiveDateTime,
    pub route: String,
    pub purpose: String,
    pub holder_code: Option<String>,
    pub requested_types: String,
    pub licences: String,
    pub outcome: String,
}

/// Newest first, with the client's name; filtered by holder code and/or client.
pub fn list_access(
    conn: &mut DbConnection,
    holder_code: Option<&str>,
    client_id: Option<i64>,
    limit: i64,
) -> StorageResult<Vec<(AccessRow, String)>> {
    let mut q = dept_access_log::table
        .inner_join(dept_clients::table)
        .select((AccessRow::as_select(), dept_clients::name))
        .order(dept_access_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(h) = holder_code {
        q = q.filter(dept_access_log::holder_code.eq(h.to_string()));
    }
    if let Some(c) = client_id {
        q = q.filter(dept_access_log::client_id.eq(c));
    }
    Ok(q.load(conn)?)
}

/// A holder's licences that no newer version replaced (any status), newest first: what
/// department queries and form prefill read.
pub fn current_licences_of_holder(
    conn: &mut DbConnection,
    holder_code: &str,
) -> StorageResult<Vec<super::licences::LicenceRow>> {
    use super::licences::LicenceRow;
    use super::schema::licences;
    use crate::domain::licence::LicenceStatus;
    Ok(licences::table
        .filter(licences::holder_code.eq(holder_code))
        .filter(licences::status.ne(LicenceStatus::Superseded))
        .filter(licences::superseded_by.is_null())
        .order((licences::issued_at.desc(), licences::id.asc()))
        .select(LicenceRow::as_select())
        .load(conn)?)
}
