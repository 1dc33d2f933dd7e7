//! `agent_tokens`: hall agent bearer tokens, stored as SHA-256 hashes; revocable.

use super::schema::{agent_tokens, halls};
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use crate::domain::job::AgentKind;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

/// Agent credentials changed (a token revoked, a hall deactivated): on PostgreSQL every
/// server process listens here and drops its agent authentication cache at once.
pub const AUTH_CHANNEL: &str = "crosscert_agent_auth";

/// Queue a cross-process "agent credentials changed" inside the current transaction (sent
/// on commit; nothing to do on SQLite, whose one process invalidates its cache itself).
pub fn notify_auth_in_tx(conn: &mut DbConnection) -> Result<(), diesel::result::Error> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<diesel::sql_types::Text, _>(AUTH_CHANNEL)
            .execute(c)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agent_tokens)]
pub struct AgentTokenRow {
    pub id: i64,
    pub hall_code: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub kind: AgentKind,
}

/// What a live token stands for: its hall, its id and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken {
    pub hall: String,
    pub id: i64,
    pub kind: AgentKind,
}

pub fn insert_agent_token(
    conn: &mut DbConnection,
    hall_code: &str,
    kind: AgentKind,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StorageResult<i64> {
    diesel::insert_into(agent_tokens::table)
        .values((
            agent_tokens::hall_code.eq(hall_code),
            agent_tokens::kind.eq(kind),
            agent_tokens::token_hash.eq(token_hash),
            agent_tokens::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(agent_tokens::table
        .filter(agent_tokens::token_hash.eq(token_hash))
        .select(agent_tokens::id)
        .first(conn)?)
}

/// The hall of a live token: not revoked, and its hall active (a deactivated hall's tokens
/// stop working with it).
pub fn find_token_hall(
    conn: &mut DbConnection,
    token_hash: &str,
) -> StorageResult<Option<LiveToken>> {
    Ok(agent_tokens::table
        .inner_join(halls::table)
        .filter(agent_tokens::token_hash.eq(token_hash))
        .filter(agent_tokens::revoked_at.is_null())
        .filter(halls::active.eq(true))
        .select((
            agent_tokens::hall_code,
            agent_tokens::id,
            agent_tokens::kind,
        ))
        .first::<(String, i64, AgentKind)>(conn)
        .optional()?
        .map(|(hall, id, kind)| LiveToken { hall, id, kind }))
}

/// A hall "has kiosks" while it has at least one kiosk token that is not revoked (and the
/// hall is active): self-service jobs may then be queued to it.
pub fn hall_has_kiosk(conn: &mut DbConnection, hall: &str) -> StorageResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        agent_tokens::table
            .inner_join(halls::table)
            .filter(agent_tokens::hall_code.eq(hall))
            .filter(agent_tokens::kind.eq(AgentKind::Kiosk))
            .filter(agent_tokens::revoked_at.is_null())
            .filter(halls::active.eq(true))
            .select(agent_tokens::id),
    ))
    .get_result(conn)?)
}

pub fn list_agent_tokens(
    conn: &mut DbConnection,
    hall: Option<&str>,
) -> StorageResult<Vec<AgentTokenRow>> {
    let mut q = agent_tokens::table
        .select(AgentTokenRow::as_select())
        .order(agent_tokens::id.asc())
        .into_boxed();
    if let Some(h) = hall {
        q = q.filter(agent_tokens::hall_code.eq(h.to_string()));
    }
    Ok(q.load(conn)?)
}

pub fn get_agent_token(conn: &mut DbConnection, id: i64) -> StorageResult<AgentTokenRow> {
    agent_tokens::table
        .find(id)
        .select(AgentTokenRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no agent token with id {id}")))
}

/// Revoke; returns false when it was already revoked.
pub fn revoke_agent_token(
    conn: &mut DbConnection,
    id: i64,
    now: DateTime<Utc>,
) -> StorageResult<bool> {
    let n = diesel::update(
        agent_tokens::table
            .find(id)
            .filter(agent_tokens::revoked_at.is_null()),
    )
    .set(agent_tokens::revoked_at.eq(Some(to_db_time(now))))
    .execute(conn)?;
    Ok(n == 1)
}

/// Every live token by its hash: the agent authentication cache reloads this in one
/// query (a few hundred rows at most: a hall has one or a few agents).
pub fn list_live_tokens(conn: &mut DbConnection) -> StorageResult<Vec<(String, LiveToken)>> {
    Ok(agent_tokens::table
        .inner_join(halls::table)
        .filter(agent_tokens::revoked_at.is_null())
        .filter(halls::active.eq(true))
        .select((
            agent_tokens::token_hash,
            agent_tokens::hall_code,
            agent_tokens::id,
            agent_tokens::kind,
        ))
        .load::<(String, String, i64, AgentKind)>(conn)?
        .into_iter()
        .map(|(hash, hall, id, kind)| (hash, LiveToken { hall, id, kind }))
        .collect())
}
