//! `/licences/{id}/print`: queue a print job at a hall near the holder; the pickup slip.

use super::*;

/// A place the holder can name: a county (or district) of the halls register, measured
/// from the middle of its halls.
pub struct Place {
    pub key: String,
    pub label: String,
    pub lat: f64,
    pub lon: f64,
    pub selected: bool,
}

pub(super) fn places(halls: &[Hall], chosen: &str) -> Vec<Place> {
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
pub(super) struct PrintFormPage {
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
pub(super) const HALL_CHOICES: usize = 12;

pub(super) async fn print_form_page(
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
pub(super) struct SlipPage {
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
    /// Self-service: collected at the hall's 24-hour kiosk, not at the counter.
    self_service: bool,
    queued_at: String,
    tracking_url: String,
    /// The tracking URL's QR code (SVG, trusted: drawn here).
    tracking_qr: String,
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
    // A copy the form cannot offer is refused as the API refuses it.
    let parsed: Option<Vec<CopyKind>> = copies.iter().map(|c| CopyKind::parse(c)).collect();
    let body = crate::wire::print_jobs::QueuePrintJobRequest {
        licence_id: id.clone(),
        hall: hall.clone(),
        copies: parsed.clone(),
        mobile: Some(post.form.text("mobile").trim().to_string()).filter(|m| !m.is_empty()),
        pickup: crate::domain::job::Pickup::parse(post.form.text("pickup")),
    };
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
            let queued = match parsed {
                Some(_) => jobs::queue_job(conn, &ctx, &staff, &body),
                None => Err(jobs::JobError::Invalid {
                    field: "copies",
                    message: "each copy must be \"original\" or \"duplicate\"".into(),
                }),
            };
            let extra = match &queued {
                Ok(_) => Some((
                    storage::licences::get_licence(conn, &body.licence_id)?,
                    storage::halls::get_hall(conn, &body.hall)?,
                )),
                Err(_) => None,
            };
            Ok::<_, ApiError>((queued, extra))
        })
        .await?;
    match outcome {
        (Ok(queued), Some((licence, hall))) => {
            let copies: Vec<&str> = queued.job.copies.iter().map(|c| c.label_zh()).collect();
            let page = SlipPage {
                chrome: Chrome::new("领取凭条", &post.session),
                job_id: queued.job.id.clone(),
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
                self_service: queued.job.pickup == crate::domain::job::Pickup::Kiosk,
                queued_at: state.now().format("%Y-%m-%d %H:%M UTC").to_string(),
                tracking_qr: crate::distribution::tracking::tracking_qr_svg(&queued.tracking_url)
                    .unwrap_or_default(),
                tracking_url: queued.tracking_url,
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
                jobs::JobError::Refused {
                    rule: jobs::Refusal::InvalidMobile,
                    ..
                } => "通知手机号有误：请填写 11 位中国大陆手机号码，或留空。".to_string(),
                jobs::JobError::Refused {
                    rule: jobs::Refusal::NoKiosk,
                    ..
                } => "所选大厅没有自助领取终端，请改选“窗口领取”或其他大厅。".to_string(),
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
