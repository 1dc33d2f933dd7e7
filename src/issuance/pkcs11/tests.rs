//! The token through SoftHSM2. PKCS#11 is initialised once per process and SoftHSM2 reads
//! `SOFTHSM2_CONF` then, so every test of this binary shares one token (made on first use,
//! `scripts/install-deps.sh` installs SoftHSM2) and uses its own key labels.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

use super::{find_softhsm_module, Token, TokenError};
use crate::config::Pkcs11Settings;

pub(crate) struct SoftHsm {
    pub settings: Pkcs11Settings,
    _dir: tempfile::TempDir,
}

/// The shared test token: its settings (4 sessions).
pub(crate) fn softhsm() -> &'static SoftHsm {
    static TOKEN: OnceLock<SoftHsm> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let module = find_softhsm_module().expect(
            "SoftHSM2 is not installed: run scripts/install-deps.sh (Debian package softhsm2)",
        );
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Before any PKCS#11 call of this process: SoftHSM2 reads it at C_Initialize.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let out = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "crosscert-lib-tests",
                "--pin",
                "1234",
                "--so-pin",
                "12345678",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, "1234\n").unwrap();
        SoftHsm {
            settings: Pkcs11Settings {
                module,
                token_label: "crosscert-lib-tests".into(),
                pin_file,
                sessions: 4,
            },
            _dir: dir,
        }
    })
}

/// The shared token's login state is per process (one test logs out) and concurrent key
/// generation in one process made SoftHSM2 fail now and then (GetTokenInfo: GeneralError):
/// the tests of the shared token take turns; each may still sign from several threads.
static TURN: Mutex<()> = Mutex::new(());

pub(crate) fn logged_in() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn unique_label(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn open(sessions: usize) -> Arc<Token> {
    // Made before any PKCS#11 call.
    softhsm();
    Token::open(&Pkcs11Settings {
        sessions,
        ..softhsm().settings.clone()
    })
    .unwrap()
}

fn digest(msg: &[u8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, msg).as_ref());
    d
}

#[test]
fn a_generated_key_stays_in_the_token_and_signs_verifiably() {
    let _login = logged_in();
    let token = open(2);
    let label = unique_label("gen");
    let point = token.generate_p256(&label).unwrap();
    assert_eq!(point.len(), 65);
    let attrs = token.key_attributes(&label).unwrap();
    assert!(attrs.sensitive && attrs.always_sensitive, "{attrs:?}");
    assert!(!attrs.extractable && attrs.never_extractable, "{attrs:?}");
    assert!(attrs.local, "made inside the token: {attrs:?}");
    let msg = b"Sig_structure stand-in";
    let sig = token.sign_digest(&label, &digest(msg)).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(msg, &sig)
        .unwrap();
    // A signature over another message does not verify: the token signed this digest.
    assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(b"another message", &sig)
        .is_err());
}

#[test]
fn a_label_in_use_is_refused_and_a_missing_key_is_named() {
    let _login = logged_in();
    let token = open(1);
    let label = unique_label("dup");
    token.generate_p256(&label).unwrap();
    assert!(matches!(
        token.generate_p256(&label),
        Err(TokenError::LabelTaken { .. })
    ));
    let missing = unique_label("missing");
    match token.sign_digest(&missing, &digest(b"x")) {
        Err(TokenError::NoKey { label, .. }) => assert_eq!(label, missing),
        other => panic!("expected NoKey, got {other:?}"),
    }
}

#[test]
fn sessions_sign_in_parallel_and_every_signature_verifies() {
    let _login = logged_in();
    let token = open(2);
    let label = unique_label("par");
    let point = token.generate_p256(&label).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (token, label, point) = (&token, &label, &point);
            scope.spawn(move || {
                for i in 0..25 {
                    let msg = format!("thread {t} seal {i}");
                    let sig = token.sign_digest(label, &digest(msg.as_bytes())).unwrap();
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                        .verify(msg.as_bytes(), &sig)
                        .unwrap();
                }
            });
        }
    });
}

#[test]
fn a_token_that_logged_out_is_logged_in_again_on_a_new_session() {
    let _alone = logged_in();
    let token = open(1);
    let label = unique_label("relogin");
    let point = token.generate_p256(&label).unwrap();
    token.sign_digest(&label, &digest(b"before")).unwrap();
    // Logging out is per application: every session of the pool loses the private key, as
    // after a token reset.
    token.open_session(false).unwrap().logout().unwrap();
    let sig = token.sign_digest(&label, &digest(b"after")).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(b"after", &sig)
        .unwrap();
}

#[test]
fn an_unknown_token_label_or_a_missing_pin_file_is_named() {
    let _login = logged_in();
    let settings = &softhsm().settings;
    let err = Token::open(&Pkcs11Settings {
        token_label: "no-such-token".into(),
        ..settings.clone()
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CROSSCERT_PKCS11_TOKEN") && text.contains("crosscert-lib-tests"),
        "{text}"
    );
    let err = Token::open(&Pkcs11Settings {
        pin_file: PathBuf::from("/nonexistent/pin"),
        ..settings.clone()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("CROSSCERT_PKCS11_PIN_FILE"),
        "{err}"
    );
    let err = Token::open(&Pkcs11Settings {
        module: PathBuf::from("/nonexistent/libpkcs11.so"),
        ..settings.clone()
    })
    .unwrap_err();
    assert!(err.to_string().contains("CROSSCERT_PKCS11_MODULE"), "{err}");
}
