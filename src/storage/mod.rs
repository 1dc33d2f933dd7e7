//! The server's only diesel code: the connection enum over SQLite and PostgreSQL, the pool,
//! embedded migrations, and one file per table. Every call here is blocking: callers run it
//! inside `web::block` / `spawn_blocking`.

pub mod after_commit;
pub mod agent_reports;
pub mod agent_tokens;
pub mod audit;
pub mod backup;
pub mod columns;
pub mod dept;
pub mod halls;
pub mod jobs;
pub mod licences;
pub mod login_throttle;
pub mod notifications;
pub mod schema;
pub mod seed;
pub mod shares;
pub mod status_lists;
pub mod stock;
pub mod tlog;
pub mod tracking;
pub mod users;

use diesel::connection::{
    AnsiTransactionManager, Instrumentation, InstrumentationEvent, SimpleConnection,
    TransactionManager,
};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One key for every crosscert process: only one of them migrates (or seeds) at a time.
const MIGRATION_LOCK_KEY: i64 = 0x0C05_5CE7;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<ConnectionManager<DbConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<DbConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported database URL {0:?}: use sqlite://relative/path.db, sqlite:///absolute/path.db or postgres://user@host/db")]
    UnsupportedUrl(String),
    #[error("cannot create the folder for the SQLite database {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The disk under the database is full: nothing was written; writes work again once
    /// space is freed (reads go on meanwhile).
    #[error("the database's disk is full: {0}")]
    StorageFull(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for StorageError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            // A lost connection is an outage (503), not a bug (500).
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StorageError::Unavailable(info.message().to_string()),
            Error::DatabaseError(_, info) if is_disk_full(info.message()) => {
                StorageError::StorageFull(info.message().to_string())
            }
            other => StorageError::Query(other),
        }
    }
}

/// SQLite's SQLITE_FULL ("database or disk is full"); PostgreSQL's 53100 disk_full, whose
/// messages name ENOSPC ("could not extend file ...: No space left on device").
fn is_disk_full(message: &str) -> bool {
    message.contains("database or disk is full") || message.contains("No space left on device")
}

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

impl StorageError {
    /// A unique-constraint violation, e.g. a username taken.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StorageError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Which backend a URL names; the variant is chosen from the scheme so a bad URL keeps its
/// real error instead of "no backend accepted it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The file path (relative or absolute) for SQLite.
    Sqlite(String),
    Postgres(String),
}

impl Backend {
    pub fn from_url(url: &str) -> StorageResult<Backend> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(StorageError::UnsupportedUrl(url.to_string()));
            }
            // sqlite:///abs/path.db -> "/abs/path.db"; sqlite://data/x.db -> "data/x.db"
            Ok(Backend::Sqlite(rest.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_string()))
        } else {
            Err(StorageError::UnsupportedUrl(url.to_string()))
        }
    }
}

/// Per-connection SQLite settings: durability first (a certificate must survive a power cut).
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Counts every statement the process's connections send, BEGIN and COMMIT included, as
/// `db_statements_total` on `/metrics`: the database work a load test reads off.
fn count_statements() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { .. } = event {
            metrics::counter!("db_statements_total").increment(1);
        }
    }))
}

/// Build the pool for a database URL. SQLite files (and their folder) are created on demand.
pub fn connect(url: &str, pool_size: u32) -> StorageResult<DbPool> {
    // Process-wide, for every connection established from now on (pool and listener).
    diesel::connection::set_default_instrumentation(count_statements)?;
    let backend = Backend::from_url(url)?;
    let conn_url = match &backend {
        Backend::Sqlite(path) => {
            if let Some(parent) = std::path::Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|source| StorageError::CreateDir {
                        path: parent.display().to_string(),
                        source,
                    })?;
                }
            }
            // WAL is a property of the file: switch it once, before the pool opens several
            // connections that would race for the lock the switch needs.
            let mut first = SqliteConnection::establish(path)
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
            first.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
            path.clone()
        }
        Backend::Postgres(url) => url.clone(),
    };
    let manager = ConnectionManager::<DbConnection>::new(conn_url);
    let builder = Pool::builder()
        .max_size(pool_size)
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false);
    let builder = match backend {
        Backend::Sqlite(_) => builder.connection_customizer(Box::new(SqlitePragmas)),
        Backend::Postgres(_) => builder,
    };
    // build_unchecked: the service must start (and say "not ready") while the database is down.
    Ok(builder.build_unchecked(manager))
}

/// Run pending migrations. On PostgreSQL an advisory lock makes concurrent starters wait
/// for each other instead of racing on the same DDL.
pub fn run_migrations(pool: &DbPool) -> StorageResult<Vec<String>> {
    let mut conn = pool.get()?;
    with_global_lock(&mut conn, |conn| {
        let applied = match conn {
            DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        }
        .map_err(|e| StorageError::Migration(e.to_string()))?;
        Ok(applied.iter().map(|m| m.to_string()).collect())
    })
}

/// Serialise start-up work (migrations, demo seeding) across processes. SQLite needs no lock
/// beyond its own: it has a single writer.
pub fn with_global_lock<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> StorageResult<T>,
) -> StorageResult<T> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(c)?;
    }
    let result = f(conn);
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(c)?;
    }
    result
}

/// Serialises this process's SQLite write transactions (SQLite has a single writer anyway).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A writing transaction: `BEGIN IMMEDIATE` on SQLite (take the write lock up front, so two
/// writers never deadlock upgrading read locks), a READ COMMITTED transaction on PostgreSQL.
pub fn write_tx<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            // One writer at a time, queued here rather than in SQLite's busy handler, whose
            // growing sleeps (up to 100 ms) make a long latency tail under load.
            let _writer = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
            if let DbConnection::Sqlite(c) = conn {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            }
            let result = f(conn);
            match result {
                Ok(value) => {
                    DbConnection::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    // The original error matters more than a failed rollback.
                    if let Err(rollback) = DbConnection::rollback_transaction(conn) {
                        tracing::error!(error = %rollback, "rollback failed");
                    }
                    Err(e)
                }
            }
        }
    }
}

/// Is the database reachable? (`/readyz`)
pub fn ping(pool: &DbPool) -> StorageResult<()> {
    let mut conn = pool.get()?;
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

/// Wall-clock time as stored: UTC without zone (both backends' `TIMESTAMP`).
pub fn to_db_time(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    t.naive_utc()
}

pub fn from_db_time(t: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_naive_utc_and_offset(t, chrono::Utc)
}
