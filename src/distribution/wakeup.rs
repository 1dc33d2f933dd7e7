//! Waking long-polling hall agents when a job arrives for their hall, without a database query
//! per waiter: an in-process `Notify` per hall, fed by this process's own commits and, on
//! PostgreSQL, by `NOTIFY crosscert_jobs, '<hall>'` from every other server process (a
//! listener thread with one dedicated connection). Waiters hold no connection and no thread.

use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub const CHANNEL: &str = "crosscert_jobs";
pub use crate::storage::agent_tokens::AUTH_CHANNEL;

#[derive(Debug, Default)]
pub struct JobWakeups {
    halls: Mutex<HashMap<String, Arc<Notify>>>,
}

impl JobWakeups {
    /// The hall's wake-up handle. Create the `notified()` future and `enable()` it *before*
    /// looking for jobs, so a job queued between the look and the wait is not missed.
    pub fn for_hall(&self, hall: &str) -> Arc<Notify> {
        let mut halls = self.halls.lock().unwrap_or_else(|p| p.into_inner());
        halls.entry(hall.to_string()).or_default().clone()
    }

    /// Wake every waiter of the hall (call after the commit that made a job claimable).
    pub fn wake(&self, hall: &str) {
        let notify = {
            let halls = self.halls.lock().unwrap_or_else(|p| p.into_inner());
            halls.get(hall).cloned()
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }
}

impl JobWakeups {
    /// Wake every waiter of every hall: after the listener (re)connects, since notifications
    /// sent while it was away are lost.
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let halls = self.halls.lock().unwrap_or_else(|p| p.into_inner());
            halls.values().cloned().collect()
        };
        for n in all {
            n.notify_waiters();
        }
    }
}

/// Queue a cross-process wake-up inside the current transaction (PostgreSQL delivers it on
/// commit, and not at all on rollback). A no-op on SQLite, where one process owns the file.
pub fn notify_in_tx(
    conn: &mut crate::storage::DbConnection,
    hall: &str,
) -> Result<(), diesel::result::Error> {
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
