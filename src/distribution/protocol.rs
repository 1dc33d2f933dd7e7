//! The hall agent protocol, server side (DESIGN §6, API.md "Hall agents"): claim with a
//! long-poll, the document, heartbeats, idempotent reports, voiding spoiled stock,
//! reconciliation, the lease sweeper, and the hall operator's resolution of a job whose
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

use crate::accounts::{new_token, token_hash, Staff};
use crate::distribution::jobs::{
    changes, copies_of, end_lease, licence_validity, not_found, pages_of, reload, rfc3339,
    state_of, subject, JobError,
};
use crate::distribution::stock::{self, StockError};
use crate::distribution::wakeup;
use crate::domain::job::{transition, JobEvent, JobState};
use crate::domain::role::Role;
use crate::state::AppState;
use crate::storage::agent_reports::{self, ReportRow};
use crate::storage::jobs::{self as store, JobChanges, JobRow};
use crate::storage::licences::{self, LicenceRow};
use crate::storage::{self, audit, DbConnection, StorageError};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::time::Instant;

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
        Some(Value::String(r)) if r.trim().chars().count() <= 500 => {
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
pub struct ClaimRequest {
    pub max: i64,
    pub wait_s: u64,
}

impl ClaimRequest {
    pub fn parse(body: &Value) -> Result<ClaimRequest, ProtocolError> {
        let empty = json!({});
        let body = if body.is_null() { &empty } else { body };
        object(body)?;
        Ok(ClaimRequest {
            max: opt_uint(body, "max", 1..=MAX_CLAIM as u64)?.unwrap_or(1) as i64,
            wait_s: opt_uint(body, "wait_s", 0..=MAX_WAIT_S)?.unwrap_or(0),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Printed,
    Failed,
}

/// A report, parsed. The lease token is kept as its hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub lease_token_hash: String,
    pub seq: i64,
    pub outcome: Outcome,
    pub sheets: Vec<String>,
    pub printed_nothing: bool,
    pub reason: Option<String>,
}

impl ReportRequest {
    pub fn parse(body: &Value) -> Result<ReportRequest, ProtocolError> {
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
        Ok(ReportRequest {
            lease_token_hash,
            seq,
            outcome,
            sheets,
            printed_nothing,
            reason,
        })
    }

    /// What a retry must repeat exactly to get the stored answer.
    fn fingerprint(&self) -> String {
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

// ---- leases ----------------------------------------------------------------------------

/// The job of this hall, locked for a change; another hall's job is "not found".
fn hall_job(conn: &mut DbConnection, hall: &str, id: &str) -> Result<JobRow, ProtocolError> {
    store::lock_job(conn, id)?
        .filter(|j| j.hall == hall)
        .ok_or_else(|| not_found(id).into())
}

/// The token must be the job's current lease (and the job leased).
fn check_lease(job: &JobRow, lease_token_hash: &str) -> Result<(), ProtocolError> {
    let current = job.state == JobState::Leased
        && job
            .lease_token_hash
            .as_deref()
            // Hashes of 256-bit random tokens: comparing them leaks nothing usable.
            .is_some_and(|h| h == lease_token_hash);
    if current {
        Ok(())
    } else {
        Err(ProtocolError::StaleLease(job.id.clone()))
    }
}

fn lease_expired(job: &JobRow, now: DateTime<Utc>) -> bool {
    job.lease_expires_at
        .is_none_or(|at| storage::from_db_time(at) <= now)
}

/// Cancel a job whose licence is no longer valid (claim, document), in the caller's
/// transaction.
fn cancel_for_invalid_licence(
    conn: &mut DbConnection,
    job: &JobRow,
    licence: &LicenceRow,
    message: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), ProtocolError> {
    let from = state_of(job)?;
    transition(from, JobEvent::LicenceWithdrawn).map_err(JobError::from)?;
    crate::distribution::jobs::cancel_withdrawn(
        conn,
        job,
        licence.status.as_str(),
        "licence_not_valid",
        message,
        actor,
        now,
    )?;
    Ok(())
}

/// A job just leased, with what the agent needs.
pub struct ClaimedJob {
    pub job: JobRow,
    pub licence: LicenceRow,
    pub lease_token: String,
    pub lease_expires_at: DateTime<Utc>,
}

impl ClaimedJob {
    pub fn to_json(&self, public_url: &str) -> Value {
        json!({
            "id": self.job.id,
            "licence_id": self.job.licence_id,
            "licence_identifier": self.licence.identifier,
            "type_code": self.licence.type_code,
            "copies": copies_of(&self.job),
            "qr_text": crate::verification::qr_text(public_url, &self.licence.cose),
            "lease_token": self.lease_token,
            "lease_expires_at": self.lease_expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "document_sha256": self.job.document_sha256.to_ascii_lowercase(),
        })
    }
}

/// One claim attempt: lease up to `max` of the hall's oldest queued jobs. Jobs whose licence
/// is no longer valid are cancelled on the way and not handed out.
pub fn claim_once(
    conn: &mut DbConnection,
    hall: &str,
    max: i64,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimedJob>, ProtocolError> {
    // Most looks of idle halls find nothing: ask first, without a write transaction (a job
    // queued just after this look wakes the caller, who registered before looking).
    if !store::has_claimable(conn, hall)? {
        return Ok(Vec::new());
    }
    let today = now.date_naive();
    // A partner whose agreement has run out takes no new work (jobs already queued to it
    // wait for a renewal or a reroute).
    if let Some(h) = crate::storage::halls::find_hall(conn, hall)? {
        if let Some(a) = h.agreement.as_ref().filter(|a| !a.in_force(today)) {
            return Err(ProtocolError::Forbidden(format!(
                "the partner agreement of hall {hall} is in force {} to {}, not today: no new claims",
                a.valid_from, a.valid_to
            )));
        }
    }
    let actor = agent_actor(hall);
    storage::write_tx(conn, |conn| {
        let mut claimed: Vec<ClaimedJob> = Vec::new();
        loop {
            let want = max - claimed.len() as i64;
            let rows = store::lock_claimable(conn, hall, want)?;
            // Fewer than asked: the queue is empty after these.
            let last_round = (rows.len() as i64) < want;
            if rows.is_empty() {
                break;
            }
            for job in rows {
                let licence = licences::get_licence(conn, &job.licence_id)?;
                if let Err(message) = licence_validity(&licence, today) {
                    cancel_for_invalid_licence(conn, &job, &licence, &message, &actor, now)?;
                    continue;
                }
                let from = state_of(&job)?;
                let to = transition(from, JobEvent::Lease).map_err(JobError::from)?;
                let token = new_token();
                let expires = now + Duration::seconds(LEASE_SECONDS);
                let leased = store::update_locked_job(
                    conn,
                    &job,
                    &JobChanges {
                        state: Some(to),
                        lease_token_hash: Some(Some(token_hash(&token))),
                        lease_expires_at: Some(Some(storage::to_db_time(expires))),
                        ..changes(now)
                    },
                )?;
                audit::insert_event(
                    conn,
                    now,
                    &actor,
                    "PrintJobLeased",
                    &subject(&job.id),
                    json!({"lease_expires_at": expires.to_rfc3339(), "attempts": job.attempts}),
                )?;
                claimed.push(ClaimedJob {
                    job: leased,
                    licence,
                    lease_token: token,
                    lease_expires_at: expires,
                });
            }
            if last_round || claimed.len() as i64 >= max {
                break;
            }
        }
        Ok(claimed)
    })
}

/// `POST /api/v1/agent/claim`: answers at once when jobs wait, else waits for a wake-up of
/// the hall (or the slow fallback poll) until `wait_s` passes. While waiting it holds no
/// connection and no thread: only a `Notified` future.
pub async fn claim(
    state: &AppState,
    hall: &str,
    body: &Value,
) -> Result<Value, crate::error::ApiError> {
    let req = ClaimRequest::parse(body)?;
    let deadline = Instant::now() + std::time::Duration::from_secs(req.wait_s);
    let notify = state.wakeups.for_hall(hall);
    loop {
        // Registered before the look, so a job queued between the look and the wait wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (h, now) = (hall.to_string(), state.now());
        let claimed = state
            .db(move |conn| claim_once(conn, &h, req.max, now))
            .await?;
        if !claimed.is_empty() {
            let url = &state.settings.public_url;
            let jobs: Vec<Value> = claimed.iter().map(|c| c.to_json(url)).collect();
            return Ok(json!({ "jobs": jobs }));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(json!({ "jobs": [] }));
        }
        let woken = tokio::select! {
            _ = &mut notified => true,
            _ = tokio::time::sleep(left.min(POLL_FALLBACK)) => false,
        };
        if !woken && Instant::now() >= deadline {
            return Ok(json!({ "jobs": [] }));
        }
    }
}

/// `GET /api/v1/agent/jobs/{id}/document`: the stored PDF, for the current lease only.
pub fn document(
    conn: &mut DbConnection,
    hall: &str,
    id: &str,
    lease_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ProtocolError> {
    let token = lease_token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ProtocolError::MissingLeaseToken)?;
    let hash = token_hash(token);
    let (job, licence, pdf) = store::find_job_to_print(conn, id)?
        .filter(|(job, _, _)| job.hall == hall)
        .ok_or_else(|| ProtocolError::from(not_found(id)))?;
    check_lease(&job, &hash)?;
    if lease_expired(&job, now) {
        return Err(ProtocolError::LeaseExpired(id.to_string()));
    }
    if let Err(message) = licence_validity(&licence, now.date_naive()) {
        // Withdrawn (or run out) since the claim: never printed. Cancel under the lock,
        // checking the lease again (a report may have landed meanwhile).
        storage::write_tx(conn, |conn| {
            let job = hall_job(conn, hall, id)?;
            check_lease(&job, &hash)?;
            cancel_for_invalid_licence(conn, &job, &licence, &message, &agent_actor(hall), now)
        })?;
        return Err(ProtocolError::LicenceNotValid(message));
    }
    Ok(pdf)
}

/// `POST /api/v1/agent/jobs/{id}/heartbeat` `{lease_token}`: extend an unexpired lease.
pub fn heartbeat(
    conn: &mut DbConnection,
    hall: &str,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ProtocolError> {
    object(body)?;
    let hash = token_hash(&lease_token_of(body)?);
    storage::write_tx(conn, |conn| {
        let job = hall_job(conn, hall, id)?;
        check_lease(&job, &hash)?;
        if lease_expired(&job, now) {
            return Err(ProtocolError::LeaseExpired(id.to_string()));
        }
        let expires = now + Duration::seconds(LEASE_SECONDS);
        // Not audited: the state does not change, and a heartbeat every few seconds would
        // drown the job's history.
        store::update_job(
            conn,
            id,
            JobState::Leased,
            &JobChanges {
                lease_expires_at: Some(Some(storage::to_db_time(expires))),
                ..changes(now)
            },
        )?;
        Ok(json!({
            "id": id,
            "lease_expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
    })
}

/// A report's answer: status and body, as first given.
#[derive(Debug, Clone)]
pub struct ReportAnswer {
    pub status: u16,
    pub body: Value,
    /// The job went back to `queued` (wake the hall's agents).
    pub requeued_hall: Option<String>,
}

/// `POST /api/v1/agent/jobs/{id}/report`.
pub fn report(
    conn: &mut DbConnection,
    hall: &str,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<ReportAnswer, ProtocolError> {
    let req = ReportRequest::parse(body)?;
    let fingerprint = req.fingerprint();
    let actor = agent_actor(hall);
    storage::write_tx(conn, |conn| {
        let job = hall_job(conn, hall, id)?;
        if let Some(stored) = agent_reports::find_report(conn, id, req.seq)? {
            if stored.request_hash != fingerprint {
                return Err(ProtocolError::SeqReused {
                    job: id.to_string(),
                    seq: req.seq,
                });
            }
            let body = serde_json::from_str(&stored.response_body).map_err(|e| {
                StorageError::Migration(format!(
                    "stored report answer of job {id} is not JSON: {e}"
                ))
            })?;
            return Ok(ReportAnswer {
                status: u16::try_from(stored.response_status).unwrap_or(200),
                body,
                requeued_hall: None,
            });
        }
        check_lease(&job, &req.lease_token_hash)?;
        let row = match req.outcome {
            Outcome::Printed => crate::distribution::jobs::record_printed_locked(
                conn,
                &job,
                &req.sheets,
                &actor,
                now,
            )?,
            Outcome::Failed => record_failed(conn, &job, &req, &actor, now)?,
        };
        let requeued = row.state == JobState::Queued;
        if requeued {
            wakeup::notify_in_tx(conn, hall)?;
        }
        let answer = json!({
            "id": row.id, "seq": req.seq, "state": row.state, "attempts": row.attempts,
        });
        agent_reports::insert_report(
            conn,
            &ReportRow {
                job_id: id.to_string(),
                seq: req.seq,
                request_hash: fingerprint.clone(),
                response_status: 200,
                response_body: answer.to_string(),
                at: storage::to_db_time(now),
            },
        )?;
        Ok(ReportAnswer {
            status: 200,
            body: answer,
            requeued_hall: requeued.then(|| hall.to_string()),
        })
    })
}

/// A failed attempt: nothing printed -> queued again (failed at the third attempt); the
/// agent cannot tell -> needs_reconciliation.
fn record_failed(
    conn: &mut DbConnection,
    job: &JobRow,
    req: &ReportRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, ProtocolError> {
    let from = state_of(job)?;
    let (event, attempts) = if req.printed_nothing {
        let attempts = job.attempts + 1;
        (
            JobEvent::AttemptFailed {
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            },
            attempts,
        )
    } else {
        (JobEvent::Uncertain, job.attempts)
    };
    let to = transition(from, event).map_err(JobError::from)?;
    let row = store::update_locked_job(
        conn,
        job,
        &JobChanges {
            attempts: Some(attempts),
            ..end_lease(to, now)
        },
    )?;
    let action = match to {
        JobState::NeedsReconciliation => "PrintJobNeedsReconciliation",
        JobState::Failed => "PrintJobFailed",
        _ => "PrintAttemptFailed",
    };
    audit::insert_event(
        conn,
        now,
        actor,
        action,
        &subject(&job.id),
        json!({"from": from.as_str(), "to": to.as_str(), "attempts": attempts,
            "printed_nothing": req.printed_nothing, "reason": req.reason, "sheets": req.sheets}),
    )?;
    Ok(row)
}

/// `POST /api/v1/agent/sheets/void` `{serials, reason}`: spoiled blank sheets of the hall's
/// own registered stock; all or nothing.
pub fn void_sheets(
    conn: &mut DbConnection,
    hall: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Value, ProtocolError> {
    object(body)?;
    let serials = serials_of(body, "serials")?;
    if serials.is_empty() {
        return Err(invalid(
            "serials",
            "is required: a non-empty list of sheet serials",
        ));
    }
    let reason = required_reason(body)?;
    let actor = agent_actor(hall);
    storage::write_tx(conn, |conn| {
        for serial in &serials {
            stock::void_sheet(conn, hall, serial, &reason, None, &actor, now)?;
        }
        Ok(json!({"voided": serials, "reason": reason}))
    })
}

// ---- the lease sweeper -----------------------------------------------------------------

/// Move every leased job whose lease ran out to `needs_reconciliation` (never back to
/// `queued`: a sheet may be printed). One sweeper at a time across processes. Returns the
/// ids moved. Tests call this after moving the clock.
pub fn sweep_expired_leases(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ProtocolError> {
    storage::write_tx(conn, |conn| {
        if !store::try_sweep_lock(conn, SWEEP_LOCK_KEY)? {
            return Ok(Vec::new());
        }
        let expired = store::lock_expired_leases(conn, storage::to_db_time(now), SWEEP_BATCH)?;
        let mut moved = Vec::with_capacity(expired.len());
        for job in expired {
            let from = state_of(&job)?;
            let to = transition(from, JobEvent::LeaseExpired).map_err(JobError::from)?;
            store::update_job(conn, &job.id, from, &end_lease(to, now))?;
            audit::insert_event(
                conn,
                now,
                "system:lease-sweeper",
                "PrintJobLeaseExpired",
                &subject(&job.id),
                json!({"hall": job.hall, "lease_expires_at": job.lease_expires_at.map(rfc3339), "to": to.as_str()}),
            )?;
            moved.push(job.id);
        }
        Ok(moved)
    })
}

/// Run the sweeper every `SWEEP_EVERY` while the server's state lives.
pub fn spawn_lease_sweeper(state: &actix_web::web::Data<AppState>) {
    let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            let now = state.now();
            match state.db(move |conn| sweep_expired_leases(conn, now)).await {
                Ok(moved) if !moved.is_empty() => {
                    tracing::warn!(jobs = ?moved, "leases expired: jobs need reconciliation")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
            }
        }
    });
}

// ---- reconciliation --------------------------------------------------------------------

/// Agent journal states (the agent's `Step`) after which paper may exist.
const PAPER_MAY_EXIST: [&str; 4] = ["printing", "printed", "reported", "rejected"];
/// Agent states that still owe the server a report.
const OWES_REPORT: [&str; 3] = ["printed", "failed", "reported"];

/// What the agent should do about one job, given its journal state (`None`: the agent did
/// not name the job) and the server's state (`None`: unknown here or another hall's).
fn reconcile_action(agent_state: Option<&str>, server: Option<JobState>) -> &'static str {
    use JobState as S;
    let paper = agent_state.is_some_and(|a| PAPER_MAY_EXIST.contains(&a));
    match (agent_state, server) {
        (_, None) => "forget",
        (_, Some(S::NeedsReconciliation)) => "ask_operator",
        // Still leased: send the report the agent owes; otherwise carry on (or, for a job the
        // agent did not name, leave it to the agent of the hall that holds it).
        (Some(a), Some(S::Leased)) if OWES_REPORT.contains(&a) => "report",
        (_, Some(S::Leased)) => "none",
        // Paper may exist but the server does not count it printed: a person must look at
        // the sheet before anything prints again.
        (Some(_), Some(S::Queued | S::Failed | S::Cancelled)) if paper => "ask_operator",
        // The server's record is final for this agent (printed, collected, cancelled, failed,
        // or queued for a fresh claim): drop it from the journal.
        (Some(_), Some(_)) => "forget",
        (None, Some(_)) => "none",
    }
}

/// `POST /api/v1/agent/reconcile` `{jobs: [{id, state}]}`: for each job the agent names, and
/// each of the hall's leased or needs_reconciliation jobs it does not name: `{id,
/// agent_state, server_state, action}` with action `none` (nothing to do), `forget` (drop it
/// from the local journal), `report` (the lease is still yours: send the report) or
/// `ask_operator` (a hall operator must check the paper and resolve the job).
pub fn reconcile(
    conn: &mut DbConnection,
    hall: &str,
    body: &Value,
) -> Result<Value, ProtocolError> {
    object(body)?;
    let items = body
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("jobs", "is required: a list of {id, state}"))?;
    if items.len() > MAX_LIST {
        return Err(invalid("jobs", format!("at most {MAX_LIST} jobs")));
    }
    let mut named: Vec<(String, String)> = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| invalid("jobs", "each entry needs an id (a job id)"))?;
        let state = item
            .get("state")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 40)
            .ok_or_else(|| {
                invalid(
                    "jobs",
                    "each entry needs a state (the agent's view, e.g. leased, printing, printed)",
                )
            })?;
        named.push((id.to_string(), state.to_string()));
    }
    let ids: Vec<String> = named.iter().map(|(id, _)| id.clone()).collect();
    let found = store::find_jobs(conn, &ids)?;
    let mut answer = Vec::new();
    for (id, agent_state) in &named {
        let server = found
            .iter()
            .find(|j| &j.id == id && j.hall == hall)
            .map(state_of)
            .transpose()?;
        answer.push(json!({
            "id": id, "agent_state": agent_state, "server_state": server.map(JobState::as_str),
            "action": reconcile_action(Some(agent_state), server),
        }));
    }
    let open = [JobState::Leased, JobState::NeedsReconciliation];
    for job in store::list_for_hall(conn, hall, &open, 500)? {
        if ids.contains(&job.id) {
            continue;
        }
        let server = state_of(&job)?;
        answer.push(json!({
            "id": job.id, "agent_state": null, "server_state": server.as_str(),
            "action": reconcile_action(None, Some(server)),
        }));
    }
    Ok(json!({ "jobs": answer }))
}

// ---- resolution by a hall operator -----------------------------------------------------

/// `POST /api/v1/print-jobs/{id}/resolve` `{outcome, sheets?, voided_serials?, no_sheet_taken?,
/// reason?}` by a hall operator of the target hall, for a job in `needs_reconciliation`:
/// - `printed`: `sheets` are the serials printed, one per page, registered and unused ->
///   `printed`; `voided_serials` may list spoiled ones.
/// - `not_printed`: back to `queued` for a reprint. The sheets taken by the lost attempt
///   must be voided in the same call (`voided_serials`); when none was taken the operator
///   says so with `no_sheet_taken: true`. Otherwise 422 `voided_sheets_required`.
pub fn resolve_job(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<JobRow, ProtocolError> {
    object(body)?;
    let printed = match body.get("outcome").and_then(Value::as_str) {
        Some("printed") => true,
        Some("not_printed") => false,
        _ => return Err(invalid("outcome", "must be \"printed\" or \"not_printed\"")),
    };
    let voided = serials_of(body, "voided_serials")?;
    let sheets = serials_of(body, "sheets")?;
    let no_sheet_taken = match body.get("no_sheet_taken") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("no_sheet_taken", "must be true or false")),
    };
    let reason = optional_reason(body)?;
    if let Some(s) = sheets.iter().find(|s| voided.contains(s)) {
        return Err(invalid(
            "voided_serials",
            format!("{s} is also listed as printed"),
        ));
    }
    if printed && sheets.is_empty() {
        return Err(invalid(
            "sheets",
            "a printed resolution lists the printed serials, one per page",
        ));
    }
    if !printed && !sheets.is_empty() {
        return Err(invalid(
            "sheets",
            "not_printed takes no printed sheets: list spoiled ones in voided_serials",
        ));
    }
    if !printed && no_sheet_taken && !voided.is_empty() {
        return Err(invalid(
            "no_sheet_taken",
            "contradicts the voided_serials given",
        ));
    }
    let job = storage::write_tx(conn, |conn| {
        let job = store::lock_job(conn, id)?
            .filter(|j| {
                staff.role == Role::Admin
                    || staff.hall_code == j.hall
                    || staff.hall_code == j.issuing_hall
            })
            .ok_or_else(|| not_found(id))?;
        if staff.role != Role::HallOperator || staff.hall_code != job.hall {
            return Err(ProtocolError::Forbidden(
                "only a hall operator of the job's target hall resolves it".into(),
            ));
        }
        let from = state_of(&job)?;
        let event = if printed {
            JobEvent::ResolvePrinted
        } else {
            JobEvent::ResolveNotPrinted
        };
        let to = transition(from, event).map_err(JobError::from)?;
        if !printed && voided.is_empty() && !no_sheet_taken {
            return Err(ProtocolError::VoidedSheetsRequired(
                "voided_serials: a reprint needs the sheets of the lost attempt voided in the same call, or no_sheet_taken: true when none was taken".into(),
            ));
        }
        let reason_text = reason.clone().unwrap_or_else(|| "reconciliation".into());
        for serial in &voided {
            stock::void_sheet(
                conn,
                &job.hall,
                serial,
                &reason_text,
                Some(id),
                &staff.username,
                now,
            )?;
        }
        // The report's helper needs a leased job; record the sheets here, under the same
        // rules.
        let mut events = if printed {
            stock::mark_printed(conn, &job.hall, &pages_of(&job, &sheets)?, id, now)?
        } else {
            Vec::new()
        };
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                state: Some(to),
                printed_at: printed.then(|| Some(storage::to_db_time(now))),
                ..changes(now)
            },
        )?;
        if to == JobState::Queued {
            wakeup::notify_in_tx(conn, &job.hall)?;
        }
        events.push(audit::Event {
            action: if printed {
                "PrintJobResolvedPrinted"
            } else {
                "PrintJobResolvedNotPrinted"
            },
            subject: subject(id),
            details: json!({"from": from.as_str(), "to": to.as_str(), "sheets": sheets,
                "voided_serials": voided, "no_sheet_taken": no_sheet_taken, "reason": reason}),
        });
        audit::insert_events(conn, now, &staff.username, &events)?;
        Ok(reload(conn, id)?)
    })?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_bounds_name_the_field() {
        assert_eq!(
            ClaimRequest::parse(&Value::Null).unwrap(),
            ClaimRequest { max: 1, wait_s: 0 }
        );
        assert_eq!(
            ClaimRequest::parse(&json!({"max": 10, "wait_s": 30})).unwrap(),
            ClaimRequest {
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
            match ClaimRequest::parse(&body) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_report_fingerprint_covers_every_field() {
        let base = json!({"lease_token": "t", "seq": 1, "outcome": "printed", "sheets": ["A1"]});
        let fp = |v: &Value| ReportRequest::parse(v).unwrap().fingerprint();
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
            match ReportRequest::parse(&body) {
                Err(ProtocolError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn reconcile_never_tells_an_agent_to_reprint() {
        use JobState as S;
        assert_eq!(
            reconcile_action(Some("printed"), Some(S::Queued)),
            "ask_operator"
        );
        assert_eq!(
            reconcile_action(Some("printing"), Some(S::Cancelled)),
            "ask_operator"
        );
        assert_eq!(
            reconcile_action(Some("downloaded"), Some(S::Cancelled)),
            "forget"
        );
        assert_eq!(reconcile_action(Some("printed"), Some(S::Leased)), "report");
        assert_eq!(reconcile_action(Some("failed"), Some(S::Leased)), "report");
        assert_eq!(reconcile_action(Some("claimed"), Some(S::Leased)), "none");
        assert_eq!(reconcile_action(Some("printing"), Some(S::Leased)), "none");
        assert_eq!(
            reconcile_action(Some("printed"), Some(S::Printed)),
            "forget"
        );
        assert_eq!(reconcile_action(Some("claimed"), None), "forget");
        assert_eq!(
            reconcile_action(None, Some(S::NeedsReconciliation)),
            "ask_operator"
        );
        assert_eq!(reconcile_action(None, Some(S::Leased)), "none");
        for agent in [
            None,
            Some("claimed"),
            Some("printing"),
            Some("printed"),
            Some("x"),
        ] {
            for server in JobState::ALL {
                let a = reconcile_action(agent, Some(server));
                assert!(["none", "forget", "report", "ask_operator"].contains(&a));
            }
        }
    }
}
