//! The catalog: `GET /api/v1/cert-types` and `GET /api/v1/cert-types/{code}` (staff).

use crate::accounts::Staff;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::catalog::*;
use crate::wire::licences::Record;
use actix_web::{get, post, web, HttpResponse};

#[utoipa::path(tag = "catalog", security(("staff" = [])), responses((status = 200, body = Vec<CertTypeSummary>)))]
#[get("/api/v1/cert-types")]
pub async fn list_cert_types(state: web::Data<AppState>, _staff: Staff) -> HttpResponse {
    let list: Vec<_> = state.catalog.types().iter().map(|t| t.summary()).collect();
    HttpResponse::Ok().json(list)
}

#[utoipa::path(tag = "catalog", security(("staff" = [])), responses((status = 200, body = CertTypeDetail)))]
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

/// A specimen (样本) PDF from an example-shaped record: 400 naming the field when the record
/// breaks a rule, 404 for an unknown type.
#[utoipa::path(tag = "catalog", security(("staff" = [])), request_body = Record, responses((status = 200, description = "a specimen PDF (样本 watermark, a dummy QR)", content_type = "application/pdf", body = Vec<u8>)))]
#[post("/api/v1/cert-types/{code}/preview")]
pub async fn preview_cert_type(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    if state.catalog.get(&code).is_none() {
        return Err(ApiError::not_found(format!(
            "no certificate type with code {code}"
        )));
    }
    let body = body.into_inner();
    let st = state.clone();
    let pdf = state
        .db(move |conn| {
            let t = st
                .catalog
                .get(&code)
                .ok_or_else(|| ApiError::not_found("no such type"))?;
            let record = t
                .validate(&body)
                .map_err(crate::registration::RegistrationError::Invalid)?;
            // The staff member's own authority, when their hall issues; else a neutral label.
            let authority = crate::storage::halls::find_hall(conn, &staff.hall_code)?
                .and_then(|h| h.authority.map(|a| a.name))
                .unwrap_or_else(|| "发证机关（样本）".to_string());
            let pdf = crate::documents::render_specimen(
                &st.fonts,
                &st.catalog,
                t,
                &record,
                &authority,
                st.now().date_naive(),
            )?;
            Ok::<_, ApiError>(pdf)
        })
        .await?;
    Ok(HttpResponse::Ok().content_type("application/pdf").body(pdf))
}
