//! Issuing through the pages: pick a type (by domain, or searched by name with a plain GET
//! form), fill the form the catalog's schema generates, preview the specimen, issue. Errors
//! come back next to their fields, matched by the `FieldError.field` path the API uses
//! (`holder.code`, `fields.scope`, `valid_to`), which is also each input's name.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{Form, FormPost, Session};
use crate::catalog::{CertType, Domain, FieldKind, HolderKind, RecordInput};
use crate::error::ApiError;
use crate::registration::{self, RegistrationError};
use crate::state::AppState;
use crate::wire::licences::IssueLicenceInput;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::{json, Map, Value};

// ---- the type list ---------------------------------------------------------------------

pub struct TypeLink {
    pub code: String,
    pub name: String,
    pub holder: &'static str,
}

pub struct DomainGroup {
    pub key: &'static str,
    pub label: &'static str,
    pub types: Vec<TypeLink>,
}

pub struct DomainOption {
    pub key: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "type_list.html")]
struct TypeListPage {
    chrome: Chrome,
    q: String,
    domains: Vec<DomainOption>,
    groups: Vec<DomainGroup>,
    found: usize,
}

#[derive(Deserialize)]
pub struct TypeQuery {
    q: Option<String>,
    domain: Option<String>,
}

fn holder_label(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Organisation => "单位",
        HolderKind::Person => "个人",
    }
}

#[get("/issue")]
pub async fn type_list(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<TypeQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.q.as_deref().unwrap_or("").trim().to_string();
    let domain = query.domain.as_deref().and_then(Domain::parse);
    let needle = q.to_lowercase();
    let mut groups: Vec<DomainGroup> = Vec::new();
    let mut found = 0;
    for d in Domain::ALL {
        if domain.is_some_and(|x| x != d) {
            continue;
        }
        let types: Vec<TypeLink> = state
            .catalog
            .types()
            .iter()
            .filter(|t| t.domain == d)
            .filter(|t| {
                needle.is_empty()
                    || t.name.to_lowercase().contains(&needle)
                    || t.name_en.to_lowercase().contains(&needle)
                    || t.code.to_lowercase().contains(&needle)
            })
            .map(|t| TypeLink {
                code: t.code.clone(),
                name: t.name.clone(),
                holder: holder_label(t.holder_kind),
            })
            .collect();
        found += types.len();
        if !types.is_empty() {
            groups.push(DomainGroup {
                key: d.as_str(),
                label: d.label_zh(),
                types,
            });
        }
    }
    let domains = Domain::ALL
        .iter()
        .map(|d| DomainOption {
            key: d.as_str(),
            label: d.label_zh(),
            selected: Some(*d) == domain,
        })
        .collect();
    html(
        StatusCode::OK,
        &TypeListPage {
            chrome: Chrome::new("选择证照类型", &session),
            q,
            domains,
            groups,
            found,
        },
    )
}

// ---- the record form -------------------------------------------------------------------

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

/// One input of the generated form.
pub struct FieldView {
    /// The input's name: the API's field path.
    pub name: String,
    pub label: String,
    /// `text`, `multiline`, `date`, `enum`.
    pub widget: &'static str,
    /// The HTML input type for `text` widgets (`text`, `tel`).
    pub input_type: &'static str,
    pub required: bool,
    pub max_len: Option<u32>,
    pub hint: &'static str,
    pub choices: Vec<Choice>,
    pub value: String,
    pub error: Option<FieldProblem>,
    /// Filled from an existing licence: which one (从已有证照填写).
    pub source: Option<String>,
}

pub struct FieldProblem {
    pub zh: String,
    pub detail: String,
}

/// A Chinese sentence for each stable reason code; the English message stays beside it
/// (it names the exact rule, e.g. which check character was expected).
fn problem_zh(code: &str, max_len: Option<u32>) -> String {
    match code {
        "required" => "此项必填。".into(),
        "too_long" => match max_len {
            Some(n) => format!("超过最大长度（{n} 个字）。"),
            None => "内容过长。".into(),
        },
        "invalid_date" => "日期应为 YYYY-MM-DD 格式的真实日期。".into(),
        "invalid_credit_code" => "统一社会信用代码不正确（18 位，校验位须正确）。".into(),
        "invalid_id_number" => "公民身份号码不正确（18 位，出生日期与校验位须正确）。".into(),
        "invalid_money" => "金额格式不正确。".into(),
        "invalid_enum" => "请从列表中选择。".into(),
        "invalid_phone" => "电话号码格式不正确。".into(),
        "before_valid_from" => "有效期截止日须晚于起始日。".into(),
        "control_characters" => "含有不可见的控制字符。".into(),
        "not_allowed" => "长期有效的证照不填写截止日期。".into(),
        _ => "填写有误。".into(),
    }
}

fn widget_of(kind: FieldKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        FieldKind::Multiline => ("multiline", "text", ""),
        FieldKind::Date => ("date", "date", "YYYY-MM-DD"),
        FieldKind::Enum => ("enum", "text", ""),
        FieldKind::Phone => ("text", "tel", ""),
        FieldKind::Money => ("text", "text", "金额，如 100.00"),
        FieldKind::CreditCode => ("text", "text", "18 位统一社会信用代码"),
        FieldKind::IdNumber => ("text", "text", "18 位公民身份号码"),
        FieldKind::Text | FieldKind::Address => ("text", "text", ""),
    }
}

/// The values a form starts from: a record in the API's shape (the example, a licence's
/// current record, or what was just submitted).
pub struct Values<'a>(pub &'a Value);

impl Values<'_> {
    fn get(&self, path: &str) -> String {
        let mut v = self.0;
        for part in path.split('.') {
            match v.get(part) {
                Some(next) => v = next,
                None => return String::new(),
            }
        }
        v.as_str().unwrap_or("").to_string()
    }
}

/// The whole form for a type, with values and errors placed.
pub fn form_fields(
    t: &CertType,
    values: &Values<'_>,
    errors: &[crate::catalog::FieldError],
) -> (Vec<FieldView>, Vec<FieldProblem>) {
    let mut views = Vec::new();
    let (holder_name, holder_code, code_hint) = match t.holder_kind {
        HolderKind::Organisation => ("持证单位名称", "统一社会信用代码", "18 位统一社会信用代码"),
        HolderKind::Person => ("持证人姓名", "公民身份号码", "18 位公民身份号码"),
    };
    let simple = |name: &str, label: &str, widget, input_type, max: Option<u32>, hint| FieldView {
        name: name.to_string(),
        label: label.to_string(),
        widget,
        input_type,
        required: true,
        max_len: max,
        hint,
        choices: Vec::new(),
        value: values.get(name),
        error: None,
        source: None,
    };
    views.push(simple(
        "holder.name",
        holder_name,
        "text",
        "text",
        Some(100),
        "",
    ));
    views.push(simple(
        "holder.code",
        holder_code,
        "text",
        "text",
        Some(18),
        code_hint,
    ));
    for f in &t.fields {
        let (widget, input_type, hint) = widget_of(f.kind);
        let name = format!("fields.{}", f.key);
        let value = values.get(&name);
        let choices = f
            .values
            .iter()
            .flatten()
            .map(|v| Choice {
                selected: *v == value,
                value: v.clone(),
            })
            .collect();
        views.push(FieldView {
            name,
            label: f.label.clone(),
            widget,
            input_type,
            required: f.required,
            max_len: f.effective_max_len(),
            hint,
            choices,
            value,
            error: None,
            source: None,
        });
    }
    views.push(simple(
        "valid_from",
        "有效期起始日",
        "date",
        "date",
        Some(10),
        "YYYY-MM-DD",
    ));
    if !t.validity.is_long_term() {
        views.push(simple(
            "valid_to",
            "有效期截止日",
            "date",
            "date",
            Some(10),
            "YYYY-MM-DD",
        ));
    }
    let mut general = Vec::new();
    for e in errors {
        let problem = |max| FieldProblem {
            zh: problem_zh(e.code, max),
            detail: e.message.clone(),
        };
        match views.iter_mut().find(|v| v.name == e.field) {
            // Only the first problem of a field is shown next to it; it is fixed first.
            Some(v) if v.error.is_none() => v.error = Some(problem(v.max_len)),
            Some(_) => {}
            None => general.push(problem(None)),
        }
    }
    (views, general)
}

/// The record a form submitted, in the API's shape. Optional fields left empty are left
/// out; codes are upper-cased (ID numbers end in X, people type x).
pub fn record_from_form(t: &CertType, form: &Form) -> Value {
    let mut fields = Map::new();
    for f in &t.fields {
        let v = form.text(&format!("fields.{}", f.key));
        if !v.is_empty() {
            let v = match f.kind {
                FieldKind::CreditCode | FieldKind::IdNumber => v.to_ascii_uppercase(),
                _ => v.to_string(),
            };
            fields.insert(f.key.clone(), Value::String(v));
        }
    }
    let valid_to = match form.text("valid_to") {
        "" => Value::Null,
        v => Value::String(v.to_string()),
    };
    json!({
        "type_code": t.code,
        "holder": {
            "name": form.text("holder.name"),
            "code": form.text("holder.code").to_ascii_uppercase(),
        },
        "fields": fields,
        "valid_from": form.text("valid_from"),
        "valid_to": valid_to,
    })
}

#[derive(Template)]
#[template(path = "issue_form.html")]
pub struct IssueFormPage {
    pub chrome: Chrome,
    pub type_code: String,
    pub type_name: String,
    pub domain_label: &'static str,
    pub authority: String,
    pub long_term: bool,
    pub action: String,
    pub preview_action: String,
    pub submit_label: &'static str,
    pub example_link: Option<String>,
    pub idem: String,
    pub fields: Vec<FieldView>,
    pub general_errors: Vec<FieldProblem>,
    /// The "从已有证照填写" form (GET, holder code): none on the change form.
    pub prefill_action: Option<String>,
    pub prefill_holder: String,
    /// What prefill did, in a sentence (how many fields, from which licences).
    pub prefill_note: Option<String>,
}

fn cert_type<'a>(state: &'a AppState, code: &str) -> Result<&'a CertType, PageError> {
    state.catalog.get(code).ok_or_else(|| {
        PageError::Api(ApiError::not_found(format!(
            "no certificate type with code {code}"
        )))
    })
}

pub fn issue_form_page(
    session: &Session,
    t: &CertType,
    values: &Value,
    errors: &[crate::catalog::FieldError],
) -> IssueFormPage {
    let (fields, general_errors) = form_fields(t, &Values(values), errors);
    IssueFormPage {
        chrome: Chrome::new(format!("发证 · {}", t.name), session),
        type_code: t.code.clone(),
        type_name: t.name.clone(),
        domain_label: t.domain.label_zh(),
        authority: t.authority.clone(),
        long_term: t.validity.is_long_term(),
        action: format!("/issue/{}", t.code),
        preview_action: format!("/issue/{}/preview", t.code),
        submit_label: "签发证照",
        example_link: Some(format!("/issue/{}?example=1", t.code)),
        // One key per form shown: a double click or a resubmitted page issues once.
        idem: uuid::Uuid::new_v4().to_string(),
        fields,
        general_errors,
        prefill_action: Some(format!("/issue/{}", t.code)),
        prefill_holder: String::new(),
        prefill_note: None,
    }
}

#[derive(Deserialize)]
pub struct FormQuery {
    example: Option<String>,
    /// 从已有证照填写: the holder's code.
    prefill: Option<String>,
}

#[get("/issue/{code}")]
pub async fn issue_form(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<FormQuery>,
) -> Result<HttpResponse, PageError> {
    let t = cert_type(&state, &path)?;
    if let Some(holder) = query.prefill.as_deref().map(str::trim) {
        return super::prefill_form::prefilled_form(&state, &session, t, holder).await;
    }
    let values = if query.example.is_some() {
        t.example_json()
    } else {
        Value::Null
    };
    html(StatusCode::OK, &issue_form_page(&session, t, &values, &[]))
}

/// The specimen (样本) PDF of what the form holds; the form comes back with its errors
/// when the record breaks a rule.
#[post("/issue/{code}/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let t = cert_type(&state, &path)?;
    let body = record_from_form(t, &post.form);
    let record = match t.validate(&body) {
        Ok(r) => r,
        Err(errors) => {
            let page = issue_form_page(&post.session, t, &body, &errors);
            return html(StatusCode::BAD_REQUEST, &page);
        }
    };
    let st = state.clone();
    let code = t.code.clone();
    let hall = post.session.staff.hall_code.clone();
    let pdf = state
        .db(move |conn| {
            let t = st
                .catalog
                .get(&code)
                .ok_or_else(|| ApiError::not_found("no such type"))?;
            let authority = crate::storage::halls::find_hall(conn, &hall)?
                .and_then(|h| h.authority.map(|a| a.name))
                .unwrap_or_else(|| "发证机关（样本）".to_string());
            let pdf = crate::documents::render_specimen(
                &st.fonts,
                &st.catalog,
                t,
                &record,
                &authority,
                st.now().date_naive(),
            )?;
            Ok::<_, ApiError>(pdf)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Content-Disposition", "inline; filename=\"specimen.pdf\""))
        .insert_header(("Cache-Control", "no-store"))
        .body(pdf))
}

#[post("/issue/{code}")]
pub async fn submit_issue(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let t = cert_type(&state, &path)?;
    let body = record_from_form(t, &post.form);
    let idem = post.form.text("_idem").to_string();
    let idem = (!idem.is_empty() && idem.len() <= 200).then_some(idem);
    let staff = post.session.staff.clone();
    let st = state.clone();
    let input = IssueLicenceInput {
        type_code: body.get("type_code").cloned().unwrap_or_default(),
        record: RecordInput::from_value(&body),
    };
    let outcome = state
        .db(move |conn| {
            let ctx = st.issue_context();
            Ok::<_, ApiError>(registration::issue_licence(
                conn,
                &ctx,
                &staff,
                &input,
                idem.as_deref().map(|k| format!("web:{k}")).as_deref(),
            ))
        })
        .await?;
    match outcome {
        Ok(licence) => Ok(see_other(&format!("/licences/{}", licence.id))),
        Err(RegistrationError::Invalid(errors)) => {
            let page = issue_form_page(&post.session, t, &body, &errors);
            html(StatusCode::BAD_REQUEST, &page)
        }
        Err(other) => Err(other.into()),
    }
}
