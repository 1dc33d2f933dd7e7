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

/// Holds an exclusive SQLite lock on `agent.lock` for the life of the process: two agents on
/// one state folder would each think the other's `printing` job had crashed. The OS drops the
/// lock when the process dies, however it dies.
struct InstanceLock {
    _conn: diesel::SqliteConnection,
}

fn lock_state_dir(state_dir: &Path) -> Result<InstanceLock, AgentError> {
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
struct Stop {
    flag: Arc<AtomicBool>,
    rx: watch::Receiver<bool>,
}

impl Stop {
    fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleep, waking early on a stop request.
    async fn sleep(&self, d: Duration) {
        let mut rx = self.rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = rx.wait_for(|v| *v) => {}
        }
    }
}

fn listen_for_signals() -> Result<Stop, AgentError> {
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
    agent.main_loop().await?;
    tracing::info!("agent stopped");
    Ok(())
}

impl Agent {
    /// Fetch the trust list; keeps the cached one when the server is unreachable or offers
    /// another root. Returns whether a usable list is in hand.
    async fn refresh_trust(&mut self) -> bool {
        match self
            .client
            .signed_document("/api/v1/trust-list.cose", None)
            .await
        {
            Ok(Some((bytes, _))) => {
                let cached = self.trust.as_ref().map(|(l, _)| l);
                match trust::accept_signed(&self.cfg.state_dir, cached, &bytes, chrono::Utc::now())
                {
                    Ok(t) => {
                        self.trust = Some(t);
                        self.trust_fetched_at = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "trust list update refused");
                        // Do not ask again for an hour.
                        self.trust_fetched_at = Some(Instant::now());
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot fetch the trust list"),
        }
        self.trust.is_some()
    }

    /// The status list slot of a licence sealed before status lists, from the signed index
    /// (fetched again at most once a minute when the licence is not in the copy in hand).
    async fn legacy_slot(
        &mut self,
        root: &[u8],
        identifier: &str,
    ) -> Result<(String, u64), SealRefusal> {
        let find = |i: &StatusIndex| {
            i.find(identifier)
                .map(|e| (format!("{}{}", i.base_uri, e.list), e.idx))
        };
        if let Some(found) = self.status_index.as_ref().and_then(|(i, _)| find(i)) {
            return Ok(found);
        }
        if self
            .status_index
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= TRUST_RECHECK)
        {
            match self
                .client
                .signed_document("/api/v1/status-index.cose", None)
                .await
            {
                Ok(Some((bytes, _))) => match StatusIndex::verify(&bytes, root) {
                    Ok(index) => self.status_index = Some((index, Instant::now())),
                    Err(e) => tracing::error!(error = %e, "status index refused"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot fetch the status index"),
            }
        }
        self.status_index
            .as_ref()
            .and_then(|(i, _)| find(i))
            .ok_or_else(|| SealRefusal::StatusUnknown("the licence is in no status list".into()))
    }

    /// Asks the current status list about a licence whose seal verified: anything but valid
    /// (or a list that cannot be had or checked) refuses the job. A licence issued a moment
    /// ago may not be published yet (servers refresh every few seconds): an unknown status is
    /// asked again twice, a second apart, before the job is refused.
    async fn check_status(&mut self, claims: &SealClaims) -> Result<(), SealRefusal> {
        let mut attempt = 0;
        loop {
            match self.check_status_once(claims).await {
                Err(SealRefusal::StatusUnknown(why)) if attempt < 2 => {
                    tracing::info!(reason = %why, "status not published yet; asking again");
                    attempt += 1;
                    self.status_index = None;
                    self.stop.sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
    }

    async fn check_status_once(&mut self, claims: &SealClaims) -> Result<(), SealRefusal> {
        let root = self
            .trust
            .as_ref()
            .and_then(|(l, _)| trust::pinned_root_der(l))
            .ok_or_else(|| SealRefusal::StatusUnknown("no pinned root".into()))?;
        let (uri, idx) = match &claims.status {
            Some(s) => (s.uri.clone(), s.idx),
            None => self.legacy_slot(&root, &claims.identifier).await?,
        };
        let id: i64 = uri
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SealRefusal::StatusUnknown(format!("{uri} is not a status list")))?;
        let etag = self.status_lists.get(&id).and_then(|(_, e)| e.clone());
        match self
            .client
            .signed_document(&format!("/api/v1/status-lists/{id}"), etag.as_deref())
            .await
        {
            Ok(Some((bytes, etag))) => {
                let list = StatusList::verify(&bytes, &root).map_err(|e| {
                    SealRefusal::StatusUnknown(format!("the status list {uri} is refused: {e}"))
                })?;
                let older = self
                    .status_lists
                    .get(&id)
                    .is_some_and(|(held, _)| list.claims.iat < held.claims.iat);
                if older {
                    tracing::error!(
                        list = id,
                        "status list rolled back: keeping the newer one in hand"
                    );
                } else {
                    self.status_lists.insert(id, (list, etag));
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the status list; using the one in hand")
            }
        }
        let (list, _) = self
            .status_lists
            .get(&id)
            .ok_or_else(|| SealRefusal::StatusUnknown(format!("no status list {uri} in hand")))?;
        trust::judge_status(list, &uri, idx, chrono::Utc::now())
    }

    /// Journal-driven restart: unknown outcomes are reported as such, owed reports resent,
    /// jobs not yet printing resumed; then tell the server what this agent holds.
    async fn recover(&mut self) -> Result<(), AgentError> {
        let jobs = self.journal.unfinished()?;
        if jobs.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = jobs.len(),
            "journal holds unfinished jobs; recovering"
        );
        for job in &jobs {
            if job.step.recovery() == Recovery::ReportOutcomeUnknown {
                self.journal.mark_failed(
                    &job.id,
                    true,
                    "the agent stopped while printing; whether the sheets were printed is unknown",
                )?;
                tracing::warn!(job = %job.id, step = "failed", "outcome unknown after restart: not printing again; operator must reconcile");
            }
        }
        self.reconcile().await?;
        Ok(())
    }

    /// `POST /api/v1/agent/reconcile` with every unfinished job and its journal step. Jobs the
    /// server has settled elsewhere (cancelled, resolved by an operator) are closed here.
    async fn reconcile(&mut self) -> Result<(), AgentError> {
        let jobs = self.journal.unfinished()?;
        if jobs.is_empty() {
            return Ok(());
        }
        let entries: Vec<ReconcileEntry> = jobs
            .iter()
            .map(|j| ReconcileEntry {
                id: j.id.clone(),
                state: j.step.as_str().to_string(),
            })
            .collect();
        self.last_reconcile = Some(Instant::now());
        match self.client.reconcile(&entries).await {
            Ok(answer) => {
                tracing::info!(answer = ?answer, "reconciled with the server");
                for item in &answer.jobs {
                    let Some(job) = jobs.iter().find(|j| j.id == item.id) else {
                        continue;
                    };
                    // No server state: unknown there or another hall's; nothing to settle.
                    if let Some(server_state) = item.server_state {
                        self.apply_server_state(job, server_state.as_str())?;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reconcile failed; will retry"),
        }
        Ok(())
    }

    fn apply_server_state(
        &mut self,
        job: &JobRecord,
        server_state: &str,
    ) -> Result<(), AgentError> {
        match (job.step, server_state) {
            // Not printed here and no longer ours on the server: let it go.
            (Step::Claimed | Step::Downloaded, s) if s != "leased" => {
                self.journal
                    .mark_abandoned(&job.id, &format!("the server has it {s}"))?;
                tracing::info!(job = %job.id, step = "abandoned", server_state = s, "job settled on the server before printing");
            }
            // An operator settled a refused report.
            (Step::Rejected, "printed" | "collected" | "cancelled" | "queued" | "failed") => {
                self.journal
                    .mark_confirmed(&job.id, &format!("settled on the server: {server_state}"))?;
                tracing::info!(job = %job.id, step = "confirmed", server_state, "settled by the hall operator");
            }
            _ => {}
        }
        Ok(())
    }

    async fn main_loop(&mut self) -> Result<(), AgentError> {
        let mut claim_backoff = Backoff::default();
        let mut tray_warned = false;
        loop {
            self.flush_reports().await?;
            if self.stop.requested() {
                let owed = self
                    .journal
                    .unfinished()?
                    .iter()
                    .filter(|j| j.step.owes_report())
                    .count();
                if owed > 0 {
                    tracing::warn!(owed, "stopping with unconfirmed reports; they are journaled and resent at the next start");
                }
                return Ok(());
            }
            let due_trust = self
                .trust_fetched_at
                .is_none_or(|t| t.elapsed() >= TRUST_REFRESH);
            if due_trust && !self.refresh_trust().await {
                // Without a trust list no seal can be checked, so nothing may be printed.
                self.stop.sleep(claim_backoff.next_delay()).await;
                continue;
            }
            let unfinished = self.journal.unfinished()?;
            if unfinished.iter().any(|j| j.step == Step::Rejected)
                && self
                    .last_reconcile
                    .is_none_or(|t| t.elapsed() >= RECONCILE_EVERY)
            {
                self.reconcile().await?;
            }
            // Resume a job left between claim and printing by a restart.
            if let Some(job) = unfinished
                .into_iter()
                .find(|j| matches!(j.step, Step::Claimed | Step::Downloaded))
            {
                self.process(job).await?;
                continue;
            }
            if self.journal.blank_count()? == 0 {
                if !tray_warned {
                    tracing::warn!(
                        "the tray is empty: load stock with `crosscert agent stock load`"
                    );
                    tray_warned = true;
                }
                self.stop.sleep(EMPTY_TRAY_POLL).await;
                continue;
            }
            tray_warned = false;
            match self.client.claim(1, self.cfg.wait_s).await {
                Ok(jobs) => {
                    claim_backoff.reset();
                    for job in jobs {
                        match self.journal.record_claim(&job) {
                            Ok(()) => {
                                tracing::info!(job = %job.id, step = "claimed", type_code = %job.type_code, pages = job.copies.len(), lease_until = %job.lease_expires_at, "job claimed");
                            }
                            Err(e @ JournalError::AlreadyInHand(..)) => {
                                tracing::error!(job = %job.id, error = %e, "server handed out a job this agent already holds; not processing it again");
                                continue;
                            }
                            Err(e) => return Err(e.into()),
                        }
                        self.halt_if(&job.id, "claimed").await;
                        if let Some(rec) = self.journal.job(&job.id)? {
                            self.process(rec).await?;
                        }
                    }
                }
                Err(e) => {
                    let d = claim_backoff.next_delay();
                    if e.is_transient() {
                        tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "claim failed");
                    } else {
                        tracing::error!(error = %e, retry_in_ms = d.as_millis() as u64, "claim refused");
                    }
                    self.stop.sleep(d).await;
                }
            }
        }
    }

    /// Take one job from claimed (or downloaded) to a journaled report, then try to send it.
    async fn process(&mut self, job: JobRecord) -> Result<(), AgentError> {
        let heartbeat = Heartbeat::start(self.client.clone(), &job);
        let id = job.id.clone();
        // 1. The seal, before anything is fetched or printed: it verifies, and it is the seal
        // of the licence the job is for.
        let claims = match self.check_seal(&job.qr_text).await {
            Ok(claims) => claims,
            Err(refusal) => return self.refuse(&id, &refusal.to_string(), heartbeat).await,
        };
        if claims.identifier != job.licence_identifier {
            let reason = format!(
                "the seal is for licence {:?}, the job for licence {:?}",
                claims.identifier, job.licence_identifier
            );
            return self.refuse(&id, &reason, heartbeat).await;
        }
        // 2. The document.
        let doc_path = self.cfg.state_dir.join("documents").join(spool_name(&id));
        let pdf = match self.fetch_document(&job, &doc_path, &heartbeat).await? {
            Fetched::Ok(pdf) => pdf,
            Fetched::Refused(reason) => return self.refuse(&id, &reason, heartbeat).await,
            Fetched::Stopped => {
                tracing::info!(job = %id, step = %job.step, "stopping before printing; the job is resumed at the next start");
                return Ok(());
            }
            Fetched::LeaseLost(reason) => {
                self.journal.mark_abandoned(&id, &reason)?;
                tracing::warn!(job = %id, step = "abandoned", reason = %reason, "lease lost before printing; nothing printed");
                return Ok(());
            }
        };
        // 2b. What will reach the paper: the QR code read back out of the document itself must
        // be the seal just verified, on every page.
        if let Err(reason) = document_carries_seal(&pdf, &job) {
            let _ = std::fs::remove_file(&doc_path);
            return self.refuse(&id, &reason, heartbeat).await;
        }
        if job.step == Step::Claimed {
            self.journal.mark_downloaded(&id)?;
            tracing::info!(job = %id, step = "downloaded", bytes = pdf.len(), "document checked");
            self.halt_if(&id, "downloaded").await;
        }
        if heartbeat.lost() {
            self.journal
                .mark_abandoned(&id, "lease lost before printing")?;
            tracing::warn!(job = %id, step = "abandoned", "lease lost before printing; nothing printed");
            return Ok(());
        }
        // 3. Reserve sheets and journal `printing` before the printer moves.
        let serials = match self.journal.begin_printing(&id) {
            Ok(s) => s,
            Err(e @ JournalError::OutOfStock { .. }) => {
                return self.refuse(&id, &e.to_string(), heartbeat).await;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(job = %id, step = "printing", sheets = %serials.join(" "), "printing");
        let printed = print(
            &self.cfg.spool_dir,
            &id,
            &pdf,
            self.cfg.print_command.as_deref(),
        )
        .await;
        match printed {
            Ok(path) => {
                let report = self.journal.mark_printed(&id)?;
                tracing::info!(job = %id, step = "printed", file = %path.display(), sheets = %report.sheets.join(" "), seq = report.seq, "printed");
                self.halt_if(&id, "printed").await;
            }
            Err(e) => {
                let report = self.journal.mark_failed(&id, false, &e.to_string())?;
                tracing::warn!(job = %id, step = "failed", error = %e, seq = report.seq, "print failed; nothing printed");
            }
        }
        let _ = std::fs::remove_file(&doc_path);
        self.send_report(&id).await?;
        drop(heartbeat);
        Ok(())
    }

    /// Nothing printed: journal a `failed` report with `printed_nothing` and send it.
    async fn refuse(
        &mut self,
        id: &str,
        reason: &str,
        heartbeat: Heartbeat,
    ) -> Result<(), AgentError> {
        let report = self.journal.mark_failed(id, false, reason)?;
        tracing::warn!(job = %id, step = "failed", reason = %reason, seq = report.seq, "not printing");
        self.send_report(id).await?;
        drop(heartbeat);
        Ok(())
    }

    async fn check_seal(&mut self, qr_text: &str) -> Result<SealClaims, SealRefusal> {
        let first = match &self.trust {
            Some((_, store)) => trust::check_seal(store, qr_text),
            None => Err(SealRefusal::Envelope("no trust list".into())),
        };
        let claims = match first {
            Ok(claims) => claims,
            // A signer added since the last fetch: look once more before refusing (at most
            // once a minute, so a run of forged jobs cannot hammer the server).
            Err(SealRefusal::Envelope(_))
                if self
                    .trust_fetched_at
                    .is_none_or(|t| t.elapsed() >= TRUST_RECHECK) =>
            {
                self.refresh_trust().await;
                match &self.trust {
                    Some((_, store)) => trust::check_seal(store, qr_text)?,
                    None => return Err(SealRefusal::Envelope("no trust list".into())),
                }
            }
            Err(e) => return Err(e),
        };
        self.check_status(&claims).await?;
        Ok(claims)
    }

    async fn fetch_document(
        &mut self,
        job: &JobRecord,
        doc_path: &Path,
        heartbeat: &Heartbeat,
    ) -> Result<Fetched, AgentError> {
        // A document kept from before a restart is used when it still matches.
        if job.step == Step::Downloaded {
            if let Ok(bytes) = std::fs::read(doc_path) {
                if sha256_hex(&bytes) == job.document_sha256 {
                    return Ok(Fetched::Ok(bytes));
                }
            }
        }
        let mut backoff = Backoff::default();
        let mut mismatches = 0;
        loop {
            if heartbeat.lost() {
                return Ok(Fetched::LeaseLost("lease lost while downloading".into()));
            }
            match self.client.document(&job.id, &job.lease_token).await {
                Ok(bytes) => {
                    let got = sha256_hex(&bytes);
                    if got == job.document_sha256 {
                        let tmp = doc_path.with_extension("part");
                        if let Err(e) = std::fs::write(&tmp, &bytes)
                            .and_then(|_| std::fs::rename(&tmp, doc_path))
                        {
                            // Only a convenience for restarts; the bytes are in hand.
                            tracing::warn!(job = %job.id, error = %e, "cannot keep the document");
                        }
                        return Ok(Fetched::Ok(bytes));
                    }
                    mismatches += 1;
                    tracing::warn!(job = %job.id, expected = %job.document_sha256, got = %got, "document hash mismatch");
                    if mismatches >= 2 {
                        return Ok(Fetched::Refused(format!(
                            "document SHA-256 {got} does not match the claimed {}",
                            job.document_sha256
                        )));
                    }
                }
                Err(e) if e.is_transient() => {
                    self.journal.note_error(&job.id, &e.to_string())?;
                    if self.stop.requested() {
                        // Nothing printed; the journal keeps the job for the next start.
                        return Ok(Fetched::Stopped);
                    }
                    let d = backoff.next_delay();
                    tracing::warn!(job = %job.id, error = %e, retry_in_ms = d.as_millis() as u64, "document download failed");
                    self.stop.sleep(d).await;
                }
                Err(e @ ApiCallError::TooLarge { .. }) => {
                    return Ok(Fetched::Refused(e.to_string()));
                }
                Err(e) => {
                    // 409 stale lease, 404 gone, 422 licence no longer valid: the server took the
                    // job back before anything was printed.
                    return Ok(Fetched::LeaseLost(format!("document refused: {e}")));
                }
            }
        }
    }

    /// Try every owed report whose retry time has come.
    async fn flush_reports(&mut self) -> Result<(), AgentError> {
        let owed: Vec<JobRecord> = self
            .journal
            .unfinished()?
            .into_iter()
            .filter(|j| j.step.owes_report())
            .collect();
        let now = Instant::now();
        for job in owed {
            let due = self
                .report_retry
                .get(&job.id)
                .is_none_or(|(at, _)| *at <= now);
            if due {
                self.send_report(&job.id).await?;
            }
        }
        Ok(())
    }

    /// Send a journaled report once; on a transient failure schedule the next try.
    async fn send_report(&mut self, id: &str) -> Result<(), AgentError> {
        let Some(job) = self.journal.job(id)? else {
            return Ok(());
        };
        let Some(body) = job.report_body.clone().filter(|_| job.step.owes_report()) else {
            return Ok(());
        };
        self.journal.mark_report_sent(id)?;
        match self.client.report(id, &body).await {
            Ok(()) => {
                self.halt_if(id, "reported").await;
                self.journal.mark_confirmed(id, "report accepted")?;
                self.report_retry.remove(id);
                tracing::info!(job = %id, step = "confirmed", seq = job.report_seq.unwrap_or_default(), outcome = job.outcome.as_deref().unwrap_or("-"), "report confirmed");
            }
            Err(e) if already_applied(&e) => {
                self.journal
                    .mark_confirmed(id, &format!("already applied: {e}"))?;
                self.report_retry.remove(id);
                tracing::info!(job = %id, step = "confirmed", "report was already applied");
            }
            Err(e) if e.is_transient() || matches!(e, ApiCallError::Protocol(_)) => {
                self.journal.note_error(id, &e.to_string())?;
                let entry = self
                    .report_retry
                    .entry(id.to_string())
                    .or_insert_with(|| (Instant::now(), Backoff::default()));
                let d = entry.1.next_delay();
                entry.0 = Instant::now() + d;
                tracing::warn!(job = %id, step = "reported", error = %e, retry_in_ms = d.as_millis() as u64, "report not confirmed; will resend");
            }
            Err(e) => {
                self.journal.mark_rejected(id, &e.to_string())?;
                self.report_retry.remove(id);
                tracing::error!(job = %id, step = "rejected", error = %e, "report refused; a hall operator must resolve the job");
            }
        }
        Ok(())
    }
}

/// The document's QR codes, read from the PDF: one per page, each the claimed (and verified)
/// seal. The reason for a refusal otherwise.
fn document_carries_seal(pdf: &[u8], job: &JobRecord) -> Result<(), String> {
    let texts = document_qr::qr_texts(pdf).map_err(|e| format!("document QR check: {e}"))?;
    if texts.len() != job.copies.len() {
        return Err(format!(
            "document QR check: {} page(s) for {} copies",
            texts.len(),
            job.copies.len()
        ));
    }
    // The seal itself is compared (the COSE bytes), not the address in front of it.
    let verified = decode_qr_text(&job.qr_text).ok();
    if let Some((page, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| verified.is_none() || decode_qr_text(t).ok() != verified)
    {
        return Err(format!(
            "document QR check: the QR code on page {} ({text}) is not the verified seal",
            page + 1
        ));
    }
    Ok(())
}

enum Fetched {
    Ok(Vec<u8>),
    /// A stop was requested while the server was unreachable.
    Stopped,
    Refused(String),
    LeaseLost(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_inside_the_ceiling() {
        let mut b = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d <= c && d >= c / 2, "{d:?} outside [{:?}, {c:?}]", c / 2);
            ceilings.push(c.as_millis());
        }
        assert_eq!(&ceilings[..4], &[500, 1000, 2000, 4000]);
        assert_eq!(*ceilings.last().unwrap(), 30_000);
        b.reset();
        assert_eq!(b.ceiling(), Backoff::BASE);
    }

    #[test]
    fn heartbeats_come_at_a_third_of_the_lease_within_bounds() {
        let now = chrono::Utc::now();
        let at = |s: i64| (now + chrono::Duration::seconds(s)).to_rfc3339();
        assert_eq!(heartbeat_interval(&at(90), now), Duration::from_secs(30));
        assert_eq!(heartbeat_interval(&at(600), now), Duration::from_secs(60));
        assert_eq!(heartbeat_interval(&at(-5), now), Duration::from_secs(1));
        assert_eq!(heartbeat_interval("garbage", now), Duration::from_secs(10));
    }

    #[test]
    fn only_a_409_that_says_already_counts_as_confirmed() {
        let refused = |status, code: &str| ApiCallError::Refused {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(already_applied(&refused(409, "already_reported")));
        assert!(!already_applied(&refused(409, "stale_lease")));
        assert!(!already_applied(&refused(400, "already_reported")));
        assert!(!already_applied(&ApiCallError::Transient("x".into())));
    }

    #[test]
    fn reconcile_answers_are_read_as_the_server_writes_them() {
        use crate::domain::job::JobState;
        use crate::wire::agent::{ReconcileAction, ReconcileResponse};
        let a: ReconcileResponse = serde_json::from_value(serde_json::json!({"jobs": [
            {"id": "a", "agent_state": "printing", "server_state": "cancelled", "action": "ask_operator"},
            {"id": "b", "agent_state": null, "server_state": null, "action": "forget"}
        ]}))
        .unwrap();
        assert_eq!(a.jobs[0].server_state, Some(JobState::Cancelled));
        assert_eq!(a.jobs[0].action, ReconcileAction::AskOperator);
        assert_eq!(a.jobs[1].server_state, None);
        assert!(serde_json::from_value::<ReconcileResponse>(serde_json::json!("x")).is_err());
    }

    #[test]
    fn a_second_agent_on_the_same_state_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_state_dir(dir.path()).unwrap();
        assert!(matches!(
            lock_state_dir(dir.path()),
            Err(AgentError::Locked(..))
        ));
        drop(first);
        lock_state_dir(dir.path()).unwrap();
    }
}
