//! `POST /api/v1/sessions` (sign in) and `DELETE /api/v1/sessions` (sign out).

use crate::accounts::{self, Credentials};
use crate::error::ApiError;
use crate::routes::auth::SignedIn;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::wire::accounts::*;
use actix_web::{delete, post, web, HttpResponse};

#[utoipa::path(tag = "staff", request_body = LoginRequest, responses((status = 200, body = LoginResponse)))]
#[post("/api/v1/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    ip: ClientIp,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        username,
        password,
        totp,
    } = body.into_inner();
    let o = accounts::login(
        &state.login_context(),
        Credentials {
            username,
            password,
            totp,
        },
        ip.0,
    )
    .await?;
    Ok(HttpResponse::Ok().json(LoginResponse {
        token: o.token,
        expires_at: o
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        user: SessionUser {
            username: o.staff.username,
            role: o.staff.role,
            hall: o.staff.hall_code,
        },
        must_change_password: o.must_change_password,
        totp_enrolment_required: o.totp_enrolment_required,
    }))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 204, description = "signed out")))]
#[delete("/api/v1/sessions")]
pub async fn delete_session(
    state: web::Data<AppState>,
    me: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let SignedIn { auth, token } = me;
    state
        .db(move |conn| accounts::logout(conn, &token, &auth.staff.username, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
