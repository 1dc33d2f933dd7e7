//! Halls: `GET /api/v1/halls` (staff), and the admin routes that add and change halls and
//! partner agreements.

use crate::accounts::Staff;
use crate::distribution::halls as service;
use crate::domain::hall::{Agreement, Hall};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::state::AppState;
use crate::wire::halls::{HallsQuery, RoutedHall};
use crate::wire::stock::Inventory;
use actix_web::{get, post, put, web, HttpResponse};

/// Every hall; with `cert_type` (and `near=LAT,LON`), the halls able to print that type
/// now, nearest first, each with `distance_km`.
#[utoipa::path(tag = "halls", security(("staff" = [])), params(HallsQuery), responses((status = 200, description = "every hall, or with cert_type those able to print it now (with near: nearest first, each with distance_km)", body = Vec<RoutedHall>)))]
#[get("/api/v1/halls")]
pub async fn list_halls(
    state: web::Data<AppState>,
    _staff: Staff,
    query: web::Query<HallsQuery>,
) -> Result<HttpResponse, ApiError> {
    let HallsQuery { cert_type, near } = query.into_inner();
    if cert_type.is_none() && near.is_none() {
        let halls = state.db(crate::storage::halls::list_halls).await?;
        return Ok(HttpResponse::Ok().json(halls));
    }
    let st = state.clone();
    let today = state.now().date_naive();
    let halls = state
        .db(move |conn| {
            crate::distribution::routing::printable_halls(
                conn,
                &st.catalog,
                cert_type.as_deref(),
                near.as_deref(),
                today,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(halls))
}

/// `GET /api/v1/halls/{code}/stock`: the hall's security stock inventory.
#[utoipa::path(tag = "halls", security(("staff" = [])), responses((status = 200, body = Inventory)))]
#[get("/api/v1/halls/{code}/stock")]
pub async fn hall_stock(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let inventory = state
        .db(move |conn| crate::distribution::stock::inventory(conn, &staff, &code))
        .await?;
    Ok(HttpResponse::Ok().json(inventory))
}

#[utoipa::path(tag = "halls", security(("staff" = [])), request_body = Hall, responses((status = 201, body = Hall)))]
#[post("/api/v1/halls")]
pub async fn create_hall(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<Hall>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let hall = body.into_inner();
    let now = state.now();
    let created = hall.clone();
    state
        .db(move |conn| service::create_hall(conn, &hall, &staff.username, now))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(tag = "halls", security(("staff" = [])), request_body = Hall, responses((status = 200, body = Hall)))]
#[put("/api/v1/halls/{code}")]
pub async fn update_hall(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<Hall>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let hall = body.into_inner();
    if hall.code != *path {
        return Err(ApiError::bad_request(
            "invalid_input",
            "code: must equal the code in the path",
        ));
    }
    let now = state.now();
    let updated = hall.clone();
    state
        .db(move |conn| service::update_hall(conn, &hall, &staff.username, now))
        .await?;
    // A deactivated hall's agents are refused at once here (other processes: NOTIFY).
    state.agent_auth.invalidate();
    Ok(HttpResponse::Ok().json(updated))
}

#[utoipa::path(tag = "halls", security(("staff" = [])), request_body = Agreement, responses((status = 200, body = Hall)))]
#[put("/api/v1/halls/{code}/agreement")]
pub async fn update_agreement(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<Agreement>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let code = path.into_inner();
    let agreement = body.into_inner();
    let now = state.now();
    let hall = state
        .db(move |conn| service::set_agreement(conn, &code, &agreement, &staff.username, now))
        .await?;
    Ok(HttpResponse::Ok().json(hall))
}
