//! Print jobs and pickups (API.md "Staff").

use super::HistoryEntry;
use crate::domain::copy::CopyKind;
use crate::domain::job::JobState;
use crate::domain::licence::LicenceStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/print-jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueuePrintJobRequest {
    pub licence_id: String,
    /// The target hall's code.
    pub hall: String,
    /// Default: the type's copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<Vec<CopyKind>>,
    /// The holder's mobile number (mainland China), for the "ready" and reminder messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// `counter` (default) or `kiosk`: self-service pickup at a kiosk of the hall (the job
    /// is held until the holder releases it there; 422 `no_kiosk` if the hall has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup: Option<crate::domain::job::Pickup>,
}

/// A job as lists show it: never the pickup code, its hash or a lease token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrintJobSummary {
    pub id: String,
    pub licence_id: String,
    /// The target hall's code.
    pub hall: String,
    pub issuing_hall: String,
    pub state: JobState,
    /// `counter` or `kiosk` (self-service).
    pub pickup: crate::domain::job::Pickup,
    pub copies: Vec<CopyKind>,
    pub document_sha256: String,
    pub attempts: i32,
    pub pickup_locked: bool,
    pub pickup_failures: i32,
    pub lease_expires_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub printed_at: Option<String>,
    pub collected_at: Option<String>,
}

/// `GET /api/v1/print-jobs/{id}` and the answer of every action on a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PrintJob {
    #[serde(flatten)]
    pub summary: PrintJobSummary,
    pub sheets: Vec<JobSheet>,
    pub history: Vec<HistoryEntry>,
    /// Absent when the licence is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<JobLicence>,
}

/// The answer of `POST /api/v1/print-jobs`: the job and, this once, its pickup code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueuedPrintJob {
    #[serde(flatten)]
    pub job: PrintJobSummary,
    /// Shown once: only its hash is stored.
    pub pickup_code: String,
    /// The holder's tracking page, `<public url>/T/<token>`; shown once (the slip's QR code).
    pub tracking_url: String,
}

/// A sheet of security stock used by the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobSheet {
    pub serial: String,
    pub copy: Option<CopyKind>,
    pub state: crate::domain::stock::SheetState,
    pub reason: Option<String>,
    pub at: String,
}

/// The licence a job prints, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobLicence {
    pub licence_no: String,
    pub type_code: String,
    pub type_name: Option<String>,
    pub holder_name: String,
    pub status: LicenceStatus,
    pub status_code: Option<String>,
}

/// `POST /api/v1/print-jobs/{id}/reroute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RerouteRequest {
    pub hall: String,
}

/// `POST /api/v1/print-jobs/{id}/cancel` (reason optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct CancelRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How a hall operator settles a job in `needs_reconciliation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveOutcome {
    Printed,
    NotPrinted,
}

/// `POST /api/v1/print-jobs/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResolveRequest {
    pub outcome: ResolveOutcome,
    /// printed: one serial per page, registered and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheets: Option<Vec<String>>,
    /// not_printed: the lost attempt's sheets, voided in the same call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_serials: Option<Vec<String>>,
    /// not_printed: the operator states that no sheet was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_sheet_taken: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/pickups`. Without `job_id`: the job of the operator's hall with this pickup
/// code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PickupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub pickup_code: String,
    /// The identity or credit code of whoever collects.
    pub recipient_code: String,
}

/// `GET /api/v1/print-jobs?hall=&state=&limit=`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrintJobsQuery {
    /// The target hall's code.
    pub hall: Option<String>,
    pub state: Option<String>,
    /// 1-500 (default 100).
    pub limit: Option<String>,
}

/// The actions of `POST /api/v1/print-jobs/{id}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PrintJobActionName {
    Cancel,
    Reroute,
    UnlockPickup,
    Requeue,
    Resolve,
}
