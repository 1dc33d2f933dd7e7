//! Hall agent routes (the "Hall agents" operations of the OpenAPI document; docs/architecture.md, "The hall agent"): claim (long-poll), document, heartbeat, report,
//! void spoiled sheets, reconcile. The caller is a hall (`AgentHall`); another hall's job
//! answers 404.

use crate::distribution::protocol;
use crate::domain::job::AgentKind;
use crate::error::ApiError;
use crate::routes::auth::AgentHall;
use crate::routes::body;
use crate::state::AppState;
use crate::wire::agent::*;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use std::time::Instant;

#[utoipa::path(tag = "agent", security(("agent" = [])), request_body(content = Option<ClaimRequest>, description = "may be empty: max 1, wait_s 0"), responses((status = 200, body = ClaimResponse)))]
#[post("/api/v1/agent/claim")]
pub async fn claim(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if agent.kind == AgentKind::Kiosk {
        return Err(ApiError::forbidden(
            "a kiosk token does not claim the hall's queue: it releases held jobs with POST /api/v1/agent/release",
        ));
    }
    let limits = protocol::ClaimLimits::from_request(&body::parse_or_default(&body)?)?;
    let answer = long_poll_claim(&state, &agent.hall_code, limits).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Answers at once when jobs wait, else waits for a wake-up of the hall (or the slow
/// fallback poll) until `wait_s` passes. While waiting it holds no connection and no thread:
/// only a `Notified` future. Each look is one `protocol::claim_once`, except that a long poll
/// skips the look while the hall's last look found its queue empty and nothing has woken the
/// hall since (`wakeup::JobWakeups::before_look`): idle halls cost no query per claim.
async fn long_poll_claim(
    state: &AppState,
    hall: &str,
    limits: protocol::ClaimLimits,
) -> Result<ClaimResponse, ApiError> {
    let deadline = Instant::now() + std::time::Duration::from_secs(limits.wait_s);
    let notify = state.wakeups.for_hall(hall);
    let none = || ClaimResponse { jobs: Vec::new() };
    loop {
        // Registered before the look, so a job queued between the look and the wait wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // A claim that does not wait looks in any case: a job queued by another process may
        // not have woken this one yet.
        let before = state.wakeups.before_look(hall, Instant::now());
        if limits.wait_s == 0 || !before.known_empty {
            let (h, now) = (hall.to_string(), state.now());
            let claimed = state
                .db(move |conn| protocol::claim_once(conn, &h, limits.max, now))
                .await?;
            match claimed {
                protocol::Claimed::Jobs(jobs) if !jobs.is_empty() => {
                    let url = &state.settings.public_url;
                    let jobs = jobs.iter().map(|c| c.to_wire(url)).collect();
                    return Ok(ClaimResponse { jobs });
                }
                protocol::Claimed::QueueEmpty => {
                    state
                        .wakeups
                        .found_empty(hall, before.generation, Instant::now())
                }
                protocol::Claimed::Jobs(_) => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(none());
        }
        let woken = tokio::select! {
            _ = &mut notified => true,
            _ = tokio::time::sleep(left.min(protocol::POLL_FALLBACK)) => false,
        };
        if !woken && Instant::now() >= deadline {
            return Ok(none());
        }
    }
}

/// A holder at a kiosk releases their held (self-service) job: the answer is the job and a
/// lease exactly like a claim's (`jobs` holds that one job). Kiosk tokens only (403);
/// wrong codes and another hall's job answer the same 404; a job locked after 5 wrong
/// tries answers 429 until staff unlock it.
#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = ReleaseRequest, responses((status = 200, body = ClaimResponse)))]
#[post("/api/v1/agent/release")]
pub async fn release(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let kiosk_id = match (agent.kind, agent.token_id) {
        (AgentKind::Kiosk, Some(id)) => id,
        _ => {
            return Err(ApiError::forbidden(
                "only a kiosk token (crosscert admin agent-token --kiosk) releases held jobs",
            ))
        }
    };
    let body: ReleaseRequest = body::parse(&body)?;
    let (now, st) = (state.now(), state.clone());
    let leased = state
        .db(move |conn| {
            protocol::release(conn, &agent.hall_code, kiosk_id, &body, &st.pickup_key, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(ClaimResponse {
        jobs: vec![leased.to_wire(&state.settings.public_url)],
    }))
}

/// The lease token travels in the `Lease-Token` header; missing: 400 `missing_lease_token`.
#[utoipa::path(tag = "agent", security(("agent" = [])), params(("Lease-Token" = String, Header, description = "the lease token the claim returned")), responses((status = 200, description = "the stored print-ready PDF, one page per copy", content_type = "application/pdf", body = Vec<u8>)))]
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

#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = HeartbeatRequest, responses((status = 200, body = HeartbeatResponse)))]
#[post("/api/v1/agent/jobs/{id}/heartbeat")]
pub async fn heartbeat(
    state: web::Data<AppState>,
    agent: AgentHall,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: HeartbeatRequest = body::parse(&body)?;
    let (id, now) = (path.into_inner(), state.now());
    let answer = state
        .db(move |conn| protocol::heartbeat(conn, &agent.hall_code, &id, &body, now))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = ReportRequest, responses((status = 200, body = ReportResponse)))]
#[post("/api/v1/agent/jobs/{id}/report")]
pub async fn report(
    state: web::Data<AppState>,
    agent: AgentHall,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: ReportRequest = body::parse(&body)?;
    let (id, now) = (path.into_inner(), state.now());
    let answer = state
        .db(move |conn| protocol::report(conn, &agent.hall_code, &id, &body, now))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = VoidSheetsRequest, responses((status = 200, body = VoidSheetsResponse)))]
#[post("/api/v1/agent/sheets/void")]
pub async fn void_sheets(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (body, now): (VoidSheetsRequest, _) = (body::parse(&body)?, state.now());
    let answer = state
        .db(move |conn| protocol::void_sheets(conn, &agent.hall_code, &body, now))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "agent", security(("agent" = [])), request_body = ReconcileRequest, responses((status = 200, body = ReconcileResponse)))]
#[post("/api/v1/agent/reconcile")]
pub async fn reconcile(
    state: web::Data<AppState>,
    agent: AgentHall,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: ReconcileRequest = body::parse(&body)?;
    let answer = state
        .db(move |conn| protocol::reconcile(conn, &agent.hall_code, &body))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
