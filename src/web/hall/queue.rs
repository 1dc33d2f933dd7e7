//! `/hall`: the hall's print queue by state, reloading itself every 30 s.

use super::*;

pub struct StateTab {
    pub key: &'static str,
    pub label: &'static str,
    pub on: bool,
}

pub struct QueueLine {
    pub id: String,
    pub short_id: String,
    pub state_label: &'static str,
    pub state: String,
    pub licence_no: String,
    pub type_name: String,
    pub holder_name: String,
    pub copies: String,
    pub created_at: String,
    pub issuing_hall: String,
    /// Printed more than 30 days ago and still not collected (逾期未领).
    pub overdue: bool,
}

/// The counter's two forms on the queue page: what was typed, and the problem next to the
/// field when it was refused.
#[derive(Default)]
pub struct CounterForms {
    pub q: String,
    pub err_q: Option<String>,
    pub pickup_code: String,
    pub recipient_code: String,
    pub err_pickup_code: Option<String>,
    pub err_recipient_code: Option<String>,
}

#[derive(Template)]
#[template(path = "hall_queue.html")]
pub(super) struct QueuePage {
    chrome: Chrome,
    hall: String,
    hall_name: String,
    state: String,
    tabs: Vec<StateTab>,
    jobs: Vec<QueueLine>,
    show_pickup: bool,
    forms: CounterForms,
}

#[derive(Deserialize)]
pub struct QueueQuery {
    hall: Option<String>,
    state: Option<String>,
}

/// The states a hall works through, in the order it meets them.
pub(super) const TABS: [(JobState, &str); 8] = [
    (JobState::Queued, "排队中"),
    (JobState::Held, "待自助领取"),
    (JobState::Leased, "打印中"),
    (JobState::Printed, "待领取"),
    (JobState::NeedsReconciliation, "待核对"),
    (JobState::Failed, "失败"),
    (JobState::Collected, "已领取"),
    (JobState::Cancelled, "已取消"),
];

#[get("/hall")]
pub async fn queue_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    render_queue(
        &state,
        &session,
        q.hall.as_deref(),
        q.state.as_deref(),
        StatusCode::OK,
        CounterForms::default(),
    )
    .await
}

/// The queue page of `hall` (default: the caller's) in `state` (default: printed), with the
/// counter's forms as given.
pub(super) async fn render_queue(
    state: &web::Data<AppState>,
    session: &Session,
    hall: Option<&str>,
    wanted: Option<&str>,
    status: StatusCode,
    forms: CounterForms,
) -> Result<HttpResponse, PageError> {
    let hall = hall_of_page(session, hall)?;
    let wanted = wanted
        .and_then(JobState::parse)
        .unwrap_or(JobState::Printed);
    let now = state.now();
    let staff = session.staff.clone();
    let (h, w, st) = (hall.clone(), wanted.as_str(), state.clone());
    let (hall_row, lines) = state
        .db(move |conn| {
            let hall_row = storage::halls::find_hall(conn, &h)?
                .ok_or_else(|| ApiError::not_found(format!("no hall with code {h}")))?;
            let list = jobs::list_jobs(conn, &staff, Some(&h), Some(w), Some("200"))?;
            let names: std::collections::HashMap<String, String> =
                storage::halls::list_halls(conn)?
                    .into_iter()
                    .map(|h| (h.code, h.name))
                    .collect();
            let mut lines = Vec::new();
            for j in list {
                let overdue = j.state == JobState::Printed
                    && j.printed_at
                        .as_deref()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| {
                            crate::domain::tracking::is_uncollected(
                                t.with_timezone(&chrono::Utc),
                                now,
                            )
                        });
                let licence = storage::licences::find_licence(conn, &j.licence_id)?;
                lines.push(QueueLine {
                    short_id: j.id.chars().take(8).collect(),
                    state_label: job_state_label(j.state.as_str()),
                    state: j.state.as_str().to_string(),
                    licence_no: licence
                        .as_ref()
                        .map(|l| l.licence_no.clone())
                        .unwrap_or_default(),
                    type_name: licence
                        .as_ref()
                        .and_then(|l| st.catalog.get(&l.type_code))
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    holder_name: licence.map(|l| l.holder_name).unwrap_or_default(),
                    copies: j
                        .copies
                        .iter()
                        .map(|c| c.label_zh())
                        .collect::<Vec<_>>()
                        .join("、"),
                    created_at: j.created_at.replace('T', " ").replace('Z', ""),
                    issuing_hall: names
                        .get(&j.issuing_hall)
                        .cloned()
                        .unwrap_or(j.issuing_hall),
                    overdue,
                    id: j.id,
                });
            }
            Ok::<_, ApiError>((hall_row, lines))
        })
        .await?;
    let mut chrome = Chrome::new(format!("打印队列 · {}", hall_row.name), session);
    chrome.refresh_s = Some(30);
    let page = QueuePage {
        chrome,
        hall: hall.clone(),
        hall_name: hall_row.name,
        tabs: TABS
            .iter()
            .map(|(k, l)| StateTab {
                key: k.as_str(),
                label: l,
                on: *k == wanted,
            })
            .collect(),
        state: wanted.as_str().to_string(),
        jobs: lines,
        show_pickup: session.staff.role == Role::HallOperator,
        forms,
    };
    html(status, &page)
}

#[derive(Deserialize)]
pub struct FindQuery {
    q: Option<String>,
}

/// The counter's search: a scanned tracking URL, a pickup code, the short id of the queue or
/// a job id opens the job's page; nothing found shows the problem next to the field.
#[get("/hall/find")]
pub async fn find_job(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, PageError> {
    let text = query.into_inner().q.unwrap_or_default().trim().to_string();
    let staff = session.staff.clone();
    let st = state.clone();
    let t = text.clone();
    let found = state
        .db(move |conn| {
            Ok::<_, ApiError>(crate::distribution::tracking::find_for_counter(
                conn,
                &staff,
                &st.pickup_key,
                &t,
            ))
        })
        .await?;
    let message = match found {
        Ok(job) => return Ok(crate::web::page::see_other(&format!("/jobs/{}", job.id))),
        Err(jobs::JobError::Invalid { .. }) => {
            "请扫描领取凭条上的二维码，或输入领取码、任务编号。".to_string()
        }
        Err(jobs::JobError::NotFound(m)) if m.contains("several") => {
            "有多个任务以此编号开头，请输入更多位。".to_string()
        }
        Err(jobs::JobError::NotFound(_)) => {
            "未找到对应的打印任务：请核对二维码、领取码（仅限本厅待领取的任务）或任务编号。"
                .to_string()
        }
        Err(e) => return Err(PageError::Api(e.into())),
    };
    let forms = CounterForms {
        q: text,
        err_q: Some(message),
        ..CounterForms::default()
    };
    render_queue(&state, &session, None, None, StatusCode::NOT_FOUND, forms).await
}
