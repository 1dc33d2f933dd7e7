//! `users` (staff accounts) and `sessions` (bearer tokens, stored as SHA-256 hashes).

use super::schema::{sessions, users};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub hall_code: String,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub hall_code: &'a str,
    pub active: bool,
    pub failed_logins: i32,
    pub created_at: NaiveDateTime,
}

pub fn insert_user(conn: &mut DbConnection, user: NewUser<'_>) -> StorageResult<i64> {
    let rows = diesel::insert_into(users::table)
        .values(&user)
        .execute(conn);
    match rows {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            return Err(StorageError::Conflict(format!(
                "the username {} is taken",
                user.username
            )))
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    Ok(users::table
        .filter(users::username.eq(user.username))
        .select(users::id)
        .first(conn)?)
}

pub fn find_user_by_name(
    conn: &mut DbConnection,
    username: &str,
) -> StorageResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_users(conn: &mut DbConnection) -> StorageResult<Vec<UserRow>> {
    Ok(users::table
        .order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn count_users(conn: &mut DbConnection) -> StorageResult<i64> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn update_login_state(
    conn: &mut DbConnection,
    user_id: i64,
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
) -> StorageResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::failed_logins.eq(failed_logins),
            users::locked_until.eq(locked_until.map(to_db_time)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_user_active(conn: &mut DbConnection, user_id: i64, active: bool) -> StorageResult<()> {
    let n = diesel::update(users::table.find(user_id))
        .set(users::active.eq(active))
        .execute(conn)?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("no user with id {user_id}")));
    }
    Ok(())
}

pub fn set_password_hash(conn: &mut DbConnection, user_id: i64, hash: &str) -> StorageResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(())
}

pub fn insert_session(
    conn: &mut DbConnection,
    token_hash: &str,
    user_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(to_db_time(now)),
            sessions::expires_at.eq(to_db_time(expires_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session's user, if the token is known and not expired at `now`.
pub fn find_session_user(
    conn: &mut DbConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StorageResult<Option<(UserRow, NaiveDateTime)>> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(to_db_time(now)))
        .filter(users::active.eq(true))
        .select((UserRow::as_select(), sessions::expires_at))
        .first(conn)
        .optional()?)
}

pub fn delete_session(conn: &mut DbConnection, token_hash: &str) -> StorageResult<usize> {
    Ok(
        diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash)))
            .execute(conn)?,
    )
}

pub fn delete_expired_sessions(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> StorageResult<usize> {
    Ok(
        diesel::delete(sessions::table.filter(sessions::expires_at.le(to_db_time(now))))
            .execute(conn)?,
    )
}
