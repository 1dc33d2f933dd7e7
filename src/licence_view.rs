//! The one licence view: a licence as staff see it (the row, its status today, every version
//! and its history), built here once for both `GET /api/v1/licences/{id}` and the staff page
//! `/licences/{id}`, so the two never disagree on what a licence is or who may see it.
//! See docs/architecture.md ("The life of a licence").

use crate::accounts::Staff;
use crate::catalog::Catalog;
use crate::domain::licence::LicenceStatus;
use crate::registration::{self, RegistrationError};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::licences::LicenceRow;
use crate::storage::{self, DbConnection};
use crate::wire::licences::{LicenceDetail, LicenceVersion};
use crate::wire::HistoryEntry;
use chrono::NaiveDate;
use serde_json::Value;

/// A licence with its versions and history.
#[derive(Debug, Clone)]
pub struct LicenceView {
    pub licence: LicenceRow,
    /// The status a verifier sees on the day the view was built: a valid licence past its
    /// validity is `expired` (the stored status is `licence.status`).
    pub status: LicenceStatus,
    /// Every version of the licence (same type, authority and serial), oldest first; this
    /// one among them.
    pub versions: Vec<LicenceRow>,
    /// The licence's audit events, oldest first.
    pub history: Vec<AuditEvent>,
}

/// The licence `id` as `staff` may see it on `today`: administrators see every licence,
/// other staff those of their own hall; any other is "not found" (not "forbidden", which
/// would confirm that it exists).
pub fn licence_view(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    today: NaiveDate,
) -> Result<LicenceView, RegistrationError> {
    let licence = registration::get_licence(conn, staff, id)?;
    let versions = registration::versions_of(conn, &licence)?;
    let history = audit::list_events_for(conn, &format!("licence:{id}"))?;
    let status = licence.status.effective(licence.valid_to, today);
    Ok(LicenceView {
        licence,
        status,
        versions,
        history,
    })
}

/// The licence `id` as `GET /api/v1/licences/{id}` answers it: [`licence_view`] (same access
/// rule) in its wire form.
pub fn licence_detail(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    catalog: &Catalog,
    public_url: &str,
    today: NaiveDate,
) -> Result<LicenceDetail, RegistrationError> {
    Ok(licence_view(conn, staff, id, today)?.to_wire(catalog, public_url, today))
}

impl LicenceView {
    /// The view in its wire form (`LicenceDetail`), as of `today` (the day it was built).
    pub fn to_wire(&self, catalog: &Catalog, public_url: &str, today: NaiveDate) -> LicenceDetail {
        LicenceDetail {
            licence: registration::wire_licence(&self.licence, catalog, public_url, today),
            versions: self
                .versions
                .iter()
                .map(|v| LicenceVersion {
                    id: v.id.clone(),
                    version: v.version,
                    identifier: v.identifier.clone(),
                    status: v.status,
                })
                .collect(),
            history: self
                .history
                .iter()
                .map(|e| HistoryEntry {
                    at: storage::from_db_time(e.at)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    details: serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
                })
                .collect(),
        }
    }
}
