//! `notifications`: the outbox of text messages to holders (issue 24). A message is written
//! in the transaction of the change it tells about; a delivery task in any server process
//! claims due messages, sends them, and records the outcome. Claims are safe with several
//! processes over one PostgreSQL database: `FOR UPDATE SKIP LOCKED` plus a lease
//! (`lease_until`), and the attempt counter taken at the claim fences a late finisher whose
//! lease ran out (its outcome is dropped). On SQLite the caller's `BEGIN IMMEDIATE` is the lock.

use super::schema::notifications;
use super::{DbConnection, StorageResult};
use crate::domain::tracking::{DeliveryState, NotificationKind};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: String,
    pub job_id: String,
    pub kind: NotificationKind,
    pub mobile: String,
    pub body: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Insert unless the job already has a message of this kind (false then): one "ready" and
/// one reminder per job, however many processes try.
pub fn insert_once(conn: &mut DbConnection, row: &NotificationRow) -> StorageResult<bool> {
    let n = match conn {
        DbConnection::Pg(c) => diesel::insert_into(notifications::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => diesel::insert_into(notifications::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// A job's messages, oldest first.
pub fn list_for_job(conn: &mut DbConnection, job_id: &str) -> StorageResult<Vec<NotificationRow>> {
    Ok(notifications::table
        .filter(notifications::job_id.eq(job_id))
        .order(notifications::created_at.asc())
        .select(NotificationRow::as_select())
        .load(conn)?)
}

/// Claim up to `limit` due messages (pending, due by `now`, not leased by a live claim):
/// each gets `lease_until` and its attempt counted. Call inside a write transaction.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> StorageResult<Vec<NotificationRow>> {
    macro_rules! due {
        () => {
            notifications::table
                .filter(notifications::state.eq(DeliveryState::Pending))
                .filter(notifications::next_attempt_at.le(now))
                .filter(
                    notifications::lease_until
                        .is_null()
                        .or(notifications::lease_until.lt(now)),
                )
                .order(notifications::next_attempt_at.asc())
                .limit(limit)
                .select(NotificationRow::as_select())
        };
    }
    let rows = match conn {
        DbConnection::Pg(c) => due!().for_update().skip_locked().load(c)?,
        DbConnection::Sqlite(c) => due!().load(c)?,
    };
    let mut claimed = Vec::with_capacity(rows.len());
    for mut row in rows {
        row.attempts += 1;
        row.lease_until = Some(lease_until);
        diesel::update(notifications::table.find(&row.id))
            .set((
                notifications::attempts.eq(row.attempts),
                notifications::lease_until.eq(row.lease_until),
            ))
            .execute(conn)?;
        claimed.push(row);
    }
    Ok(claimed)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub state: DeliveryState,
    pub last_error: Option<String>,
    pub next_attempt_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// Record the outcome of the claim that counted attempt `attempts`; false (nothing written)
/// when the message was claimed again meanwhile or is no longer pending.
pub fn finish_attempt(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    outcome: &AttemptOutcome,
) -> StorageResult<bool> {
    let n = diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::attempts.eq(attempts))
            .filter(notifications::state.eq(DeliveryState::Pending)),
    )
    .set((
        notifications::state.eq(outcome.state),
        notifications::last_error.eq(&outcome.last_error),
        notifications::next_attempt_at.eq(outcome.next_attempt_at),
        notifications::sent_at.eq(outcome.sent_at),
        notifications::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
