//! Administrators: halls and partner agreements (expired ones highlighted), security stock
//! batches, staff accounts, hall agent tokens (shown once) and the trust list with the
//! active signer. The same service functions as the admin API routes; the role check is the
//! one those routes make.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::accounts::lifecycle::{self, Actor, UserPatch};
use crate::accounts::{self, NewAccount};
use crate::distribution::stock;
use crate::domain::hall::{Covers, HallKind};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::storage;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

mod batches;
mod dept;
mod halls;
mod keys;
mod tokens;
mod users;

pub use batches::*;
pub use dept::*;
pub use halls::*;
pub use keys::*;
pub use tokens::*;
pub use users::*;

fn admin_only(session: &Session) -> Result<(), PageError> {
    require_role(&session.staff, &[Role::Admin]).map_err(PageError::from)
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct AdminHome {
    chrome: Chrome,
}

#[get("/admin")]
pub async fn admin_home(session: Session) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    html(
        StatusCode::OK,
        &AdminHome {
            chrome: Chrome::new("管理", &session),
        },
    )
}
