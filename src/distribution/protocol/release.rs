//! Self-service release (secure release, like a print server's held jobs): a holder at a
//! kiosk of the hall types the pickup code from the slip and their ID number; the kiosk's
//! token releases the matching held job and gets a lease exactly like a claim's, prints
//! from its own tray and reports through the usual report route.
//!
//! Rules kept here:
//! - Only held jobs of the kiosk's own hall are looked at: another hall's job does not
//!   exist for it, with the same answer as wrong codes.
//! - Both codes must name the same job. Which one is wrong is told to nobody (one answer,
//!   one audit action), and a wrong try counts against every held job either code names;
//!   the fifth locks the job until staff unlock it (`unlock-pickup`).
//! - Refusals that count are committed with their audit events before the error goes back.
//! - The licence is checked again: a job whose licence left status 01 is cancelled, never
//!   printed.

use super::*;
use crate::accounts::new_token;
use crate::distribution::jobs::{
    changes, licence_validity, state_of, subject, JobError, PICKUP_ATTEMPTS,
};
use crate::distribution::pickup_key::PickupKey;
use crate::domain::job::{transition, JobEvent};
use crate::storage::jobs::{self as store, JobChanges, JobRow};
use crate::storage::{self, audit, licences, DbConnection};
use crate::wire::agent as wire;
use chrono::{DateTime, Duration, Utc};

/// Held jobs looked at per release (a hall holds a few dozen at most).
const MAX_HELD: i64 = 1000;

enum Outcome {
    Released(Box<LeasedJob>),
    Wrong,
    Locked,
    LicenceNotValid(String),
}

fn code<'a>(value: &'a str, field: &'static str) -> Result<&'a str, ProtocolError> {
    Some(value.trim())
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| invalid(field, "is required: a non-empty string"))
}

/// `POST /api/v1/agent/release` `{pickup_code, recipient_code}` for the kiosk `kiosk_id` of
/// `hall`: the released job, leased to the kiosk.
pub fn release(
    conn: &mut DbConnection,
    hall: &str,
    kiosk_id: i64,
    body: &wire::ReleaseRequest,
    pickup_key: &PickupKey,
    now: DateTime<Utc>,
) -> Result<LeasedJob, ProtocolError> {
    let pickup_code = code(&body.pickup_code, "pickup_code")?;
    // ID numbers end in X; people type x.
    let recipient = code(&body.recipient_code, "recipient_code")?.to_ascii_uppercase();
    let actor = format!("kiosk:{hall}:{kiosk_id}");
    let outcome = storage::write_tx(conn, |conn| -> Result<Outcome, ProtocolError> {
        let held = store::lock_held(conn, hall, MAX_HELD)?;
        let by_code = held
            .iter()
            .find(|(j, _)| pickup_key.matches(&j.id, pickup_code, &j.pickup_code_hash));
        if let Some((job, _)) = by_code.filter(|(_, h)| h.to_ascii_uppercase() == recipient) {
            if job.pickup_locked {
                audit::insert_event(
                    conn,
                    now,
                    &actor,
                    "ReleaseRefused",
                    &subject(&job.id),
                    json!({"reason": "pickup_locked", "kiosk_id": kiosk_id}),
                )?;
                return Ok(Outcome::Locked);
            }
            return lease_released(conn, job, kiosk_id, &actor, now);
        }
        // Wrong: every held job either code names counts a failure.
        let mut named: Vec<&JobRow> = by_code.map(|(j, _)| j).into_iter().collect();
        for (job, holder) in &held {
            if holder.to_ascii_uppercase() == recipient && !named.iter().any(|n| n.id == job.id) {
                named.push(job);
            }
        }
        let mut locked_any = false;
        for job in named {
            if job.pickup_locked {
                locked_any = true;
                continue;
            }
            let failures = job.pickup_failures + 1;
            let locked = failures >= PICKUP_ATTEMPTS;
            store::update_locked_job(
                conn,
                job,
                &JobChanges {
                    pickup_failures: Some(failures),
                    pickup_locked: Some(locked),
                    ..changes(now)
                },
            )?;
            let s = subject(&job.id);
            let details = json!({"failures": failures, "kiosk_id": kiosk_id});
            audit::insert_event(conn, now, &actor, "ReleaseFailed", &s, details.clone())?;
            if locked {
                audit::insert_event(conn, now, &actor, "PickupLocked", &s, details)?;
                locked_any = true;
            }
        }
        Ok(if locked_any {
            Outcome::Locked
        } else {
            Outcome::Wrong
        })
    })?;
    match outcome {
        Outcome::Released(leased) => Ok(*leased),
        Outcome::Wrong => Err(ProtocolError::NoHeldJob),
        Outcome::Locked => Err(ProtocolError::ReleaseLocked),
        Outcome::LicenceNotValid(m) => Err(ProtocolError::LicenceNotValid(m)),
    }
}

/// Both codes match: lease the job to the kiosk (held -> leased), or cancel it when its
/// licence is no longer valid.
fn lease_released(
    conn: &mut DbConnection,
    job: &JobRow,
    kiosk_id: i64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, ProtocolError> {
    let licence = licences::get_licence(conn, &job.licence_id)?;
    if let Err(message) = licence_validity(&licence, now.date_naive()) {
        let from = state_of(job)?;
        transition(from, JobEvent::LicenceWithdrawn).map_err(JobError::from)?;
        crate::distribution::jobs::cancel_withdrawn(
            conn,
            job,
            licence.status.as_str(),
            "licence_not_valid",
            &message,
            actor,
            now,
        )?;
        return Ok(Outcome::LicenceNotValid(message));
    }
    let from = state_of(job)?;
    let to = transition(from, JobEvent::Release).map_err(JobError::from)?;
    let token = new_token();
    let expires = now + Duration::seconds(LEASE_SECONDS);
    let leased = store::update_locked_job(
        conn,
        job,
        &JobChanges {
            state: Some(to),
            lease_token_hash: Some(Some(token_hash(&token))),
            lease_expires_at: Some(Some(storage::to_db_time(expires))),
            kiosk_id: Some(Some(kiosk_id)),
            ..changes(now)
        },
    )?;
    audit::insert_event(
        conn,
        now,
        actor,
        "PrintJobReleased",
        &subject(&job.id),
        json!({"self_service": true, "kiosk_id": kiosk_id,
            "lease_expires_at": expires.to_rfc3339(), "attempts": job.attempts}),
    )?;
    Ok(Outcome::Released(Box::new(LeasedJob {
        job: leased,
        licence,
        lease_token: token,
        lease_expires_at: expires,
    })))
}
