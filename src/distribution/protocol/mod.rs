//! The hall agent protocol, server side (DESIGN §6, API.md "Hall agents"): claim with a
//! long-poll, the document, heartbeats, idempotent reports, voiding spoiled stock,
//! reconciliation, the lease sweep, and the hall operator's resolution of a job whose
//! outcome is unknown.
//!
//! Rules kept here:
//! - A claim hands each job to one agent only: `BEGIN IMMEDIATE` on SQLite, `FOR UPDATE SKIP
//!   LOCKED` on PostgreSQL (any number of server processes). Each claimed job gets a fresh
//!   random lease token; only its SHA-256 is stored.
//! - Every later call carries the token; a token that is not the job's current one is 409
//!   `stale_lease`. The document needs the lease unexpired (409 `lease_expired`); a report is
//!   still taken after the expiry as long as the sweeper has not moved the job (the paper
//!   exists; recording it beats a reconciliation).
//! - No automatic reprint: an expired lease goes to `needs_reconciliation`, never `queued`;
//!   a reprint after reconciliation needs the earlier sheets voided, or the operator's
//!   statement that no sheet was taken.
//! - Reports are idempotent by (job, seq): the first successful answer is stored and a retry
//!   with the same body gets it again, even after the lease is gone; the same seq with
//!   another body is 409 `report_seq_reused`. Refusals are not stored (nothing changed, so
//!   a corrected retry may reuse the seq).
//! - The licence is checked again at claim and document: a job whose licence left status 01
//!   is cancelled (audited) and never handed out.

//!
//! Submodules: `lease` (claim, document, heartbeat, voiding, the sweep), `report`,
//! `reconcile` (the agent's reconciliation and the operator's resolution). The long-poll wait
//! of a claim lives with its route (`routes::agent`), the periodic sweep with start-up: this
//! service knows neither the HTTP layer nor the server's state.

mod lease;
mod reconcile;
mod report;

pub use lease::{claim_once, document, heartbeat, sweep_expired_leases, void_sheets, LeasedJob};
pub use reconcile::{reconcile, resolve_job};
pub use report::{report, ReportAnswer};

use crate::accounts::token_hash;
use crate::distribution::jobs::JobError;
use crate::distribution::stock::StockError;
use crate::storage::StorageError;
use crate::wire::agent::Outcome;
use serde_json::{json, Value};

/// How long a lease lasts from the claim or the last heartbeat.
pub const LEASE_SECONDS: i64 = 120;
pub const MAX_CLAIM: i64 = 10;
pub const MAX_WAIT_S: u64 = 30;
/// A waiting claim looks again this often even without a wake-up (a lost notification, a
/// claimer that rolled back). As long as the longest wait: an agent claims again as soon as
/// its wait ends, and that claim looks at once, so a lost wake-up costs at most one wait
/// while 200 idle agents cost one query per wait each (about 7 per second), not two.
pub const POLL_FALLBACK: std::time::Duration = std::time::Duration::from_secs(MAX_WAIT_S);
/// How often the server looks for expired leases.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// The advisory lock that makes one process sweep at a time on PostgreSQL.
const SWEEP_LOCK_KEY: i64 = 0x5EE9_1EA5;
/// Jobs moved per sweep transaction (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 200;
/// Entries in one reconcile or void request.
const MAX_LIST: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the Lease-Token header is required: the lease token the claim returned")]
    MissingLeaseToken,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the lease token is not the current lease of job {0}: the job was reclaimed, reported, cancelled or its lease expired")]
    StaleLease(String),
    #[error("the lease of job {0} has expired; reconcile with the server")]
    LeaseExpired(String),
    #[error("{0}")]
    LicenceNotValid(String),
    #[error("report seq {seq} of job {job} was already used with another body")]
    SeqReused { job: String, seq: i64 },
    #[error("{0}")]
    VoidedSheetsRequired(String),
    #[error(transparent)]
    Stock(StockError),
    #[error(transparent)]
    Job(JobError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for ProtocolError {
    fn from(e: diesel::result::Error) -> Self {
        ProtocolError::Storage(e.into())
    }
}

impl From<StockError> for ProtocolError {
    fn from(e: StockError) -> Self {
        match e {
            StockError::Storage(s) => ProtocolError::Storage(s),
            other => ProtocolError::Stock(other),
        }
    }
}

impl From<JobError> for ProtocolError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Stock(s) => s.into(),
            JobError::Storage(s) => ProtocolError::Storage(s),
            JobError::NotFound(m) => ProtocolError::NotFound(m),
            JobError::Invalid { field, message } => ProtocolError::Invalid { field, message },
            other => ProtocolError::Job(other),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ProtocolError {
    ProtocolError::Invalid {
        field,
        message: message.into(),
    }
}

fn agent_actor(hall: &str) -> String {
    format!("agent:{hall}")
}

// ---- request parsing -------------------------------------------------------------------

fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, ProtocolError> {
    match body {
        Value::Object(m) => Ok(m),
        Value::Null => Err(invalid("body", "a JSON object is required")),
        _ => Err(invalid("body", "must be a JSON object")),
    }
}

fn opt_uint(
    body: &Value,
    field: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ProtocolError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    field,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

fn lease_token_of(body: &Value) -> Result<String, ProtocolError> {
    body.get("lease_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .map(str::to_string)
        .ok_or_else(|| invalid("lease_token", "is required: the token the claim returned"))
}

fn serials_of(body: &Value, field: &'static str) -> Result<Vec<String>, ProtocolError> {
    let items = match body.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(field, "must be a list of sheet serials")),
    };
    if items.len() > MAX_LIST {
        return Err(invalid(field, format!("at most {MAX_LIST} serials")));
    }
    let mut serials: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = item
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| invalid(field, "each serial must be a non-empty string"))?;
        if serials.iter().any(|x| x == s) {
            return Err(invalid(field, format!("{s} is listed twice")));
        }
        serials.push(s.to_string());
    }
    Ok(serials)
}

fn optional_reason(body: &Value) -> Result<Option<String>, ProtocolError> {
    match body.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r))
            if r.trim().chars().count() <= crate::wire::agent::MAX_REASON_CHARS =>
        {
            Ok(Some(r.trim().to_string()).filter(|r| !r.is_empty()))
        }
        Some(_) => Err(invalid(
            "reason",
            "must be a string of at most 500 characters",
        )),
    }
}

fn required_reason(body: &Value) -> Result<String, ProtocolError> {
    optional_reason(body)?.ok_or_else(|| invalid("reason", "is required (1-500 characters)"))
}

/// `{max, wait_s}`, both optional (1 and 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    pub max: i64,
    pub wait_s: u64,
}

impl ClaimLimits {
    pub fn parse(body: &Value) -> Result<ClaimLimits, ProtocolError> {
        let empty = json!({});
        let body = if body.is_null() { &empty } else { body };
        object(body)?;
        Ok(ClaimLimits {
            max: opt_uint(body, "max", 1..=MAX_CLAIM as u64)?.unwrap_or(1) as i64,
            wait_s: opt_uint(body, "wait_s", 0..=MAX_WAIT_S)?.unwrap_or(0),
        })
    }
}

/// A report, parsed. The lease token is kept as its hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReport {
    pub lease_token_hash: String,
    pub seq: i64,
    pub outcome: Outcome,
    pub sheets: Vec<String>,
    pub printed_nothing: bool,
    pub reason: Option<String>,
}

impl ParsedReport {
    pub fn parse(body: &Value) -> Result<ParsedReport, ProtocolError> {
        object(body)?;
        let lease_token_hash = token_hash(&lease_token_of(body)?);
        let seq = body
            .get("seq")
            .and_then(Value::as_i64)
            .filter(|s| *s >= 0)
            .ok_or_else(|| {
                invalid(
                    "seq",
                    "is required: the agent's report sequence number, a whole number from 0",
                )
            })?;
        let outcome = match body.get("outcome").and_then(Value::as_str) {
            Some("printed") => Outcome::Printed,
            Some("failed") => Outcome::Failed,
            _ => return Err(invalid("outcome", "must be \"printed\" or \"failed\"")),
        };
        let sheets = serials_of(body, "sheets")?;
        let printed_nothing = match body.get("printed_nothing") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("printed_nothing", "must be true or false")),
        };
        let reason = optional_reason(body)?;
        match outcome {
            Outcome::Printed if sheets.is_empty() => {
                return Err(invalid("sheets", "a printed report lists one serial per page"))
            }
            Outcome::Printed if printed_nothing => {
                return Err(invalid("printed_nothing", "cannot be true for a printed report"))
            }
            Outcome::Failed if printed_nothing && !sheets.is_empty() => {
                return Err(invalid(
                    "sheets",
                    "printed_nothing means no sheet was used: void spoiled sheets with /api/v1/agent/sheets/void",
                ))
            }
            _ => {}
        }
        Ok(ParsedReport {
            lease_token_hash,
            seq,
            outcome,
            sheets,
            printed_nothing,
            reason,
        })
    }

    /// What a retry must repeat exactly to get the stored answer.
    pub(super) fn fingerprint(&self) -> String {
        let canonical = json!([
            self.lease_token_hash,
            self.seq,
            matches!(self.outcome, Outcome::Printed),
            self.sheets,
            self.printed_nothing,
            self.reason,
        ]);
        crate::distribution::jobs::sha256_hex(canonical.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_bounds_name_the_field() {
        assert_eq!(
            ClaimLimits::parse(&Value::Null).unwrap(),
            ClaimLimits { max: 1, wait_s: 0 }
        );
        assert_eq!(
            ClaimLimits::parse(&json!({"max": 10, "wait_s": 30})).unwrap(),
            ClaimLimits {
                max: 10,
                wait_s: 30
            }
        );
        for (body, field) in [
            (json!({"max": 0}), "max"),
            (json!({"max": 11}), "max"),
            (json!({"max": "1"}), "max"),
            (json!({"wait_s": 31}), "wait_s"),
            (json!({"wait_s": -1}), "wait_s"),
            (json!([]), "body"),
        ] {
            match ClaimLimits::parse(&body) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_report_fingerprint_covers_every_field() {
        let base = json!({"lease_token": "t", "seq": 1, "outcome": "printed", "sheets": ["A1"]});
        let fp = |v: &Value| ParsedReport::parse(v).unwrap().fingerprint();
        let same = json!({"sheets": ["A1"], "outcome": "printed", "seq": 1, "lease_token": "t"});
        assert_eq!(fp(&base), fp(&same));
        for other in [
            json!({"lease_token": "u", "seq": 1, "outcome": "printed", "sheets": ["A1"]}),
            json!({"lease_token": "t", "seq": 2, "outcome": "printed", "sheets": ["A1"]}),
            json!({"lease_token": "t", "seq": 1, "outcome": "printed", "sheets": ["A2"]}),
            json!({"lease_token": "t", "seq": 1, "outcome": "failed", "sheets": ["A1"]}),
        ] {
            assert_ne!(fp(&base), fp(&other), "{other}");
        }
    }

    #[test]
    fn reports_that_contradict_themselves_are_refused() {
        for (body, field) in [
            (
                json!({"lease_token": "t", "seq": 1, "outcome": "printed"}),
                "sheets",
            ),
            (
                json!({"lease_token": "t", "seq": 1, "outcome": "printed", "sheets": ["A1", "A1"]}),
                "sheets",
            ),
            (
                json!({"lease_token": "t", "seq": 1, "outcome": "failed", "printed_nothing": true, "sheets": ["A1"]}),
                "sheets",
            ),
            (
                json!({"lease_token": "t", "seq": -1, "outcome": "failed"}),
                "seq",
            ),
            (
                json!({"lease_token": "t", "seq": 1, "outcome": "done"}),
                "outcome",
            ),
            (json!({"seq": 1, "outcome": "failed"}), "lease_token"),
        ] {
            match ParsedReport::parse(&body) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
