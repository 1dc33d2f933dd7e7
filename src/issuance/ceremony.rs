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

// ---- the passphrase-encrypted root key ----------------------------------------------------

/// The first line of the passphrase file; at least 12 characters.
pub fn read_passphrase(path: &Path) -> Result<String, CeremonyError> {
    let text = read(path, "--passphrase-file")?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.chars().count() < MIN_PASSPHRASE {
        return Err(input(
            "--passphrase-file",
            format!("the passphrase must be at least {MIN_PASSPHRASE} characters"),
        ));
    }
    Ok(line.to_string())
}

fn kdf(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], CeremonyError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| CeremonyError::Generate(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| CeremonyError::Generate(format!("argon2: {e}")))?;
    Ok(key)
}

/// PKCS#8 DER -> PEM `CROSSCERT ENCRYPTED PRIVATE KEY`: version 1 | argon2id m, t, p (u32 BE)
/// | salt 16 | nonce 12 | AES-256-GCM(ciphertext || tag), the header bytes authenticated.
pub fn encrypt_key(pkcs8: &[u8], passphrase: &str) -> Result<String, CeremonyError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.fill(&mut salt)
        .and_then(|()| rng.fill(&mut nonce))
        .map_err(|_| CeremonyError::Generate("no randomness".into()))?;
    let mut header = vec![1u8];
    for v in [KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_LANES] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let key = kdf(passphrase, &salt, KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_LANES)?;
    let sealing = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key)
            .map_err(|_| CeremonyError::Generate("AES key".into()))?,
    );
    let mut data = pkcs8.to_vec();
    sealing
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&header),
            &mut data,
        )
        .map_err(|_| CeremonyError::Generate("encryption failed".into()))?;
    header.extend_from_slice(&data);
    Ok(::pem::encode(&::pem::Pem::new(ENCRYPTED_TAG, header)))
}

/// The inverse of [`encrypt_key`]; a wrong passphrase is told apart from a damaged file only
/// as far as AES-GCM can: both fail authentication.
pub fn decrypt_key(
    pem_text: &str,
    passphrase: &str,
    path: &Path,
) -> Result<Vec<u8>, CeremonyError> {
    let bad = |reason: &str| CeremonyError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let block = ::pem::parse(pem_text).map_err(|_| bad("not PEM"))?;
    if block.tag() != ENCRYPTED_TAG {
        return Err(bad("not a crosscert encrypted private key"));
    }
    let bytes = block.contents();
    const HEADER: usize = 1 + 12 + 16 + 12;
    if bytes.len() < HEADER + 16 || bytes[0] != 1 {
        return Err(bad("unknown or truncated encrypted key format"));
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (m, t, p) = (u32_at(1), u32_at(5), u32_at(9));
    let salt = &bytes[13..29];
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&bytes[29..41]);
    let key = kdf(passphrase, salt, m, t, p)?;
    let opening = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key).map_err(|_| bad("AES key"))?,
    );
    let mut data = bytes[HEADER..].to_vec();
    let plain = opening
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&bytes[..HEADER]),
            &mut data,
        )
        .map_err(|_| {
            input(
                "--passphrase-file",
                format!("the passphrase does not open {}", path.display()),
            )
        })?;
    Ok(plain.to_vec())
}

// ---- PrivateKeyUsagePeriod ------------------------------------------------------------------

/// A signer's signing period: both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningPeriod {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl SigningPeriod {
    /// `--not-before D1 --not-after D2`: from D1 00:00:00 to D2 23:59:59 UTC.
    pub fn from_dates(not_before: &str, not_after: &str) -> Result<SigningPeriod, CeremonyError> {
        let day = |s: &str, option: &'static str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| input(option, format!("{s:?} is not a date YYYY-MM-DD")))
        };
        let from = day(not_before, "--not-before")?;
        let until = day(not_after, "--not-after")?;
        let from = Utc.from_utc_datetime(&from.and_time(chrono::NaiveTime::MIN));
        let until = Utc.from_utc_datetime(
            &until
                .and_hms_opt(23, 59, 59)
                .ok_or_else(|| input("--not-after", "not a day"))?,
        );
        if from >= until {
            return Err(input("--not-after", "must be after --not-before"));
        }
        Ok(SigningPeriod { from, until })
    }

    /// DER: SEQUENCE { [0] IMPLICIT GeneralizedTime, [1] IMPLICIT GeneralizedTime }.
    fn to_der(self) -> Vec<u8> {
        let mut body = Vec::new();
        for (tag, t) in [(0x80u8, self.from), (0x81, self.until)] {
            let text = t.format("%Y%m%d%H%M%SZ").to_string();
            body.push(tag);
            body.push(text.len() as u8);
            body.extend_from_slice(text.as_bytes());
        }
        let mut out = vec![0x30, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    fn from_der(der: &[u8]) -> Option<SigningPeriod> {
        let body = match der {
            [0x30, len, body @ ..] if *len as usize == body.len() => body,
            _ => return None,
        };
        let time = |tag: u8, b: &[u8]| -> Option<(DateTime<Utc>, usize)> {
            match b {
                [t, 15, rest @ ..] if *t == tag && rest.len() >= 15 => {
                    let text = std::str::from_utf8(&rest[..15]).ok()?;
                    let naive =
                        chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%SZ").ok()?;
                    Some((Utc.from_utc_datetime(&naive), 17))
                }
                _ => None,
            }
        };
        let (from, used) = time(0x80, body)?;
        let (until, used2) = time(0x81, &body[used..])?;
        (used + used2 == body.len() && from < until).then_some(SigningPeriod { from, until })
    }

    fn extension(self) -> CustomExtension {
        CustomExtension::from_oid_content(PKUP_OID, self.to_der())
    }
}

/// The signing period a signer certificate carries.
pub fn period_of_certificate(der: &[u8]) -> Option<SigningPeriod> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == PKUP_OID_STR)?;
    SigningPeriod::from_der(ext.value)
}

// ---- init-root ------------------------------------------------------------------------------

fn name(cn: &str, ou: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, "crosscert");
    if let Some(ou) = ou {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// `keys init-root`: a P-256 root key and self-signed root certificate (`DIR/root.pem`, 30
/// years), the key written encrypted under the passphrase (`DIR/root.key.pem`, mode 0600),
/// and the keys folder's manifest naming the root. Refuses a folder that has a manifest.
pub fn init_root(
    out: &Path,
    passphrase_file: &Path,
    common_name: &str,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    if out.join(MANIFEST).exists() {
        return Err(input(
            "--out",
            format!("{} already holds a key set ({MANIFEST})", out.display()),
        ));
    }
    let passphrase = read_passphrase(passphrase_file)?;
    std::fs::create_dir_all(out).map_err(file_err(out))?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    params.distinguished_name = name(common_name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let start = now.date_naive();
    params.not_before = rcgen::date_time_ymd(
        chrono::Datelike::year(&start),
        chrono::Datelike::month(&start) as u8,
        chrono::Datelike::day(&start) as u8,
    );
    params.not_after = rcgen::date_time_ymd(
        chrono::Datelike::year(&start) + ROOT_YEARS,
        chrono::Datelike::month(&start) as u8,
        chrono::Datelike::day(&start).min(28) as u8,
    );
    let cert = params.self_signed(&key).map_err(gen)?;
    let encrypted = encrypt_key(&key.serialize_der(), &passphrase)?;
    write_new(&out.join(ROOT_KEY), &encrypted, true)?;
    write_new(&out.join(ROOT_CERT), &cert.pem(), false)?;
    let manifest = format!(
        "# crosscert key set, begun by `crosscert keys init-root` on {}.\n\
         # Signers are added by `crosscert keys install-signer`; see ceremony.log.\n\
         root = \"{ROOT_CERT}\"\n",
        now.format("%Y-%m-%d")
    );
    write_new(&out.join(MANIFEST), &manifest, false)?;
    // The server secret pickup codes are stored under (HMAC; not a signing key): the key
    // folder `serve` runs on needs one, and a new folder gets its own.
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    write_new(
        &out.join(crate::distribution::pickup_key::FILE_NAME),
        &format!("{}\n", hex::encode(secret)),
        true,
    )?;
    // The manifest must load as it is.
    KeySet::load_with(out, KeyAccess::PublicOnly)?;
    record(
        out,
        now,
        "RootCreated",
        format!("root {common_name}"),
        vec![
            ("certificate", out.join(ROOT_CERT).display().to_string()),
            ("certificate_sha256", sha256_hex(cert.der())),
            (
                "key",
                format!(
                    "{} (argon2id + AES-256-GCM under the passphrase)",
                    out.join(ROOT_KEY).display()
                ),
            ),
            (
                "valid_until",
                format!("{}", chrono::Datelike::year(&start) + ROOT_YEARS),
            ),
        ],
    )
}

// ---- new-signer -----------------------------------------------------------------------------

/// A token key as rcgen's signer for the CSR (proof of possession): the token signs the
/// SHA-256 digest, rcgen wants the ECDSA signature DER-encoded.
struct TokenCsrKey<'a> {
    token: &'a Token,
    label: &'a str,
    point: Vec<u8>,
}

impl PublicKeyData for TokenCsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for TokenCsrKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, msg);
        let mut d = [0u8; 32];
        d.copy_from_slice(digest.as_ref());
        let rs = self
            .token
            .sign_digest(self.label, &d)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(ecdsa_der(&rs))
    }
}

/// r||s (2 x 32 bytes) -> ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
fn ecdsa_der(rs: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let mut v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

fn check_label(label: &str) -> Result<(), CeremonyError> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(input(
            "--label",
            format!("{label:?}: 1 to 64 characters from A-Z a-z 0-9 - _ ."),
        ))
    }
}

/// `keys new-signer`: a P-256 key pair generated inside the configured token under `label`
/// (never extractable), and a CSR signed by it carrying the signing period.
pub fn new_signer(
    pkcs11: Option<&Pkcs11Settings>,
    label: &str,
    period: SigningPeriod,
    csr_out: &Path,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    check_label(label)?;
    let settings = pkcs11.ok_or_else(|| {
        input(
            "CROSSCERT_PKCS11_MODULE",
            "new-signer makes the key inside a token: set CROSSCERT_PKCS11_MODULE, CROSSCERT_PKCS11_TOKEN and CROSSCERT_PKCS11_PIN_FILE",
        )
    })?;
    if csr_out.exists() {
        return Err(input(
            "--csr-out",
            format!("{} exists already", csr_out.display()),
        ));
    }
    if period.until <= now {
        return Err(input("--not-after", "the signing period is already over"));
    }
    let token = Token::open(&Pkcs11Settings {
        sessions: 1,
        ..settings.clone()
    })?;
    let point = token.generate_p256(label)?;
    let attrs = token.key_attributes(label)?;
    let key = TokenCsrKey {
        token: &token,
        label,
        point,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    params.distinguished_name = name(label, Some("issuing signer"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.custom_extensions = vec![period.extension()];
    let csr = params.serialize_request(&key).map_err(gen)?;
    let pem = csr.pem().map_err(gen)?;
    write_new(csr_out, &pem, false)?;
    let dir = csr_out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    record(
        dir,
        now,
        "SignerKeyGenerated",
        format!("signer {label}"),
        vec![
            ("token", token.label().to_string()),
            ("key_label", label.to_string()),
            (
                "key_attributes",
                format!(
                    "sensitive={} extractable={} never_extractable={} local={}",
                    attrs.sensitive, attrs.extractable, attrs.never_extractable, attrs.local
                ),
            ),
            ("public_key_sha256", sha256_hex(&key.point)),
            (
                "signing_period",
                format!(
                    "{} .. {}",
                    period.from.to_rfc3339(),
                    period.until.to_rfc3339()
                ),
            ),
            ("csr", csr_out.display().to_string()),
        ],
    )
}

// ---- sign-signer ----------------------------------------------------------------------------

/// `keys sign-signer`: checks the CSR (its signature, a P-256 key, a signing period inside the
/// root's validity) and issues the signer certificate with the root key opened by the
/// passphrase: key usage digitalSignature, not a CA, valid from the period's start to the
/// root's end (long-term licences keep verifying), the period copied in.
pub fn sign_signer(
    root_dir: &Path,
    passphrase_file: &Path,
    csr_path: &Path,
    out: &Path,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    if out.exists() {
        return Err(input("--out", format!("{} exists already", out.display())));
    }
    let root_pem = read(&root_dir.join(ROOT_CERT), "--root-dir")?;
    let root_key_pem = read(&root_dir.join(ROOT_KEY), "--root-dir")?;
    let passphrase = read_passphrase(passphrase_file)?;
    let pkcs8 = decrypt_key(&root_key_pem, &passphrase, &root_dir.join(ROOT_KEY))?;
    let root_key = KeyPair::try_from(pkcs8.as_slice()).map_err(gen)?;
    let root_der = crate::verification::trust::certificate_der_from_pem(&root_pem)
        .map_err(|reason| input("--root-dir", reason))?;
    let (_, root_cert) = x509_parser::certificate::X509Certificate::from_der(&root_der)
        .map_err(|e| input("--root-dir", format!("root.pem is not a certificate: {e}")))?;
    if root_key.public_key_raw() != root_cert.public_key().subject_public_key.data.as_ref() {
        return Err(input(
            "--root-dir",
            "root.key.pem does not belong to root.pem",
        ));
    }
    let root_not_after = Utc
        .timestamp_opt(root_cert.validity().not_after.timestamp(), 0)
        .single()
        .ok_or_else(|| input("--root-dir", "the root's validity is out of range"))?
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();

    let csr_text = read(csr_path, "--csr")?;
    let csr_der = ::pem::parse(&csr_text)
        .ok()
        .filter(|b| b.tag() == "CERTIFICATE REQUEST")
        .ok_or_else(|| input("--csr", "not a PEM CERTIFICATE REQUEST"))?
        .into_contents();
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&csr_der)
        .map_err(|e| input("--csr", format!("not a certificate request: {e}")))?;
    csr.verify_signature().map_err(|_| {
        input(
            "--csr",
            "its signature does not verify (no proof of possession)",
        )
    })?;
    let info = &csr.certification_request_info;
    let spki = info.subject_pki.raw;
    let point = info.subject_pki.subject_public_key.data.as_ref();
    let p256 = info
        .subject_pki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .is_some_and(|o| o.to_id_string() == "1.2.840.10045.3.1.7");
    if !p256 || point.len() != 65 {
        return Err(input("--csr", "the key is not ECDSA P-256"));
    }
    let label = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            input(
                "--csr",
                "the subject has no common name (the signer's label)",
            )
        })?;
    check_label(&label).map_err(|_| {
        input(
            "--csr",
            format!("the subject CN {label:?} is not a signer label"),
        )
    })?;
    let mut period = None;
    for attr in info.iter_attributes() {
        if let x509_parser::cri_attributes::ParsedCriAttribute::ExtensionRequest(req) =
            attr.parsed_attribute()
        {
            for ext in &req.extensions {
                if ext.oid.to_id_string() == PKUP_OID_STR {
                    period = SigningPeriod::from_der(ext.value);
                }
            }
        }
    }
    let period = period.ok_or_else(|| {
        input(
            "--csr",
            "it carries no signing period (make it with `crosscert keys new-signer`)",
        )
    })?;
    if period.until > root_not_after {
        return Err(input(
            "--csr",
            format!(
                "the signing period ends {} after the root's validity ({})",
                period.until.to_rfc3339(),
                root_not_after.to_rfc3339()
            ),
        ));
    }

    let issuer = Issuer::from_ca_cert_pem(&root_pem, &root_key).map_err(gen)?;
    let subject_key = SubjectPublicKeyInfo::from_der(spki).map_err(gen)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    params.distinguished_name = name(&label, Some("issuing signer"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions = vec![period.extension()];
    let from = period.from.date_naive();
    params.not_before = rcgen::date_time_ymd(
        chrono::Datelike::year(&from),
        chrono::Datelike::month(&from) as u8,
        chrono::Datelike::day(&from) as u8,
    );
    // Midnight of the root's last day: inside the root's validity whatever its time of day.
    let end = root_not_after.date_naive();
    params.not_after = rcgen::date_time_ymd(
        chrono::Datelike::year(&end),
        chrono::Datelike::month(&end) as u8,
        chrono::Datelike::day(&end) as u8,
    );
    let cert = params.signed_by(&subject_key, &issuer).map_err(gen)?;
    write_new(out, &cert.pem(), false)?;
    record(
        root_dir,
        now,
        "SignerCertificateIssued",
        format!("signer {label}"),
        vec![
            ("kid", hex::encode(kid_of(cert.der()))),
            ("csr_sha256", sha256_hex(&csr_der)),
            ("certificate", out.display().to_string()),
            ("certificate_sha256", sha256_hex(cert.der())),
            (
                "signing_period",
                format!(
                    "{} .. {}",
                    period.from.to_rfc3339(),
                    period.until.to_rfc3339()
                ),
            ),
        ],
    )
}

// ---- install-signer, retire, list -----------------------------------------------------------

fn manifest_table(dir: &Path) -> Result<(PathBuf, toml::Table), CeremonyError> {
    let path = dir.join(MANIFEST);
    let text = read(&path, "--keys-dir")?;
    let table = text
        .parse::<toml::Table>()
        .map_err(|e| CeremonyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok((path, table))
}

/// Writes the manifest through a temporary file and a rename, then proves it still loads;
/// on a refusal the previous manifest is put back.
fn replace_manifest(dir: &Path, path: &Path, text: &str) -> Result<(), CeremonyError> {
    let previous = std::fs::read_to_string(path).map_err(file_err(path))?;
    let tmp = dir.join(format!("{MANIFEST}.new"));
    std::fs::write(&tmp, text).map_err(file_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(file_err(path))?;
    if let Err(e) = KeySet::load_with(dir, KeyAccess::PublicOnly) {
        std::fs::write(path, previous).map_err(file_err(path))?;
        return Err(e.into());
    }
    Ok(())
}

/// `keys install-signer`: copies the certificate into the keys folder and adds a signer to
/// the manifest whose key is the token key of the same label, its period from the
/// certificate. Refuses a certificate the folder's root did not issue, or a name in use.
pub fn install_signer(
    cert_path: &Path,
    keys_dir: &Path,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    let keys = KeySet::load_with(keys_dir, KeyAccess::PublicOnly)?;
    let pem = read(cert_path, "--cert")?;
    let der = crate::verification::trust::certificate_der_from_pem(&pem)
        .map_err(|reason| input("--cert", reason))?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| input("--cert", format!("not a certificate: {e}")))?;
    let (_, root) = x509_parser::certificate::X509Certificate::from_der(&keys.root().der)
        .map_err(|e| input("--keys-dir", format!("the root does not parse: {e}")))?;
    cert.verify_signature(Some(root.public_key()))
        .map_err(|_| {
            input(
                "--cert",
                format!(
                    "not issued by this key set's root {}",
                    keys.root().path.display()
                ),
            )
        })?;
    let period = period_of_certificate(&der).ok_or_else(|| {
        input(
            "--cert",
            "it carries no signing period (issue it with `crosscert keys sign-signer`)",
        )
    })?;
    let label = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            input(
                "--cert",
                "the subject has no common name (the signer's label)",
            )
        })?;
    check_label(&label).map_err(|_| {
        input(
            "--cert",
            format!("the subject CN {label:?} is not a signer label"),
        )
    })?;
    if keys
        .signers()
        .iter()
        .any(|s| s.name == label || s.certificate.der == der)
    {
        return Err(input(
            "--cert",
            format!("signer {label} is installed already"),
        ));
    }
    let file = format!("{label}.pem");
    write_new(&keys_dir.join(&file), &pem, false)?;
    let (path, _) = manifest_table(keys_dir)?;
    let mut text = std::fs::read_to_string(&path).map_err(file_err(&path))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n# installed {} by {}\n[[signer]]\nname = \"{label}\"\ncertificate = \"{file}\"\npkcs11_label = \"{label}\"\nsign_from = \"{}\"\nsign_until = \"{}\"\nstatus = \"active\"\n",
        now.to_rfc3339(),
        operator(),
        period.from.format("%Y-%m-%dT%H:%M:%SZ"),
        period.until.format("%Y-%m-%dT%H:%M:%SZ"),
    ));
    if let Err(e) = replace_manifest(keys_dir, &path, &text) {
        // The certificate copy is not part of the set when the manifest refused it.
        std::fs::remove_file(keys_dir.join(&file)).map_err(file_err(&keys_dir.join(&file)))?;
        return Err(e);
    }
    record(
        keys_dir,
        now,
        "SignerInstalled",
        format!("signer {label}"),
        vec![
            ("kid", hex::encode(kid_of(&der))),
            ("certificate", keys_dir.join(&file).display().to_string()),
            ("key", format!("PKCS#11 token key {label}")),
            (
                "signing_period",
                format!(
                    "{} .. {}",
                    period.from.to_rfc3339(),
                    period.until.to_rfc3339()
                ),
            ),
        ],
    )
}

/// `--at`: a day (its start, UTC) or an RFC 3339 instant.
pub fn parse_instant(s: &str, option: &'static str) -> Result<DateTime<Utc>, CeremonyError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(|d| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)))
        .map_err(|_| {
            input(
                option,
                format!("{s:?} is neither a date YYYY-MM-DD nor an RFC 3339 time"),
            )
        })
}

/// `keys retire`: the signer's signing period ends at `at` (it never seals after it); once
/// `at` has come, its status becomes `retired`. Its seals keep verifying.
pub fn retire(
    keys_dir: &Path,
    kid: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    let keys = KeySet::load_with(keys_dir, KeyAccess::PublicOnly)?;
    let kid = kid.trim().to_ascii_lowercase();
    let signer = keys
        .signers()
        .iter()
        .find(|s| hex::encode(s.kid) == kid)
        .ok_or_else(|| {
            let known: Vec<String> = keys
                .signers()
                .iter()
                .map(|s| format!("{} ({})", hex::encode(s.kid), s.name))
                .collect();
            input(
                "--kid",
                format!("no signer with kid {kid:?} (signers: {})", known.join(", ")),
            )
        })?;
    if signer.status != SignerStatus::Active {
        return Err(input(
            "--kid",
            format!("signer {} is {} already", signer.name, signer.status),
        ));
    }
    if at < signer.sign_from {
        return Err(input(
            "--at",
            format!(
                "before the signer's period starts ({})",
                signer.sign_from.to_rfc3339()
            ),
        ));
    }
    let until = at.min(signer.sign_until);
    let retired_now = until <= now;
    let (path, mut table) = manifest_table(keys_dir)?;
    let entry = table
        .get_mut("signer")
        .and_then(toml::Value::as_array_mut)
        .and_then(|list| {
            list.iter_mut()
                .filter_map(toml::Value::as_table_mut)
                .find(|t| t.get("name").and_then(toml::Value::as_str) == Some(signer.name.as_str()))
        })
        .ok_or_else(|| {
            input(
                "--kid",
                format!("signer {} is not in {}", signer.name, path.display()),
            )
        })?;
    entry.insert(
        "sign_until".into(),
        toml::Value::String(until.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    if retired_now {
        entry.insert("status".into(), toml::Value::String("retired".into()));
    }
    let body = toml::to_string(&table).map_err(|e| CeremonyError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let text = format!(
        "# crosscert key set; rewritten by `crosscert keys retire` on {} (see ceremony.log).\n{body}",
        now.to_rfc3339()
    );
    replace_manifest(keys_dir, &path, &text)?;
    record(
        keys_dir,
        now,
        "SignerRetired",
        format!("signer {}", signer.name),
        vec![
            ("kid", kid.clone()),
            ("signs_until", until.to_rfc3339()),
            (
                "status",
                if retired_now {
                    "retired".into()
                } else {
                    "active until then".to_string()
                },
            ),
        ],
    )
}

/// One line of `keys list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListedSigner {
    pub kid: String,
    pub label: String,
    /// `pkcs11 token key L`, `file F`, or `none (verify only)`.
    pub key: String,
    pub sign_from: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    /// `active` (seals now), `pending` (period not begun), `ended` (period over),
    /// `retired`, `revoked`.
    pub state: &'static str,
}

/// `keys list`: every signer of the folder, as of `now`; no private key is opened.
pub fn list(keys_dir: &Path, now: DateTime<Utc>) -> Result<Vec<ListedSigner>, CeremonyError> {
    let keys = KeySet::load_with(keys_dir, KeyAccess::PublicOnly)?;
    Ok(keys
        .signers()
        .iter()
        .map(|s| ListedSigner {
            kid: hex::encode(s.kid),
            label: s.name.clone(),
            key: s
                .key_ref
                .as_ref()
                .map_or_else(|| "none (verify only)".to_string(), ToString::to_string),
            sign_from: s.sign_from,
            sign_until: s.sign_until,
            state: match s.status {
                SignerStatus::Revoked => "revoked",
                SignerStatus::Retired => "retired",
                SignerStatus::Active if now < s.sign_from => "pending",
                SignerStatus::Active if now > s.sign_until => "ended",
                SignerStatus::Active => "active",
            },
        })
        .collect())
}

#[cfg(test)]
mod tests;
