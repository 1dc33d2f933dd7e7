//! The licence pages: the list of recent licences (`list`), a licence's page with its status,
//! versions, history, actions, the electronic PDF and its QR link (`show`, over the one
//! licence view of `crate::licence_view`), the change form for a new version (`change`), and
//! queueing a print job at a hall near the holder, which ends on the pickup slip with the
//! code shown this once (`print`).

use super::issue::{issue_form_page, record_from_form};
use super::page::{html, page_response, see_other, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::distribution::jobs::{self, JobContext};
use crate::distribution::routing;
use crate::domain::copy::CopyKind;
use crate::domain::hall::{Hall, HallKind};
use crate::domain::licence::{LicenceAction, LicenceStatus};
use crate::error::ApiError;
use crate::registration::{self, RegistrationError};
use crate::state::AppState;
use crate::storage;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

fn time(t: chrono::NaiveDateTime) -> String {
    storage::from_db_time(t)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The Chinese label of a job state as a service's JSON answer spells it.
pub fn job_state_label(s: &str) -> &'static str {
    crate::domain::job::JobState::parse(s).map_or("未知", |s| s.label_zh())
}

mod change;
mod list;
mod print;
mod show;

pub use change::*;
pub use list::*;
pub use print::*;
pub use show::*;
