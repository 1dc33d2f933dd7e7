//! Department API clients: issued by an administrator (or the operator's CLI) with the
//! certificate types and domains they may see; the token is shown once and stored as its
//! SHA-256 (like hall agent tokens); revocable.

use super::{rfc3339, DeptError};
use crate::accounts::{new_token, token_hash};
use crate::catalog::{Catalog, Domain};
use crate::storage::{self, audit, dept, DbConnection};
use crate::wire::dept::{CreateDeptClientRequest, CreatedDeptClient, DeptClientView};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// A client a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeptClient {
    pub id: i64,
    pub name: String,
    pub types: BTreeSet<String>,
    pub domains: BTreeSet<Domain>,
}

impl DeptClient {
    /// May the client see licences of this type (granted by code or by its domain)?
    pub fn may_see(&self, catalog: &Catalog, type_code: &str) -> bool {
        self.types.contains(type_code)
            || catalog
                .get(type_code)
                .is_some_and(|t| self.domains.contains(&t.domain))
    }

    /// Every type code granted, in catalog order.
    pub fn granted_types(&self, catalog: &Catalog) -> Vec<String> {
        catalog
            .types()
            .iter()
            .filter(|t| self.may_see(catalog, &t.code))
            .map(|t| t.code.clone())
            .collect()
    }

    fn from_row(row: &dept::DeptClientRow) -> DeptClient {
        DeptClient {
            id: row.id,
            name: row.name.clone(),
            types: split(&row.granted_types).map(str::to_string).collect(),
            domains: split(&row.granted_domains)
                .filter_map(Domain::parse)
                .collect(),
        }
    }
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// The client holding `token`, if it is live.
pub fn authenticate(conn: &mut DbConnection, token: &str) -> Result<Option<DeptClient>, DeptError> {
    Ok(dept::find_live_by_token(conn, &token_hash(token))?
        .as_ref()
        .map(DeptClient::from_row))
}

/// Check the grants and create the client; returns its id and the token (shown once).
pub fn issue_client(
    conn: &mut DbConnection,
    catalog: &Catalog,
    req: &CreateDeptClientRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<CreatedDeptClient, DeptError> {
    let name = req.name.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(DeptError::Invalid {
            field: "name",
            message: "must be the department's name, 1-100 characters on one line".into(),
        });
    }
    let mut types = BTreeSet::new();
    for (i, code) in req.types.iter().enumerate() {
        let code = code.trim();
        if catalog.get(code).is_none() {
            return Err(DeptError::Invalid {
                field: "types",
                message: format!("[{i}]: no certificate type with code {code:?}"),
            });
        }
        types.insert(code.to_string());
    }
    let mut domains = BTreeSet::new();
    for (i, d) in req.domains.iter().enumerate() {
        let domain = Domain::parse(d.trim()).ok_or_else(|| DeptError::Invalid {
            field: "domains",
            message: format!(
                "[{i}]: unknown domain {d:?}; known: {}",
                Domain::ALL.map(Domain::as_str).join(", ")
            ),
        })?;
        domains.insert(domain);
    }
    if types.is_empty() && domains.is_empty() {
        return Err(DeptError::Invalid {
            field: "types",
            message: "grant at least one type (types) or domain (domains)".into(),
        });
    }
    let token = new_token();
    let types_s = types.iter().cloned().collect::<Vec<_>>().join(",");
    let domains_v: Vec<String> = domains.iter().map(|d| d.as_str().to_string()).collect();
    let domains_s = domains_v.join(",");
    let id = storage::write_tx(conn, |conn| {
        let id = dept::insert_client(
            conn,
            &dept::NewDeptClient {
                name,
                token_hash: &token_hash(&token),
                granted_types: &types_s,
                granted_domains: &domains_s,
                created_by: actor,
            },
            now,
        )?;
        audit::insert_event(
            conn,
            now,
            actor,
            "DeptClientIssued",
            &format!("dept_client:{id}"),
            serde_json::json!({"name": name, "types": types_s, "domains": domains_s}),
        )?;
        Ok::<_, DeptError>(id)
    })?;
    Ok(CreatedDeptClient {
        id,
        name: name.to_string(),
        token,
        types: types.into_iter().collect(),
        domains: domains_v,
    })
}

pub fn revoke_client(
    conn: &mut DbConnection,
    id: i64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, DeptError> {
    storage::write_tx(conn, |conn| {
        dept::get_client(conn, id)?;
        let changed = dept::revoke_client(conn, id, now)?;
        if changed {
            audit::insert_event(
                conn,
                now,
                actor,
                "DeptClientRevoked",
                &format!("dept_client:{id}"),
                serde_json::json!({}),
            )?;
        }
        Ok(changed)
    })
}

pub fn list_clients(conn: &mut DbConnection) -> Result<Vec<DeptClientView>, DeptError> {
    Ok(dept::list_clients(conn)?
        .into_iter()
        .map(|c| DeptClientView {
            id: c.id,
            types: split(&c.granted_types).map(str::to_string).collect(),
            domains: split(&c.granted_domains).map(str::to_string).collect(),
            created_at: rfc3339(c.created_at),
            created_by: c.created_by,
            revoked_at: c.revoked_at.map(rfc3339),
            name: c.name,
        })
        .collect())
}
