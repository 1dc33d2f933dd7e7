//! Operations: liveness, readiness, Prometheus metrics. No authentication.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "alive"}))
}

/// Ready when the database answers and a signer may seal now. Without a signer the service
/// still verifies, but it says so here.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let db = web::block(move || crate::storage::ping(&pool)).await?;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let signer = state.sealer.keys().active_signer(state.now());
    let checks = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "signer": if signer.is_ok() { "ok" } else { "none_in_signing_period" },
    });
    Ok(match (&db, &signer) {
        (Ok(()), Ok(_)) => {
            HttpResponse::Ok().json(serde_json::json!({"status": "ready", "checks": checks}))
        }
        _ => {
            let mut reasons = Vec::new();
            if db.is_err() {
                reasons.push("the database cannot be reached".to_string());
            }
            if let Err(e) = &signer {
                reasons.push(e.to_string());
            }
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": "not_ready",
                "message": reasons.join("; "),
                "checks": checks,
            }))
        }
    })
}

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
