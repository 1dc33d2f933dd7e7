//! Waking long-polling hall agents when a job arrives for their hall, without a database query
//! per waiter: an in-process `Notify` per hall, fed by this process's own commits and, on
//! PostgreSQL, by `NOTIFY crosscert_jobs, '<hall>'` from every other server process (a
//! listener thread with one dedicated connection). Waiters hold no connection and no thread.
//!
//! Every change that makes a job claimable calls [`notify_in_tx`] inside its transaction. That
//! sends the PostgreSQL `NOTIFY` (delivered on commit) and notes the hall for this process
//! (`storage::after_commit`): `AppState::db` wakes the noted halls once its closure has
//! returned, after the commit, on both backends. So no code path has to remember an in-process wake-up of its own.
//!
//! Idle halls cost no query per look: a look that found the hall's queue empty is remembered
//! (per hall, with the hall's wake-up generation). Until a wake-up of that hall arrives, or
//! [`EMPTY_MEMO_TTL`] passes, a claim answers "nothing" from memory.

use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const CHANNEL: &str = "crosscert_jobs";
pub use crate::storage::agent_tokens::AUTH_CHANNEL;

/// How long a look that found a hall's queue empty stands in for the next looks. Every writer
/// inside a server process wakes the hall (see the module comment), and a listener that
/// reconnects wakes every hall; this bound is for what no process hears of (a command-line
/// tool writing to a served SQLite file, a rolled-back claimer is not one: rows it held were
/// still queued, so its look was not "empty").
pub const EMPTY_MEMO_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct HallWake {
    notify: Arc<Notify>,
    /// Bumped by every wake-up of the hall.
    generation: u64,
    /// The generation and time of the last look that found the queue empty.
    empty: Option<(u64, Instant)>,
}

#[derive(Debug, Default)]
pub struct JobWakeups {
    halls: Mutex<HashMap<String, HallWake>>,
}

/// Before a claim looks: the generation to record an empty look under, and whether an earlier
/// empty look still answers for this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeLook {
    pub generation: u64,
    pub known_empty: bool,
}

impl JobWakeups {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HallWake>> {
        self.halls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hall's wake-up handle. Create the `notified()` future and `enable()` it *before*
    /// looking for jobs, so a job queued between the look and the wait is not missed.
    pub fn for_hall(&self, hall: &str) -> Arc<Notify> {
        self.lock()
            .entry(hall.to_string())
            .or_default()
            .notify
            .clone()
    }

    /// Before a look (and after the waiter's `notified()` is enabled, so a wake-up after this
    /// call reaches it): see [`BeforeLook`]. `now` is passed in so tests can age the memo.
    pub fn before_look(&self, hall: &str, now: Instant) -> BeforeLook {
        let mut halls = self.lock();
        let h = halls.entry(hall.to_string()).or_default();
        let known_empty = matches!(h.empty, Some((g, at))
            if g == h.generation && now.saturating_duration_since(at) < EMPTY_MEMO_TTL);
        BeforeLook {
            generation: h.generation,
            known_empty,
        }
    }

    /// A look begun at `generation` found no queued job of the hall: remember it, unless the
    /// hall was woken meanwhile (that job may have come after the look).
    pub fn found_empty(&self, hall: &str, generation: u64, now: Instant) {
        let mut halls = self.lock();
        let h = halls.entry(hall.to_string()).or_default();
        if h.generation == generation {
            h.empty = Some((generation, now));
        }
    }

    /// Wake every waiter of the hall and forget its empty look (call after the commit that
    /// made a job claimable).
    pub fn wake(&self, hall: &str) {
        let notify = {
            let mut halls = self.lock();
            halls.get_mut(hall).map(|h| {
                h.generation = h.generation.wrapping_add(1);
                h.empty = None;
                h.notify.clone()
            })
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// Wake every waiter of every hall: after the listener (re)connects, since notifications
    /// sent while it was away are lost.
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let mut halls = self.lock();
            halls
                .values_mut()
                .map(|h| {
                    h.generation = h.generation.wrapping_add(1);
                    h.empty = None;
                    h.notify.clone()
                })
                .collect()
        };
        for n in all {
            n.notify_waiters();
        }
    }
}

/// A job of `hall` becomes claimable in the current transaction: queue the cross-process
/// wake-up (PostgreSQL delivers it on commit, and not at all on rollback; SQLite has one
/// process) and note the hall for this process's own wake-up after the commit (a rolled-back
/// change leaves a spurious wake-up, which costs one look).
pub fn notify_in_tx(
    conn: &mut crate::storage::DbConnection,
    hall: &str,
) -> Result<(), diesel::result::Error> {
    crate::storage::after_commit::note_hall(hall);
    if let crate::storage::DbConnection::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(hall)
            .execute(c)?;
    }
    Ok(())
}

pub use crate::storage::agent_tokens::notify_auth_in_tx;

/// Start the PostgreSQL listener thread. It reconnects after errors; reading notifications
/// (`PQconsumeInput`) sends no query, so idle halls cost the database nothing.
/// The thread ends once the server's `JobWakeups` is dropped.
pub fn spawn_pg_listener(
    url: String,
    wakeups: &Arc<JobWakeups>,
    agent_auth: &Arc<super::agent_auth::AgentAuthCache>,
) {
    let weak = Arc::downgrade(wakeups);
    let auth = Arc::downgrade(agent_auth);
    let spawned = std::thread::Builder::new()
        .name("job-listener".into())
        .spawn(move || loop {
            if weak.strong_count() == 0 {
                return;
            }
            match PgConnection::establish(&url) {
                Ok(mut conn) => {
                    let listened = diesel::sql_query(format!("LISTEN {CHANNEL}"))
                        .execute(&mut conn)
                        .and_then(|_| {
                            diesel::sql_query(format!("LISTEN {AUTH_CHANNEL}")).execute(&mut conn)
                        });
                    if let Err(e) = listened {
                        tracing::warn!(error = %e, "job listener: LISTEN failed");
                    } else {
                        if let Some(w) = weak.upgrade() {
                            w.wake_all();
                        }
                        // Revocations sent while away were lost too.
                        if let Some(a) = auth.upgrade() {
                            a.invalidate();
                        }
                        'listen: loop {
                            for n in conn.notifications_iter() {
                                match n {
                                    Ok(n) if n.channel == AUTH_CHANNEL => {
                                        if let Some(a) = auth.upgrade() {
                                            a.invalidate();
                                        }
                                    }
                                    Ok(n) => match weak.upgrade() {
                                        Some(w) => w.wake(&n.payload),
                                        None => return,
                                    },
                                    Err(e) => {
                                        tracing::warn!(error = %e, "job listener: connection lost");
                                        break 'listen;
                                    }
                                }
                            }
                            if weak.strong_count() == 0 {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "job listener: cannot connect"),
            }
            std::thread::sleep(Duration::from_secs(2));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the job listener thread; agents fall back to slow polling");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_look_answers_until_the_hall_is_woken_or_the_memo_ages() {
        let w = JobWakeups::default();
        let t0 = Instant::now();
        let first = w.before_look("H", t0);
        assert!(!first.known_empty, "nothing known before the first look");
        w.found_empty("H", first.generation, t0);
        assert!(w.before_look("H", t0 + Duration::from_secs(1)).known_empty);
        assert!(
            !w.before_look("OTHER", t0).known_empty,
            "memos are per hall"
        );
        // A wake-up of the hall forgets it.
        w.wake("H");
        assert!(!w.before_look("H", t0 + Duration::from_secs(2)).known_empty);
        // So does age.
        let again = w.before_look("H", t0);
        w.found_empty("H", again.generation, t0);
        assert!(
            w.before_look("H", t0 + EMPTY_MEMO_TTL - Duration::from_secs(1))
                .known_empty
        );
        assert!(!w.before_look("H", t0 + EMPTY_MEMO_TTL).known_empty);
        // And a listener's reconnect.
        let third = w.before_look("H", t0);
        w.found_empty("H", third.generation, t0);
        w.wake_all();
        assert!(!w.before_look("H", t0).known_empty);
    }

    #[test]
    fn a_look_overtaken_by_a_wake_up_is_not_remembered_as_empty() {
        let w = JobWakeups::default();
        let t0 = Instant::now();
        let look = w.before_look("H", t0);
        // A job was queued (and the hall woken) while the look was running.
        w.wake("H");
        w.found_empty("H", look.generation, t0);
        assert!(!w.before_look("H", t0).known_empty);
    }
}
