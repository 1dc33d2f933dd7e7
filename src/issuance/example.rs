//! `crosscert keys gen-example`: a complete, self-consistent example key set (rcgen), valid for
//! years, so the service, the agents and the tests run out of the box. Never for production:
//! the manifest says `example = true` and the service warns when it runs on one.

use std::path::Path;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use super::keys::{KeyError, MANIFEST};

/// Years the example root (and the long-term licences it backs) lives.
const ROOT_YEARS: i32 = 30;
/// Length of a signer's signing period.
const SIGNING_YEARS: i32 = 3;
/// The demo halls of the example set (demo data; docs/architecture.md, "Halls and issuing authorities").
pub const EXAMPLE_HALLS: [&str; 2] = ["320382000", "410381000"];

fn gen_err(e: rcgen::Error) -> KeyError {
    KeyError::Generate(e.to_string())
}

fn new_key() -> Result<KeyPair, KeyError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)
}

fn params(cn: &str, ou: Option<&str>, sans: Vec<String>) -> Result<CertificateParams, KeyError> {
    let mut p = CertificateParams::new(sans).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(
        DnType::OrganizationName,
        "crosscert example (NOT FOR PRODUCTION)",
    );
    if let Some(ou) = ou {
        dn.push(DnType::OrganizationalUnitName, ou);
    }
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn write(dir: &Path, name: &str, contents: &str, secret: bool) -> Result<(), KeyError> {
    let path = dir.join(name);
    let err = |e: std::io::Error| KeyError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&path).map_err(err)?;
    std::io::Write::write_all(&mut file, contents.as_bytes()).map_err(err)
}

fn year_start(year: i32) -> Result<DateTime<Utc>, KeyError> {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| KeyError::Generate(format!("year {year} out of range")))
}

/// Writes an example key set into `out` (created if missing): root CA, an active signer whose
/// signing period (start of `now`'s year + 3 years) covers `now`, a retired signer (the 3 years
/// before, verify-only: its private key is not kept), a hall CA with client certificates for
/// the demo halls, a server TLS certificate for localhost/127.0.0.1, the manifest and a README.
/// Refuses to overwrite a folder that holds a non-example key set.
pub fn generate_example_set(out: &Path, now: DateTime<Utc>) -> Result<(), KeyError> {
    let manifest_path = out.join(MANIFEST);
    if manifest_path.exists() {
        let text = std::fs::read_to_string(&manifest_path).unwrap_or_default();
        let is_example = toml::from_str::<toml::Value>(&text)
            .ok()
            .and_then(|v| v.get("example").and_then(toml::Value::as_bool))
            .unwrap_or(false);
        if !is_example {
            return Err(KeyError::Write {
                path: manifest_path.display().to_string(),
                reason: "a key set that is not an example set already lives here".into(),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(|e| KeyError::Write {
        path: out.display().to_string(),
        reason: e.to_string(),
    })?;

    let year = now.year();
    let old_year = year - SIGNING_YEARS;
    let root_end_year = old_year + ROOT_YEARS;
    // Every certificate starts at the start of a year and the root outlives everything.
    let root_start = date_time_ymd(old_year, 1, 1);
    let root_end = date_time_ymd(root_end_year, 1, 1);

    // Root CA: signs issuing signers only (path length 0) and the server certificate.
    let root_key = new_key()?;
    let mut root = params("crosscert example root CA", None, Vec::new())?;
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.use_authority_key_identifier_extension = false;
    root.not_before = root_start;
    root.not_after = root_end;
    let root_cert = root.self_signed(&root_key).map_err(gen_err)?;
    let root_issuer = Issuer::new(root, &root_key);
    write(out, "root-ca.pem", &root_cert.pem(), false)?;

    // Issuing signers: certificate valid from the start of the signing period to the root's
    // end, so that long-term (长期) licences sealed on the last day still verify.
    let mut manifest = String::new();
    manifest.push_str(
        "# crosscert EXAMPLE key set: never for production. Regenerate with\n\
         #   crosscert keys gen-example --out keys-example\n\
         example = true\n\
         root = \"root-ca.pem\"\n",
    );
    let signers = [(old_year, "retired", false), (year, "active", true)];
    for (start_year, status, keep_key) in signers {
        let name = format!("signer-{start_year}");
        let key = new_key()?;
        let mut p = params(
            &format!("crosscert example issuing signer {start_year}"),
            None,
            Vec::new(),
        )?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = date_time_ymd(start_year, 1, 1);
        p.not_after = root_end;
        let cert = p.signed_by(&key, &root_issuer).map_err(gen_err)?;
        write(out, &format!("{name}.pem"), &cert.pem(), false)?;
        let sign_from = year_start(start_year)?;
        let sign_until = year_start(start_year + SIGNING_YEARS)? - chrono::Duration::seconds(1);
        manifest.push_str(&format!(
            "\n[[signer]]\nname = \"{name}\"\ncertificate = \"{name}.pem\"\n"
        ));
        if keep_key {
            write(out, &format!("{name}.key.pem"), &key.serialize_pem(), true)?;
            manifest.push_str(&format!("private_key = \"{name}.key.pem\"\n"));
        }
        manifest.push_str(&format!(
            "sign_from = \"{}\"\nsign_until = \"{}\"\nstatus = \"{status}\"\n",
            sign_from.format("%Y-%m-%dT%H:%M:%SZ"),
            sign_until.format("%Y-%m-%dT%H:%M:%SZ"),
        ));
    }

    // The list signer: signs the trust list and the status lists, never a licence.
    let list_key = new_key()?;
    let mut p = params("crosscert example list signer", None, Vec::new())?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = date_time_ymd(year, 1, 1);
    p.not_after = root_end;
    let list_cert = p.signed_by(&list_key, &root_issuer).map_err(gen_err)?;
    write(out, "list-signer.pem", &list_cert.pem(), false)?;
    write(out, "list-signer.key.pem", &list_key.serialize_pem(), true)?;
    manifest.push_str(
        "\n[list_signer]\ncertificate = \"list-signer.pem\"\nprivate_key = \"list-signer.key.pem\"\n",
    );

    // Hall CA: its own root, so mutual TLS between halls and the service never involves the
    // offline seal root. It issues the hall client certificates and the server's TLS
    // certificate (told apart by extended key usage).
    let tls_start = date_time_ymd(year, 1, 1);
    let tls_end = date_time_ymd(year + 10, 1, 1);
    let hall_ca_key = new_key()?;
    let mut hall_ca = params("crosscert example hall CA", None, Vec::new())?;
    hall_ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    hall_ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    hall_ca.use_authority_key_identifier_extension = false;
    hall_ca.not_before = tls_start;
    hall_ca.not_after = tls_end;
    let hall_ca_cert = hall_ca.self_signed(&hall_ca_key).map_err(gen_err)?;
    let hall_issuer = Issuer::new(hall_ca, &hall_ca_key);
    write(out, "hall-ca.pem", &hall_ca_cert.pem(), false)?;
    manifest.push_str("\n[hall_ca]\ncertificate = \"hall-ca.pem\"\n");

    for hall in EXAMPLE_HALLS {
        let key = new_key()?;
        let mut p = params(hall, Some("crosscert-hall"), Vec::new())?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = tls_start;
        p.not_after = tls_end;
        let cert = p.signed_by(&key, &hall_issuer).map_err(gen_err)?;
        write(out, &format!("hall-{hall}.pem"), &cert.pem(), false)?;
        write(
            out,
            &format!("hall-{hall}.key.pem"),
            &key.serialize_pem(),
            true,
        )?;
        manifest.push_str(&format!(
            "\n[[hall_client]]\nhall = \"{hall}\"\ncertificate = \"hall-{hall}.pem\"\nprivate_key = \"hall-{hall}.key.pem\"\n"
        ));
    }

    // The transparency log's checkpoint key (Ed25519; its name is the configured origin).
    let log_key = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| KeyError::Generate("Ed25519 key generation failed".into()))?;
    write(
        out,
        super::note_key::LOG_KEY_FILE,
        &::pem::encode(&::pem::Pem::new("PRIVATE KEY", log_key.as_ref().to_vec())),
        true,
    )?;

    let server_key = new_key()?;
    let mut server = params(
        "localhost",
        None,
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
    )?;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = tls_start;
    server.not_after = tls_end;
    let server_cert = server
        .signed_by(&server_key, &hall_issuer)
        .map_err(gen_err)?;
    write(out, "server.pem", &server_cert.pem(), false)?;
    write(out, "server.key.pem", &server_key.serialize_pem(), true)?;
    manifest
        .push_str("\n[server]\ncertificate = \"server.pem\"\nprivate_key = \"server.key.pem\"\n");

    write(out, MANIFEST, &manifest, false)?;
    // The server secret pickup codes are stored under (HMAC; not a signing key).
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    write(
        out,
        super::PICKUP_SECRET_FILE,
        &format!("{}\n", hex::encode(secret)),
        true,
    )?;
    write(out, "README.md", README, false)?;
    Ok(())
}

const README: &str = r#"# Example key set: NEVER FOR PRODUCTION

Made by `crosscert keys gen-example --out DIR`. Every private key in this folder is public
(it is committed to the repository): seals made with it prove nothing. The manifest says
`example = true`: `crosscert serve` refuses this set unless `--demo` is given (or
`CROSSCERT_ALLOW_EXAMPLE_KEYS=1`, for tests), and logs a warning when it runs on it.

| file | what it is |
|---|---|
| `keys.toml` | the manifest: which file is what, signing periods and statuses |
| `root-ca.pem` | the root CA (P-256, 30 years) that signs the issuing signers; its key was thrown away after generation, as an offline root's would be locked away |
| `signer-<this year>.pem`, `.key.pem` | the **active** issuing signer: signs from 1 January of the year of generation for 3 years; certificate valid until the root's end (long-term licences) |
| `signer-<3 years earlier>.pem` | a **retired** signer: its signing period has ended, its certificate is still valid, so its seals keep verifying; no private key is kept |
| `list-signer.pem`, `.key.pem` | the **list signer**, issued by the root: signs the trust list (`/api/v1/trust-list.cose`) and the status lists, never a licence |
| `hall-ca.pem` | the hall CA (its own root) for mutual TLS; its key was thrown away too |
| `hall-320382000.pem`, `.key.pem`, `hall-410381000.pem`, `.key.pem` | client certificates of the two demo halls (CN = hall code, OU = `crosscert-hall`) for `crosscert agent --client-cert --client-key` |
| `pickup-secret` | the server secret (32 random bytes, hex) pickup codes are stored under as HMAC-SHA256; every server process reads the same file |
| `server.pem`, `server.key.pem` | TLS certificate of the service for `localhost` and `127.0.0.1`, issued by the hall CA (`serve --tls-cert server.pem --tls-key server.key.pem --client-ca hall-ca.pem`; agents use `--ca hall-ca.pem`) |

Private keys are PKCS#8 PEM. kid of a signer = first 8 bytes of SHA-256 of its certificate DER.

Regenerate (the active signer's period starts on 1 January of the current year):

    crosscert keys gen-example --out keys-example
    crosscert keys check

A production set is made by the key ceremony (`crosscert keys init-root`, `new-signer`,
`sign-signer`, `install-signer`; see the repository README): the same manifest shape without
`example = true`, its root key offline and encrypted, its signer keys in a PKCS#11 token.
"#;
