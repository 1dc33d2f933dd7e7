//! Hall agent routes (the "Hall agents" operations of the OpenAPI document; docs/architecture.md, "The hall agent"): claim (long-poll), document, heartbeat, report,
//! void spoiled sheets, reconcile. The caller is a hall (`AgentHall`); another hall's job
//! answers 404.

use crate::distribution::protocol;
use crate::error::ApiError;
use crate::routes::auth::AgentHall;
use crate::state::AppState;
use actix_web::{get, http::StatusCode, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

/// A JSON body, or `null` when there is none (claim takes its defaults).
fn json_body(body: &web::Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })
}

#[post("/api/v1/agent/claim")]
pub async fn claim(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let answer = protocol::claim(&state, &agent.hall_code, &body).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The lease token travels in the `Lease-Token` header; missing: 400 `missing_lease_token`.
#[get("/api/v1/agent/jobs/{id}/document")]
pub async fn document(
    state: web::Data<AppState>,
    agent: AgentHall,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let token = req
        .headers()
        .get("Lease-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let now = state.now();
    let pdf = state
        .db(move |conn| protocol::document(conn, &agent.hall_code, &id, token.as_deref(), now))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Cache-Control", "no-store"))
        .body(pdf))
}

#[post("/api/v1/agent/jobs/{id}/heartbeat")]
pub async fn heartbeat(
    state: web::Data<AppState>,
    agent: AgentHall,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, body, now) = (path.into_inner(), json_body(&body)?, state.now());
    let answer = state
        .db(move |conn| protocol::heartbeat(conn, &agent.hall_code, &id, &body, now))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[post("/api/v1/agent/jobs/{id}/report")]
pub async fn report(
    state: web::Data<AppState>,
    agent: AgentHall,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, body, now) = (path.into_inner(), json_body(&body)?, state.now());
    let answer = state
        .db(move |conn| protocol::report(conn, &agent.hall_code, &id, &body, now))
        .await?;
    if let Some(hall) = &answer.requeued_hall {
        state.wakeups.wake(hall);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    Ok(HttpResponse::build(status).json(answer.body))
}

#[post("/api/v1/agent/sheets/void")]
pub async fn void_sheets(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (body, now) = (json_body(&body)?, state.now());
    let answer = state
        .db(move |conn| protocol::void_sheets(conn, &agent.hall_code, &body, now))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[post("/api/v1/agent/reconcile")]
pub async fn reconcile(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let answer = state
        .db(move |conn| protocol::reconcile(conn, &agent.hall_code, &body))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
