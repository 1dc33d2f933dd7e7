//! Issuing policy (DESIGN §3, §4): who may issue and change which licence, record validation
//! against the catalog, number and identifier allocation, and the careful sealing order:
//! validate -> allocate -> build claims -> audit "signing" -> seal (verified after signing)
//! -> store + audit "issued", all in one transaction. No private key is visible here: the
//! `Sealer` holds it.

use crate::accounts::Staff;
use crate::catalog::record::FieldError;
use crate::catalog::{Catalog, CertType, RecordInput};
use crate::domain::codes::Identifier;
use crate::domain::licence::{LicenceAction, LicenceStatus, TransitionError};
use crate::domain::role::Role;
use crate::domain::seal::{SealClaims, StatusRef};
use crate::issuance::{SealError, Sealer};
use crate::storage::licences::{self as store, LicenceRow};
use crate::storage::status_lists as store_lists;
use crate::storage::{self, audit, halls, DbConnection, StorageError};
use crate::wire::licences::IssueLicenceInput;
use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("type_code: {0}")]
    BadTypeCode(String),
    #[error("invalid licence record")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Forbidden(String),
    #[error("no licence with id {0}")]
    NotFound(String),
    #[error("sealing is unavailable: {0}")]
    NoSigner(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("only a valid licence can be changed; this one is {0}")]
    NotChangeable(LicenceStatus),
    #[error("the Idempotency-Key was already used with another request body")]
    IdempotencyMismatch,
    #[error("the licence numbers of type {0} at this authority are exhausted")]
    NumbersExhausted(String),
    #[error("sealing failed: {0}")]
    Seal(SealError),
    #[error(transparent)]
    Document(crate::documents::DocumentError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for RegistrationError {
    fn from(e: diesel::result::Error) -> Self {
        RegistrationError::Storage(e.into())
    }
}

impl From<SealError> for RegistrationError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::NoSignerInPeriod { reason } => RegistrationError::NoSigner(reason),
            other => RegistrationError::Seal(other),
        }
    }
}

/// What issuing needs besides the database connection.
pub struct IssueContext<'a> {
    pub catalog: &'a Catalog,
    pub sealer: &'a Sealer,
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
}

/// The licence as the API shows it (one row; with versions and history see
/// `crate::licence_view`).
pub fn wire_licence(
    row: &LicenceRow,
    catalog: &Catalog,
    public_url: &str,
    today: chrono::NaiveDate,
) -> crate::wire::licences::Licence {
    let stored = row.status;
    let status = stored.effective(row.valid_to, today);
    let fields: Value = serde_json::from_str(&row.fields).unwrap_or(Value::Null);
    let cert_type = catalog.get(&row.type_code);
    crate::wire::licences::Licence {
        id: row.id.clone(),
        identifier: row.identifier.clone(),
        licence_no: row.licence_no.clone(),
        version: row.version,
        status,
        status_code: status.code().map(str::to_string),
        status_reason: row.status_reason.clone(),
        qr_text: crate::verification::qr_text(public_url, &row.cose),
        type_code: row.type_code.clone(),
        type_name: cert_type.map(|t| t.name.clone()),
        holder: crate::wire::licences::Holder {
            name: row.holder_name.clone(),
            code: row.holder_code.clone(),
        },
        fields,
        valid_from: row.valid_from.to_string(),
        valid_to: row.valid_to.map(|d| d.to_string()),
        issuer_code: row.issuer_code.clone(),
        issuing_hall: row.issuing_hall.clone(),
        issued_at: storage::from_db_time(row.issued_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        issued_by: row.issued_by.clone(),
        signer_kid: row.signer_kid.clone(),
        previous_id: row.previous_id.clone(),
        superseded_by: row.superseded_by.clone(),
    }
}

fn cert_type_of<'c>(
    catalog: &'c Catalog,
    type_code: &Value,
) -> Result<&'c CertType, RegistrationError> {
    let code = type_code
        .as_str()
        .ok_or_else(|| RegistrationError::BadTypeCode("is required and must be a string".into()))?;
    catalog.get(code).ok_or_else(|| {
        RegistrationError::BadTypeCode(format!("no certificate type with code {code}"))
    })
}

/// The issuing authority of a staff member: their hall must be an issuing hall.
fn authority_of(
    conn: &mut DbConnection,
    staff: &Staff,
) -> Result<(String, String), RegistrationError> {
    let hall = halls::get_hall(conn, &staff.hall_code)?;
    match hall.authority {
        Some(a) if hall.kind.is_issuing() && hall.active => Ok((hall.code, a.credit_code)),
        _ => Err(RegistrationError::Forbidden(format!(
            "the hall {} is not an active issuing authority",
            staff.hall_code
        ))),
    }
}

fn region_number(issuer_code: &str) -> u64 {
    // Credit-code characters 3-8 are the region (e.g. 371302); a code without a numeric region
    // still gets unique numbers from its serial alone.
    issuer_code
        .get(2..8)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Licence number: the type's pattern filled with the authority's region + the serial.
pub(crate) fn licence_number(
    t: &CertType,
    issuer_code: &str,
    serial: i64,
) -> Result<String, RegistrationError> {
    let serial_digits = t.number.digits.saturating_sub(6);
    let limit = 10u64.checked_pow(serial_digits).unwrap_or(u64::MAX);
    let serial = serial as u64;
    if serial >= limit {
        return Err(RegistrationError::NumbersExhausted(t.code.clone()));
    }
    let value = region_number(issuer_code)
        .checked_mul(limit)
        .and_then(|v| v.checked_add(serial))
        .unwrap_or(serial);
    t.number
        .format(value)
        .ok_or_else(|| RegistrationError::NumbersExhausted(t.code.clone()))
}

/// The public URL of status list `list_id` (the `uri` of the seal's status claim and the
/// `sub` of the list).
pub fn status_list_uri(public_url: &str, list_id: i64) -> String {
    format!(
        "{}/api/v1/status-lists/{list_id}",
        public_url.trim_end_matches('/')
    )
}

pub(crate) fn unix_end_of_day(d: chrono::NaiveDate) -> i64 {
    d.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default())
        .and_utc()
        .timestamp()
}

struct Draft<'a> {
    cert_type: &'a CertType,
    record: crate::catalog::record::ValidRecord,
    issuing_hall: String,
    issuer_code: String,
    serial: i64,
    version: i32,
    licence_no: String,
    previous_id: Option<String>,
}

/// Build claims, audit, seal, verify (inside `seal`), store, audit. Call inside a write tx.
fn seal_and_store(
    conn: &mut DbConnection,
    ctx: &IssueContext<'_>,
    staff: &Staff,
    d: Draft<'_>,
) -> Result<LicenceRow, RegistrationError> {
    let identifier = Identifier::new(
        &d.cert_type.code,
        &d.issuer_code,
        d.serial as u64,
        d.version as u32,
    );
    let id = uuid::Uuid::new_v4().to_string();
    let slot = store_lists::allocate(conn, &id, false, ctx.now)?;
    let claims = SealClaims {
        iss: d.issuer_code.clone(),
        iat: ctx.now.timestamp(),
        exp: d.record.valid_to.map(unix_end_of_day),
        identifier: identifier.to_string(),
        licence_no: d.licence_no.clone(),
        holder_name: d.record.holder_name.clone(),
        holder_code_masked: d.record.holder_code.public_form(),
        status: Some(StatusRef {
            idx: slot.idx,
            uri: status_list_uri(ctx.public_url, slot.list_id),
        }),
    };
    audit::insert_event(
        conn,
        ctx.now,
        &staff.username,
        "LicenceSigning",
        &format!("licence:{id}"),
        json!({"identifier": identifier.to_string(), "type_code": d.cert_type.code, "version": d.version}),
    )?;
    // Every new seal names its status-list slot (claim 65535), so an offline verifier with
    // the signed list needs nothing else. The claim takes a business licence's QR from
    // version 14 to 16 or 17; the offline reader's window search reads those from a 150 dpi
    // scan (verification/offline.rs).
    let cose = ctx.sealer.seal(&claims, ctx.now)?;
    let kid = crate::verification::envelope::Envelope::decode(&cose)
        .ok()
        .and_then(|e| e.kid.map(hex::encode))
        .unwrap_or_default();
    let row = LicenceRow {
        id: id.clone(),
        type_code: d.cert_type.code.clone(),
        issuer_code: d.issuer_code,
        issuing_hall: d.issuing_hall,
        serial: d.serial,
        version: d.version,
        identifier: identifier.to_string(),
        licence_no: d.licence_no,
        holder_name: d.record.holder_name,
        holder_code: d.record.holder_code.as_str().to_string(),
        fields: serde_json::to_string(&d.record.fields).unwrap_or_else(|_| "{}".into()),
        valid_from: d.record.valid_from,
        valid_to: d.record.valid_to,
        status: LicenceStatus::Valid,
        status_reason: None,
        status_changed_at: None,
        cose,
        signer_kid: kid.clone(),
        issued_at: storage::to_db_time(ctx.now),
        issued_by: staff.username.clone(),
        previous_id: d.previous_id,
        superseded_by: None,
    };
    store::insert_licence(conn, &row)?;
    audit::insert_event(
        conn,
        ctx.now,
        &staff.username,
        "LicenceIssued",
        &format!("licence:{id}"),
        json!({"identifier": row.identifier, "licence_no": row.licence_no, "signer_kid": kid}),
    )?;
    Ok(row)
}

/// The Idempotency-Key's fingerprint of a request: SHA-256 of its JSON with sorted keys and
/// without null members, so a retry of the same record matches whatever its key order.
fn request_hash(input: &IssueLicenceInput) -> Result<String, RegistrationError> {
    let canonical = serde_json::to_value(input).map_err(|e| {
        RegistrationError::Storage(StorageError::Migration(format!(
            "a licence request does not serialize: {e}"
        )))
    })?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.to_string().as_bytes(),
    )))
}

/// `POST /api/v1/licences`: the new licence; a replayed Idempotency-Key gives the first answer
/// back unchanged.
pub fn issue_licence(
    conn: &mut DbConnection,
    ctx: &IssueContext<'_>,
    staff: &Staff,
    input: &IssueLicenceInput,
    idempotency_key: Option<&str>,
) -> Result<crate::wire::licences::Licence, RegistrationError> {
    if staff.role != Role::Issuer {
        return Err(RegistrationError::Forbidden(
            "only window staff (issuer role) issue licences".into(),
        ));
    }
    let cert_type = cert_type_of(ctx.catalog, &input.type_code)?;
    let record = cert_type
        .validate_input(&input.record)
        .map_err(RegistrationError::Invalid)?;
    // Fail before allocating anything when no signer may seal.
    ctx.sealer.keys().active_signer(ctx.now)?;
    let hash = request_hash(input)?;
    storage::write_tx(conn, |conn| {
        if let Some(key) = idempotency_key {
            if let Some(previous) = store::find_idempotent(conn, staff.user_id, key)? {
                if previous.request_hash != hash {
                    return Err(RegistrationError::IdempotencyMismatch);
                }
                return serde_json::from_str(&previous.response_body).map_err(|e| {
                    RegistrationError::Storage(StorageError::Migration(format!(
                        "the stored answer of idempotency key {key} is not a licence: {e}"
                    )))
                });
            }
        }
        let (issuing_hall, issuer_code) = authority_of(conn, staff)?;
        let serial = store::next_serial(conn, &cert_type.code, &issuer_code)?;
        let licence_no = licence_number(cert_type, &issuer_code, serial)?;
        let row = seal_and_store(
            conn,
            ctx,
            staff,
            Draft {
                cert_type,
                record,
                issuing_hall,
                issuer_code,
                serial,
                version: 1,
                licence_no,
                previous_id: None,
            },
        )?;
        let answer = wire_licence(&row, ctx.catalog, ctx.public_url, ctx.now.date_naive());
        if let Some(key) = idempotency_key {
            let text = serde_json::to_string(&answer).map_err(|e| {
                RegistrationError::Storage(StorageError::Migration(format!(
                    "a licence does not serialize: {e}"
                )))
            })?;
            store::insert_idempotent(conn, staff.user_id, key, &hash, 201, &text, ctx.now)?;
        }
        Ok(answer)
    })
}

/// Admins, and issuers of the issuing authority's hall, may change a licence.
fn may_manage(staff: &Staff, row: &LicenceRow) -> bool {
    staff.role == Role::Admin || (staff.role == Role::Issuer && staff.hall_code == row.issuing_hall)
}

/// Who may see a licence through the staff API: admins and staff of the issuing hall.
/// (Hall operators see the licences of their print jobs through the job.)
pub fn get_licence(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
) -> Result<LicenceRow, RegistrationError> {
    let row = store::find_licence(conn, id)?
        .ok_or_else(|| RegistrationError::NotFound(id.to_string()))?;
    if staff.role == Role::Admin || staff.hall_code == row.issuing_hall {
        Ok(row)
    } else {
        Err(RegistrationError::NotFound(id.to_string()))
    }
}

pub fn versions_of(
    conn: &mut DbConnection,
    row: &LicenceRow,
) -> Result<Vec<LicenceRow>, RegistrationError> {
    Ok(store::list_versions(
        conn,
        &row.type_code,
        &row.issuer_code,
        row.serial,
    )?)
}

/// The refusal of a missing, empty or too long `reason` (also what the route answers when
/// the body is not a `ReasonBody`).
pub fn reason_required() -> RegistrationError {
    RegistrationError::Invalid(vec![FieldError {
        field: "reason".into(),
        code: "required",
        message: "reason: is required (1-500 characters)".into(),
    }])
}

fn reason_of(body: &crate::wire::ReasonBody) -> Result<String, RegistrationError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(reason_required());
    }
    Ok(reason.to_string())
}

/// Suspend, reinstate, rescind, cancel or revoke. The hook runs in the same transaction, so
/// follow-up work (cancelling print jobs) commits or fails with the change.
pub fn change_status<H>(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    action: LicenceAction,
    body: &crate::wire::ReasonBody,
    now: DateTime<Utc>,
    on_changed: H,
) -> Result<LicenceRow, RegistrationError>
where
    H: FnOnce(&mut DbConnection, &LicenceRow, LicenceStatus) -> Result<(), StorageError>,
{
    let reason = reason_of(body)?;
    storage::write_tx(conn, |conn| {
        let row = store::find_licence(conn, id)?
            .ok_or_else(|| RegistrationError::NotFound(id.to_string()))?;
        if !may_manage(staff, &row) {
            return Err(
                if staff.hall_code == row.issuing_hall || staff.role == Role::Admin {
                    RegistrationError::Forbidden("not allowed".into())
                } else {
                    RegistrationError::NotFound(id.to_string())
                },
            );
        }
        let from = row.status;
        let to = action.apply(from)?;
        store::update_status(conn, id, from, to, Some(&reason), None, now)?;
        audit::insert_event(
            conn,
            now,
            &staff.username,
            action.event(),
            &format!("licence:{id}"),
            json!({"from": from.as_str(), "to": to.as_str(), "reason": reason}),
        )?;
        on_changed(conn, &row, to)?;
        Ok(store::get_licence(conn, id)?)
    })
}

/// `POST /api/v1/licences/{id}/versions`: a change. The new version gets a new identifier
/// version and a new seal; the old one becomes superseded, in one transaction.
pub fn new_version<H>(
    conn: &mut DbConnection,
    ctx: &IssueContext<'_>,
    staff: &Staff,
    id: &str,
    record: &RecordInput,
    on_superseded: H,
) -> Result<LicenceRow, RegistrationError>
where
    H: FnOnce(&mut DbConnection, &LicenceRow) -> Result<(), StorageError>,
{
    let current = store::find_licence(conn, id)?
        .ok_or_else(|| RegistrationError::NotFound(id.to_string()))?;
    if !may_manage(staff, &current) {
        return Err(RegistrationError::NotFound(id.to_string()));
    }
    if staff.role != Role::Issuer {
        return Err(RegistrationError::Forbidden(
            "only window staff (issuer role) issue new versions".into(),
        ));
    }
    let cert_type = ctx.catalog.get(&current.type_code).ok_or_else(|| {
        RegistrationError::BadTypeCode(format!(
            "the type {} is no longer in the catalog",
            current.type_code
        ))
    })?;
    let record = cert_type
        .validate_input(record)
        .map_err(RegistrationError::Invalid)?;
    ctx.sealer.keys().active_signer(ctx.now)?;
    storage::write_tx(conn, |conn| {
        let row = store::get_licence(conn, id)?;
        let from = row.status;
        if from != LicenceStatus::Valid {
            return Err(RegistrationError::NotChangeable(from));
        }
        let new = seal_and_store(
            conn,
            ctx,
            staff,
            Draft {
                cert_type,
                record,
                issuing_hall: row.issuing_hall.clone(),
                issuer_code: row.issuer_code.clone(),
                serial: row.serial,
                version: row.version + 1,
                licence_no: row.licence_no.clone(),
                previous_id: Some(row.id.clone()),
            },
        )?;
        store::update_status(
            conn,
            id,
            LicenceStatus::Valid,
            LicenceStatus::Superseded,
            Some("changed"),
            Some(&new.id),
            ctx.now,
        )?;
        audit::insert_event(
            conn,
            ctx.now,
            &staff.username,
            "LicenceSuperseded",
            &format!("licence:{id}"),
            json!({"superseded_by": new.id, "version": new.version}),
        )?;
        on_superseded(conn, &row)?;
        Ok(new)
    })
}

/// The name printed as the licence's issuing authority: the issuing hall's authority, else
/// the hall's own name.
pub(crate) fn issuing_authority(
    conn: &mut DbConnection,
    row: &LicenceRow,
) -> Result<String, RegistrationError> {
    let hall = halls::get_hall(conn, &row.issuing_hall)?;
    Ok(hall.authority.map(|a| a.name).unwrap_or(hall.name))
}

/// The licence's stored field values.
pub(crate) fn stored_fields(
    row: &LicenceRow,
) -> Result<std::collections::BTreeMap<String, String>, RegistrationError> {
    serde_json::from_str(&row.fields).map_err(|e| {
        RegistrationError::Storage(StorageError::Migration(format!(
            "licence {} fields: {e}",
            row.id
        )))
    })
}

/// What the renderer draws of a stored licence.
pub(crate) fn certificate_data<'a>(
    row: &'a LicenceRow,
    fields: &'a std::collections::BTreeMap<String, String>,
    authority: &'a str,
    qr_text: &'a str,
) -> crate::documents::CertificateData<'a> {
    crate::documents::CertificateData {
        type_code: &row.type_code,
        holder_name: &row.holder_name,
        holder_code: &row.holder_code,
        fields,
        valid_from: row.valid_from,
        valid_to: row.valid_to,
        authority_name: authority,
        issued_on: row.issued_at.date(),
        licence_no: &row.licence_no,
        identifier: &row.identifier,
        qr_text,
    }
}

/// Render a stored licence (electronic copy or print document). Blocking: reads the issuing
/// hall for the authority's name, then draws.
#[allow(clippy::too_many_arguments)]
pub fn render_licence(
    conn: &mut DbConnection,
    fonts: &crate::render::Fonts,
    catalog: &Catalog,
    public_url: &str,
    row: &LicenceRow,
    copies: &[crate::domain::copy::CopyKind],
    serials: Option<&[String]>,
    mode: crate::render::RenderMode,
) -> Result<Vec<u8>, RegistrationError> {
    let authority = issuing_authority(conn, row)?;
    let fields = stored_fields(row)?;
    let qr = crate::verification::qr_text(public_url, &row.cose);
    let data = certificate_data(row, &fields, &authority, &qr);
    crate::documents::render_certificate(fonts, catalog, &data, copies, serials, mode)
        .map_err(RegistrationError::Document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> IssueLicenceInput {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_request_fingerprint_ignores_key_order_and_null_members() {
        let a = input(
            r#"{"type_code": "T1", "holder": {"name": "张三", "code": "X"}, "fields": {"b": "2", "a": "1"}, "valid_from": "2026-01-01"}"#,
        );
        let b = input(
            r#"{"valid_to": null, "fields": {"a": "1", "b": "2"}, "valid_from": "2026-01-01", "holder": {"code": "X", "name": "张三"}, "type_code": "T1"}"#,
        );
        assert_eq!(request_hash(&a).unwrap(), request_hash(&b).unwrap());
        let c = input(
            r#"{"type_code": "T1", "holder": {"name": "张三", "code": "Y"}, "fields": {"b": "2", "a": "1"}, "valid_from": "2026-01-01"}"#,
        );
        assert_ne!(request_hash(&a).unwrap(), request_hash(&c).unwrap());
    }

    #[test]
    fn the_request_fingerprint_is_the_hash_of_the_bodys_sorted_json() {
        // Keys stored before the body was typed were hashed from the raw JSON value; a retry
        // of the same body after an upgrade still matches.
        let text = r#"{"type_code": "T1", "holder": {"name": "张三", "code": "X"}, "fields": {"a": "1"}, "valid_from": "2026-01-01", "valid_to": "2027-01-01"}"#;
        let raw: Value = serde_json::from_str(text).unwrap();
        let old = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            raw.to_string().as_bytes(),
        ));
        assert_eq!(request_hash(&input(text)).unwrap(), old);
    }

    #[test]
    fn a_holder_that_is_not_an_object_is_kept_for_the_catalog_to_refuse() {
        let i = input(r#"{"type_code": 5, "holder": "x", "fields": []}"#);
        assert!(i.record.holder.not_an_object);
        assert_eq!(i.type_code, serde_json::json!(5));
        assert_eq!(i.record.fields, serde_json::json!([]));
    }
}
