//! Operations: liveness and readiness (no authentication).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`: `{"status": "alive"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The signer in its signing period and who holds its key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadySigner {
    /// Lower-case hex.
    pub kid: String,
    /// `pkcs11` or `file`.
    #[schema(value_type = String)]
    pub custody: crate::issuance::Custody,
    /// The example key set (never for production).
    pub example: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadyChecks {
    /// `ok` or `unreachable`.
    pub database: String,
    /// `ok` or `none_in_signing_period`.
    pub signer: String,
}

/// `GET /readyz`: 200 `{status: "ready", checks, signer}`, or 503 `{error: "not_ready",
/// message, checks, signer}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub checks: ReadyChecks,
    pub signer: Option<ReadySigner>,
}
