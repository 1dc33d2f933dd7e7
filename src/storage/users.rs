//! `users` (staff accounts), `sessions` (bearer tokens, stored as SHA-256 hashes) and
//! `recovery_codes` (second-factor fallbacks, stored as SHA-256 hashes).

use super::schema::{recovery_codes, sessions, users};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use crate::domain::role::Role;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub hall_code: String,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub must_change_password: bool,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub last_login_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
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

pub fn get_user(conn: &mut DbConnection, user_id: i64) -> StorageResult<UserRow> {
    users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no user with id {user_id}")))
}

pub fn get_user_by_name(conn: &mut DbConnection, username: &str) -> StorageResult<UserRow> {
    find_user_by_name(conn, username)?
        .ok_or_else(|| StorageError::NotFound(format!("no user named {username}")))
}

/// What an administrator may change on an account; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges<'a> {
    pub active: Option<bool>,
    pub role: Option<Role>,
    pub hall_code: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub must_change_password: Option<bool>,
    pub totp_secret: Option<Option<&'a str>>,
    pub totp_enabled: Option<bool>,
    pub totp_last_step: Option<Option<i64>>,
    pub last_login_at: Option<NaiveDateTime>,
}

pub fn update_user(
    conn: &mut DbConnection,
    user_id: i64,
    changes: &UserChanges<'_>,
) -> StorageResult<()> {
    let n = diesel::update(users::table.find(user_id))
        .set(changes)
        .execute(conn)?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("no user with id {user_id}")));
    }
    Ok(())
}

/// Active administrators other than `except`: the last one may not be disabled or demoted.
pub fn count_other_active_admins(conn: &mut DbConnection, except: i64) -> StorageResult<i64> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin))
        .filter(users::active.eq(true))
        .filter(users::id.ne(except))
        .count()
        .get_result(conn)?)
}

/// Record a TOTP time step as used, unless it (or a later one) was used already: the
/// conditional update is what refuses a replayed code, also between two servers.
pub fn claim_totp_step(conn: &mut DbConnection, user_id: i64, step: i64) -> StorageResult<bool> {
    let n = diesel::update(
        users::table.find(user_id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(Some(step)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn insert_session(
    conn: &mut DbConnection,
    token_hash: &str,
    user_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    client_ip: &str,
) -> StorageResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(to_db_time(now)),
            sessions::expires_at.eq(to_db_time(expires_at)),
            sessions::last_seen_at.eq(to_db_time(now)),
            sessions::client_ip.eq(client_ip),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub client_ip: String,
}

/// The session's user, if the token is known, not expired at `now`, used since
/// `idle_since`, and its account active.
pub fn find_session_user(
    conn: &mut DbConnection,
    token_hash: &str,
    now: DateTime<Utc>,
    idle_since: DateTime<Utc>,
) -> StorageResult<Option<(UserRow, SessionRow)>> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(to_db_time(now)))
        .filter(sessions::last_seen_at.gt(to_db_time(idle_since)))
        .filter(users::active.eq(true))
        .select((UserRow::as_select(), SessionRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn touch_session(
    conn: &mut DbConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::update(sessions::table.filter(sessions::token_hash.eq(token_hash)))
        .set(sessions::last_seen_at.eq(to_db_time(now)))
        .execute(conn)?;
    Ok(())
}

/// A user's live sessions, newest first (never their tokens).
pub fn list_sessions(
    conn: &mut DbConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> StorageResult<Vec<SessionRow>> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(to_db_time(now)))
        .order(sessions::created_at.desc())
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// End every session of a user, or every one but `keep` (a token hash).
pub fn delete_user_sessions(
    conn: &mut DbConnection,
    user_id: i64,
    keep: Option<&str>,
) -> StorageResult<usize> {
    let mine = sessions::table.filter(sessions::user_id.eq(user_id));
    Ok(match keep {
        Some(k) => diesel::delete(mine.filter(sessions::token_hash.ne(k))).execute(conn)?,
        None => diesel::delete(mine).execute(conn)?,
    })
}

pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: i64,
    code_hashes: &[String],
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    for hash in code_hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Use up an unused recovery code; false when there is none with that hash.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    user_id: i64,
    code_hash: &str,
    now: DateTime<Utc>,
) -> StorageResult<bool> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(code_hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(to_db_time(now))))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn count_unused_recovery_codes(conn: &mut DbConnection, user_id: i64) -> StorageResult<i64> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
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
