//! The agent's local journal: a small SQLite file in the state folder (diesel, its own
//! embedded migrations in `migrations/agent/`, WAL with `synchronous=FULL`). Each step of a job
//! is written here BEFORE it acts (claimed -> downloaded -> printing -> printed -> reported ->
//! confirmed), in one transaction with the tray change and an event line, so after a crash or
//! a power cut the agent knows what may already be on paper and which reports are still owed.
//!
//! Restart rule (docs/architecture.md, "The hall agent"; no automatic reprint): a job journaled as `printing` has an
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

mod steps;
mod store;
#[cfg(test)]
mod tests;
mod tray;

pub use steps::{Recovery, Step, StepError, StepEvent};
use store::*;
use tray::Sheet;
pub use tray::Status;

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

pub struct Journal {
    conn: SqliteConnection,
    path: PathBuf,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}
