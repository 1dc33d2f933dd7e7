//! `stock_batches` and `sheets`: registered blank security stock and every used sheet.

use super::schema::{sheets, stock_batches};
use super::{DbConnection, StorageResult};
use crate::domain::copy::CopyKind;
use crate::domain::stock::SheetState;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Serialises batch registration on PostgreSQL (overlap check + insert); SQLite has one writer.
const STOCK_LOCK_KEY: i64 = 0x5700_CBA7;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stock_batches)]
pub struct BatchRow {
    pub id: i64,
    pub hall: String,
    pub first_serial: String,
    pub prefix: String,
    pub width: i32,
    pub first_number: i64,
    pub count: i32,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = stock_batches)]
pub struct NewBatch {
    pub hall: String,
    pub first_serial: String,
    pub prefix: String,
    pub width: i32,
    pub first_number: i64,
    pub count: i32,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sheets)]
pub struct SheetRow {
    pub serial: String,
    pub hall: String,
    pub batch_id: i64,
    pub state: SheetState,
    pub job_id: Option<String>,
    pub copy: Option<CopyKind>,
    pub reason: Option<String>,
    pub at: NaiveDateTime,
}

/// Take the stock registration lock for the rest of the transaction (PostgreSQL only).
pub fn lock_registration(conn: &mut DbConnection) -> StorageResult<()> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({STOCK_LOCK_KEY})")).execute(c)?;
    }
    Ok(())
}

pub fn insert_batch(conn: &mut DbConnection, batch: &NewBatch) -> StorageResult<i64> {
    Ok(diesel::insert_into(stock_batches::table)
        .values(batch)
        .returning(stock_batches::id)
        .get_result(conn)?)
}

/// A batch of any hall that shares a serial with `first..=last` (same prefix and width).
pub fn find_overlapping(
    conn: &mut DbConnection,
    prefix: &str,
    width: i32,
    first: i64,
    last: i64,
) -> StorageResult<Option<BatchRow>> {
    // Overlap of [first, last] and [b.first, b.first + b.count - 1]; the batch's end is
    // computed in SQL, so the filter is `b.first <= last AND b.first + b.count > first`.
    Ok(stock_batches::table
        .filter(stock_batches::prefix.eq(prefix))
        .filter(stock_batches::width.eq(width))
        .filter(stock_batches::first_number.le(last))
        .filter(
            (stock_batches::first_number + diesel::dsl::sql::<diesel::sql_types::BigInt>("count"))
                .gt(first),
        )
        .order(stock_batches::id.asc())
        .select(BatchRow::as_select())
        .first(conn)
        .optional()?)
}

/// The hall's batch holding this serial, if any.
pub fn find_batch_containing(
    conn: &mut DbConnection,
    hall: &str,
    prefix: &str,
    width: i32,
    number: i64,
) -> StorageResult<Option<BatchRow>> {
    Ok(stock_batches::table
        .filter(stock_batches::hall.eq(hall))
        .filter(stock_batches::prefix.eq(prefix))
        .filter(stock_batches::width.eq(width))
        .filter(stock_batches::first_number.le(number))
        .filter(
            (stock_batches::first_number + diesel::dsl::sql::<diesel::sql_types::BigInt>("count"))
                .gt(number),
        )
        .select(BatchRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_batches(conn: &mut DbConnection, hall: &str) -> StorageResult<Vec<BatchRow>> {
    Ok(stock_batches::table
        .filter(stock_batches::hall.eq(hall))
        .order(stock_batches::id.asc())
        .select(BatchRow::as_select())
        .load(conn)?)
}

pub fn count_batches(conn: &mut DbConnection, hall: &str) -> StorageResult<i64> {
    Ok(stock_batches::table
        .filter(stock_batches::hall.eq(hall))
        .count()
        .get_result(conn)?)
}

pub fn find_sheet(conn: &mut DbConnection, serial: &str) -> StorageResult<Option<SheetRow>> {
    Ok(sheets::table
        .find(serial)
        .select(SheetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Insert the sheet unless its serial is taken already (false then). On PostgreSQL a
/// concurrent insert of the same serial is waited for: the first to commit wins.
pub fn insert_sheet_if_new(conn: &mut DbConnection, sheet: &SheetRow) -> StorageResult<bool> {
    // Per backend: ON CONFLICT is not available through the multi-connection.
    let n = match conn {
        DbConnection::Pg(c) => diesel::insert_into(sheets::table)
            .values(sheet)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(sheets::table)
            .values(sheet)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

pub fn count_sheets(conn: &mut DbConnection, hall: &str, state: SheetState) -> StorageResult<i64> {
    Ok(sheets::table
        .filter(sheets::hall.eq(hall))
        .filter(sheets::state.eq(state))
        .count()
        .get_result(conn)?)
}

pub fn list_sheets_for_job(conn: &mut DbConnection, job_id: &str) -> StorageResult<Vec<SheetRow>> {
    Ok(sheets::table
        .filter(sheets::job_id.eq(job_id))
        .order((sheets::at.asc(), sheets::serial.asc()))
        .select(SheetRow::as_select())
        .load(conn)?)
}
