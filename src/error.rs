//! `ApiError`: what the services' own error enums become at the edge, each variant one class
//! of API.md "Errors" (code and message here; the HTTP status and the JSON body are picked in
//! one place, `routes::error`). A 500 carries a fixed message and its cause goes to the log.

use std::fmt;

/// One invalid input field, named the way the client wrote it (`holder.code`, `fields.scope`).
pub use crate::wire::FieldError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed or invalid input; the message names the field.
    BadRequest {
        code: &'static str,
        message: String,
    },
    /// 400 with every failing field listed.
    InvalidFields(Vec<FieldError>),
    Unauthorized(String),
    /// 401 with its own code (`totp_required`, `totp_invalid`).
    Unauthenticated {
        code: &'static str,
        message: String,
    },
    Forbidden(String),
    /// 403 with its own code (`password_change_required`, ...).
    ForbiddenCode {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    Conflict {
        code: &'static str,
        message: String,
    },
    PayloadTooLarge(String),
    UnsupportedMediaType(String),
    /// 422: well-formed but refused by a rule.
    Unprocessable {
        code: &'static str,
        message: String,
    },
    TooManyRequests {
        message: String,
        retry_after_s: Option<u64>,
    },
    Unavailable {
        code: &'static str,
        message: String,
    },
    /// 503 `busy` with `Retry-After`: a bounded resource is taken, come back shortly.
    Busy {
        message: String,
        retry_after_s: u64,
    },
    /// 500: a bug. The cause is logged, never sent.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(message.into())
    }
    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::InvalidFields(_) => "invalid_input",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Unauthenticated { code, .. } => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::ForbiddenCode { code, .. } => code,
            ApiError::Busy { .. } => "busy",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::Unprocessable { message, .. }
            | ApiError::Unavailable { message, .. }
            | ApiError::Unauthenticated { message, .. }
            | ApiError::ForbiddenCode { message, .. }
            | ApiError::Busy { message, .. }
            | ApiError::TooManyRequests { message, .. } => message.clone(),
            ApiError::InvalidFields(fields) => fields
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMediaType(m) => m.clone(),
            ApiError::Internal(_) => "internal error; it has been logged".to_string(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(cause) => write!(f, "internal error: {cause}"),
            other => write!(f, "{}: {}", other.code(), other.message()),
        }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match e {
            StorageError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "database unavailable");
                ApiError::Unavailable {
                    code: "database_unavailable",
                    message: "the database cannot be reached; try again shortly".into(),
                }
            }
            StorageError::StorageFull(cause) => {
                tracing::error!(cause = %cause, "database disk full");
                ApiError::Unavailable {
                    code: "storage_full",
                    message: "the database's disk is full: nothing was written; try again once space is freed".into(),
                }
            }
            StorageError::NotFound(what) => ApiError::NotFound(what),
            StorageError::Conflict(what) => ApiError::conflict("conflict", what),
            other => ApiError::internal(other),
        }
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("blocking task failed: {e}"))
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError as A;
        match e {
            A::BadCredentials => ApiError::Unauthorized("wrong username or password".into()),
            A::Throttled { retry_after_s } => ApiError::TooManyRequests {
                message: format!(
                    "too many failed logins from this address; try again in {retry_after_s} s"
                ),
                retry_after_s: Some(retry_after_s),
            },
            A::Busy { retry_after_s } => ApiError::Busy {
                message: "too many sign-ins at once; try again in a moment".into(),
                retry_after_s,
            },
            A::TotpRequired => ApiError::Unauthenticated {
                code: "totp_required",
                message: "totp: the second-factor code (or a recovery code) is required".into(),
            },
            A::TotpInvalid => ApiError::Unauthenticated {
                code: "totp_invalid",
                message: "totp: the code is wrong or was used already".into(),
            },
            A::PasswordChangeRequired => ApiError::ForbiddenCode {
                code: "password_change_required",
                message: "choose a new password first: POST /api/v1/me/password".into(),
            },
            A::TotpEnrolmentRequired => ApiError::ForbiddenCode {
                code: "totp_enrolment_required",
                message:
                    "this role signs in with a second factor; enrol first: POST /api/v1/me/totp"
                        .into(),
            },
            A::WrongCurrentPassword => ApiError::ForbiddenCode {
                code: "wrong_current_password",
                message: "current_password: does not match".into(),
            },
            A::NoTotpPending => ApiError::conflict(
                "no_totp_pending",
                "no enrolment is pending; start one with POST /api/v1/me/totp",
            ),
            A::Refused(m) => ApiError::conflict("refused", m),
            A::UnknownUser(u) => ApiError::not_found(format!("no user named {u}")),
            A::Blocking(cause) => ApiError::internal(cause),
            A::Invalid { field, message } => {
                ApiError::bad_request("invalid_input", format!("{field}: {message}"))
            }
            A::UnknownHall(code) => {
                ApiError::bad_request("unknown_hall", format!("hall: no hall with code {code}"))
            }
            A::UsernameTaken(u) => {
                ApiError::conflict("username_taken", format!("username: {u} is taken"))
            }
            A::Hashing(cause) => ApiError::internal(cause),
            A::Storage(s) => s.into(),
        }
    }
}

impl From<crate::distribution::halls::HallError> for ApiError {
    fn from(e: crate::distribution::halls::HallError) -> Self {
        use crate::distribution::halls::HallError as H;
        match e {
            H::Invalid(fields) => ApiError::InvalidFields(
                fields
                    .into_iter()
                    .map(|(field, message)| FieldError {
                        message: format!("{field}: {message}"),
                        field,
                        code: "invalid".into(),
                    })
                    .collect(),
            ),
            H::Exists(code) => ApiError::conflict(
                "hall_exists",
                format!("code: a hall with code {code} already exists"),
            ),
            H::NotFound(code) => ApiError::not_found(format!("no hall with code {code}")),
            H::NotPartner(code) => ApiError::unprocessable(
                "not_a_partner",
                format!("the hall {code} is not a partner hall; only partners have agreements"),
            ),
            H::Storage(s) => s.into(),
        }
    }
}

impl From<crate::registration::RegistrationError> for ApiError {
    fn from(e: crate::registration::RegistrationError) -> Self {
        use crate::registration::RegistrationError as R;
        match e {
            R::BadTypeCode(m) => ApiError::InvalidFields(vec![FieldError {
                field: "type_code".into(),
                code: "unknown_type".into(),
                message: format!("type_code: {m}"),
            }]),
            R::Invalid(fields) => ApiError::InvalidFields(
                fields
                    .into_iter()
                    .map(|f| FieldError {
                        field: f.field,
                        code: f.code.to_string(),
                        message: f.message,
                    })
                    .collect(),
            ),
            R::Forbidden(m) => ApiError::forbidden(m),
            R::NotFound(id) => ApiError::not_found(format!("no licence with id {id}")),
            R::NoSigner(reason) => ApiError::Unavailable {
                code: "no_signer",
                message: format!("licences cannot be sealed now: {reason}"),
            },
            R::Transition(t) => ApiError::conflict("invalid_transition", t.to_string()),
            R::NotChangeable(status) => ApiError::conflict(
                "invalid_transition",
                format!("only a valid licence can be changed; this one is {status}"),
            ),
            R::IdempotencyMismatch => ApiError::conflict(
                "idempotency_key_reused",
                "the Idempotency-Key was already used with another request body",
            ),
            R::NumbersExhausted(code) => ApiError::unprocessable(
                "numbers_exhausted",
                format!("the licence numbers of type {code} at this authority are exhausted"),
            ),
            R::Seal(s) => ApiError::internal(s),
            R::Document(d) => d.into(),
            R::Storage(s) => s.into(),
        }
    }
}

impl From<crate::documents::DocumentError> for ApiError {
    fn from(e: crate::documents::DocumentError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::distribution::routing::RoutingError> for ApiError {
    fn from(e: crate::distribution::routing::RoutingError) -> Self {
        use crate::distribution::routing::RoutingError as R;
        match e {
            R::Invalid { field, message } => {
                ApiError::bad_request("invalid_query", format!("{field}: {message}"))
            }
            R::Storage(s) => s.into(),
        }
    }
}

impl From<crate::distribution::stock::StockError> for ApiError {
    fn from(e: crate::distribution::stock::StockError) -> Self {
        use crate::distribution::stock::StockError as S;
        let message = e.to_string();
        match e {
            S::Invalid { .. } => ApiError::bad_request("invalid_input", message),
            S::UnknownHall(_) => ApiError::bad_request("unknown_hall", message),
            S::HallNotFound(_) => ApiError::not_found(message),
            S::Forbidden(_) => ApiError::forbidden(message),
            S::Overlap { .. } => ApiError::conflict("batch_overlaps", message),
            S::NotInStock { .. } => ApiError::unprocessable("serial_not_in_stock", message),
            S::AlreadyUsed { .. } => ApiError::conflict("serial_used", message),
            S::Storage(s) => s.into(),
        }
    }
}

impl From<crate::distribution::jobs::JobError> for ApiError {
    fn from(e: crate::distribution::jobs::JobError) -> Self {
        use crate::distribution::jobs::JobError as J;
        let message = e.to_string();
        match e {
            J::Invalid { .. } => ApiError::bad_request("invalid_input", message),
            J::UnknownHall(_) => ApiError::bad_request("unknown_hall", message),
            J::NotFound(_) => ApiError::not_found(message),
            J::Forbidden(_) => ApiError::forbidden(message),
            J::Refused { rule, message } => ApiError::unprocessable(rule.code(), message),
            J::Transition(_) => ApiError::conflict("invalid_transition", message),
            J::NotPrinted(_) => ApiError::conflict("job_not_printed", message),
            J::PickupLicenceNotValid(_) => ApiError::conflict("licence_not_valid", message),
            J::PickupLocked => ApiError::TooManyRequests {
                message,
                retry_after_s: None,
            },
            J::WrongPickupCode { .. } => ApiError::unprocessable("wrong_pickup_code", message),
            J::UnknownPickupCode => ApiError::unprocessable("unknown_pickup_code", message),
            J::Stock(s) => s.into(),
            J::Render(r) => r.into(),
            J::Storage(s) => s.into(),
        }
    }
}

impl From<crate::distribution::protocol::ProtocolError> for ApiError {
    fn from(e: crate::distribution::protocol::ProtocolError) -> Self {
        use crate::distribution::protocol::ProtocolError as P;
        use crate::distribution::stock::StockError as S;
        let message = e.to_string();
        match e {
            P::Invalid { .. } => ApiError::bad_request("invalid_input", message),
            P::MissingLeaseToken => ApiError::bad_request("missing_lease_token", message),
            P::NotFound(_) => ApiError::not_found(message),
            P::Forbidden(_) => ApiError::forbidden(message),
            P::StaleLease(_) => ApiError::conflict("stale_lease", message),
            P::LeaseExpired(_) => ApiError::conflict("lease_expired", message),
            P::LicenceNotValid(_) => ApiError::unprocessable("licence_not_valid", message),
            P::SeqReused { .. } => ApiError::conflict("report_seq_reused", message),
            P::VoidedSheetsRequired(_) => {
                ApiError::unprocessable("voided_sheets_required", message)
            }
            P::NoHeldJob => ApiError::not_found(message),
            P::ReleaseLocked => ApiError::TooManyRequests {
                message,
                retry_after_s: None,
            },
            // The agent protocol names the refusal after what the agent did wrong.
            P::Stock(S::NotInStock { .. }) => {
                ApiError::unprocessable("serial_not_registered", message)
            }
            P::Stock(s) => s.into(),
            P::Job(j) => j.into(),
            P::Storage(s) => s.into(),
        }
    }
}

impl From<crate::dept::DeptError> for ApiError {
    fn from(e: crate::dept::DeptError) -> Self {
        use crate::dept::DeptError as D;
        let message = e.to_string();
        match e {
            D::Invalid { .. } => ApiError::bad_request("invalid_input", message),
            D::BadHolderCode { .. } => ApiError::unprocessable("invalid_holder_code", message),
            D::UnknownType { .. } => ApiError::unprocessable("unknown_type", message),
            D::Refused { .. } => ApiError::unprocessable("refused", message),
            D::NotGranted(_) => ApiError::ForbiddenCode {
                code: "type_not_granted",
                message,
            },
            D::Forbidden(m) => ApiError::forbidden(m),
            D::NotFound(m) => ApiError::not_found(m),
            D::NoShare => ApiError::NotFound(
                "no share matches this share code and holder code; check both, or ask the \
                 holder for a new code"
                    .into(),
            ),
            D::Throttled { retry_after_s } => ApiError::TooManyRequests {
                message: format!(
                    "too many wrong share lookups from this address or for this code; try \
                     again in {retry_after_s} s"
                ),
                retry_after_s: Some(retry_after_s),
            },
            D::Storage(s) => s.into(),
        }
    }
}
