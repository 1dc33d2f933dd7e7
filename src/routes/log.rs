//! The log over HTTP: `GET /log/checkpoint`, `GET /log/tile/{L}/{N}[.p/{W}]`,
//! `GET /log/tile/entries/{N}[.p/{W}]` (tlog-tiles; immutable, cached for a year) and
//! `GET /api/v1/log/proof?identifier=...` (a tlog-proof against the latest published
//! checkpoint). Public, like the verify routes.

use crate::error::ApiError;
use crate::storage::{tlog as store, StorageError};
use crate::tlog::tiles::{self, TileRef};
use crate::tlog::{merkle, note, LogService};
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use base64::Engine;

/// The tile routes, outside the API document (tlog-tiles is their reference); the proof route
/// is registered with the API (`routes::configure`).
pub fn configure_tiles(cfg: &mut web::ServiceConfig) {
    cfg.service(checkpoint).service(tile);
}

async fn db<T: Send + 'static>(
    log: &LogService,
    f: impl FnOnce(&mut crate::storage::DbConnection) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, ApiError> {
    log.blocking(f).await.map_err(ApiError::from)
}

fn no_checkpoint() -> ApiError {
    ApiError::not_found("the transparency log has published no checkpoint yet")
}

#[get("/log/checkpoint")]
pub async fn checkpoint(log: web::Data<LogService>) -> Result<HttpResponse, ApiError> {
    let c = db(&log, store::latest_checkpoint)
        .await?
        .ok_or_else(no_checkpoint)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(c.note))
}

#[get("/log/tile/{tail:.*}")]
pub async fn tile(
    log: web::Data<LogService>,
    tail: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let t = TileRef::parse(&tail)
        .ok_or_else(|| ApiError::not_found(format!("no tile {tail}: not a tile path")))?;
    let body = db(&log, move |conn| {
        let size = store::latest_checkpoint(conn)?.map(|c| c.size).unwrap_or(0);
        if !tiles::within(&t, size) {
            return Ok(None);
        }
        let from = t.index * tiles::WIDTH;
        Ok(Some(match t.level {
            None => crate::tlog::entry::bundle(&store::entries(conn, from, from + t.width)?),
            Some(l) => store::nodes(conn, 8 * l, from, from + t.width)?.concat(),
        }))
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no tile {tail} in the published tree")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body))
}

/// `GET /api/v1/log/proof?identifier=...`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The licence identifier (证照标识).
    pub identifier: Option<String>,
}

/// Why a licence has no proof (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inclusion {
    /// No entry at all.
    NotLogged,
    /// Written, not yet in a published checkpoint.
    Pending,
}

/// The tlog-proof of the newest entry about `subject` against the latest published
/// checkpoint, with the entry in the `extra` line.
pub fn build_proof(
    conn: &mut crate::storage::DbConnection,
    subject: &str,
) -> Result<Result<String, Inclusion>, StorageError> {
    let Some((index, data)) = store::newest_for(conn, subject)? else {
        return Ok(Err(Inclusion::NotLogged));
    };
    let Some(c) = store::latest_checkpoint(conn)? else {
        return Ok(Err(Inclusion::Pending));
    };
    let Some(index) = index.filter(|i| *i < c.size) else {
        return Ok(Err(Inclusion::Pending));
    };
    let path = merkle::inclusion_proof(&mut store::DbHashes::new(conn), index, c.size)?;
    let mut text = format!(
        "{}\nextra {}\nindex {index}\n",
        note::PROOF_HEADER,
        base64::engine::general_purpose::STANDARD.encode(&data)
    );
    for h in &path {
        text.push_str(&note::encode_hash(h));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&c.note);
    Ok(Ok(text))
}

#[utoipa::path(tag = "public", params(ProofQuery), responses((status = 200, description = "a tlog-proof (C2SP) of the licence's newest log entry against the latest cosigned checkpoint, its entry in the extra line", content_type = "text/plain", body = String)))]
#[get("/api/v1/log/proof")]
pub async fn proof(
    log: web::Data<LogService>,
    q: web::Query<ProofQuery>,
) -> Result<HttpResponse, ApiError> {
    let identifier = q
        .identifier
        .clone()
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_identifier", "identifier: is required"))?;
    let subject = identifier.clone();
    match db(&log, move |conn| build_proof(conn, &subject)).await? {
        Ok(text) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(text)),
        Err(Inclusion::NotLogged) => Err(ApiError::not_found(format!(
            "identifier: {identifier} is not in the transparency log"
        ))),
        Err(Inclusion::Pending) => Err(ApiError::Unavailable {
            code: "not_yet_logged",
            message: format!(
                "identifier: {identifier} is not in a published checkpoint yet; retry shortly"
            ),
        }),
    }
}
