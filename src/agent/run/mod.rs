//! The agent's loop: recover what the journal holds, then long-poll for jobs and take each
//! one through claimed -> downloaded -> printing -> printed -> reported -> confirmed.
//!
//! Failure policy: the network and the server may fail at any point (connection refused, a
//! restart, 5xx, a slow answer); every call is retried with exponential backoff and full jitter
//! and nothing here panics or exits on it. A job in hand is finished before a stop signal is
//! honoured (a half-done job would strand its lease); a report the server has not confirmed
//! stays in the journal and is resent, byte for byte, until it is.

use rand::Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use super::api::{AgentClient, ApiCallError, ClientOptions, ClientSetupError, ReconcileEntry};
use super::document_qr;
use super::journal::{JobRecord, Journal, JournalError, Recovery, Step};
use super::print::{print, spool_name};
use super::trust::{self, SealRefusal, TrustUpdateError};
use crate::domain::seal::SealClaims;
use crate::verification::signed_list::{StatusIndex, StatusList};
use crate::verification::{decode_qr_text, TrustList, TrustStore};

mod checks;
mod jobs;
mod kiosk;
mod recovery;
mod signals;
#[cfg(test)]
mod tests;

use checks::*;
use signals::*;

/// Test hook: when set, the agent journals `printed` and then hangs without reporting, so a
/// test can SIGKILL it in exactly that window. Never set in production.
pub const TEST_HALT_AFTER_PRINT_ENV: &str = "CROSSCERT_AGENT_TEST_HALT_AFTER_PRINT";

/// Test hook (the fault-injection suite): hang right after one journal step, `claimed`,
/// `downloaded`, `printed` or `reported` (the server accepted the report, the journal does not
/// know yet), logging "test hook: halting", so the suite can SIGKILL the agent in exactly that
/// window. Never set in production.
pub const TEST_HALT_AT_ENV: &str = "CROSSCERT_AGENT_TEST_HALT_AT";

const TRUST_REFRESH: Duration = Duration::from_secs(3600);
const TRUST_RECHECK: Duration = Duration::from_secs(60);
const RECONCILE_EVERY: Duration = Duration::from_secs(300);
const EMPTY_TRAY_POLL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub client: ClientOptions,
    pub state_dir: PathBuf,
    pub spool_dir: PathBuf,
    pub print_command: Option<String>,
    /// Long-poll seconds per claim (≤ 30).
    pub wait_s: u64,
    /// Kiosk mode: serve the touch screen here and print only jobs holders release at it.
    pub kiosk_listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Setup(#[from] ClientSetupError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Trust(#[from] TrustUpdateError),
    #[error("cannot create {0}: {1}")]
    CreateDir(PathBuf, std::io::Error),
    #[error("another agent is running on the state folder {0} ({1})")]
    Locked(PathBuf, String),
    #[error("cannot listen for stop signals: {0}")]
    Signals(std::io::Error),
    #[error("cannot serve the kiosk screen on {0}: {1}")]
    KioskListen(String, std::io::Error),
}

/// Exponential backoff with full jitter: 0.5 s doubling up to 30 s, each wait drawn from
/// [d/2, d] so a hall's agents (and all halls after a server restart) do not retry in step.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub const BASE: Duration = Duration::from_millis(500);
    pub const CAP: Duration = Duration::from_secs(30);

    pub fn ceiling(&self) -> Duration {
        let exp = self.failures.min(16);
        Self::BASE.saturating_mul(1u32 << exp).min(Self::CAP)
    }

    /// The wait before the next try; counts this failure.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ms = d.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

struct Agent {
    cfg: AgentConfig,
    client: AgentClient,
    journal: Journal,
    stop: Stop,
    trust: Option<(TrustList, TrustStore)>,
    trust_fetched_at: Option<Instant>,
    /// Status lists in hand, with their ETags (each job asks again: usually a 304).
    status_lists: HashMap<i64, (StatusList, Option<String>)>,
    /// The index of licences sealed before status lists, and when it was fetched.
    status_index: Option<(StatusIndex, Instant)>,
    /// Per job: when its owed report may be retried, and its backoff.
    report_retry: HashMap<String, (Instant, Backoff)>,
    last_reconcile: Option<Instant>,
    /// The step after which the test hook hangs ([`TEST_HALT_AT_ENV`]).
    halt_at: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// How long to wait between heartbeats: a third of the lease left, between 1 s and 60 s.
pub fn heartbeat_interval(lease_expires_at: &str, now: chrono::DateTime<chrono::Utc>) -> Duration {
    match chrono::DateTime::parse_from_rfc3339(lease_expires_at) {
        Ok(t) => {
            let left = (t.with_timezone(&chrono::Utc) - now)
                .num_milliseconds()
                .max(0) as u64;
            Duration::from_millis(left / 3).clamp(Duration::from_secs(1), Duration::from_secs(60))
        }
        Err(_) => Duration::from_secs(10),
    }
}

/// Whether a refused report means the server already has it (a replay answered 409 with a
/// code that says so). A stale lease or any other 409 does not.
fn already_applied(e: &ApiCallError) -> bool {
    match e {
        ApiCallError::Refused {
            status: 409, code, ..
        } => code.contains("already") || code.contains("duplicate"),
        _ => false,
    }
}

/// Keeps a job's lease alive while it is downloaded, printed and first reported.
struct Heartbeat {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    fn start(client: AgentClient, job: &JobRecord) -> Heartbeat {
        let lost = Arc::new(AtomicBool::new(false));
        let l = lost.clone();
        let id = job.id.clone();
        let token = job.lease_token.clone();
        let mut expires = job.lease_expires_at.clone();
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                tokio::time::sleep(heartbeat_interval(&expires, chrono::Utc::now())).await;
                match client.heartbeat(&id, &token).await {
                    Ok(answer) => {
                        backoff.reset();
                        expires = answer.lease_expires_at;
                        tracing::debug!(job = %id, lease_until = %expires, "heartbeat");
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(job = %id, error = %e, "heartbeat failed; retrying");
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e, "lease lost");
                        l.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        Heartbeat { lost, task }
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
    /// The test hook: hang here (until killed) when the suite asked for this step.
    async fn halt_if(&self, job: &str, step: &str) {
        if self.halt_at.as_deref() == Some(step) {
            tracing::warn!(job = %job, step, "test hook: halting");
            std::future::pending::<()>().await;
        }
    }
}

/// Run the agent until a stop signal.
pub async fn run(cfg: AgentConfig) -> Result<(), AgentError> {
    std::fs::create_dir_all(&cfg.state_dir)
        .map_err(|e| AgentError::CreateDir(cfg.state_dir.clone(), e))?;
    std::fs::create_dir_all(&cfg.spool_dir)
        .map_err(|e| AgentError::CreateDir(cfg.spool_dir.clone(), e))?;
    std::fs::create_dir_all(cfg.state_dir.join("documents"))
        .map_err(|e| AgentError::CreateDir(cfg.state_dir.join("documents"), e))?;
    let _lock = lock_state_dir(&cfg.state_dir)?;
    let journal = Journal::open(&cfg.state_dir)?;
    let client = AgentClient::new(&cfg.client)?;
    let stop = listen_for_signals()?;
    let trust = trust::load_cached(&cfg.state_dir)?;
    let halt_at = match std::env::var(TEST_HALT_AT_ENV) {
        Ok(step) => Some(step),
        Err(_) => std::env::var_os(TEST_HALT_AFTER_PRINT_ENV).map(|_| "printed".to_string()),
    };
    let mut agent = Agent {
        cfg,
        client,
        journal,
        stop,
        trust,
        trust_fetched_at: None,
        status_lists: HashMap::new(),
        status_index: None,
        report_retry: HashMap::new(),
        last_reconcile: None,
        halt_at,
    };
    tracing::info!(
        server = %agent.cfg.client.server,
        state = %agent.cfg.state_dir.display(),
        spool = %agent.cfg.spool_dir.display(),
        "agent starting"
    );
    agent.recover().await?;
    match agent.cfg.kiosk_listen.clone() {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| AgentError::KioskListen(addr.clone(), e))?;
            match agent.client.whoami().await {
                Ok(w) if w.kind == crate::domain::job::AgentKind::Kiosk => {}
                Ok(w) => {
                    tracing::error!(hall = %w.hall, "the token is not a kiosk token: releases will be refused (issue one with `crosscert admin agent-token --kiosk`)")
                }
                Err(e) => tracing::warn!(error = %e, "cannot check the token's kind"),
            }
            let screen = std::sync::Arc::new(crate::agent::kiosk::KioskScreen::default());
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tracing::info!(listen = %addr, "kiosk screen ready");
            tokio::spawn(crate::agent::kiosk::serve(listener, screen.clone(), tx));
            agent.kiosk_loop(rx, screen).await?;
        }
        None => agent.main_loop().await?,
    }
    tracing::info!("agent stopped");
    Ok(())
}
