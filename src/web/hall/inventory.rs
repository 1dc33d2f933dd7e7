//! `/hall/stock`: the stock inventory and voiding spoiled sheets.

use super::*;

#[derive(Template)]
#[template(path = "hall_stock.html")]
pub(super) struct StockPage {
    chrome: Chrome,
    hall: String,
    inventory: stock::Inventory,
    may_void: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct StockQuery {
    hall: Option<String>,
}

pub(super) async fn render_stock(
    state: &web::Data<AppState>,
    session: &Session,
    hall: String,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let h = hall.clone();
    let inventory = state
        .db(move |conn| stock::inventory(conn, &staff, &h))
        .await?;
    let page = StockPage {
        chrome: Chrome::new(format!("库存 · {hall}"), session),
        may_void: session.staff.role == Role::HallOperator,
        hall,
        inventory,
        notice,
        error,
    };
    html(status, &page)
}

#[get("/hall/stock")]
pub async fn stock_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<StockQuery>,
) -> Result<HttpResponse, PageError> {
    let hall = hall_of_page(&session, query.hall.as_deref())?;
    render_stock(&state, &session, hall, StatusCode::OK, None, None).await
}

#[post("/hall/stock/void")]
pub async fn void_sheet(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    let serial = post.form.text("serial").to_string();
    let reason = post.form.text("reason").to_string();
    let staff = post.session.staff.clone();
    let now = state.now();
    let s = serial.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(stock::void_blank_sheet(conn, &staff, &s, &reason, now)))
        .await?;
    let hall = post.session.staff.hall_code.clone();
    match outcome {
        Ok(()) => {
            render_stock(
                &state,
                &post.session,
                hall,
                StatusCode::OK,
                Some(format!("空白证纸 {serial} 已作废。")),
                None,
            )
            .await
        }
        Err(
            e @ (stock::StockError::Invalid { .. }
            | stock::StockError::NotInStock { .. }
            | stock::StockError::AlreadyUsed { .. }),
        ) => {
            let status = actix_web::ResponseError::status_code(&ApiError::from(e));
            let message = match status.as_u16() {
                400 => "请填写正确的证纸编号和作废原因。".to_string(),
                409 => format!("证纸 {serial} 已使用或已作废。"),
                _ => format!("证纸 {serial} 不在本厅登记的库存中。"),
            };
            render_stock(&state, &post.session, hall, status, None, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}
