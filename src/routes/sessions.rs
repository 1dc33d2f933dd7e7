//! `POST /api/v1/sessions` (log in) and `DELETE /api/v1/sessions` (log out).

use crate::accounts::{self, Staff};
use crate::error::ApiError;
use crate::routes::auth::bearer_token;
use crate::state::AppState;
use actix_web::{delete, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[post("/api/v1/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let settings = state.settings.clone();
    let now = state.now();
    let pool = state.pool.clone();
    let outcome = web::block(move || {
        let mut conn = pool.get().map_err(|e| accounts::LoginFailure {
            error: accounts::AccountError::Storage(e.into()),
            delay_ms: 0,
        })?;
        accounts::login(
            &mut conn,
            &username,
            &password,
            settings.login,
            settings.password_hash,
            chrono::Duration::minutes(settings.session_ttl_minutes),
            now,
        )
    })
    .await?;
    match outcome {
        Ok(o) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "token": o.token,
            "expires_at": o.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "user": {"username": o.staff.username, "role": o.staff.role, "hall": o.staff.hall_code},
        }))),
        Err(failure) => {
            // Slow repeated guessing down without holding a worker or a thread.
            if failure.delay_ms > 0 {
                actix_web::rt::time::sleep(std::time::Duration::from_millis(failure.delay_ms))
                    .await;
            }
            Err(failure.error.into())
        }
    }
}

#[delete("/api/v1/sessions")]
pub async fn delete_session(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = bearer_token(&req)
        .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
    let now = state.now();
    state
        .db(move |conn| accounts::logout(conn, &token, &staff.username, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
