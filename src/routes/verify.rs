//! Public verification (no authentication): `GET /api/v1/verify?code=QR-TEXT` (JSON) and the
//! page a phone camera opens, `GET /V/<payload>` (also `/v/`, and under the public URL's own
//! path when it has one). Both are rate-limited per client address.

use crate::error::ApiError;
use crate::routes::error;
use crate::state::AppState;
use crate::verification::service::{self, MAX_CODE_LEN};
use crate::verification::{page, Verdict};
use crate::wire::verify::*;
use actix_web::guard::GuardContext;
use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use std::net::{IpAddr, Ipv4Addr};

fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

/// The verdict, computed off the actix workers (ECDSA and diesel both block).
async fn verdict(state: &web::Data<AppState>, code: String) -> Result<Verdict, ApiError> {
    let pool = state.pool.clone();
    let trust = state.trust.clone();
    let catalog = state.catalog.clone();
    let gate = state.verify_gate.clone();
    let now = state.now();
    let _slot = state.verify_gate.slot().await;
    Ok(
        web::block(move || service::verify_code(&pool, &trust, &gate, &catalog, &code, now))
            .await??,
    )
}

#[utoipa::path(tag = "public", params(VerifyQuery), responses((status = 200, description = "the verdict, for any code up to 4 KB however broken", body = Verdict)))]
#[get("/api/v1/verify")]
pub async fn verify_code(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Err(limited) = state
        .verify_gate
        .limiter
        .check(client_ip(&req), state.now())
    {
        return Err(ApiError::TooManyRequests {
            message: "too many verifications from this address; slow down".into(),
            retry_after_s: Some(limited.retry_after_s),
        });
    }
    let query = web::Query::<VerifyQuery>::from_query(req.query_string())
        .map_err(error::query_error)?
        .into_inner();
    let code = match query.code {
        None => {
            return Err(ApiError::bad_request(
                "invalid_input",
                "code: is required (the text of the licence's QR code)",
            ))
        }
        Some(c) if c.len() > MAX_CODE_LEN => {
            return Err(ApiError::bad_request(
                "invalid_input",
                format!("code: is longer than {MAX_CODE_LEN} bytes; no licence QR code is"),
            ))
        }
        Some(c) => c,
    };
    Ok(HttpResponse::Ok().json(verdict(&state, code).await?))
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// The verification page. Any payload, however broken, gets a verdict page; only a database
/// outage (503) or too many requests (429) answer otherwise, and those are pages too.
pub async fn verify_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Err(limited) = state
        .verify_gate
        .limiter
        .check(client_ip(&req), state.now())
    {
        let mut res = html(
            StatusCode::TOO_MANY_REQUESTS,
            page::render_too_many(limited.retry_after_s),
        );
        if let Ok(v) = header::HeaderValue::from_str(&limited.retry_after_s.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let payload = req.match_info().query("payload");
    let result = if payload.len() > MAX_CODE_LEN {
        Ok(Verdict::bad_encoding(state.now()))
    } else {
        verdict(&state, payload.to_owned()).await
    };
    match result {
        Ok(v) => html(StatusCode::OK, page::render(&v)),
        Err(e) => {
            tracing::warn!(error = %e, "verification page without a verdict");
            html(StatusCode::SERVICE_UNAVAILABLE, page::render_unavailable())
        }
    }
}

/// The path of the public URL (`https://host/crosscert` -> `crosscert`), without slashes.
fn public_path(public_url: &str) -> &str {
    let after_scheme = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    after_scheme
        .split_once('/')
        .map_or("", |(_, path)| path)
        .trim_matches('/')
}

/// The QR spells the public URL in upper case, so a public URL with a path
/// (`https://host/crosscert`) arrives as `/CROSSCERT/V/...`: accept that path in any case, and
/// no other, so unknown routes keep their JSON 404.
fn under_public_path(ctx: &GuardContext<'_>) -> bool {
    let Some(state) = ctx.app_data::<web::Data<AppState>>() else {
        return false;
    };
    let expected = public_path(&state.settings.public_url);
    let path = ctx.head().uri.path();
    !expected.is_empty()
        && path
            .trim_start_matches('/')
            .get(..expected.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(expected))
        && path
            .trim_start_matches('/')
            .get(expected.len()..)
            .is_some_and(|rest| {
                rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("/v/") && !rest[3..].contains('/')
            })
}

/// The verification page (HTML): `/V/<payload>`, `/v/<payload>` and under the public URL's
/// path. `verify_code` is mounted with the API (it is in the OpenAPI document).
pub fn configure_pages(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/{v:[Vv]}/{payload:[^/]*}").route(web::get().to(verify_page)))
        .service(
            web::resource("/{prefix:.+}/{v:[Vv]}/{payload:[^/]*}")
                .guard(actix_web::guard::fn_guard(under_public_path))
                .route(web::get().to(verify_page)),
        );
}

#[cfg(test)]
mod tests {
    use super::public_path;

    #[test]
    fn public_path_is_the_url_path_without_slashes() {
        assert_eq!(public_path("http://127.0.0.1:8080"), "");
        assert_eq!(public_path("https://verify.example.cn/"), "");
        assert_eq!(public_path("https://example.cn/crosscert/"), "crosscert");
        assert_eq!(public_path("https://example.cn/a/b"), "a/b");
    }
}
