//! Licences (API.md "Staff"): issuing, reading, lifecycle actions and new versions.

use super::HistoryEntry;
use crate::domain::licence::LicenceStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The record's wire shape lives with the record's rules (`crate::catalog::record`).
pub use crate::catalog::record::{Holder, Record, RecordInput};

/// `POST /api/v1/licences` (header `Idempotency-Key` honoured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IssueLicenceRequest {
    pub type_code: String,
    #[serde(flatten)]
    pub record: Record,
}

/// `POST /api/v1/licences` as the handler reads it: any JSON object, its members kept as raw
/// values so that the catalog's checks report every bad field at once (400 `invalid_input`
/// with `fields`) instead of stopping at the first wrong type. Serialized again (nulls left
/// out) it is the Idempotency-Key's request fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueLicenceInput {
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub type_code: serde_json::Value,
    #[serde(flatten)]
    pub record: RecordInput,
}

/// A licence as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Licence {
    pub id: String,
    /// The licence's identifier (证照标识).
    pub identifier: String,
    pub licence_no: String,
    pub version: i32,
    /// The effective status (`expired` derives from validity).
    pub status: LicenceStatus,
    /// The two-digit status code of DESIGN §4; null for `superseded`.
    pub status_code: Option<String>,
    pub status_reason: Option<String>,
    pub qr_text: String,
    pub type_code: String,
    pub type_name: Option<String>,
    pub holder: Holder,
    /// The record's fields as issued.
    pub fields: serde_json::Value,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub issuer_code: String,
    pub issuing_hall: String,
    /// RFC 3339 UTC.
    pub issued_at: String,
    pub issued_by: String,
    pub signer_kid: String,
    pub previous_id: Option<String>,
    pub superseded_by: Option<String>,
}

/// `GET /api/v1/licences/{id}`: the licence with every version of it and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LicenceDetail {
    #[serde(flatten)]
    pub licence: Licence,
    pub versions: Vec<LicenceVersion>,
    pub history: Vec<HistoryEntry>,
}

/// One version of a licence (the stored status, not the effective one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LicenceVersion {
    pub id: String,
    pub version: i32,
    pub identifier: String,
    pub status: LicenceStatus,
}

/// The actions of `POST /api/v1/licences/{id}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenceActionName {
    Suspend,
    Reinstate,
    Rescind,
    Cancel,
    Revoke,
    /// A change: a new version, the old one superseded.
    Versions,
}
