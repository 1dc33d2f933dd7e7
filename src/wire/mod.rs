//! The JSON bodies of the `/api/v1` routes: one Rust type per request and response, used by
//! the server (handlers build them), the hall agent (`crate::agent::api`) and the tests. The
//! OpenAPI document (`GET /api/v1/openapi.json`, snapshot in `docs/openapi.json`) derives its
//! schemas from these types, so a change here is a change of the API: the snapshot test
//! shows it in review.
//!
//! Field names are the contract (API.md); states, statuses, kinds and roles are the domain
//! enums, which serialize in snake_case. Bodies the domain already owns (a hall, a verdict,
//! the trust list) are re-exported from where they live rather than copied.

pub mod accounts;
pub mod agent;
pub mod catalog;
pub mod dept;
pub mod halls;
pub mod licences;
pub mod ops;
pub mod print_jobs;
pub mod stock;
pub mod tracking;
pub mod verify;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error: `{error, message}`, and for some refusals the fields at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A snake_case code, e.g. `invalid_input`, `stale_lease`.
    pub error: String,
    /// Human text; for bad input it starts with the field's name.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// One audit event of a licence's or a job's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// RFC 3339 UTC.
    pub at: String,
    pub actor: String,
    /// The event, past tense (`LicenceIssued`, `PrintJobLeased`).
    pub action: String,
    /// The event's details as recorded (any JSON).
    pub details: serde_json::Value,
}

/// `{"reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReasonBody {
    pub reason: String,
}
