//! Sealing and verification throughput (one core). Targets: seal >= 40k/s, seal +
//! verify-after-sign >= 10k/s, verify >= 15k/s.

use std::sync::Arc;

use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use crosscert::domain::seal::SealClaims;
use crosscert::issuance::{generate_example_set, KeySet, Sealer};
use crosscert::verification::{verify_cose, TrustStore};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn claims(iat: i64) -> SealClaims {
    SealClaims {
        iss: "11220000013544541J".into(),
        iat,
        exp: Some(iat + 5 * 365 * 86_400),
        identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F".into(),
        licence_no: "JY13701020000123".into(),
        holder_name: "临沂经济技术开发区某某某某某某某某某某新材料科技股份有限公司".into(),
        holder_code_masked: "91350100M000100Y43".into(),
        status: None,
    }
}

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    let dir = tempfile::tempdir().expect("temp dir");
    generate_example_set(dir.path(), now).expect("example set");
    let keys = Arc::new(KeySet::load(dir.path()).expect("key set"));
    let sealer = Sealer::new(keys.clone());
    let store = TrustStore::from_keyset(&keys, now).expect("trust store");
    let claims = claims(now.timestamp());
    let cose = sealer.seal(&claims, now).expect("seal");

    // "Seal alone": the same COSE construction without the verify-after-sign step, i.e. the
    // claims encoding plus one ECDSA signature (the service always verifies; this shows the cost
    // split).
    let pkcs8 = std::fs::read_to_string(dir.path().join(format!(
        "{}.key.pem",
        keys.active_signer(now).expect("signer").name
    )))
    .expect("key file");
    let der = pem::parse(pkcs8).expect("pem").into_contents();
    let rng = SystemRandom::new();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).expect("key");
    let kid = keys.active_signer(now).expect("signer").kid.to_vec();
    // Baselines: ring alone, to tell our overhead from the machine's load.
    let message = vec![0x5a_u8; 300];
    let signature = kp.sign(&rng, &message).expect("sign");
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        ring::signature::KeyPair::public_key(&kp).as_ref().to_vec(),
    );
    c.bench_function("baseline: ring P-256 sign", |b| {
        b.iter(|| black_box(kp.sign(&rng, black_box(&message)).map(|s| s.as_ref()[0])))
    });
    c.bench_function("baseline: ring P-256 verify", |b| {
        b.iter(|| {
            black_box(
                public
                    .verify(black_box(&message), signature.as_ref())
                    .is_ok(),
            )
        })
    });
    c.bench_function("seal (claims CBOR + COSE_Sign1 + ES256 sign)", |b| {
        b.iter(|| {
            use coset::TaggedCborSerializable;
            let protected = coset::HeaderBuilder::new()
                .algorithm(coset::iana::Algorithm::ES256)
                .key_id(kid.clone())
                .build();
            let s = coset::CoseSign1Builder::new()
                .protected(protected)
                .payload(black_box(&claims).to_cbor())
                .create_signature(&[], |tbs| {
                    kp.sign(&rng, tbs)
                        .map(|s| s.as_ref().to_vec())
                        .unwrap_or_default()
                })
                .build();
            black_box(s.to_tagged_vec().unwrap_or_default())
        })
    });
    c.bench_function("Sealer::seal (sign + verify-after-sign)", |b| {
        b.iter(|| black_box(sealer.seal(black_box(&claims), now)))
    });
    c.bench_function("verify_cose (decode + kid lookup + ES256 verify)", |b| {
        b.iter(|| black_box(verify_cose(black_box(&cose), &store)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
