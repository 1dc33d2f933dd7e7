//! `keys install-signer`, `retire` and `list`: the manifest taking a signer in, ending one,
//! and listing them all.

use super::*;

pub(super) fn manifest_table(dir: &Path) -> Result<(PathBuf, toml::Table), CeremonyError> {
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
pub(super) fn replace_manifest(dir: &Path, path: &Path, text: &str) -> Result<(), CeremonyError> {
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
