//! Operations: liveness, readiness, Prometheus metrics. No authentication.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "alive"}))
}

/// `/readyz`'s `signer`: the signer that seals now and who holds its key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadySigner {
    pub kid: String,
    pub custody: crate::issuance::Custody,
    /// The example key set (demos and tests only).
    pub example: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadyChecks {
    pub database: String,
    pub signer: String,
}

/// The body of `/readyz`: 200 `{status: "ready", checks, signer}`, 503 the error shape
/// `{error: "not_ready", message, checks, signer}` (`signer` null when none may seal).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

/// Ready when the database answers and a signer may seal now. Without a signer the service
/// still verifies, but it says so here.
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

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
