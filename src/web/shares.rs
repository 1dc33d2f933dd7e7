//! Share codes through the pages: window staff create a share for some of a holder's valid
//! licences and print the slip (the code is shown once), see every lookup of a share and
//! revoke it (`/shares...`); anyone with the code and the holder's code opens `/share`.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::dept::prefill::usable;
use crate::dept::{parse_holder_code, shares, DeptError};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::storage;
use crate::wire::dept::{CreateShareRequest, ShareLookup, ShareLookupRequest, ShareView};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

fn window_staff(session: &Session) -> Result<(), PageError> {
    require_role(&session.staff, &[Role::Admin, Role::Issuer]).map_err(PageError::from)
}

pub struct LicenceChoice {
    pub id: String,
    pub type_name: String,
    pub licence_no: String,
    pub valid_to: String,
}

#[derive(Template)]
#[template(path = "shares.html")]
struct SharesPage {
    chrome: Chrome,
    holder_code: String,
    licences: Vec<LicenceChoice>,
    shares: Vec<ShareView>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct HolderQuery {
    holder_code: Option<String>,
}

async fn render_shares(
    state: &web::Data<AppState>,
    session: &Session,
    holder_code: String,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let (st, staff) = (state.clone(), session.staff.clone());
    let (h, now) = (holder_code.clone(), state.now());
    let outcome = state
        .db(move |conn| {
            let holder = match h.trim() {
                "" => None,
                raw => match parse_holder_code("holder_code", raw) {
                    Ok(code) => Some(code.as_str().to_string()),
                    Err(e) => return Ok::<_, ApiError>(Err(e)),
                },
            };
            let shares = shares::list_shares(conn, &staff, holder.as_deref(), now)?;
            let mut licences = Vec::new();
            if let Some(holder) = &holder {
                for row in storage::dept::current_licences_of_holder(conn, holder)? {
                    if usable(&row, now.date_naive()) {
                        licences.push(LicenceChoice {
                            type_name: st
                                .catalog
                                .get(&row.type_code)
                                .map_or_else(|| row.type_code.clone(), |t| t.name.clone()),
                            valid_to: row
                                .valid_to
                                .map_or_else(|| "长期".to_string(), |d| d.to_string()),
                            licence_no: row.licence_no,
                            id: row.id,
                        });
                    }
                }
            }
            Ok(Ok((shares, licences)))
        })
        .await?;
    let (shares, licences, error, status) = match outcome {
        Ok((s, l)) => (s, l, error, status),
        Err(e) => (
            Vec::new(),
            Vec::new(),
            Some(format!(
                "代码有误，请核对 18 位统一社会信用代码或公民身份号码。（{e}）"
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    html(
        status,
        &SharesPage {
            chrome: Chrome::new("证照分享码", session),
            holder_code,
            licences,
            shares,
            error,
        },
    )
}

#[get("/shares")]
pub async fn shares_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<HolderQuery>,
) -> Result<HttpResponse, PageError> {
    window_staff(&session)?;
    let holder = query.into_inner().holder_code.unwrap_or_default();
    render_shares(&state, &session, holder, StatusCode::OK, None).await
}

#[derive(Template)]
#[template(path = "share_slip.html")]
struct SlipPage {
    chrome: Chrome,
    code: String,
    id: String,
    holder_code: String,
    expires_at: String,
    licences: usize,
}

#[post("/shares")]
pub async fn create_share(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    window_staff(&post.session)?;
    let holder = post.form.text("holder_code").to_string();
    let req = CreateShareRequest {
        holder_code: holder.clone(),
        licence_ids: post
            .form
            .all("licence_ids")
            .into_iter()
            .map(str::to_string)
            .collect(),
        valid_days: post.form.text("valid_days").trim().parse().unwrap_or(0),
    };
    let (st, staff, now) = (state.clone(), post.session.staff.clone(), state.now());
    let outcome = state
        .db(move |conn| {
            Ok::<_, ApiError>(shares::create_share(
                conn,
                &st.pickup_key,
                &staff,
                &req,
                now,
            ))
        })
        .await?;
    match outcome {
        Ok(c) => html(
            StatusCode::CREATED,
            &SlipPage {
                chrome: Chrome::new("分享码凭条", &post.session),
                code: shares::grouped(&c.share_code),
                id: c.id,
                holder_code: c.holder_code,
                expires_at: c.expires_at,
                licences: c.licence_ids.len(),
            },
        ),
        Err(
            e @ (DeptError::Invalid { .. }
            | DeptError::Refused { .. }
            | DeptError::BadHolderCode { .. }),
        ) => {
            let msg = format!(
                "未能生成分享码：请至少勾选一张有效证照，有效天数为 1 至 {} 天。（{e}）",
                shares::MAX_DAYS
            );
            render_shares(
                &state,
                &post.session,
                holder,
                StatusCode::BAD_REQUEST,
                Some(msg),
            )
            .await
        }
        Err(e) => Err(ApiError::from(e).into()),
    }
}

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage {
    chrome: Chrome,
    share: ShareView,
}

#[get("/shares/{id}")]
pub async fn share_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    window_staff(&session)?;
    let (id, staff, now) = (path.into_inner(), session.staff.clone(), state.now());
    let share = state
        .db(move |conn| shares::share_view(conn, &staff, &id, now))
        .await?;
    html(
        StatusCode::OK,
        &SharePage {
            chrome: Chrome::new("分享码详情", &session),
            share,
        },
    )
}

#[post("/shares/{id}/revoke")]
pub async fn revoke_share(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    window_staff(&post.session)?;
    let (id, staff, now) = (path.into_inner(), post.session.staff.clone(), state.now());
    let i = id.clone();
    state
        .db(move |conn| shares::revoke_share(conn, &staff, &i, now))
        .await?;
    Ok(see_other(&format!("/shares/{id}")))
}

// ---- the public page ---------------------------------------------------------------------

/// One shared licence as the public page shows it.
pub struct SharedView {
    pub type_name: String,
    pub licence_no: String,
    pub holder_name: String,
    pub holder_code: String,
    pub authority: String,
    pub validity: String,
    pub status_label: &'static str,
    pub status_code: String,
    pub ok: bool,
    pub authentic: bool,
    /// (label, value) in the type's print order.
    pub fields: Vec<(String, String)>,
}

fn shared_views(state: &AppState, lookup: &ShareLookup) -> Vec<SharedView> {
    lookup
        .licences
        .iter()
        .map(|l| {
            let summary = l.verdict.licence.as_ref();
            let t = summary.and_then(|s| state.catalog.get(&s.type_code));
            let fields = t
                .map(|t| {
                    t.fields
                        .iter()
                        .filter_map(|f| {
                            let v = l.fields.get(&f.key)?.as_str()?;
                            Some((f.label.clone(), v.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            SharedView {
                type_name: t.map_or_else(String::new, |t| t.name.clone()),
                licence_no: summary.map_or_else(String::new, |s| s.licence_no.clone()),
                holder_name: summary.map_or_else(String::new, |s| s.holder.name.clone()),
                holder_code: summary.map_or_else(String::new, |s| s.holder.code.clone()),
                authority: summary
                    .and_then(|s| s.issuing_authority.clone())
                    .unwrap_or_default(),
                validity: summary.map_or_else(String::new, |s| {
                    format!(
                        "{} 至 {}",
                        s.valid_from,
                        s.valid_to
                            .map_or_else(|| "长期".to_string(), |d| d.to_string())
                    )
                }),
                status_label: l.status.label_zh(),
                status_code: l.status_code.clone().unwrap_or_default(),
                ok: l.verdict.valid,
                authentic: l.verdict.authentic,
                fields,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "share_public.html")]
struct PublicPage {
    chrome: Chrome,
    share_code: String,
    holder_code: String,
    expires_at: String,
    result: Option<Vec<SharedView>>,
    error: Option<String>,
}

fn public_page(page: &PublicPage, status: StatusCode) -> Result<HttpResponse, PageError> {
    html(status, page)
}

#[get("/share")]
pub async fn public_form() -> Result<HttpResponse, PageError> {
    let page = PublicPage {
        chrome: Chrome::anonymous("核验证照分享码"),
        share_code: String::new(),
        holder_code: String::new(),
        expires_at: String::new(),
        result: None,
        error: None,
    };
    public_page(&page, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LookupForm {
    #[serde(default)]
    share_code: String,
    #[serde(default)]
    holder_code: String,
}

/// No session and no CSRF token: the page changes nothing but the lookup counters, and
/// both codes must be known to see anything.
#[post("/share")]
pub async fn public_lookup(
    state: web::Data<AppState>,
    ip: ClientIp,
    form: web::Form<LookupForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let req = ShareLookupRequest {
        share_code: form.share_code.clone(),
        holder_code: form.holder_code.clone(),
    };
    let mut page = PublicPage {
        chrome: Chrome::anonymous("核验证照分享码"),
        share_code: form.share_code,
        holder_code: form.holder_code,
        expires_at: String::new(),
        result: None,
        error: None,
    };
    let status = match crate::routes::shares::run_lookup(&state, ip.0, "page", req).await {
        Ok(r) => {
            page.result = Some(shared_views(&state, &r));
            page.expires_at = r.expires_at;
            StatusCode::OK
        }
        Err(e) => {
            let (status, zh) = match &e {
                ApiError::NotFound(_) => (
                    StatusCode::NOT_FOUND,
                    "没有与该分享码和持证主体代码相符的分享。请核对两项内容，或请持证人重新申请分享码。",
                ),
                ApiError::TooManyRequests { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "错误次数过多，请 15 分钟后再试。",
                ),
                ApiError::BadRequest { .. } | ApiError::Unprocessable { .. } => (
                    StatusCode::BAD_REQUEST,
                    "格式有误：分享码为 9 位字母和数字；持证主体代码为 18 位统一社会信用代码或公民身份号码。",
                ),
                _ => return Err(e.into()),
            };
            page.error = Some(format!("{zh}（{}）", e.message()));
            status
        }
    };
    public_page(&page, status)
}
