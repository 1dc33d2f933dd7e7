//! `keys init-root`: a new key folder with its offline root CA.

use super::*;

pub(super) fn name(cn: &str, ou: Option<&str>) -> DistinguishedName {
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
        &out.join(crate::issuance::PICKUP_SECRET_FILE),
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
