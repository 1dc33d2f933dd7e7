//! Operations: liveness, readiness, Prometheus metrics. No authentication.

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::ops::*;
use actix_web::{get, web, HttpResponse};

#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "alive".into(),
    })
}

/// Ready when the database answers and a signer may seal now. Without a signer the service
/// still verifies, but it says so here.
#[utoipa::path(tag = "operations", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let db = web::block(move || crate::storage::ping(&pool)).await?;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    let keys = state.sealer.keys();
    let signer = keys.active_signer(state.now());
    let checks = ReadyChecks {
        database: if db.is_ok() { "ok" } else { "unreachable" }.into(),
        signer: if signer.is_ok() {
            "ok"
        } else {
            "none_in_signing_period"
        }
        .into(),
    };
    let ready_signer = signer.as_ref().ok().and_then(|s| {
        s.custody().map(|custody| ReadySigner {
            kid: hex::encode(s.kid),
            custody,
            example: keys.is_example(),
        })
    });
    Ok(match (&db, &signer) {
        (Ok(()), Ok(_)) => HttpResponse::Ok().json(Readiness {
            status: Some("ready".into()),
            error: None,
            message: None,
            checks,
            signer: ready_signer,
        }),
        _ => {
            let mut reasons = Vec::new();
            if db.is_err() {
                reasons.push("the database cannot be reached".to_string());
            }
            if let Err(e) = &signer {
                reasons.push(e.to_string());
            }
            HttpResponse::ServiceUnavailable().json(Readiness {
                status: None,
                error: Some("not_ready".into()),
                message: Some(reasons.join("; ")),
                checks,
                signer: ready_signer,
            })
        }
    })
}

#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text: http_requests_total, http_request_duration_seconds, db_statements_total", content_type = "text/plain", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
