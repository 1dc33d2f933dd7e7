//! One agent per state folder (an OS-held lock), and the stop signal a job in hand finishes
//! before honouring.

use super::*;

/// Holds an exclusive SQLite lock on `agent.lock` for the life of the process: two agents on
/// one state folder would each think the other's `printing` job had crashed. The OS drops the
/// lock when the process dies, however it dies.
pub(super) struct InstanceLock {
    _conn: diesel::SqliteConnection,
}

pub(super) fn lock_state_dir(state_dir: &Path) -> Result<InstanceLock, AgentError> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let path = state_dir.join("agent.lock");
    let locked = |e: String| AgentError::Locked(state_dir.to_path_buf(), e);
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| locked(e.to_string()))?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; \
         CREATE TABLE IF NOT EXISTS holder (pid INTEGER); BEGIN EXCLUSIVE; \
         DELETE FROM holder;",
    )
    .map_err(|e| locked(e.to_string()))?;
    conn.batch_execute(&format!(
        "INSERT INTO holder VALUES ({});",
        std::process::id()
    ))
    .map_err(|e| locked(e.to_string()))?;
    Ok(InstanceLock { _conn: conn })
}

/// What a stop signal sets; the loop checks it between steps.
#[derive(Clone)]
pub(super) struct Stop {
    flag: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

impl Stop {
    pub(super) fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleep, waking early on a stop request.
    pub(super) async fn sleep(&self, d: Duration) {
        let mut rx = self.rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = rx.wait_for(|v| *v) => {}
        }
    }
}

pub(super) fn listen_for_signals() -> Result<Stop, AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;
    let flag = Arc::new(AtomicBool::new(false));
    let (tx, rx) = watch::channel(false);
    let f = flag.clone();
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            count += 1;
            if count == 1 {
                tracing::info!(
                    "stop requested: finishing the current step (again to stop at once)"
                );
                f.store(true, Ordering::SeqCst);
                let _ = tx.send(true);
            } else {
                // The journal is written before every step, so even this is recoverable.
                tracing::warn!("second stop signal: exiting now");
                std::process::exit(130);
            }
        }
    });
    Ok(Stop { flag, rx })
}
