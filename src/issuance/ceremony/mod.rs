//! The key ceremony: the offline root (`init-root`), a signer key made inside the token with its
//! CSR (`new-signer`), the root issuing the signer certificate (`sign-signer`), the manifest
//! taking it in (`install-signer`), retirement and listing. Every step appends a record to the
//! folder's `audit.jsonl` and a paragraph to its human-readable `ceremony.log`.
//!
//! A signer's signing period travels in its CSR and certificate as the X.509
//! PrivateKeyUsagePeriod extension (RFC 5280 4.2.1.4, as ICAO document signers carry it), so
//! `sign-signer` and `install-signer` need nothing but the files they are given.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PublicKeyData, SignatureAlgorithm, SubjectPublicKeyInfo,
    PKCS_ECDSA_P256_SHA256,
};
use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use x509_parser::prelude::FromDer;

use super::keys::{KeyAccess, KeyError, KeySet, SignerStatus, MANIFEST};
use super::pkcs11::{Token, TokenError};
use crate::config::Pkcs11Settings;
use crate::verification::cert::kid_of;

mod init_root;
mod install;
mod new_signer;
mod period;
mod root_key;
mod sign_signer;
#[cfg(test)]
mod tests;

pub use init_root::*;
pub use install::*;
pub use new_signer::*;
pub use period::*;
pub use root_key::*;
pub use sign_signer::*;

pub const ROOT_CERT: &str = "root.pem";
pub const ROOT_KEY: &str = "root.key.pem";
pub const AUDIT_FILE: &str = "audit.jsonl";
pub const LOG_FILE: &str = "ceremony.log";
const ROOT_YEARS: i32 = 30;
const MIN_PASSPHRASE: usize = 12;
/// PrivateKeyUsagePeriod (id-ce 16).
const PKUP_OID: &[u64] = &[2, 5, 29, 16];
const PKUP_OID_STR: &str = "2.5.29.16";
const ENCRYPTED_TAG: &str = "CROSSCERT ENCRYPTED PRIVATE KEY";
/// argon2id cost for the root key's passphrase (RFC 9106's second recommendation).
const KDF_MEMORY_KIB: u32 = 65_536;
const KDF_ITERATIONS: u32 = 3;
const KDF_LANES: u32 = 1;

/// Why a ceremony step refused or failed. `Input` names the command-line option at fault.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("{option}: {reason}")]
    Input {
        option: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("cannot make the certificate: {0}")]
    Generate(String),
}

fn input(option: &'static str, reason: impl Into<String>) -> CeremonyError {
    CeremonyError::Input {
        option,
        reason: reason.into(),
    }
}

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> CeremonyError + '_ {
    move |e| CeremonyError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn gen(e: rcgen::Error) -> CeremonyError {
    CeremonyError::Generate(e.to_string())
}

fn read(path: &Path, option: &'static str) -> Result<String, CeremonyError> {
    std::fs::read_to_string(path)
        .map_err(|e| input(option, format!("cannot read {}: {e}", path.display())))
}

fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), CeremonyError> {
    let mut options = std::fs::OpenOptions::new();
    // Ceremony outputs are never overwritten: a second run must not destroy the first.
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).map_err(file_err(path))?;
    f.write_all(contents.as_bytes()).map_err(file_err(path))
}

/// What a step did, for the operator (printed) and the record (kept).
#[derive(Debug, Clone, Serialize)]
pub struct CeremonyRecord {
    pub at: DateTime<Utc>,
    /// Past tense: RootCreated, SignerKeyGenerated, SignerCertificateIssued, SignerInstalled,
    /// SignerRetired.
    pub action: &'static str,
    pub operator: String,
    pub subject: String,
    pub details: Vec<(String, String)>,
}

impl fmt::Display for CeremonyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {} by {}: {}",
            self.at.to_rfc3339(),
            self.action,
            self.operator,
            self.subject
        )?;
        for (k, v) in &self.details {
            writeln!(f, "    {k}: {v}")?;
        }
        Ok(())
    }
}

fn operator() -> String {
    std::env::var("CROSSCERT_OPERATOR")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

fn record(
    dir: &Path,
    at: DateTime<Utc>,
    action: &'static str,
    subject: String,
    details: Vec<(&str, String)>,
) -> Result<CeremonyRecord, CeremonyError> {
    let rec = CeremonyRecord {
        at,
        action,
        operator: operator(),
        subject,
        details: details
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    let append = |name: &str, text: String| -> Result<(), CeremonyError> {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(file_err(&path))?;
        f.write_all(text.as_bytes()).map_err(file_err(&path))?;
        f.sync_all().map_err(file_err(&path))
    };
    let json = serde_json::to_string(&rec).map_err(|e| CeremonyError::File {
        path: dir.join(AUDIT_FILE).display().to_string(),
        reason: e.to_string(),
    })?;
    append(AUDIT_FILE, format!("{json}\n"))?;
    append(LOG_FILE, format!("{rec}\n"))?;
    Ok(rec)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
