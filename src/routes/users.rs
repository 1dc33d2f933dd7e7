//! Staff accounts (admin only): list, create, change (active, role, hall), reset the
//! password, unlock the login, see and end sessions, reset the second factor.

use crate::accounts::lifecycle::{self, Actor};
use crate::accounts::{self, NewAccount, Staff};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::wire::accounts::*;
use actix_web::{delete, get, patch, post, web, HttpResponse};

fn admin(staff: &Staff, ip: ClientIp) -> Result<Actor, ApiError> {
    require_role(staff, &[Role::Admin])?;
    Ok(Actor {
        name: staff.username.clone(),
        ip: ip.0.to_string(),
    })
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = Vec<UserView>)))]
#[get("/api/v1/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    staff: Staff,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let (throttle, now) = (state.settings.login, state.now());
    let users = state
        .db(move |conn| lifecycle::list_users(conn, throttle, now))
        .await?;
    Ok(HttpResponse::Ok().json(users))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = CreateUserRequest, responses((status = 201, body = CreatedUser)))]
#[post("/api/v1/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let body = body.into_inner();
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_input",
            "role: must be admin, issuer or hall_operator",
        )
    })?;
    accounts::validate_username(&body.username)?;
    accounts::validate_password(&body.password)?;
    let cost = state.settings.password_hash;
    let password = body.password.clone();
    let hash = state
        .hash_gate
        .run(move || accounts::hash_password(&password, cost))
        .await??;
    let now = state.now();
    let (username, hall) = (body.username.clone(), body.hall.clone());
    let id = state
        .db(move |conn| {
            accounts::create_user_hashed(
                conn,
                &NewAccount {
                    username: &body.username,
                    password: &body.password,
                    role,
                    hall_code: &body.hall,
                },
                &hash,
                &staff.username,
                now,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedUser {
        id,
        username,
        role,
        hall,
        active: true,
    }))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = UserPatch, responses((status = 200, body = UserView)))]
#[patch("/api/v1/users/{username}")]
pub async fn update_user(
    state: web::Data<AppState>,
    staff: Staff,
    ip: ClientIp,
    path: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&staff, ip)?;
    let (username, patch, now) = (path.into_inner(), body.into_inner(), state.now());
    let user = state
        .db(move |conn| lifecycle::update_user(conn, &username, &patch, &actor, now))
        .await?;
    Ok(HttpResponse::Ok().json(user))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = TemporaryPassword)))]
#[post("/api/v1/users/{username}/reset-password")]
pub async fn reset_password(
    state: web::Data<AppState>,
    staff: Staff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&staff, ip)?;
    let temporary = lifecycle::temporary_password();
    let (cost, t) = (state.settings.password_hash, temporary.clone());
    let hash = state
        .hash_gate
        .run(move || accounts::hash_password(&t, cost))
        .await??;
    let (username, now) = (path.into_inner(), state.now());
    state
        .db(move |conn| lifecycle::reset_password(conn, &username, &hash, &actor, now))
        .await?;
    Ok(HttpResponse::Ok().json(TemporaryPassword {
        temporary_password: temporary,
    }))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 204, description = "login throttling lifted")))]
#[post("/api/v1/users/{username}/unlock")]
pub async fn unlock_user(
    state: web::Data<AppState>,
    staff: Staff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&staff, ip)?;
    let (username, now) = (path.into_inner(), state.now());
    state
        .db(move |conn| lifecycle::unlock(conn, &username, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = Vec<SessionView>)))]
#[get("/api/v1/users/{username}/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let (username, now) = (path.into_inner(), state.now());
    let sessions = state
        .db(move |conn| lifecycle::list_sessions(conn, &username, now))
        .await?;
    Ok(HttpResponse::Ok().json(sessions))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 204, description = "every session ended")))]
#[delete("/api/v1/users/{username}/sessions")]
pub async fn end_sessions(
    state: web::Data<AppState>,
    staff: Staff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&staff, ip)?;
    let (username, now) = (path.into_inner(), state.now());
    state
        .db(move |conn| lifecycle::end_sessions(conn, &username, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 204, description = "second factor removed")))]
#[delete("/api/v1/users/{username}/totp")]
pub async fn reset_totp(
    state: web::Data<AppState>,
    staff: Staff,
    ip: ClientIp,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&staff, ip)?;
    let (username, now) = (path.into_inner(), state.now());
    state
        .db(move |conn| lifecycle::reset_totp(conn, &username, &actor, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
