//! `print_jobs`. The document is loaded only by `get_document` and `find_job_to_print`:
//! lists and state changes never drag the PDF through memory.

use super::licences::LicenceRow;
use super::schema::{licences, print_jobs};
use super::{DbConnection, StorageError, StorageResult};
use crate::domain::job::{JobState, Pickup};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A job without its document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = print_jobs)]
pub struct JobRow {
    pub id: String,
    pub licence_id: String,
    pub hall: String,
    pub issuing_hall: String,
    pub state: JobState,
    pub copies: String,
    pub document_sha256: String,
    pub pickup_code_hash: String,
    pub pickup_failures: i32,
    pub pickup_locked: bool,
    pub attempts: i32,
    pub lease_token_hash: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub printed_at: Option<NaiveDateTime>,
    pub collected_at: Option<NaiveDateTime>,
    pub pickup: Pickup,
    /// The kiosk (agent token id) that released a self-service job.
    pub kiosk_id: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = print_jobs)]
pub struct NewJob {
    pub id: String,
    pub licence_id: String,
    pub hall: String,
    pub issuing_hall: String,
    pub state: JobState,
    pub copies: String,
    pub document: Vec<u8>,
    pub document_sha256: String,
    pub pickup_code_hash: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub pickup: Pickup,
}

/// What a state change writes; `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = print_jobs)]
pub struct JobChanges {
    pub state: Option<JobState>,
    pub hall: Option<String>,
    pub pickup_failures: Option<i32>,
    pub pickup_locked: Option<bool>,
    pub attempts: Option<i32>,
    pub lease_token_hash: Option<Option<String>>,
    pub lease_expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
    pub printed_at: Option<Option<NaiveDateTime>>,
    pub collected_at: Option<Option<NaiveDateTime>>,
    pub kiosk_id: Option<Option<i64>>,
}

pub fn insert_job(conn: &mut DbConnection, job: &NewJob) -> StorageResult<()> {
    diesel::insert_into(print_jobs::table)
        .values(job)
        .execute(conn)?;
    Ok(())
}

pub fn find_job(conn: &mut DbConnection, id: &str) -> StorageResult<Option<JobRow>> {
    Ok(print_jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}

/// Read a job inside a write transaction and keep it: `FOR UPDATE` on PostgreSQL, so two
/// concurrent changes (two wrong pickup codes, a cancel and a reroute) are serialised;
/// SQLite's `BEGIN IMMEDIATE` already holds the only write lock.
pub fn lock_job(conn: &mut DbConnection, id: &str) -> StorageResult<Option<JobRow>> {
    // Two queries: the selection is typed per backend.
    Ok(match conn {
        DbConnection::Pg(c) => print_jobs::table
            .find(id)
            .select(JobRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConnection::Sqlite(c) => print_jobs::table
            .find(id)
            .select(JobRow::as_select())
            .first(c)
            .optional()?,
    })
}

pub fn get_document(conn: &mut DbConnection, id: &str) -> StorageResult<Vec<u8>> {
    print_jobs::table
        .find(id)
        .select(print_jobs::document)
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no print job with id {id}")))
}

/// A job with its licence and its document, in one query: what an agent's download needs
/// (the document comes along even when the caller then refuses; refusals are rare).
pub fn find_job_to_print(
    conn: &mut DbConnection,
    id: &str,
) -> StorageResult<Option<(JobRow, LicenceRow, Vec<u8>)>> {
    Ok(print_jobs::table
        .inner_join(licences::table)
        .filter(print_jobs::id.eq(id))
        .select((
            JobRow::as_select(),
            LicenceRow::as_select(),
            print_jobs::document,
        ))
        .first(conn)
        .optional()?)
}

/// The licence's jobs in the given states, oldest first.
pub fn list_for_licence(
    conn: &mut DbConnection,
    licence_id: &str,
    states: &[JobState],
) -> StorageResult<Vec<JobRow>> {
    Ok(print_jobs::table
        .filter(print_jobs::licence_id.eq(licence_id))
        .filter(print_jobs::state.eq_any(states))
        .order(print_jobs::created_at.asc())
        .select(JobRow::as_select())
        .load(conn)?)
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// The target hall.
    pub hall: Option<String>,
    pub state: Option<JobState>,
    /// Only jobs this hall prints or issued (non-admin staff).
    pub involving_hall: Option<String>,
    pub limit: i64,
}

/// Newest first.
pub fn list_jobs(conn: &mut DbConnection, filter: &JobFilter) -> StorageResult<Vec<JobRow>> {
    let mut q = print_jobs::table
        .select(JobRow::as_select())
        .order((print_jobs::created_at.desc(), print_jobs::id.asc()))
        .limit(filter.limit)
        .into_boxed();
    if let Some(h) = &filter.hall {
        q = q.filter(print_jobs::hall.eq(h.clone()));
    }
    if let Some(s) = &filter.state {
        q = q.filter(print_jobs::state.eq(*s));
    }
    if let Some(h) = &filter.involving_hall {
        q = q.filter(
            print_jobs::hall
                .eq(h.clone())
                .or(print_jobs::issuing_hall.eq(h.clone())),
        );
    }
    Ok(q.load(conn)?)
}

/// Apply `changes` only if the job is still in `expected` (no lost update between read and
/// write).
pub fn update_job(
    conn: &mut DbConnection,
    id: &str,
    expected: JobState,
    changes: &JobChanges,
) -> StorageResult<()> {
    let n = diesel::update(
        print_jobs::table
            .find(id)
            .filter(print_jobs::state.eq(expected)),
    )
    .set(changes)
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StorageError::Conflict(format!(
            "the print job {id} changed state meanwhile"
        )))
    }
}

/// [`update_job`] on a job the caller holds locked (its row read in this transaction `FOR
/// UPDATE`, or under SQLite's writer lock): the row as written, without reading it again.
pub fn update_locked_job(
    conn: &mut DbConnection,
    job: &JobRow,
    changes: &JobChanges,
) -> StorageResult<JobRow> {
    update_job(conn, &job.id, job.state, changes)?;
    Ok(job.with(changes))
}

impl JobRow {
    /// This row with `changes` applied, as `update_job` writes them.
    pub fn with(&self, c: &JobChanges) -> JobRow {
        let mut row = self.clone();
        macro_rules! apply {
            ($($field:ident),*) => {$(
                if let Some(v) = &c.$field {
                    row.$field = v.clone();
                }
            )*};
        }
        apply!(
            state,
            hall,
            pickup_failures,
            pickup_locked,
            attempts,
            lease_token_hash,
            lease_expires_at,
            printed_at,
            collected_at,
            kiosk_id
        );
        if let Some(at) = c.updated_at {
            row.updated_at = at;
        }
        row
    }
}

/// The hall's oldest queued jobs, locked for a claim. PostgreSQL: `FOR UPDATE SKIP LOCKED`,
/// so concurrent claimers (in any number of processes) each take different jobs and never
/// wait for one another; SQLite: the caller's `BEGIN IMMEDIATE` already excludes writers.
pub fn lock_claimable(
    conn: &mut DbConnection,
    hall: &str,
    limit: i64,
) -> StorageResult<Vec<JobRow>> {
    // A macro, not a closure: the selection is typed per backend.
    macro_rules! queued {
        () => {
            print_jobs::table
                .filter(print_jobs::hall.eq(hall))
                .filter(print_jobs::state.eq(JobState::Queued))
                .order((print_jobs::created_at.asc(), print_jobs::id.asc()))
                .limit(limit)
                .select(JobRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => queued!().for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => queued!().load(c)?,
    })
}

/// Whether the hall has a queued job, without locking or a transaction: one indexed
/// look, so an idle agent's claim costs the database one statement.
pub fn has_claimable(conn: &mut DbConnection, hall: &str) -> StorageResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        print_jobs::table
            .select(print_jobs::id)
            .filter(print_jobs::hall.eq(hall))
            .filter(print_jobs::state.eq(JobState::Queued)),
    ))
    .get_result(conn)?)
}

/// Whether any leased job's lease ran out before `now` (the sweeper's read before it locks).
pub fn has_expired_leases(conn: &mut DbConnection, now: NaiveDateTime) -> StorageResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        print_jobs::table
            .select(print_jobs::id)
            .filter(print_jobs::state.eq(JobState::Leased))
            .filter(print_jobs::lease_expires_at.lt(now)),
    ))
    .get_result(conn)?)
}

/// Leased jobs whose lease ran out before `now`, oldest expiry first, locked like
/// `lock_claimable` (a job being reported right now is skipped, not waited for).
pub fn lock_expired_leases(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> StorageResult<Vec<JobRow>> {
    macro_rules! expired {
        () => {
            print_jobs::table
                .filter(print_jobs::state.eq(JobState::Leased))
                .filter(print_jobs::lease_expires_at.lt(now))
                .order(print_jobs::lease_expires_at.asc())
                .limit(limit)
                .select(JobRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => expired!().for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => expired!().load(c)?,
    })
}

/// The hall's held (self-service) jobs, locked for a release (`FOR UPDATE` on PostgreSQL;
/// SQLite's writer lock otherwise), each with its holder's code: a kiosk finds the one its
/// holder's codes match. A hall holds a few dozen at most.
pub fn lock_held(
    conn: &mut DbConnection,
    hall: &str,
    limit: i64,
) -> StorageResult<Vec<(JobRow, String)>> {
    macro_rules! held {
        () => {
            print_jobs::table
                .filter(print_jobs::hall.eq(hall))
                .filter(print_jobs::state.eq(JobState::Held))
                .order((print_jobs::created_at.asc(), print_jobs::id.asc()))
                .limit(limit)
                .select(JobRow::as_select())
        };
    }
    let jobs: Vec<JobRow> = match conn {
        DbConnection::Pg(c) => held!().for_update().load(c)?,
        DbConnection::Sqlite(c) => held!().load(c)?,
    };
    let ids: Vec<&str> = jobs.iter().map(|j| j.licence_id.as_str()).collect();
    let holders: std::collections::HashMap<String, String> = licences::table
        .filter(licences::id.eq_any(ids))
        .select((licences::id, licences::holder_code))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(jobs
        .into_iter()
        .filter_map(|j| {
            let holder = holders.get(&j.licence_id)?.clone();
            Some((j, holder))
        })
        .collect())
}

/// The hall's jobs in the given states, oldest first (reconciliation).
pub fn list_for_hall(
    conn: &mut DbConnection,
    hall: &str,
    states: &[JobState],
    limit: i64,
) -> StorageResult<Vec<JobRow>> {
    Ok(print_jobs::table
        .filter(print_jobs::hall.eq(hall))
        .filter(print_jobs::state.eq_any(states))
        .order((print_jobs::created_at.asc(), print_jobs::id.asc()))
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)?)
}

/// The jobs with these ids (any hall; the caller filters).
pub fn find_jobs(conn: &mut DbConnection, ids: &[String]) -> StorageResult<Vec<JobRow>> {
    Ok(print_jobs::table
        .filter(print_jobs::id.eq_any(ids))
        .select(JobRow::as_select())
        .load(conn)?)
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// One lease sweeper at a time across processes: a transaction-scoped advisory lock on
/// PostgreSQL, taken without waiting (false: another process is sweeping). SQLite has one
/// writer, so the caller's `BEGIN IMMEDIATE` is the lock.
pub fn try_sweep_lock(conn: &mut DbConnection, key: i64) -> StorageResult<bool> {
    match conn {
        DbConnection::Pg(c) => {
            let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .get_result(c)?;
            Ok(row.locked)
        }
        DbConnection::Sqlite(_) => Ok(true),
    }
}

/// What the dashboard needs of a job: where, its state and its times (no document, no
/// secrets).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = print_jobs)]
pub struct JobTimes {
    pub hall: String,
    pub issuing_hall: String,
    pub state: JobState,
    pub created_at: NaiveDateTime,
    pub printed_at: Option<NaiveDateTime>,
    pub collected_at: Option<NaiveDateTime>,
}

/// Every job's times, or those a hall prints or issued.
pub fn list_job_times(
    conn: &mut DbConnection,
    involving_hall: Option<&str>,
) -> StorageResult<Vec<JobTimes>> {
    let mut q = print_jobs::table.select(JobTimes::as_select()).into_boxed();
    if let Some(h) = involving_hall {
        q = q.filter(
            print_jobs::hall
                .eq(h.to_string())
                .or(print_jobs::issuing_hall.eq(h.to_string())),
        );
    }
    Ok(q.load(conn)?)
}
