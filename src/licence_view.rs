//! The one licence view: a licence as staff see it (the row, its status today, every version
//! and its history), built here once for both `GET /api/v1/licences/{id}` and the staff page
//! `/licences/{id}`, so the two never disagree on what a licence is or who may see it.
//! See docs/architecture.md ("The life of a licence").

use crate::accounts::Staff;
use crate::domain::licence::LicenceStatus;
use crate::registration::{self, RegistrationError};
use crate::storage::audit::{self, AuditEvent};
use crate::storage::licences::LicenceRow;
use crate::storage::DbConnection;
use chrono::NaiveDate;

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
