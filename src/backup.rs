//! `crosscert backup` and `crosscert restore`: the backup file and its manifest, and the steps
//! of both commands with their progress lines. How a snapshot is taken and put back on each
//! backend is `storage::backup`'s.
//!
//! A backup file is one line `CROSSCERT-BACKUP 1`, one line of JSON (the [`Manifest`]), then
//! the payload: the SQLite database file, or a `pg_dump --format=custom` archive. Private
//! signing keys live in the keys folder, never in the database, so no backup carries them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::storage::backup::{self as snap, SnapshotError};
use crate::storage::Backend;

pub const MAGIC: &str = "CROSSCERT-BACKUP 1";
/// A manifest line longer than this is not a crosscert backup.
const MAX_MANIFEST: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sqlite` or `postgres`: a backup restores into the same backend.
    pub backend: String,
    /// The newest migration in the backup.
    pub schema_version: String,
    /// When the snapshot was taken (RFC 3339 UTC).
    pub created_at: String,
    /// Rows per table in the payload.
    pub row_counts: BTreeMap<String, i64>,
    pub payload_bytes: u64,
    /// SHA-256 of the payload, lower-case hex.
    pub payload_sha256: String,
    /// The crosscert that wrote it.
    pub crosscert_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--from: {0} is not a crosscert backup ({1})")]
    NotABackup(PathBuf, String),
    #[error("--from: the payload's SHA-256 is {got}, the manifest says {want}: the file is damaged or altered; nothing was touched")]
    HashMismatch { got: String, want: String },
    #[error("--from: the payload is {got} bytes, the manifest says {want}: the file is truncated or altered; nothing was touched")]
    SizeMismatch { got: u64, want: u64 },
    #[error("--database-url: the backup was taken on {backup}; it restores only into {backup}, not {target}")]
    WrongBackend { backup: String, target: String },
    #[error("--from: the backup's schema {backup} is newer than this crosscert knows ({known}); restore it with a newer crosscert")]
    NewerSchema { backup: String, known: String },
    #[error("--database-url: the database already holds data ({0}); restore into an empty database, or pass --force to replace it")]
    NotEmpty(String),
    #[error("the restored database does not match the manifest: {0}")]
    CountMismatch(String),
    #[error("migrating the restored database: {0}")]
    Migrate(#[from] crate::storage::StorageError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn backend_name(b: &Backend) -> &'static str {
    match b {
        Backend::Sqlite(_) => "sqlite",
        Backend::Postgres(_) => "postgres",
    }
}

/// Progress lines on stderr: each step with the time since the command started.
pub struct Progress<'a> {
    out: &'a mut dyn Write,
    started: Instant,
}

impl<'a> Progress<'a> {
    pub fn new(out: &'a mut dyn Write) -> Progress<'a> {
        Progress {
            out,
            started: Instant::now(),
        }
    }

    fn step(&mut self, text: &str) {
        // Progress is a courtesy: a closed stderr must not fail the backup.
        let _ = writeln!(
            self.out,
            "[{:6.1} s] {text}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn counts(&mut self, counts: &BTreeMap<String, i64>) {
        let width = counts.keys().map(|k| k.len()).max().unwrap_or(0);
        for (table, n) in counts {
            let _ = writeln!(self.out, "    {table:<width$} {n:>10}");
        }
    }
}

/// A file removed when dropped (temporary payloads).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_next_to(path: &Path, tag: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "crosscert-backup".into());
    name.push(format!(".{tag}-{}", std::process::id()));
    path.with_file_name(name)
}

/// SHA-256 (hex) and length of what `r` yields, copied to `w` on the way.
fn hash_copy(r: &mut dyn Read, w: &mut dyn Write) -> std::io::Result<(String, u64)> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((hex::encode(ctx.finish().as_ref()), total))
}

/// `crosscert backup --out FILE`: a consistent copy taken while the service runs.
pub fn backup(
    url: &str,
    out: &Path,
    now: chrono::DateTime<chrono::Utc>,
    progress: &mut Progress<'_>,
) -> Result<Manifest, BackupError> {
    let backend = Backend::from_url(url).map_err(SnapshotError::from)?;
    let payload = TempFile(temp_next_to(out, "payload"));
    let _ = std::fs::remove_file(&payload.0);
    progress.step(&format!(
        "taking a snapshot of the {} database",
        backend_name(&backend)
    ));
    let facts = snap::snapshot(url, &payload.0)?;
    let rows: i64 = facts.row_counts.values().sum();
    progress.step(&format!(
        "snapshot taken: {} tables, {rows} rows, schema {}",
        facts.row_counts.len(),
        facts.schema_version
    ));
    let (sha, bytes) = {
        let mut f = std::fs::File::open(&payload.0).map_err(io(&payload.0))?;
        hash_copy(&mut f, &mut std::io::sink()).map_err(io(&payload.0))?
    };
    let manifest = Manifest {
        backend: backend_name(&backend).to_string(),
        schema_version: facts.schema_version,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        row_counts: facts.row_counts,
        payload_bytes: bytes,
        payload_sha256: sha,
        crosscert_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let part = TempFile(temp_next_to(out, "part"));
    {
        let file = std::fs::File::create(&part.0).map_err(io(&part.0))?;
        let mut w = std::io::BufWriter::new(file);
        let line = serde_json::to_string(&manifest).map_err(|e| BackupError::Io {
            path: part.0.clone(),
            source: e.into(),
        })?;
        writeln!(w, "{MAGIC}")
            .and_then(|_| writeln!(w, "{line}"))
            .map_err(io(&part.0))?;
        let mut f = std::fs::File::open(&payload.0).map_err(io(&payload.0))?;
        std::io::copy(&mut f, &mut w).map_err(io(&part.0))?;
        let file = w.into_inner().map_err(|e| io(&part.0)(e.into_error()))?;
        file.sync_all().map_err(io(&part.0))?;
    }
    std::fs::rename(&part.0, out).map_err(io(out))?;
    progress.step(&format!(
        "wrote {} ({} bytes of payload, SHA-256 {})",
        out.display(),
        manifest.payload_bytes,
        manifest.payload_sha256
    ));
    progress.counts(&manifest.row_counts);
    Ok(manifest)
}

/// The manifest of a backup file, and the reader positioned at its payload.
pub fn read_manifest(path: &Path) -> Result<(Manifest, BufReader<std::fs::File>), BackupError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut r = BufReader::new(file);
    let not = |why: &str| BackupError::NotABackup(path.to_path_buf(), why.to_string());
    let mut line = Vec::new();
    (&mut r)
        .take(MAGIC.len() as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(io(path))?;
    if line.strip_suffix(b"\n") != Some(MAGIC.as_bytes()) {
        return Err(not("no CROSSCERT-BACKUP 1 header"));
    }
    line.clear();
    (&mut r)
        .take(MAX_MANIFEST as u64)
        .read_until(b'\n', &mut line)
        .map_err(io(path))?;
    if line.last() != Some(&b'\n') {
        return Err(not("no manifest line"));
    }
    let manifest: Manifest = serde_json::from_slice(&line[..line.len() - 1])
        .map_err(|e| not(&format!("manifest: {e}")))?;
    Ok((manifest, r))
}

/// What `restore` did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    pub row_counts: BTreeMap<String, i64>,
    pub migrations_applied: usize,
}

/// `crosscert restore --from FILE --database-url URL [--force]`.
pub fn restore(
    from: &Path,
    url: &str,
    force: bool,
    progress: &mut Progress<'_>,
) -> Result<Restored, BackupError> {
    let backend = Backend::from_url(url).map_err(SnapshotError::from)?;
    let (manifest, mut reader) = read_manifest(from)?;
    progress.step(&format!(
        "backup of {} taken {} (schema {}, {} payload bytes)",
        manifest.backend, manifest.created_at, manifest.schema_version, manifest.payload_bytes
    ));
    if manifest.backend != backend_name(&backend) {
        return Err(BackupError::WrongBackend {
            backup: manifest.backend.clone(),
            target: backend_name(&backend).to_string(),
        });
    }
    let known = snap::latest_known_version(&backend);
    if manifest.schema_version > known {
        return Err(BackupError::NewerSchema {
            backup: manifest.schema_version.clone(),
            known,
        });
    }
    // The payload is checked whole before anything of the target is touched.
    let staging_dir = match &backend {
        Backend::Sqlite(path) => Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir),
        Backend::Postgres(_) => std::env::temp_dir(),
    };
    let payload = TempFile(staging_dir.join(format!(
        "crosscert-restore-{}-{}.payload",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )));
    let (sha, bytes) = {
        let file = std::fs::File::create(&payload.0).map_err(io(&payload.0))?;
        let mut w = std::io::BufWriter::new(file);
        let got = hash_copy(&mut reader, &mut w).map_err(io(from))?;
        w.flush().map_err(io(&payload.0))?;
        got
    };
    if bytes != manifest.payload_bytes {
        return Err(BackupError::SizeMismatch {
            got: bytes,
            want: manifest.payload_bytes,
        });
    }
    if sha != manifest.payload_sha256 {
        return Err(BackupError::HashMismatch {
            got: sha,
            want: manifest.payload_sha256.clone(),
        });
    }
    snap::check_payload(&backend, &payload.0)?;
    progress.step("payload checked: size, SHA-256 and structure match the manifest");
    let current = snap::current_facts(url)?;
    let held: Vec<String> = current
        .row_counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{t}: {n}"))
        .collect();
    if !held.is_empty() {
        if !force {
            return Err(BackupError::NotEmpty(held.join(", ")));
        }
        progress.step(&format!(
            "--force: replacing a database that held {}",
            held.join(", ")
        ));
    }
    progress.step("restoring");
    let restored = snap::put_back(url, &payload.0)?;
    let differ: Vec<String> = manifest
        .row_counts
        .iter()
        .filter(|(t, n)| restored.row_counts.get(*t) != Some(*n))
        .map(|(t, n)| {
            format!(
                "{t}: {} restored, {n} in the manifest",
                restored.row_counts.get(t).copied().unwrap_or(0)
            )
        })
        .collect();
    if !differ.is_empty() {
        return Err(BackupError::CountMismatch(differ.join(", ")));
    }
    let pool = crate::storage::connect(url, 1)?;
    let applied = crate::storage::run_migrations(&pool)?;
    if !applied.is_empty() {
        progress.step(&format!(
            "the backup was older: {} migration(s) applied ({})",
            applied.len(),
            applied.join(", ")
        ));
    }
    let rows: i64 = restored.row_counts.values().sum();
    progress.step(&format!(
        "restored {} tables, {rows} rows; every count matches the manifest:",
        restored.row_counts.len()
    ));
    progress.counts(&restored.row_counts);
    Ok(Restored {
        manifest,
        row_counts: restored.row_counts,
        migrations_applied: applied.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_the_header_or_manifest_is_not_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, "SQLite format 3\0...").unwrap();
        assert!(matches!(
            read_manifest(&p),
            Err(BackupError::NotABackup(..))
        ));
        std::fs::write(&p, format!("{MAGIC}\n{{\"backend\": 1}}\n")).unwrap();
        assert!(matches!(
            read_manifest(&p),
            Err(BackupError::NotABackup(..))
        ));
        std::fs::write(&p, format!("{MAGIC}\nno newline")).unwrap();
        assert!(matches!(
            read_manifest(&p),
            Err(BackupError::NotABackup(..))
        ));
    }

    #[test]
    fn the_manifest_reads_back_and_the_reader_stands_at_the_payload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        let m = Manifest {
            backend: "sqlite".into(),
            schema_version: "20261129000005".into(),
            created_at: "2026-12-04T00:00:00Z".into(),
            row_counts: BTreeMap::from([("licences".to_string(), 3)]),
            payload_bytes: 4,
            payload_sha256: "00".into(),
            crosscert_version: "0.1.0".into(),
        };
        let text = format!("{MAGIC}\n{}\nDATA", serde_json::to_string(&m).unwrap());
        std::fs::write(&p, text).unwrap();
        let (got, mut r) = read_manifest(&p).unwrap();
        assert_eq!(got, m);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "DATA");
    }
}
