//! Print jobs (DESIGN §6): queueing (routing checks, the document rendered once, the pickup
//! code shown once), what staff see and do (cancel, reroute, unlock pickup), cancellation
//! when the licence is withdrawn, and pickup. State changes go through
//! `domain::job::transition`; each one and its audit event share a transaction.
//!
//! Decisions: an *open* job (one per licence) is queued, leased, printed, failed or
//! needs_reconciliation; collected and cancelled jobs are closed. Staff cancel queued or
//! failed jobs only (409 otherwise). A wrong pickup code answers 422 `wrong_pickup_code`
//! with the attempts left; the fifth wrong attempt locks pickup (429) until unlocked.

use crate::accounts::Staff;
use crate::catalog::{Catalog, CertType};
use crate::distribution::routing::{self, RoutingRefusal};
use crate::distribution::stock::{self, StockError};
use crate::domain::copy::CopyKind;
use crate::domain::hall::Hall;
use crate::domain::job::{transition, JobEvent, JobState, JobTransitionError};
use crate::domain::licence::LicenceStatus;
use crate::domain::role::Role;
use crate::registration::RegistrationError;
use crate::storage::jobs::{self as store, JobChanges, JobFilter, JobRow, NewJob};
use crate::storage::licences::{self as licences, LicenceRow};
use crate::storage::{self, audit, halls, DbConnection, StorageError};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};

/// Wrong pickup attempts before pickup locks.
pub const PICKUP_ATTEMPTS: i32 = 5;

/// A rule that refuses a well-formed request (422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    LicenceNotValid,
    JobExists,
    CopyNotAvailable,
    SameHall,
    Routing(RoutingRefusal),
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::LicenceNotValid => "licence_not_valid",
            Refusal::JobExists => "job_exists",
            Refusal::CopyNotAvailable => "copy_not_available",
            Refusal::SameHall => "same_hall",
            Refusal::Routing(r) => r.code(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("hall: no hall with code {0}")]
    UnknownHall(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Refused { rule: Refusal, message: String },
    #[error(transparent)]
    Transition(#[from] JobTransitionError),
    #[error("the job is {0}, not printed: there is nothing to hand over")]
    NotPrinted(JobState),
    /// At pickup: the licence was withdrawn after printing.
    #[error("{0}")]
    PickupLicenceNotValid(String),
    #[error("pickup of this job is locked after {PICKUP_ATTEMPTS} wrong attempts; an administrator or an issuer of the issuing hall can unlock it")]
    PickupLocked,
    #[error("the pickup code or the holder's code is wrong; {attempts_left} attempts left before pickup locks")]
    WrongPickupCode { attempts_left: i32 },
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Render(#[from] RegistrationError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        JobError::Storage(e.into())
    }
}

fn refused(rule: Refusal, message: impl Into<String>) -> JobError {
    JobError::Refused {
        rule,
        message: message.into(),
    }
}

/// What queueing needs besides the connection.
pub struct JobContext<'a> {
    pub catalog: &'a Catalog,
    pub fonts: &'a crate::render::Fonts,
    pub public_url: &'a str,
    /// Pickup codes are stored as an HMAC under this server secret.
    pub pickup_key: &'a super::pickup_key::PickupKey,
    pub now: DateTime<Utc>,
}

pub(crate) fn rfc3339(t: NaiveDateTime) -> String {
    storage::from_db_time(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn subject(id: &str) -> String {
    format!("print_job:{id}")
}

pub(crate) fn state_of(row: &JobRow) -> Result<JobState, JobError> {
    // Parsed where the row left the database (`storage::columns`).
    Ok(row.state)
}

pub(crate) fn copies_of(row: &JobRow) -> Vec<CopyKind> {
    serde_json::from_str(&row.copies).unwrap_or_default()
}

/// The job's pages with the serials reported for them: one serial per page, in order.
pub(crate) fn pages_of<'s>(
    job: &JobRow,
    serials: &'s [String],
) -> Result<Vec<(&'s str, CopyKind)>, JobError> {
    let copies = copies_of(job);
    if serials.len() != copies.len() {
        return Err(JobError::Invalid {
            field: "sheets",
            message: format!(
                "one serial per page: the job has {} pages, {} serials were given",
                copies.len(),
                serials.len()
            ),
        });
    }
    Ok(serials.iter().map(String::as_str).zip(copies).collect())
}

// ---- request parsing -------------------------------------------------------------------

fn text<'b>(body: &'b Value, field: &'static str) -> Result<&'b str, JobError> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| JobError::Invalid {
            field,
            message: "is required: a non-empty string".into(),
        })
}

fn reason_of(body: &Value) -> Result<String, JobError> {
    body.get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty() && r.chars().count() <= 500)
        .map(str::to_string)
        .ok_or_else(|| JobError::Invalid {
            field: "reason",
            message: "is required (1-500 characters)".into(),
        })
}

/// `copies`: a non-empty list of `original` / `duplicate` without repeats, in print order
/// (original first).
fn parse_copies(body: &Value) -> Result<Vec<CopyKind>, JobError> {
    let invalid = |message: &str| JobError::Invalid {
        field: "copies",
        message: message.to_string(),
    };
    let items = body
        .get("copies")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("is required: a non-empty list such as [\"original\"]"))?;
    let mut copies = Vec::new();
    for item in items {
        let copy = item
            .as_str()
            .and_then(CopyKind::parse)
            .ok_or_else(|| invalid("each copy must be \"original\" or \"duplicate\""))?;
        if copies.contains(&copy) {
            return Err(invalid(&format!("{copy} is listed twice")));
        }
        copies.push(copy);
    }
    copies.sort();
    Ok(copies)
}

/// A print job request, parsed.
#[derive(Debug, Clone)]
pub struct QueueRequest {
    pub licence_id: String,
    pub hall: String,
    pub copies: Vec<CopyKind>,
}

impl QueueRequest {
    pub fn parse(body: &Value) -> Result<QueueRequest, JobError> {
        Ok(QueueRequest {
            licence_id: text(body, "licence_id")?.to_string(),
            hall: text(body, "hall")?.to_string(),
            copies: parse_copies(body)?,
        })
    }
}

// ---- rules -----------------------------------------------------------------------------

/// The licence must be valid today (status 01): not suspended, withdrawn, superseded or
/// past its validity.
pub(crate) fn licence_validity(row: &LicenceRow, today: NaiveDate) -> Result<(), String> {
    let stored = row.status;
    match stored.effective(row.valid_to, today) {
        LicenceStatus::Valid => Ok(()),
        status => Err(match &row.status_reason {
            Some(reason) if status != LicenceStatus::Expired => format!(
                "the licence {} is {} ({}): {reason}",
                row.licence_no,
                status,
                status.label_zh()
            ),
            _ => format!(
                "the licence {} is {} ({})",
                row.licence_no,
                status,
                status.label_zh()
            ),
        }),
    }
}

fn routing_check(hall: &Hall, cert_type: &CertType, today: NaiveDate) -> Result<(), JobError> {
    routing::check_printable(hall, cert_type, today)
        .map_err(|r| refused(Refusal::Routing(r), r.message(hall, cert_type)))
}

fn cert_type_of<'c>(catalog: &'c Catalog, licence: &LicenceRow) -> Result<&'c CertType, JobError> {
    catalog.get(&licence.type_code).ok_or_else(|| {
        refused(
            Refusal::LicenceNotValid,
            format!("the type {} is no longer in the catalog", licence.type_code),
        )
    })
}

fn target_hall(conn: &mut DbConnection, code: &str) -> Result<Hall, JobError> {
    halls::find_hall(conn, code)?.ok_or_else(|| JobError::UnknownHall(code.to_string()))
}

/// Every rule of queueing, read again inside the writing transaction.
fn check_queueable(
    conn: &mut DbConnection,
    catalog: &Catalog,
    licence: &LicenceRow,
    req: &QueueRequest,
    today: NaiveDate,
) -> Result<(), JobError> {
    licence_validity(licence, today).map_err(|m| refused(Refusal::LicenceNotValid, m))?;
    if let Some(job) = store::list_for_licence(conn, &licence.id, &JobState::OPEN)?.first() {
        return Err(refused(
            Refusal::JobExists,
            format!(
                "the licence already has an open print job {} ({})",
                job.id, job.state
            ),
        ));
    }
    let cert_type = cert_type_of(catalog, licence)?;
    let hall = target_hall(conn, &req.hall)?;
    routing_check(&hall, cert_type, today)?;
    if let Some(copy) = req.copies.iter().find(|c| !cert_type.copies.contains(c)) {
        return Err(refused(
            Refusal::CopyNotAvailable,
            format!(
                "copies: the type {} has no {copy} ({})",
                cert_type.code,
                copy.label_zh()
            ),
        ));
    }
    Ok(())
}

/// Only issuers of the licence's issuing hall queue its jobs; a licence of another hall is
/// not even acknowledged (404).
fn licence_for_issuer(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    lock: bool,
) -> Result<LicenceRow, JobError> {
    let row = if lock {
        licences::lock_licence(conn, id)?
    } else {
        licences::find_licence(conn, id)?
    };
    let not_found = || JobError::NotFound(format!("no licence with id {id}"));
    let row = row.ok_or_else(not_found)?;
    if staff.role == Role::Admin || staff.hall_code == row.issuing_hall {
        if staff.role != Role::Issuer {
            return Err(JobError::Forbidden(
                "only window staff (issuer role) of the issuing hall queue print jobs".into(),
            ));
        }
        Ok(row)
    } else {
        Err(not_found())
    }
}

// ---- queueing --------------------------------------------------------------------------

/// The new job and its pickup code, which is shown this once and stored only as a hash.
pub struct QueuedJob {
    pub job: Value,
    pub pickup_code: String,
}

fn new_pickup_code() -> String {
    format!("{:08}", rand::rngs::OsRng.gen_range(0..100_000_000u32))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// `POST /api/v1/print-jobs`. The rules are checked, the document rendered outside the
/// writing transaction (rendering takes a while; SQLite has one writer), then everything is
/// checked again under the licence's lock and the job stored with its audit event.
pub fn queue_job(
    conn: &mut DbConnection,
    ctx: &JobContext<'_>,
    staff: &Staff,
    body: &Value,
) -> Result<QueuedJob, JobError> {
    let req = QueueRequest::parse(body)?;
    let today = ctx.now.date_naive();
    let licence = licence_for_issuer(conn, staff, &req.licence_id, false)?;
    check_queueable(conn, ctx.catalog, &licence, &req, today)?;
    let document = crate::registration::render_licence(
        conn,
        ctx.fonts,
        ctx.catalog,
        ctx.public_url,
        &licence,
        &req.copies,
        None,
        crate::render::RenderMode::Print,
    )?;
    let document_sha256 = sha256_hex(&document);
    let id = uuid::Uuid::new_v4().to_string();
    let pickup_code = new_pickup_code();
    let now = storage::to_db_time(ctx.now);
    let job = NewJob {
        id: id.clone(),
        licence_id: licence.id.clone(),
        hall: req.hall.clone(),
        issuing_hall: licence.issuing_hall.clone(),
        state: JobState::Queued,
        copies: json!(req.copies).to_string(),
        document,
        document_sha256: document_sha256.clone(),
        pickup_code_hash: ctx.pickup_key.seal(&id, &pickup_code),
        created_by: staff.username.clone(),
        created_at: now,
        updated_at: now,
    };
    let row = storage::write_tx(conn, |conn| {
        let licence = licence_for_issuer(conn, staff, &req.licence_id, true)?;
        check_queueable(conn, ctx.catalog, &licence, &req, today)?;
        store::insert_job(conn, &job).map_err(|e| {
            if e.is_unique_violation() {
                refused(
                    Refusal::JobExists,
                    "the licence already has an open print job",
                )
            } else {
                e.into()
            }
        })?;
        audit::insert_event(
            conn,
            ctx.now,
            &staff.username,
            "PrintJobQueued",
            &subject(&id),
            json!({
                "licence_id": job.licence_id, "hall": job.hall, "issuing_hall": job.issuing_hall,
                "copies": req.copies, "document_sha256": document_sha256,
            }),
        )?;
        // Other server processes' waiting agents of the hall (delivered on commit).
        crate::distribution::wakeup::notify_in_tx(conn, &job.hall)?;
        reload(conn, &id)
    })?;
    Ok(QueuedJob {
        job: summary_json(&row),
        pickup_code,
    })
}

// ---- reading ---------------------------------------------------------------------------

fn may_see(staff: &Staff, job: &JobRow) -> bool {
    staff.role == Role::Admin || staff.hall_code == job.hall || staff.hall_code == job.issuing_hall
}

/// Admins and issuers of the issuing hall cancel, reroute and unlock.
fn may_manage(staff: &Staff, job: &JobRow) -> bool {
    staff.role == Role::Admin || (staff.role == Role::Issuer && staff.hall_code == job.issuing_hall)
}

pub(crate) fn not_found(id: &str) -> JobError {
    JobError::NotFound(format!("no print job with id {id}"))
}

/// The job as just written.
pub(crate) fn reload(conn: &mut DbConnection, id: &str) -> Result<JobRow, JobError> {
    store::find_job(conn, id)?.ok_or_else(|| not_found(id))
}

/// A job the caller may see, else 404 (another hall's job does not exist for them).
fn visible_job(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    lock: bool,
) -> Result<JobRow, JobError> {
    let row = if lock {
        store::lock_job(conn, id)?
    } else {
        store::find_job(conn, id)?
    };
    row.filter(|j| may_see(staff, j))
        .ok_or_else(|| not_found(id))
}

fn managed_job(conn: &mut DbConnection, staff: &Staff, id: &str) -> Result<JobRow, JobError> {
    let job = visible_job(conn, staff, id, true)?;
    if !may_manage(staff, &job) {
        return Err(JobError::Forbidden(
            "only an administrator or an issuer of the issuing hall may do this".into(),
        ));
    }
    Ok(job)
}

/// The job as lists show it. Never the pickup code or its hash, never the lease token.
pub fn summary_json(row: &JobRow) -> Value {
    json!({
        "id": row.id,
        "licence_id": row.licence_id,
        "hall": row.hall,
        "issuing_hall": row.issuing_hall,
        "state": row.state,
        "copies": copies_of(row),
        "document_sha256": row.document_sha256,
        "attempts": row.attempts,
        "pickup_locked": row.pickup_locked,
        "pickup_failures": row.pickup_failures,
        "lease_expires_at": row.lease_expires_at.map(rfc3339),
        "created_by": row.created_by,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "printed_at": row.printed_at.map(rfc3339),
        "collected_at": row.collected_at.map(rfc3339),
    })
}

/// The job with its sheets, history and a licence summary.
pub fn detail_json(
    conn: &mut DbConnection,
    catalog: &Catalog,
    row: &JobRow,
    today: NaiveDate,
) -> Result<Value, JobError> {
    let mut v = summary_json(row);
    let sheets = crate::storage::stock::list_sheets_for_job(conn, &row.id)?;
    v["sheets"] = sheets
        .iter()
        .map(|s| json!({"serial": s.serial, "copy": s.copy, "state": s.state, "reason": s.reason, "at": rfc3339(s.at)}))
        .collect();
    v["history"] = audit::list_events_for(conn, &subject(&row.id))?
        .iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at), "actor": e.actor, "action": e.action,
                "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
            })
        })
        .collect();
    if let Some(l) = licences::find_licence(conn, &row.licence_id)? {
        let status = l.status.effective(l.valid_to, today);
        v["licence"] = json!({
            "licence_no": l.licence_no,
            "type_code": l.type_code,
            "type_name": catalog.get(&l.type_code).map(|t| t.name.as_str()),
            "holder_name": l.holder_name,
            "status": status.as_str(),
            "status_code": status.code(),
        });
    }
    Ok(v)
}

/// `GET /api/v1/print-jobs/{id}`.
pub fn get_job(
    conn: &mut DbConnection,
    catalog: &Catalog,
    staff: &Staff,
    id: &str,
    today: NaiveDate,
) -> Result<Value, JobError> {
    let row = visible_job(conn, staff, id, false)?;
    detail_json(conn, catalog, &row, today)
}

/// `GET /api/v1/print-jobs?hall=&state=&limit=`: the caller sees what `get_job` would
/// show them; `hall` filters on the target hall.
pub fn list_jobs(
    conn: &mut DbConnection,
    staff: &Staff,
    hall: Option<&str>,
    state: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<Value>, JobError> {
    let state = state
        .map(|s| {
            JobState::parse(s).ok_or_else(|| JobError::Invalid {
                field: "state",
                message: format!(
                    "must be one of {}",
                    JobState::ALL.map(JobState::as_str).join(", ")
                ),
            })
        })
        .transpose()?;
    let limit = match limit {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| JobError::Invalid {
                field: "limit",
                message: "must be a whole number from 1 to 500".into(),
            })?,
    };
    let filter = JobFilter {
        hall: hall.map(str::to_string),
        state,
        involving_hall: (staff.role != Role::Admin).then(|| staff.hall_code.clone()),
        limit,
    };
    Ok(store::list_jobs(conn, &filter)?
        .iter()
        .map(summary_json)
        .collect())
}

// ---- staff actions ---------------------------------------------------------------------

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
    body: &Value,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let reason = reason_of(body)?;
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
    body: &Value,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let hall_code = text(body, "hall")?.to_string();
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
        let to = transition(from, JobEvent::Requeue)?;
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

/// `POST /api/v1/print-jobs/{id}/unlock-pickup`: reset the wrong-attempt count.
pub fn unlock_pickup(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    storage::write_tx(conn, |conn| {
        let job = managed_job(conn, staff, id)?;
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
    Ok(row)
}

// ---- pickup ----------------------------------------------------------------------------

/// A pickup request, parsed.
#[derive(Debug, Clone)]
pub struct PickupRequest {
    pub job_id: String,
    pub pickup_code: String,
    pub recipient_code: String,
}

impl PickupRequest {
    pub fn parse(body: &Value) -> Result<PickupRequest, JobError> {
        Ok(PickupRequest {
            job_id: text(body, "job_id")?.to_string(),
            pickup_code: text(body, "pickup_code")?.to_string(),
            // ID numbers end in X; people type x.
            recipient_code: text(body, "recipient_code")?.to_ascii_uppercase(),
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
    body: &Value,
    pickup_key: &super::pickup_key::PickupKey,
    now: DateTime<Utc>,
) -> Result<JobRow, JobError> {
    let req = PickupRequest::parse(body)?;
    let id = req.job_id.clone();
    let outcome = storage::write_tx(conn, |conn| -> Result<PickupOutcome, JobError> {
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
