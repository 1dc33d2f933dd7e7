//! What is done to an account after it exists: disable/enable, role and hall, password reset
//! (a temporary password the user must replace), unlocking its login throttling, ending its
//! sessions, resetting its second factor, and the user's own password change. One function
//! per change, used by the API, the admin page and the operator's CLI alike; each writes its
//! audit row (who, when, from which address) in the change's transaction.
//!
//! Hashing is never done here: callers hash first (off any database connection) and pass the
//! PHC string in.

use super::{validate_password, AccountError};
use crate::config::LoginThrottle;
use crate::domain::role::Role;
use crate::storage::{self, audit, halls, login_throttle, users, DbConnection};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rand::Rng;

/// Who made a change, and from where (`"local"` for the CLI).
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub ip: String,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            ip: "local".into(),
        }
    }
}

/// An account as administrators see it (never its password hash or TOTP secret).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub hall: String,
    pub active: bool,
    /// Kept for older clients: `locked_until` is not null.
    pub locked: bool,
    /// Until when some client address is refused for this username (RFC 3339), or null.
    pub locked_until: Option<String>,
    pub totp_enabled: bool,
    pub must_change_password: bool,
    pub last_login_at: Option<String>,
}

fn rfc3339(t: NaiveDateTime) -> String {
    storage::from_db_time(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn view(u: users::UserRow, locked_until: Option<DateTime<Utc>>) -> UserView {
    UserView {
        id: u.id,
        username: u.username,
        role: u.role.to_string(),
        hall: u.hall_code,
        active: u.active,
        locked: locked_until.is_some(),
        locked_until: locked_until.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        totp_enabled: u.totp_enabled,
        must_change_password: u.must_change_password,
        last_login_at: u.last_login_at.map(rfc3339),
    }
}

/// Every account, with until when its login is throttled for some address.
pub fn list_users(
    conn: &mut DbConnection,
    throttle: LoginThrottle,
    now: DateTime<Utc>,
) -> Result<Vec<UserView>, AccountError> {
    let window = Duration::minutes(throttle.window_minutes);
    let blocked = login_throttle::blocked_windows(conn, throttle.pair_limit, now - window)?;
    let rows = users::list_users(conn)?;
    Ok(rows
        .into_iter()
        .map(|u| {
            let until = blocked
                .iter()
                .filter(|(name, _)| *name == u.username)
                .map(|(_, start)| storage::from_db_time(*start) + window)
                .max();
            view(u, until)
        })
        .collect())
}

fn get_user(conn: &mut DbConnection, username: &str) -> Result<users::UserRow, AccountError> {
    users::find_user_by_name(conn, username)?
        .ok_or_else(|| AccountError::UnknownUser(username.to_string()))
}

/// A change an administrator asks for; absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub active: Option<bool>,
    pub role: Option<String>,
    pub hall: Option<String>,
}

/// Change an account. Disabling it ends its sessions at once; the last active administrator
/// cannot be disabled or demoted (nobody could sign in to undo it).
pub fn update_user(
    conn: &mut DbConnection,
    username: &str,
    patch: &UserPatch,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<UserView, AccountError> {
    let role = match &patch.role {
        Some(r) => Some(Role::parse(r).ok_or_else(|| AccountError::Invalid {
            field: "role",
            message: "must be admin, issuer or hall_operator".into(),
        })?),
        None => None,
    };
    if patch.active.is_none() && role.is_none() && patch.hall.is_none() {
        return Err(AccountError::Invalid {
            field: "active",
            message: "give at least one of active, role or hall".into(),
        });
    }
    storage::write_tx(conn, |conn| {
        let user = get_user(conn, username)?;
        if let Some(hall) = &patch.hall {
            if halls::find_hall(conn, hall)?.is_none() {
                return Err(AccountError::UnknownHall(hall.clone()));
            }
        }
        let stays_admin =
            patch.active.unwrap_or(user.active) && role.unwrap_or(user.role) == Role::Admin;
        if user.role == Role::Admin
            && user.active
            && !stays_admin
            && users::count_other_active_admins(conn, user.id)? == 0
        {
            return Err(AccountError::Refused(format!(
                "{username} is the last active administrator; make another one first"
            )));
        }
        users::update_user(
            conn,
            user.id,
            &users::UserChanges {
                active: patch.active,
                role,
                hall_code: patch.hall.as_deref(),
                ..Default::default()
            },
        )?;
        let ended = if patch.active == Some(false) {
            users::delete_user_sessions(conn, user.id, None)?
        } else {
            0
        };
        audit::insert_event(
            conn,
            now,
            &actor.name,
            "UserChanged",
            &format!("user:{username}"),
            serde_json::json!({
                "ip": actor.ip,
                "active": patch.active,
                "role": role.map(Role::as_str),
                "hall": patch.hall,
                "sessions_ended": ended,
            }),
        )?;
        Ok(view(get_user(conn, username)?, None))
    })
}

/// A temporary password: 16 characters that are easy to read out (no 0/O, 1/l/I).
pub fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Set a password an administrator (or the operator) chose or generated: the user must
/// replace it at the next sign-in. Sessions end; login throttling of the account is cleared.
pub fn reset_password(
    conn: &mut DbConnection,
    username: &str,
    new_hash: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    storage::write_tx(conn, |conn| {
        let user = get_user(conn, username)?;
        users::update_user(
            conn,
            user.id,
            &users::UserChanges {
                password_hash: Some(new_hash),
                must_change_password: Some(true),
                ..Default::default()
            },
        )?;
        users::delete_user_sessions(conn, user.id, None)?;
        login_throttle::delete_for_username(conn, username)?;
        audit::insert_event(
            conn,
            now,
            &actor.name,
            "PasswordReset",
            &format!("user:{username}"),
            serde_json::json!({"ip": actor.ip}),
        )?;
        Ok(())
    })
}

/// Clear the account's login throttling (every address).
pub fn unlock(
    conn: &mut DbConnection,
    username: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<usize, AccountError> {
    storage::write_tx(conn, |conn| {
        get_user(conn, username)?;
        let cleared = login_throttle::delete_for_username(conn, username)?;
        audit::insert_event(
            conn,
            now,
            &actor.name,
            "UserUnlocked",
            &format!("user:{username}"),
            serde_json::json!({"ip": actor.ip, "counters_cleared": cleared}),
        )?;
        Ok(cleared)
    })
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub client_ip: String,
}

pub fn list_sessions(
    conn: &mut DbConnection,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Vec<SessionView>, AccountError> {
    let user = get_user(conn, username)?;
    Ok(users::list_sessions(conn, user.id, now)?
        .into_iter()
        .map(|s| SessionView {
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
            client_ip: s.client_ip,
        })
        .collect())
}

pub fn end_sessions(
    conn: &mut DbConnection,
    username: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<usize, AccountError> {
    storage::write_tx(conn, |conn| {
        let user = get_user(conn, username)?;
        let ended = users::delete_user_sessions(conn, user.id, None)?;
        audit::insert_event(
            conn,
            now,
            &actor.name,
            "SessionsEnded",
            &format!("user:{username}"),
            serde_json::json!({"ip": actor.ip, "sessions_ended": ended}),
        )?;
        Ok(ended)
    })
}

/// Remove another user's second factor (a lost phone): they enrol again at next sign-in.
pub fn reset_totp(
    conn: &mut DbConnection,
    username: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    storage::write_tx(conn, |conn| {
        let user = get_user(conn, username)?;
        users::update_user(
            conn,
            user.id,
            &users::UserChanges {
                totp_secret: Some(None),
                totp_enabled: Some(false),
                totp_last_step: Some(None),
                ..Default::default()
            },
        )?;
        users::replace_recovery_codes(conn, user.id, &[], now)?;
        audit::insert_event(
            conn,
            now,
            &actor.name,
            "TotpReset",
            &format!("user:{username}"),
            serde_json::json!({"ip": actor.ip}),
        )?;
        Ok(())
    })
}

/// The stored password hash of a signed-in user, for checking `current_password`.
pub fn password_hash_of(conn: &mut DbConnection, user_id: i64) -> Result<String, AccountError> {
    Ok(users::get_user(conn, user_id)?.password_hash)
}

/// Refuse a new password that is not one (length) or is the old one.
pub fn check_new_password(current: &str, new: &str) -> Result<(), AccountError> {
    validate_password(new).map_err(|_| AccountError::Invalid {
        field: "new_password",
        message: "must be 8-256 characters".into(),
    })?;
    if current == new {
        return Err(AccountError::Invalid {
            field: "new_password",
            message: "must differ from the current password".into(),
        });
    }
    Ok(())
}

/// The user's own change (current password already checked): other sessions end, this one
/// goes on, and the account is no longer held to a change.
pub fn change_own_password(
    conn: &mut DbConnection,
    user_id: i64,
    username: &str,
    new_hash: &str,
    keep_session: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    storage::write_tx(conn, |conn| {
        users::update_user(
            conn,
            user_id,
            &users::UserChanges {
                password_hash: Some(new_hash),
                must_change_password: Some(false),
                ..Default::default()
            },
        )?;
        users::delete_user_sessions(conn, user_id, Some(&super::token_hash(keep_session)))?;
        audit::insert_event(
            conn,
            now,
            username,
            "PasswordChanged",
            &format!("user:{username}"),
            serde_json::json!({"ip": ip}),
        )?;
        Ok(())
    })
}

/// CLI `admin set-active`: the same change as `PATCH /api/v1/users/{username}`.
pub fn set_active(
    conn: &mut DbConnection,
    username: &str,
    active: bool,
    now: DateTime<Utc>,
) -> Result<UserView, AccountError> {
    update_user(
        conn,
        username,
        &UserPatch {
            active: Some(active),
            ..Default::default()
        },
        &Actor::cli(),
        now,
    )
}
