//! The ceremony in-process: root, a signer key in the (shared SoftHSM2) token, its
//! certificate, the manifest, sealing through the token, retirement; and its refusals.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::issuance::keys::{Custody, KeyAccess, KeySet};
use crate::issuance::pkcs11::tests::{logged_in, softhsm, unique_label};
use crate::issuance::seal::{SealError, Sealer};
use crate::verification::{verify_cose, TrustStore};

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn passphrase(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("passphrase");
    std::fs::write(&p, "correct horse battery staple\n").unwrap();
    p
}

/// A keys folder with a root and one installed token signer whose period covers now.
fn ceremony(dir: &Path, label: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let keys = dir.join("keys");
    let pass = passphrase(dir);
    init_root(&keys, &pass, "test root", now()).unwrap();
    let period = SigningPeriod::from_dates(&day(now()), &day(now() + Duration::days(700))).unwrap();
    let csr = dir.join(format!("{label}.csr"));
    new_signer(Some(&softhsm().settings), label, period, &csr, now()).unwrap();
    let cert = dir.join(format!("{label}.pem"));
    sign_signer(&keys, &pass, &csr, &cert, now()).unwrap();
    install_signer(&cert, &keys, now()).unwrap();
    (keys, pass)
}

fn claims(t: DateTime<Utc>) -> crate::domain::seal::SealClaims {
    crate::domain::seal::SealClaims {
        iat: t.timestamp(),
        ..crate::domain::seal::tests::sample()
    }
}

#[test]
fn a_token_signer_made_in_the_ceremony_seals_and_its_seals_verify() {
    let _login = logged_in();
    let dir = tempfile::tempdir().unwrap();
    let label = unique_label("seal");
    let (keys_dir, _) = ceremony(dir.path(), &label);
    let keys = Arc::new(
        KeySet::load_with(
            &keys_dir,
            KeyAccess::Open {
                pkcs11: Some(&softhsm().settings),
            },
        )
        .unwrap(),
    );
    assert!(!keys.is_example());
    let signer = keys.active_signer(now()).unwrap();
    assert_eq!(signer.name, label);
    assert_eq!(signer.custody(), Some(Custody::Pkcs11));
    let sealer = Sealer::new(keys.clone());
    let store = TrustStore::from_keyset(&keys, now()).unwrap();
    let cose = sealer.seal(&claims(now()), now()).unwrap();
    let verified = verify_cose(&cose, &store).unwrap();
    assert_eq!(verified.kid, signer.kid);
    assert!(verified.sign_from <= now() && now() <= verified.sign_until);

    // Without the token's settings the set is refused, naming what to configure.
    let err = KeySet::load_with(&keys_dir, KeyAccess::Open { pkcs11: None }).unwrap_err();
    assert!(err.to_string().contains("CROSSCERT_PKCS11_MODULE"), "{err}");

    // The ceremony left a record of every step, in both forms.
    let audit = std::fs::read_to_string(keys_dir.join(AUDIT_FILE)).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        ["RootCreated", "SignerCertificateIssued", "SignerInstalled"]
    );
    let log = std::fs::read_to_string(keys_dir.join(LOG_FILE)).unwrap();
    assert!(
        log.contains("SignerInstalled by") && log.contains(&label),
        "{log}"
    );
    let csr_log = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    assert!(csr_log.contains("never_extractable=true"), "{csr_log}");
}

#[test]
fn a_retired_signer_seals_nothing_and_its_old_seals_still_verify() {
    let _login = logged_in();
    let dir = tempfile::tempdir().unwrap();
    let label = unique_label("retire");
    let (keys_dir, _) = ceremony(dir.path(), &label);
    let settings = &softhsm().settings;
    let keys = Arc::new(
        KeySet::load_with(
            &keys_dir,
            KeyAccess::Open {
                pkcs11: Some(settings),
            },
        )
        .unwrap(),
    );
    let sealed_at = now() - Duration::seconds(5);
    let old = Sealer::new(keys.clone())
        .seal(&claims(sealed_at), sealed_at)
        .unwrap();
    let kid = hex::encode(keys.signers()[0].kid);

    retire(&keys_dir, &kid, now() - Duration::seconds(1), now()).unwrap();
    let listed = list(&keys_dir, now()).unwrap();
    assert_eq!(listed[0].state, "retired");
    assert!(listed[0].key.contains("PKCS#11"), "{}", listed[0].key);

    let keys = Arc::new(
        KeySet::load_with(
            &keys_dir,
            KeyAccess::Open {
                pkcs11: Some(settings),
            },
        )
        .unwrap(),
    );
    assert!(matches!(
        Sealer::new(keys.clone()).seal(&claims(now()), now()),
        Err(SealError::NoSignerInPeriod { .. })
    ));
    let store = TrustStore::from_keyset(&keys, now()).unwrap();
    let verified = verify_cose(&old, &store).unwrap();
    assert_eq!(hex::encode(verified.kid), kid);
    assert!(
        verified.sign_from.timestamp() <= sealed_at.timestamp() && sealed_at <= verified.sign_until
    );
    // Retiring twice is refused.
    let err = retire(&keys_dir, &kid, now(), now()).unwrap_err();
    assert!(err.to_string().starts_with("--kid"), "{err}");
}

#[test]
fn retiring_at_a_future_date_shortens_the_period_and_keeps_sealing_until_then() {
    let _login = logged_in();
    let dir = tempfile::tempdir().unwrap();
    let label = unique_label("later");
    let (keys_dir, _) = ceremony(dir.path(), &label);
    let kid = list(&keys_dir, now()).unwrap()[0].kid.clone();
    let at = now() + Duration::days(30);
    retire(&keys_dir, &kid, at, now()).unwrap();
    let listed = list(&keys_dir, now()).unwrap();
    assert_eq!(listed[0].state, "active");
    assert_eq!(listed[0].sign_until.timestamp(), at.timestamp());
    assert_eq!(
        list(&keys_dir, at + Duration::seconds(1)).unwrap()[0].state,
        "ended"
    );
}

#[test]
fn the_root_key_opens_only_with_its_passphrase() {
    let pkcs8 = b"not really a key, but bytes to protect".to_vec();
    let pem = encrypt_key(&pkcs8, "correct horse battery staple").unwrap();
    assert!(pem.starts_with("-----BEGIN CROSSCERT ENCRYPTED PRIVATE KEY-----"));
    let path = Path::new("root.key.pem");
    assert_eq!(
        decrypt_key(&pem, "correct horse battery staple", path).unwrap(),
        pkcs8
    );
    let err = decrypt_key(&pem, "wrong horse battery staple", path).unwrap_err();
    assert!(err.to_string().starts_with("--passphrase-file"), "{err}");
    // A flipped bit anywhere is refused, header included.
    let block = ::pem::parse(&pem).unwrap();
    for i in [3, 20, 50] {
        let mut bytes = block.contents().to_vec();
        bytes[i] ^= 1;
        let tampered = ::pem::encode(&::pem::Pem::new(block.tag(), bytes));
        assert!(decrypt_key(&tampered, "correct horse battery staple", path).is_err());
    }
}

#[test]
fn sign_signer_refuses_a_wrong_passphrase_a_forged_csr_and_a_csr_without_period() {
    let _login = logged_in();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let pass = passphrase(dir.path());
    init_root(&keys, &pass, "test root", now()).unwrap();
    let label = unique_label("refuse");
    let period = SigningPeriod::from_dates(&day(now()), &day(now() + Duration::days(30))).unwrap();
    let csr = dir.path().join("a.csr");
    new_signer(Some(&softhsm().settings), &label, period, &csr, now()).unwrap();

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase at all").unwrap();
    let err = sign_signer(&keys, &wrong, &csr, &dir.path().join("x.pem"), now()).unwrap_err();
    assert!(err.to_string().starts_with("--passphrase-file"), "{err}");

    // A CSR whose body was altered after signing: no proof of possession.
    let block = ::pem::parse(std::fs::read_to_string(&csr).unwrap()).unwrap();
    let mut der = block.contents().to_vec();
    let at = der
        .windows(label.len())
        .position(|w| w == label.as_bytes())
        .unwrap();
    der[at] ^= 0x01;
    let forged = dir.path().join("forged.csr");
    std::fs::write(
        &forged,
        ::pem::encode(&::pem::Pem::new("CERTIFICATE REQUEST", der)),
    )
    .unwrap();
    let err = sign_signer(&keys, &pass, &forged, &dir.path().join("y.pem"), now()).unwrap_err();
    assert!(err.to_string().starts_with("--csr"), "{err}");

    // A CSR made elsewhere, without a signing period.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = name("plain", None);
    let plain = dir.path().join("plain.csr");
    std::fs::write(
        &plain,
        params.serialize_request(&key).unwrap().pem().unwrap(),
    )
    .unwrap();
    let err = sign_signer(&keys, &pass, &plain, &dir.path().join("z.pem"), now()).unwrap_err();
    assert!(err.to_string().contains("signing period"), "{err}");
    // Nothing was written by the refusals.
    assert!(!dir.path().join("x.pem").exists() && !dir.path().join("y.pem").exists());
}

#[test]
fn install_signer_refuses_a_certificate_from_another_root() {
    let _login = logged_in();
    let dir = tempfile::tempdir().unwrap();
    let label = unique_label("foreign");
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let (_, _) = ceremony(&dir.path().join("a"), &label);
    let other = dir.path().join("b");
    std::fs::create_dir_all(&other).unwrap();
    let other_keys = other.join("keys");
    init_root(&other_keys, &passphrase(&other), "other root", now()).unwrap();
    let err = install_signer(
        &dir.path().join("a").join(format!("{label}.pem")),
        &other_keys,
        now(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("not issued by this key set's root"),
        "{err}"
    );
    assert_eq!(list(&other_keys, now()).unwrap().len(), 0);
}

#[test]
fn signing_periods_parse_from_dates_and_survive_the_certificate() {
    let p = SigningPeriod::from_dates("2027-01-01", "2029-12-31").unwrap();
    assert_eq!(p.from, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    assert_eq!(
        p.until,
        Utc.with_ymd_and_hms(2029, 12, 31, 23, 59, 59).unwrap()
    );
    assert_eq!(SigningPeriod::from_der(&p.to_der()), Some(p));
    let err = SigningPeriod::from_dates("2029-01-01", "2027-01-01").unwrap_err();
    assert!(err.to_string().starts_with("--not-after"), "{err}");
    let err = SigningPeriod::from_dates("1 Jan 2027", "2029-01-01").unwrap_err();
    assert!(err.to_string().starts_with("--not-before"), "{err}");
    assert!(
        matches!(parse_instant("2027-06-01", "--at"), Ok(t) if t == Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap())
    );
    assert!(parse_instant("tomorrow", "--at").is_err());
}
