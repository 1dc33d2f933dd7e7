//! `/licences`: the hundred most recent licences (of the hall, or all for administrators).

use super::*;

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
pub(super) struct LicenceListPage {
    chrome: Chrome,
    licences: Vec<LicenceLine>,
}

pub(super) fn status_class(s: LicenceStatus) -> &'static str {
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
            let status = r.status.effective(r.valid_to, today);
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
