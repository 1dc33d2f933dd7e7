//! Security stock: `POST /api/v1/stock-batches` (admin). The inventory is under halls
//! (`GET /api/v1/halls/{code}/stock`).

use crate::accounts::Staff;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::stock::*;
use actix_web::{post, web, HttpResponse};
use serde_json::Value;

#[utoipa::path(tag = "halls", security(("staff" = [])), request_body = RegisterBatchRequest, responses((status = 201, body = BatchView)))]
#[post("/api/v1/stock-batches")]
pub async fn register_stock_batch(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    crate::distribution::stock::may_register(&staff)?;
    let body: RegisterBatchRequest = crate::routes::body::from_value(&body)?;
    let now = state.now();
    let batch = state
        .db(move |conn| crate::distribution::stock::register_batch(conn, &staff, &body, now))
        .await?;
    Ok(HttpResponse::Created().json(batch))
}
