//! Seals per second through a PKCS#11 token (SoftHSM2) with 1, 2 and 4 sessions, next to the
//! file key, each with 1, 2 and 4 sealing threads: `Sealer::seal` as the service runs it
//! (claims CBOR, COSE_Sign1, ES256 by the token, verify-after-sign).
//!
//!     cargo bench --bench seal_pkcs11            # BENCH_SECONDS=3 per figure by default
//!
//! Needs SoftHSM2 (`scripts/install-deps.sh`). The token lives in a temporary folder.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use crosscert::config::Pkcs11Settings;
use crosscert::domain::seal::SealClaims;
use crosscert::issuance::ceremony::{self, SigningPeriod};
use crosscert::issuance::{generate_example_set, KeyAccess, KeySet, Sealer};

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

/// Seals per second with `threads` threads sealing for `seconds`.
fn rate(sealer: &Sealer, threads: usize, seconds: f64) -> f64 {
    let now = Utc::now();
    let c = claims(now.timestamp());
    sealer.seal(&c, now).expect("a first seal");
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    sealer.seal(&c, now).expect("seal");
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let module = crosscert::issuance::pkcs11::find_softhsm_module()
        .expect("SoftHSM2 is not installed: run scripts/install-deps.sh");
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    // Read by SoftHSM2 at C_Initialize, before which nothing here touches PKCS#11.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let status = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
        ])
        .args(["--so-pin", "12345678"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("softhsm2-util");
    assert!(status.success(), "softhsm2-util --init-token failed");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "1234").expect("pin");
    let token = |sessions| Pkcs11Settings {
        module: module.clone(),
        token_label: "bench".into(),
        pin_file: pin_file.clone(),
        sessions,
    };

    let now = Utc::now();
    let keys = dir.path().join("keys");
    let pass = dir.path().join("passphrase");
    std::fs::write(&pass, "bench passphrase, long enough").expect("passphrase");
    ceremony::init_root(&keys, &pass, "bench root", now).expect("init-root");
    let today = now.date_naive();
    let period = SigningPeriod::from_dates(
        &today.to_string(),
        &(today + chrono::Duration::days(365)).to_string(),
    )
    .expect("period");
    let csr = dir.path().join("signer.csr");
    let cert = dir.path().join("signer.pem");
    ceremony::new_signer(Some(&token(1)), "bench-signer", period, &csr, now).expect("new-signer");
    ceremony::sign_signer(&keys, &pass, &csr, &cert, now).expect("sign-signer");
    ceremony::install_signer(&cert, &keys, now).expect("install-signer");

    let example = dir.path().join("example");
    generate_example_set(&example, now).expect("example set");
    let file_sealer = Sealer::new(Arc::new(KeySet::load(&example).expect("file keys")));

    println!(
        "Sealer::seal per second ({seconds} s each, {} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<24} {:>10} {:>10} {:>10}",
        "key", "1 thread", "2 threads", "4 threads"
    );
    let row = |name: &str, sealer: &Sealer| {
        let r: Vec<f64> = [1, 2, 4]
            .iter()
            .map(|t| rate(sealer, *t, seconds))
            .collect();
        println!("{name:<24} {:>10.0} {:>10.0} {:>10.0}", r[0], r[1], r[2]);
    };
    row("file (ring)", &file_sealer);
    for sessions in [1, 2, 4] {
        let set = KeySet::load_with(
            &keys,
            KeyAccess::Open {
                pkcs11: Some(&token(sessions)),
            },
        )
        .expect("token key set");
        row(
            &format!("SoftHSM2, {sessions} session(s)"),
            &Sealer::new(Arc::new(set)),
        );
    }
}
