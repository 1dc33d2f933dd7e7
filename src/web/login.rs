//! `/login`, `/logout` and `/`: the session's beginning and end, and each role's home page.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{self, FormPost, Session, LOGIN_COOKIE, SESSION_COOKIE};
use crate::accounts::{self, AccountError};
use crate::domain::role::Role;
use crate::error::ApiError;
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
    login_form(&state, &req, StatusCode::OK, next, String::new(), None)
}

#[post("/login")]
pub async fn log_in(
    state: web::Data<AppState>,
    req: HttpRequest,
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
    let settings = state.settings.clone();
    let now = state.now();
    let pool = state.pool.clone();
    let user = username.clone();
    let outcome = web::block(move || {
        let mut conn = pool.get().map_err(|e| accounts::LoginFailure {
            error: AccountError::Storage(e.into()),
            delay_ms: 0,
        })?;
        accounts::login(
            &mut conn,
            &user,
            &password,
            settings.login,
            settings.password_hash,
            chrono::Duration::minutes(settings.session_ttl_minutes),
            now,
        )
    })
    .await
    .map_err(ApiError::from)?;
    match outcome {
        Ok(o) => {
            let mut res = see_other(&next);
            res.add_cookie(&session::session_cookie(&state, &o.token))
                .map_err(|e| PageError::Api(ApiError::internal(e)))?;
            res.add_cookie(&session::removal(LOGIN_COOKIE, "/login", &state))
                .map_err(|e| PageError::Api(ApiError::internal(e)))?;
            Ok(res)
        }
        Err(failure) => {
            if failure.delay_ms > 0 {
                actix_web::rt::time::sleep(std::time::Duration::from_millis(failure.delay_ms))
                    .await;
            }
            let (status, message) = match failure.error {
                AccountError::BadCredentials => {
                    (StatusCode::UNAUTHORIZED, "用户名或密码错误。".to_string())
                }
                AccountError::Locked { until, .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "登录失败次数过多，该账号已暂时锁定，请于 {} (UTC) 之后再试。",
                        until.format("%Y-%m-%d %H:%M")
                    ),
                ),
                other => return Err(PageError::Api(other.into())),
            };
            login_form(&state, &req, status, next, username, Some(message))
        }
    }
}

#[post("/logout")]
pub async fn log_out(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    let Session { staff, token, .. } = post.session;
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
