//! The signed-in user's own account: change the password, enrol a second factor. These
//! routes take `SignedIn`, so an account that must do one of them first still reaches them.

use crate::accounts::{self, lifecycle, totp};
use crate::error::ApiError;
use crate::routes::auth::SignedIn;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::wire::accounts::*;
use actix_web::{post, web, HttpResponse};

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = PasswordChange, responses((status = 204, description = "changed; other sessions end")))]
#[post("/api/v1/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    me: SignedIn,
    ip: ClientIp,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    change_own_password(
        &state,
        &me.auth.staff,
        &me.token,
        ip,
        current_password,
        new_password,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Shared with the web page: check the current password (off the connection), hash the new
/// one, store it.
pub async fn change_own_password(
    state: &AppState,
    staff: &crate::accounts::Staff,
    session_token: &str,
    ip: ClientIp,
    current: String,
    new: String,
) -> Result<(), ApiError> {
    lifecycle::check_new_password(&current, &new)?;
    let user_id = staff.user_id;
    let phc = state
        .db(move |conn| lifecycle::password_hash_of(conn, user_id))
        .await?;
    let cost = state.settings.password_hash;
    let hash = state
        .hash_gate
        .run(move || {
            if accounts::verify_password(&current, &phc) {
                accounts::hash_password(&new, cost).map(Some)
            } else {
                Ok(None)
            }
        })
        .await??
        .ok_or(accounts::AccountError::WrongCurrentPassword)?;
    let (username, token, now) = (
        staff.username.clone(),
        session_token.to_string(),
        state.now(),
    );
    let ip = ip.0.to_string();
    state
        .db(move |conn| {
            lifecycle::change_own_password(conn, user_id, &username, &hash, &token, &ip, now)
        })
        .await
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = Enrolment)))]
#[post("/api/v1/me/totp")]
pub async fn start_totp(
    state: web::Data<AppState>,
    me: SignedIn,
    ip: ClientIp,
) -> Result<HttpResponse, ApiError> {
    let (staff, now) = (me.auth.staff, state.now());
    let enrolment = state
        .db(move |conn| totp::start_enrolment(conn, &staff, ip.0, now))
        .await?;
    Ok(HttpResponse::Ok().json(enrolment))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = TotpConfirm, responses((status = 200, body = RecoveryCodes)))]
#[post("/api/v1/me/totp/confirm")]
pub async fn confirm_totp(
    state: web::Data<AppState>,
    me: SignedIn,
    ip: ClientIp,
    body: web::Json<TotpConfirm>,
) -> Result<HttpResponse, ApiError> {
    let (staff, now, code) = (me.auth.staff, state.now(), body.into_inner().code);
    let codes = state
        .db(move |conn| totp::confirm_enrolment(conn, &staff, &code, ip.0, now))
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes {
        recovery_codes: codes,
    }))
}
