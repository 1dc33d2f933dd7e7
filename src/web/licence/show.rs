//! `/licences/{id}`: one licence, its PDF, and the status actions.

use super::*;

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
pub(super) struct LicencePage {
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

pub(super) fn action_label(a: LicenceAction) -> &'static str {
    match a {
        LicenceAction::Suspend => "暂扣",
        LicenceAction::Reinstate => "恢复（解除暂扣）",
        LicenceAction::Rescind => "撤销",
        LicenceAction::Cancel => "注销",
        LicenceAction::Revoke => "吊销",
    }
}

pub(super) const ACTIONS: [LicenceAction; 5] = [
    LicenceAction::Suspend,
    LicenceAction::Reinstate,
    LicenceAction::Rescind,
    LicenceAction::Cancel,
    LicenceAction::Revoke,
];

pub(super) fn event_label(action: &str) -> String {
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

pub(super) async fn render_licence_page(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let st = state.clone();
    let today = st.now().date_naive();
    let (view, job_rows) = state
        .db(move |conn| {
            let view = crate::licence_view::licence_view(conn, &staff, &id, today)?;
            let mut jobs =
                storage::jobs::list_for_licence(conn, &id, &crate::domain::job::JobState::ALL)?;
            // Hall names, not codes.
            for j in &mut jobs {
                if let Some(h) = storage::halls::find_hall(conn, &j.hall)? {
                    j.hall = h.name;
                }
            }
            Ok::<_, ApiError>((view, jobs))
        })
        .await?;
    let crate::licence_view::LicenceView {
        licence: row,
        status,
        versions,
        history,
    } = view;
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
    let stored = row.status;
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
                status_label: v.status.label_zh(),
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
                state_label: j.state.label_zh(),
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
    let (pdf, name) = state
        .db(move |conn| {
            crate::electronic::licence_download(conn, &st.electronic_context(), &staff, &id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{name}\""),
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
            let body = crate::wire::ReasonBody {
                reason: reason.clone(),
            };
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
