//! What every page shares: the frame (title, navigation by role, the logout form), HTML
//! responses with their security headers, and errors as pages.

use super::session::Session;
use crate::domain::role::Role;
use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use std::fmt;

/// The navigation and identity shown on every page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: Option<UserNav>,
    /// Seconds between automatic reloads (the hall queue), if any.
    pub refresh_s: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct UserNav {
    pub username: String,
    pub role_label: &'static str,
    pub hall_code: String,
    pub csrf: String,
    pub is_admin: bool,
    pub is_issuer: bool,
    pub is_operator: bool,
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "管理员",
        Role::Issuer => "窗口人员",
        Role::HallOperator => "大厅人员",
    }
}

impl Chrome {
    pub fn new(title: impl Into<String>, session: &Session) -> Chrome {
        let s = &session.staff;
        Chrome {
            title: title.into(),
            user: Some(UserNav {
                username: s.username.clone(),
                role_label: role_label(s.role),
                hall_code: s.hall_code.clone(),
                csrf: session.csrf.clone(),
                is_admin: s.role == Role::Admin,
                is_issuer: s.role == Role::Issuer,
                is_operator: s.role == Role::HallOperator,
            }),
            refresh_s: None,
        }
    }

    pub fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: None,
            refresh_s: None,
        }
    }
}

/// A page response: HTML, never cached (pages show live state and one-time secrets), never
/// framed, and no script or style from anywhere but this service.
pub fn html<T: Template>(status: StatusCode, page: &T) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::Api(ApiError::internal(format!("template: {e}"))))?;
    Ok(page_response(status).body(body))
}

pub fn page_response(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    b
}

/// A local path as a `Location` value: bytes a header cannot carry (non-ASCII, controls,
/// spaces) are percent-encoded, so any `next=` path redirects instead of failing.
pub fn location_value(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 303 See Other: after a form post, the browser GETs the result page.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location_value(location)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// No session (or an expired one): to the login page, then back.
    Login {
        next: String,
    },
    /// The account must do something first (change its password, enrol a second factor):
    /// to the page where that is done.
    Redirect(String),
    /// A form post without its CSRF token (or with another session's).
    Csrf,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

macro_rules! page_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError::Api(ApiError::from(e))
            }
        }
    )*};
}
page_error_from!(
    crate::registration::RegistrationError,
    crate::distribution::jobs::JobError,
    crate::distribution::stock::StockError,
    crate::distribution::routing::RoutingError,
    crate::distribution::halls::HallError,
    crate::accounts::AccountError,
    crate::storage::StorageError,
    crate::documents::DocumentError
);

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Login { .. } => f.write_str("login required"),
            PageError::Redirect(to) => write!(f, "first: {to}"),
            PageError::Csrf => f.write_str("form token missing or wrong"),
            PageError::Api(e) => e.fmt(f),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: &'static str,
    message: String,
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "填写的内容有误",
        401 => "请先登录",
        403 => "无权进行此操作",
        404 => "找不到该页面或记录",
        409 => "操作与当前状态冲突",
        413 => "提交的内容过大",
        422 => "不符合业务规则",
        429 => "尝试次数过多",
        503 => "服务暂时不可用",
        _ => "系统错误",
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Login { .. } | PageError::Redirect(_) => StatusCode::SEE_OTHER,
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            PageError::Login { next } => {
                let location = format!(
                    "/login?next={}",
                    serde_urlencoded::to_string([("n", next.as_str())])
                        .unwrap_or_default()
                        .trim_start_matches("n=")
                );
                return see_other(&location);
            }
            PageError::Redirect(to) => return see_other(to),
            PageError::Csrf => {
                "表单已过期或不是从本系统页面提交的（缺少或错误的表单令牌）。请返回刷新页面后重新提交。"
                    .to_string()
            }
            PageError::Api(e) => {
                if let ApiError::Internal(cause) = e {
                    tracing::error!(cause = %cause, "internal error on a page");
                }
                e.message()
            }
        };
        let status = self.status_code();
        let page = ErrorPage {
            chrome: Chrome::anonymous(heading(status)),
            status: status.as_u16(),
            heading: heading(status),
            message,
        };
        match html(status, &page) {
            Ok(r) => r,
            Err(_) => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(heading(status)),
        }
    }
}
