//! `keys sign-signer`: the root issues a signer certificate from a CSR.

use super::*;

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
