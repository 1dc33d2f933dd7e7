//! The key set: a folder with a `keys.toml` manifest naming the root CA, the issuing signers
//! (each with its signing period and status), the hall CA with its hall client certificates,
//! and the server's TLS identity. Loading checks everything a running service relies on and
//! refuses an inconsistent set, naming the file at fault (DESIGN §5).

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
            let key_path = dir.join(file);
            let pkcs8 = private_key_pkcs8(&key_path)?;
            let kp = EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &pkcs8,
                &SystemRandom::new(),
            )
            .map_err(|e| KeyError::PrivateKey {
                path: show(&key_path),
                reason: format!("not a P-256 PKCS#8 key ({e})"),
            })?;
            if kp.public_key().as_ref() != public_key {
                return Err(KeyError::KeyMismatch {
                    path: show(&key_path),
                    certificate: show(&certificate.path),
                });
            }
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

pub(super) fn show(path: &Path) -> String {
    path.display().to_string()
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| KeyError::Read {
        path: show(path),
        reason: e.to_string(),
    })
}

fn to_utc(t: &x509_parser::time::ASN1Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Reads and parses a PEM certificate file. The parsed certificate borrows `der`, so the
/// caller gets the owned parts and re-parses where it needs the structure.
pub(super) fn load_cert(path: &Path) -> Result<CertFile, KeyError> {
    let pem = read_text(path)?;
    let cert_err = |reason: String| KeyError::Certificate {
        path: show(path),
        reason,
    };
    let der = crate::verification::trust::certificate_der_from_pem(&pem).map_err(cert_err)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|e| cert_err(format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(cert_err("trailing bytes after the certificate".into()));
    }
    let subject = cert.subject().to_string();
    let not_before = to_utc(&cert.validity().not_before);
    let not_after = to_utc(&cert.validity().not_after);
    Ok(CertFile {
        path: path.to_path_buf(),
        der,
        pem,
        subject,
        not_before,
        not_after,
    })
}

pub(super) fn parse(cert: &CertFile) -> Result<X509Certificate<'_>, KeyError> {
    X509Certificate::from_der(&cert.der)
        .map(|(_, c)| c)
        .map_err(|e| KeyError::Certificate {
            path: show(&cert.path),
            reason: format!("not an X.509 certificate: {e}"),
        })
}

pub(super) fn require_signed_by(
    cert: &CertFile,
    issuer: &CertFile,
    issuer_role: &str,
) -> Result<(), KeyError> {
    let c = parse(cert)?;
    let i = parse(issuer)?;
    c.verify_signature(Some(i.public_key()))
        .map_err(|_| KeyError::Certificate {
            path: show(&cert.path),
            reason: format!(
                "not signed by the {issuer_role} {} (wrong chain)",
                show(&issuer.path)
            ),
        })
}

fn require_ca(cert: &CertFile, role: &str) -> Result<(), KeyError> {
    let c = parse(cert)?;
    let err = |reason: String| KeyError::Certificate {
        path: show(&cert.path),
        reason,
    };
    if !c.is_ca() {
        return Err(err(format!("the {role} is not a CA certificate")));
    }
    if let Ok(Some(ku)) = c.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(err(format!("the {role}'s key usage lacks keyCertSign")));
        }
    }
    Ok(())
}

/// PEM private key -> PKCS#8 DER. `EC PRIVATE KEY` (SEC 1, as `openssl ecparam -genkey`
/// writes it) is wrapped into PKCS#8 because ring reads nothing else.
pub(super) fn private_key_pkcs8(path: &Path) -> Result<Vec<u8>, KeyError> {
    let text = read_text(path)?;
    let err = |reason: &str| KeyError::PrivateKey {
        path: show(path),
        reason: reason.to_owned(),
    };
    // OpenSSL may put an `EC PARAMETERS` block first; take the key block.
    let blocks = ::pem::parse_many(&text).map_err(|_| err("not PEM"))?;
    let block = blocks
        .into_iter()
        .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "EC PRIVATE KEY")
        .ok_or_else(|| err("no PRIVATE KEY or EC PRIVATE KEY block"))?;
    if block.tag() == "PRIVATE KEY" {
        Ok(block.into_contents())
    } else {
        Ok(sec1_p256_to_pkcs8(block.contents()))
    }
}

/// PKCS#8 `PrivateKeyInfo { version 0, AlgorithmIdentifier { id-ecPublicKey, prime256v1 },
/// OCTET STRING { ECPrivateKey } }` around a SEC 1 key. ring then checks that the curve
/// inside (if named) agrees and that the embedded public key matches the private scalar.
fn sec1_p256_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALG: &[u8] = &[
        0x02, 0x01, 0x00, // INTEGER 0
        0x30, 0x13, // AlgorithmIdentifier
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
    ];
    let mut body = VERSION_AND_ALG.to_vec();
    der_tlv(&mut body, 0x04, sec1);
    let mut out = Vec::with_capacity(body.len() + 4);
    der_tlv(&mut out, 0x30, &body);
    out
}

fn der_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

/// Checks that the key file (any algorithm rcgen reads) holds the certificate's key pair.
fn require_matching_key(key_path: &Path, cert: &CertFile) -> Result<(), KeyError> {
    let text = read_text(key_path)?;
    let key = rcgen::KeyPair::from_pem(&text)
        .or_else(|_| {
            // An `EC PRIVATE KEY` file: rcgen wants PKCS#8.
            let der =
                private_key_pkcs8(key_path).map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
            let pem = ::pem::encode(&::pem::Pem::new("PRIVATE KEY", der));
            rcgen::KeyPair::from_pem(&pem)
        })
        .map_err(|e| KeyError::PrivateKey {
            path: show(key_path),
            reason: e.to_string(),
        })?;
    let c = parse(cert)?;
    if key.public_key_raw() != c.public_key().subject_public_key.data.as_ref() {
        return Err(KeyError::KeyMismatch {
            path: show(key_path),
            certificate: show(&cert.path),
        });
    }
    Ok(())
}

impl KeySet {
    /// Loads `dir/keys.toml` and every file it names, checking: the root is a CA and signs
    /// itself; every signer chains to the root, has key usage digitalSignature, an ECDSA
    /// P-256 key (P-384 only for verify-only signers), a private key matching its certificate,
    /// and a certificate valid over its whole signing period; hall clients chain to the hall
    /// CA; the server certificate chains to the hall CA or the root; every private key
    /// matches its certificate.
    pub fn load(dir: &Path) -> Result<KeySet, KeyError> {
        KeySet::load_with(dir, KeyAccess::Open { pkcs11: None })
    }

    /// [`KeySet::load`], with token keys opened through `access` (or no key opened at all).
    pub fn load_with(dir: &Path, access: KeyAccess<'_>) -> Result<KeySet, KeyError> {
        let mut tokens = Tokens {
            settings: match access {
                KeyAccess::Open { pkcs11 } => pkcs11,
                KeyAccess::PublicOnly => None,
            },
            token: None,
        };
        let open_keys = matches!(access, KeyAccess::Open { .. });
        let manifest_path = dir.join(MANIFEST);
        let text = read_text(&manifest_path)?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| KeyError::Manifest {
            path: show(&manifest_path),
            reason: e.to_string(),
        })?;

        let root = load_cert(&dir.join(&manifest.root))?;
        require_ca(&root, "root")?;
        require_signed_by(&root, &root, "root itself")?;

        let mut signers: Vec<Signer> = Vec::with_capacity(manifest.signers.len());
        for entry in manifest.signers {
            let signer = load_signer(dir, entry, &root, open_keys, &mut tokens)?;
            if let Some(other) = signers
                .iter()
                .find(|s| s.name == signer.name || s.certificate.der == signer.certificate.der)
            {
                return Err(KeyError::Signer {
                    name: signer.name,
                    reason: format!("duplicates signer {} (name or certificate)", other.name),
                });
            }
            signers.push(signer);
        }

        let hall_ca = match &manifest.hall_ca {
            Some(entry) => {
                let ca = load_cert(&dir.join(&entry.certificate))?;
                require_ca(&ca, "hall CA")?;
                // Either its own root or issued by the seal root.
                if require_signed_by(&ca, &ca, "hall CA itself").is_err() {
                    require_signed_by(&ca, &root, "root")?;
                }
                if let Some(key) = &entry.private_key {
                    require_matching_key(&dir.join(key), &ca)?;
                }
                Some(ca)
            }
            None => None,
        };

        let mut hall_clients = Vec::with_capacity(manifest.hall_clients.len());
        for entry in manifest.hall_clients {
            let cert_path = dir.join(&entry.certificate);
            let Some(ca) = &hall_ca else {
                return Err(KeyError::Manifest {
                    path: show(&manifest_path),
                    reason: format!(
                        "hall client {} needs a [hall_ca] to chain to",
                        show(&cert_path)
                    ),
                });
            };
            let certificate = load_cert(&cert_path)?;
            require_signed_by(&certificate, ca, "hall CA")?;
            let c = parse(&certificate)?;
            let names_hall = c
                .subject()
                .iter_common_name()
                .any(|cn| cn.as_str().is_ok_and(|s| s.contains(entry.hall.as_str())));
            if !names_hall {
                return Err(KeyError::Certificate {
                    path: show(&cert_path),
                    reason: format!("the subject CN does not name hall {}", entry.hall),
                });
            }
            let private_key = entry.private_key.map(|k| dir.join(k));
            if let Some(key) = &private_key {
                require_matching_key(key, &certificate)?;
            }
            hall_clients.push(HallClient {
                hall: entry.hall,
                certificate,
                private_key,
            });
        }

        let server = match manifest.server {
            Some(entry) => {
                let certificate = load_cert(&dir.join(&entry.certificate))?;
                let by_hall_ca = hall_ca
                    .as_ref()
                    .is_some_and(|ca| require_signed_by(&certificate, ca, "hall CA").is_ok());
                if !by_hall_ca {
                    require_signed_by(&certificate, &root, "root or the hall CA")?;
                }
                let private_key = entry.private_key.map(|k| dir.join(k));
                if let Some(key) = &private_key {
                    require_matching_key(key, &certificate)?;
                }
                Some(ServerIdentity {
                    certificate,
                    private_key,
                })
            }
            None => None,
        };

        let list_signer = match &manifest.list_signer {
            Some(entry) => Some(super::list_signer::ListSigner::load(dir, entry, &root)?),
            None => None,
        };

        Ok(KeySet {
            dir: dir.to_path_buf(),
            example: manifest.example,
            root,
            signers,
            hall_ca,
            hall_clients,
            server,
            list_signer,
        })
    }

    /// The key that signs the trust list and the status lists, if the set has one.
    pub fn list_signer(&self) -> Option<&super::list_signer::ListSigner> {
        self.list_signer.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An example set (`example = true`): the service logs a warning when it runs on one.
    pub fn is_example(&self) -> bool {
        self.example
    }

    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    pub fn root(&self) -> &CertFile {
        &self.root
    }

    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    pub fn hall_ca(&self) -> Option<&CertFile> {
        self.hall_ca.as_ref()
    }

    pub fn hall_clients(&self) -> &[HallClient] {
        &self.hall_clients
    }

    pub fn server(&self) -> Option<&ServerIdentity> {
        self.server.as_ref()
    }

    /// The signer for new seals at `now`: status active, a private key, `now` inside its
    /// signing period and inside its certificate's validity; of several, the latest
    /// `sign_from` (the newest key takes over as soon as its period starts).
    pub fn active_signer(&self, now: DateTime<Utc>) -> Result<&Signer, SealError> {
        self.signers
            .iter()
            .filter(|s| {
                s.status == SignerStatus::Active
                    && s.key.is_some()
                    && s.in_period(now)
                    && s.certificate.not_before <= now
                    && now <= s.certificate.not_after
            })
            .max_by_key(|s| s.sign_from)
            .ok_or_else(|| SealError::NoSignerInPeriod {
                reason: self.no_signer_reason(now),
            })
    }

    fn no_signer_reason(&self, now: DateTime<Utc>) -> String {
        if self.signers.is_empty() {
            return "the key set has no signer".into();
        }
        let each: Vec<String> = self
            .signers
            .iter()
            .map(|s| {
                format!(
                    "{} ({}{}, signs {} .. {})",
                    s.name,
                    s.status,
                    if s.key.is_some() {
                        ""
                    } else {
                        ", no private key"
                    },
                    s.sign_from.to_rfc3339(),
                    s.sign_until.to_rfc3339()
                )
            })
            .collect();
        format!(
            "no active signer with a private key has a signing period covering {}: {}",
            now.to_rfc3339(),
            each.join("; ")
        )
    }
}

fn load_signer(
    dir: &Path,
    entry: SignerEntry,
    root: &CertFile,
    open_keys: bool,
    tokens: &mut Tokens<'_>,
) -> Result<Signer, KeyError> {
    let cert_path = dir.join(&entry.certificate);
    let certificate = load_cert(&cert_path)?;
    let cert_err = |reason: String| KeyError::Certificate {
        path: show(&cert_path),
        reason,
    };
    let signer_err = |reason: String| KeyError::Signer {
        name: entry.name.clone(),
        reason,
    };
    require_signed_by(&certificate, root, "root")?;
    let c = parse(&certificate)?;
    match c.key_usage() {
        Ok(Some(ku)) if ku.value.digital_signature() => {}
        Ok(_) => return Err(cert_err("key usage lacks digitalSignature".into())),
        Err(e) => return Err(cert_err(format!("unreadable key usage: {e}"))),
    }
    if c.is_ca() {
        return Err(cert_err("a signer must not be a CA certificate".into()));
    }
    let curve = ec_curve(&c)
        .ok_or_else(|| cert_err("the public key is not ECDSA P-256 (or P-384)".into()))?;
    let spki_key = c.public_key().subject_public_key.data.to_vec();

    if entry.sign_from >= entry.sign_until {
        return Err(signer_err("sign_from is not before sign_until".into()));
    }
    if entry.sign_from < certificate.not_before || entry.sign_until > certificate.not_after {
        return Err(signer_err(format!(
            "the signing period {} .. {} is not inside the certificate's validity {} .. {}",
            entry.sign_from.to_rfc3339(),
            entry.sign_until.to_rfc3339(),
            certificate.not_before.to_rfc3339(),
            certificate.not_after.to_rfc3339()
        )));
    }

    let key_ref = KeyRef::from_entry(&entry.name, entry.private_key, entry.pkcs11_label)?;
    if key_ref.is_some() && curve != Curve::P256 {
        // ES256 sealing is P-256 only; P-384 signers exist to verify older seals.
        return Err(cert_err(
            "a signer with a private key must be P-256 (P-384 is verify-only)".into(),
        ));
    }
    let key = match &key_ref {
        Some(r) if open_keys => Some(open_signing_key(
            dir,
            &format!("signer {}", entry.name),
            r,
            &certificate,
            &spki_key,
            tokens,
        )?),
        _ => None,
    };

    let kid = kid_of(&certificate.der);
    Ok(Signer {
        public_key: SignerKey::from_parts(kid, curve, spki_key),
        kid,
        name: entry.name,
        certificate,
        sign_from: entry.sign_from,
        sign_until: entry.sign_until,
        status: entry.status,
        key_ref,
        key,
    })
}

/// What `crosscert keys check` prints.
#[derive(Debug, Clone)]
pub struct KeyReport {
    lines: Vec<String>,
    /// False when no signer can seal at the time of the check (the service still starts).
    pub can_seal: bool,
}

impl fmt::Display for KeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// `keys check` at the current time.
pub fn check_key_dir(dir: &Path) -> Result<KeyReport, KeyError> {
    check_key_dir_at(dir, Utc::now())
}

/// Loads the set (any inconsistency is the error) and describes it as of `now`.
pub fn check_key_dir_at(dir: &Path, now: DateTime<Utc>) -> Result<KeyReport, KeyError> {
    check_key_dir_with(dir, KeyAccess::Open { pkcs11: None }, now)
}

/// [`check_key_dir_at`] with token keys opened through `access`.
pub fn check_key_dir_with(
    dir: &Path,
    access: KeyAccess<'_>,
    now: DateTime<Utc>,
) -> Result<KeyReport, KeyError> {
    let keys = KeySet::load_with(dir, access)?;
    let mut lines = Vec::new();
    lines.push(format!("key set {} is consistent", show(dir)));
    if keys.is_example() {
        lines.push("WARNING: this is an EXAMPLE key set: never use it in production".into());
    }
    let cert_line = |role: &str, c: &CertFile| {
        format!(
            "{role}: {} [{}] valid {} .. {}",
            show(&c.path),
            c.subject,
            c.not_before.to_rfc3339(),
            c.not_after.to_rfc3339()
        )
    };
    lines.push(cert_line("root", &keys.root));
    for s in &keys.signers {
        lines.push(format!(
            "signer {}: kid {} {} {} ({}), signs {} .. {}, certificate valid until {}",
            s.name,
            hex::encode(s.kid),
            s.curve(),
            s.status,
            match (&s.key_ref, s.has_private_key()) {
                (Some(r), true) => format!("key: {r}"),
                (Some(r), false) => format!("key not opened: {r}"),
                (None, _) => "verify only".to_string(),
            },
            s.sign_from.to_rfc3339(),
            s.sign_until.to_rfc3339(),
            s.certificate.not_after.to_rfc3339()
        ));
    }
    let can_seal = match keys.active_signer(now) {
        Ok(s) => {
            lines.push(format!(
                "sealing now ({}) with signer {}",
                now.to_rfc3339(),
                s.name
            ));
            true
        }
        Err(e) => {
            lines.push(format!("cannot seal now: {e}"));
            false
        }
    };
    if let Some(ca) = &keys.hall_ca {
        lines.push(cert_line("hall CA", ca));
    }
    for h in &keys.hall_clients {
        lines.push(cert_line(
            &format!("hall client {}", h.hall),
            &h.certificate,
        ));
    }
    if let Some(s) = &keys.server {
        lines.push(cert_line("server TLS", &s.certificate));
    }
    match &keys.list_signer {
        Some(l) => lines.push(cert_line(
            &format!("list signer (kid {})", hex::encode(l.kid)),
            &l.certificate,
        )),
        None => lines.push("no list signer: the signed trust and status lists are off".into()),
    }
    Ok(KeyReport { lines, can_seal })
}
