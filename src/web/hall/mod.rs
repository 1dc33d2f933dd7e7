//! Hall staff: the hall's print queue by state (reloading itself every 30 s), a job's page,
//! the pickup form, the stock inventory and voiding spoiled sheets. A hall operator sees
//! only their own hall: another hall's queue or stock answers 404, as the API does.

use super::licence::job_state_label;
use super::page::{html, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::distribution::{jobs, stock};
use crate::domain::job::JobState;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage;
use crate::wire::print_jobs::PrintJob;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

mod history;
mod inventory;
mod job;
mod queue;

pub use inventory::*;
pub use job::*;
pub use queue::*;

/// Which hall a page is about: the operator's own, or any for an administrator. Another
/// hall's page does not exist for the others.
fn hall_of_page(session: &Session, asked: Option<&str>) -> Result<String, PageError> {
    let own = &session.staff.hall_code;
    match asked.filter(|h| !h.is_empty()) {
        None => Ok(own.clone()),
        Some(h) if h == own || session.staff.role == Role::Admin => Ok(h.to_string()),
        Some(h) => Err(PageError::Api(ApiError::not_found(format!(
            "no queue of hall {h} for you"
        )))),
    }
}
