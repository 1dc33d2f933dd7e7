//! The catalog: `GET /api/v1/cert-types` and `GET /api/v1/cert-types/{code}` (staff).

use crate::accounts::Staff;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};

#[get("/api/v1/cert-types")]
pub async fn list_cert_types(state: web::Data<AppState>, _staff: Staff) -> HttpResponse {
    let list: Vec<_> = state.catalog.types().iter().map(|t| t.summary()).collect();
    HttpResponse::Ok().json(list)
}

#[get("/api/v1/cert-types/{code}")]
pub async fn get_cert_type(
    state: web::Data<AppState>,
    _staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let t = state
        .catalog
        .get(&path)
        .ok_or_else(|| ApiError::not_found(format!("no certificate type with code {path}")))?;
    Ok(HttpResponse::Ok().json(t.detail()))
}
