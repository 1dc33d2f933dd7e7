//! The backend half of `crosscert backup` / `restore`: a consistent snapshot of the whole
//! database as one file (SQLite: `VACUUM INTO`; PostgreSQL: `pg_dump -Fc` on an exported
//! snapshot), the row counts of that same snapshot, and putting such a file back. The file
//! format and the manifest are `crate::backup`'s.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Backend, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

/// What diesel records of applied migrations; restored with the data, never counted.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Url(#[from] super::StorageError),
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("{tool} could not be run ({source}); install the Debian package postgresql-client")]
    ToolMissing {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error("{tool} failed: {stderr}")]
    ToolFailed { tool: &'static str, stderr: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the copy is damaged: {0}")]
    Damaged(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The snapshot's facts the manifest records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// The newest migration applied (its version, e.g. `20261129000005`).
    pub schema_version: String,
    /// Rows per table, every table but diesel's migration list.
    pub row_counts: BTreeMap<String, i64>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    version: Option<String>,
}

/// A table name as an SQL identifier (names come from the catalog, quoted all the same).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const VERSION_SQL: &str = "SELECT MAX(version) AS version FROM __diesel_schema_migrations";

/// The tables of a SQLite database, and of a PostgreSQL one (the one backend difference of
/// [`facts`]).
const SQLITE_TABLES_SQL: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
const PG_TABLES_SQL: &str =
    "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename";

fn facts_sqlite(conn: &mut SqliteConnection) -> Result<SnapshotFacts, SnapshotError> {
    facts(conn, SQLITE_TABLES_SQL)
}

fn facts_pg(conn: &mut PgConnection) -> Result<SnapshotFacts, SnapshotError> {
    facts(conn, PG_TABLES_SQL)
}

/// The schema version and the row count of every table, read with `tables_sql`.
fn facts<C>(conn: &mut C, tables_sql: &str) -> Result<SnapshotFacts, SnapshotError>
where
    C: Connection,
    for<'a> diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'a, C, Name>
        + diesel::query_dsl::LoadQuery<'a, C, Count>
        + diesel::query_dsl::LoadQuery<'a, C, Version>,
{
    let tables: Vec<Name> = diesel::sql_query(tables_sql).load(conn)?;
    let (row_counts, migrated) = count_rows(tables, |sql| {
        diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .map(|c| c.n)
    })?;
    let schema_version = if migrated {
        diesel::sql_query(VERSION_SQL)
            .get_result::<Version>(conn)?
            .version
    } else {
        None
    };
    Ok(SnapshotFacts {
        schema_version: normalise_version(schema_version.as_deref().unwrap_or_default()),
        row_counts,
    })
}

/// Rows per table (diesel's migration list left out), and whether that list exists.
fn count_rows(
    tables: Vec<Name>,
    mut count: impl FnMut(String) -> QueryResult<i64>,
) -> Result<(BTreeMap<String, i64>, bool), SnapshotError> {
    let mut row_counts = BTreeMap::new();
    let mut migrated = false;
    for t in tables {
        if t.name == MIGRATIONS_TABLE {
            migrated = true;
            continue;
        }
        let n = count(format!("SELECT COUNT(*) AS n FROM {}", ident(&t.name)))?;
        row_counts.insert(t.name, n);
    }
    Ok((row_counts, migrated))
}

/// Migration versions as digits only (`2026-11-29-000005` and `20261129000005` alike), so
/// they compare as numbers of equal length.
fn normalise_version(v: &str) -> String {
    v.chars().filter(char::is_ascii_digit).collect()
}

/// The newest migration this binary carries for a backend: a backup newer than that was made
/// by a newer crosscert and is refused.
pub fn latest_known_version(backend: &Backend) -> String {
    let names: Vec<String> = match backend {
        Backend::Sqlite(_) => {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
                .unwrap_or_default()
        }
        Backend::Postgres(_) => MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
            .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
            .unwrap_or_default(),
    };
    names
        .iter()
        .map(|v| normalise_version(v))
        .max()
        .unwrap_or_default()
}

fn sqlite_open(path: &str) -> Result<SqliteConnection, SnapshotError> {
    let mut c =
        SqliteConnection::establish(path).map_err(|e| SnapshotError::Connect(e.to_string()))?;
    c.batch_execute("PRAGMA busy_timeout = 10000;")?;
    Ok(c)
}

fn pg_open(url: &str) -> Result<PgConnection, SnapshotError> {
    PgConnection::establish(url).map_err(|e| SnapshotError::Connect(e.to_string()))
}

fn run_tool(tool: &'static str, cmd: &mut Command) -> Result<(), SnapshotError> {
    let out = cmd
        .output()
        .map_err(|source| SnapshotError::ToolMissing { tool, source })?;
    if !out.status.success() {
        return Err(SnapshotError::ToolFailed {
            tool,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Write a consistent copy of the database at `url` to `payload` (a new file) while the
/// service keeps writing, and return the facts of exactly that copy.
pub fn snapshot(url: &str, payload: &Path) -> Result<SnapshotFacts, SnapshotError> {
    match Backend::from_url(url)? {
        Backend::Sqlite(path) => {
            let mut conn = sqlite_open(&path)?;
            let target = payload.to_string_lossy().replace('\'', "''");
            // One read transaction: the copy is the database as of its start, whatever
            // commits meanwhile (WAL lets the writers go on).
            conn.batch_execute(&format!("VACUUM INTO '{target}'"))?;
            drop(conn);
            // Counted in the copy itself, so the counts are the payload's by construction.
            let mut copy = sqlite_open(&payload.to_string_lossy())?;
            facts_sqlite(&mut copy)
        }
        Backend::Postgres(url) => {
            let mut conn = pg_open(&url)?;
            // pg_dump reads the very snapshot the counts come from.
            conn.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let snap: Name =
                diesel::sql_query("SELECT pg_export_snapshot() AS name").get_result(&mut conn)?;
            let facts = facts_pg(&mut conn)?;
            let dumped = run_tool(
                "pg_dump",
                Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg(format!("--snapshot={}", snap.name))
                    .arg("--no-owner")
                    .arg("--no-privileges")
                    .arg("--file")
                    .arg(payload)
                    .arg("--dbname")
                    .arg(&url),
            );
            // The snapshot must outlive pg_dump; end it whatever happened.
            let ended = conn.batch_execute("COMMIT");
            dumped?;
            ended?;
            Ok(facts)
        }
    }
}

/// Rows per table in the database at `url` now (empty when it has no tables yet). Used to
/// refuse a database that already holds data.
pub fn current_facts(url: &str) -> Result<SnapshotFacts, SnapshotError> {
    match Backend::from_url(url)? {
        Backend::Sqlite(path) => {
            if !Path::new(&path).exists() {
                return Ok(SnapshotFacts {
                    schema_version: String::new(),
                    row_counts: BTreeMap::new(),
                });
            }
            facts_sqlite(&mut sqlite_open(&path)?)
        }
        Backend::Postgres(url) => facts_pg(&mut pg_open(&url)?),
    }
}

/// Check a payload before it is put anywhere: SQLite copies are opened and checked
/// (`PRAGMA integrity_check`); a PostgreSQL dump is listed by `pg_restore --list`.
pub fn check_payload(backend: &Backend, payload: &Path) -> Result<(), SnapshotError> {
    match backend {
        Backend::Sqlite(_) => {
            let mut c = sqlite_open(&payload.to_string_lossy())?;
            let verdict: IntegrityRow =
                diesel::sql_query("PRAGMA integrity_check").get_result(&mut c)?;
            if verdict.integrity_check != "ok" {
                return Err(SnapshotError::Damaged(verdict.integrity_check));
            }
            Ok(())
        }
        Backend::Postgres(_) => run_tool(
            "pg_restore",
            Command::new("pg_restore")
                .arg("--list")
                .arg(payload)
                .stdout(std::process::Stdio::null()),
        ),
    }
}

#[derive(QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Put a checked payload in place of the database at `url`, which the caller made sure is
/// empty (or may be overwritten). Returns the facts of the restored database, before any
/// migration.
pub fn put_back(url: &str, payload: &Path) -> Result<SnapshotFacts, SnapshotError> {
    match Backend::from_url(url)? {
        Backend::Sqlite(path) => {
            let target = PathBuf::from(&path);
            if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            // Copied next to the target, then renamed: the target is either the old file or
            // the whole restored one, never half of it.
            let tmp = sibling(&target, "restoring");
            std::fs::copy(payload, &tmp).map_err(io(&tmp))?;
            let facts = facts_sqlite(&mut sqlite_open(&tmp.to_string_lossy())?)?;
            for suffix in ["-wal", "-shm"] {
                let side = PathBuf::from(format!("{path}{suffix}"));
                match std::fs::remove_file(&side) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&side)(e)),
                }
            }
            std::fs::rename(&tmp, &target).map_err(io(&target))?;
            Ok(facts)
        }
        Backend::Postgres(url) => {
            let mut conn = pg_open(&url)?;
            // Whatever the database held goes (the caller checked it was empty or --force).
            conn.batch_execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")?;
            run_tool(
                "pg_restore",
                Command::new("pg_restore")
                    .arg("--single-transaction")
                    .arg("--exit-on-error")
                    .arg("--no-owner")
                    .arg("--no-privileges")
                    .arg("--dbname")
                    .arg(&url)
                    .arg(payload),
            )?;
            facts_pg(&mut conn)
        }
    }
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{tag}-{}", std::process::id()));
    path.with_file_name(name)
}
