//! A licence's page (status, versions, history, actions, the electronic PDF and its QR
//! link), the change form (a new version), and queueing a print job at a hall near the
//! holder, which ends on the pickup slip (the code is shown this once).

use super::issue::{issue_form_page, record_from_form};
use super::page::{html, page_response, see_other, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::distribution::jobs::{self, JobContext};
use crate::distribution::routing;
use crate::domain::copy::CopyKind;
use crate::domain::hall::{Hall, HallKind};
use crate::domain::licence::{LicenceAction, LicenceStatus};
use crate::error::ApiError;
use crate::registration::{self, RegistrationError};
use crate::state::AppState;
use crate::storage;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

fn time(t: chrono::NaiveDateTime) -> String {
    storage::from_db_time(t)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

// ---- the list of recent licences -------------------------------------------------------

pub struct LicenceLine {
    pub id: String,
    pub licence_no: String,
    pub type_name: String,
    pub holder_name: String,
    pub status_label: &'static str,
    pub status_class: &'static str,
    pub issued_at: String,
}

#[derive(Template)]
#[template(path = "licence_list.html")]
struct LicenceListPage {
    chrome: Chrome,
    licences: Vec<LicenceLine>,
}

fn status_class(s: LicenceStatus) -> &'static str {
    match s {
        LicenceStatus::Valid => "ok",
        LicenceStatus::Suspended => "warn",
        _ => "bad",
    }
}

#[get("/licences")]
pub async fn licence_list(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let rows = state
        .db(move |conn| {
            let hall = (staff.role != crate::domain::role::Role::Admin).then_some(staff.hall_code);
            storage::licences::list_recent(conn, hall.as_deref(), 100)
        })
        .await?;
    let today = state.now().date_naive();
    let licences = rows
        .iter()
        .map(|r| {
            let status = LicenceStatus::parse(&r.status)
                .unwrap_or(LicenceStatus::Superseded)
                .effective(r.valid_to, today);
            LicenceLine {
                id: r.id.clone(),
                licence_no: r.licence_no.clone(),
                type_name: state
                    .catalog
                    .get(&r.type_code)
                    .map_or(r.type_code.clone(), |t| t.name.clone()),
                holder_name: r.holder_name.clone(),
                status_label: status.label_zh(),
                status_class: status_class(status),
                issued_at: time(r.issued_at),
            }
        })
        .collect();
    html(
        StatusCode::OK,
        &LicenceListPage {
            chrome: Chrome::new("本厅证照", &session),
            licences,
        },
    )
}

// ---- one licence -----------------------------------------------------------------------

pub struct Row {
    pub label: String,
    pub value: String,
}

pub struct VersionLine {
    pub id: String,
    pub version: i32,
    pub status_label: &'static str,
    pub current: bool,
}

pub struct EventLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub details: String,
}

pub struct JobLine {
    pub id: String,
    pub hall: String,
    pub state_label: &'static str,
    pub created_at: String,
}

pub struct ActionChoice {
    pub key: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "licence.html")]
struct LicencePage {
    chrome: Chrome,
    id: String,
    type_name: String,
    licence_no: String,
    identifier: String,
    version: i32,
    status_label: &'static str,
    status_code: String,
    status_class: &'static str,
    status_reason: Option<String>,
    rows: Vec<Row>,
    qr_text: String,
    versions: Vec<VersionLine>,
    history: Vec<EventLine>,
    jobs: Vec<JobLine>,
    actions: Vec<ActionChoice>,
    may_manage: bool,
    may_change: bool,
    may_print: bool,
    notice: Option<String>,
}

pub fn job_state_label(s: &str) -> &'static str {
    match s {
        "queued" => "排队中",
        "leased" => "打印中",
        "printed" => "已打印待领取",
        "collected" => "已领取",
        "cancelled" => "已取消",
        "failed" => "打印失败",
        "needs_reconciliation" => "待核对",
        _ => "未知",
    }
}

fn action_label(a: LicenceAction) -> &'static str {
    match a {
        LicenceAction::Suspend => "暂扣",
        LicenceAction::Reinstate => "恢复（解除暂扣）",
        LicenceAction::Rescind => "撤销",
        LicenceAction::Cancel => "注销",
        LicenceAction::Revoke => "吊销",
    }
}

const ACTIONS: [LicenceAction; 5] = [
    LicenceAction::Suspend,
    LicenceAction::Reinstate,
    LicenceAction::Rescind,
    LicenceAction::Cancel,
    LicenceAction::Revoke,
];

fn event_label(action: &str) -> String {
    let zh = match action {
        "LicenceSigning" => "开始签章",
        "LicenceIssued" => "签发",
        "LicenceSuspended" => "暂扣",
        "LicenceReinstated" => "恢复",
        "LicenceRescinded" => "撤销",
        "LicenceCancelled" => "注销",
        "LicenceRevoked" => "吊销",
        "LicenceSuperseded" => "变更（被新版本取代）",
        _ => return action.to_string(),
    };
    format!("{zh} ({action})")
}

async fn render_licence_page(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let st = state.clone();
    let (row, versions, history, job_rows) = state
        .db(move |conn| {
            let row = registration::get_licence(conn, &staff, &id)?;
            let versions = registration::versions_of(conn, &row)?;
            let history = storage::audit::list_events_for(conn, &format!("licence:{id}"))?;
            let all: Vec<&str> = crate::domain::job::JobState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect();
            let jobs = storage::jobs::list_for_licence(conn, &id, &all)?;
            Ok::<_, ApiError>((row, versions, history, jobs))
        })
        .await?;
    let today = st.now().date_naive();
    let status = LicenceStatus::parse(&row.status)
        .unwrap_or(LicenceStatus::Superseded)
        .effective(row.valid_to, today);
    let t = st.catalog.get(&row.type_code);
    let fields: BTreeMap<String, String> = serde_json::from_str(&row.fields).unwrap_or_default();
    let mut rows = vec![
        Row {
            label: "持证主体".into(),
            value: row.holder_name.clone(),
        },
        Row {
            label: "证件号码".into(),
            value: row.holder_code.clone(),
        },
    ];
    if let Some(t) = t {
        for f in &t.fields {
            if let Some(v) = fields.get(&f.key) {
                rows.push(Row {
                    label: f.label.clone(),
                    value: v.clone(),
                });
            }
        }
    }
    rows.push(Row {
        label: "有效期限".into(),
        value: format!(
            "{} 至 {}",
            row.valid_from,
            row.valid_to.map_or("长期".to_string(), |d| d.to_string())
        ),
    });
    rows.push(Row {
        label: "签发".into(),
        value: format!(
            "{} · {} · {}",
            time(row.issued_at),
            row.issued_by,
            row.issuing_hall
        ),
    });
    let manage = session.staff.role == crate::domain::role::Role::Admin
        || (session.staff.role == crate::domain::role::Role::Issuer
            && session.staff.hall_code == row.issuing_hall);
    let stored = LicenceStatus::parse(&row.status).unwrap_or(LicenceStatus::Superseded);
    let actions = ACTIONS
        .iter()
        .filter(|a| a.apply(stored).is_ok())
        .map(|a| ActionChoice {
            key: a.as_str(),
            label: action_label(*a),
        })
        .collect();
    let is_issuer = session.staff.role == crate::domain::role::Role::Issuer;
    let page = LicencePage {
        chrome: Chrome::new(format!("证照 {}", row.licence_no), session),
        id: row.id.clone(),
        type_name: t.map_or(row.type_code.clone(), |t| t.name.clone()),
        licence_no: row.licence_no.clone(),
        identifier: row.identifier.clone(),
        version: row.version,
        status_label: status.label_zh(),
        status_code: status.code().unwrap_or("—").to_string(),
        status_class: status_class(status),
        status_reason: row.status_reason.clone(),
        rows,
        qr_text: crate::verification::qr_text(&st.settings.public_url, &row.cose),
        versions: versions
            .iter()
            .map(|v| VersionLine {
                id: v.id.clone(),
                version: v.version,
                status_label: LicenceStatus::parse(&v.status)
                    .unwrap_or(LicenceStatus::Superseded)
                    .label_zh(),
                current: v.id == row.id,
            })
            .collect(),
        history: history
            .iter()
            .map(|e| EventLine {
                at: time(e.at),
                actor: e.actor.clone(),
                action: event_label(&e.action),
                details: e.details.clone(),
            })
            .collect(),
        jobs: job_rows
            .iter()
            .map(|j| JobLine {
                id: j.id.clone(),
                hall: j.hall.clone(),
                state_label: job_state_label(&j.state),
                created_at: time(j.created_at),
            })
            .collect(),
        actions,
        may_manage: manage,
        may_change: manage && is_issuer && stored == LicenceStatus::Valid,
        may_print: manage && is_issuer && status == LicenceStatus::Valid,
        notice,
    };
    html(StatusCode::OK, &page)
}

#[get("/licences/{id}")]
pub async fn licence_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_licence_page(&state, &session, path.into_inner(), None).await
}

/// The electronic licence (电子证照), as `GET /api/v1/licences/{id}/pdf` gives it.
#[get("/licences/{id}/pdf")]
pub async fn licence_pdf(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let st = state.clone();
    let staff = session.staff;
    let (pdf, no) = state
        .db(move |conn| {
            let row = registration::get_licence(conn, &staff, &id)?;
            let pdf = crate::electronic::licence_pdf(conn, &st.electronic_context(), &row)?;
            Ok::<_, ApiError>((pdf, row.licence_no))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!(
                "inline; filename=\"licence-{}.pdf\"",
                no.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        ))
        .body(pdf))
}

/// Suspend, reinstate, rescind, cancel or revoke, with a reason. As in the API, a licence
/// leaving status 01 cancels its print jobs not yet printed, in the same transaction.
#[post("/licences/{id}/status")]
pub async fn change_status(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let action = LicenceAction::parse(post.form.text("action")).ok_or_else(|| {
        PageError::Api(ApiError::bad_request(
            "invalid_input",
            "action: choose suspend, reinstate, rescind, cancel or revoke",
        ))
    })?;
    let reason = post.form.text("reason").to_string();
    let staff = post.session.staff.clone();
    let now = state.now();
    let licence_id = id.clone();
    let outcome = state
        .db(move |conn| {
            let actor = staff.username.clone();
            let body = serde_json::json!({ "reason": reason });
            Ok::<_, ApiError>(registration::change_status(
                conn,
                &staff,
                &licence_id,
                action,
                &body,
                now,
                crate::distribution::jobs::cancel_when_withdrawn(
                    reason.clone(),
                    actor.clone(),
                    now,
                ),
            ))
        })
        .await?;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/licences/{id}"))),
        Err(RegistrationError::Invalid(_)) => render_licence_page(
            &state,
            &post.session,
            id,
            Some("请填写原因（1–500 个字）后再提交。".into()),
        )
        .await
        .map(|mut r| {
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }),
        Err(e) => Err(e.into()),
    }
}

// ---- a change: the new version form ----------------------------------------------------

async fn licence_for_change(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
) -> Result<storage::licences::LicenceRow, PageError> {
    let staff = session.staff.clone();
    Ok(state
        .db(move |conn| registration::get_licence(conn, &staff, &id))
        .await?)
}

fn current_record(row: &storage::licences::LicenceRow) -> Value {
    serde_json::json!({
        "holder": {"name": row.holder_name, "code": row.holder_code},
        "fields": serde_json::from_str::<Value>(&row.fields).unwrap_or(Value::Null),
        "valid_from": row.valid_from.to_string(),
        "valid_to": row.valid_to.map(|d| d.to_string()),
    })
}

fn change_page(
    state: &AppState,
    session: &Session,
    row: &storage::licences::LicenceRow,
    values: &Value,
    errors: &[crate::catalog::FieldError],
) -> Result<super::issue::IssueFormPage, PageError> {
    let t = state.catalog.get(&row.type_code).ok_or_else(|| {
        PageError::Api(ApiError::not_found(format!(
            "the type {} is no longer in the catalog",
            row.type_code
        )))
    })?;
    let mut page = issue_form_page(session, t, values, errors);
    page.chrome.title = format!("变更 · {}", row.licence_no);
    page.type_name = format!(
        "变更 {}（第 {} 版 → 第 {} 版）",
        t.name,
        row.version,
        row.version + 1
    );
    page.action = format!("/licences/{}/change", row.id);
    page.submit_label = "签发新版本";
    page.example_link = None;
    Ok(page)
}

#[get("/licences/{id}/change")]
pub async fn change_form(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let row = licence_for_change(&state, &session, path.into_inner()).await?;
    let page = change_page(&state, &session, &row, &current_record(&row), &[])?;
    html(StatusCode::OK, &page)
}

#[post("/licences/{id}/change")]
pub async fn submit_change(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let row = licence_for_change(&state, &post.session, path.into_inner()).await?;
    let t = state.catalog.get(&row.type_code).ok_or_else(|| {
        PageError::Api(ApiError::not_found("the type is no longer in the catalog"))
    })?;
    let body = record_from_form(t, &post.form);
    let staff = post.session.staff.clone();
    let st = state.clone();
    let (b, id) = (body.clone(), row.id.clone());
    let outcome = state
        .db(move |conn| {
            let ctx = st.issue_context();
            let actor = staff.username.clone();
            let now = ctx.now;
            Ok::<_, ApiError>(registration::new_version(
                conn,
                &ctx,
                &staff,
                &id,
                &b,
                crate::distribution::jobs::cancel_when_superseded(actor.clone(), now),
            ))
        })
        .await?;
    match outcome {
        Ok(new) => Ok(see_other(&format!("/licences/{}", new.id))),
        Err(RegistrationError::Invalid(errors)) => {
            let page = change_page(&state, &post.session, &row, &body, &errors)?;
            html(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => Err(e.into()),
    }
}

// ---- queueing a print job --------------------------------------------------------------

/// A place the holder can name: a county (or district) of the halls register, measured
/// from the middle of its halls.
pub struct Place {
    pub key: String,
    pub label: String,
    pub lat: f64,
    pub lon: f64,
    pub selected: bool,
}

fn places(halls: &[Hall], chosen: &str) -> Vec<Place> {
    let mut by_key: BTreeMap<(String, String, String), (f64, f64, u32)> = BTreeMap::new();
    for h in halls.iter().filter(|h| h.active) {
        let county = if h.county.is_empty() {
            h.city.clone()
        } else {
            h.county.clone()
        };
        let e = by_key
            .entry((h.province.clone(), h.city.clone(), county))
            .or_insert((0.0, 0.0, 0));
        e.0 += h.lat;
        e.1 += h.lon;
        e.2 += 1;
    }
    by_key
        .into_iter()
        .map(|((province, city, county), (lat, lon, n))| {
            let label = if city == county {
                format!("{province} {city}")
            } else {
                format!("{province} {city} {county}")
            };
            Place {
                selected: label == chosen,
                key: label.clone(),
                label,
                lat: lat / f64::from(n),
                lon: lon / f64::from(n),
            }
        })
        .collect()
}

pub struct HallChoice {
    pub code: String,
    pub name: String,
    pub kind_label: &'static str,
    pub partner: bool,
    pub place: String,
    pub address: String,
    pub distance: String,
    pub first: bool,
}

pub struct CopyChoice {
    pub key: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "print_form.html")]
struct PrintFormPage {
    chrome: Chrome,
    id: String,
    licence_no: String,
    type_name: String,
    holder_name: String,
    places: Vec<Place>,
    near: String,
    searched: bool,
    halls: Vec<HallChoice>,
    copies: Vec<CopyChoice>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct PrintQuery {
    place: Option<String>,
    near: Option<String>,
}

/// How many of the nearest halls the form offers.
const HALL_CHOICES: usize = 12;

async fn print_form_page(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
    place: String,
    near: String,
    error: Option<String>,
) -> Result<(StatusCode, PrintFormPage), PageError> {
    let row = licence_for_change(state, session, id).await?;
    let all = state.db(storage::halls::list_halls).await?;
    let places = places(&all, &place);
    // A typed LAT,LON wins over the chosen place.
    let point = if !near.is_empty() {
        Some(near.clone())
    } else {
        places
            .iter()
            .find(|p| p.selected)
            .map(|p| format!("{:.5},{:.5}", p.lat, p.lon))
    };
    let st = state.clone();
    let type_code = row.type_code.clone();
    let today = state.now().date_naive();
    let searched = point.is_some();
    let routed = match point {
        None => Ok(Vec::new()),
        Some(p) => {
            state
                .db(move |conn| {
                    Ok::<_, ApiError>(routing::printable_halls(
                        conn,
                        &st.catalog,
                        Some(&type_code),
                        Some(&p),
                        today,
                    ))
                })
                .await?
        }
    };
    let (halls, error, status) = match routed {
        Ok(list) => (list, error, StatusCode::OK),
        Err(routing::RoutingError::Invalid { message, .. }) => (
            Vec::new(),
            Some(format!(
                "位置格式应为“纬度,经度”，如 34.31,117.96（{message}）"
            )),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => return Err(e.into()),
    };
    let t = state.catalog.get(&row.type_code);
    let copies = t
        .map(|t| t.copies.clone())
        .unwrap_or_else(|| vec![CopyKind::Original])
        .into_iter()
        .map(|c| CopyChoice {
            key: c.as_str(),
            label: c.label_zh(),
            checked: c == CopyKind::Original,
        })
        .collect();
    let page = PrintFormPage {
        chrome: Chrome::new(format!("制证 · {}", row.licence_no), session),
        id: row.id.clone(),
        licence_no: row.licence_no.clone(),
        type_name: t.map_or(row.type_code.clone(), |t| t.name.clone()),
        holder_name: row.holder_name.clone(),
        places,
        near,
        searched,
        halls: halls
            .into_iter()
            .take(HALL_CHOICES)
            .enumerate()
            .map(|(i, r)| HallChoice {
                code: r.hall.code.clone(),
                partner: r.hall.kind == HallKind::Partner,
                kind_label: r.hall.kind.label_zh(),
                place: format!("{} {} {}", r.hall.province, r.hall.city, r.hall.county),
                address: r.hall.address.clone(),
                distance: r
                    .distance_km
                    .map_or("—".to_string(), |d| format!("{d:.1} 公里")),
                name: r.hall.name,
                first: i == 0,
            })
            .collect(),
        copies,
        error,
    };
    Ok((status, page))
}

#[get("/licences/{id}/print")]
pub async fn print_form(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<PrintQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let (status, page) = print_form_page(
        &state,
        &session,
        path.into_inner(),
        q.place.unwrap_or_default().trim().to_string(),
        q.near.unwrap_or_default().trim().to_string(),
        None,
    )
    .await?;
    html(status, &page)
}

#[derive(Template)]
#[template(path = "slip.html")]
struct SlipPage {
    chrome: Chrome,
    job_id: String,
    licence_id: String,
    pickup_code: String,
    licence_no: String,
    type_name: String,
    holder_name: String,
    hall_name: String,
    hall_address: String,
    partner: bool,
    copies: String,
    queued_at: String,
}

/// Queue the job; the answer is the pickup slip, rendered once and never stored (a reload
/// of this POST would need the CSRF token and would meet the licence's open job).
#[post("/licences/{id}/print")]
pub async fn queue_print(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let hall = post.form.text("hall").to_string();
    let copies: Vec<String> = post
        .form
        .all("copies")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let body = serde_json::json!({"licence_id": id, "hall": hall, "copies": copies});
    let staff = post.session.staff.clone();
    let st = state.clone();
    let outcome = state
        .db(move |conn| {
            let ctx = JobContext {
                catalog: &st.catalog,
                fonts: &st.fonts,
                public_url: &st.settings.public_url,
                pickup_key: &st.pickup_key,
                now: st.now(),
            };
            let queued = jobs::queue_job(conn, &ctx, &staff, &body);
            let extra = match &queued {
                Ok(_) => Some((
                    storage::licences::get_licence(
                        conn,
                        body["licence_id"].as_str().unwrap_or_default(),
                    )?,
                    storage::halls::get_hall(conn, body["hall"].as_str().unwrap_or_default())?,
                )),
                Err(_) => None,
            };
            Ok::<_, ApiError>((queued, extra))
        })
        .await?;
    match outcome {
        (Ok(queued), Some((licence, hall))) => {
            let job = &queued.job;
            let copies: Vec<&str> = job["copies"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().and_then(CopyKind::parse).map(|c| c.label_zh()))
                        .collect()
                })
                .unwrap_or_default();
            let page = SlipPage {
                chrome: Chrome::new("领取凭条", &post.session),
                job_id: job["id"].as_str().unwrap_or_default().to_string(),
                licence_id: licence.id.clone(),
                pickup_code: queued.pickup_code,
                licence_no: licence.licence_no.clone(),
                type_name: state
                    .catalog
                    .get(&licence.type_code)
                    .map_or(licence.type_code.clone(), |t| t.name.clone()),
                holder_name: licence.holder_name.clone(),
                partner: hall.kind == HallKind::Partner,
                hall_name: hall.name,
                hall_address: hall.address,
                copies: copies.join("、"),
                queued_at: state.now().format("%Y-%m-%d %H:%M UTC").to_string(),
            };
            let body = page
                .render()
                .map_err(|e| PageError::Api(ApiError::internal(format!("template: {e}"))))?;
            Ok(page_response(StatusCode::CREATED).body(body))
        }
        (Err(e), _) => {
            let message = match &e {
                jobs::JobError::Invalid {
                    field: "copies", ..
                } => "请至少选择一种证照（正本或副本）。".to_string(),
                jobs::JobError::Invalid { field: "hall", .. } => "请选择一个打印大厅。".to_string(),
                jobs::JobError::Refused { .. } | jobs::JobError::UnknownHall(_) => e.to_string(),
                _ => return Err(e.into()),
            };
            let (_, page) = print_form_page(
                &state,
                &post.session,
                id,
                post.form.text("place").to_string(),
                post.form.text("near").to_string(),
                Some(message),
            )
            .await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        (Ok(_), None) => Err(PageError::Api(ApiError::internal(
            "queued job without its licence",
        ))),
    }
}
