//! Signing in, in three steps so that argon2 never runs while a database connection is held:
//! (1) count the attempt against its throttles and read the account, (2) check the password
//! under the hashing gate (at most one hash per core), (3) record the outcome and open the
//! session. An unknown username costs the same hash and the same writes as a wrong password.
//!
//! Throttles (see `config::LoginThrottle`): each attempt is counted *before* its password is
//! checked, in one atomic upsert per key, and given back when it succeeds; 40 guesses sent at
//! once for one (username, address) pair therefore get at most `pair_limit` password checks.
//! The account itself is never locked: its owner at another address gets in.

use super::{token_hash, totp, verify_password, AccountError, Staff};
use crate::config::{LoginThrottle, Settings};
use crate::storage::{self, audit, login_throttle, users, DbConnection, DbPool, StorageError};
use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;
use std::sync::Arc;

/// What a client sends to sign in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A current TOTP code or an unused recovery code.
    pub totp: Option<String>,
}

#[derive(Debug)]
pub struct LoginOutcome {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub staff: Staff,
    pub must_change_password: bool,
    pub totp_enrolment_required: bool,
}

/// Bounds the password hashes computed at once, so a login flood takes the cores it is
/// given and no more (verification and agents keep theirs).
#[derive(Debug)]
pub struct HashGate {
    permits: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl HashGate {
    pub fn new(concurrency: usize, wait_ms: u64) -> HashGate {
        HashGate {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            wait: std::time::Duration::from_millis(wait_ms),
        }
    }

    /// Run a hashing closure on the blocking pool once a slot is free; 503 after the wait.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AccountError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| AccountError::Busy { retry_after_s: 1 })?
            .map_err(|_| AccountError::Busy { retry_after_s: 1 })?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))?;
        Ok(out)
    }
}

/// The throttle keys of one attempt. Long usernames are hashed so a key stays short.
struct Keys {
    username: String,
    pair: String,
    ip: String,
    account: String,
}

impl Keys {
    fn new(username: &str, ip: IpAddr) -> Keys {
        let username = if username.len() <= 64 {
            username.to_string()
        } else {
            format!("#{}", &token_hash(username)[..32])
        };
        Keys {
            pair: format!("pair {ip} {username}"),
            ip: format!("ip {ip}"),
            account: format!("account {username}"),
            username,
        }
    }
}

fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (t - now).num_seconds().max(1) as u64
}

/// Step 1: count the attempt (or refuse it, counting nothing) and read the account.
fn begin_attempt(
    conn: &mut DbConnection,
    keys: &Keys,
    username: &str,
    throttle: LoginThrottle,
    now: DateTime<Utc>,
) -> Result<Option<users::UserRow>, AccountError> {
    let window = Duration::minutes(throttle.window_minutes);
    let cutoff = now - window;
    storage::write_tx(conn, |conn| {
        let pair =
            login_throttle::count_attempt(conn, &keys.pair, Some(&keys.username), now, cutoff)?;
        if pair.failures > throttle.pair_limit {
            let until = storage::from_db_time(pair.window_start) + window;
            return Err(AccountError::Throttled {
                retry_after_s: seconds_until(until, now),
            });
        }
        let ip = login_throttle::count_attempt(conn, &keys.ip, None, now, cutoff)?;
        if ip.failures > throttle.ip_limit {
            let until = storage::from_db_time(ip.window_start) + window;
            return Err(AccountError::Throttled {
                retry_after_s: seconds_until(until, now),
            });
        }
        let account =
            login_throttle::count_attempt(conn, &keys.account, Some(&keys.username), now, cutoff)?;
        if account.failures > throttle.account_brake_after {
            let brake = Duration::seconds(throttle.account_brake_seconds);
            if let Some(prev) = account.prev_at.map(storage::from_db_time) {
                if prev + brake > now {
                    return Err(AccountError::Throttled {
                        retry_after_s: seconds_until(prev + brake, now),
                    });
                }
            }
        }
        Ok(())
    })?;
    Ok(users::find_user_by_name(conn, username)?)
}

/// How the second factor was shown, for the audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondFactor {
    None,
    Totp,
    RecoveryCode,
}

/// Step 3 after a right password: the second factor, then the session.
#[allow(clippy::too_many_arguments)]
fn finish_attempt(
    conn: &mut DbConnection,
    keys: &Keys,
    user: &users::UserRow,
    code: Option<&str>,
    settings: &Settings,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<LoginOutcome, AccountError> {
    let subject = format!("user:{}", user.username);
    let outcome = storage::write_tx(
        conn,
        |conn| -> Result<Result<LoginOutcome, AccountError>, AccountError> {
            let factor = if user.totp_enabled {
                let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
                    // Not a failure: give the attempt back (but do not reset the counter, or
                    // a known password would buy unlimited code guesses).
                    for key in [&keys.pair, &keys.ip, &keys.account] {
                        login_throttle::release_attempt(conn, key)?;
                    }
                    return Ok(Err(AccountError::TotpRequired));
                };
                match check_second_factor(conn, user, code, now)? {
                    Some(f) => f,
                    None => {
                        audit::insert_event(
                            conn,
                            now,
                            &user.username,
                            "LoginFailed",
                            &subject,
                            serde_json::json!({"ip": ip.to_string(), "reason": "second_factor"}),
                        )?;
                        return Ok(Err(AccountError::TotpInvalid));
                    }
                }
            } else {
                SecondFactor::None
            };
            let role = user.role;
            login_throttle::delete_key(conn, &keys.pair)?;
            login_throttle::release_attempt(conn, &keys.ip)?;
            login_throttle::release_attempt(conn, &keys.account)?;
            login_throttle::delete_stale(
                conn,
                now - Duration::minutes(settings.login.window_minutes),
            )?;
            let token = super::new_token();
            let expires_at = now + Duration::minutes(settings.session_ttl_minutes);
            users::insert_session(
                conn,
                &token_hash(&token),
                user.id,
                now,
                expires_at,
                &ip.to_string(),
            )?;
            users::delete_expired_sessions(conn, now)?;
            users::update_user(
                conn,
                user.id,
                &users::UserChanges {
                    last_login_at: Some(storage::to_db_time(now)),
                    ..Default::default()
                },
            )?;
            audit::insert_event(
                conn,
                now,
                &user.username,
                "LoggedIn",
                &subject,
                serde_json::json!({
                    "ip": ip.to_string(),
                    "second_factor": match factor {
                        SecondFactor::None => "none",
                        SecondFactor::Totp => "totp",
                        SecondFactor::RecoveryCode => "recovery_code",
                    },
                }),
            )?;
            Ok(Ok(LoginOutcome {
                token,
                expires_at,
                must_change_password: user.must_change_password,
                totp_enrolment_required: !user.totp_enabled
                    && settings.totp_required_roles().contains(&role),
                staff: Staff {
                    user_id: user.id,
                    username: user.username.clone(),
                    role,
                    hall_code: user.hall_code.clone(),
                },
            }))
        },
    )?;
    outcome
}

/// A current code (each time step once) or an unused recovery code; `None`: refused.
fn check_second_factor(
    conn: &mut DbConnection,
    user: &users::UserRow,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<SecondFactor>, AccountError> {
    let Some(secret) = user.totp_secret.as_deref() else {
        return Ok(None);
    };
    if totp::looks_like_code(code) {
        return Ok(match totp::matching_step(secret, code, now) {
            Some(step) if users::claim_totp_step(conn, user.id, step)? => Some(SecondFactor::Totp),
            _ => None,
        });
    }
    let hash = totp::recovery_code_hash(code);
    Ok(users::use_recovery_code(conn, user.id, &hash, now)?.then_some(SecondFactor::RecoveryCode))
}

/// What signing in needs besides the credentials (start-up builds it from its state).
#[derive(Clone)]
pub struct LoginContext {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub hash_gate: Arc<HashGate>,
    pub now: DateTime<Utc>,
}

/// Runs blocking database work on the blocking pool, never on an async worker.
async fn on_db<T: Send + 'static>(
    pool: &DbPool,
    f: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> Result<T, AccountError> {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || -> Result<T, AccountError> {
        let mut conn = pool.get().map_err(StorageError::from)?;
        Ok(f(&mut conn))
    })
    .await
    .map_err(|e| AccountError::Blocking(format!("blocking task failed: {e}")))?
}

/// Sign in from `ip`. Every failure answers as late as a success would have.
pub async fn login(
    ctx: &LoginContext,
    credentials: Credentials,
    ip: IpAddr,
) -> Result<LoginOutcome, AccountError> {
    let Credentials {
        username,
        password,
        totp: code,
    } = credentials;
    let settings = ctx.settings.clone();
    let now = ctx.now;
    let keys = Arc::new(Keys::new(&username, ip));

    let (k, u, throttle) = (keys.clone(), username.clone(), settings.login);
    // The inner result keeps the account's own errors (throttled, ...) for the login page.
    let user = on_db(&ctx.pool, move |conn| {
        begin_attempt(conn, &k, &u, throttle, now)
    })
    .await??;

    // Disabled accounts answer like unknown ones.
    let user = user.filter(|u| u.active);
    let cost = settings.password_hash;
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let right = ctx
        .hash_gate
        .run(move || {
            let phc = phc.unwrap_or_else(|| super::dummy_hash(cost));
            verify_password(&password, &phc)
        })
        .await?;

    match (user, right) {
        (Some(user), true) => {
            let s = settings.clone();
            on_db(&ctx.pool, move |conn| {
                finish_attempt(conn, &keys, &user, code.as_deref(), &s, ip, now)
            })
            .await?
        }
        _ => {
            let subject = format!("user:{}", keys.username);
            let recorded = on_db(&ctx.pool, move |conn| {
                storage::write_tx(conn, |conn| {
                    audit::insert_event(
                        conn,
                        now,
                        &keys.username,
                        "LoginFailed",
                        &subject,
                        serde_json::json!({"ip": ip.to_string(), "reason": "credentials"}),
                    )
                })
            })
            .await?;
            recorded?;
            Err(AccountError::BadCredentials)
        }
    }
}

/// A live session and what its account still has to do before it may work.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub staff: Staff,
    pub must_change_password: bool,
    pub totp_enrolment_required: bool,
}

/// Sessions record their last use at most this often (a write per request would be waste).
const TOUCH_EVERY_S: i64 = 60;

/// The staff member behind a session token, if the session is live and not idle too long.
pub fn authenticate(
    conn: &mut DbConnection,
    token: &str,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<Authenticated>, AccountError> {
    let hash = token_hash(token);
    let idle_since = now - Duration::minutes(settings.session_idle_minutes);
    let Some((user, session)) = users::find_session_user(conn, &hash, now, idle_since)? else {
        return Ok(None);
    };
    if storage::from_db_time(session.last_seen_at) + Duration::seconds(TOUCH_EVERY_S) <= now {
        storage::write_tx(conn, |conn| users::touch_session(conn, &hash, now))?;
    }
    let role = user.role;
    Ok(Some(Authenticated {
        must_change_password: user.must_change_password,
        totp_enrolment_required: !user.totp_enabled
            && settings.totp_required_roles().contains(&role),
        staff: Staff {
            user_id: user.id,
            username: user.username,
            role,
            hall_code: user.hall_code,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hash_gate_answers_busy_when_every_slot_stays_taken() {
        let gate = Arc::new(HashGate::new(1, 50));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let holder = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    let _ = wait.recv();
                })
                .await
            })
        };
        // Let the holder take the only slot.
        while gate.permits.available_permits() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        match gate.run(|| ()).await {
            Err(AccountError::Busy { retry_after_s }) => assert!(retry_after_s >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // The slot is free again.
        gate.run(|| ()).await.unwrap();
    }

    #[test]
    fn long_usernames_make_short_keys() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let k = Keys::new(&"x".repeat(5000), ip);
        assert!(k.pair.len() < 100, "{}", k.pair);
        let short = Keys::new("wang", ip);
        assert_eq!(short.pair, "pair 198.51.100.7 wang");
        assert_eq!(short.account, "account wang");
    }
}
