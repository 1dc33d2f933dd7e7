//! What staff do to a job (cancel, reroute, requeue, unlock pickup), the cancellations a
//! licence's withdrawal or new version causes, and the agent protocol's building blocks.

#[allow(unused_imports)]
use super::*;

pub(crate) fn changes(now: DateTime<Utc>) -> JobChanges {
    JobChanges {
        updated_at: Some(storage::to_db_time(now)),
        ..JobChanges::default()
    }
}

/// A move to `to` that ends the job's lease (its token no longer opens anything).
pub(crate) fn end_lease(to: JobState, now: DateTime<Utc>) -> JobChanges {
    JobChanges {
        state: Some(to),
        lease_token_hash: Some(None),
        lease_expires_at: Some(None),
        ..changes(now)
    }
}

/// `POST /api/v1/print-jobs/{id}/cancel` `{reason}`.
pub fn cancel_job(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    body: &CancelRequest,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let reason = reason_of(body.reason.as_deref())?;
    storage::write_tx(conn, |conn| {
        let job = managed_job(conn, staff, id)?;
        let from = state_of(&job)?;
        let to = transition(from, JobEvent::StaffCancel)?;
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                state: Some(to),
                ..changes(now)
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "PrintJobCancelled",
            &subject(id),
            json!({"from": from.as_str(), "reason": reason, "by": "staff"}),
        )?;
        reload(conn, id)
    })
}

/// `POST /api/v1/print-jobs/{id}/reroute` `{hall}`: a queued job goes to another hall that
/// may print the type. The document stays as rendered at queueing: it depends on the
/// licence only, never on the hall.
pub fn reroute_job(
    conn: &mut DbConnection,
    catalog: &Catalog,
    staff: &Staff,
    id: &str,
    body: &RerouteRequest,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let hall_code = text(&body.hall, "hall")?.to_string();
    let today = now.date_naive();
    storage::write_tx(conn, |conn| {
        let job = managed_job(conn, staff, id)?;
        let from = state_of(&job)?;
        transition(from, JobEvent::Reroute)?;
        if job.hall == hall_code {
            return Err(refused(
                Refusal::SameHall,
                format!("hall: the job is already routed to {hall_code}"),
            ));
        }
        let licence = licences::get_licence(conn, &job.licence_id)?;
        licence_validity(&licence, today).map_err(|m| refused(Refusal::LicenceNotValid, m))?;
        let cert_type = cert_type_of(catalog, &licence)?;
        let hall = target_hall(conn, &hall_code)?;
        routing_check(&hall, cert_type, today)?;
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                hall: Some(hall_code.clone()),
                ..changes(now)
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "PrintJobRerouted",
            &subject(id),
            json!({"from_hall": job.hall, "to_hall": hall_code}),
        )?;
        crate::distribution::wakeup::notify_in_tx(conn, &hall_code)?;
        reload(conn, id)
    })
}

/// Who may requeue a failed job: whoever manages it, and the operators of the hall whose
/// printer failed (they know when it works again).
pub fn may_requeue(staff: &Staff, hall: &str, issuing_hall: &str) -> bool {
    staff.role == Role::Admin
        || (staff.role == Role::Issuer && staff.hall_code == issuing_hall)
        || (staff.role == Role::HallOperator && staff.hall_code == hall)
}

/// `POST /api/v1/print-jobs/{id}/requeue`: a failed job (every attempt failed with nothing
/// printed) gets a fresh round of attempts at the same hall. It is the same job, so the
/// licence still has one open job, never two.
pub fn requeue_job(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let today = now.date_naive();
    storage::write_tx(conn, |conn| {
        let job = visible_job(conn, staff, id, true)?;
        if !may_requeue(staff, &job.hall, &job.issuing_hall) {
            return Err(JobError::Forbidden(
                "only an administrator, an issuer of the issuing hall or an operator of the target hall may requeue a job".into(),
            ));
        }
        let from = state_of(&job)?;
        // A kiosk job waits held again, not in the counter agents' queue.
        let to = job.pickup.settle(transition(from, JobEvent::Requeue)?);
        let licence = licences::get_licence(conn, &job.licence_id)?;
        licence_validity(&licence, today).map_err(|m| refused(Refusal::LicenceNotValid, m))?;
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                state: Some(to),
                attempts: Some(0),
                ..changes(now)
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "PrintJobRequeued",
            &subject(id),
            json!({"from": from.as_str(), "failed_attempts": job.attempts}),
        )?;
        crate::distribution::wakeup::notify_in_tx(conn, &job.hall)?;
        reload(conn, id)
    })
}

/// Who may unlock pickup: whoever manages the job; for a self-service job, locked at the
/// hall's kiosk, also the operators of that hall, who see the holder at the counter.
pub fn may_unlock_pickup(staff: &Staff, hall: &str, issuing_hall: &str, pickup: Pickup) -> bool {
    let manager = staff.role == Role::Admin
        || (staff.role == Role::Issuer && staff.hall_code == issuing_hall);
    let hall_operator = staff.role == Role::HallOperator && staff.hall_code == hall;
    manager || (pickup == Pickup::Kiosk && hall_operator)
}

/// `POST /api/v1/print-jobs/{id}/unlock-pickup`: reset the wrong-attempt count (wrong codes
/// at the counter or at a kiosk).
pub fn unlock_pickup(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    storage::write_tx(conn, |conn| {
        let job = visible_job(conn, staff, id, true)?;
        if !may_unlock_pickup(staff, &job.hall, &job.issuing_hall, job.pickup) {
            return Err(JobError::Forbidden(
                "only an administrator or an issuer of the issuing hall (for a self-service job also an operator of the target hall) may unlock pickup".into(),
            ));
        }
        store::update_job(
            conn,
            id,
            job.state,
            &JobChanges {
                pickup_failures: Some(0),
                pickup_locked: Some(false),
                ..changes(now)
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            "PickupUnlocked",
            &subject(id),
            json!({"was_locked": job.pickup_locked, "failures": job.pickup_failures}),
        )?;
        reload(conn, id)
    })
}

/// The licence left status 01 (`licence_status` is its new status) or was superseded: cancel
/// its jobs not yet printed, in the caller's transaction. A leased job is cancelled too and
/// its lease cleared, so its agent's next call is refused. Printed jobs stay printed; pickup
/// refuses them. Returns how many were cancelled.
pub fn cancel_for_licence(
    conn: &mut DbConnection,
    licence_id: &str,
    licence_status: &str,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    let candidates: Vec<JobState> = JobState::ALL
        .into_iter()
        .filter(|s| transition(*s, JobEvent::LicenceWithdrawn).is_ok())
        .collect();
    let jobs = store::list_for_licence(conn, licence_id, &candidates)?;
    let why = format!("licence_{licence_status}");
    for job in &jobs {
        cancel_withdrawn(conn, job, licence_status, &why, reason, actor, now)?;
    }
    Ok(jobs.len())
}

/// Cancel one job (not yet printed) because its licence is no longer valid, clearing any
/// lease, with its audit record: `reason` is the code, `licence_reason` the licence's words.
/// The caller checked that the job's state allows it.
pub(crate) fn cancel_withdrawn(
    conn: &mut DbConnection,
    job: &JobRow,
    licence_status: &str,
    reason: &str,
    licence_reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    store::update_job(
        conn,
        &job.id,
        job.state,
        &end_lease(JobState::Cancelled, now),
    )?;
    audit::insert_event(
        conn,
        now,
        actor,
        "PrintJobCancelled",
        &subject(&job.id),
        json!({
            "from": job.state, "by": "licence", "reason": reason,
            "licence_status": licence_status, "licence_reason": licence_reason,
        }),
    )?;
    Ok(())
}

// ---- building blocks for the agent protocol --------------------------------------------

/// Lease one job to its hall's agent (queued -> leased), checking the licence again: a
/// licence withdrawn after queueing is never printed. The claim route adds the choice of
/// jobs (SKIP LOCKED) around this.
pub fn lease_job(
    conn: &mut DbConnection,
    id: &str,
    hall: &str,
    lease_token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    storage::write_tx(conn, |conn| {
        let job = store::lock_job(conn, id)?
            .filter(|j| j.hall == hall)
            .ok_or_else(|| not_found(id))?;
        let from = state_of(&job)?;
        let to = transition(from, JobEvent::Lease)?;
        let licence = licences::get_licence(conn, &job.licence_id)?;
        licence_validity(&licence, now.date_naive())
            .map_err(|m| refused(Refusal::LicenceNotValid, m))?;
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                state: Some(to),
                lease_token_hash: Some(Some(lease_token_hash.to_string())),
                lease_expires_at: Some(Some(storage::to_db_time(expires_at))),
                ..changes(now)
            },
        )?;
        audit::insert_event(
            conn,
            now,
            &format!("agent:{hall}"),
            "PrintJobLeased",
            &subject(id),
            json!({"lease_expires_at": expires_at.to_rfc3339()}),
        )?;
        reload(conn, id)
    })
}

/// Record a leased job printed: one sheet per copy, in page order; every serial must be
/// unused stock of the job's hall. Call inside the report's write transaction (the lease
/// token check belongs to the caller).
pub fn record_printed(
    conn: &mut DbConnection,
    id: &str,
    serials: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let job = store::lock_job(conn, id)?.ok_or_else(|| not_found(id))?;
    record_printed_locked(conn, &job, serials, actor, now)
}

/// [`record_printed`] for a job the caller has locked in this transaction.
pub fn record_printed_locked(
    conn: &mut DbConnection,
    job: &JobRow,
    serials: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let id = job.id.as_str();
    let from = state_of(job)?;
    let to = transition(from, JobEvent::ReportPrinted)?;
    let mut events = stock::mark_printed(conn, &job.hall, &pages_of(job, serials)?, id, now)?;
    let row = store::update_locked_job(
        conn,
        job,
        &JobChanges {
            printed_at: Some(Some(storage::to_db_time(now))),
            ..end_lease(to, now)
        },
    )?;
    events.push(audit::Event {
        action: "PrintJobPrinted",
        subject: subject(id),
        details: json!({"sheets": serials}),
    });
    audit::insert_events(conn, now, actor, &events)?;
    // The holder's "ready" message, in this same transaction (the outbox).
    crate::distribution::notify::enqueue_ready_notification(conn, &row, now)?;
    Ok(row)
}

/// A kiosk reports a released (self-service) job printed: the holder stands at the kiosk
/// and takes the paper, so the job goes straight to `collected`, with one audit row saying
/// self-service, the kiosk and the sheets. Same stock rules as [`record_printed_locked`].
pub fn record_printed_at_kiosk_locked(
    conn: &mut DbConnection,
    job: &JobRow,
    serials: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let id = job.id.as_str();
    let from = state_of(job)?;
    let to = transition(from, JobEvent::ReportPrintedAtKiosk)?;
    let mut events = stock::mark_printed(conn, &job.hall, &pages_of(job, serials)?, id, now)?;
    let at = Some(Some(storage::to_db_time(now)));
    let row = store::update_locked_job(
        conn,
        job,
        &JobChanges {
            printed_at: at,
            collected_at: at,
            ..end_lease(to, now)
        },
    )?;
    events.push(audit::Event {
        action: "PrintJobCollected",
        subject: subject(id),
        details: json!({"hall": job.hall, "self_service": true, "kiosk_id": job.kiosk_id,
            "sheets": serials}),
    });
    audit::insert_events(conn, now, actor, &events)?;
    Ok(row)
}

/// The hook `registration::change_status` runs in its transaction: a licence leaving status
/// 01 cancels its jobs not yet printed. One place for the API and the web pages.
pub fn cancel_when_withdrawn(
    reason: String,
    actor: String,
    now: DateTime<Utc>,
) -> impl FnOnce(
    &mut DbConnection,
    &crate::storage::licences::LicenceRow,
    crate::domain::licence::LicenceStatus,
) -> Result<(), StorageError> {
    move |conn, old, to| {
        if to == crate::domain::licence::LicenceStatus::Valid {
            return Ok(());
        }
        cancel_for_licence(conn, &old.id, to.as_str(), &reason, &actor, now).map(|_| ())
    }
}

/// The hook `registration::new_version` runs in its transaction: jobs not yet printed stop
/// with the superseded version.
pub fn cancel_when_superseded(
    actor: String,
    now: DateTime<Utc>,
) -> impl FnOnce(&mut DbConnection, &crate::storage::licences::LicenceRow) -> Result<(), StorageError>
{
    move |conn, old| {
        let reason = format!("superseded by version {}", old.version + 1);
        cancel_for_licence(conn, &old.id, "superseded", &reason, &actor, now).map(|_| ())
    }
}
