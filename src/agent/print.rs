//! Printing one job: the PDF goes into the spool folder; with a print command, that command
//! runs through `sh -c` with every `{file}` replaced by the file's path, single-quoted so that
//! no character of the path (spaces, quotes, `$`, `;`, newlines) is read by the shell.

use std::path::{Path, PathBuf};

/// Quote `s` for a POSIX shell: inside single quotes nothing is special except the single
/// quote itself, which is closed, escaped and reopened (`'` -> `'\''`).
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The shell text for `command` with every `{file}` replaced by the quoted path. Write
/// `{file}` bare in the command: it arrives already quoted.
pub fn substitute(command: &str, file: &Path) -> String {
    command.replace("{file}", &shell_quote(&file.to_string_lossy()))
}

/// The spool file name for a job: the server's id when it is plain (letters, digits, `-`),
/// else its hex, so a hostile id cannot name a path outside the spool folder.
pub fn spool_name(job_id: &str) -> String {
    let plain = !job_id.is_empty()
        && job_id.len() <= 64
        && job_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain {
        format!("job-{job_id}.pdf")
    } else {
        format!("job-x{}.pdf", hex::encode(job_id.as_bytes()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start the print command: {0}")]
    Spawn(std::io::Error),
    #[error("the print command failed ({0})")]
    Exit(String),
}

/// Write the PDF into the spool folder and, with a command, run it. Ok means "printed" as far
/// as the agent can know: the command exited 0 (or, without one, the file is in the spool).
pub async fn print(
    spool: &Path,
    job_id: &str,
    pdf: &[u8],
    command: Option<&str>,
) -> Result<PathBuf, PrintError> {
    let path = spool.join(spool_name(job_id));
    write_durably(&path, pdf)
        .await
        .map_err(|source| PrintError::Write {
            path: path.display().to_string(),
            source,
        })?;
    let Some(command) = command else {
        return Ok(path);
    };
    let script = substitute(command, &path);
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        // A stopping agent still waits for the printer: killing the command mid-page would
        // leave a half-printed sheet.
        .kill_on_drop(false)
        .status()
        .await
        .map_err(PrintError::Spawn)?;
    if status.success() {
        Ok(path)
    } else {
        Err(PrintError::Exit(status.to_string()))
    }
}

/// Write via a temporary name and rename, so a print command (or a spool watcher) never sees a
/// half-written PDF.
async fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("pdf.part");
    {
        use tokio::io::AsyncWriteExt;
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(bytes).await?;
        f.sync_all().await?;
    }
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_placeholder_with_the_quoted_path() {
        let s = substitute(
            "lp -d hall {file} && cp {file} /archive",
            Path::new("/spool/job-1.pdf"),
        );
        assert_eq!(
            s,
            "lp -d hall '/spool/job-1.pdf' && cp '/spool/job-1.pdf' /archive"
        );
        assert_eq!(substitute("true", Path::new("/x")), "true");
    }

    #[test]
    fn quotes_single_quotes_and_leaves_everything_else_literal() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(
            shell_quote("$(rm -rf ~); `x` \"y\""),
            "'$(rm -rf ~); `x` \"y\"'"
        );
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn spool_names_never_leave_the_spool_folder() {
        assert_eq!(spool_name("3f2a-11"), "job-3f2a-11.pdf");
        for hostile in ["../etc/passwd", "a/b", "", ".", "x y", "é"] {
            let name = spool_name(hostile);
            assert!(!name.contains('/') && !name.contains(".."), "{name}");
            assert!(name.starts_with("job-x"), "{name}");
        }
    }

    #[tokio::test]
    async fn the_shell_receives_a_hostile_path_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("sp ool 'it's' $HOME; `id` \"q\"");
        std::fs::create_dir_all(&spool).unwrap();
        let log = dir.path().join("log");
        let command = format!(
            "printf '%s\\n' {{file}} >> {}",
            shell_quote(&log.to_string_lossy())
        );
        let path = print(&spool, "j1", b"%PDF-1.7 test", Some(&command))
            .await
            .unwrap();
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(logged, format!("{}\n", path.display()));
        assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.7 test");
    }

    #[tokio::test]
    async fn a_non_zero_exit_is_a_failed_print_and_no_command_means_spool_only() {
        let dir = tempfile::tempdir().unwrap();
        let err = print(dir.path(), "j2", b"pdf", Some("exit 3"))
            .await
            .unwrap_err();
        assert!(matches!(err, PrintError::Exit(_)), "{err}");
        let path = print(dir.path(), "j3", b"pdf", None).await.unwrap();
        assert_eq!(path, dir.path().join("job-j3.pdf"));
        assert_eq!(std::fs::read(path).unwrap(), b"pdf");
    }
}
