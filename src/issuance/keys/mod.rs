//! The key set: a folder with a `keys.toml` manifest naming the root CA, the issuing signers
//! (each with its signing period and status), the hall CA with its hall client certificates,
//! and the server's TLS identity. Loading checks everything a running service relies on and
//! refuses an inconsistent set, naming the file at fault (docs/architecture.md, "Keys and custody").

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Deserialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::pkcs11::{Token, TokenError};
use super::seal::SealError;
use crate::config::Pkcs11Settings;
use crate::verification::cert::{ec_curve, kid_of, Curve, Kid, SignerKey};

mod files;
mod load;
mod report;

pub(super) use files::*;
pub use report::*;
pub const MANIFEST: &str = "keys.toml";

/// Everything that can be wrong with a key set. Each variant names the file (or signer) at
/// fault, because the operator fixing it has nothing else to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: invalid manifest: {reason}")]
    Manifest { path: String, reason: String },
    #[error("{path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("{path}: unusable private key: {reason}")]
    PrivateKey { path: String, reason: String },
    #[error("{path}: private key does not match the certificate {certificate}")]
    KeyMismatch { path: String, certificate: String },
    #[error("signer {name}: {reason}")]
    Signer { name: String, reason: String },
    #[error("{path}: cannot write: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot generate the example key set: {0}")]
    Generate(String),
    #[error("{owner}: the key lives in a PKCS#11 token, but no token is configured: set CROSSCERT_PKCS11_MODULE, CROSSCERT_PKCS11_TOKEN and CROSSCERT_PKCS11_PIN_FILE")]
    NoToken { owner: String },
    #[error("{owner}: {source}")]
    Token { owner: String, source: TokenError },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerStatus {
    /// May make new seals inside its signing period.
    Active,
    /// No longer seals; its seals keep verifying.
    Retired,
    /// Compromised: its seals verify as `signer_revoked`.
    Revoked,
}

impl fmt::Display for SignerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignerStatus::Active => "active",
            SignerStatus::Retired => "retired",
            SignerStatus::Revoked => "revoked",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    root: PathBuf,
    #[serde(default)]
    example: bool,
    #[serde(default, rename = "signer")]
    signers: Vec<SignerEntry>,
    hall_ca: Option<CertEntry>,
    #[serde(default, rename = "hall_client")]
    hall_clients: Vec<HallClientEntry>,
    server: Option<CertEntry>,
    /// The key that signs the trust list and the status lists (`list_signer.rs`).
    list_signer: Option<CertEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerEntry {
    name: String,
    certificate: PathBuf,
    private_key: Option<PathBuf>,
    /// The label of the private key in the configured PKCS#11 token (instead of a file).
    pkcs11_label: Option<String>,
    sign_from: DateTime<Utc>,
    sign_until: DateTime<Utc>,
    status: SignerStatus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertEntry {
    pub(super) certificate: PathBuf,
    pub(super) private_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HallClientEntry {
    hall: String,
    certificate: PathBuf,
    private_key: Option<PathBuf>,
}

/// A certificate file as loaded: where it came from and its DER and PEM forms.
#[derive(Debug, Clone)]
pub struct CertFile {
    pub path: PathBuf,
    pub der: Vec<u8>,
    pub pem: String,
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// An issuing signer: its certificate, public key and, if this set may seal with it, its
/// private key. `Debug` never prints the private key.
pub struct Signer {
    pub name: String,
    pub certificate: CertFile,
    pub kid: Kid,
    pub public_key: SignerKey,
    pub sign_from: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    pub status: SignerStatus,
    /// Where the private key is kept, as the manifest says (`None`: verify only).
    pub key_ref: Option<KeyRef>,
    key: Option<SigningKey>,
}

/// Where a private key is kept, as a manifest entry names it: `private_key = "file.pem"` or
/// `pkcs11_label = "label"`. Any key kind of the set (signers today, others beside them)
/// names its key this way and opens it with [`open_signing_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    File(PathBuf),
    Pkcs11 { label: String },
}

impl KeyRef {
    fn from_entry(
        owner: &str,
        private_key: Option<PathBuf>,
        pkcs11_label: Option<String>,
    ) -> Result<Option<KeyRef>, KeyError> {
        match (private_key, pkcs11_label) {
            (None, None) => Ok(None),
            (Some(f), None) => Ok(Some(KeyRef::File(f))),
            (None, Some(label)) if !label.trim().is_empty() => Ok(Some(KeyRef::Pkcs11 { label })),
            (None, Some(_)) => Err(KeyError::Signer {
                name: owner.to_string(),
                reason: "pkcs11_label is empty".into(),
            }),
            (Some(_), Some(_)) => Err(KeyError::Signer {
                name: owner.to_string(),
                reason: "names both a private_key file and a pkcs11_label: one key, one place"
                    .into(),
            }),
        }
    }

    pub fn custody(&self) -> Custody {
        match self {
            KeyRef::File(_) => Custody::File,
            KeyRef::Pkcs11 { .. } => Custody::Pkcs11,
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::File(p) => write!(f, "file {}", p.display()),
            KeyRef::Pkcs11 { label } => write!(f, "PKCS#11 token, label {label}"),
        }
    }
}

/// Who holds a private key: a PEM file crosscert reads, or a PKCS#11 token that signs for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    File,
    Pkcs11,
}

impl fmt::Display for Custody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Custody::File => "file",
            Custody::Pkcs11 => "pkcs11",
        })
    }
}

/// An opened P-256 private key: in memory (ring), or a handle on a key in a token.
pub enum SigningKey {
    File(Box<EcdsaKeyPair>),
    Pkcs11 { token: Arc<Token>, label: String },
}

impl SigningKey {
    pub fn custody(&self) -> Custody {
        match self {
            SigningKey::File(_) => Custody::File,
            SigningKey::Pkcs11 { .. } => Custody::Pkcs11,
        }
    }

    /// ES256 over `message`: SHA-256, then ECDSA P-256, r||s (64 bytes).
    pub(crate) fn sign_es256(
        &self,
        rng: &SystemRandom,
        message: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        match self {
            SigningKey::File(kp) => kp
                .sign(rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| SealError::Crypto),
            SigningKey::Pkcs11 { token, label } => {
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                let mut d = [0u8; 32];
                d.copy_from_slice(digest.as_ref());
                token
                    .sign_digest(label, &d)
                    .map_err(|e| SealError::Token(e.to_string()))
            }
        }
    }
}

/// How [`KeySet::load_with`] treats private keys.
#[derive(Debug, Clone, Copy)]
pub enum KeyAccess<'a> {
    /// Open every private key: files from the folder, token keys through these settings.
    Open { pkcs11: Option<&'a Pkcs11Settings> },
    /// Certificates, periods and where keys are kept, without opening any private key
    /// (listing, ceremony commands on a machine without the token).
    PublicOnly,
}

/// The token of one load, opened on first need and shared by every key in it.
struct Tokens<'a> {
    settings: Option<&'a Pkcs11Settings>,
    token: Option<Arc<Token>>,
}

impl Tokens<'_> {
    fn get(&mut self, owner: &str) -> Result<Arc<Token>, KeyError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let settings = self.settings.ok_or_else(|| KeyError::NoToken {
            owner: owner.to_string(),
        })?;
        let token = Token::open(settings).map_err(|source| KeyError::Token {
            owner: owner.to_string(),
            source,
        })?;
        self.token = Some(token.clone());
        Ok(token)
    }
}

/// Opens the private key `key_ref` names for the certificate whose public key is
/// `public_key` (65-byte P-256 point), refusing a key that does not match it. A token key
/// must also be sensitive and not extractable, and is proved by a test signature.
fn open_signing_key(
    dir: &Path,
    owner: &str,
    key_ref: &KeyRef,
    certificate: &CertFile,
    public_key: &[u8],
    tokens: &mut Tokens<'_>,
) -> Result<SigningKey, KeyError> {
    match key_ref {
        KeyRef::File(file) => {
            let kp = p256_file_key(&dir.join(file), public_key, &certificate.path)?;
            Ok(SigningKey::File(Box::new(kp)))
        }
        KeyRef::Pkcs11 { label } => {
            let token = tokens.get(owner)?;
            let token_err = |source: TokenError| KeyError::Token {
                owner: owner.to_string(),
                source,
            };
            let attrs = token.key_attributes(label).map_err(token_err)?;
            if !attrs.sensitive || attrs.extractable {
                return Err(token_err(TokenError::Key {
                    token: token.label().to_string(),
                    label: label.clone(),
                    reason: "may leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true): make the key again with `crosscert keys new-signer`".into(),
                }));
            }
            let probe = b"crosscert: does this token key match its certificate?";
            let key = SigningKey::Pkcs11 {
                token: token.clone(),
                label: label.clone(),
            };
            let signature =
                key.sign_es256(&SystemRandom::new(), probe)
                    .map_err(|e| KeyError::Signer {
                        name: owner.to_string(),
                        reason: format!("the token key {label} cannot sign: {e}"),
                    })?;
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                public_key,
            )
            .verify(probe, &signature)
            .map_err(|_| KeyError::KeyMismatch {
                path: format!("PKCS#11 token {} key {label}", token.label()),
                certificate: show(&certificate.path),
            })?;
            Ok(key)
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("kid", &hex::encode(self.kid))
            .field("status", &self.status)
            .field("sign_from", &self.sign_from)
            .field("sign_until", &self.sign_until)
            .field("key_ref", &self.key_ref)
            .field("has_private_key", &self.key.is_some())
            .finish()
    }
}

impl Signer {
    pub fn has_private_key(&self) -> bool {
        self.key.is_some()
    }

    /// Who holds the private key, if this set may seal with it.
    pub fn custody(&self) -> Option<Custody> {
        self.key.as_ref().map(SigningKey::custody)
    }

    pub fn curve(&self) -> Curve {
        self.public_key.curve()
    }

    /// Inside its signing period at `now` (both ends included).
    pub fn in_period(&self, now: DateTime<Utc>) -> bool {
        self.sign_from <= now && now <= self.sign_until
    }

    pub(crate) fn signing_key(&self) -> Option<&SigningKey> {
        self.key.as_ref()
    }
}

/// A hall agent's client certificate (mutual TLS), issued by the hall CA.
#[derive(Debug, Clone)]
pub struct HallClient {
    pub hall: String,
    pub certificate: CertFile,
    pub private_key: Option<PathBuf>,
}

/// The server's TLS certificate and key files, for `serve --tls-cert --tls-key`.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub certificate: CertFile,
    pub private_key: Option<PathBuf>,
}

#[derive(Debug)]
pub struct KeySet {
    dir: PathBuf,
    example: bool,
    root: CertFile,
    signers: Vec<Signer>,
    hall_ca: Option<CertFile>,
    hall_clients: Vec<HallClient>,
    server: Option<ServerIdentity>,
    list_signer: Option<super::list_signer::ListSigner>,
}
