//! `/login`, `/logout` and `/`: the session's beginning and end, and each role's home page.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{self, AccountFormPost, Session, LOGIN_COOKIE, SESSION_COOKIE};
use crate::accounts::{self, AccountError, Credentials};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    /// The second step: the password was right, the code is asked for. The password rides
    /// along in the form (this answer is not cached), so no half-open session exists.
    second_step: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn clean_next(next: Option<&str>) -> String {
    next.filter(|n| session::safe_next(n))
        .unwrap_or("/")
        .to_string()
}

/// The login form with its double-submit token in a cookie. A token the browser already
/// holds is kept, so two login tabs (or a reload racing a redirect) do not void each other.
fn login_form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
    second_step: Option<String>,
) -> Result<HttpResponse, PageError> {
    let token = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(accounts::new_token);
    let page = LoginPage {
        chrome: Chrome::anonymous("登录"),
        csrf: token.clone(),
        next,
        username,
        error,
        second_step,
    };
    let mut res = html(status, &page)?;
    res.add_cookie(&session::login_cookie(state, &token))
        .map_err(|e| PageError::Api(ApiError::internal(e)))?;
    Ok(res)
}

#[get("/login")]
pub async fn login_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = clean_next(query.next.as_deref());
    login_form(
        &state,
        &req,
        StatusCode::OK,
        next,
        String::new(),
        None,
        None,
    )
}

#[post("/login")]
pub async fn log_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = session::Form::parse(&body)?;
    let cookie = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if !session::same_secret(&cookie, form.text(session::CSRF_FIELD)) {
        return Err(PageError::Csrf);
    }
    let next = clean_next(Some(form.text("next")));
    let username = form.text("username").to_string();
    // Passwords are taken as typed: spaces may be part of them.
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let totp = Some(form.text("totp").to_string()).filter(|t| !t.is_empty());
    let outcome = accounts::login(
        &state.login_context(),
        Credentials {
            username: username.clone(),
            password: password.clone(),
            totp,
        },
        ip.0,
    )
    .await;
    match outcome {
        Ok(o) => {
            let mut res = see_other(&next);
            res.add_cookie(&session::session_cookie(&state, &o.token))
                .map_err(|e| PageError::Api(ApiError::internal(e)))?;
            res.add_cookie(&session::removal(LOGIN_COOKIE, "/login", &state))
                .map_err(|e| PageError::Api(ApiError::internal(e)))?;
            Ok(res)
        }
        Err(AccountError::TotpRequired) => login_form(
            &state,
            &req,
            StatusCode::OK,
            next,
            username,
            None,
            Some(password),
        ),
        Err(error) => {
            let (status, message, step) = match error {
                AccountError::BadCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "用户名或密码错误。".to_string(),
                    None,
                ),
                AccountError::TotpInvalid => (
                    StatusCode::UNAUTHORIZED,
                    "动态验证码错误或已使用过，请输入验证器当前显示的 6 位数字或一个未用过的恢复码。"
                        .to_string(),
                    Some(password),
                ),
                AccountError::Throttled { retry_after_s } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "此地址登录失败次数过多，请 {} 分钟后再试，或请管理员解除限制。",
                        retry_after_s.div_ceil(60)
                    ),
                    None,
                ),
                AccountError::Busy { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "登录人数过多，请稍候几秒再试。".to_string(),
                    None,
                ),
                other => return Err(PageError::Api(other.into())),
            };
            login_form(&state, &req, status, next, username, Some(message), step)
        }
    }
}

#[post("/logout")]
pub async fn log_out(
    state: web::Data<AppState>,
    post: AccountFormPost,
) -> Result<HttpResponse, PageError> {
    let Session { staff, token, .. } = post.post.session;
    let now = state.now();
    state
        .db(move |conn| accounts::logout(conn, &token, &staff.username, now))
        .await?;
    let mut res = see_other("/login");
    res.add_cookie(&session::removal(SESSION_COOKIE, "/", &state))
        .map_err(|e| PageError::Api(ApiError::internal(e)))?;
    Ok(res)
}

/// Each role starts where its work is.
#[get("/")]
pub async fn home(session: Session) -> HttpResponse {
    see_other(match session.staff.role {
        Role::Issuer => "/issue",
        Role::HallOperator => "/hall",
        Role::Admin => "/admin",
    })
}
