//! `/T/<token>`: the holder's tracking page (public, Chinese, mobile-friendly), opened by
//! scanning the slip's QR code. It shows the job's state, the hall's name and address,
//! whether self-service is possible and the holder's masked name; nothing else. Rate-limited
//! like the verify routes; an unknown token is a 404 page in Chinese.

use super::page::{html, Chrome, PageError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::tracking::TrackingStatus;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "tracking.html")]
struct TrackingPage {
    chrome: Chrome,
    status: Option<TrackingStatus>,
    state: String,
    message: Option<String>,
}

fn state_key(status: &TrackingStatus) -> String {
    serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[get("/{t:[Tt]}/{token}")]
pub async fn tracking_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let chrome = Chrome::anonymous("证照办理进度");
    if let Err(ApiError::TooManyRequests { retry_after_s, .. }) =
        crate::routes::tracking::check_rate(&state, &req)
    {
        let page = TrackingPage {
            chrome,
            status: None,
            state: String::new(),
            message: Some(format!(
                "查询过于频繁，请 {} 秒后再试。",
                retry_after_s.unwrap_or(1)
            )),
        };
        return html(StatusCode::TOO_MANY_REQUESTS, &page);
    }
    let (_, token) = path.into_inner();
    let found = state
        .db(move |conn| crate::distribution::tracking::track(conn, &token))
        .await;
    let (status, page) = match found {
        Ok(Some(s)) => (
            StatusCode::OK,
            TrackingPage {
                chrome,
                state: state_key(&s),
                status: Some(s),
                message: None,
            },
        ),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            TrackingPage {
                chrome,
                status: None,
                state: String::new(),
                message: Some(
                    "未找到此打印任务。请核对领取凭条上的二维码或链接是否完整，或咨询发证窗口。"
                        .into(),
                ),
            },
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            TrackingPage {
                chrome,
                status: None,
                state: String::new(),
                message: Some("系统暂时无法查询，请稍后再试。".into()),
            },
        ),
    };
    html(status, &page)
}
