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
    let hall = hall_of_page(&session, q.hall.as_deref())?;
    let wanted = q
        .state
        .as_deref()
        .and_then(JobState::parse)
        .unwrap_or(JobState::Printed);
    let staff = session.staff.clone();
    let (h, w, st) = (hall.clone(), wanted.as_str(), state.clone());
    let (hall_row, lines) = state
        .db(move |conn| {
            let hall_row = storage::halls::find_hall(conn, &h)?
                .ok_or_else(|| ApiError::not_found(format!("no hall with code {h}")))?;
            let list = jobs::list_jobs(conn, &staff, Some(&h), Some(w), Some("200"))?;
            let mut lines = Vec::new();
            for j in list {
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
                    issuing_hall: j.issuing_hall,
                    id: j.id,
                });
            }
            Ok::<_, ApiError>((hall_row, lines))
        })
        .await?;
    let mut chrome = Chrome::new(format!("打印队列 · {}", hall_row.name), &session);
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
    };
    html(StatusCode::OK, &page)
}
