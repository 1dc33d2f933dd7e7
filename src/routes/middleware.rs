//! Cross-cutting middleware: per-route metrics, and the rule that no plain-text actix error
//! ever reaches a client (every error answer is our JSON shape).

use crate::routes::error::error_body;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use std::time::Instant;

pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    Ok(res)
}

fn has_own_body(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"))
        .unwrap_or(false)
}

fn default_code(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request is malformed"),
        401 => ("unauthorized", "authentication is required"),
        403 => ("forbidden", "not allowed"),
        404 => ("not_found", "no such resource"),
        405 => (
            "method_not_allowed",
            "this method is not allowed on this route",
        ),
        408 => ("request_timeout", "the request took too long to arrive"),
        413 => ("payload_too_large", "the body is too large"),
        415 => ("unsupported_media_type", "unsupported content type"),
        429 => ("too_many_requests", "too many requests; slow down"),
        503 => (
            "unavailable",
            "the service is unavailable; try again shortly",
        ),
        s if s >= 500 => ("internal_error", "internal error; it has been logged"),
        _ => ("error", "the request cannot be served"),
    }
}

pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || has_own_body(res.headers()) {
        return Ok(res.map_into_left_body());
    }
    let (req, old) = res.into_parts();
    let (code, message) = default_code(status);
    let mut new = HttpResponse::build(status);
    new.content_type("application/json");
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = old.headers().get(&name) {
            new.insert_header((name.clone(), v.clone()));
        }
    }
    let response = new.body(error_body(code, message));
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}
