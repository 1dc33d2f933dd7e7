//! Staff sign-in, accounts, the caller's own password and second factor, hall agent tokens.

use crate::domain::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::accounts::lifecycle::{SessionView, UserPatch, UserView};
pub use crate::accounts::totp::Enrolment;

/// `POST /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// A current 6-digit TOTP code or an unused recovery code; without it an account with a
    /// second factor answers 401 `totp_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionUser {
    pub username: String,
    pub role: Role,
    pub hall: String,
}

/// A bearer token and what the account must do before other calls are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
    pub user: SessionUser,
    /// Other calls answer 403 `password_change_required` until `POST /api/v1/me/password`.
    pub must_change_password: bool,
    /// Other calls answer 403 `totp_enrolment_required` until enrolment is confirmed.
    pub totp_enrolment_required: bool,
}

/// `POST /api/v1/users` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub username: String,
    pub password: String,
    /// `admin`, `issuer` or `hall_operator` (checked by the server: 400 naming `role`).
    #[schema(value_type = Role)]
    pub role: String,
    pub hall: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub hall: String,
    pub active: bool,
}

/// `POST /api/v1/users/{username}/reset-password`: shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemporaryPassword {
    pub temporary_password: String,
}

/// `POST /api/v1/me/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    /// 8-256 characters.
    pub new_password: String,
}

/// `POST /api/v1/me/totp/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotpConfirm {
    /// The 6-digit code the authenticator app shows.
    pub code: String,
}

/// Ten one-time recovery codes, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/agent-tokens` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateAgentTokenRequest {
    pub hall: String,
    /// `counter` (default): claims the hall's queue; `kiosk`: a self-service kiosk.
    #[serde(default)]
    pub kind: crate::domain::job::AgentKind,
}

/// A new agent token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedAgentToken {
    pub id: i64,
    pub hall: String,
    pub kind: crate::domain::job::AgentKind,
    pub token: String,
}

/// An agent token as the list shows it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentTokenView {
    pub id: i64,
    pub hall: String,
    pub kind: crate::domain::job::AgentKind,
    /// RFC 3339.
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// `POST /api/v1/agent-tokens/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedAgentToken {
    pub id: i64,
    pub revoked: bool,
    /// False when it was already revoked.
    pub changed: bool,
}

/// `GET /api/v1/agent-tokens?hall=`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentTokensQuery {
    pub hall: Option<String>,
}
