//! The staff web pages: server-rendered HTML in Chinese (askama templates under
//! `src/web/templates/`, one stylesheet served from the binary), usable without JavaScript.
//! Handlers here are as thin as the API's: they read a form, call the same service function
//! the JSON route calls, and render the answer. Sessions and CSRF: `session.rs`.
//!
//! Routes: `/login`, `/logout`, `/` (the role's home), `/account/...` (own password and
//! second factor), `/issue...` and `/licences...`
//! (window staff), `/shares...` (share codes) and the public `/share`, `/hall...` and `/jobs/...` (hall staff), `/admin...`, `/dashboard`,
//! `/static/app.css`.

pub mod account;
pub mod admin;
pub mod dashboard;
pub mod hall;
pub mod issue;
pub mod licence;
pub mod login;
pub mod page;
pub mod prefill_form;
pub mod session;
pub mod shares;
pub mod tracking;

use actix_web::{get, http::header, web, HttpResponse};

/// The one stylesheet, compiled in: halls may have no internet, so nothing is fetched from
/// anywhere else.
const APP_CSS: &str = include_str!("static/app.css");

#[get("/static/app.css")]
async fn app_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        // A day is short enough that a new release's look arrives by the next morning.
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(APP_CSS)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(app_css)
        .service(login::login_page)
        .service(login::log_in)
        .service(login::log_out)
        .service(login::home)
        .service(account::password_page)
        .service(account::change_password)
        .service(account::totp_page)
        .service(account::start_totp)
        .service(account::confirm_totp)
        .service(issue::type_list)
        .service(issue::issue_form)
        .service(issue::preview)
        .service(issue::submit_issue)
        .service(licence::licence_list)
        .service(licence::licence_page)
        .service(licence::licence_pdf)
        .service(licence::change_status)
        .service(licence::change_form)
        .service(licence::submit_change)
        .service(licence::print_form)
        .service(licence::queue_print)
        .service(hall::queue_page)
        .service(hall::job_page)
        .service(hall::pick_up)
        .service(hall::resolve_job)
        .service(hall::requeue_job)
        .service(hall::unlock_pickup)
        .service(hall::stock_page)
        .service(hall::void_sheet)
        .service(admin::admin_home)
        .service(admin::halls_page)
        .service(admin::stock_page)
        .service(admin::register_batch)
        .service(admin::users_page)
        .service(admin::create_user)
        .service(admin::user_action)
        .service(admin::tokens_page)
        .service(admin::issue_token)
        .service(admin::revoke_token)
        .service(admin::keys_page)
        .service(admin::dept_clients_page)
        .service(admin::issue_dept_client)
        .service(admin::revoke_dept_client)
        .service(admin::dept_access_page)
        .service(shares::shares_page)
        .service(shares::create_share)
        .service(shares::share_page)
        .service(shares::revoke_share)
        .service(shares::public_form)
        .service(shares::public_lookup)
        .service(dashboard::dashboard_page)
        .service(hall::find_job)
        .service(tracking::tracking_page);
}
