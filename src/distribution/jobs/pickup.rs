//! Pickup: the holder collects against the pickup code; five wrong codes lock it.

#[allow(unused_imports)]
use super::*;

/// A pickup request, checked. Without `job_id`, the job is the operator's own hall's
/// printed job with this pickup code.
#[derive(Debug, Clone)]
pub struct PickupRequest {
    pub job_id: Option<String>,
    pub pickup_code: String,
    pub recipient_code: String,
}

impl PickupRequest {
    pub fn from_request(
        req: &crate::wire::print_jobs::PickupRequest,
    ) -> Result<PickupRequest, JobError> {
        Ok(PickupRequest {
            job_id: req
                .job_id
                .as_deref()
                .map(|j| text(j, "job_id").map(str::to_string))
                .transpose()?,
            pickup_code: text(&req.pickup_code, "pickup_code")?.to_string(),
            // ID numbers end in X; people type x.
            recipient_code: text(&req.recipient_code, "recipient_code")?.to_ascii_uppercase(),
        })
    }
}

enum PickupOutcome {
    Collected(Box<JobRow>),
    Wrong { attempts_left: i32 },
    Locked,
    LicenceNotValid(String),
}

/// `POST /api/v1/pickups`: an operator of the target hall hands a printed certificate over
/// against the pickup code and the holder's code. Refusals that count (wrong codes, the
/// lock, a withdrawn licence) are committed with their audit event before the error goes
/// back, so they cannot be undone by the rollback of the refusal.
pub fn pickup(
    conn: &mut DbConnection,
    staff: &Staff,
    body: &crate::wire::print_jobs::PickupRequest,
    pickup_key: &crate::distribution::pickup_key::PickupKey,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let req = PickupRequest::from_request(body)?;
    let outcome = storage::write_tx(conn, |conn| -> Result<PickupOutcome, JobError> {
        let id = match &req.job_id {
            Some(id) => id.clone(),
            None => job_id_by_code(conn, staff, &req.pickup_code, pickup_key)?,
        };
        let job = visible_job(conn, staff, &id, true)?;
        if staff.role != Role::HallOperator || staff.hall_code != job.hall {
            return Err(JobError::Forbidden(
                "only a hall operator of the job's target hall hands certificates over".into(),
            ));
        }
        let event = |conn: &mut DbConnection, action: &str, details: Value| {
            audit::insert_event(conn, now, &staff.username, action, &subject(&id), details)
        };
        if job.pickup_locked {
            event(conn, "PickupRefused", json!({"reason": "pickup_locked"}))?;
            return Ok(PickupOutcome::Locked);
        }
        let from = state_of(&job)?;
        if from != JobState::Printed {
            return Err(JobError::NotPrinted(from));
        }
        let licence = licences::get_licence(conn, &job.licence_id)?;
        if let Err(message) = licence_validity(&licence, now.date_naive()) {
            event(
                conn,
                "PickupRefused",
                json!({"reason": "licence_not_valid", "licence_status": licence.status}),
            )?;
            return Ok(PickupOutcome::LicenceNotValid(message));
        }
        let code_ok = pickup_key.matches(&id, &req.pickup_code, &job.pickup_code_hash);
        let holder_ok = req.recipient_code == licence.holder_code.to_ascii_uppercase();
        if !(code_ok && holder_ok) {
            let failures = job.pickup_failures + 1;
            let locked = failures >= PICKUP_ATTEMPTS;
            store::update_job(
                conn,
                &id,
                from,
                &JobChanges {
                    pickup_failures: Some(failures),
                    pickup_locked: Some(locked),
                    ..changes(now)
                },
            )?;
            // Which of the two codes was wrong is told to nobody: not the caller, and not the
            // job's history either, which operators read (it would halve a guesser's work).
            event(conn, "PickupFailed", json!({"failures": failures}))?;
            if locked {
                event(conn, "PickupLocked", json!({"failures": failures}))?;
                return Ok(PickupOutcome::Locked);
            }
            return Ok(PickupOutcome::Wrong {
                attempts_left: PICKUP_ATTEMPTS - failures,
            });
        }
        let to = transition(from, JobEvent::Collect)?;
        store::update_job(
            conn,
            &id,
            from,
            &JobChanges {
                state: Some(to),
                collected_at: Some(Some(storage::to_db_time(now))),
                ..changes(now)
            },
        )?;
        event(
            conn,
            "PrintJobCollected",
            json!({"hall": job.hall, "holder_name": licence.holder_name}),
        )?;
        Ok(PickupOutcome::Collected(Box::new(reload(conn, &id)?)))
    })?;
    match outcome {
        PickupOutcome::Collected(job) => Ok(*job),
        PickupOutcome::Wrong { attempts_left } => Err(JobError::WrongPickupCode { attempts_left }),
        PickupOutcome::Locked => Err(JobError::PickupLocked),
        PickupOutcome::LicenceNotValid(m) => Err(JobError::PickupLicenceNotValid(m)),
    }
}

/// The operator's own hall's printed job with this pickup code; none answers
/// `UnknownPickupCode` (nothing to count a failure against).
fn job_id_by_code(
    conn: &mut DbConnection,
    staff: &Staff,
    code: &str,
    pickup_key: &crate::distribution::pickup_key::PickupKey,
) -> Result<String, JobError> {
    if staff.role != Role::HallOperator {
        return Err(JobError::Forbidden(
            "only a hall operator hands certificates over; give job_id otherwise".into(),
        ));
    }
    crate::distribution::tracking::printed_job_with_code(conn, &staff.hall_code, code, pickup_key)?
        .map(|j| j.id)
        .ok_or(JobError::UnknownPickupCode)
}
