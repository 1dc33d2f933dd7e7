//! Sessions for the pages: the cookie, the CSRF token, and the two extractors every page
//! handler takes (`Session` for reading, `FormPost` for changing anything).
//!
//! Decision: the JSON API's `Staff` extractor stays bearer-only, and only these extractors
//! read the session cookie. A cookie is sent by the browser on its own, so every
//! cookie-authenticated change must prove it came from our own form: `FormPost` checks the
//! CSRF token before the handler runs, and a handler cannot forget it because it gets no
//! form without it. Letting the cookie into `/api/v1` would make every API change need the
//! same proof; scripts and agents have no use for it, so the API never sees the cookie.
//!
//! The session is the API's session (`accounts::login`, the token stored hashed). The CSRF
//! token is HMAC-SHA256 keyed with the session token: unguessable without the HttpOnly
//! cookie, the same on every server process (no shared secret to distribute), and dead
//! with the session.

use super::page::PageError;
use crate::accounts::{self, Staff};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use ring::hmac;

pub const SESSION_COOKIE: &str = "crosscert_session";
/// Before login there is no session: the login form's token is a random value that must
/// match this cookie (double submit; SameSite=Strict keeps other sites from sending it).
pub const LOGIN_COOKIE: &str = "crosscert_login";
/// The hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

const CSRF_PURPOSE: &[u8] = b"crosscert web form v1";

pub fn csrf_token(session_token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_token.as_bytes());
    hex::encode(hmac::sign(&key, CSRF_PURPOSE).as_ref())
}

/// Constant-time check of a submitted CSRF token.
pub fn csrf_ok(session_token: &str, submitted: &str) -> bool {
    let Ok(tag) = hex::decode(submitted) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_token.as_bytes());
    hmac::verify(&key, CSRF_PURPOSE, &tag).is_ok()
}

/// Equal, non-empty, compared in constant time (the login form's double submit).
pub fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
/// page or form sends it), Secure when the service is reached over https.
pub fn session_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(CookieDuration::minutes(state.settings.session_ttl_minutes))
        .finish()
}

pub fn login_cookie(state: &AppState, value: &str) -> Cookie<'static> {
    Cookie::build(LOGIN_COOKIE, value.to_string())
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(CookieDuration::hours(2))
        .finish()
}

/// An expired copy of a cookie, to make the browser drop it.
pub fn removal(name: &'static str, path: &'static str, state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build(name, "")
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .finish();
    c.make_removal();
    c
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::Api(ApiError::internal("application state missing")))
}

/// A logged-in staff member on a page.
#[derive(Debug, Clone)]
pub struct Session {
    pub staff: Staff,
    pub token: String,
    pub csrf: String,
}

/// Where to come back after logging in: GET pages only, and only paths of this site.
fn return_path(req: &HttpRequest) -> String {
    if req.method() != actix_web::http::Method::GET {
        return "/".into();
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if safe_next(path) {
        path.to_string()
    } else {
        "/".into()
    }
}

/// A local path (not `//host`, not a scheme): no open redirect through `?next=`.
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// What the account must do before other pages open, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    PasswordChange,
    TotpEnrolment,
}

impl Pending {
    /// The page where it is done.
    pub fn page(self) -> &'static str {
        match self {
            Pending::PasswordChange => "/account/password",
            Pending::TotpEnrolment => "/account/totp",
        }
    }
}

async fn authenticate_any(req: &HttpRequest) -> Result<(Session, Option<Pending>), PageError> {
    let state = app_state(req)?;
    let login = || PageError::Login {
        next: return_path(req),
    };
    let token = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or_else(login)?;
    let now = state.now();
    let (t, settings) = (token.clone(), state.settings.clone());
    let auth = state
        .db(move |conn| accounts::authenticate(conn, &t, &settings, now))
        .await?
        .ok_or_else(login)?;
    let pending = if auth.must_change_password {
        Some(Pending::PasswordChange)
    } else if auth.totp_enrolment_required {
        Some(Pending::TotpEnrolment)
    } else {
        None
    };
    let csrf = csrf_token(&token);
    Ok((
        Session {
            staff: auth.staff,
            token,
            csrf,
        },
        pending,
    ))
}

/// A session that may work: an account with something outstanding is sent to do it.
async fn authenticate(req: HttpRequest) -> Result<Session, PageError> {
    match authenticate_any(&req).await? {
        (session, None) => Ok(session),
        (_, Some(pending)) => Err(PageError::Redirect(pending.page().to_string())),
    }
}

impl FromRequest for Session {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Session, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// A session on the account pages (password change, second-factor enrolment): these open
/// whatever is outstanding, since they are where it is done.
pub struct AccountSession {
    pub session: Session,
    pub pending: Option<Pending>,
}

impl FromRequest for AccountSession {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<AccountSession, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (session, pending) = authenticate_any(&req).await?;
            Ok(AccountSession { session, pending })
        })
    }
}

/// A submitted form: `application/x-www-form-urlencoded` pairs in order (repeated names,
/// such as checkboxes, keep every value).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Result<Form, PageError> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
            .map(Form)
            .map_err(|e| {
                PageError::Api(ApiError::bad_request(
                    "invalid_form",
                    format!("the form cannot be read: {e}"),
                ))
            })
    }

    /// The first value of a field, trimmed; "" when absent.
    pub fn text(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// A logged-in staff member's form post whose CSRF token checked out. Every page that
/// changes something takes this, so none can skip the check.
pub struct FormPost {
    pub session: Session,
    pub form: Form,
}

/// Forms are small; the issue form of the largest type is a few kilobytes.
const FORM_LIMIT: usize = 256 * 1024;

async fn read_form(
    body: impl std::future::Future<Output = Result<web::Bytes, actix_web::Error>>,
    session: Session,
) -> Result<FormPost, PageError> {
    let bytes = body
        .await
        .map_err(|e| PageError::Api(ApiError::bad_request("invalid_form", e.to_string())))?;
    if bytes.len() > FORM_LIMIT {
        return Err(PageError::Api(ApiError::PayloadTooLarge(
            "the form is too large".into(),
        )));
    }
    let form = Form::parse(&bytes)?;
    if !csrf_ok(&session.token, form.text(CSRF_FIELD)) {
        return Err(PageError::Csrf);
    }
    Ok(FormPost { session, form })
}

impl FromRequest for FormPost {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<FormPost, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let session = authenticate(req.clone()).await?;
            read_form(body, session).await
        })
    }
}

/// A form post on the account pages (see `AccountSession`), CSRF checked.
pub struct AccountFormPost {
    pub post: FormPost,
    pub pending: Option<Pending>,
}

impl FromRequest for AccountFormPost {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<AccountFormPost, PageError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let (session, pending) = authenticate_any(&req).await?;
            let post = read_form(body, session).await?;
            Ok(AccountFormPost { post, pending })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_bound_to_its_session() {
        let t = csrf_token("session-a");
        assert!(csrf_ok("session-a", &t));
        assert!(!csrf_ok("session-b", &t));
        assert!(!csrf_ok("session-a", ""));
        assert!(!csrf_ok("session-a", "zz"));
        assert!(!csrf_ok("session-a", &t[..t.len() - 2]));
    }

    #[test]
    fn next_must_be_a_local_path() {
        assert!(safe_next("/licences/1"));
        for bad in [
            "//evil.example",
            "https://evil.example",
            "evil",
            "/\\evil",
            "",
        ] {
            assert!(!safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn repeated_form_fields_keep_every_value() {
        let f = Form::parse(b"copies=original&copies=duplicate&a=+x+").unwrap();
        assert_eq!(f.all("copies"), vec!["original", "duplicate"]);
        assert_eq!(f.text("a"), "x");
        assert_eq!(f.text("missing"), "");
    }
}
