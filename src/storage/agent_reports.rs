//! `agent_reports`: the first answer to each agent report, by (job, agent sequence number),
//! so a retried report is answered the same way and changes nothing.

use super::schema::agent_reports;
use super::{DbConnection, StorageResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agent_reports)]
pub struct ReportRow {
    pub job_id: String,
    pub seq: i64,
    pub request_hash: String,
    pub response_status: i32,
    pub response_body: String,
    pub at: NaiveDateTime,
}

pub fn find_report(
    conn: &mut DbConnection,
    job_id: &str,
    seq: i64,
) -> StorageResult<Option<ReportRow>> {
    Ok(agent_reports::table
        .find((job_id, seq))
        .select(ReportRow::as_select())
        .first(conn)
        .optional()?)
}

/// Store an answer. A concurrent retry of the same report loses on the primary key; the
/// caller's transaction then rolls back and the retry reads the stored answer.
pub fn insert_report(conn: &mut DbConnection, row: &ReportRow) -> StorageResult<()> {
    diesel::insert_into(agent_reports::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}
