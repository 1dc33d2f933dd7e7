//! Department checks (部门核验), holder share codes and form prefill: the bodies of
//! `/api/v1/dept-clients`, `/api/v1/dept/...`, `/api/v1/shares...` and
//! `/api/v1/holders/{holder_code}/prefill`.

use super::licences::Licence;
use crate::verification::verdict::Verdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/dept-clients` (admin): the types and/or domains the client may see.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateDeptClientRequest {
    /// The department, e.g. 临沂市住房公积金管理中心 (1-100 characters).
    pub name: String,
    /// Certificate type codes granted.
    #[serde(default)]
    pub types: Vec<String>,
    /// Domains granted (every type of the domain): `market`, `transport`, ...
    #[serde(default)]
    pub domains: Vec<String>,
}

/// The client and its token: the token is in this answer only (stored hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedDeptClient {
    pub id: i64,
    pub name: String,
    pub token: String,
    pub types: Vec<String>,
    pub domains: Vec<String>,
}

/// A department client as administrators see it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeptClientView {
    pub id: i64,
    pub name: String,
    pub types: Vec<String>,
    pub domains: Vec<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
}

/// `POST /api/v1/dept-clients/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedDeptClient {
    pub id: i64,
    pub revoked: bool,
    /// False when it was revoked already.
    pub changed: bool,
}

/// `GET /api/v1/dept/licences` (department token).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeptLicencesQuery {
    /// The holder's unified social credit code or resident ID number (check digits checked).
    pub holder_code: Option<String>,
    /// Type codes, comma-separated; absent: every granted type.
    #[serde(rename = "type")]
    pub type_codes: Option<String>,
    /// Why the department looks (4-200 characters); written to the access log.
    pub purpose: Option<String>,
}

/// One licence as a department sees it: the register data with its status and status
/// code, and the verdict on its seal.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeptLicence {
    pub licence: Licence,
    pub seal: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeptLicences {
    pub holder_code: String,
    /// The holder's current licences (no superseded version) of the types asked for.
    pub licences: Vec<DeptLicence>,
}

/// `POST /api/v1/dept/checks`: a licence the holder presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeptCheckRequest {
    /// The text of the licence's QR code.
    pub code: String,
    /// Why the department checks (4-200 characters).
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeptCheck {
    pub verdict: Verdict,
    /// The register data, when the seal names a licence of the register.
    pub licence: Option<Licence>,
}

/// `GET /api/v1/dept/access-log` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    pub holder_code: Option<String>,
    pub client_id: Option<i64>,
}

/// One department access, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessLogEntry {
    pub id: i64,
    pub client_id: i64,
    pub client_name: String,
    /// RFC 3339 UTC.
    pub at: String,
    /// `licences` (a query by holder) or `check` (a presented licence).
    pub route: String,
    pub purpose: String,
    pub holder_code: Option<String>,
    /// The types asked for (empty: every granted type).
    pub requested_types: Vec<String>,
    /// Identifiers of the licences returned.
    pub licences: Vec<String>,
    /// `returned` or `refused_not_granted`.
    pub outcome: String,
}

/// `POST /api/v1/shares` (issuer or admin, at the holder's request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateShareRequest {
    pub holder_code: String,
    pub licence_ids: Vec<String>,
    /// 1..=90.
    pub valid_days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedShare {
    pub id: String,
    /// 9 characters; shown once (stored only as an HMAC).
    pub share_code: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
    pub holder_code: String,
    pub licence_ids: Vec<String>,
}

/// `POST /api/v1/shares/lookup` (public): both values must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareLookupRequest {
    pub share_code: String,
    pub holder_code: String,
}

/// One shared licence: the verdict on its seal (what the paper shows, the holder's code
/// masked for a person), its register fields and its current status.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SharedLicence {
    pub verdict: Verdict,
    /// The effective status today.
    pub status: crate::domain::licence::LicenceStatus,
    pub status_code: Option<String>,
    /// The licence's fields as issued.
    pub fields: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShareLookup {
    /// RFC 3339 UTC.
    pub expires_at: String,
    pub licences: Vec<SharedLicence>,
}

/// One lookup that reached a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareLookupEntry {
    pub at: String,
    pub client_ip: String,
    /// `api` or `page`.
    pub channel: String,
    /// `shown`, `wrong_holder`, `expired` or `revoked`.
    pub outcome: String,
}

/// A share as staff see it, with every lookup (never the code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShareView {
    pub id: String,
    pub holder_code: String,
    pub licence_ids: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub hall: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
    pub lookups: Vec<ShareLookupEntry>,
}

/// `GET /api/v1/holders/{holder_code}/prefill?type=CODE`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrefillQuery {
    /// The certificate type whose form is filled.
    #[serde(rename = "type")]
    pub type_code: Option<String>,
}

/// Where a prefilled value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrefillSource {
    pub licence_id: String,
    pub identifier: String,
    pub licence_no: String,
    pub type_code: String,
    pub type_name: String,
    /// The source field's key (`holder.name`, `holder.code` for the holder).
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrefillValue {
    /// The form's field path: `holder.name`, `holder.code`, `fields.<key>`.
    pub field: String,
    pub value: String,
    pub source: PrefillSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Prefill {
    pub holder_code: String,
    pub type_code: String,
    pub values: Vec<PrefillValue>,
    /// Required fields of the type (its `fields`, not the holder) and how many were filled.
    pub required_fields: usize,
    pub required_filled: usize,
}
