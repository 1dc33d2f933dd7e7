//! Holder share codes: created and revoked by window staff, looked up by anyone who holds
//! both the share code and the holder's code (`POST /api/v1/shares/lookup`, public); and
//! form prefill from the holder's licences.

use crate::accounts::Staff;
use crate::dept::{prefill, shares};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::routes::body;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::wire::dept::*;
use actix_web::{get, post, web, HttpResponse};

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = CreateShareRequest, responses((status = 201, description = "the share code is in this answer only", body = CreatedShare)))]
#[post("/api/v1/shares")]
pub async fn create_share(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: CreateShareRequest = body::parse(&body)?;
    let (st, now) = (state.clone(), state.now());
    let created = state
        .db(move |conn| shares::create_share(conn, &st.pickup_key, &staff, &req, now))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = ShareView)))]
#[get("/api/v1/shares/{id}")]
pub async fn get_share(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let now = state.now();
    let view = state
        .db(move |conn| shares::share_view(conn, &staff, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = ShareView)))]
#[post("/api/v1/shares/{id}/revoke")]
pub async fn revoke_share(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let now = state.now();
    let view = state
        .db(move |conn| shares::revoke_share(conn, &staff, &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The lookup, for the API and the `/share` page.
pub async fn run_lookup(
    state: &web::Data<AppState>,
    ip: std::net::IpAddr,
    channel: &'static str,
    req: ShareLookupRequest,
) -> Result<ShareLookup, ApiError> {
    let st = state.clone();
    let now = state.now();
    Ok(web::block(move || {
        let ctx = shares::LookupContext {
            pool: &st.pool,
            trust: &st.trust,
            gate: &st.verify_gate,
            catalog: &st.catalog,
            key: &st.pickup_key,
            public_url: &st.settings.public_url,
            window: chrono::Duration::minutes(st.settings.login.window_minutes),
            now,
            client_ip: ip.to_string(),
            channel,
        };
        shares::lookup(&ctx, &req)
    })
    .await??)
}

#[utoipa::path(tag = "public", request_body = ShareLookupRequest, responses((status = 200, body = ShareLookup), (status = 404, description = "the one answer for every wrong pair: unknown code, wrong holder code, expired or revoked", body = crate::wire::ErrorBody), (status = 429, description = "too many wrong lookups", body = crate::wire::ErrorBody)))]
#[post("/api/v1/shares/lookup")]
pub async fn lookup_share(
    state: web::Data<AppState>,
    ip: ClientIp,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: ShareLookupRequest = body::parse(&body)?;
    let answer = run_lookup(&state, ip.0, "api", req).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}

#[utoipa::path(tag = "licences", security(("staff" = [])), params(("holder_code" = String, Path), PrefillQuery), responses((status = 200, body = Prefill)))]
#[get("/api/v1/holders/{holder_code}/prefill")]
pub async fn holder_prefill(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<PrefillQuery>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin, Role::Issuer])?;
    let holder = path.into_inner();
    let type_code = query.into_inner().type_code;
    let st = state.clone();
    let today = state.now().date_naive();
    let answer = state
        .db(move |conn| prefill::prefill(conn, &st.catalog, &holder, type_code.as_deref(), today))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
