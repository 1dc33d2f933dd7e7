//! The holder's tracking status as JSON: `GET /api/v1/track/{token}` (public, rate-limited
//! per client address with the verify routes' limiter). The page `/T/<token>` is `web::tracking`.

use crate::error::ApiError;
use crate::routes::client_ip::client_ip;
use crate::state::AppState;
use crate::wire::tracking::TrackingStatus;
use actix_web::{get, web, HttpRequest, HttpResponse};

/// The verify routes' per-client limit, shared by the tracking page and its JSON.
pub fn check_rate(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    state
        .verify_gate
        .limiter
        .check(client_ip(req), state.now())
        .map_err(|limited| ApiError::TooManyRequests {
            message: "too many requests from this address; slow down".into(),
            retry_after_s: Some(limited.retry_after_s),
        })
}

#[utoipa::path(tag = "public", params(("token" = String, Path, description = "the token of the slip's tracking URL")), responses((status = 200, body = TrackingStatus), (status = 404, description = "no job has this token", body = crate::wire::ErrorBody), (status = 429, description = "too many requests", body = crate::wire::ErrorBody)))]
#[get("/api/v1/track/{token}")]
pub async fn track(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_rate(&state, &req)?;
    let token = path.into_inner();
    let status = state
        .db(move |conn| crate::distribution::tracking::track(conn, &token))
        .await?
        .ok_or_else(|| ApiError::not_found("no print job has this tracking token"))?;
    Ok(HttpResponse::Ok().json(status))
}
