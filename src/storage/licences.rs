//! `licences`, `licence_sequences` and `idempotency_keys`.

use super::schema::{idempotency_keys, licences};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use crate::domain::licence::LicenceStatus;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = licences)]
pub struct LicenceRow {
    pub id: String,
    pub type_code: String,
    pub issuer_code: String,
    pub issuing_hall: String,
    pub serial: i64,
    pub version: i32,
    pub identifier: String,
    pub licence_no: String,
    pub holder_name: String,
    pub holder_code: String,
    pub fields: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub status: LicenceStatus,
    pub status_reason: Option<String>,
    pub status_changed_at: Option<NaiveDateTime>,
    pub cose: Vec<u8>,
    pub signer_kid: String,
    pub issued_at: NaiveDateTime,
    pub issued_by: String,
    pub previous_id: Option<String>,
    pub superseded_by: Option<String>,
}

/// Take the next serial for a type and authority. Call inside the issuing write transaction:
/// the row lock (PostgreSQL) or the write lock (SQLite) makes concurrent issues wait, and a
/// rolled-back issue gives its serial back, so serials have no duplicates and no gaps.
pub fn next_serial(
    conn: &mut DbConnection,
    type_code: &str,
    issuer_code: &str,
) -> StorageResult<i64> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Serial {
        #[diesel(sql_type = BigInt)]
        last_serial: i64,
    }
    diesel::sql_query(
        "INSERT INTO licence_sequences (type_code, issuer_code, last_serial) VALUES ($1, $2, 0) \
         ON CONFLICT (type_code, issuer_code) DO NOTHING",
    )
    .bind::<Text, _>(type_code)
    .bind::<Text, _>(issuer_code)
    .execute(conn)?;
    let row: Serial = diesel::sql_query(
        "UPDATE licence_sequences SET last_serial = last_serial + 1 \
         WHERE type_code = $1 AND issuer_code = $2 RETURNING last_serial",
    )
    .bind::<Text, _>(type_code)
    .bind::<Text, _>(issuer_code)
    .get_result(conn)?;
    Ok(row.last_serial)
}

pub fn insert_licence(conn: &mut DbConnection, row: &LicenceRow) -> StorageResult<()> {
    diesel::insert_into(licences::table)
        .values(row)
        .execute(conn)?;
    // The transparency log's entry, in the same transaction.
    super::tlog::append_issued(conn, row)
}

pub fn find_licence(conn: &mut DbConnection, id: &str) -> StorageResult<Option<LicenceRow>> {
    Ok(licences::table
        .find(id)
        .select(LicenceRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get_licence(conn: &mut DbConnection, id: &str) -> StorageResult<LicenceRow> {
    find_licence(conn, id)?
        .ok_or_else(|| StorageError::NotFound(format!("no licence with id {id}")))
}

/// The verify path's one indexed query.
pub fn find_by_identifier(
    conn: &mut DbConnection,
    identifier: &str,
) -> StorageResult<Option<LicenceRow>> {
    Ok(licences::table
        .filter(licences::identifier.eq(identifier))
        .select(LicenceRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every version of one licence (same type, authority and serial), oldest first.
pub fn list_versions(
    conn: &mut DbConnection,
    type_code: &str,
    issuer_code: &str,
    serial: i64,
) -> StorageResult<Vec<LicenceRow>> {
    Ok(licences::table
        .filter(licences::type_code.eq(type_code))
        .filter(licences::issuer_code.eq(issuer_code))
        .filter(licences::serial.eq(serial))
        .order(licences::version.asc())
        .select(LicenceRow::as_select())
        .load(conn)?)
}

/// The register's change counter (`register_changes`): triggers move it in the transaction of
/// every update or deletion of a licence, a log entry's deletion and a hall's change, so a
/// reader that kept verify rows since it last read the counter knows whether any may have
/// changed. This process hears of its own status changes at once (`after_commit`).
pub fn register_changes(conn: &mut DbConnection) -> StorageResult<i64> {
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let row: Seq =
        diesel::sql_query("SELECT seq FROM register_changes WHERE id = 1").get_result(conn)?;
    Ok(row.seq)
}

/// Change the status only if it is still `expected` (no lost update between read and write).
pub fn update_status(
    conn: &mut DbConnection,
    id: &str,
    expected: LicenceStatus,
    status: LicenceStatus,
    reason: Option<&str>,
    superseded_by: Option<&str>,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    let n = diesel::update(
        licences::table
            .find(id)
            .filter(licences::status.eq(expected)),
    )
    .set((
        licences::status.eq(status),
        licences::status_reason.eq(reason),
        licences::status_changed_at.eq(Some(to_db_time(now))),
        licences::superseded_by.eq(superseded_by),
    ))
    .execute(conn)?;
    if n == 1 {
        // The status lists and the transparency log follow every change (same transaction).
        super::tlog::append_licence(conn, id, &format!("status:{status}"), now)?;
        super::status_lists::note_change(conn, id, now)?;
        // `register_changes` moved by trigger; this process's verify rows are dropped after
        // the commit.
        super::after_commit::note_register_change();
        Ok(())
    } else {
        Err(StorageError::Conflict(format!(
            "the licence {id} changed status meanwhile"
        )))
    }
}

pub fn list_recent(
    conn: &mut DbConnection,
    hall: Option<&str>,
    limit: i64,
) -> StorageResult<Vec<LicenceRow>> {
    let mut q = licences::table
        .select(LicenceRow::as_select())
        .order(licences::issued_at.desc())
        .limit(limit)
        .into_boxed();
    if let Some(h) = hall {
        q = q.filter(licences::issuing_hall.eq(h.to_string()));
    }
    Ok(q.load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub user_id: i64,
    pub idem_key: String,
    pub request_hash: String,
    pub response_status: i32,
    pub response_body: String,
    pub created_at: NaiveDateTime,
}

pub fn find_idempotent(
    conn: &mut DbConnection,
    user_id: i64,
    key: &str,
) -> StorageResult<Option<IdempotencyRow>> {
    Ok(idempotency_keys::table
        .find((user_id, key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_idempotent(
    conn: &mut DbConnection,
    user_id: i64,
    key: &str,
    request_hash: &str,
    status: i32,
    body: &str,
    now: DateTime<Utc>,
) -> StorageResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_body.eq(body),
            idempotency_keys::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the public verify routes need of one licence version: what the paper shows plus its
/// status, and the issuing authority's name from its hall. Narrower than `LicenceRow` (no
/// fields JSON, no COSE), so the hot path reads and copies little.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = licences)]
pub struct VerifyRow {
    pub identifier: String,
    pub type_code: String,
    pub issuer_code: String,
    pub version: i32,
    pub licence_no: String,
    pub holder_name: String,
    pub holder_code: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub status: LicenceStatus,
}

/// The verify path's one query: the licence by its (unique, indexed) identifier, joined to
/// its issuing hall for the authority's name.
pub fn find_for_verification(
    conn: &mut DbConnection,
    identifier: &str,
) -> StorageResult<Option<(VerifyRow, Option<String>)>> {
    use super::schema::halls;
    Ok(licences::table
        .left_join(halls::table.on(halls::code.eq(licences::issuing_hall)))
        .filter(licences::identifier.eq(identifier))
        .select((VerifyRow::as_select(), halls::authority_name.nullable()))
        .first(conn)
        .optional()?)
}

/// Read a licence inside a write transaction and keep it (`FOR UPDATE` on PostgreSQL), so a
/// print job queued at the same moment as a revocation either sees the revocation or is
/// seen (and cancelled) by it.
pub fn lock_licence(conn: &mut DbConnection, id: &str) -> StorageResult<Option<LicenceRow>> {
    // Two queries: the selection is typed per backend.
    Ok(match conn {
        DbConnection::Pg(c) => licences::table
            .find(id)
            .select(LicenceRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConnection::Sqlite(c) => licences::table
            .find(id)
            .select(LicenceRow::as_select())
            .first(c)
            .optional()?,
    })
}

/// A licence as verification reads it, the issuing authority's name, and the seal's log leaf
/// (see [`find_for_verification_logged`]).
pub type LoggedVerifyRow = (VerifyRow, Option<String>, Option<i64>);

/// [`find_for_verification`] and, in the same statement, the newest transparency-log entry
/// of the seal whose SHA-256 is `seal_sha256` (lowercase hex): `None` when the log has no
/// entry for it, `Some(-1)` while the entry awaits integration, else its leaf index. One
/// round trip instead of two on the verify path; `None` as a whole when the register has no
/// such licence (the caller then asks the log alone).
pub fn find_for_verification_logged(
    conn: &mut DbConnection,
    identifier: &str,
    seal_sha256: &str,
) -> StorageResult<Option<LoggedVerifyRow>> {
    use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text};
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        identifier: String,
        #[diesel(sql_type = Text)]
        type_code: String,
        #[diesel(sql_type = Text)]
        issuer_code: String,
        #[diesel(sql_type = Integer)]
        version: i32,
        #[diesel(sql_type = Text)]
        licence_no: String,
        #[diesel(sql_type = Text)]
        holder_name: String,
        #[diesel(sql_type = Text)]
        holder_code: String,
        #[diesel(sql_type = Date)]
        valid_from: NaiveDate,
        #[diesel(sql_type = Nullable<Date>)]
        valid_to: Option<NaiveDate>,
        #[diesel(sql_type = Text)]
        status: LicenceStatus,
        #[diesel(sql_type = Nullable<Text>)]
        authority_name: Option<String>,
        #[diesel(sql_type = Nullable<BigInt>)]
        log_leaf: Option<i64>,
    }
    let found: Option<Found> = diesel::sql_query(
        "SELECT l.identifier AS identifier, l.type_code AS type_code, \
         l.issuer_code AS issuer_code, l.version AS version, l.licence_no AS licence_no, \
         l.holder_name AS holder_name, l.holder_code AS holder_code, \
         l.valid_from AS valid_from, l.valid_to AS valid_to, l.status AS status, \
         h.authority_name AS authority_name, \
         (SELECT COALESCE(e.leaf_index, -1) FROM tlog_entries e \
          WHERE e.subject = l.identifier AND e.sha256 = $1 ORDER BY e.id DESC LIMIT 1) AS log_leaf \
         FROM licences l LEFT JOIN halls h ON h.code = l.issuing_hall \
         WHERE l.identifier = $2",
    )
    .bind::<Text, _>(seal_sha256)
    .bind::<Text, _>(identifier)
    .get_result(conn)
    .optional()?;
    Ok(found.map(|f| {
        (
            VerifyRow {
                identifier: f.identifier,
                type_code: f.type_code,
                issuer_code: f.issuer_code,
                version: f.version,
                licence_no: f.licence_no,
                holder_name: f.holder_name,
                holder_code: f.holder_code,
                valid_from: f.valid_from,
                valid_to: f.valid_to,
                status: f.status,
            },
            f.authority_name,
            f.log_leaf,
        )
    }))
}
