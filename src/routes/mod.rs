//! Thin actix handlers: extract, call one service function, map the result. One file per
//! resource; `configure` mounts them all.

pub mod agent;
pub mod agent_tokens;
pub mod api_doc;
pub mod archive;
pub mod auth;
pub mod body;
pub mod cert_types;
pub mod client_ip;
pub mod dept;
pub mod error;
pub mod halls;
pub mod licences;
pub mod log;
pub mod me;
pub mod middleware;
pub mod ops;
pub mod print_jobs;
pub mod sessions;
pub mod shares;
pub mod signed_lists;
pub mod stock;
pub mod tracking;
pub mod trust_list;
pub mod users;
pub mod verify;
pub mod witness;

use crate::error::ApiError;
use actix_web::web;

/// Bodies larger than this are refused with 413 (routes that need more set their own).
pub const JSON_LIMIT: usize = 1024 * 1024;

/// Mounts every route. API handlers go through `cfg.service(...)`, utoipa-actix-web's
/// version, which only takes a handler with a `#[utoipa::path]` and adds its operation to
/// the OpenAPI document (`api_doc::document`); pages and the verification page (HTML, not
/// part of the JSON API) are mounted through `map`. To add a route: annotate the handler with
/// `#[utoipa::path(...)]` above its actix attribute and add one `.service(handler)` line
/// here, before any route whose path pattern would shadow it.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(|err, _req| error::json_error(err).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, _req| error::query_error(err).into()))
    .app_data(web::PathConfig::default().error_handler(|err, _req| error::path_error(err).into()))
    .app_data(web::PayloadConfig::default().limit(JSON_LIMIT))
    .service(ops::healthz)
    .service(ops::readyz)
    .service(ops::metrics)
    .service(api_doc::openapi_json)
    .service(sessions::create_session)
    .service(sessions::delete_session)
    .service(halls::list_halls)
    .service(halls::create_hall)
    .service(halls::update_hall)
    .service(halls::update_agreement)
    .service(users::list_users)
    .service(users::create_user)
    .service(users::update_user)
    .service(users::reset_password)
    .service(users::unlock_user)
    .service(users::list_sessions)
    .service(users::end_sessions)
    .service(users::reset_totp)
    .service(me::change_password)
    .service(me::start_totp)
    .service(me::confirm_totp)
    .service(agent_tokens::create_agent_token)
    .service(agent_tokens::list_agent_tokens)
    .service(agent_tokens::revoke_agent_token)
    .service(agent_tokens::whoami)
    .service(dept::create_dept_client)
    .service(dept::list_dept_clients)
    .service(dept::revoke_dept_client)
    .service(dept::dept_licences)
    .service(dept::dept_check)
    .service(dept::access_log)
    .service(shares::create_share)
    .service(shares::lookup_share)
    .service(shares::get_share)
    .service(shares::revoke_share)
    .service(shares::holder_prefill)
    .service(cert_types::list_cert_types)
    .service(cert_types::get_cert_type)
    .service(cert_types::preview_cert_type)
    .service(licences::licence_pdf)
    .service(archive::licence_archive)
    .service(licences::issue_licence)
    .service(licences::get_licence)
    .service(licences::change_licence)
    .service(trust_list::trust_list)
    .service(signed_lists::signed_trust_list)
    .service(signed_lists::status_list)
    .service(signed_lists::status_index)
    .service(halls::hall_stock)
    .service(stock::register_stock_batch)
    .service(print_jobs::queue_print_job)
    .service(print_jobs::list_print_jobs)
    .service(print_jobs::get_print_job)
    .service(print_jobs::change_print_job)
    .service(print_jobs::pick_up)
    .service(agent::claim)
    .service(agent::release)
    .service(agent::document)
    .service(agent::heartbeat)
    .service(agent::report)
    .service(agent::void_sheets)
    .service(agent::reconcile)
    .service(log::proof)
    .service(verify::verify_code)
    .service(tracking::track)
    .map(|cfg| cfg.configure(verify::configure_pages))
    .map(|cfg| cfg.configure(log::configure_tiles));
}

/// Anything no route matched.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
