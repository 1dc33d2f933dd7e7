//! `crosscert keys ...`: the example set, the check, and the key ceremony's commands. Each
//! ceremony command says what it is about to do, does it, and prints the record it kept.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::ceremony::{self, CeremonyRecord, SigningPeriod};
use super::keys::KeyAccess;
use crate::config::{Overrides, Settings};

#[derive(Subcommand, Debug, Clone)]
pub enum KeysCommand {
    /// Write an example key set (root, signers, hall CA and clients, server TLS, manifest)
    GenExample {
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the configured key set (CROSSCERT_KEYS_DIR, default keys-example) without
    /// starting; token keys are opened through CROSSCERT_PKCS11_*
    Check {
        /// Check this folder instead of the configured one
        #[arg(long)]
        keys_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Ceremony: make the offline root (key encrypted under the passphrase) and the keys
    /// folder's manifest
    InitRoot {
        #[arg(long)]
        out: PathBuf,
        /// File whose first line is the passphrase (at least 12 characters)
        #[arg(long)]
        passphrase_file: PathBuf,
        /// The root certificate's common name
        #[arg(long, default_value = "crosscert root CA")]
        name: String,
    },
    /// Ceremony: generate a signer key pair inside the configured PKCS#11 token and write
    /// its CSR
    NewSigner {
        /// The key's label in the token, and the signer's name
        #[arg(long)]
        label: String,
        /// First day of the signing period (YYYY-MM-DD, UTC)
        #[arg(long)]
        not_before: String,
        /// Last day of the signing period (YYYY-MM-DD, UTC)
        #[arg(long)]
        not_after: String,
        #[arg(long)]
        csr_out: PathBuf,
    },
    /// Ceremony: issue a signer certificate from a CSR with the offline root
    SignSigner {
        #[arg(long)]
        root_dir: PathBuf,
        #[arg(long)]
        passphrase_file: PathBuf,
        #[arg(long)]
        csr: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Ceremony: add a signer certificate to a keys folder's manifest (its key in the token)
    InstallSigner {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        keys_dir: PathBuf,
    },
    /// End a signer's signing period at a date (its seals keep verifying)
    Retire {
        /// The signer's kid (hex, as `keys list` shows it)
        #[arg(long)]
        kid: String,
        /// When it stops sealing: YYYY-MM-DD (start of that day, UTC) or an RFC 3339 time
        #[arg(long)]
        at: String,
        /// The keys folder (else CROSSCERT_KEYS_DIR)
        #[arg(long)]
        keys_dir: Option<PathBuf>,
    },
    /// List the signers: kid, label, where the key is, signing period, state
    List {
        /// The keys folder (else CROSSCERT_KEYS_DIR)
        #[arg(long)]
        keys_dir: Option<PathBuf>,
    },
}

fn settings(config: Option<&Path>) -> anyhow::Result<Settings> {
    Ok(Settings::load(config, &Overrides::default())?)
}

fn done(rec: &CeremonyRecord, dir: &Path) {
    eprint!("{rec}");
    eprintln!(
        "recorded in {} and {}",
        dir.join(ceremony::AUDIT_FILE).display(),
        dir.join(ceremony::LOG_FILE).display()
    );
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match command {
        KeysCommand::GenExample { out } => {
            super::generate_example_set(&out, now)?;
            eprintln!(
                "example key set written to {} (never for production)",
                out.display()
            );
        }
        KeysCommand::Check { keys_dir, config } => {
            let settings = settings(config.as_deref())?;
            let dir = keys_dir.unwrap_or(settings.keys_dir);
            let report = super::keys::check_key_dir_with(
                &dir,
                KeyAccess::Open {
                    pkcs11: settings.pkcs11.as_ref(),
                },
                now,
            )?;
            print!("{report}");
            if !report.can_seal {
                eprintln!("warning: no signer may seal now; the service would start but answer 503 to issuing");
            }
        }
        KeysCommand::InitRoot {
            out,
            passphrase_file,
            name,
        } => {
            eprintln!(
                "[1/3] generating the root key (P-256) and its self-signed certificate in {}",
                out.display()
            );
            eprintln!("[2/3] encrypting the root key under the passphrase (argon2id, AES-256-GCM)");
            let rec = ceremony::init_root(&out, &passphrase_file, &name, now)?;
            eprintln!(
                "[3/3] manifest written: {}",
                out.join(super::keys::MANIFEST).display()
            );
            done(&rec, &out);
            eprintln!(
                "keep {} offline; it is needed only by `keys sign-signer`",
                out.join(ceremony::ROOT_KEY).display()
            );
        }
        KeysCommand::NewSigner {
            label,
            not_before,
            not_after,
            csr_out,
        } => {
            let settings = settings(None)?;
            let period = SigningPeriod::from_dates(&not_before, &not_after)?;
            eprintln!(
                "[1/2] generating signer key {label} inside the PKCS#11 token (sensitive, not extractable)"
            );
            let rec =
                ceremony::new_signer(settings.pkcs11.as_ref(), &label, period, &csr_out, now)?;
            eprintln!("[2/2] CSR written: {}", csr_out.display());
            let dir = csr_out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            done(&rec, dir);
        }
        KeysCommand::SignSigner {
            root_dir,
            passphrase_file,
            csr,
            out,
        } => {
            eprintln!(
                "[1/2] opening the root key in {} and checking {}",
                root_dir.display(),
                csr.display()
            );
            let rec = ceremony::sign_signer(&root_dir, &passphrase_file, &csr, &out, now)?;
            eprintln!("[2/2] signer certificate written: {}", out.display());
            done(&rec, &root_dir);
        }
        KeysCommand::InstallSigner { cert, keys_dir } => {
            eprintln!(
                "[1/1] adding {} to {}",
                cert.display(),
                keys_dir.join(super::keys::MANIFEST).display()
            );
            let rec = ceremony::install_signer(&cert, &keys_dir, now)?;
            done(&rec, &keys_dir);
            eprintln!(
                "restart `crosscert serve` with CROSSCERT_KEYS_DIR={} to seal with it",
                keys_dir.display()
            );
        }
        KeysCommand::Retire { kid, at, keys_dir } => {
            let dir = match keys_dir {
                Some(d) => d,
                None => settings(None)?.keys_dir,
            };
            let at = ceremony::parse_instant(&at, "--at")?;
            let rec = ceremony::retire(&dir, &kid, at, now)?;
            done(&rec, &dir);
            eprintln!("restart `crosscert serve` for the change to take effect");
        }
        KeysCommand::List { keys_dir } => {
            let dir = match keys_dir {
                Some(d) => d,
                None => settings(None)?.keys_dir,
            };
            let signers = ceremony::list(&dir, now)?;
            println!(
                "{:<16}  {:<20}  {:<8}  {:<41}  key",
                "kid", "label", "state", "signing period"
            );
            for s in &signers {
                println!(
                    "{:<16}  {:<20}  {:<8}  {} .. {}  {}",
                    s.kid,
                    s.label,
                    s.state,
                    s.sign_from.format("%Y-%m-%dT%H:%M:%SZ"),
                    s.sign_until.format("%Y-%m-%dT%H:%M:%SZ"),
                    s.key
                );
            }
            eprintln!("{} signer(s) in {}", signers.len(), dir.display());
        }
    }
    Ok(())
}
