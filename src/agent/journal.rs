//! The agent's local journal: a small SQLite file in the state folder (diesel, its own
//! embedded migrations in `migrations/agent/`, WAL with `synchronous=FULL`). Each step of a job
//! is written here BEFORE it acts (claimed -> downloaded -> printing -> printed -> reported ->
//! confirmed), in one transaction with the tray change and an event line, so after a crash or
//! a power cut the agent knows what may already be on paper and which reports are still owed.
//!
//! Restart rule (DESIGN §6, no automatic reprint): a job journaled as `printing` has an
//! unknown outcome. It is never printed again; it is reported `failed` WITHOUT
//! `printed_nothing`, which moves it to `needs_reconciliation` on the server, and its sheets
//! are kept out of the tray as `in_doubt` until a hall operator resolves the job.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::fmt;
use std::path::{Path, PathBuf};

use super::api::{ClaimedJob, Outcome, Report};
use super::schema::{counters, events, jobs, sheets};
use super::serial::{Serial, SerialError};

pub const AGENT_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/agent");

pub const JOURNAL_FILE: &str = "journal.db";

/// Where a job stands in this agent's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Leased; nothing downloaded yet.
    Claimed,
    /// Document stored, its hash and its seal checked.
    Downloaded,
    /// Sheets reserved and the print command started: from here on paper may exist.
    Printing,
    /// The print command succeeded; the `printed` report is journaled, not yet sent.
    Printed,
    /// A `failed` report is journaled, not yet sent (nothing printed, or outcome unknown).
    Failed,
    /// The report was sent at least once; not yet confirmed.
    Reported,
    /// The server confirmed the report. Done.
    Confirmed,
    /// The lease was lost before anything was printed; nothing to report. Done.
    Abandoned,
    /// The server refused the report (e.g. a stale lease): a hall operator resolves it.
    Rejected,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Claimed,
        Step::Downloaded,
        Step::Printing,
        Step::Printed,
        Step::Failed,
        Step::Reported,
        Step::Confirmed,
        Step::Abandoned,
        Step::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Claimed => "claimed",
            Step::Downloaded => "downloaded",
            Step::Printing => "printing",
            Step::Printed => "printed",
            Step::Failed => "failed",
            Step::Reported => "reported",
            Step::Confirmed => "confirmed",
            Step::Abandoned => "abandoned",
            Step::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a report is owed to the server.
    pub fn owes_report(self) -> bool {
        matches!(self, Step::Printed | Step::Failed | Step::Reported)
    }

    pub fn is_done(self) -> bool {
        matches!(self, Step::Confirmed | Step::Abandoned)
    }

    /// What a restarted agent does with a job it finds in this step.
    pub fn recovery(self) -> Recovery {
        match self {
            Step::Claimed | Step::Downloaded => Recovery::Resume,
            Step::Printing => Recovery::ReportOutcomeUnknown,
            Step::Printed | Step::Failed | Step::Reported => Recovery::SendReport,
            Step::Rejected => Recovery::AwaitOperator,
            Step::Confirmed | Step::Abandoned => Recovery::Nothing,
        }
    }

    /// The one table of allowed steps.
    pub fn after(self, event: StepEvent) -> Result<Step, StepError> {
        use Step as S;
        use StepEvent as E;
        let to = match (self, event) {
            (S::Claimed, E::Downloaded) => S::Downloaded,
            (S::Downloaded, E::StartPrinting) => S::Printing,
            (S::Printing, E::PrintSucceeded) => S::Printed,
            (S::Claimed | S::Downloaded | S::Printing, E::NothingPrinted) => S::Failed,
            (S::Printing, E::OutcomeUnknown) => S::Failed,
            (S::Claimed | S::Downloaded, E::LeaseLost) => S::Abandoned,
            (S::Printed | S::Failed | S::Reported, E::ReportSent) => S::Reported,
            (S::Printed | S::Failed | S::Reported, E::ReportConfirmed) => S::Confirmed,
            (S::Printed | S::Failed | S::Reported, E::ReportRefused) => S::Rejected,
            (S::Rejected, E::ReportConfirmed) => S::Confirmed,
            _ => return Err(StepError { from: self, event }),
        };
        Ok(to)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepEvent {
    Downloaded,
    StartPrinting,
    PrintSucceeded,
    /// Refused before printing (hash, seal, stock) or the print command failed.
    NothingPrinted,
    /// Found `printing` after a restart: paper may or may not exist.
    OutcomeUnknown,
    LeaseLost,
    ReportSent,
    ReportConfirmed,
    ReportRefused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing is on paper yet: check the lease and carry on.
    Resume,
    /// Never print again; report `failed` without `printed_nothing`.
    ReportOutcomeUnknown,
    /// Resend the journaled report until the server confirms it.
    SendReport,
    /// The server refused the report; listed by `status` and sent to reconcile.
    AwaitOperator,
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a job in step {from} cannot take {event:?}")]
pub struct StepError {
    pub from: Step,
    pub event: StepEvent,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create {0}: {1}")]
    CreateDir(PathBuf, std::io::Error),
    #[error("cannot open the journal {0}: {1}")]
    Open(PathBuf, String),
    #[error("journal migration failed: {0}")]
    Migration(String),
    #[error("journal: {0}")]
    Query(#[from] DieselError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("job {0} is not in the journal")]
    UnknownJob(String),
    #[error("job {0} is already in hand (step {1}); not taking it twice")]
    AlreadyInHand(String, Step),
    #[error("the tray holds {left} blank sheet(s); the job needs {needed}")]
    OutOfStock { needed: usize, left: usize },
    #[error(transparent)]
    Serial(#[from] SerialError),
    #[error("sheet {0} is already in the tray")]
    AlreadyInTray(String),
    #[error("sheet {0} was printed on (job {1}); a used sheet cannot be voided here")]
    SheetUsed(String, String),
    #[error("sheet {0} is reserved for job {1}, which is printing")]
    SheetReserved(String, String),
    #[error("the journal holds a value it did not write: {0}")]
    Corrupt(String),
}

/// A job row, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub licence_id: String,
    pub type_code: String,
    pub copies: Vec<String>,
    pub qr_text: String,
    pub lease_token: String,
    pub lease_expires_at: String,
    pub document_sha256: String,
    pub step: Step,
    pub outcome: Option<String>,
    pub report_seq: Option<i64>,
    pub report_body: Option<String>,
    pub report_attempts: i32,
    pub last_error: Option<String>,
    /// The licence identifier the claim named (empty for jobs claimed by an older agent).
    pub licence_identifier: String,
}

type JobRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    i32,
    Option<String>,
    String,
);

type JobColumns = (
    jobs::id,
    jobs::licence_id,
    jobs::type_code,
    jobs::copies,
    jobs::qr_text,
    jobs::lease_token,
    jobs::lease_expires_at,
    jobs::document_sha256,
    jobs::state,
    jobs::outcome,
    jobs::report_seq,
    jobs::report_body,
    jobs::report_attempts,
    jobs::last_error,
    jobs::licence_identifier,
);

fn job_columns() -> JobColumns {
    (
        jobs::id,
        jobs::licence_id,
        jobs::type_code,
        jobs::copies,
        jobs::qr_text,
        jobs::lease_token,
        jobs::lease_expires_at,
        jobs::document_sha256,
        jobs::state,
        jobs::outcome,
        jobs::report_seq,
        jobs::report_body,
        jobs::report_attempts,
        jobs::last_error,
        jobs::licence_identifier,
    )
}

fn parse_row(r: JobRow) -> Result<JobRecord, JournalError> {
    let step = Step::parse(&r.8).ok_or_else(|| JournalError::Corrupt(format!("step {:?}", r.8)))?;
    let copies: Vec<String> = serde_json::from_str(&r.3)
        .map_err(|_| JournalError::Corrupt(format!("copies {:?}", r.3)))?;
    Ok(JobRecord {
        id: r.0,
        licence_id: r.1,
        type_code: r.2,
        copies,
        qr_text: r.4,
        lease_token: r.5,
        lease_expires_at: r.6,
        document_sha256: r.7,
        step,
        outcome: r.9,
        report_seq: r.10,
        report_body: r.11,
        report_attempts: r.12,
        last_error: r.13,
        licence_identifier: r.14,
    })
}

/// The tray and the jobs in hand, for `agent status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub blank: usize,
    pub next_serial: Option<String>,
    pub last_serial: Option<String>,
    pub reserved: Vec<String>,
    pub in_doubt: Vec<String>,
    pub used: usize,
    pub voided: usize,
    /// Every job not yet done (confirmed or abandoned), oldest first.
    pub jobs: Vec<JobRecord>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tray: {} blank sheet(s)", self.blank)?;
        if let (Some(n), Some(l)) = (&self.next_serial, &self.last_serial) {
            writeln!(f, "  next: {n}  last: {l}")?;
        }
        writeln!(f, "  used: {}  voided: {}", self.used, self.voided)?;
        if !self.reserved.is_empty() {
            writeln!(f, "  reserved (printing): {}", self.reserved.join(" "))?;
        }
        if !self.in_doubt.is_empty() {
            writeln!(
                f,
                "  in doubt (outcome unknown, awaiting the operator): {}",
                self.in_doubt.join(" ")
            )?;
        }
        let in_hand: Vec<&JobRecord> = self.jobs.iter().filter(|j| !j.step.owes_report()).collect();
        let owed: Vec<&JobRecord> = self.jobs.iter().filter(|j| j.step.owes_report()).collect();
        writeln!(f, "jobs in hand: {}", in_hand.len())?;
        for j in in_hand {
            write!(
                f,
                "  {} {} type {} copies {}",
                j.id,
                j.step,
                j.type_code,
                j.copies.join(",")
            )?;
            if let Some(e) = &j.last_error {
                write!(f, "  ({e})")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "unconfirmed reports: {}", owed.len())?;
        for j in owed {
            write!(
                f,
                "  {} {} outcome {} seq {} attempts {}",
                j.id,
                j.step,
                j.outcome.as_deref().unwrap_or("-"),
                j.report_seq.map(|s| s.to_string()).unwrap_or_default(),
                j.report_attempts
            )?;
            if let Some(e) = &j.last_error {
                write!(f, "  ({e})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

pub struct Journal {
    conn: SqliteConnection,
    path: PathBuf,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(
    conn: &mut SqliteConnection,
    job_id: Option<&str>,
    step: &str,
    detail: &str,
) -> Result<(), DieselError> {
    diesel::insert_into(events::table)
        .values((
            events::at.eq(now()),
            events::job_id.eq(job_id),
            events::step.eq(step),
            events::detail.eq(detail),
        ))
        .execute(conn)
        .map(|_| ())
}

fn load_job(conn: &mut SqliteConnection, id: &str) -> Result<JobRecord, JournalError> {
    let row: Option<JobRow> = jobs::table
        .find(id)
        .select(job_columns())
        .first(conn)
        .optional()?;
    parse_row(row.ok_or_else(|| JournalError::UnknownJob(id.to_string()))?)
}

/// Move a job to the step `event` leads to, or refuse; returns the new step.
fn advance(
    conn: &mut SqliteConnection,
    job: &JobRecord,
    ev: StepEvent,
    detail: &str,
) -> Result<Step, JournalError> {
    let to = job.step.after(ev)?;
    diesel::update(jobs::table.find(&job.id))
        .set((jobs::state.eq(to.as_str()), jobs::updated_at.eq(now())))
        .execute(conn)?;
    event(conn, Some(&job.id), to.as_str(), detail)?;
    Ok(to)
}

fn next_seq(conn: &mut SqliteConnection) -> Result<i64, DieselError> {
    let current: Option<i64> = counters::table
        .find("report_seq")
        .select(counters::value)
        .first(conn)
        .optional()?;
    let next = current.unwrap_or(0) + 1;
    diesel::replace_into(counters::table)
        .values((counters::name.eq("report_seq"), counters::value.eq(next)))
        .execute(conn)?;
    Ok(next)
}

fn sheets_of(
    conn: &mut SqliteConnection,
    job_id: &str,
    state: &str,
) -> Result<Vec<String>, DieselError> {
    sheets::table
        .filter(sheets::job_id.eq(job_id))
        .filter(sheets::state.eq(state))
        .order(sheets::page.asc())
        .select(sheets::serial)
        .load(conn)
}

impl Journal {
    /// Open (creating the folder and the file) and migrate the journal in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| JournalError::CreateDir(state_dir.to_path_buf(), e))?;
        let path = state_dir.join(JOURNAL_FILE);
        let url = path.to_string_lossy().to_string();
        let mut conn = SqliteConnection::establish(&url)
            .map_err(|e| JournalError::Open(path.clone(), e.to_string()))?;
        // FULL: a journaled step must survive a power cut, or a restart could print twice.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| JournalError::Open(path.clone(), e.to_string()))?;
        conn.run_pending_migrations(AGENT_MIGRATIONS)
            .map_err(|e| JournalError::Migration(e.to_string()))?;
        Ok(Journal { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `BEGIN IMMEDIATE`: a `status` or `stock` command may run next to the agent; each
    /// writer takes the lock up front instead of failing half-way.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        self.conn.immediate_transaction(f)
    }

    pub fn job(&mut self, id: &str) -> Result<Option<JobRecord>, JournalError> {
        match load_job(&mut self.conn, id) {
            Ok(j) => Ok(Some(j)),
            Err(JournalError::UnknownJob(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Jobs not done yet, oldest claim first.
    pub fn unfinished(&mut self) -> Result<Vec<JobRecord>, JournalError> {
        let done = [Step::Confirmed.as_str(), Step::Abandoned.as_str()];
        let rows: Vec<JobRow> = jobs::table
            .filter(jobs::state.ne_all(done))
            .order((jobs::claimed_at.asc(), jobs::id.asc()))
            .select(job_columns())
            .load(&mut self.conn)?;
        rows.into_iter().map(parse_row).collect()
    }

    /// Journal a claimed job before touching it. A job already in hand (not done) is refused:
    /// the caller must not process it a second time.
    pub fn record_claim(&mut self, job: &ClaimedJob) -> Result<(), JournalError> {
        self.write(|conn| {
            let existing = match load_job(conn, &job.id) {
                Ok(existing) => Some(existing),
                Err(JournalError::UnknownJob(_)) => None,
                Err(e) => return Err(e),
            };
            if let Some(existing) = &existing {
                let may_replace = existing.step.is_done() || existing.step == Step::Rejected;
                if !may_replace {
                    return Err(JournalError::AlreadyInHand(job.id.clone(), existing.step));
                }
            }
            let copies = serde_json::to_string(&job.copies)
                .map_err(|e| JournalError::Corrupt(e.to_string()))?;
            let at = now();
            let values = (
                jobs::licence_id.eq(&job.licence_id),
                jobs::licence_identifier.eq(&job.licence_identifier),
                jobs::type_code.eq(&job.type_code),
                jobs::copies.eq(copies),
                jobs::qr_text.eq(&job.qr_text),
                jobs::lease_token.eq(&job.lease_token),
                jobs::lease_expires_at.eq(&job.lease_expires_at),
                jobs::document_sha256.eq(job.document_sha256.to_ascii_lowercase()),
                jobs::state.eq(Step::Claimed.as_str()),
                jobs::report_attempts.eq(0),
                jobs::claimed_at.eq(&at),
                jobs::updated_at.eq(&at),
            );
            if existing.is_some() {
                // Claimed again (the server requeued it after an earlier round was settled):
                // the row is reused because used or in-doubt sheets still point at it.
                diesel::update(jobs::table.find(&job.id))
                    .set((
                        values,
                        jobs::outcome.eq(None::<String>),
                        jobs::report_seq.eq(None::<i64>),
                        jobs::report_body.eq(None::<String>),
                        jobs::last_error.eq(None::<String>),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(jobs::table)
                    .values((jobs::id.eq(&job.id), values))
                    .execute(conn)?;
            }
            event(
                conn,
                Some(&job.id),
                Step::Claimed.as_str(),
                &format!("lease until {}", job.lease_expires_at),
            )?;
            Ok(())
        })
    }

    pub fn update_lease(&mut self, id: &str, expires_at: &str) -> Result<(), JournalError> {
        diesel::update(jobs::table.find(id))
            .set(jobs::lease_expires_at.eq(expires_at))
            .execute(&mut self.conn)?;
        Ok(())
    }

    pub fn note_error(&mut self, id: &str, error: &str) -> Result<(), JournalError> {
        diesel::update(jobs::table.find(id))
            .set((jobs::last_error.eq(error), jobs::updated_at.eq(now())))
            .execute(&mut self.conn)?;
        Ok(())
    }

    pub fn mark_downloaded(&mut self, id: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(
                conn,
                &job,
                StepEvent::Downloaded,
                "document hash and seal checked",
            )?;
            Ok(())
        })
    }

    pub fn mark_abandoned(&mut self, id: &str, reason: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::LeaseLost, reason)?;
            Ok(())
        })
    }

    /// Reserve the next sheets of the tray (one per page, in tray order) and journal
    /// `printing`, in one transaction; from the moment this returns paper may exist.
    pub fn begin_printing(&mut self, id: &str) -> Result<Vec<String>, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            // Checked before reserving, so a refused step leaves the tray untouched.
            job.step.after(StepEvent::StartPrinting)?;
            let needed = job.copies.len();
            let serials: Vec<String> = sheets::table
                .filter(sheets::state.eq("blank"))
                .order(sheets::position.asc())
                .limit(needed as i64)
                .select(sheets::serial)
                .load(conn)?;
            if serials.len() < needed {
                let left: i64 = sheets::table
                    .filter(sheets::state.eq("blank"))
                    .count()
                    .get_result(conn)?;
                return Err(JournalError::OutOfStock {
                    needed,
                    left: left as usize,
                });
            }
            for (page, serial) in serials.iter().enumerate() {
                diesel::update(sheets::table.find(serial))
                    .set((
                        sheets::state.eq("reserved"),
                        sheets::job_id.eq(id),
                        sheets::page.eq(page as i32),
                    ))
                    .execute(conn)?;
            }
            advance(
                conn,
                &job,
                StepEvent::StartPrinting,
                &format!("sheets {}", serials.join(" ")),
            )?;
            Ok(serials)
        })
    }

    /// The print command succeeded: the reserved sheets are used and the `printed` report
    /// (with a fresh sequence number) is journaled, in one transaction.
    pub fn mark_printed(&mut self, id: &str) -> Result<Report, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            job.step.after(StepEvent::PrintSucceeded)?;
            let serials = sheets_of(conn, id, "reserved")?;
            diesel::update(
                sheets::table
                    .filter(sheets::job_id.eq(id))
                    .filter(sheets::state.eq("reserved")),
            )
            .set(sheets::state.eq("used"))
            .execute(conn)?;
            let report = Report {
                lease_token: job.lease_token.clone(),
                seq: next_seq(conn)?,
                outcome: Outcome::Printed,
                sheets: serials,
                printed_nothing: None,
                reason: None,
            };
            store_report(conn, id, &report, "printed")?;
            advance(
                conn,
                &job,
                StepEvent::PrintSucceeded,
                &format!("sheets {}", report.sheets.join(" ")),
            )?;
            Ok(report)
        })
    }

    /// Journal a `failed` report. `outcome_unknown` is the restart case (the job was found
    /// `printing`): its sheets go `in_doubt` and `printed_nothing` is left out, so the server
    /// asks an operator. Otherwise nothing was printed and reserved sheets return to the tray.
    pub fn mark_failed(
        &mut self,
        id: &str,
        outcome_unknown: bool,
        reason: &str,
    ) -> Result<Report, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            let ev = if outcome_unknown {
                StepEvent::OutcomeUnknown
            } else {
                StepEvent::NothingPrinted
            };
            job.step.after(ev)?;
            let reserved = sheets_of(conn, id, "reserved")?;
            let target = sheets::table
                .filter(sheets::job_id.eq(id))
                .filter(sheets::state.eq("reserved"));
            let reason = if outcome_unknown {
                diesel::update(target)
                    .set((
                        sheets::state.eq("in_doubt"),
                        sheets::note.eq(format!("job {id}: outcome unknown")),
                    ))
                    .execute(conn)?;
                format!(
                    "{reason}; sheets possibly printed: {}",
                    if reserved.is_empty() {
                        "none recorded".to_string()
                    } else {
                        reserved.join(" ")
                    }
                )
            } else {
                diesel::update(target)
                    .set((
                        sheets::state.eq("blank"),
                        sheets::job_id.eq(None::<String>),
                        sheets::page.eq(None::<i32>),
                    ))
                    .execute(conn)?;
                reason.to_string()
            };
            let report = Report {
                lease_token: job.lease_token.clone(),
                seq: next_seq(conn)?,
                outcome: Outcome::Failed,
                sheets: Vec::new(),
                printed_nothing: if outcome_unknown { None } else { Some(true) },
                reason: Some(reason.clone()),
            };
            store_report(
                conn,
                id,
                &report,
                if outcome_unknown {
                    "unknown"
                } else {
                    "not_printed"
                },
            )?;
            advance(conn, &job, ev, &reason)?;
            Ok(report)
        })
    }

    /// Journal that the report is about to be sent (again).
    pub fn mark_report_sent(&mut self, id: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            let to = job.step.after(StepEvent::ReportSent)?;
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::state.eq(to.as_str()),
                    jobs::report_attempts.eq(jobs::report_attempts + 1),
                    jobs::updated_at.eq(now()),
                ))
                .execute(conn)?;
            if job.step != to {
                event(conn, Some(id), to.as_str(), "report sent")?;
            }
            Ok(())
        })
    }

    pub fn mark_confirmed(&mut self, id: &str, detail: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::ReportConfirmed, detail)?;
            diesel::update(jobs::table.find(id))
                .set(jobs::last_error.eq(None::<String>))
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn mark_rejected(&mut self, id: &str, error: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::ReportRefused, error)?;
            diesel::update(jobs::table.find(id))
                .set(jobs::last_error.eq(error))
                .execute(conn)?;
            Ok(())
        })
    }

    // ---- the tray ----

    /// Put `count` numbered blank sheets from `first` at the end of the tray. All or nothing:
    /// a serial already known to the tray (in any state) refuses the whole load.
    pub fn load_stock(&mut self, first: &Serial, count: i64) -> Result<Vec<String>, JournalError> {
        let run: Vec<String> = first.run(count)?.iter().map(|s| s.to_string()).collect();
        self.write(|conn| {
            let last: Option<i64> = sheets::table
                .select(diesel::dsl::max(sheets::position))
                .first(conn)?;
            let mut position = last.unwrap_or(0);
            for serial in &run {
                position += 1;
                let inserted = diesel::insert_into(sheets::table)
                    .values((
                        sheets::serial.eq(serial),
                        sheets::position.eq(position),
                        sheets::state.eq("blank"),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => {}
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        return Err(JournalError::AlreadyInTray(serial.clone()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            event(
                conn,
                None,
                "stock_loaded",
                &format!("{} sheet(s) {}..{}", run.len(), run[0], run[run.len() - 1]),
            )?;
            Ok(run.clone())
        })
    }

    /// May `serial` be voided from here? Blank, in-doubt and unknown sheets may (a spoiled
    /// sheet need not have been loaded); used and reserved ones may not.
    pub fn check_voidable(&mut self, serial: &str) -> Result<(), JournalError> {
        let row: Option<(String, Option<String>)> = sheets::table
            .find(serial)
            .select((sheets::state, sheets::job_id))
            .first(&mut self.conn)
            .optional()?;
        match row {
            Some((state, job)) if state == "used" => Err(JournalError::SheetUsed(
                serial.to_string(),
                job.unwrap_or_default(),
            )),
            Some((state, job)) if state == "reserved" => Err(JournalError::SheetReserved(
                serial.to_string(),
                job.unwrap_or_default(),
            )),
            _ => Ok(()),
        }
    }

    /// The server accepted the void: the sheet leaves the tray for good.
    pub fn mark_voided(&mut self, serial: &str, reason: &str) -> Result<(), JournalError> {
        let serial = serial.to_string();
        let reason = reason.to_string();
        self.write(move |conn| {
            let updated = diesel::update(sheets::table.find(&serial))
                .set((sheets::state.eq("voided"), sheets::note.eq(&reason)))
                .execute(conn)?;
            if updated == 0 {
                let last: Option<i64> = sheets::table
                    .select(diesel::dsl::max(sheets::position))
                    .first(conn)?;
                diesel::insert_into(sheets::table)
                    .values((
                        sheets::serial.eq(&serial),
                        sheets::position.eq(last.unwrap_or(0) + 1),
                        sheets::state.eq("voided"),
                        sheets::note.eq(&reason),
                    ))
                    .execute(conn)?;
            }
            event(conn, None, "sheet_voided", &format!("{serial}: {reason}"))?;
            Ok(())
        })
    }

    pub fn blank_count(&mut self) -> Result<usize, JournalError> {
        let n: i64 = sheets::table
            .filter(sheets::state.eq("blank"))
            .count()
            .get_result(&mut self.conn)?;
        Ok(n as usize)
    }

    pub fn status(&mut self) -> Result<Status, JournalError> {
        let conn = &mut self.conn;
        let blank: Vec<String> = sheets::table
            .filter(sheets::state.eq("blank"))
            .order(sheets::position.asc())
            .select(sheets::serial)
            .load(conn)?;
        let by_state = |conn: &mut SqliteConnection, s: &str| -> Result<Vec<String>, DieselError> {
            sheets::table
                .filter(sheets::state.eq(s))
                .order(sheets::position.asc())
                .select(sheets::serial)
                .load(conn)
        };
        let reserved = by_state(conn, "reserved")?;
        let in_doubt = by_state(conn, "in_doubt")?;
        let used = by_state(conn, "used")?.len();
        let voided = by_state(conn, "voided")?.len();
        let jobs = self.unfinished()?;
        Ok(Status {
            blank: blank.len(),
            next_serial: blank.first().cloned(),
            last_serial: blank.last().cloned(),
            reserved,
            in_doubt,
            used,
            voided,
            jobs,
        })
    }

    /// Steps journaled for one job, oldest first (tests and `status`).
    pub fn events_of(&mut self, id: &str) -> Result<Vec<String>, JournalError> {
        Ok(events::table
            .filter(events::job_id.eq(id))
            .order(events::id.asc())
            .select(events::step)
            .load(&mut self.conn)?)
    }
}

fn store_report(
    conn: &mut SqliteConnection,
    id: &str,
    report: &Report,
    outcome: &str,
) -> Result<(), JournalError> {
    let body = serde_json::to_string(report).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    diesel::update(jobs::table.find(id))
        .set((
            jobs::outcome.eq(outcome),
            jobs::report_seq.eq(report.seq),
            jobs::report_body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(id: &str, pages: usize) -> ClaimedJob {
        let copies = [
            crate::domain::copy::CopyKind::Original,
            crate::domain::copy::CopyKind::Duplicate,
        ][..pages]
            .to_vec();
        ClaimedJob {
            id: id.into(),
            licence_id: format!("lic-{id}"),
            licence_identifier: format!("ident-{id}"),
            type_code: "001".into(),
            copies,
            qr_text: "HTTPS://X/V/AAAA".into(),
            lease_token: format!("lease-{id}"),
            lease_expires_at: "2030-01-01T00:00:00Z".into(),
            document_sha256: "AB".repeat(32),
        }
    }

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("state")).unwrap();
        (dir, j)
    }

    fn load(j: &mut Journal, first: &str, n: i64) {
        j.load_stock(&Serial::parse(first).unwrap(), n).unwrap();
    }

    #[test]
    fn every_step_pair_is_decided_by_the_table() {
        use Step as S;
        use StepEvent as E;
        let events = [
            E::Downloaded,
            E::StartPrinting,
            E::PrintSucceeded,
            E::NothingPrinted,
            E::OutcomeUnknown,
            E::LeaseLost,
            E::ReportSent,
            E::ReportConfirmed,
            E::ReportRefused,
        ];
        let allowed = [
            (S::Claimed, E::Downloaded, S::Downloaded),
            (S::Downloaded, E::StartPrinting, S::Printing),
            (S::Printing, E::PrintSucceeded, S::Printed),
            (S::Claimed, E::NothingPrinted, S::Failed),
            (S::Downloaded, E::NothingPrinted, S::Failed),
            (S::Printing, E::NothingPrinted, S::Failed),
            (S::Printing, E::OutcomeUnknown, S::Failed),
            (S::Claimed, E::LeaseLost, S::Abandoned),
            (S::Downloaded, E::LeaseLost, S::Abandoned),
            (S::Printed, E::ReportSent, S::Reported),
            (S::Failed, E::ReportSent, S::Reported),
            (S::Reported, E::ReportSent, S::Reported),
            (S::Printed, E::ReportConfirmed, S::Confirmed),
            (S::Failed, E::ReportConfirmed, S::Confirmed),
            (S::Reported, E::ReportConfirmed, S::Confirmed),
            (S::Rejected, E::ReportConfirmed, S::Confirmed),
            (S::Printed, E::ReportRefused, S::Rejected),
            (S::Failed, E::ReportRefused, S::Rejected),
            (S::Reported, E::ReportRefused, S::Rejected),
        ];
        for from in Step::ALL {
            for ev in events {
                let expected = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == ev)
                    .map(|(_, _, t)| *t);
                assert_eq!(from.after(ev).ok(), expected, "{from} + {ev:?}");
            }
        }
        // A lost lease never forgets paper: once printing, it is not "abandoned".
        for from in [S::Printing, S::Printed, S::Failed, S::Reported] {
            assert!(from.after(E::LeaseLost).is_err());
        }
    }

    #[test]
    fn restart_decisions_never_print_a_job_that_may_be_on_paper() {
        assert_eq!(Step::Claimed.recovery(), Recovery::Resume);
        assert_eq!(Step::Downloaded.recovery(), Recovery::Resume);
        assert_eq!(Step::Printing.recovery(), Recovery::ReportOutcomeUnknown);
        for s in [Step::Printed, Step::Failed, Step::Reported] {
            assert_eq!(s.recovery(), Recovery::SendReport, "{s}");
        }
        assert_eq!(Step::Rejected.recovery(), Recovery::AwaitOperator);
        assert_eq!(Step::Confirmed.recovery(), Recovery::Nothing);
        assert_eq!(Step::Abandoned.recovery(), Recovery::Nothing);
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_printed_job_uses_the_next_sheets_and_journals_its_report_before_sending() {
        let (_d, mut j) = journal();
        load(&mut j, "LY0001", 3);
        j.record_claim(&claimed("a", 2)).unwrap();
        j.mark_downloaded("a").unwrap();
        assert_eq!(j.begin_printing("a").unwrap(), ["LY0001", "LY0002"]);
        let r = j.mark_printed("a").unwrap();
        assert_eq!(r.sheets, ["LY0001", "LY0002"]);
        assert_eq!(r.outcome, Outcome::Printed);
        assert_eq!(r.lease_token, "lease-a");
        let job = j.job("a").unwrap().unwrap();
        assert_eq!(job.step, Step::Printed);
        let stored: Report = serde_json::from_str(job.report_body.as_deref().unwrap()).unwrap();
        assert_eq!(stored, r);
        j.mark_report_sent("a").unwrap();
        j.mark_report_sent("a").unwrap();
        let job = j.job("a").unwrap().unwrap();
        assert_eq!((job.step, job.report_attempts), (Step::Reported, 2));
        j.mark_confirmed("a", "200").unwrap();
        let st = j.status().unwrap();
        assert_eq!((st.blank, st.used), (1, 2));
        assert_eq!(st.next_serial.as_deref(), Some("LY0003"));
        assert!(st.jobs.is_empty());
        assert_eq!(
            j.events_of("a").unwrap(),
            [
                "claimed",
                "downloaded",
                "printing",
                "printed",
                "reported",
                "confirmed"
            ]
        );
    }

    #[test]
    fn sequence_numbers_grow_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let first = {
            let mut j = Journal::open(&state).unwrap();
            load(&mut j, "A1", 5);
            j.record_claim(&claimed("a", 1)).unwrap();
            j.mark_failed("a", false, "seal does not verify")
                .unwrap()
                .seq
        };
        let mut j = Journal::open(&state).unwrap();
        j.record_claim(&claimed("b", 1)).unwrap();
        let second = j.mark_failed("b", false, "x").unwrap().seq;
        assert!(second > first);
    }

    #[test]
    fn a_job_found_printing_after_a_restart_is_reported_unknown_and_its_sheets_held() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        {
            let mut j = Journal::open(&state).unwrap();
            load(&mut j, "LY01", 4);
            j.record_claim(&claimed("a", 1)).unwrap();
            j.mark_downloaded("a").unwrap();
            j.begin_printing("a").unwrap();
            // crash here: the connection is dropped mid-job
        }
        let mut j = Journal::open(&state).unwrap();
        let job = j.job("a").unwrap().unwrap();
        assert_eq!(job.step.recovery(), Recovery::ReportOutcomeUnknown);
        // Printing again is refused by the table itself.
        assert!(matches!(j.begin_printing("a"), Err(JournalError::Step(_))));
        let r = j
            .mark_failed("a", true, "agent restarted while printing")
            .unwrap();
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(r.printed_nothing, None, "the server must ask an operator");
        assert!(r.reason.as_deref().unwrap().contains("LY01"));
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("printed_nothing").is_none());
        let st = j.status().unwrap();
        assert_eq!(st.in_doubt, ["LY01"]);
        assert_eq!(st.blank, 3);
        assert_eq!(
            st.next_serial.as_deref(),
            Some("LY02"),
            "a doubtful sheet is never reused"
        );
    }

    #[test]
    fn a_failed_print_command_returns_its_sheets_to_the_tray() {
        let (_d, mut j) = journal();
        load(&mut j, "B10", 2);
        j.record_claim(&claimed("a", 2)).unwrap();
        j.mark_downloaded("a").unwrap();
        j.begin_printing("a").unwrap();
        let r = j.mark_failed("a", false, "print command exit 1").unwrap();
        assert_eq!(r.printed_nothing, Some(true));
        let st = j.status().unwrap();
        assert_eq!((st.blank, st.next_serial.as_deref()), (2, Some("B10")));
    }

    #[test]
    fn an_empty_tray_refuses_to_start_printing_and_changes_nothing() {
        let (_d, mut j) = journal();
        load(&mut j, "C1", 1);
        j.record_claim(&claimed("a", 2)).unwrap();
        j.mark_downloaded("a").unwrap();
        assert!(matches!(
            j.begin_printing("a"),
            Err(JournalError::OutOfStock { needed: 2, left: 1 })
        ));
        assert_eq!(j.job("a").unwrap().unwrap().step, Step::Downloaded);
        assert_eq!(j.blank_count().unwrap(), 1);
    }

    #[test]
    fn a_job_in_hand_is_not_taken_twice_but_a_finished_one_may_come_back() {
        let (_d, mut j) = journal();
        load(&mut j, "D1", 5);
        j.record_claim(&claimed("a", 1)).unwrap();
        assert!(matches!(
            j.record_claim(&claimed("a", 1)),
            Err(JournalError::AlreadyInHand(_, Step::Claimed))
        ));
        j.mark_downloaded("a").unwrap();
        j.begin_printing("a").unwrap();
        assert!(matches!(
            j.record_claim(&claimed("a", 1)),
            Err(JournalError::AlreadyInHand(_, Step::Printing))
        ));
        j.mark_failed("a", false, "x").unwrap();
        j.mark_confirmed("a", "ok").unwrap();
        // Requeued by the server after a not-printed attempt: claimed afresh.
        j.record_claim(&claimed("a", 1)).unwrap();
        assert_eq!(j.job("a").unwrap().unwrap().step, Step::Claimed);
    }

    #[test]
    fn loading_is_all_or_nothing_and_voiding_respects_used_sheets() {
        let (_d, mut j) = journal();
        load(&mut j, "E08", 3); // E08 E09 E10
        assert!(matches!(
            j.load_stock(&Serial::parse("E05").unwrap(), 4),
            Err(JournalError::AlreadyInTray(s)) if s == "E08"
        ));
        assert_eq!(j.blank_count().unwrap(), 3, "E05..E07 were not kept");
        assert!(matches!(
            j.load_stock(&Serial::parse("E98").unwrap(), 3),
            Err(JournalError::Serial(SerialError::Overflow(..)))
        ));
        j.check_voidable("E09").unwrap();
        j.mark_voided("E09", "jammed").unwrap();
        j.record_claim(&claimed("a", 2)).unwrap();
        j.mark_downloaded("a").unwrap();
        assert_eq!(j.begin_printing("a").unwrap(), ["E08", "E10"]);
        assert!(matches!(
            j.check_voidable("E08"),
            Err(JournalError::SheetReserved(..))
        ));
        j.mark_printed("a").unwrap();
        assert!(matches!(
            j.check_voidable("E10"),
            Err(JournalError::SheetUsed(..))
        ));
        // A sheet the tray never held may still be voided (and is remembered).
        j.check_voidable("Z1").unwrap();
        j.mark_voided("Z1", "found spoiled").unwrap();
        let st = j.status().unwrap();
        assert_eq!((st.blank, st.used, st.voided), (0, 2, 2));
        assert!(st.to_string().contains("unconfirmed reports: 1"));
    }

    #[test]
    fn the_journal_runs_with_synchronous_full_and_wal() {
        let (_d, mut j) = journal();
        #[derive(QueryableByName)]
        struct Sync {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let s: Sync = diesel::sql_query("PRAGMA synchronous")
            .get_result(&mut j.conn)
            .unwrap();
        assert_eq!(s.synchronous, 2, "FULL");
        #[derive(QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let m: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut j.conn)
            .unwrap();
        assert_eq!(m.journal_mode, "wal");
    }
}
