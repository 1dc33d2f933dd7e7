//! Key set, sealing and verification working together (the verifier side is exercised here
//! because only this module may hold the private keys that make test seals).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ciborium::value::Value;
use coset::{iana, CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ring::rand::SystemRandom;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

use super::keys::{KeyError, KeySet};
use super::seal::{SealError, Sealer};
use super::{check_key_dir_at, generate_example_set};
use crate::domain::seal::tests::sample;
use crate::domain::seal::SealClaims;
use crate::verification::{
    decode_qr_text, qr_text, verify_cose, verify_envelope_with_cert, EnvelopeError, TrustList,
    TrustStore,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).single().unwrap()
}

fn claims_at(t: DateTime<Utc>) -> SealClaims {
    SealClaims {
        iat: t.timestamp(),
        ..sample()
    }
}

fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    generate_example_set(dir.path(), now()).unwrap();
    dir
}

fn load(dir: &Path) -> Arc<KeySet> {
    Arc::new(KeySet::load(dir).unwrap())
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let path = dir.join("keys.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "manifest lacks {from:?}:\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn example_set_loads_with_one_active_and_one_retired_signer() {
    let dir = example_dir();
    let keys = load(dir.path());
    assert!(keys.is_example());
    assert_eq!(keys.signers().len(), 2);
    let active = keys.active_signer(now()).unwrap();
    assert_eq!(active.name, "signer-2026");
    assert!(active.has_private_key());
    let retired = &keys.signers()[0];
    assert_eq!(retired.name, "signer-2023");
    assert!(!retired.has_private_key());
    assert!(retired.certificate.not_after > now());
    assert_eq!(keys.hall_clients().len(), 2);
    assert!(keys.server().is_some());
    assert!(keys.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let report = check_key_dir_at(dir.path(), now()).unwrap();
    assert!(report.can_seal);
    let text = report.to_string();
    assert!(text.contains("EXAMPLE"), "{text}");
    assert!(text.contains("sealing now"), "{text}");
}

#[test]
fn seal_then_verify_gives_back_the_claims_and_signer() {
    let dir = example_dir();
    let keys = load(dir.path());
    let sealer = Sealer::new(keys.clone());
    let claims = claims_at(now());
    let cose = sealer.seal(&claims, now()).unwrap();
    assert_eq!(cose[0], 0xd2, "tag 18");

    let store = TrustStore::from_keyset(&keys, now()).unwrap();
    let verified = verify_cose(&cose, &store).unwrap();
    assert_eq!(verified.kid, keys.active_signer(now()).unwrap().kid);
    assert!(!verified.revoked);
    assert_eq!(SealClaims::from_cbor(&verified.payload).unwrap(), claims);

    // And through the published JSON, as an offline verifier gets it.
    let json = TrustList::from_keyset(&keys, now()).to_json().unwrap();
    let offline = TrustStore::new(&TrustList::from_json(&json).unwrap()).unwrap();
    let text = qr_text("https://verify.example.cn", &cose);
    let again = verify_cose(&decode_qr_text(&text).unwrap(), &offline).unwrap();
    assert_eq!(again.payload, verified.payload);
}

#[test]
fn signature_covers_exactly_the_rfc9052_sig_structure() {
    let dir = example_dir();
    let keys = load(dir.path());
    let cose = Sealer::new(keys.clone())
        .seal(&claims_at(now()), now())
        .unwrap();
    let sign1 = coset::CoseSign1::from_tagged_slice(&cose).unwrap();
    let protected = sign1.protected.original_data.clone().unwrap();
    let payload = sign1.payload.clone().unwrap();
    assert_eq!(sign1.signature.len(), 64);
    assert!(sign1.unprotected.is_empty());

    // Sig_structure = ["Signature1", protected bstr, external_aad h'', payload bstr], built by hand.
    let mut tbs = vec![0x84, 0x6a];
    tbs.extend_from_slice(b"Signature1");
    push_bstr(&mut tbs, &protected);
    tbs.push(0x40);
    push_bstr(&mut tbs, &payload);

    let signer = keys.active_signer(now()).unwrap();
    let spki = &signer.certificate;
    let (_, cert) = x509_parser::parse_x509_certificate(&spki.der).unwrap();
    let key = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        cert.public_key().subject_public_key.data.to_vec(),
    );
    key.verify(&tbs, &sign1.signature).unwrap();
    // The protected header is exactly {1: -7, 4: kid}.
    let mut expected = vec![0xa2, 0x01, 0x26, 0x04, 0x48];
    expected.extend_from_slice(&signer.kid);
    assert_eq!(protected, expected);
}

fn push_bstr(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n if n < 24 => out.push(0x40 | n as u8),
        n if n < 256 => out.extend_from_slice(&[0x58, n as u8]),
        n => out.extend_from_slice(&[0x59, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(b);
}

#[test]
fn every_flipped_byte_fails_verification() {
    let dir = example_dir();
    let keys = load(dir.path());
    let cose = Sealer::new(keys.clone())
        .seal(&claims_at(now()), now())
        .unwrap();
    let store = TrustStore::from_keyset(&keys, now()).unwrap();
    for i in 0..cose.len() {
        let mut bad = cose.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_cose(&bad, &store).is_err(),
            "byte {i} flipped verified"
        );
    }
    // A payload byte and a signature byte: the signature check is what catches them.
    for i in [cose.len() - 70, cose.len() - 1] {
        let mut bad = cose.clone();
        bad[i] ^= 0x40;
        assert_eq!(
            verify_cose(&bad, &store),
            Err(EnvelopeError::BadSignature),
            "byte {i}"
        );
    }
}

#[test]
fn signer_from_a_foreign_root_is_refused_at_load() {
    let dir = example_dir();
    let other = example_dir();
    std::fs::copy(
        other.path().join("signer-2026.pem"),
        dir.path().join("foreign.pem"),
    )
    .unwrap();
    std::fs::copy(
        other.path().join("signer-2026.key.pem"),
        dir.path().join("foreign.key.pem"),
    )
    .unwrap();
    edit_manifest(
        dir.path(),
        "certificate = \"signer-2026.pem\"\nprivate_key = \"signer-2026.key.pem\"",
        "certificate = \"foreign.pem\"\nprivate_key = \"foreign.key.pem\"",
    );
    match KeySet::load(dir.path()) {
        Err(KeyError::Certificate { path, reason }) => {
            assert!(path.ends_with("foreign.pem"), "{path}");
            assert!(reason.contains("not signed by the root"), "{reason}");
        }
        other => panic!("expected a chain error, got {other:?}"),
    }
}

#[test]
fn private_key_not_matching_its_certificate_is_refused_naming_the_file() {
    let dir = example_dir();
    let other = example_dir();
    std::fs::copy(
        other.path().join("signer-2026.key.pem"),
        dir.path().join("wrong.key.pem"),
    )
    .unwrap();
    edit_manifest(
        dir.path(),
        "private_key = \"signer-2026.key.pem\"",
        "private_key = \"wrong.key.pem\"",
    );
    let err = KeySet::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, KeyError::KeyMismatch { path, .. } if path.ends_with("wrong.key.pem")),
        "{err:?}"
    );
    assert!(err.to_string().contains("wrong.key.pem"));
}

#[test]
fn hall_client_key_mismatch_is_refused_too() {
    let dir = example_dir();
    edit_manifest(
        dir.path(),
        "private_key = \"hall-320382000.key.pem\"",
        "private_key = \"hall-410381000.key.pem\"",
    );
    let err = KeySet::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, KeyError::KeyMismatch { path, .. } if path.ends_with("hall-410381000.key.pem")),
        "{err:?}"
    );
}

#[test]
fn seals_of_a_revoked_signer_verify_as_revoked() {
    let dir = example_dir();
    let cose = Sealer::new(load(dir.path()))
        .seal(&claims_at(now()), now())
        .unwrap();
    edit_manifest(dir.path(), "status = \"active\"", "status = \"revoked\"");
    let keys = load(dir.path());
    let list = TrustList::from_keyset(&keys, now());
    assert!(list.signers.iter().any(|s| s.revoked && !s.active));
    let store = TrustStore::new(&list).unwrap();
    let verified = verify_cose(&cose, &store).unwrap();
    assert!(verified.revoked);
    // And it no longer seals.
    assert!(matches!(
        Sealer::new(keys).seal(&claims_at(now()), now()),
        Err(SealError::NoSignerInPeriod { .. })
    ));
}

#[test]
fn sealing_outside_every_signing_period_is_no_signer_in_period() {
    let dir = example_dir();
    let sealer = Sealer::new(load(dir.path()));
    for t in [
        Utc.with_ymd_and_hms(2029, 1, 1, 0, 0, 0).single().unwrap(),
        // Inside the retired signer's period: it has no key and is not active.
        Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).single().unwrap(),
    ] {
        match sealer.seal(&claims_at(t), t) {
            Err(SealError::NoSignerInPeriod { reason }) => {
                assert!(reason.contains("signer-2026"), "{reason}")
            }
            other => panic!("expected NoSignerInPeriod, got {other:?}"),
        }
    }
    // Last second of the period still seals.
    let last = Utc
        .with_ymd_and_hms(2028, 12, 31, 23, 59, 59)
        .single()
        .unwrap();
    assert!(sealer.seal(&claims_at(last), last).is_ok());
    // iat outside the chosen signer's period is refused.
    assert!(matches!(
        sealer.seal(
            &claims_at(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
            now()
        ),
        Err(SealError::IatOutsidePeriod { .. })
    ));
}

/// Hand-built envelopes in every shape verifiers accept (docs/architecture.md, "Licences").
#[test]
fn verifier_accepts_kid_placement_and_tag_variants() {
    let dir = example_dir();
    let keys = load(dir.path());
    let store = TrustStore::from_keyset(&keys, now()).unwrap();
    let signer = keys.active_signer(now()).unwrap();
    let kp = signer.signing_key().unwrap();
    let rng = SystemRandom::new();
    let payload = claims_at(now()).to_cbor();

    let build = |protected: coset::Header, unprotected: coset::Header| {
        CoseSign1Builder::new()
            .protected(protected)
            .unprotected(unprotected)
            .payload(payload.clone())
            .create_signature(&[], |tbs| kp.sign_es256(&rng, tbs).unwrap())
            .build()
    };
    let alg_only = || {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .build()
    };
    let kid_only = || HeaderBuilder::new().key_id(signer.kid.to_vec()).build();
    let both = || {
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(signer.kid.to_vec())
            .build()
    };

    let kid_unprotected = build(alg_only(), kid_only());
    let alg_unprotected = build(kid_only(), alg_only());
    let no_kid = build(alg_only(), coset::Header::default());
    let normal = build(both(), coset::Header::default());

    let untagged = normal.clone().to_vec().unwrap();
    let tag18 = normal.clone().to_tagged_vec().unwrap();
    let mut tag61 = vec![0xd8, 0x3d];
    tag61.extend_from_slice(&tag18);

    for (what, bytes) in [
        (
            "kid only unprotected",
            kid_unprotected.to_tagged_vec().unwrap(),
        ),
        ("alg only unprotected", alg_unprotected.to_vec().unwrap()),
        ("no kid at all", no_kid.clone().to_tagged_vec().unwrap()),
        ("untagged", untagged),
        ("tag 18", tag18.clone()),
        ("tag 61 around tag 18", tag61),
    ] {
        let v = verify_cose(&bytes, &store).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(v.kid, signer.kid, "{what}");
        assert_eq!(v.payload, payload, "{what}");
    }

    // Protected kid wins over a different unprotected one, and a wrong protected kid fails
    // even when the unprotected kid is right.
    let wrong = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .key_id(vec![0; 8])
        .build();
    let bad = build(wrong, kid_only()).to_tagged_vec().unwrap();
    assert_eq!(verify_cose(&bad, &store), Err(EnvelopeError::UnknownSigner));
    let good = build(both(), HeaderBuilder::new().key_id(vec![0; 8]).build());
    assert!(verify_cose(&good.to_tagged_vec().unwrap(), &store).is_ok());

    // Tag 61 around an untagged array, another tag, another alg: not a seal.
    let mut odd = vec![0xd8, 0x3d];
    odd.extend_from_slice(&normal.clone().to_vec().unwrap());
    assert_eq!(verify_cose(&odd, &store), Err(EnvelopeError::BadEncoding));
    let mut tag98 = vec![0xd8, 0x62];
    tag98.extend_from_slice(&normal.clone().to_vec().unwrap());
    assert_eq!(verify_cose(&tag98, &store), Err(EnvelopeError::BadEncoding));
    let es384 = build(
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES384)
            .key_id(signer.kid.to_vec())
            .build(),
        coset::Header::default(),
    );
    assert_eq!(
        verify_cose(&es384.to_tagged_vec().unwrap(), &store),
        Err(EnvelopeError::BadEncoding)
    );

    // The single-certificate check agrees.
    assert_eq!(
        verify_envelope_with_cert(&tag18, &signer.certificate.der),
        Ok(())
    );
    let retired = &keys.signers()[0];
    assert_eq!(
        verify_envelope_with_cert(&tag18, &retired.certificate.der),
        Err(EnvelopeError::UnknownSigner)
    );
    let no_kid_bytes = no_kid.to_tagged_vec().unwrap();
    assert_eq!(
        verify_envelope_with_cert(&no_kid_bytes, &retired.certificate.der),
        Err(EnvelopeError::BadSignature)
    );
    assert_eq!(
        verify_cose(&[0x01, 0x02], &store),
        Err(EnvelopeError::BadEncoding)
    );
    // ciborium Value is what the decoder walks: make sure garbage maps are refused too.
    let mut map = Vec::new();
    ciborium::ser::into_writer(&Value::Map(vec![]), &mut map).unwrap();
    assert_eq!(verify_cose(&map, &store), Err(EnvelopeError::BadEncoding));
}

#[test]
fn seal_fits_a_version_15_qr_at_level_m_with_a_long_chinese_name() {
    let dir = example_dir();
    let sealer = Sealer::new(load(dir.path()));
    let mut claims = claims_at(now());
    claims.holder_name = "临沂经济技术开发区某某某某某某某某某某新材料科技股份有限公司".into();
    assert_eq!(claims.holder_name.chars().count(), 30);
    let url = "https://verify.zwfw.linyi.gov.cn";
    let url = &url[..30];
    assert_eq!(url.len(), 30);
    let cose = sealer.seal(&claims, now()).unwrap();
    let text = qr_text(url, &cose);
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).unwrap();
    let qrcode::Version::Normal(v) = code.version() else {
        panic!("micro QR?")
    };
    assert!(
        v <= 15,
        "COSE {} bytes, text {} chars -> version {v}",
        cose.len(),
        text.len()
    );
    println!(
        "COSE {} bytes, QR text {} chars, version {v}",
        cose.len(),
        text.len()
    );
}

#[test]
fn openssl_accepts_each_signer_chain() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not installed: skipping");
        return;
    }
    let dir = example_dir();
    for signer in ["signer-2026.pem", "signer-2023.pem"] {
        let out = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(dir.path().join("root-ca.pem"))
            .arg(dir.path().join(signer))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{signer}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for leaf in ["hall-320382000.pem", "hall-410381000.pem", "server.pem"] {
        let out = std::process::Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(dir.path().join("hall-ca.pem"))
            .arg(dir.path().join(leaf))
            .output()
            .unwrap();
        assert!(out.status.success(), "{leaf}");
    }
}

#[test]
fn sec1_ec_private_key_is_accepted() {
    let dir = example_dir();
    let out = match std::process::Command::new("openssl")
        .args(["ec", "-in"])
        .arg(dir.path().join("signer-2026.key.pem"))
        .arg("-out")
        .arg(dir.path().join("signer-2026.sec1.pem"))
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("openssl not installed: skipping");
            return;
        }
    };
    assert!(out.status.success());
    let sec1 = std::fs::read_to_string(dir.path().join("signer-2026.sec1.pem")).unwrap();
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
    edit_manifest(
        dir.path(),
        "private_key = \"signer-2026.key.pem\"",
        "private_key = \"signer-2026.sec1.pem\"",
    );
    let keys = load(dir.path());
    assert!(Sealer::new(keys).seal(&claims_at(now()), now()).is_ok());
}

#[test]
fn gen_example_refuses_to_overwrite_a_real_key_set() {
    let dir = example_dir();
    // Regenerating an example set in place is fine.
    generate_example_set(dir.path(), now()).unwrap();
    edit_manifest(dir.path(), "example = true", "example = false");
    assert!(matches!(
        generate_example_set(dir.path(), now()),
        Err(KeyError::Write { .. })
    ));
}

#[test]
fn manifest_errors_name_the_manifest() {
    let dir = example_dir();
    edit_manifest(dir.path(), "status = \"active\"", "status = \"sometimes\"");
    match KeySet::load(dir.path()) {
        Err(KeyError::Manifest { path, .. }) => assert!(path.ends_with("keys.toml")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn committed_example_set_is_consistent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
    let keys = KeySet::load(&dir).unwrap();
    assert!(keys.is_example());
    let mid = Utc.with_ymd_and_hms(2027, 7, 1, 0, 0, 0).single().unwrap();
    let cose = Sealer::new(Arc::new(keys))
        .seal(&claims_at(mid), mid)
        .unwrap();
    let keys = KeySet::load(&dir).unwrap();
    let store = TrustStore::from_keyset(&keys, mid).unwrap();
    assert!(verify_cose(&cose, &store).is_ok());
}
