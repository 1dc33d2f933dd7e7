//! The "no-certificate city" services (docs/architecture.md, "Department checks, shares and
//! prefill"): department API clients and their checks (`clients.rs`, `access.rs`), holder
//! share codes (`shares.rs`) and forms filled from a holder's licences (`prefill.rs`).
//! HTTP-free: each returns `DeptError`, mapped to a status in `error.rs`.

pub mod access;
pub mod clients;
pub mod prefill;
pub mod shares;

use crate::catalog::HolderCode;
use crate::domain::codes::{CodeError, ResidentId, UnifiedCreditCode};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DeptError {
    /// 400: a parameter missing or malformed; the message starts with the field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 422: a holder code whose check characters are wrong.
    #[error("{field}: {message}")]
    BadHolderCode {
        field: &'static str,
        message: String,
    },
    /// 422: a type code the catalog does not know.
    #[error("{field}: no certificate type with code {code}")]
    UnknownType { field: &'static str, code: String },
    /// 422: a well-formed value a rule refuses (a licence that is not the holder's, not
    /// current or not valid).
    #[error("{field}: {message}")]
    Refused { field: String, message: String },
    /// 403: the client asked for types it was not granted.
    #[error("this client is not granted the types {0}")]
    NotGranted(String),
    /// 403: the staff member may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 404: the one answer for every wrong share lookup (unknown code, wrong holder,
    /// expired, revoked).
    #[error("no share matches this share code and holder code")]
    NoShare,
    /// 429: too many wrong share lookups.
    #[error("too many wrong share lookups; try again in {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for DeptError {
    fn from(e: diesel::result::Error) -> Self {
        DeptError::Storage(e.into())
    }
}

/// A holder code as the register stores it: a resident ID number (17 digits and a check
/// character, `x` read as `X`) or a unified social credit code, both with their checks.
pub fn parse_holder_code(field: &'static str, raw: &str) -> Result<HolderCode, DeptError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DeptError::Invalid {
            field,
            message: "is required (a unified social credit code or a resident ID number)".into(),
        });
    }
    let upper = s.to_ascii_uppercase();
    let looks_personal = upper.len() == 18 && upper.bytes().take(17).all(|b| b.is_ascii_digit());
    let bad = |e: CodeError| DeptError::BadHolderCode {
        field,
        message: e.to_string(),
    };
    if looks_personal {
        match ResidentId::parse(&upper) {
            Ok(id) => return Ok(HolderCode::Person(id)),
            // All digits may still be a credit code (e.g. a public institution's).
            Err(person) => {
                return UnifiedCreditCode::parse(&upper)
                    .map(HolderCode::Organisation)
                    .map_err(|_| bad(person))
            }
        }
    }
    UnifiedCreditCode::parse(&upper)
        .map(HolderCode::Organisation)
        .map_err(bad)
}

/// Free text of 4..=200 characters without control characters (a purpose).
pub fn purpose(field: &'static str, raw: Option<&str>) -> Result<String, DeptError> {
    let s = raw.map(str::trim).unwrap_or("");
    let n = s.chars().count();
    if n == 0 {
        return Err(DeptError::Invalid {
            field,
            message: "is required: say why the department looks (4-200 characters)".into(),
        });
    }
    if !(4..=200).contains(&n) {
        return Err(DeptError::Invalid {
            field,
            message: format!("must be 4-200 characters, got {n}"),
        });
    }
    if s.chars().any(char::is_control) {
        return Err(DeptError::Invalid {
            field,
            message: "must be one line without control characters".into(),
        });
    }
    Ok(s.to_string())
}

fn rfc3339(t: chrono::NaiveDateTime) -> String {
    crate::storage::from_db_time(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_codes_are_checked_and_named() {
        assert!(matches!(
            parse_holder_code("holder_code", "91371302MA3C8KQX75"),
            Ok(HolderCode::Organisation(_))
        ));
        assert!(matches!(
            parse_holder_code("holder_code", "91371302MA3C8KQX76"),
            Err(DeptError::BadHolderCode {
                field: "holder_code",
                ..
            })
        ));
        assert!(matches!(
            parse_holder_code("holder_code", ""),
            Err(DeptError::Invalid { .. })
        ));
        // 11010519491231002X: the standard's own example resident ID.
        assert!(matches!(
            parse_holder_code("holder_code", "11010519491231002x"),
            Ok(HolderCode::Person(_))
        ));
        assert!(matches!(
            parse_holder_code("holder_code", "110105194912310021"),
            Err(DeptError::BadHolderCode { .. })
        ));
    }

    #[test]
    fn a_purpose_has_4_to_200_characters() {
        assert!(purpose("purpose", None).is_err());
        assert!(purpose("purpose", Some("abc")).is_err());
        assert_eq!(
            purpose("purpose", Some(" 办理公积金 ")).unwrap(),
            "办理公积金"
        );
        assert!(purpose("purpose", Some(&"字".repeat(201))).is_err());
        assert!(purpose("purpose", Some("a\tbcd")).is_err());
    }
}
