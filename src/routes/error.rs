//! The one place that turns an `ApiError` into an HTTP status and the JSON error body
//! (`wire::ErrorBody`, API.md "Errors"), and actix's own extractor errors into `ApiError`s
//! that name the field.

use crate::error::ApiError;
use crate::wire::ErrorBody;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// The JSON error body for a status and code, for places outside a handler (middleware).
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "error": code, "message": message }).to_string()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidFields(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::Unauthenticated { .. } => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) | ApiError::ForbiddenCode { .. } => StatusCode::FORBIDDEN,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(cause = %cause, "internal error");
        }
        let body = ErrorBody {
            error: self.code().to_string(),
            message: self.message(),
            fields: match self {
                ApiError::InvalidFields(f) => Some(f.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized(_) | ApiError::Unauthenticated { .. } = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::Busy { retry_after_s, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        if let ApiError::TooManyRequests {
            retry_after_s: Some(s),
            ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        response.json(body)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(format!("blocking task failed: {e}"))
    }
}

/// Map actix's extractor errors (JSON, query, path) to our body, naming the field where serde
/// says which one it was.
pub fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { length, limit } => ApiError::PayloadTooLarge(format!(
            "the body is {length} bytes; the limit is {limit} bytes"
        )),
        E::Overflow { limit } => ApiError::PayloadTooLarge(format!(
            "the body is larger than the limit of {limit} bytes"
        )),
        E::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with Content-Type: application/json".into(),
        ),
        E::Deserialize(e) => ApiError::bad_request("invalid_json", describe_serde(&e)),
        E::Serialize(e) => ApiError::internal(e),
        other => ApiError::bad_request("invalid_body", format!("the body cannot be read: {other}")),
    }
}

fn describe_serde(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("the body is not valid JSON: {e}"),
        Category::Data => format!("the body has an invalid field: {e}"),
        Category::Io => format!("the body cannot be read: {e}"),
    }
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}"))
}

pub fn path_error(err: actix_web::error::PathError) -> ApiError {
    ApiError::bad_request("invalid_path", format!("invalid path parameter: {err}"))
}

pub fn payload_error(err: actix_web::error::PayloadError) -> ApiError {
    use actix_web::error::PayloadError as E;
    match err {
        E::Overflow => ApiError::PayloadTooLarge("the body is larger than the limit".into()),
        other => ApiError::bad_request("invalid_body", format!("the body cannot be read: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn a_full_disk_is_a_503_that_names_the_cause_on_both_backends() {
        for message in [
            "database or disk is full",
            "could not extend file \"base/16384/2619\": No space left on device",
        ] {
            let e = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_string()));
            let api = ApiError::from(crate::storage::StorageError::from(e));
            assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(api.code(), "storage_full");
            assert!(api.message().contains("disk is full"));
        }
        let other = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("syntax error".to_string()),
        );
        let api = ApiError::from(crate::storage::StorageError::from(other));
        assert_eq!(api.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
