//! The hall agent protocol (API.md "Hall agents"): what the agent sends and what the server
//! answers. The agent (`crate::agent`) and the server (`crate::distribution::protocol`) both
//! use these types; there is no second definition.

use crate::domain::copy::CopyKind;
use crate::domain::job::JobState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest `reason` a report, void or resolution may carry (characters).
pub const MAX_REASON_CHARS: usize = 500;

/// `reason` cut to [`MAX_REASON_CHARS`] (an ellipsis marks the cut), so that a long message
/// never makes the server refuse the report that carries it.
pub fn clip_reason(reason: &str) -> String {
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason.to_string();
    }
    let mut out: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
    out.push('…');
    out
}

/// An absent or null list is an empty one (what the server has always accepted).
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Option::unwrap_or_default)
}

/// `POST /api/v1/agent/claim` `{max, wait_s}`, both optional (1 and 0); the body may be empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// How many jobs at most, 1-10 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10)]
    pub max: Option<u32>,
    /// Long-poll: seconds to wait for a job when none waits, 0-30 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 30)]
    pub wait_s: Option<u64>,
}

/// The claim's answer; `jobs` is empty when none arrived within `wait_s`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub jobs: Vec<ClaimedJob>,
}

/// A job just leased to the caller, with what the agent needs to print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimedJob {
    pub id: String,
    pub licence_id: String,
    /// The licence's identifier (证照标识); the seal in the document's QR code names it.
    /// Absent from older servers' claims (then empty, and the agent refuses the job).
    #[serde(default)]
    pub licence_identifier: String,
    pub type_code: String,
    /// One page per copy, in this order.
    pub copies: Vec<CopyKind>,
    pub qr_text: String,
    /// Shown once; every later call about the job carries it.
    pub lease_token: String,
    /// RFC 3339 UTC.
    pub lease_expires_at: String,
    /// SHA-256 of the stored PDF, lower-case hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub document_sha256: String,
}

/// `POST /api/v1/agent/jobs/{id}/heartbeat` `{lease_token}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatRequest {
    pub lease_token: String,
}

/// The lease's new expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatResponse {
    pub id: String,
    /// RFC 3339 UTC.
    pub lease_expires_at: String,
}

/// What the agent says happened to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Printed,
    Failed,
}

/// `POST /api/v1/agent/jobs/{id}/report`. The agent builds it once, journals it and resends
/// it byte for byte; the server answers a retry with the first answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportRequest {
    pub lease_token: String,
    /// The agent's report sequence number (from 0); idempotency key with the job.
    pub seq: i64,
    pub outcome: Outcome,
    /// printed: one serial per page, in order. failed: the sheets used, if any.
    // Absent or null is accepted as none, as it always was; documented as required.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(required = true)]
    pub sheets: Vec<String>,
    /// failed only: no sheet was taken (the job goes back to the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_nothing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The job after the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportResponse {
    pub id: String,
    pub seq: i64,
    pub state: JobState,
    pub attempts: i32,
}

/// `POST /api/v1/agent/sheets/void` `{serials, reason}`: spoiled blank stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoidSheetsRequest {
    pub serials: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoidSheetsResponse {
    pub voided: Vec<String>,
    pub reason: String,
}

/// `POST /api/v1/agent/reconcile` `{jobs: [{id, state}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileRequest {
    pub jobs: Vec<ReconcileEntry>,
}

/// A job in the agent's journal and its journal step (`claimed`, `printing`, `printed`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileEntry {
    pub id: String,
    pub state: String,
}

/// One line per job the agent named and per leased or needs_reconciliation job of the hall
/// it did not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileResponse {
    pub jobs: Vec<ReconcileItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileItem {
    pub id: String,
    /// The state the agent sent; null for a job it did not name.
    pub agent_state: Option<String>,
    /// Null: unknown here, or another hall's job.
    pub server_state: Option<JobState>,
    pub action: ReconcileAction,
}

/// What the agent should do about a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileAction {
    /// Nothing to do (a leased job not named may belong to another agent of the hall).
    None,
    /// Drop it from the journal: not this hall's, unknown, or final on the server.
    Forget,
    /// The lease is still yours: send the report.
    Report,
    /// A hall operator must check the paper and resolve the job.
    AskOperator,
}

/// `GET /api/v1/agent/whoami`: the hall the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub hall: String,
    /// `counter` or `kiosk` (absent from older servers: counter).
    #[serde(default)]
    pub kind: crate::domain::job::AgentKind,
}

/// `POST /api/v1/agent/release` (kiosk token): the holder's pickup code (from the slip)
/// and the holder's code (ID number or credit code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRequest {
    pub pickup_code: String,
    pub recipient_code: String,
}

impl ReconcileAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileAction::None => "none",
            ReconcileAction::Forget => "forget",
            ReconcileAction::Report => "report",
            ReconcileAction::AskOperator => "ask_operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_clipped_to_what_the_server_takes() {
        assert_eq!(clip_reason("short"), "short");
        let exact = "字".repeat(MAX_REASON_CHARS);
        assert_eq!(clip_reason(&exact), exact);
        let long = clip_reason(&"x".repeat(MAX_REASON_CHARS + 100));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS);
        assert!(long.ends_with('…'));
    }
}
