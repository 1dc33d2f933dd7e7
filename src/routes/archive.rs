//! `GET /api/v1/licences/{id}/archive`: the registration archive (电子登记档案), a signed
//! PDF/A-3 (see `crate::archive`). Issuers of the issuing hall and administrators only.

use actix_web::{get, web, HttpResponse};

use crate::accounts::Staff;
use crate::error::ApiError;
use crate::state::AppState;

/// The licence's registration archive: record, versions, status changes, print jobs and
/// sheets in readable pages, each version's signed e-licence attached; PAdES-signed.
#[utoipa::path(
    get,
    path = "/api/v1/licences/{id}/archive",
    params(("id" = String, Path, description = "licence id (any version)")),
    responses(
        (status = 200, description = "the archive, PDF/A-3b, PAdES-signed", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "not an issuer of the issuing hall or an administrator"),
        (status = 404, description = "no such licence (or another hall's)"),
        (status = 503, description = "no signer may sign now"),
    )
)]
#[get("/api/v1/licences/{id}/archive")]
pub async fn licence_archive(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    let (pdf, stamp) = state
        .db(move |conn| {
            let ctx = st.electronic_context();
            let pdf = crate::archive::licence_archive(conn, &ctx, &staff, &id)?;
            Ok::<_, ApiError>((pdf, crate::archive::stamp(ctx.now)))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"archive-{stamp}.pdf\""),
        ))
        .body(pdf))
}
