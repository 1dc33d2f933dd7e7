//! A job's history as rows in Chinese ("2026-12-04 16:37 正定县 打印代理 已打印 证纸
//! BDABCDAAA000001"), never raw JSON; the states and kinds of a job page in Chinese; and
//! the holder's messages with their delivery state.

use crate::domain::copy::CopyKind;
use crate::domain::job::JobState;
use crate::storage::{self, DbConnection, StorageError};
use crate::wire::HistoryEntry;
use serde_json::Value;
use std::collections::HashMap;

pub struct HistoryLine {
    pub at: String,
    pub hall: String,
    pub actor: String,
    pub action: String,
    pub details: String,
}

pub struct NotificationLine {
    pub kind: &'static str,
    pub mobile: String,
    pub state: &'static str,
    pub state_key: &'static str,
    pub attempts: i32,
    pub last_error: String,
    pub at: String,
}

/// What the job page needs besides the job: hall names, the actors' halls, the holder's
/// messages and masked mobile number.
pub struct JobExtras {
    pub hall_names: HashMap<String, String>,
    pub user_halls: HashMap<String, String>,
    pub notifications: Vec<NotificationLine>,
    pub mobile: Option<String>,
}

fn minute(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").chars().take(16).collect()
}

pub fn job_extras(
    conn: &mut DbConnection,
    job_id: &str,
    history: &[HistoryEntry],
) -> Result<JobExtras, StorageError> {
    let hall_names = storage::halls::list_halls(conn)?
        .into_iter()
        .map(|h| (h.code, h.name))
        .collect();
    let mut user_halls = HashMap::new();
    for e in history {
        if !e.actor.starts_with("agent:") && !user_halls.contains_key(&e.actor) {
            if let Some(u) = storage::users::find_user_by_name(conn, &e.actor)? {
                user_halls.insert(e.actor.clone(), u.hall_code);
            }
        }
    }
    let notifications = crate::distribution::notify::job_notifications(conn, job_id)?
        .into_iter()
        .map(|n| NotificationLine {
            kind: n.kind.label_zh(),
            mobile: crate::domain::tracking::mask_mobile(&n.mobile),
            state: n.state.label_zh(),
            state_key: n.state.as_str(),
            attempts: n.attempts,
            last_error: n.last_error.unwrap_or_default(),
            at: minute(&crate::distribution::jobs::rfc3339(
                n.sent_at.unwrap_or(n.created_at),
            )),
        })
        .collect();
    let mobile = storage::tracking::mobile_of(conn, job_id)?
        .map(|m| crate::domain::tracking::mask_mobile(&m));
    Ok(JobExtras {
        hall_names,
        user_halls,
        notifications,
        mobile,
    })
}

impl JobExtras {
    pub fn hall_name(&self, code: &str) -> String {
        self.hall_names
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    pub fn line(&self, e: &HistoryEntry) -> HistoryLine {
        let (hall, actor) = match e.actor.strip_prefix("agent:") {
            Some(code) => (self.hall_name(code), "打印代理".to_string()),
            None => (
                self.user_halls
                    .get(&e.actor)
                    .map(|h| self.hall_name(h))
                    .unwrap_or_default(),
                if e.actor.starts_with("system") {
                    "系统".to_string()
                } else {
                    e.actor.clone()
                },
            ),
        };
        HistoryLine {
            at: minute(&e.at),
            hall,
            actor,
            action: action_label(&e.action).to_string(),
            details: self.details(&e.details),
        }
    }

    /// The details worth reading, in Chinese: sheets, halls, copies, reasons, counts.
    fn details(&self, d: &Value) -> String {
        let mut parts = Vec::new();
        let s = |k: &str| d.get(k).and_then(Value::as_str);
        let list = |k: &str| -> Vec<String> {
            d.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let sheets = list("sheets");
        if !sheets.is_empty() {
            parts.push(format!("证纸 {}", sheets.join("、")));
        }
        let voided = list("voided_serials");
        if !voided.is_empty() {
            parts.push(format!("作废证纸 {}", voided.join("、")));
        }
        if let (Some(from), Some(to)) = (s("from_hall"), s("to_hall")) {
            parts.push(format!(
                "由 {} 改派至 {}",
                self.hall_name(from),
                self.hall_name(to)
            ));
        } else if let Some(h) = s("hall") {
            parts.push(format!("打印大厅 {}", self.hall_name(h)));
        }
        let copies: Vec<&str> = list("copies")
            .iter()
            .filter_map(|c| CopyKind::parse(c))
            .map(CopyKind::label_zh)
            .collect();
        if !copies.is_empty() {
            parts.push(copies.join("、"));
        }
        if let Some(to) = s("to").and_then(JobState::parse) {
            parts.push(format!("转为{}", to.label_zh()));
        }
        if let Some(n) = d.get("failures").and_then(Value::as_i64) {
            parts.push(format!("累计错误 {n} 次"));
        }
        if let Some(n) = d.get("failed_attempts").and_then(Value::as_i64) {
            parts.push(format!("失败 {n} 次"));
        }
        if let Some(r) = s("reason") {
            parts.push(format!("原因：{}", reason_label(r)));
        }
        parts.join("，")
    }
}

/// The coded reasons recorded by the services, in Chinese; free text as typed.
fn reason_label(r: &str) -> &str {
    match r {
        "pickup_locked" => "领取已锁定",
        "licence_not_valid" => "证照已不在有效状态",
        other => other,
    }
}

pub fn action_label(action: &str) -> &'static str {
    match action {
        "PrintJobQueued" => "已提交打印",
        "PrintJobLeased" => "打印代理已接单",
        "PrintJobPrinted" => "已打印",
        "PrintJobCollected" => "已领取",
        "PrintJobCancelled" => "已取消",
        "PrintJobFailed" => "打印失败",
        "PrintJobLeaseExpired" => "打印超时",
        "PrintJobNeedsReconciliation" => "待核对",
        "PrintJobRequeued" => "已重新排队",
        "PrintJobRerouted" => "已改派大厅",
        "PrintJobResolvedPrinted" => "核对为已打印",
        "PrintJobResolvedNotPrinted" => "核对为未打印",
        "PickupFailed" => "领取核对未通过",
        "PickupLocked" => "领取已锁定",
        "PickupRefused" => "拒绝交付",
        "PickupUnlocked" => "领取已解锁",
        "SheetPrinted" => "证纸已打印",
        "SheetVoided" => "证纸已作废",
        _ => "其他记录",
    }
}

/// A sheet's state in Chinese.
pub fn sheet_state_label(s: crate::domain::stock::SheetState) -> &'static str {
    match s {
        crate::domain::stock::SheetState::Printed => "已打印",
        crate::domain::stock::SheetState::Voided => "已作废",
    }
}
