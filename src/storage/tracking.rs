//! The tracking columns of `print_jobs` (issue 24): the hash of a job's tracking token and
//! the holder's mobile number, written right after the job's insert in the same transaction,
//! and the look-ups of the counter (by token, by the short id shown in the queue).

use super::jobs::JobRow;
use super::schema::print_jobs;
use super::{DbConnection, StorageResult};
use crate::domain::job::JobState;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Store the job's tracking token hash and mobile number (call in the queueing transaction).
pub fn set_tracking(
    conn: &mut DbConnection,
    job_id: &str,
    token_hash: &str,
    mobile: Option<&str>,
) -> StorageResult<()> {
    diesel::update(print_jobs::table.find(job_id))
        .set((
            print_jobs::tracking_token_hash.eq(Some(token_hash)),
            print_jobs::mobile.eq(mobile),
        ))
        .execute(conn)?;
    Ok(())
}

/// The job whose tracking token hashes to `token_hash`.
pub fn find_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> StorageResult<Option<JobRow>> {
    Ok(print_jobs::table
        .filter(print_jobs::tracking_token_hash.eq(token_hash))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// The holder's mobile number, if one was given at queue time.
pub fn mobile_of(conn: &mut DbConnection, job_id: &str) -> StorageResult<Option<String>> {
    Ok(print_jobs::table
        .find(job_id)
        .select(print_jobs::mobile)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Jobs whose id starts with `prefix` (the short id of the queue: hexadecimal digits and
/// dashes only, so no LIKE wildcard gets in), at most `limit`.
pub fn find_by_id_prefix(
    conn: &mut DbConnection,
    prefix: &str,
    limit: i64,
) -> StorageResult<Vec<JobRow>> {
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Ok(Vec::new());
    }
    Ok(print_jobs::table
        .filter(print_jobs::id.like(format!("{}%", prefix.to_ascii_lowercase())))
        .order(print_jobs::created_at.desc())
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)?)
}

/// Jobs waiting for their holder, with a mobile number and no reminder yet: printed before
/// `cutoff`, or held for a kiosk since before `cutoff`. Candidates for a reminder, oldest first.
pub fn waiting_with_mobile_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    limit: i64,
) -> StorageResult<Vec<(JobRow, String)>> {
    let rows: Vec<(JobRow, Option<String>)> = print_jobs::table
        .filter(
            print_jobs::state
                .eq(JobState::Printed)
                .and(print_jobs::printed_at.lt(cutoff))
                // A self-service job waits for the holder from the moment it is queued.
                .or(print_jobs::state
                    .eq(JobState::Held)
                    .and(print_jobs::created_at.lt(cutoff))),
        )
        .filter(print_jobs::mobile.is_not_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            super::schema::notifications::table
                .filter(super::schema::notifications::job_id.eq(print_jobs::id))
                .filter(
                    super::schema::notifications::kind
                        .eq(crate::domain::tracking::NotificationKind::Reminder),
                ),
        )))
        .order(print_jobs::created_at.asc())
        .limit(limit)
        .select((JobRow::as_select(), print_jobs::mobile))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(j, m)| m.map(|m| (j, m)))
        .collect())
}
