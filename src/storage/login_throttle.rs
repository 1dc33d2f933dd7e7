//! `login_throttle`: failed-login counters, one row per key (a (username, client address)
//! pair, a client address, or an account). Counting is one upsert, atomic on both backends,
//! so guesses sent in parallel are all counted.

use super::schema::login_throttle;
use super::{to_db_time, DbConnection, StorageResult};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};

/// A counter after one more attempt was added to it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Counted {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub failures: i32,
    #[diesel(sql_type = Timestamp)]
    pub window_start: NaiveDateTime,
    /// The attempt before this one, if any.
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub prev_at: Option<NaiveDateTime>,
}

/// Add one attempt to `key`'s counter; a counter whose window began before `window_cutoff`
/// starts again at one.
pub fn count_attempt(
    conn: &mut DbConnection,
    key: &str,
    username: Option<&str>,
    now: DateTime<Utc>,
    window_cutoff: DateTime<Utc>,
) -> StorageResult<Counted> {
    Ok(diesel::sql_query(
        "INSERT INTO login_throttle (key, username, failures, window_start, last_at, prev_at) \
         VALUES ($1, $2, 1, $3, $3, NULL) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_start <= $4 THEN 1 \
                      ELSE login_throttle.failures + 1 END, \
           window_start = CASE WHEN login_throttle.window_start <= $4 THEN $3 \
                          ELSE login_throttle.window_start END, \
           prev_at = login_throttle.last_at, \
           last_at = $3 \
         RETURNING failures, window_start, prev_at",
    )
    .bind::<Text, _>(key)
    .bind::<Nullable<Text>, _>(username)
    .bind::<Timestamp, _>(to_db_time(now))
    .bind::<Timestamp, _>(to_db_time(window_cutoff))
    .get_result(conn)?)
}

/// Give back an attempt that turned out not to be a failure.
pub fn release_attempt(conn: &mut DbConnection, key: &str) -> StorageResult<()> {
    diesel::update(
        login_throttle::table
            .filter(login_throttle::key.eq(key))
            .filter(login_throttle::failures.gt(0)),
    )
    .set(login_throttle::failures.eq(login_throttle::failures - 1))
    .execute(conn)?;
    Ok(())
}

pub fn delete_key(conn: &mut DbConnection, key: &str) -> StorageResult<()> {
    diesel::delete(login_throttle::table.filter(login_throttle::key.eq(key))).execute(conn)?;
    Ok(())
}

/// Every counter of one account (all its pairs and its account-wide brake).
pub fn delete_for_username(conn: &mut DbConnection, username: &str) -> StorageResult<usize> {
    Ok(
        diesel::delete(login_throttle::table.filter(login_throttle::username.eq(username)))
            .execute(conn)?,
    )
}

/// Counters whose window ended: nothing to remember.
pub fn delete_stale(conn: &mut DbConnection, window_cutoff: DateTime<Utc>) -> StorageResult<usize> {
    Ok(diesel::delete(
        login_throttle::table.filter(login_throttle::window_start.le(to_db_time(window_cutoff))),
    )
    .execute(conn)?)
}

/// Per username: the latest window start of a counter at or over `limit` that is still
/// running (the caller adds the window length).
pub fn blocked_windows(
    conn: &mut DbConnection,
    limit: i32,
    window_cutoff: DateTime<Utc>,
) -> StorageResult<Vec<(String, NaiveDateTime)>> {
    let rows: Vec<(Option<String>, NaiveDateTime)> = login_throttle::table
        .filter(login_throttle::key.like("pair %"))
        .filter(login_throttle::failures.ge(limit))
        .filter(login_throttle::window_start.gt(to_db_time(window_cutoff)))
        .select((login_throttle::username, login_throttle::window_start))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(u, w)| u.map(|u| (u, w)))
        .collect())
}
