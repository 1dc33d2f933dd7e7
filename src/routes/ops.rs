//! Operations: liveness, readiness, Prometheus metrics. No authentication.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "alive"}))
}

/// Ready when the database answers (and, once keys are loaded, when a signer can seal).
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let db = web::block(move || crate::storage::ping(&pool)).await?;
    match db {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "checks": {"database": "ok"},
        }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            Ok(HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": "not_ready",
                "message": "the database cannot be reached",
                "checks": {"database": "unreachable"},
            })))
        }
    }
}

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
