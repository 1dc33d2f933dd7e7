//! `POST /api/v1/sessions` (sign in) and `DELETE /api/v1/sessions` (sign out).

use crate::accounts::{self, Credentials};
use crate::error::ApiError;
use crate::routes::auth::SignedIn;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use actix_web::{delete, post, web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: String,
    /// A current TOTP code or an unused recovery code, for accounts with a second factor.
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct SessionUser {
    pub username: String,
    pub role: crate::domain::role::Role,
    pub hall: String,
}

#[derive(Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: String,
    pub user: SessionUser,
    /// The API refuses other calls (403) until `POST /api/v1/me/password`.
    pub must_change_password: bool,
    /// The API refuses other calls (403) until the second factor is enrolled.
    pub totp_enrolment_required: bool,
}

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
        &state,
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
