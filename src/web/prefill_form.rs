//! 从已有证照填写: the issue form filled from the holder's current valid licences
//! (`dept::prefill`, the same service as `GET /api/v1/holders/{holder_code}/prefill`); each
//! filled field is marked with the licence it came from.

use super::issue::{issue_form_page, FieldProblem};
use super::page::{html, PageError};
use super::session::Session;
use crate::catalog::CertType;
use crate::dept::{prefill, DeptError};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub async fn prefilled_form(
    state: &web::Data<AppState>,
    session: &Session,
    t: &CertType,
    holder: &str,
) -> Result<HttpResponse, PageError> {
    let st = state.clone();
    let (code, h) = (t.code.clone(), holder.to_string());
    let today = state.now().date_naive();
    let outcome = state
        .db(move |conn| {
            Ok::<_, ApiError>(prefill::prefill(conn, &st.catalog, &h, Some(&code), today))
        })
        .await?;
    let answer = match outcome {
        Ok(a) => a,
        Err(
            e @ (DeptError::BadHolderCode { .. }
            | DeptError::Invalid { .. }
            | DeptError::Refused { .. }),
        ) => {
            let mut page = issue_form_page(session, t, &Value::Null, &[]);
            page.prefill_holder = holder.to_string();
            page.general_errors.push(FieldProblem {
                zh: "无法从已有证照填写：请核对统一社会信用代码或公民身份号码（18 位，校验位须正确），且与本证照的持证主体类型一致。".into(),
                detail: e.to_string(),
            });
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(e) => return Err(ApiError::from(e).into()),
    };
    let mut fields = Map::new();
    let mut holder_v = json!({"name": "", "code": holder.to_ascii_uppercase()});
    for v in &answer.values {
        match v.field.as_str() {
            "holder.name" => holder_v["name"] = Value::String(v.value.clone()),
            "holder.code" => holder_v["code"] = Value::String(v.value.clone()),
            other => {
                if let Some(key) = other.strip_prefix("fields.") {
                    fields.insert(key.to_string(), Value::String(v.value.clone()));
                }
            }
        }
    }
    let values = json!({"holder": holder_v, "fields": fields, "valid_from": today.to_string()});
    let mut page = issue_form_page(session, t, &values, &[]);
    page.prefill_holder = holder.to_string();
    for f in &mut page.fields {
        if let Some(v) = answer.values.iter().find(|v| v.field == f.name) {
            f.source = Some(format!(
                "已从{}（{}）填写",
                v.source.type_name, v.source.licence_no
            ));
        }
    }
    let licences: BTreeSet<&str> = answer
        .values
        .iter()
        .map(|v| v.source.licence_no.as_str())
        .collect();
    page.prefill_note = Some(if answer.values.is_empty() {
        "该持证主体没有可用于填写的有效证照（已吊销、暂扣、注销、撤销、过期或被新版本取代的证照不会被使用）。".to_string()
    } else {
        format!(
            "已从 {} 张有效证照填写 {} 项，其中必填项 {}/{}；标记“已从…填写”的内容请与申请人核对后再签发。",
            licences.len(),
            answer.values.len(),
            answer.required_filled,
            answer.required_fields
        )
    });
    html(StatusCode::OK, &page)
}
