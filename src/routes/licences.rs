//! Licences: issue, read, lifecycle actions and new versions.

use crate::accounts::Staff;
use crate::domain::licence::LicenceAction;
use crate::error::ApiError;
use crate::registration;
use crate::state::AppState;
use crate::wire::licences::*;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(v) => {
            let key = v.to_str().map(str::trim).unwrap_or("");
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::bad_request(
                    "invalid_header",
                    "Idempotency-Key: must be 1-200 visible ASCII characters",
                ));
            }
            Ok(Some(key.to_string()))
        }
    }
}

#[utoipa::path(tag = "licences", security(("staff" = [])), params(("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters; a retry with the same key and body gets the first answer")), request_body = IssueLicenceRequest, responses((status = 201, description = "issued (a retry with the same Idempotency-Key and body gets the first answer)", body = Licence)))]
#[post("/api/v1/licences")]
pub async fn issue_licence(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body: IssueLicenceInput = crate::routes::body::parse(&body)?;
    let st = state.clone();
    let answer = state
        .db(move |conn| {
            let ctx = st.issue_context();
            registration::issue_licence(conn, &ctx, &staff, &body, key.as_deref())
        })
        .await?;
    state.published.nudge();
    Ok(HttpResponse::Created().json(answer))
}

#[utoipa::path(tag = "licences", security(("staff" = [])), responses((status = 200, body = LicenceDetail)))]
#[get("/api/v1/licences/{id}")]
pub async fn get_licence(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    let answer = state
        .db(move |conn| {
            crate::licence_view::licence_detail(
                conn,
                &staff,
                &id,
                &st.catalog,
                &st.settings.public_url,
                st.now().date_naive(),
            )
        })
        .await?;
    state.published.nudge();
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "licences", security(("staff" = [])), params(("id" = String, Path), ("action" = LicenceActionName, Path)), request_body(content = serde_json::Value, description = "suspend, reinstate, rescind, cancel, revoke: a ReasonBody; versions: an IssueLicenceRequest-shaped record (without type_code)"), responses((status = 200, description = "the licence after the action", body = Licence), (status = 201, description = "versions: the new version", body = Licence)))]
#[post("/api/v1/licences/{id}/{action}")]
pub async fn change_licence(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let st = state.clone();
    if action == "versions" {
        let record: RecordInput = crate::routes::body::from_value(&body)?;
        let answer = state
            .db(move |conn| {
                let ctx = st.issue_context();
                let actor = staff.username.clone();
                let now = ctx.now;
                // Jobs not yet printed stop with the superseded version (same transaction).
                let row = registration::new_version(
                    conn,
                    &ctx,
                    &staff,
                    &id,
                    &record,
                    crate::distribution::jobs::cancel_when_superseded(actor.clone(), now),
                )?;
                Ok::<_, ApiError>(registration::wire_licence(
                    &row,
                    &st.catalog,
                    &st.settings.public_url,
                    ctx.now.date_naive(),
                ))
            })
            .await?;
        state.published.nudge();
        return Ok(HttpResponse::Created().json(answer));
    }
    let action = LicenceAction::parse(&action)
        .ok_or_else(|| ApiError::not_found(format!("no licence action {action}")))?;
    // Any body that is not a ReasonBody is refused as a missing reason is (with `fields`).
    let body: crate::wire::ReasonBody = crate::routes::body::from_value(&body)
        .map_err(|_| ApiError::from(registration::reason_required()))?;
    let answer = state
        .db(move |conn| {
            let now = st.now();
            let actor = staff.username.clone();
            let reason = body.reason.trim().to_string();
            // A licence leaving status 01 cancels its jobs not yet printed (same transaction).
            let row = registration::change_status(
                conn,
                &staff,
                &id,
                action,
                &body,
                now,
                crate::distribution::jobs::cancel_when_withdrawn(
                    reason.clone(),
                    actor.clone(),
                    now,
                ),
            )?;
            Ok::<_, ApiError>(registration::wire_licence(
                &row,
                &st.catalog,
                &st.settings.public_url,
                now.date_naive(),
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The electronic licence (电子证照): marked as the electronic copy, with its real QR, so the
/// holder may show it digitally. Rendered from the stored record each time, PDF/A-3b with the
/// seal attached and PAdES-signed at the moment of download (`crate::electronic`).
#[utoipa::path(tag = "licences", security(("staff" = [])), responses((status = 200, description = "the electronic licence (电子证照): PDF/A-3b, PAdES-signed, the seal attached as seal.cose", content_type = "application/pdf", body = Vec<u8>)))]
#[get("/api/v1/licences/{id}/pdf")]
pub async fn licence_pdf(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    let (pdf, name) = state
        .db(move |conn| {
            crate::electronic::licence_download(conn, &st.electronic_context(), &staff, &id)
        })
        .await?;
    // A holder's signed licence: not kept by shared caches or the browser's history.
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{name}\""),
        ))
        .body(pdf))
}
