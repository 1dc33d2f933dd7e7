//! Print jobs: queue, read, list, cancel, reroute, unlock pickup; and pickups.

use crate::accounts::Staff;
use crate::distribution::jobs::{self, JobContext};
use crate::error::ApiError;
use crate::routes::body;
use crate::state::AppState;
use crate::wire::print_jobs::*;
use actix_web::{get, post, web, HttpResponse};
use serde_json::Value;

#[utoipa::path(tag = "print jobs", security(("staff" = [])), request_body = QueuePrintJobRequest, responses((status = 201, body = QueuedPrintJob)))]
#[post("/api/v1/print-jobs")]
pub async fn queue_print_job(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: QueuePrintJobRequest = body::from_value(&body)?;
    let st = state.clone();
    let queued = state
        .db(move |conn| {
            let ctx = JobContext {
                catalog: &st.catalog,
                fonts: &st.fonts,
                public_url: &st.settings.public_url,
                pickup_key: &st.pickup_key,
                now: st.now(),
            };
            jobs::queue_job(conn, &ctx, &staff, &body)
        })
        .await?;
    // Shown this once: only its hash is stored.
    Ok(HttpResponse::Created().json(QueuedPrintJob {
        job: queued.job,
        pickup_code: queued.pickup_code,
        tracking_url: queued.tracking_url,
    }))
}

#[utoipa::path(tag = "print jobs", security(("staff" = [])), params(PrintJobsQuery), responses((status = 200, body = Vec<PrintJobSummary>)))]
#[get("/api/v1/print-jobs")]
pub async fn list_print_jobs(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<PrintJobsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let list = state
        .db(move |conn| {
            jobs::list_jobs(
                conn,
                &staff,
                q.hall.as_deref(),
                q.state.as_deref(),
                q.limit.as_deref(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(tag = "print jobs", security(("staff" = [])), responses((status = 200, body = PrintJob)))]
#[get("/api/v1/print-jobs/{id}")]
pub async fn get_print_job(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    let today = state.now().date_naive();
    let job = state
        .db(move |conn| jobs::get_job(conn, &st.catalog, &staff, &id, today))
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// `cancel` `{reason}`, `reroute` `{hall}`, `unlock-pickup`, `requeue`, `resolve`: each
/// answers the job.
#[utoipa::path(tag = "print jobs", security(("staff" = [])), params(("id" = String, Path), ("action" = PrintJobActionName, Path)), request_body(content = Option<serde_json::Value>, description = "cancel: CancelRequest; reroute: RerouteRequest; resolve: ResolveRequest; unlock-pickup and requeue: none"), responses((status = 200, body = PrintJob)))]
#[post("/api/v1/print-jobs/{id}/{action}")]
pub async fn change_print_job(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    // unlock-pickup and requeue need no body; the others are checked field by field.
    let body: Value = body::json_value(&body)?;
    let now = state.now();
    let st = state.clone();
    let job = state
        .db(move |conn| {
            let row = match action.as_str() {
                "cancel" => {
                    let req: CancelRequest = body::from_value(&body)?;
                    jobs::cancel_job(conn, &staff, &id, &req, now)?
                }
                "reroute" => {
                    let req: RerouteRequest = body::from_value(&body)?;
                    jobs::reroute_job(conn, &st.catalog, &staff, &id, &req, now)?
                }
                "unlock-pickup" => jobs::unlock_pickup(conn, &staff, &id, now)?,
                "requeue" => jobs::requeue_job(conn, &staff, &id, now)?,
                "resolve" => {
                    let req: ResolveRequest = body::from_value(&body)?;
                    crate::distribution::protocol::resolve_job(conn, &staff, &id, &req, now)?
                }
                other => return Err(ApiError::not_found(format!("no print job action {other}"))),
            };
            // Rerouted, requeued or resolved for a reprint: the action noted the hall, and
            // `AppState::db` wakes its agents after the commit.
            jobs::detail(conn, &st.catalog, &row, now.date_naive()).map_err(ApiError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(job))
}

/// `POST /api/v1/pickups` `{job_id, pickup_code, recipient_code}`; without `job_id`, the
/// operator's own hall's printed job with that pickup code.
#[utoipa::path(tag = "print jobs", security(("staff" = [])), request_body = PickupRequest, responses((status = 200, description = "the job, collected", body = PrintJob)))]
#[post("/api/v1/pickups")]
pub async fn pick_up(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: PickupRequest = body::from_value(&body)?;
    let now = state.now();
    let st = state.clone();
    let job = state
        .db(move |conn| {
            let row = jobs::pickup(conn, &staff, &body, &st.pickup_key, now)?;
            jobs::detail(conn, &st.catalog, &row, now.date_naive()).map_err(ApiError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(job))
}
