//! `crosscert log ...` and `crosscert witness ...`.

use super::note::Verifier;
use super::{monitor, witness};
use crate::issuance::note_key::{NoteKey, LOG_KEY_FILE};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Print the log's verifier key (C2SP vkey) from the keys directory; no server needed
    Vkey {
        /// TOML configuration file (keys directory, public URL)
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make the log key (`log.key.pem`) in the keys directory and print its verifier key
    Keygen {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Fetch the checkpoint and tiles, check them against the last checkpoint seen and
    /// recompute the tree; print the new entries. Exit 1 on any inconsistency
    Monitor {
        /// The log's base URL (the server's public URL)
        #[arg(long)]
        log: String,
        /// Where the last checkpoint seen is kept
        #[arg(long)]
        state: PathBuf,
        /// The log's verifier key (`crosscert log vkey`)
        #[arg(long)]
        log_vkey: String,
        /// A witness's verifier key (repeat)
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// Cosignatures required
        #[arg(long, default_value_t = 0)]
        quorum: usize,
    },
    /// Check a tlog-proof file (GET /api/v1/log/proof) offline against pinned keys. Exit 0:
    /// the entry is in the log; 1: it is not proven
    CheckProof {
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        log_vkey: String,
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        #[arg(long, default_value_t = 0)]
        quorum: usize,
        /// The licence identifier the entry must be about
        #[arg(long)]
        identifier: Option<String>,
        /// The licence's QR text: the entry must record exactly this seal (its SHA-256)
        #[arg(long)]
        code: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum WitnessCommand {
    /// Make a witness key (a self-naming PKCS#8 file) and print its verifier key on stdout
    Keygen {
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve tlog-witness `POST /add-checkpoint` for one log
    Serve {
        #[arg(long)]
        key: PathBuf,
        /// The log's verifier key; its name is the log's origin
        #[arg(long)]
        log_vkey: String,
        /// The folder keeping the last cosigned checkpoint
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7380")]
        bind: String,
    },
}

fn verifiers(keys: &[String]) -> anyhow::Result<Vec<Verifier>> {
    keys.iter()
        .map(|k| Verifier::parse(k).map_err(|e| anyhow::anyhow!("--witness {k}: {e}")))
        .collect()
}

fn log_key_path(config: Option<&std::path::Path>) -> anyhow::Result<(PathBuf, String)> {
    let overrides = crate::config::Overrides {
        database_url: None,
        bind: None,
    };
    let settings = crate::config::Settings::load(config, &overrides)?;
    Ok((settings.keys_dir.join(LOG_KEY_FILE), settings.log.origin))
}

/// Exit status 1 is returned as `Ok(false)`.
pub fn run_log(cmd: LogCommand) -> anyhow::Result<bool> {
    match cmd {
        LogCommand::Vkey { config } => {
            let (path, origin) = log_key_path(config.as_deref())?;
            println!("{}", NoteKey::load(&path, &origin)?.note_verifier().vkey());
            Ok(true)
        }
        LogCommand::Keygen { config } => {
            let (path, origin) = log_key_path(config.as_deref())?;
            println!(
                "{}",
                NoteKey::generate(&path, &origin)?.note_verifier().vkey()
            );
            Ok(true)
        }
        LogCommand::Monitor {
            log,
            state,
            log_vkey,
            witnesses,
            quorum,
        } => {
            let log_key =
                Verifier::parse(&log_vkey).map_err(|e| anyhow::anyhow!("--log-vkey: {e}"))?;
            let witnesses = verifiers(&witnesses)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match rt.block_on(monitor::run(&log, &state, &log_key, &witnesses, quorum)) {
                Ok(r) => {
                    for (i, e) in &r.new_entries {
                        println!("{}", monitor::describe(*i, e));
                    }
                    eprintln!(
                        "log consistent: {} -> {} entries, {} cosignatures",
                        r.old_size, r.size, r.cosignatures
                    );
                    Ok(true)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(false)
                }
            }
        }
        LogCommand::CheckProof {
            proof,
            log_vkey,
            witnesses,
            quorum,
            identifier,
            code,
        } => {
            let seal_sha256 = match &code {
                Some(c) => Some(
                    crate::verification::qr::decode_qr_text(c)
                        .map(|cose| hex::encode(super::merkle::sha256(&cose)))
                        .map_err(|_| anyhow::anyhow!("--code: not a licence QR text"))?,
                ),
                None => None,
            };
            let log_key =
                Verifier::parse(&log_vkey).map_err(|e| anyhow::anyhow!("--log-vkey: {e}"))?;
            let witnesses = verifiers(&witnesses)?;
            let text = std::fs::read_to_string(&proof)?;
            match monitor::check_proof(&text, &log_key, &witnesses, quorum) {
                Ok(c)
                    if identifier.as_ref().is_none_or(|i| *i == c.subject)
                        && seal_sha256.as_ref().is_none_or(|h| *h == c.sha256) =>
                {
                    println!("{}", serde_json::to_string(&c)?);
                    Ok(true)
                }
                Ok(c) => {
                    eprintln!(
                        "the proof is about {} (seal {}), not the licence asked",
                        c.subject, c.sha256
                    );
                    Ok(false)
                }
                Err(e) => {
                    eprintln!("not proven: {e}");
                    Ok(false)
                }
            }
        }
    }
}

/// `crosscert witness ...`. `serve` runs the witness's HTTP side until stopped (start-up passes
/// `routes::witness::run`, so that this log module knows nothing of the HTTP layer).
pub fn run_witness(
    cmd: WitnessCommand,
    serve: impl FnOnce(witness::Witness, &str) -> std::io::Result<()>,
) -> anyhow::Result<bool> {
    match cmd {
        WitnessCommand::Keygen { name, out } => {
            let key = NoteKey::generate_named(&out, &name)?;
            println!("{}", key.cosigner_verifier().vkey());
            Ok(true)
        }
        WitnessCommand::Serve {
            key,
            log_vkey,
            state,
            bind,
        } => {
            let key = NoteKey::load_named(&key)?;
            let log = Verifier::parse(&log_vkey).map_err(|e| anyhow::anyhow!("--log-vkey: {e}"))?;
            let w = witness::Witness::open(key, log, &state)?;
            serve(w, &bind)?;
            Ok(true)
        }
    }
}
