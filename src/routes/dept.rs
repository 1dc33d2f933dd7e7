//! Department checks (部门核验): department clients (admin), the department routes (a
//! department client token) and the access log (admin).

use crate::accounts::Staff;
use crate::dept::access::{self, DeptContext};
use crate::dept::clients::{self, DeptClient};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::{bearer_token, require_role};
use crate::routes::body;
use crate::state::AppState;
use crate::wire::dept::*;
use actix_web::dev::Payload;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;

/// A request authenticated by a department client token.
pub struct DeptCaller(pub DeptClient);

impl FromRequest for DeptCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<DeptCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized("a department client token is required".into())
            })?;
            let client = state
                .db(move |conn| clients::authenticate(conn, &token))
                .await?;
            client.map(DeptCaller).ok_or_else(|| {
                ApiError::Unauthorized("the department client token is unknown or revoked".into())
            })
        })
    }
}

/// Run a department service off the async workers with its context.
async fn with_context<T, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&DeptContext<'_>) -> Result<T, crate::dept::DeptError> + Send + 'static,
    T: Send + 'static,
{
    let st = state.clone();
    let now = state.now();
    Ok(web::block(move || {
        let ctx = DeptContext {
            pool: &st.pool,
            trust: &st.trust,
            gate: &st.verify_gate,
            catalog: &st.catalog,
            public_url: &st.settings.public_url,
            now,
        };
        f(&ctx)
    })
    .await??)
}

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = CreateDeptClientRequest, responses((status = 201, body = CreatedDeptClient)))]
#[post("/api/v1/dept-clients")]
pub async fn create_dept_client(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let req: CreateDeptClientRequest = body::parse(&body)?;
    let (st, now) = (state.clone(), state.now());
    let created = state
        .db(move |conn| clients::issue_client(conn, &st.catalog, &req, &staff.username, now))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = Vec<DeptClientView>)))]
#[get("/api/v1/dept-clients")]
pub async fn list_dept_clients(
    state: web::Data<AppState>,
    staff: Staff,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let list = state.db(clients::list_clients).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = RevokedDeptClient)))]
#[post("/api/v1/dept-clients/{id}/revoke")]
pub async fn revoke_dept_client(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let id = path.into_inner();
    let now = state.now();
    let changed = state
        .db(move |conn| clients::revoke_client(conn, id, &staff.username, now))
        .await?;
    Ok(HttpResponse::Ok().json(RevokedDeptClient {
        id,
        revoked: true,
        changed,
    }))
}

#[utoipa::path(tag = "dept", security(("dept" = [])), params(DeptLicencesQuery), responses((status = 200, body = DeptLicences)))]
#[get("/api/v1/dept/licences")]
pub async fn dept_licences(
    state: web::Data<AppState>,
    caller: DeptCaller,
    query: web::Query<DeptLicencesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let answer = with_context(&state, move |ctx| access::list_licences(ctx, &caller.0, &q)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "dept", security(("dept" = [])), request_body = DeptCheckRequest, responses((status = 200, body = DeptCheck)))]
#[post("/api/v1/dept/checks")]
pub async fn dept_check(
    state: web::Data<AppState>,
    caller: DeptCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: DeptCheckRequest = body::parse(&body)?;
    let answer = with_context(&state, move |ctx| access::check(ctx, &caller.0, &req)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), params(AccessLogQuery), responses((status = 200, body = Vec<AccessLogEntry>)))]
#[get("/api/v1/dept/access-log")]
pub async fn access_log(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<AccessLogQuery>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let q = query.into_inner();
    let entries = state.db(move |conn| access::access_log(conn, &q)).await?;
    Ok(HttpResponse::Ok().json(entries))
}
