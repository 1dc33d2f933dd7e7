//! `/dashboard`: the figures of `distribution::stats` as bar charts drawn on the server
//! (inline SVG, no script).

use super::page::{html, Chrome, PageError};
use super::session::Session;
use crate::distribution::stats;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;

/// One bar of a chart; positions are computed here so the template only places numbers.
pub struct Bar {
    pub label: String,
    pub value: usize,
    pub y: usize,
    pub text_y: usize,
    pub width: usize,
    pub value_x: usize,
    pub partner: bool,
}

pub struct Chart {
    pub bar_x: usize,
    pub height: usize,
    pub bars: Vec<Bar>,
}

/// Bars in a 480-unit-wide box: labels in the first 170, bars after; the box scales with
/// the card, so the units stay large enough to read at 375 px.
const ROW: usize = 30;
const BAR_X: usize = 175;
const BAR_SPACE: usize = 250;

fn chart(rows: Vec<(String, usize, bool)>) -> Chart {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let bars = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, partner))| {
            let width = value * BAR_SPACE / max;
            Bar {
                label,
                value,
                y: i * ROW + 3,
                text_y: i * ROW + 22,
                width,
                value_x: BAR_X + 6 + width,
                partner,
            }
        })
        .collect::<Vec<_>>();
    Chart {
        bar_x: BAR_X,
        height: bars.len() * ROW + 6,
        bars,
    }
}

fn duration_zh(s: Option<i64>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s < 60 => "不到 1 分钟".into(),
        Some(s) if s < 3600 => format!("{} 分钟", (s + 30) / 60),
        Some(s) if s < 86_400 => format!("{:.1} 小时", s as f64 / 3600.0),
        Some(s) => format!("{:.1} 天", s as f64 / 86_400.0),
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    scope: String,
    total: usize,
    printed: usize,
    partner_share: String,
    to_printed: String,
    to_collected: String,
    states: Chart,
    halls: Chart,
}

/// The busiest halls shown in the chart.
const TOP_HALLS: usize = 15;

#[get("/dashboard")]
pub async fn dashboard_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    let staff = session.staff.clone();
    let d = state.db(move |conn| stats::dashboard(conn, &staff)).await?;
    let scope = if session.staff.role == crate::domain::role::Role::Admin {
        "全部大厅".to_string()
    } else {
        format!("本厅（{}）打印或签发的任务", session.staff.hall_code)
    };
    let page = DashboardPage {
        chrome: Chrome::new("统计", &session),
        scope,
        total: d.total,
        printed: d.printed,
        partner_share: d.partner_percent().map_or("—".into(), |p| {
            format!("{p}%（{} / {}）", d.printed_at_partners, d.printed)
        }),
        to_printed: duration_zh(d.median_to_printed_s),
        to_collected: duration_zh(d.median_to_collected_s),
        states: chart(
            d.per_state
                .iter()
                .map(|(s, n)| (s.label_zh().to_string(), *n, false))
                .collect(),
        ),
        halls: chart(
            d.per_hall
                .iter()
                .take(TOP_HALLS)
                .map(|h| (h.name.clone(), h.total, h.partner))
                .collect(),
        ),
    };
    html(StatusCode::OK, &page)
}
