//! Halls and partner agreements: validation of what administrators submit, and the audited
//! changes (docs/architecture.md, "Halls and issuing authorities").

use crate::domain::codes::UnifiedCreditCode;
use crate::domain::hall::{Agreement, Hall};
use crate::storage::{self, audit, halls, DbConnection, StorageError};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum HallError {
    #[error("{}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    #[error("a hall with code {0} already exists")]
    Exists(String),
    #[error("no hall with code {0}")]
    NotFound(String),
    #[error("the hall {0} is not a partner hall; only partners have agreements")]
    NotPartner(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for HallError {
    fn from(e: diesel::result::Error) -> Self {
        HallError::Storage(e.into())
    }
}

fn text_ok(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    n >= 1 && n <= max && !s.chars().any(char::is_control)
}

/// Every rule a hall must satisfy; all failing fields are reported.
pub fn validate_hall(h: &Hall) -> Result<(), HallError> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut fail = |f: &str, m: &str| errors.push((f.to_string(), m.to_string()));
    if !(1..=32).contains(&h.code.len())
        || !h
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        fail("code", "must be 1-32 letters, digits or '-'");
    }
    if !text_ok(&h.name, 100) {
        fail(
            "name",
            "must be 1-100 characters without control characters",
        );
    }
    for (field, value) in [
        ("province", &h.province),
        ("city", &h.city),
        ("address", &h.address),
    ] {
        if !text_ok(value, 200) {
            fail(field, "must be 1-200 characters without control characters");
        }
    }
    if h.county.chars().count() > 100 || h.county.chars().any(char::is_control) {
        fail(
            "county",
            "must be at most 100 characters without control characters",
        );
    }
    if !(h.lat.is_finite() && (-90.0..=90.0).contains(&h.lat)) {
        fail("lat", "must be a latitude between -90 and 90");
    }
    if !(h.lon.is_finite() && (-180.0..=180.0).contains(&h.lon)) {
        fail("lon", "must be a longitude between -180 and 180");
    }
    match (&h.authority, h.kind.is_issuing()) {
        (Some(a), true) => {
            if !text_ok(&a.name, 100) {
                fail("authority.name", "must be 1-100 characters");
            }
            if let Err(e) = UnifiedCreditCode::parse(&a.credit_code) {
                fail("authority.credit_code", &e.to_string());
            }
        }
        (None, true) => fail(
            "authority",
            "is required for city, district, county and zone halls",
        ),
        (Some(_), false) => fail(
            "authority",
            "only city, district, county and zone halls issue licences",
        ),
        (None, false) => {}
    }
    match (
        &h.agreement,
        h.kind == crate::domain::hall::HallKind::Partner,
    ) {
        (Some(a), true) => {
            if let Err(m) = validate_agreement(a) {
                fail(&format!("agreement.{}", m.0), &m.1);
            }
        }
        (None, true) => fail("agreement", "is required for partner halls"),
        (Some(_), false) => fail("agreement", "only partner halls have agreements"),
        (None, false) => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(HallError::Invalid(errors))
    }
}

fn validate_agreement(a: &Agreement) -> Result<(), (String, String)> {
    if a.valid_to < a.valid_from {
        return Err(("valid_to".into(), "must not be before valid_from".into()));
    }
    if let crate::domain::hall::Covers::List(items) = &a.covers {
        if items.is_empty() {
            return Err((
                "covers".into(),
                "must be \"all\" or a non-empty list".into(),
            ));
        }
        if items.iter().any(|i| !text_ok(i, 40)) {
            return Err((
                "covers".into(),
                "each entry must be a type code or a domain key".into(),
            ));
        }
    }
    Ok(())
}

pub fn create_hall(
    conn: &mut DbConnection,
    hall: &Hall,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), HallError> {
    validate_hall(hall)?;
    storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, &hall.code)?.is_some() {
            return Err(HallError::Exists(hall.code.clone()));
        }
        halls::insert_hall(conn, hall, now)?;
        audit::insert_event(
            conn,
            now,
            actor,
            "HallCreated",
            &format!("hall:{}", hall.code),
            serde_json::to_value(hall).unwrap_or_default(),
        )?;
        Ok(())
    })
}

pub fn update_hall(
    conn: &mut DbConnection,
    hall: &Hall,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), HallError> {
    validate_hall(hall)?;
    storage::write_tx(conn, |conn| {
        let before = halls::find_hall(conn, &hall.code)?
            .ok_or_else(|| HallError::NotFound(hall.code.clone()))?;
        halls::update_hall(conn, hall, now)?;
        if before.active != hall.active {
            // A deactivated hall's agent tokens and client certificates stop working in
            // every server process on commit (and work again when it is reactivated).
            crate::distribution::wakeup::notify_auth_in_tx(conn)?;
        }
        audit::insert_event(
            conn,
            now,
            actor,
            "HallChanged",
            &format!("hall:{}", hall.code),
            serde_json::json!({"before": before, "after": hall}),
        )?;
        Ok(())
    })
}

pub fn set_agreement(
    conn: &mut DbConnection,
    code: &str,
    agreement: &Agreement,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Hall, HallError> {
    validate_agreement(agreement).map_err(|(f, m)| HallError::Invalid(vec![(f, m)]))?;
    storage::write_tx(conn, |conn| {
        let mut hall =
            halls::find_hall(conn, code)?.ok_or_else(|| HallError::NotFound(code.to_string()))?;
        if hall.kind != crate::domain::hall::HallKind::Partner {
            return Err(HallError::NotPartner(code.to_string()));
        }
        let before = hall.agreement.replace(agreement.clone());
        halls::update_hall(conn, &hall, now)?;
        audit::insert_event(
            conn,
            now,
            actor,
            "AgreementChanged",
            &format!("hall:{code}"),
            serde_json::json!({"before": before, "after": agreement}),
        )?;
        Ok(hall)
    })
}
