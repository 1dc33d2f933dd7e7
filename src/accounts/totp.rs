//! The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew either
//! way) through `totp-rs`, plus ten single-use recovery codes stored as SHA-256 hashes (80
//! random bits each, so a copied table does not give them away). Each time step is accepted
//! once per account (`users.totp_last_step`): a code seen over a shoulder cannot be replayed.

use super::{AccountError, Staff};
use crate::storage::{self, audit, users, DbConnection};
use chrono::{DateTime, Utc};
use rand::RngCore;
use std::net::IpAddr;
use totp_rs::{Algorithm, TOTP};

pub const STEP_S: u64 = 30;
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "crosscert";

fn totp_for(secret: &[u8], account: &str) -> Result<TOTP, AccountError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_S,
        secret.to_vec(),
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    .map_err(|e| AccountError::Hashing(format!("TOTP: {e}")))
}

fn decode_secret(secret_b32: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .ok()
}

/// Six ASCII digits: a TOTP code (anything else is tried as a recovery code).
pub fn looks_like_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The time step within one step of `now` whose code is `code`, if any.
pub fn matching_step(secret_b32: &str, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let secret = decode_secret(secret_b32)?;
    let totp = totp_for(&secret, "check").ok()?;
    let current = now.timestamp().max(0) as u64 / STEP_S;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP_S);
            super::constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
        .map(|step| step as i64)
}

/// The code of `now`'s time step (tests and the enrolment page's self-check use it).
pub fn current_code(secret_b32: &str, now: DateTime<Utc>) -> Option<String> {
    let secret = decode_secret(secret_b32)?;
    let totp = totp_for(&secret, "check").ok()?;
    Some(totp.generate(now.timestamp().max(0) as u64))
}

/// Recovery codes are compared without case, dashes or spaces.
pub fn recovery_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    super::token_hash(&normal)
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase();
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A started enrolment: the secret and the URI an authenticator app scans.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Start (or restart) enrolment: a new secret, not in force until confirmed with a code.
pub fn start_enrolment(
    conn: &mut DbConnection,
    staff: &Staff,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Enrolment, AccountError> {
    let mut secret = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret_b32 = data_encoding::BASE32_NOPAD.encode(&secret);
    let otpauth_uri = totp_for(&secret, &staff.username)?.get_url();
    storage::write_tx(conn, |conn| {
        let user = users::get_user_by_name(conn, &staff.username)?;
        if user.totp_enabled {
            return Err(AccountError::Refused(
                "a second factor is enrolled already; an administrator can reset it".into(),
            ));
        }
        users::update_user(
            conn,
            user.id,
            &users::UserChanges {
                totp_secret: Some(Some(&secret_b32)),
                totp_last_step: Some(None),
                ..Default::default()
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "TotpEnrolmentStarted",
            &format!("user:{}", staff.username),
            serde_json::json!({"ip": ip.to_string()}),
        )?;
        Ok(())
    })?;
    Ok(Enrolment {
        secret: secret_b32,
        otpauth_uri,
    })
}

/// Where the account stands: enrolled (with unused recovery codes left), an enrolment
/// started and not confirmed (its secret, to show again), or nothing.
#[derive(Debug, Clone)]
pub enum Status {
    Enabled { recovery_codes_left: i64 },
    Pending(Enrolment),
    None,
}

pub fn status(conn: &mut DbConnection, staff: &Staff) -> Result<Status, AccountError> {
    let user = users::get_user(conn, staff.user_id)?;
    Ok(match (user.totp_enabled, user.totp_secret) {
        (true, _) => Status::Enabled {
            recovery_codes_left: users::count_unused_recovery_codes(conn, user.id)?,
        },
        (false, Some(secret)) => {
            let bytes = decode_secret(&secret)
                .ok_or_else(|| AccountError::Hashing("stored TOTP secret is not Base32".into()))?;
            Status::Pending(Enrolment {
                otpauth_uri: totp_for(&bytes, &staff.username)?.get_url(),
                secret,
            })
        }
        (false, None) => Status::None,
    })
}

/// Confirm enrolment with a current code: the factor is in force from now on, and the ten
/// recovery codes are returned (this once; stored hashed).
pub fn confirm_enrolment(
    conn: &mut DbConnection,
    staff: &Staff,
    code: &str,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AccountError> {
    let code = code.trim();
    if !looks_like_code(code) {
        return Err(AccountError::Invalid {
            field: "code",
            message: "must be the 6 digits the authenticator app shows".into(),
        });
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    storage::write_tx(conn, |conn| {
        let user = users::get_user_by_name(conn, &staff.username)?;
        let secret = match (&user.totp_secret, user.totp_enabled) {
            (Some(s), false) => s.clone(),
            _ => return Err(AccountError::NoTotpPending),
        };
        let step = matching_step(&secret, code, now).ok_or_else(|| AccountError::Invalid {
            field: "code",
            message: "is not the current code of this enrolment (check the phone's clock)".into(),
        })?;
        if !users::claim_totp_step(conn, user.id, step)? {
            return Err(AccountError::Invalid {
                field: "code",
                message: "was used already; wait for the next one".into(),
            });
        }
        users::update_user(
            conn,
            user.id,
            &users::UserChanges {
                totp_enabled: Some(true),
                ..Default::default()
            },
        )?;
        users::replace_recovery_codes(conn, user.id, &hashes, now)?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "TotpEnabled",
            &format!("user:{}", staff.username),
            serde_json::json!({"ip": ip.to_string()}),
        )?;
        Ok(())
    })?;
    Ok(codes)
}

/// The otpauth URI as a QR code drawn in SVG (no image crate, no script).
pub fn qr_svg(uri: &str) -> Result<String, AccountError> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M)
        .map_err(|e| AccountError::Hashing(format!("QR: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build()
        // Inline in a page: no XML declaration.
        .split_once("<svg")
        .map(|(_, rest)| format!("<svg{rest}"))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: the 20-byte ASCII key "12345678901234567890", T = 59 s
        // gives 94287082 (8 digits); its last 6 digits are the 6-digit code.
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        let at = DateTime::from_timestamp(59, 0).unwrap();
        assert_eq!(current_code(&secret, at).unwrap(), "287082");
        assert_eq!(matching_step(&secret, "287082", at), Some(1));
        assert_eq!(matching_step(&secret, "287083", at), None);
    }

    #[test]
    fn recovery_codes_compare_without_dashes_or_case() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19);
        assert_eq!(
            recovery_code_hash(&c),
            recovery_code_hash(&c.replace('-', "").to_uppercase())
        );
        assert!(!looks_like_code(&c));
    }
}
