//! Reports: idempotent by (job, seq); a retry with the same body gets the first answer.

use super::lease::{check_lease, hall_job};
use super::*;
use crate::distribution::jobs::{end_lease, state_of, subject, JobError};
use crate::distribution::wakeup;
use crate::domain::job::{transition, JobEvent, JobState, Pickup};
use crate::storage::agent_reports::{self, ReportRow};
use crate::storage::jobs::{self as store, JobChanges, JobRow};
use crate::storage::{self, audit, DbConnection, StorageError};
use crate::wire::agent as wire;
use chrono::{DateTime, Utc};
use serde_json::json;

/// `POST /api/v1/agent/jobs/{id}/report`: the answer as first given (a retry gets the stored
/// one). A job back in `queued` notes its hall for a wake-up (`wakeup::notify_in_tx`).
pub fn report(
    conn: &mut DbConnection,
    hall: &str,
    id: &str,
    body: &crate::wire::agent::ReportRequest,
    now: DateTime<Utc>,
) -> Result<wire::ReportResponse, ProtocolError> {
    let req = ParsedReport::from_request(body)?;
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
            return Ok(body);
        }
        check_lease(&job, &req.lease_token_hash)?;
        let row = match req.outcome {
            Outcome::Printed if job.pickup == Pickup::Kiosk => {
                crate::distribution::jobs::record_printed_at_kiosk_locked(
                    conn,
                    &job,
                    &req.sheets,
                    &actor,
                    now,
                )?
            }
            Outcome::Printed => crate::distribution::jobs::record_printed_locked(
                conn,
                &job,
                &req.sheets,
                &actor,
                now,
            )?,
            Outcome::Failed => record_failed(conn, &job, &req, &actor, now)?,
        };
        if row.state == JobState::Queued {
            wakeup::notify_in_tx(conn, hall)?;
        }
        let answer = wire::ReportResponse {
            id: row.id.clone(),
            seq: req.seq,
            state: state_of(&row)?,
            attempts: row.attempts,
        };
        let answer_text = serde_json::to_string(&answer).map_err(|e| {
            StorageError::Migration(format!("report answer of job {id} does not serialize: {e}"))
        })?;
        agent_reports::insert_report(
            conn,
            &ReportRow {
                job_id: id.to_string(),
                seq: req.seq,
                request_hash: fingerprint.clone(),
                response_status: 200,
                response_body: answer_text,
                at: storage::to_db_time(now),
            },
        )?;
        Ok(answer)
    })
}

/// A failed attempt: nothing printed -> queued again (failed at the third attempt); the
/// agent cannot tell -> needs_reconciliation.
fn record_failed(
    conn: &mut DbConnection,
    job: &JobRow,
    req: &ParsedReport,
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
    // A kiosk job with nothing printed waits held for its holder again, never queued.
    let to = job
        .pickup
        .settle(transition(from, event).map_err(JobError::from)?);
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
