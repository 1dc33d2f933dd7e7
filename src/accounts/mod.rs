//! Staff accounts, sessions and hall agent tokens: argon2id password hashes, random bearer
//! tokens stored only as SHA-256 hashes. Signing in and its throttling: `login.rs`; what an
//! administrator (or the operator's CLI) does to an account: `lifecycle.rs`; the second
//! factor: `totp.rs`.

pub mod lifecycle;
pub mod login;
pub mod totp;

pub use login::{
    authenticate, login, Authenticated, Credentials, HashGate, LoginContext, LoginOutcome,
};

use crate::config::PasswordHashCost;
use crate::domain::role::Role;
use crate::storage::{self, audit, halls, users, DbConnection, StorageError};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use chrono::{DateTime, Utc};
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
    /// Too many failed attempts from this client for this username (or from this client, or
    /// for this account within seconds): no password was checked.
    #[error("too many failed logins; try again in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    /// Every hashing slot is busy: try again shortly.
    #[error("too many logins at once")]
    Busy { retry_after_s: u64 },
    #[error("the password is right; the second-factor code is missing")]
    TotpRequired,
    #[error("the second-factor code is wrong or was used already")]
    TotpInvalid,
    #[error("the password must be changed first")]
    PasswordChangeRequired,
    #[error("this account must enrol a second factor first")]
    TotpEnrolmentRequired,
    #[error("current_password: does not match")]
    WrongCurrentPassword,
    #[error("no enrolment is pending; start one with POST /api/v1/me/totp")]
    NoTotpPending,
    #[error("{0}")]
    Refused(String),
    #[error("no user named {0}")]
    UnknownUser(String),
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
    /// A blocking task that panicked or was cancelled.
    #[error("{0}")]
    Blocking(String),
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

/// Equal bytes, compared in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
pub(crate) fn dummy_hash(cost: PasswordHashCost) -> String {
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
    create_user_hashed(conn, account, &hash, actor, now)
}

/// Create a staff account whose password was hashed already (off the connection).
pub fn create_user_hashed(
    conn: &mut DbConnection,
    account: &NewAccount<'_>,
    hash: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<i64, AccountError> {
    validate_username(account.username)?;
    validate_password(account.password)?;
    storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, account.hall_code)?.is_none() {
            return Err(AccountError::UnknownHall(account.hall_code.to_string()));
        }
        let id = users::insert_user(
            conn,
            users::NewUser {
                username: account.username,
                password_hash: hash,
                role: account.role,
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
    kind: crate::domain::job::AgentKind,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(i64, String), AccountError> {
    let token = new_token();
    let id = storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, hall_code)?.is_none() {
            return Err(AccountError::UnknownHall(hall_code.to_string()));
        }
        let id = storage::agent_tokens::insert_agent_token(
            conn,
            hall_code,
            kind,
            &token_hash(&token),
            now,
        )?;
        audit::insert_event(
            conn,
            now,
            actor,
            "AgentTokenIssued",
            &format!("hall:{hall_code}"),
            serde_json::json!({"token_id": id, "kind": kind.as_str()}),
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
            // Other server processes drop their cached tokens on commit.
            storage::agent_tokens::notify_auth_in_tx(conn)?;
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
