//! `/admin/halls`: halls and partner agreements, expired ones highlighted.

use super::*;

pub struct HallLine {
    pub code: String,
    pub name: String,
    pub kind_label: &'static str,
    pub place: String,
    pub active: bool,
    pub agreement: String,
    pub covers: String,
    pub expired: bool,
}

pub struct KindOption {
    pub key: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin_halls.html")]
pub(super) struct HallsPage {
    chrome: Chrome,
    kinds: Vec<KindOption>,
    halls: Vec<HallLine>,
    expired: usize,
}

#[derive(Deserialize)]
pub struct KindQuery {
    kind: Option<String>,
}

#[get("/admin/halls")]
pub async fn halls_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<KindQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    // Partners first: their agreements are what needs watching.
    let kind = match query.kind.as_deref() {
        None => Some(HallKind::Partner),
        Some("") | Some("all") => None,
        Some(k) => HallKind::parse(k),
    };
    let today = state.now().date_naive();
    let all = state.db(storage::halls::list_halls).await?;
    let halls: Vec<HallLine> = all
        .into_iter()
        .filter(|h| kind.is_none_or(|k| h.kind == k))
        .map(|h| {
            let expired = h.agreement.as_ref().is_some_and(|a| a.valid_to < today);
            HallLine {
                code: h.code,
                kind_label: h.kind.label_zh(),
                place: format!("{} {} {}", h.province, h.city, h.county),
                active: h.active,
                agreement: h.agreement.as_ref().map_or(String::new(), |a| {
                    format!("{} 至 {}", a.valid_from, a.valid_to)
                }),
                covers: h
                    .agreement
                    .as_ref()
                    .map_or(String::new(), |a| match &a.covers {
                        Covers::All => "全部类型".to_string(),
                        // Domain keys and type codes, named as staff know them.
                        Covers::List(items) => items
                            .iter()
                            .map(|i| match crate::catalog::Domain::parse(i) {
                                Some(d) => d.label_zh().to_string(),
                                None => state.catalog.get(i).map_or(i.clone(), |t| t.name.clone()),
                            })
                            .collect::<Vec<_>>()
                            .join("、"),
                    }),
                expired,
                name: h.name,
            }
        })
        .collect();
    let expired = halls.iter().filter(|h| h.expired).count();
    let mut kinds = vec![KindOption {
        key: "all",
        label: "全部",
        selected: kind.is_none(),
    }];
    kinds.extend(HallKind::ALL.iter().map(|k| KindOption {
        key: k.as_str(),
        label: k.label_zh(),
        selected: Some(*k) == kind,
    }));
    html(
        StatusCode::OK,
        &HallsPage {
            chrome: Chrome::new("大厅与合作协议", &session),
            kinds,
            halls,
            expired,
        },
    )
}
