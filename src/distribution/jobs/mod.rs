//! Print jobs (DESIGN §6): queueing (routing checks, the document rendered once, the pickup
//! code shown once), what staff see and do (cancel, reroute, unlock pickup), cancellation
//! when the licence is withdrawn, and pickup. State changes go through
//! `domain::job::transition`; each one and its audit event share a transaction.
//!
//! Decisions: an *open* job (one per licence) is queued, leased, printed, failed or
//! needs_reconciliation; collected and cancelled jobs are closed. Staff cancel queued or
//! failed jobs only (409 otherwise). A wrong pickup code answers 422 `wrong_pickup_code`
//! with the attempts left; the fifth wrong attempt locks pickup (429) until unlocked.
//!
//! Submodules: `queueing`, `actions` (staff actions, withdrawal hooks and the agent
//! protocol's building blocks), `pickup`.

mod actions;
mod pickup;
mod queueing;

pub use actions::*;
pub use pickup::*;
pub use queueing::*;

use crate::accounts::Staff;
use crate::catalog::{Catalog, CertType};
use crate::distribution::routing::{self, RoutingRefusal};
use crate::distribution::stock::{self, StockError};
use crate::domain::copy::CopyKind;
use crate::domain::hall::Hall;
use crate::domain::job::{transition, JobEvent, JobState, JobTransitionError, Pickup};
use crate::domain::licence::LicenceStatus;
use crate::domain::role::Role;
use crate::registration::RegistrationError;
use crate::storage::jobs::{self as store, JobChanges, JobFilter, JobRow, NewJob};
use crate::storage::licences::{self as licences, LicenceRow};
use crate::storage::{self, audit, halls, DbConnection, StorageError};
use crate::wire::print_jobs::{
    CancelRequest, JobLicence, JobSheet, PrintJob, PrintJobSummary, QueuePrintJobRequest,
    RerouteRequest,
};
use crate::wire::HistoryEntry;
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
    /// `mobile` is not a mainland China mobile number.
    InvalidMobile,
    /// Self-service pickup asked of a hall without a kiosk.
    NoKiosk,
    Routing(RoutingRefusal),
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::LicenceNotValid => "licence_not_valid",
            Refusal::JobExists => "job_exists",
            Refusal::CopyNotAvailable => "copy_not_available",
            Refusal::SameHall => "same_hall",
            Refusal::InvalidMobile => "invalid_mobile",
            Refusal::NoKiosk => "no_kiosk",
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
    /// Pickup by code alone: no printed job of the operator's hall has this code.
    #[error(
        "pickup_code: no printed job of your hall has this pickup code; check the code on the slip"
    )]
    UnknownPickupCode,
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

// ---- request conversion ----------------------------------------------------------------
// The routes deserialize the body into its wire type (`routes::body` names a field of the
// wrong type or a missing one); these check what serde cannot, naming the field.

fn text<'b>(value: &'b str, field: &'static str) -> Result<&'b str, JobError> {
    Some(value.trim())
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| JobError::Invalid {
            field,
            message: "is required: a non-empty string".into(),
        })
}

fn reason_of(reason: Option<&str>) -> Result<String, JobError> {
    reason
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
fn parse_copies(items: Option<&[CopyKind]>) -> Result<Vec<CopyKind>, JobError> {
    let invalid = |message: &str| JobError::Invalid {
        field: "copies",
        message: message.to_string(),
    };
    let items = items
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("is required: a non-empty list such as [\"original\"]"))?;
    let mut copies = Vec::new();
    for &copy in items {
        if copies.contains(&copy) {
            return Err(invalid(&format!("{copy} is listed twice")));
        }
        copies.push(copy);
    }
    copies.sort();
    Ok(copies)
}

/// A print job request, checked.
#[derive(Debug, Clone)]
pub struct QueueRequest {
    pub licence_id: String,
    pub hall: String,
    pub copies: Vec<CopyKind>,
    /// The holder's mobile number for notifications (11 digits), if given.
    pub mobile: Option<String>,
    pub pickup: Pickup,
}

impl QueueRequest {
    pub fn from_request(req: &QueuePrintJobRequest) -> Result<QueueRequest, JobError> {
        Ok(QueueRequest {
            licence_id: text(&req.licence_id, "licence_id")?.to_string(),
            hall: text(&req.hall, "hall")?.to_string(),
            copies: parse_copies(req.copies.as_deref())?,
            mobile: crate::distribution::tracking::mobile_of_request(req.mobile.as_deref())?,
            pickup: req.pickup.unwrap_or_default(),
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
    if req.pickup == Pickup::Kiosk && !storage::agent_tokens::hall_has_kiosk(conn, &hall.code)? {
        return Err(refused(
            Refusal::NoKiosk,
            format!(
                "pickup: the hall {} has no self-service kiosk; choose counter pickup",
                hall.name
            ),
        ));
    }
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
pub fn summary(row: &JobRow) -> Result<PrintJobSummary, JobError> {
    Ok(PrintJobSummary {
        id: row.id.clone(),
        licence_id: row.licence_id.clone(),
        hall: row.hall.clone(),
        issuing_hall: row.issuing_hall.clone(),
        state: state_of(row)?,
        pickup: row.pickup,
        copies: copies_of(row),
        document_sha256: row.document_sha256.clone(),
        attempts: row.attempts,
        pickup_locked: row.pickup_locked,
        pickup_failures: row.pickup_failures,
        lease_expires_at: row.lease_expires_at.map(rfc3339),
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        printed_at: row.printed_at.map(rfc3339),
        collected_at: row.collected_at.map(rfc3339),
    })
}

/// The job with its sheets, history and a licence summary.
pub fn detail(
    conn: &mut DbConnection,
    catalog: &Catalog,
    row: &JobRow,
    today: NaiveDate,
) -> Result<PrintJob, JobError> {
    let sheets = crate::storage::stock::list_sheets_for_job(conn, &row.id)?
        .iter()
        .map(|s| JobSheet {
            serial: s.serial.clone(),
            copy: s.copy,
            state: s.state,
            reason: s.reason.clone(),
            at: rfc3339(s.at),
        })
        .collect();
    let history = audit::list_events_for(conn, &subject(&row.id))?
        .iter()
        .map(|e| HistoryEntry {
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            details: serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
        })
        .collect();
    let licence = licences::find_licence(conn, &row.licence_id)?.map(|l| {
        let status = l.status.effective(l.valid_to, today);
        JobLicence {
            type_name: catalog.get(&l.type_code).map(|t| t.name.clone()),
            licence_no: l.licence_no,
            type_code: l.type_code,
            holder_name: l.holder_name,
            status,
            status_code: status.code().map(str::to_string),
        }
    });
    Ok(PrintJob {
        summary: summary(row)?,
        sheets,
        history,
        licence,
    })
}

/// `GET /api/v1/print-jobs/{id}`.
pub fn get_job(
    conn: &mut DbConnection,
    catalog: &Catalog,
    staff: &Staff,
    id: &str,
    today: NaiveDate,
) -> Result<PrintJob, JobError> {
    let row = visible_job(conn, staff, id, false)?;
    detail(conn, catalog, &row, today)
}

/// `GET /api/v1/print-jobs?hall=&state=&limit=`: the caller sees what `get_job` would
/// show them; `hall` filters on the target hall.
pub fn list_jobs(
    conn: &mut DbConnection,
    staff: &Staff,
    hall: Option<&str>,
    state: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<PrintJobSummary>, JobError> {
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
    store::list_jobs(conn, &filter)?
        .iter()
        .map(summary)
        .collect()
}
