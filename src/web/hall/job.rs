//! `/jobs/{id}`: a job's page, the pickup form, resolving a job that needs reconciliation
//! and requeueing a failed one.

use super::history::{self, HistoryLine, NotificationLine};
use super::*;

pub struct SheetLine {
    pub serial: String,
    pub copy: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "job.html")]
pub(super) struct JobPage {
    chrome: Chrome,
    id: String,
    state_label: &'static str,
    state: String,
    hall: String,
    hall_name: String,
    issuing_hall_name: String,
    licence_id: String,
    licence_no: String,
    type_name: String,
    holder_name: String,
    licence_status: String,
    copies: String,
    pickup_label: &'static str,
    pickup_locked: bool,
    may_unlock: bool,
    may_pick_up: bool,
    sheets: Vec<SheetLine>,
    history: Vec<HistoryLine>,
    notifications: Vec<NotificationLine>,
    mobile: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    may_resolve: bool,
    resolve: ResolveForm,
    may_requeue: bool,
}

/// The reconciliation form of a job in `needs_reconciliation`: what was typed, and the
/// problem next to each field when the server refused it.
#[derive(Default)]
pub struct ResolveForm {
    pub outcome: String,
    pub sheets: String,
    pub voided: String,
    pub no_sheet_taken: bool,
    pub reason: String,
    pub err_outcome: Option<String>,
    pub err_sheets: Option<String>,
    pub err_voided: Option<String>,
    pub err_no_sheet: Option<String>,
    pub err_reason: Option<String>,
}

impl ResolveForm {
    /// Where the problem with a request field is shown (the reason's slot for any other).
    pub(super) fn error_slot(&mut self, field: &str) -> &mut Option<String> {
        match field {
            "outcome" => &mut self.err_outcome,
            "sheets" => &mut self.err_sheets,
            "voided_serials" => &mut self.err_voided,
            "no_sheet_taken" => &mut self.err_no_sheet,
            _ => &mut self.err_reason,
        }
    }
}

/// What a job page says above the job, after a form was posted.
#[derive(Default)]
pub(super) struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    resolve: ResolveForm,
}

impl Outcome {
    pub(super) fn notice(text: impl Into<String>) -> Outcome {
        Outcome {
            notice: Some(text.into()),
            ..Outcome::default()
        }
    }

    pub(super) fn error(text: impl Into<String>) -> Outcome {
        Outcome {
            error: Some(text.into()),
            ..Outcome::default()
        }
    }
}

pub(super) async fn render_job(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
    status: StatusCode,
    outcome: Outcome,
) -> Result<HttpResponse, PageError> {
    let Outcome {
        notice,
        error,
        resolve,
    } = outcome;
    let staff = session.staff.clone();
    let st = state.clone();
    let today = state.now().date_naive();
    let (job, extras) = state
        .db(move |conn| {
            let job = jobs::get_job(conn, &st.catalog, &staff, &id, today)?;
            let extras = history::job_extras(conn, &job.summary.id, &job.history)?;
            Ok::<_, ApiError>((job, extras))
        })
        .await?;
    let PrintJob {
        summary: job,
        sheets,
        history,
        licence,
    } = job;
    let l = licence.as_ref();
    let job_state = Some(job.state);
    let own_hall = session.staff.role == Role::HallOperator && session.staff.hall_code == job.hall;
    let page = JobPage {
        chrome: Chrome::new("打印任务", session),
        state_label: job_state_label(job.state.as_str()),
        state: job.state.as_str().to_string(),
        licence_no: l.map(|l| l.licence_no.clone()).unwrap_or_default(),
        type_name: l.and_then(|l| l.type_name.clone()).unwrap_or_default(),
        holder_name: l.map(|l| l.holder_name.clone()).unwrap_or_default(),
        licence_status: l
            .map(|l| l.status.label_zh().to_string())
            .unwrap_or_default(),
        copies: job
            .copies
            .iter()
            .map(|c| c.label_zh())
            .collect::<Vec<_>>()
            .join("、"),
        pickup_label: job.pickup.label_zh(),
        pickup_locked: job.pickup_locked,
        may_unlock: job.pickup_locked
            && jobs::may_unlock_pickup(&session.staff, &job.hall, &job.issuing_hall, job.pickup),
        may_pick_up: own_hall && job_state == Some(JobState::Printed),
        may_resolve: own_hall && job_state == Some(JobState::NeedsReconciliation),
        resolve,
        may_requeue: job_state == Some(JobState::Failed)
            && jobs::may_requeue(&session.staff, &job.hall, &job.issuing_hall),
        sheets: sheets
            .iter()
            .map(|s| SheetLine {
                serial: s.serial.clone(),
                copy: s.copy.map(|c| c.label_zh().to_string()).unwrap_or_default(),
                state: history::sheet_state_label(s.state).to_string(),
            })
            .collect(),
        history: history.iter().map(|e| extras.line(e)).collect(),
        hall_name: extras.hall_name(&job.hall),
        issuing_hall_name: extras.hall_name(&job.issuing_hall),
        notifications: extras.notifications,
        mobile: extras.mobile,
        id: job.id,
        hall: job.hall,
        licence_id: job.licence_id,
        notice,
        error,
    };
    html(status, &page)
}

#[get("/jobs/{id}")]
pub async fn job_page(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_job(
        &state,
        &session,
        path.into_inner(),
        StatusCode::OK,
        Outcome::default(),
    )
    .await
}

/// Hand a printed certificate over against the pickup code and the holder's code: from a
/// job's page (with its id), or from the queue page by the pickup code alone.
#[post("/pickups")]
pub async fn pick_up(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    let id = post.form.text("job_id").trim().to_string();
    let body = crate::wire::print_jobs::PickupRequest {
        job_id: Some(id.clone()).filter(|i| !i.is_empty()),
        pickup_code: post.form.text("pickup_code").to_string(),
        recipient_code: post.form.text("recipient_code").to_string(),
    };
    let staff = post.session.staff.clone();
    let now = state.now();
    let st = state.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(jobs::pickup(conn, &staff, &body, &st.pickup_key, now)))
        .await?;
    let e = match outcome {
        Ok(row) => {
            return render_job(
                &state,
                &post.session,
                row.id,
                StatusCode::OK,
                Outcome::notice("已核对领取码与证件号码，证照已交付（已领取）。"),
            )
            .await
        }
        Err(e) => e,
    };
    let (status, field, message) = match &e {
        jobs::JobError::WrongPickupCode { attempts_left } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "pickup_code",
            format!("领取码或证件号码不正确，还可尝试 {attempts_left} 次。"),
        ),
        jobs::JobError::UnknownPickupCode => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "pickup_code",
            "本厅没有使用此领取码的待领取证照，请核对凭条上的领取码。".to_string(),
        ),
        jobs::JobError::PickupLocked => (
            StatusCode::TOO_MANY_REQUESTS,
            "pickup_code",
            "错误次数过多，领取已锁定；请联系管理员或发证窗口解锁。".to_string(),
        ),
        jobs::JobError::NotPrinted(s) => (
            StatusCode::CONFLICT,
            "pickup_code",
            format!("该任务当前为“{}”，尚无可交付的证照。", s.label_zh()),
        ),
        jobs::JobError::PickupLicenceNotValid(m) => (
            StatusCode::CONFLICT,
            "recipient_code",
            format!("证照已不在有效状态，不得交付：{m}"),
        ),
        jobs::JobError::Invalid { field, .. } => (
            StatusCode::BAD_REQUEST,
            if *field == "recipient_code" {
                "recipient_code"
            } else {
                "pickup_code"
            },
            format!(
                "请填写{}。",
                match *field {
                    "job_id" => "任务编号",
                    "pickup_code" => "领取码",
                    _ => "持证主体证件号码",
                }
            ),
        ),
        _ => return Err(e.into()),
    };
    if !id.is_empty() {
        return render_job(&state, &post.session, id, status, Outcome::error(message)).await;
    }
    // From the queue page: the problem next to the field, what was typed kept (not the
    // holder's code after a wrong try).
    let mut forms = CounterForms {
        pickup_code: post.form.text("pickup_code").to_string(),
        ..CounterForms::default()
    };
    if field == "recipient_code" {
        forms.err_recipient_code = Some(message);
    } else {
        forms.err_pickup_code = Some(message);
    }
    render_queue(&state, &post.session, None, None, status, forms).await
}

/// Serials as people type them: one per line, or separated by spaces or commas.
pub(super) fn serial_list(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | ';' | '；'))
        .filter(|p| !p.is_empty())
        .map(|p| p.to_ascii_uppercase())
        .collect()
}

/// Settle a job that needs reconciliation, as `POST /api/v1/print-jobs/{id}/resolve` does:
/// the operator looked at the printer and the paper and says whether the certificate came out.
#[post("/jobs/{id}/resolve")]
pub async fn resolve_job(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let f = &post.form;
    let mut form = ResolveForm {
        outcome: f.text("outcome").to_string(),
        sheets: f.text("sheets").to_string(),
        voided: f.text("voided_serials").to_string(),
        no_sheet_taken: !f.text("no_sheet_taken").is_empty(),
        reason: f.text("reason").to_string(),
        ..ResolveForm::default()
    };
    let printed_sheets = serial_list(&form.sheets);
    use crate::wire::print_jobs::{ResolveOutcome, ResolveRequest};
    let outcome = match form.outcome.as_str() {
        "printed" => Some(ResolveOutcome::Printed),
        "not_printed" => Some(ResolveOutcome::NotPrinted),
        _ => None,
    };
    let reason = Some(form.reason.trim().to_string()).filter(|r| !r.is_empty());
    let request = outcome.map(|outcome| ResolveRequest {
        outcome,
        sheets: Some(printed_sheets.clone()),
        voided_serials: Some(serial_list(&form.voided)),
        no_sheet_taken: Some(form.no_sheet_taken),
        reason,
    });
    let staff = post.session.staff.clone();
    let now = state.now();
    let job_id = id.clone();
    let outcome = state
        .db(move |conn| {
            Ok::<_, ApiError>(match request {
                Some(request) => {
                    crate::distribution::protocol::resolve_job(conn, &staff, &job_id, &request, now)
                }
                None => Err(crate::distribution::protocol::ProtocolError::Invalid {
                    field: "outcome",
                    message: "must be \"printed\" or \"not_printed\"".into(),
                }),
            })
        })
        .await?;
    use crate::distribution::protocol::ProtocolError as P;
    use stock::StockError as S;
    let row = match outcome {
        Ok(row) => row,
        Err(P::Job(jobs::JobError::Transition(_))) => {
            return render_job(
                &state,
                &post.session,
                id,
                StatusCode::CONFLICT,
                Outcome::error("该任务已不在“待核对”状态，请刷新后查看。"),
            )
            .await
        }
        Err(e) => {
            // The refused field and what to say next to it; the status is the API's.
            let (field, zh) = match &e {
                P::Invalid { field, message } => (
                    *field,
                    match *field {
                        "outcome" => "请选择核对结果：已打印或未打印。".to_string(),
                        "sheets" => format!("已打印证纸编号有误：{message}"),
                        "voided_serials" => format!("作废证纸编号有误：{message}"),
                        "no_sheet_taken" => {
                            "已填写作废证纸时不能同时勾选“未取用证纸”。".to_string()
                        }
                        _ => format!("说明有误：{message}"),
                    },
                ),
                P::VoidedSheetsRequired(_) => (
                    "voided_serials",
                    "重新打印前，须在此填写上次尝试取用的证纸并作废；确未取用证纸的，勾选“未取用证纸”。"
                        .to_string(),
                ),
                P::Stock(S::NotInStock { serial, .. } | S::AlreadyUsed { serial, .. }) => (
                    if printed_sheets.contains(serial) {
                        "sheets"
                    } else {
                        "voided_serials"
                    },
                    if matches!(e, P::Stock(S::NotInStock { .. })) {
                        format!("证纸 {serial} 不在本厅登记的库存中。")
                    } else {
                        format!("证纸 {serial} 已使用或已作废。")
                    },
                ),
                _ => return Err(PageError::Api(e.into())),
            };
            let status = actix_web::ResponseError::status_code(&ApiError::from(e));
            *form.error_slot(field) = Some(zh);
            let outcome = Outcome {
                resolve: form,
                ..Outcome::default()
            };
            return render_job(&state, &post.session, id, status, outcome).await;
        }
    };
    let notice = if row.state == JobState::Printed {
        "已记录为已打印，可凭领取码交付。".to_string()
    } else {
        // Back in the queue: `AppState::db` woke the hall's agents after the commit.
        "已退回打印队列，打印代理将重新打印。".to_string()
    };
    render_job(
        &state,
        &post.session,
        id,
        StatusCode::OK,
        Outcome::notice(notice),
    )
    .await
}

/// Give a failed job another round of attempts, as `POST /api/v1/print-jobs/{id}/requeue`.
#[post("/jobs/{id}/requeue")]
pub async fn requeue_job(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let staff = post.session.staff.clone();
    let now = state.now();
    let job_id = id.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(jobs::requeue_job(conn, &staff, &job_id, now)))
        .await?;
    let (status, outcome) = match outcome {
        Ok(_) => (
            StatusCode::OK,
            Outcome::notice("已重新排队，打印代理将再次尝试打印。"),
        ),
        Err(jobs::JobError::Transition(_)) => (
            StatusCode::CONFLICT,
            Outcome::error("只有“打印失败”的任务可以重新排队，请刷新后查看。"),
        ),
        Err(jobs::JobError::Refused { message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Outcome::error(format!("不能重新排队：证照已不在有效状态（{message}）。")),
        ),
        Err(e) => return Err(PageError::Api(e.into())),
    };
    render_job(&state, &post.session, id, status, outcome).await
}

/// Unlock pickup after too many wrong codes (at the counter or a kiosk), as
/// `POST /api/v1/print-jobs/{id}/unlock-pickup`.
#[post("/jobs/{id}/unlock")]
pub async fn unlock_pickup(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let staff = post.session.staff.clone();
    let now = state.now();
    let job_id = id.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(jobs::unlock_pickup(conn, &staff, &job_id, now)))
        .await?;
    let (status, outcome) = match outcome {
        Ok(_) => (
            StatusCode::OK,
            Outcome::notice("已解锁，持证人可重新输入取件码和证件号码领取。"),
        ),
        Err(jobs::JobError::Forbidden(_)) => (
            StatusCode::FORBIDDEN,
            Outcome::error("您不能解锁此任务：请联系发证窗口或管理员。"),
        ),
        Err(e) => return Err(PageError::Api(e.into())),
    };
    render_job(&state, &post.session, id, status, outcome).await
}
