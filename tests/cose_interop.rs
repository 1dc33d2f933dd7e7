//! Third-party COSE_Sign1 ES256 vectors (EU DCC test data, see /work/shared/interop/README.md):
//! the envelope check must agree with `expected_verify` on every line.

use base64::Engine;
use crosscert::verification::verify_envelope_with_cert;

#[derive(serde::Deserialize)]
struct Vector {
    source: String,
    cose_hex: String,
    certificate_der_b64: String,
    expected_verify: bool,
    description: Option<String>,
}

#[test]
fn dgc_es256_vectors_agree_with_expected_verify() {
    // A worktree sits one level deeper than the main checkout: allow pointing at the file.
    let path = match std::env::var_os("CROSSCERT_INTEROP_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/interop/dgc-es256.jsonl"),
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("{} is absent: skipping the interop vectors", path.display());
        return;
    };
    let mut total = 0;
    let mut failures = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Vector =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        total += 1;
        let cose = hex::decode(v.cose_hex.trim()).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let cert = base64::engine::general_purpose::STANDARD
            .decode(v.certificate_der_b64.trim())
            .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let got = verify_envelope_with_cert(&cose, &cert);
        if got.is_ok() != v.expected_verify {
            failures.push(format!(
                "line {} {} ({}): expected {}, got {:?}",
                n + 1,
                v.source,
                v.description.as_deref().unwrap_or("-"),
                v.expected_verify,
                got
            ));
        }
    }
    assert_eq!(total, 536, "the vector file changed");
    assert!(
        failures.is_empty(),
        "{} of {total} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
