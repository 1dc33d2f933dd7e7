//! The signed-in user's own account pages: change the password (forced after a reset) and
//! enrol the second factor (forced for the roles in `CROSSCERT_REQUIRE_TOTP_FOR`): the
//! otpauth QR code drawn as SVG, a confirming code, then the recovery codes shown once.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{AccountFormPost, AccountSession, Pending, Session};
use crate::accounts::totp;
use crate::error::ApiError;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordPage {
    chrome: Chrome,
    forced: bool,
    error: Option<String>,
}

#[get("/account/password")]
pub async fn password_page(me: AccountSession) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &PasswordPage {
            chrome: Chrome::new("修改密码", &me.session),
            forced: me.pending == Some(Pending::PasswordChange),
            error: None,
        },
    )
}

fn raw(form: &super::session::Form, name: &str) -> String {
    form.0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[post("/account/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    ip: ClientIp,
    me: AccountFormPost,
) -> Result<HttpResponse, PageError> {
    let session = me.post.session;
    let (current, new, again) = (
        raw(&me.post.form, "current_password"),
        raw(&me.post.form, "new_password"),
        raw(&me.post.form, "new_password_again"),
    );
    let forced = me.pending == Some(Pending::PasswordChange);
    let fail = |status, message: String| {
        html(
            status,
            &PasswordPage {
                chrome: Chrome::new("修改密码", &session),
                forced,
                error: Some(message),
            },
        )
    };
    if new != again {
        return fail(StatusCode::BAD_REQUEST, "两次输入的新密码不一致。".into());
    }
    let changed = crate::routes::me::change_own_password(
        &state,
        &session.staff,
        &session.token,
        ip,
        current,
        new,
    )
    .await;
    match changed {
        Ok(()) => Ok(see_other("/")),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            if status.is_server_error() {
                return Err(e.into());
            }
            let message = match e.code() {
                "wrong_current_password" => "当前密码不正确。".to_string(),
                _ if e.message().contains("differ") => "新密码不能与当前密码相同。".to_string(),
                _ => "新密码须为 8 至 256 个字符。".to_string(),
            };
            fail(status, message)
        }
    }
}

#[derive(Template)]
#[template(path = "account_totp.html")]
struct TotpPage {
    chrome: Chrome,
    forced: bool,
    enabled: bool,
    recovery_left: i64,
    /// A started enrolment: the QR code (SVG) and the secret for typing in by hand.
    pending: Option<(String, String)>,
    recovery_codes: Vec<String>,
    error: Option<String>,
}

async fn render_totp(
    state: &web::Data<AppState>,
    session: &Session,
    forced: bool,
    status: StatusCode,
    recovery_codes: Vec<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let now_status = state.db(move |conn| totp::status(conn, &staff)).await?;
    let (enabled, recovery_left, pending) = match now_status {
        totp::Status::Enabled {
            recovery_codes_left,
        } => (true, recovery_codes_left, None),
        totp::Status::Pending(e) => (false, 0, Some((totp::qr_svg(&e.otpauth_uri)?, e.secret))),
        totp::Status::None => (false, 0, None),
    };
    html(
        status,
        &TotpPage {
            chrome: Chrome::new("双重验证", session),
            forced: forced && !enabled,
            enabled,
            recovery_left,
            pending,
            recovery_codes,
            error,
        },
    )
}

#[get("/account/totp")]
pub async fn totp_page(
    state: web::Data<AppState>,
    me: AccountSession,
) -> Result<HttpResponse, PageError> {
    let forced = me.pending == Some(Pending::TotpEnrolment);
    render_totp(
        &state,
        &me.session,
        forced,
        StatusCode::OK,
        Vec::new(),
        None,
    )
    .await
}

#[post("/account/totp/start")]
pub async fn start_totp(
    state: web::Data<AppState>,
    ip: ClientIp,
    me: AccountFormPost,
) -> Result<HttpResponse, PageError> {
    let (staff, now) = (me.post.session.staff.clone(), state.now());
    state
        .db(move |conn| totp::start_enrolment(conn, &staff, ip.0, now))
        .await?;
    Ok(see_other("/account/totp"))
}

#[post("/account/totp/confirm")]
pub async fn confirm_totp(
    state: web::Data<AppState>,
    ip: ClientIp,
    me: AccountFormPost,
) -> Result<HttpResponse, PageError> {
    let forced = me.pending == Some(Pending::TotpEnrolment);
    let session = me.post.session;
    let code = me.post.form.text("code").to_string();
    let (staff, now) = (session.staff.clone(), state.now());
    let confirmed = state
        .db(move |conn| Ok::<_, ApiError>(totp::confirm_enrolment(conn, &staff, &code, ip.0, now)))
        .await?;
    match confirmed {
        Ok(codes) => render_totp(&state, &session, false, StatusCode::OK, codes, None).await,
        Err(crate::accounts::AccountError::Invalid { .. }) => {
            render_totp(
                &state,
                &session,
                forced,
                StatusCode::BAD_REQUEST,
                Vec::new(),
                Some(
                    "验证码不正确或已使用过，请输入验证器当前显示的 6 位数字（并检查手机时间）。"
                        .into(),
                ),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
