//! What a department client may do: list a holder's current licences of its granted types
//! and check a licence the holder presents. Every access, granted or refused, is written
//! to `dept_access_log` before the answer leaves; administrators read it back.

use super::clients::DeptClient;
use super::{parse_holder_code, purpose, rfc3339, DeptError};
use crate::catalog::Catalog;
use crate::registration::wire_licence;
use crate::storage::{dept, licences, DbConnection, DbPool};
use crate::verification::{service, TrustStore};
use crate::wire::dept::{
    AccessLogEntry, AccessLogQuery, DeptCheck, DeptCheckRequest, DeptLicence, DeptLicences,
    DeptLicencesQuery,
};
use chrono::{DateTime, Utc};

/// What the department routes need, at this moment.
pub struct DeptContext<'a> {
    pub pool: &'a DbPool,
    pub trust: &'a TrustStore,
    pub gate: &'a crate::verification::gate::VerifyGate,
    pub catalog: &'a Catalog,
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
}

const ROUTE_LICENCES: &str = "licences";
const ROUTE_CHECK: &str = "check";
const RETURNED: &str = "returned";
const REFUSED: &str = "refused_not_granted";

/// One access as it goes into the log.
struct Entry<'a> {
    route: &'a str,
    purpose: &'a str,
    holder_code: Option<&'a str>,
    requested: &'a [String],
    identifiers: &'a [String],
    outcome: &'a str,
}

fn log(
    conn: &mut DbConnection,
    client: &DeptClient,
    e: Entry<'_>,
    now: DateTime<Utc>,
) -> Result<(), DeptError> {
    let licences = serde_json::to_string(e.identifiers).unwrap_or_else(|_| "[]".into());
    dept::insert_access(
        conn,
        &dept::NewAccess {
            client_id: client.id,
            route: e.route,
            purpose: e.purpose,
            holder_code: e.holder_code,
            requested_types: &e.requested.join(","),
            licences: &licences,
            outcome: e.outcome,
        },
        now,
    )?;
    Ok(())
}

/// `GET /api/v1/dept/licences`: the holder's current licences of the types asked for (all
/// granted types when none are named), each with the verdict on its seal.
pub fn list_licences(
    ctx: &DeptContext<'_>,
    client: &DeptClient,
    q: &DeptLicencesQuery,
) -> Result<DeptLicences, DeptError> {
    let purpose = purpose("purpose", q.purpose.as_deref())?;
    let holder = parse_holder_code("holder_code", q.holder_code.as_deref().unwrap_or(""))?;
    let holder = holder.as_str().to_string();
    let requested: Vec<String> = q
        .type_codes
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(code) = requested.iter().find(|c| ctx.catalog.get(c).is_none()) {
        return Err(DeptError::UnknownType {
            field: "type",
            code: code.clone(),
        });
    }
    let not_granted: Vec<&String> = requested
        .iter()
        .filter(|c| !client.may_see(ctx.catalog, c))
        .collect();
    let mut conn = ctx.pool.get().map_err(crate::storage::StorageError::from)?;
    if !not_granted.is_empty() {
        let entry = Entry {
            route: ROUTE_LICENCES,
            purpose: &purpose,
            holder_code: Some(&holder),
            requested: &requested,
            identifiers: &[],
            outcome: REFUSED,
        };
        log(&mut conn, client, entry, ctx.now)?;
        let names: Vec<&str> = not_granted.iter().map(|s| s.as_str()).collect();
        return Err(DeptError::NotGranted(names.join(", ")));
    }
    let rows: Vec<_> = dept::current_licences_of_holder(&mut conn, &holder)?
        .into_iter()
        .filter(|r| client.may_see(ctx.catalog, &r.type_code))
        .filter(|r| requested.is_empty() || requested.contains(&r.type_code))
        .collect();
    let identifiers: Vec<String> = rows.iter().map(|r| r.identifier.clone()).collect();
    // Logged before anything is answered: an access that cannot be logged is not served.
    let entry = Entry {
        route: ROUTE_LICENCES,
        purpose: &purpose,
        holder_code: Some(&holder),
        requested: &requested,
        identifiers: &identifiers,
        outcome: RETURNED,
    };
    log(&mut conn, client, entry, ctx.now)?;
    drop(conn);
    let today = ctx.now.date_naive();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let licence = wire_licence(row, ctx.catalog, ctx.public_url, today);
        let seal = service::verify_code(
            ctx.pool,
            ctx.trust,
            ctx.gate,
            ctx.catalog,
            &licence.qr_text,
            ctx.now,
        )?;
        out.push(DeptLicence { licence, seal });
    }
    Ok(DeptLicences {
        holder_code: holder,
        licences: out,
    })
}

/// `POST /api/v1/dept/checks`: the verdict on a presented code, and the register data when
/// it names a licence of a granted type.
pub fn check(
    ctx: &DeptContext<'_>,
    client: &DeptClient,
    req: &DeptCheckRequest,
) -> Result<DeptCheck, DeptError> {
    let purpose = purpose("purpose", Some(&req.purpose))?;
    if req.code.trim().is_empty() {
        return Err(DeptError::Invalid {
            field: "code",
            message: "is required (the text of the licence's QR code)".into(),
        });
    }
    if req.code.len() > service::MAX_CODE_LEN {
        return Err(DeptError::Invalid {
            field: "code",
            message: format!(
                "is longer than {} bytes; no licence QR code is",
                service::MAX_CODE_LEN
            ),
        });
    }
    let verdict = service::verify_code(
        ctx.pool,
        ctx.trust,
        ctx.gate,
        ctx.catalog,
        &req.code,
        ctx.now,
    )?;
    let mut conn = ctx.pool.get().map_err(crate::storage::StorageError::from)?;
    let row = match &verdict.licence {
        Some(summary) if verdict.authentic => {
            licences::find_by_identifier(&mut conn, &summary.identifier)?
        }
        _ => None,
    };
    let Some(row) = row else {
        let entry = Entry {
            route: ROUTE_CHECK,
            purpose: &purpose,
            holder_code: None,
            requested: &[],
            identifiers: &[],
            outcome: RETURNED,
        };
        log(&mut conn, client, entry, ctx.now)?;
        return Ok(DeptCheck {
            verdict,
            licence: None,
        });
    };
    let requested = vec![row.type_code.clone()];
    if !client.may_see(ctx.catalog, &row.type_code) {
        let entry = Entry {
            route: ROUTE_CHECK,
            purpose: &purpose,
            holder_code: Some(&row.holder_code),
            requested: &requested,
            identifiers: &[],
            outcome: REFUSED,
        };
        log(&mut conn, client, entry, ctx.now)?;
        return Err(DeptError::NotGranted(row.type_code));
    }
    let entry = Entry {
        route: ROUTE_CHECK,
        purpose: &purpose,
        holder_code: Some(&row.holder_code),
        requested: &requested,
        identifiers: std::slice::from_ref(&row.identifier),
        outcome: RETURNED,
    };
    log(&mut conn, client, entry, ctx.now)?;
    let licence = wire_licence(&row, ctx.catalog, ctx.public_url, ctx.now.date_naive());
    Ok(DeptCheck {
        verdict,
        licence: Some(licence),
    })
}

/// The access log, newest first (at most 500 entries).
pub fn access_log(
    conn: &mut DbConnection,
    q: &AccessLogQuery,
) -> Result<Vec<AccessLogEntry>, DeptError> {
    let holder = match q.holder_code.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(h) => Some(parse_holder_code("holder_code", h)?.as_str().to_string()),
    };
    Ok(
        dept::list_access(conn, holder.as_deref(), q.client_id, 500)?
            .into_iter()
            .map(|(a, client_name)| AccessLogEntry {
                id: a.id,
                client_id: a.client_id,
                client_name,
                at: rfc3339(a.at),
                route: a.route,
                purpose: a.purpose,
                holder_code: a.holder_code,
                requested_types: a
                    .requested_types
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                licences: serde_json::from_str(&a.licences).unwrap_or_default(),
                outcome: a.outcome,
            })
            .collect(),
    )
}
