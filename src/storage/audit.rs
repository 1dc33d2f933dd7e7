//! `audit_events`: append-only (the migrations refuse UPDATE and DELETE).

use super::schema::audit_events;
use super::{to_db_time, DbConnection, StorageResult};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditEvent<'a> {
    at: NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    details: String,
}

/// Record an event. Call it inside the transaction that makes the change it describes.
pub fn insert_event(
    conn: &mut DbConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> StorageResult<()> {
    let event = Event {
        action,
        subject: subject.to_string(),
        details,
    };
    insert_events(conn, at, actor, &[event])
}

/// An event for [`insert_events`].
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub action: &'a str,
    pub subject: String,
    pub details: serde_json::Value,
}

/// Record several events of one change by one actor (on PostgreSQL in one insert). Call it
/// inside the transaction that makes the change.
pub fn insert_events(
    conn: &mut DbConnection,
    at: DateTime<Utc>,
    actor: &str,
    events: &[Event<'_>],
) -> StorageResult<()> {
    let at = to_db_time(at);
    let rows: Vec<NewAuditEvent> = events
        .iter()
        .map(|e| NewAuditEvent {
            at,
            actor,
            action: e.action,
            subject: &e.subject,
            details: e.details.to_string(),
        })
        .collect();
    match conn {
        // One multi-row insert (not available through the multi-connection).
        DbConnection::Pg(c) => {
            diesel::insert_into(audit_events::table)
                .values(&rows)
                .execute(c)?;
        }
        // Diesel writes a batch as one insert per row inside a savepoint on SQLite; the rows
        // alone are cheaper (in-process calls, no round trips to save).
        DbConnection::Sqlite(c) => {
            for row in &rows {
                diesel::insert_into(audit_events::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

pub fn list_events_for(conn: &mut DbConnection, subject: &str) -> StorageResult<Vec<AuditEvent>> {
    Ok(audit_events::table
        .filter(audit_events::subject.eq(subject))
        .order(audit_events::id.asc())
        .select(AuditEvent::as_select())
        .load(conn)?)
}

pub fn count_events(conn: &mut DbConnection, action: &str) -> StorageResult<i64> {
    Ok(audit_events::table
        .filter(audit_events::action.eq(action))
        .count()
        .get_result(conn)?)
}
