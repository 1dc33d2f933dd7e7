//! `/licences/{id}/change`: a new version of a valid licence.

use super::*;

pub(super) async fn licence_for_change(
    state: &web::Data<AppState>,
    session: &Session,
    id: String,
) -> Result<storage::licences::LicenceRow, PageError> {
    let staff = session.staff.clone();
    Ok(state
        .db(move |conn| registration::get_licence(conn, &staff, &id))
        .await?)
}

pub(super) fn current_record(row: &storage::licences::LicenceRow) -> Value {
    serde_json::json!({
        "holder": {"name": row.holder_name, "code": row.holder_code},
        "fields": serde_json::from_str::<Value>(&row.fields).unwrap_or(Value::Null),
        "valid_from": row.valid_from.to_string(),
        "valid_to": row.valid_to.map(|d| d.to_string()),
    })
}

pub(super) fn change_page(
    state: &AppState,
    session: &Session,
    row: &storage::licences::LicenceRow,
    values: &Value,
    errors: &[crate::catalog::FieldError],
) -> Result<crate::web::issue::IssueFormPage, PageError> {
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
    page.prefill_action = None;
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
    let (record, id) = (
        crate::catalog::RecordInput::from_value(&body),
        row.id.clone(),
    );
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
                &record,
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
