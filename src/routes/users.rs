//! Staff accounts (admin only): `GET /api/v1/users`, `POST /api/v1/users`.

use crate::accounts::{self, NewAccount, Staff};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::state::AppState;
use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;

#[get("/api/v1/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    staff: Staff,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let rows = state.db(crate::storage::users::list_users).await?;
    let users: Vec<_> = rows
        .into_iter()
        .map(|u| {
            serde_json::json!({
                "id": u.id, "username": u.username, "role": u.role, "hall": u.hall_code,
                "active": u.active, "locked": u.locked_until.is_some(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(users))
}

#[derive(Deserialize)]
pub struct CreateUser {
    username: String,
    password: String,
    role: String,
    hall: String,
}

#[post("/api/v1/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let body = body.into_inner();
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_input",
            "role: must be admin, issuer or hall_operator",
        )
    })?;
    let cost = state.settings.password_hash;
    let now = state.now();
    let (username, hall) = (body.username.clone(), body.hall.clone());
    let id = state
        .db(move |conn| {
            accounts::create_user(
                conn,
                &NewAccount {
                    username: &body.username,
                    password: &body.password,
                    role,
                    hall_code: &body.hall,
                },
                cost,
                &staff.username,
                now,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": id, "username": username, "role": role, "hall": hall, "active": true,
    })))
}
