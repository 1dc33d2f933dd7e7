//! The signed lists for offline verifiers, served from memory (`published.rs`):
//! `GET /api/v1/trust-list.cose`, `GET /api/v1/status-lists/{id}` and
//! `GET /api/v1/status-index.cose`. Public; `ETag` + `If-None-Match` answer 304.

use std::sync::Arc;

use crate::error::ApiError;
use crate::published::Document;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};

fn unavailable() -> ApiError {
    ApiError::Unavailable {
        code: "lists_unavailable",
        message: "the signed lists are not published: the key set has no usable list signer".into(),
    }
}

fn serve(req: &HttpRequest, doc: Arc<Document>) -> HttpResponse {
    let cache = format!("public, max-age={}", doc.max_age_s);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| doc.matches(v));
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, doc.etag.clone()))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(doc.content_type)
        .insert_header((header::ETAG, doc.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(doc.bytes.clone())
}

#[utoipa::path(tag = "public", responses((status = 200, description = "the signed trust list (COSE_Sign1); ETag, If-None-Match: 304", content_type = "application/cose", body = Vec<u8>)))]
#[get("/api/v1/trust-list.cose")]
pub async fn signed_trust_list(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let doc = state.published.trust_list().ok_or_else(unavailable)?;
    Ok(serve(&req, doc))
}

#[utoipa::path(tag = "public", responses((status = 200, description = "the signed status index (COSE_Sign1)", content_type = "application/cose", body = Vec<u8>)))]
#[get("/api/v1/status-index.cose")]
pub async fn status_index(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let doc = state.published.status_index().ok_or_else(unavailable)?;
    Ok(serve(&req, doc))
}

#[utoipa::path(tag = "public", responses((status = 200, description = "a signed status list (COSE_Sign1)", content_type = "application/cose", body = Vec<u8>)))]
#[get("/api/v1/status-lists/{id}")]
pub async fn status_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_input",
            format!("id: {:?} is not a status list number", id.as_str()),
        )
    })?;
    if state.published.trust_list().is_none() {
        return Err(unavailable());
    }
    let doc = state
        .published
        .status_list(id)
        .ok_or_else(|| ApiError::not_found(format!("no status list {id}")))?;
    Ok(serve(&req, doc))
}
