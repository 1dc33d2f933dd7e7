//! `/admin/stock`: security stock batches per hall.

use super::*;

#[derive(Template)]
#[template(path = "admin_stock.html")]
pub(super) struct StockAdminPage {
    chrome: Chrome,
    hall: String,
    first_serial: String,
    count: String,
    inventory: Option<stock::Inventory>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct HallQuery {
    hall: Option<String>,
    registered: Option<String>,
}

pub(super) async fn inventory_of(
    state: &web::Data<AppState>,
    session: &Session,
    hall: &str,
) -> Result<Option<stock::Inventory>, PageError> {
    if hall.is_empty() {
        return Ok(None);
    }
    let staff = session.staff.clone();
    let h = hall.to_string();
    let found = state
        .db(move |conn| Ok::<_, ApiError>(stock::inventory(conn, &staff, &h)))
        .await?;
    match found {
        Ok(inv) => Ok(Some(inv)),
        Err(stock::StockError::HallNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[get("/admin/stock")]
pub async fn stock_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<HallQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    let hall = query.hall.clone().unwrap_or_default().trim().to_string();
    let inventory = inventory_of(&state, &session, &hall).await?;
    let notice = query
        .registered
        .as_ref()
        .map(|b| format!("批次 {b} 已登记。"));
    html(
        StatusCode::OK,
        &StockAdminPage {
            chrome: Chrome::new("证纸批次", &session),
            hall,
            first_serial: String::new(),
            count: String::new(),
            inventory,
            notice,
            error: None,
        },
    )
}

#[post("/admin/stock")]
pub async fn register_batch(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let hall = post.form.text("hall").to_string();
    let first = post.form.text("first_serial").to_string();
    let count = post.form.text("count").to_string();
    let body = crate::wire::stock::RegisterBatchRequest {
        hall: hall.clone(),
        first_serial: first.clone(),
        // A count that is not a number is refused as 0 is: "count: must be a whole number
        // from 1 to 100000", after the hall and the first serial, as the API checks them.
        count: count.parse::<i64>().unwrap_or(0),
    };
    let staff = post.session.staff.clone();
    let now = state.now();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(stock::register_batch(conn, &staff, &body, now)))
        .await?;
    match outcome {
        Ok(batch) => Ok(see_other(&format!(
            "/admin/stock?hall={}&registered={}",
            batch.hall, batch.id
        ))),
        Err(
            e @ (stock::StockError::Invalid { .. }
            | stock::StockError::UnknownHall(_)
            | stock::StockError::Overlap { .. }),
        ) => {
            let status = if matches!(e, stock::StockError::Overlap { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let inventory = inventory_of(&state, &post.session, &hall).await?;
            html(
                status,
                &StockAdminPage {
                    chrome: Chrome::new("证纸批次", &post.session),
                    hall,
                    first_serial: first,
                    count,
                    inventory,
                    notice: None,
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
