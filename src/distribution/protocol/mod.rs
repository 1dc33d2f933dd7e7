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
mod release;
mod report;

pub use lease::{
    claim_once, document, heartbeat, sweep_expired_leases, void_sheets, Claimed, LeasedJob,
};
pub use reconcile::{reconcile, resolve_job};
pub use release::release;
pub use report::report;

use crate::accounts::token_hash;
use crate::distribution::jobs::JobError;
use crate::distribution::stock::StockError;
use crate::storage::StorageError;
use crate::wire::agent::Outcome;
use serde_json::json;

/// How long a lease lasts from the claim or the last heartbeat.
pub const LEASE_SECONDS: i64 = 120;
pub const MAX_CLAIM: i64 = 10;
pub const MAX_WAIT_S: u64 = 30;
/// A waiting claim looks again this often even without a wake-up (a lost notification, a
/// claimer that rolled back). As long as the longest wait: an agent claims again as soon as
/// its wait ends, and that claim looks at once (unless the hall's last look found its queue
/// empty and nothing has woken it since: `wakeup::EMPTY_MEMO_TTL`).
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
    /// Release: no held job of the kiosk's hall has both codes (which one is wrong is not
    /// told), or the hall holds no such job at all.
    #[error("no held job of this hall matches this pickup code and ID number")]
    NoHeldJob,
    /// Release: the job is locked after too many wrong tries.
    #[error("this job is locked after too many wrong tries: staff at the counter can unlock it")]
    ReleaseLocked,
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

// ---- request conversion ----------------------------------------------------------------
// The routes deserialize the body into its wire type (`routes::body`, which names the field
// of a wrong type or a missing one); these functions check what serde cannot, with
// messages that name the field.

fn check_uint(
    value: Option<u64>,
    field: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ProtocolError> {
    match value {
        None => Ok(None),
        Some(n) if range.contains(&n) => Ok(Some(n)),
        Some(_) => Err(invalid(
            field,
            format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// The hash of the lease token (trimmed); the token itself is never kept.
fn lease_token_hash(token: &str) -> Result<String, ProtocolError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(invalid(
            "lease_token",
            "is required: the token the claim returned",
        ));
    }
    Ok(token_hash(token))
}

fn serials_of(items: &[String], field: &'static str) -> Result<Vec<String>, ProtocolError> {
    if items.len() > MAX_LIST {
        return Err(invalid(field, format!("at most {MAX_LIST} serials")));
    }
    let mut serials: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let s = Some(item.trim())
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| invalid(field, "each serial must be a non-empty string"))?;
        if serials.iter().any(|x| x == s) {
            return Err(invalid(field, format!("{s} is listed twice")));
        }
        serials.push(s.to_string());
    }
    Ok(serials)
}

fn optional_reason(reason: Option<&str>) -> Result<Option<String>, ProtocolError> {
    match reason {
        None => Ok(None),
        Some(r) if r.trim().chars().count() <= crate::wire::agent::MAX_REASON_CHARS => {
            Ok(Some(r.trim().to_string()).filter(|r| !r.is_empty()))
        }
        Some(_) => Err(invalid(
            "reason",
            "must be a string of at most 500 characters",
        )),
    }
}

fn required_reason(reason: &str) -> Result<String, ProtocolError> {
    optional_reason(Some(reason))?
        .ok_or_else(|| invalid("reason", "is required (1-500 characters)"))
}

/// `{max, wait_s}`, both optional (1 and 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    pub max: i64,
    pub wait_s: u64,
}

impl ClaimLimits {
    pub fn from_request(req: &crate::wire::agent::ClaimRequest) -> Result<Self, ProtocolError> {
        Ok(ClaimLimits {
            max: check_uint(req.max.map(u64::from), "max", 1..=MAX_CLAIM as u64)?.unwrap_or(1)
                as i64,
            wait_s: check_uint(req.wait_s, "wait_s", 0..=MAX_WAIT_S)?.unwrap_or(0),
        })
    }
}

/// A report, checked. The lease token is kept as its hash only.
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
    pub fn from_request(req: &crate::wire::agent::ReportRequest) -> Result<Self, ProtocolError> {
        let lease_token_hash = lease_token_hash(&req.lease_token)?;
        if req.seq < 0 {
            return Err(invalid(
                "seq",
                "is required: the agent's report sequence number, a whole number from 0",
            ));
        }
        let outcome = req.outcome;
        let sheets = serials_of(&req.sheets, "sheets")?;
        let printed_nothing = req.printed_nothing.unwrap_or(false);
        let reason = optional_reason(req.reason.as_deref())?;
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
            seq: req.seq,
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
    use crate::wire::agent::{ClaimRequest, ReportRequest};
    use serde_json::Value;

    /// Bodies of the right types (a wrong type is refused earlier, by `routes::body`).
    fn claim(body: Value) -> Result<ClaimLimits, ProtocolError> {
        ClaimLimits::from_request(&serde_json::from_value::<ClaimRequest>(body).unwrap())
    }
    fn report(body: &Value) -> Result<ParsedReport, ProtocolError> {
        ParsedReport::from_request(&serde_json::from_value::<ReportRequest>(body.clone()).unwrap())
    }

    #[test]
    fn claim_bounds_name_the_field() {
        assert_eq!(
            ClaimLimits::from_request(&ClaimRequest::default()).unwrap(),
            ClaimLimits { max: 1, wait_s: 0 }
        );
        assert_eq!(
            claim(json!({"max": 10, "wait_s": 30})).unwrap(),
            ClaimLimits {
                max: 10,
                wait_s: 30
            }
        );
        for (body, field) in [
            (json!({"max": 0}), "max"),
            (json!({"max": 11}), "max"),
            (json!({"wait_s": 31}), "wait_s"),
        ] {
            match claim(body.clone()) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_report_fingerprint_covers_every_field() {
        let base = json!({"lease_token": "t", "seq": 1, "outcome": "printed", "sheets": ["A1"]});
        let fp = |v: &Value| report(v).unwrap().fingerprint();
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
                json!({"lease_token": " ", "seq": 1, "outcome": "failed"}),
                "lease_token",
            ),
        ] {
            match report(&body) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
