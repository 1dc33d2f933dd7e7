//! `/admin/dept-clients`: department clients (部门核验), their token shown once, their
//! grants and revocation; `/admin/dept-access`: the access log, searchable by holder code.

use super::*;
use crate::catalog::Domain;
use crate::dept::{access, clients};
use crate::wire::dept::{AccessLogEntry, AccessLogQuery, CreateDeptClientRequest, DeptClientView};

pub struct DomainChoice {
    pub key: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "admin_dept_clients.html")]
pub(super) struct DeptClientsPage {
    chrome: Chrome,
    clients: Vec<DeptClientView>,
    domains: Vec<DomainChoice>,
    /// (name, token) of a client just issued: shown once.
    new_client: Option<(String, String)>,
    error: Option<String>,
}

async fn render_clients(
    state: &web::Data<AppState>,
    session: &Session,
    status: StatusCode,
    new_client: Option<(String, String)>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let clients = state.db(clients::list_clients).await?;
    let domains = Domain::ALL
        .iter()
        .map(|d| DomainChoice {
            key: d.as_str(),
            label: d.label_zh(),
        })
        .collect();
    html(
        status,
        &DeptClientsPage {
            chrome: Chrome::new("部门核验客户端", session),
            clients,
            domains,
            new_client,
            error,
        },
    )
}

#[get("/admin/dept-clients")]
pub async fn dept_clients_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    render_clients(&state, &session, StatusCode::OK, None, None).await
}

/// The token is in this answer only (stored hashed), like agent tokens.
#[post("/admin/dept-clients")]
pub async fn issue_dept_client(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let split = |s: &str| -> Vec<String> {
        s.split([',', '，', ' ', '\n'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let req = CreateDeptClientRequest {
        name: post.form.text("name").to_string(),
        types: split(post.form.text("types")),
        domains: post
            .form
            .all("domains")
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    let (st, now) = (state.clone(), state.now());
    let actor = post.session.staff.username.clone();
    let outcome = state
        .db(move |conn| {
            Ok::<_, ApiError>(clients::issue_client(conn, &st.catalog, &req, &actor, now))
        })
        .await?;
    match outcome {
        Ok(c) => {
            let status = StatusCode::CREATED;
            render_clients(&state, &post.session, status, Some((c.name, c.token)), None).await
        }
        Err(e @ crate::dept::DeptError::Invalid { .. }) => {
            let msg =
                format!("未能签发：请填写部门名称，并至少授权一个证照类型代码或领域。（{e}）");
            render_clients(
                &state,
                &post.session,
                StatusCode::BAD_REQUEST,
                None,
                Some(msg),
            )
            .await
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

#[post("/admin/dept-clients/{id}/revoke")]
pub async fn revoke_dept_client(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let id = path.into_inner();
    let now = state.now();
    let actor = post.session.staff.username.clone();
    state
        .db(move |conn| clients::revoke_client(conn, id, &actor, now))
        .await?;
    Ok(see_other("/admin/dept-clients"))
}

#[derive(Template)]
#[template(path = "admin_dept_access.html")]
pub(super) struct AccessPage {
    chrome: Chrome,
    holder_code: String,
    entries: Vec<AccessLogEntry>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct AccessQuery {
    holder_code: Option<String>,
}

#[get("/admin/dept-access")]
pub async fn dept_access_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<AccessQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    let holder_code = query.into_inner().holder_code.unwrap_or_default();
    let q = AccessLogQuery {
        holder_code: Some(holder_code.clone()),
        client_id: None,
    };
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(access::access_log(conn, &q)))
        .await?;
    let (entries, error, status) = match outcome {
        Ok(e) => (e, None, StatusCode::OK),
        Err(e) => (
            Vec::new(),
            Some(format!(
                "代码有误，请核对 18 位统一社会信用代码或公民身份号码。（{e}）"
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    html(
        status,
        &AccessPage {
            chrome: Chrome::new("部门核验访问记录", &session),
            holder_code,
            entries,
            error,
        },
    )
}
