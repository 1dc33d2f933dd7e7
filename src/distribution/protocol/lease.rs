//! Leases: the claim (one look; the long-poll is the route's), the document, heartbeats,
//! voiding spoiled stock, and the sweep that moves expired leases to reconciliation.

use super::*;
use crate::accounts::new_token;
use crate::distribution::jobs::{
    changes, copies_of, end_lease, licence_validity, not_found, rfc3339, state_of, subject,
    JobError,
};
use crate::distribution::stock;
use crate::domain::job::{transition, JobEvent, JobState};
use crate::storage::jobs::{self as store, JobChanges, JobRow};
use crate::storage::licences::{self, LicenceRow};
use crate::storage::{self, audit, DbConnection};
use crate::wire::agent as wire;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The job of this hall, locked for a change; another hall's job is "not found".
pub(super) fn hall_job(
    conn: &mut DbConnection,
    hall: &str,
    id: &str,
) -> Result<JobRow, ProtocolError> {
    store::lock_job(conn, id)?
        .filter(|j| j.hall == hall)
        .ok_or_else(|| not_found(id).into())
}

/// The token must be the job's current lease (and the job leased).
pub(super) fn check_lease(job: &JobRow, lease_token_hash: &str) -> Result<(), ProtocolError> {
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

pub(super) fn lease_expired(job: &JobRow, now: DateTime<Utc>) -> bool {
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
pub struct LeasedJob {
    pub job: JobRow,
    pub licence: LicenceRow,
    pub lease_token: String,
    pub lease_expires_at: DateTime<Utc>,
}

impl LeasedJob {
    /// The job as the claim's answer shows it.
    pub fn to_wire(&self, public_url: &str) -> wire::ClaimedJob {
        wire::ClaimedJob {
            id: self.job.id.clone(),
            licence_id: self.job.licence_id.clone(),
            licence_identifier: self.licence.identifier.clone(),
            type_code: self.licence.type_code.clone(),
            copies: copies_of(&self.job),
            qr_text: crate::verification::qr_text(public_url, &self.licence.cose),
            lease_token: self.lease_token.clone(),
            lease_expires_at: self
                .lease_expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            document_sha256: self.job.document_sha256.to_ascii_lowercase(),
        }
    }
}

/// What one claim attempt found (no `Debug`: it holds lease tokens).
pub enum Claimed {
    /// The hall had no queued job at all (the caller may remember that until a wake-up).
    QueueEmpty,
    /// The jobs leased: none when every queued job was locked by another claimer or was
    /// cancelled for its licence.
    Jobs(Vec<LeasedJob>),
}

/// One claim attempt: lease up to `max` of the hall's oldest queued jobs. Jobs whose licence
/// is no longer valid are cancelled on the way and not handed out.
pub fn claim_once(
    conn: &mut DbConnection,
    hall: &str,
    max: i64,
    now: DateTime<Utc>,
) -> Result<Claimed, ProtocolError> {
    // Most looks of idle halls find nothing: ask first, without a write transaction (a job
    // queued just after this look wakes the caller, who registered before looking).
    if !store::has_claimable(conn, hall)? {
        return Ok(Claimed::QueueEmpty);
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
        let mut claimed: Vec<LeasedJob> = Vec::new();
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
                claimed.push(LeasedJob {
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
        Ok(Claimed::Jobs(claimed))
    })
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
    body: &wire::HeartbeatRequest,
    now: DateTime<Utc>,
) -> Result<wire::HeartbeatResponse, ProtocolError> {
    let hash = lease_token_hash(&body.lease_token)?;
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
        Ok(wire::HeartbeatResponse {
            id: id.to_string(),
            lease_expires_at: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    })
}

/// `POST /api/v1/agent/sheets/void` `{serials, reason}`: spoiled blank sheets of the hall's
/// own registered stock; all or nothing.
pub fn void_sheets(
    conn: &mut DbConnection,
    hall: &str,
    body: &wire::VoidSheetsRequest,
    now: DateTime<Utc>,
) -> Result<wire::VoidSheetsResponse, ProtocolError> {
    let serials = serials_of(&body.serials, "serials")?;
    if serials.is_empty() {
        return Err(invalid(
            "serials",
            "is required: a non-empty list of sheet serials",
        ));
    }
    let reason = required_reason(&body.reason)?;
    let actor = agent_actor(hall);
    storage::write_tx(conn, |conn| {
        for serial in &serials {
            stock::void_sheet(conn, hall, serial, &reason, None, &actor, now)?;
        }
        Ok(wire::VoidSheetsResponse {
            voided: serials,
            reason,
        })
    })
}

/// Move every leased job whose lease ran out to `needs_reconciliation` (never back to
/// `queued`: a sheet may be printed). One sweeper at a time across processes. Returns the
/// ids moved. Tests call this after moving the clock.
pub fn sweep_expired_leases(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ProtocolError> {
    // Nearly every sweep finds nothing: one read, and no write transaction, until one would.
    if !store::has_expired_leases(conn, storage::to_db_time(now))? {
        return Ok(Vec::new());
    }
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
