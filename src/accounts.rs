//! Staff accounts, sessions and hall agent tokens: argon2id password hashes, random bearer
//! tokens stored only as SHA-256 hashes, and per-account login throttling.

use crate::config::{LoginThrottle, PasswordHashCost};
use crate::domain::role::Role;
use crate::storage::{self, audit, halls, users, DbConnection, StorageError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

/// An authenticated staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub hall_code: String,
}

impl Staff {
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed logins; try again after {until}")]
    Locked {
        until: DateTime<Utc>,
        retry_after_s: u64,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the hall {0} does not exist")]
    UnknownHall(String),
    #[error("the username {0} is taken")]
    UsernameTaken(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Storage(e.into())
    }
}

/// A new random token: 32 bytes, URL-safe base64 without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens are stored as the hex SHA-256 of the token: a stolen table grants nothing.
pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

fn argon2(cost: PasswordHashCost) -> Result<Argon2<'static>, AccountError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn hash_password(password: &str, cost: PasswordHashCost) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2(cost)?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AccountError::Hashing(e.to_string()))?
        .to_string())
}

/// Verification reads its parameters from the stored PHC string, whatever today's cost is.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash to verify against when the username is unknown, so that answer takes as
/// long as a wrong password (no username probing by timing).
fn dummy_hash(cost: PasswordHashCost) -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("crosscert-dummy-password", cost).unwrap_or_default())
        .clone()
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: Role,
    pub hall_code: &'a str,
}

pub fn validate_username(username: &str) -> Result<(), AccountError> {
    let ok = (3..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Invalid {
            field: "username",
            message: "must be 3-64 characters of letters, digits, '_', '-' or '.'".into(),
        })
    }
}

pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if !(8..=256).contains(&n) {
        return Err(AccountError::Invalid {
            field: "password",
            message: "must be 8-256 characters".into(),
        });
    }
    Ok(())
}

/// Create a staff account (audited). Blocking.
pub fn create_user(
    conn: &mut DbConnection,
    account: &NewAccount<'_>,
    cost: PasswordHashCost,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<i64, AccountError> {
    validate_username(account.username)?;
    validate_password(account.password)?;
    let hash = hash_password(account.password, cost)?;
    storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, account.hall_code)?.is_none() {
            return Err(AccountError::UnknownHall(account.hall_code.to_string()));
        }
        let id = users::insert_user(
            conn,
            users::NewUser {
                username: account.username,
                password_hash: &hash,
                role: account.role.as_str(),
                hall_code: account.hall_code,
                active: true,
                failed_logins: 0,
                created_at: storage::to_db_time(now),
            },
        )
        .map_err(|e| match e {
            StorageError::Conflict(_) => AccountError::UsernameTaken(account.username.to_string()),
            other => AccountError::Storage(other),
        })?;
        audit::insert_event(
            conn,
            now,
            actor,
            "UserCreated",
            &format!("user:{}", account.username),
            serde_json::json!({"role": account.role.as_str(), "hall": account.hall_code}),
        )?;
        Ok(id)
    })
}

pub struct LoginOutcome {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub staff: Staff,
}

/// What a failed login should cost the caller before the answer goes out.
pub struct LoginFailure {
    pub error: AccountError,
    pub delay_ms: u64,
}

/// Check a password and open a session. Blocking (argon2 + database).
pub fn login(
    conn: &mut DbConnection,
    username: &str,
    password: &str,
    throttle: LoginThrottle,
    cost: PasswordHashCost,
    session_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<LoginOutcome, LoginFailure> {
    let fail = |error: AccountError| LoginFailure { error, delay_ms: 0 };
    let user = users::find_user_by_name(conn, username).map_err(|e| fail(e.into()))?;
    let Some(user) = user.filter(|u| u.active) else {
        verify_password(password, &dummy_hash(cost));
        return Err(fail(AccountError::BadCredentials));
    };
    if let Some(until) = user.locked_until.map(storage::from_db_time) {
        if until > now {
            let retry = (until - now).num_seconds().max(1) as u64;
            return Err(fail(AccountError::Locked {
                until,
                retry_after_s: retry,
            }));
        }
    }
    if !verify_password(password, &user.password_hash) {
        let failures = user.failed_logins + 1;
        let locked_until = (failures >= throttle.lock_after)
            .then(|| now + Duration::minutes(throttle.lock_minutes));
        let recorded = storage::write_tx(conn, |conn| {
            users::update_login_state(conn, user.id, failures, locked_until)?;
            audit::insert_event(
                conn,
                now,
                username,
                if locked_until.is_some() {
                    "LoginLocked"
                } else {
                    "LoginFailed"
                },
                &format!("user:{username}"),
                serde_json::json!({"failures": failures}),
            )
        });
        if let Err(e) = recorded {
            return Err(fail(e.into()));
        }
        let delay_ms = if failures >= throttle.slow_after {
            throttle.delay_ms
        } else {
            0
        };
        let error = match locked_until {
            Some(until) => AccountError::Locked {
                until,
                retry_after_s: (throttle.lock_minutes * 60) as u64,
            },
            None => AccountError::BadCredentials,
        };
        return Err(LoginFailure { error, delay_ms });
    }
    let role = Role::parse(&user.role).ok_or_else(|| {
        fail(AccountError::Storage(StorageError::Migration(format!(
            "unknown role {}",
            user.role
        ))))
    })?;
    let token = new_token();
    let expires_at = now + session_ttl;
    let opened = storage::write_tx(conn, |conn| {
        users::update_login_state(conn, user.id, 0, None)?;
        users::insert_session(conn, &token_hash(&token), user.id, now, expires_at)?;
        users::delete_expired_sessions(conn, now)?;
        audit::insert_event(
            conn,
            now,
            username,
            "LoggedIn",
            &format!("user:{username}"),
            serde_json::json!({}),
        )
    });
    opened.map_err(|e| fail(e.into()))?;
    Ok(LoginOutcome {
        token,
        expires_at,
        staff: Staff {
            user_id: user.id,
            username: user.username,
            role,
            hall_code: user.hall_code,
        },
    })
}

/// The staff member behind a bearer token, if the session is live.
pub fn authenticate(
    conn: &mut DbConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Staff>, AccountError> {
    let found = users::find_session_user(conn, &token_hash(token), now)?;
    Ok(found.and_then(|(u, _)| {
        Role::parse(&u.role).map(|role| Staff {
            user_id: u.id,
            username: u.username,
            role,
            hall_code: u.hall_code,
        })
    }))
}

pub fn logout(
    conn: &mut DbConnection,
    token: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    storage::write_tx(conn, |conn| {
        users::delete_session(conn, &token_hash(token))?;
        audit::insert_event(
            conn,
            now,
            actor,
            "LoggedOut",
            &format!("user:{actor}"),
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

/// Issue a hall agent token: returns the token (shown once) and its id. Audited.
pub fn issue_agent_token(
    conn: &mut DbConnection,
    hall_code: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(i64, String), AccountError> {
    let token = new_token();
    let id = storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, hall_code)?.is_none() {
            return Err(AccountError::UnknownHall(hall_code.to_string()));
        }
        let id =
            storage::agent_tokens::insert_agent_token(conn, hall_code, &token_hash(&token), now)?;
        audit::insert_event(
            conn,
            now,
            actor,
            "AgentTokenIssued",
            &format!("hall:{hall_code}"),
            serde_json::json!({"token_id": id}),
        )?;
        Ok(id)
    })?;
    Ok((id, token))
}

pub fn revoke_agent_token(
    conn: &mut DbConnection,
    id: i64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, AccountError> {
    storage::write_tx(conn, |conn| {
        let row = storage::agent_tokens::get_agent_token(conn, id)?;
        let changed = storage::agent_tokens::revoke_agent_token(conn, id, now)?;
        if changed {
            audit::insert_event(
                conn,
                now,
                actor,
                "AgentTokenRevoked",
                &format!("hall:{}", row.hall_code),
                serde_json::json!({"token_id": id}),
            )?;
        }
        Ok(changed)
    })
}
