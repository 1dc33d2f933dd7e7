//! Signer keys: the example set needs `--demo`, `/readyz` names the signer's custody, and the
//! whole key ceremony with a SoftHSM2 token: `crosscert serve` seals through PKCS#11, the key
//! cannot leave the token, signers rotate and a retired signer seals nothing. The token and
//! the servers are child processes with their own `SOFTHSM2_CONF`.

use crate::helpers::{
    crosscert, run_ok, spawn_app, wait_until_up, Server, TestDb, LANSHAN_HALL, PASSWORD,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[test]
fn serve_refuses_the_example_keys_without_demo_and_names_the_remedy() {
    let db = TestDb::new();
    let out = crosscert()
        .env_remove("CROSSCERT_ALLOW_EXAMPLE_KEYS")
        .args(["serve", "--database-url", &db.url, "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must refuse the example keys");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for remedy in [
        "EXAMPLE",
        "--demo",
        "CROSSCERT_ALLOW_EXAMPLE_KEYS",
        "CROSSCERT_KEYS_DIR",
    ] {
        assert!(stderr.contains(remedy), "{remedy} missing from: {stderr}");
    }
    // `CROSSCERT_ALLOW_EXAMPLE_KEYS=0` is not a yes.
    let out = crosscert()
        .env("CROSSCERT_ALLOW_EXAMPLE_KEYS", "0")
        .args(["serve", "--database-url", &db.url, "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn readyz_names_the_sealing_signer_and_its_custody() {
    let app = spawn_app().await;
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let active = app
        .state
        .sealer
        .keys()
        .active_signer(crate::helpers::NowUtc::now_utc(&app.clock))
        .unwrap()
        .kid;
    assert_eq!(
        body["signer"],
        json!({"kid": hex::encode(active), "custody": "file", "example": true})
    );
    assert_eq!(body["checks"]["signer"], "ok");
}

/// A SoftHSM2 token in its own folder, initialised by `softhsm2-util`, and the environment
/// that points crosscert at it.
struct Hsm {
    conf: PathBuf,
    module: PathBuf,
    pin_file: PathBuf,
    label: &'static str,
}

impl Hsm {
    fn new(dir: &Path) -> Hsm {
        let module = crosscert::issuance::pkcs11::find_softhsm_module()
            .expect("SoftHSM2 is not installed: run scripts/install-deps.sh");
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        run_ok(
            Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", "crosscert-e2e"])
                .args(["--pin", "246810", "--so-pin", "13579135"])
                .env("SOFTHSM2_CONF", &conf),
        );
        let pin_file = dir.join("pin");
        std::fs::write(&pin_file, "246810\n").unwrap();
        Hsm {
            conf,
            module,
            pin_file,
            label: "crosscert-e2e",
        }
    }

    /// `crosscert` with the token configured.
    fn crosscert(&self) -> Command {
        let mut cmd = crosscert();
        cmd.env("SOFTHSM2_CONF", &self.conf)
            .env("CROSSCERT_PKCS11_MODULE", &self.module)
            .env("CROSSCERT_PKCS11_TOKEN", self.label)
            .env("CROSSCERT_PKCS11_PIN_FILE", &self.pin_file)
            .env("CROSSCERT_PKCS11_SESSIONS", "2")
            .env_remove("CROSSCERT_ALLOW_EXAMPLE_KEYS");
        cmd
    }

    /// `pkcs11-tool --list-objects --type privkey`: what the token itself says of its keys.
    fn private_keys(&self) -> String {
        let out = run_ok(
            Command::new("pkcs11-tool")
                .arg("--module")
                .arg(&self.module)
                .args(["--token-label", self.label, "--login", "--pin", "246810"])
                .args(["--list-objects", "--type", "privkey"])
                .env("SOFTHSM2_CONF", &self.conf),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// new-signer, sign-signer, install-signer for `label`, signing from today for two years.
fn add_signer(hsm: &Hsm, work: &Path, keys: &Path, pass: &Path, label: &str) {
    let today = chrono::Utc::now().date_naive();
    let until = today + chrono::Duration::days(730);
    let csr = work.join(format!("{label}.csr"));
    let cert = work.join(format!("{label}.pem"));
    run_ok(hsm.crosscert().args([
        "keys",
        "new-signer",
        "--label",
        label,
        "--not-before",
        &today.to_string(),
        "--not-after",
        &until.to_string(),
        "--csr-out",
        arg(&csr),
    ]));
    // The root is used only here, and needs no token.
    run_ok(crosscert().args([
        "keys",
        "sign-signer",
        "--root-dir",
        arg(keys),
        "--passphrase-file",
        arg(pass),
        "--csr",
        arg(&csr),
        "--out",
        arg(&cert),
    ]));
    run_ok(crosscert().args([
        "keys",
        "install-signer",
        "--cert",
        arg(&cert),
        "--keys-dir",
        arg(keys),
    ]));
}

/// `keys list` rows as (kid, label, state).
fn list(keys: &Path) -> Vec<(String, String, String)> {
    let out = run_ok(crosscert().args(["keys", "list", "--keys-dir", arg(keys)]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

/// `crosscert serve` on a port of its own choosing (`--bind 127.0.0.1:0`), read back from its
/// "listening" log line: a port picked beforehand could be taken meanwhile by another test's
/// server, which would then answer in this one's place.
fn serve(hsm: &Hsm, db_url: &str, keys: &Path) -> Server {
    let mut child = hsm
        .crosscert()
        .args(["serve", "--database-url", db_url, "--bind", "127.0.0.1:0"])
        .env("CROSSCERT_KEYS_DIR", keys)
        // This test is about keys; the issuer signs in with a password alone.
        .env("CROSSCERT_REQUIRE_TOTP_FOR", "")
        .env("CROSSCERT_JSON_LOGS", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the log to its end, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["fields"]["message"] == "crosscert is listening" {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(v["fields"]["port"].as_u64());
                }
            }
        }
    });
    let port = rx
        .recv_timeout(std::time::Duration::from_secs(90))
        .expect("crosscert serve did not say it was listening (it exited or hung)")
        .expect("a port in the listening line");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn log_in(base: &str) -> Client {
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{base}/api/v1/sessions"))
            .json(&json!({"username": "wang", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let token = res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        Client {
            http,
            base: base.to_string(),
            token,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn issue(&self) -> reqwest::Response {
        let types: Vec<Value> = self.get("/api/v1/cert-types").await.json().await.unwrap();
        let code = types
            .iter()
            .find(|t| t["name"].as_str().unwrap().starts_with("营业执照"))
            .unwrap()["code"]
            .as_str()
            .unwrap()
            .to_string();
        let detail: Value = self
            .get(&format!("/api/v1/cert-types/{code}"))
            .await
            .json()
            .await
            .unwrap();
        let mut body = detail["example"].clone();
        body["type_code"] = json!(code);
        self.http
            .post(format!("{}/api/v1/licences", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn readyz(&self) -> (u16, Value) {
        let res = self.get("/readyz").await;
        (res.status().as_u16(), res.json().await.unwrap())
    }
}

/// `crosscert verify QR --trust-list F` (the offline verifier, no server involved): the
/// signer kid when authentic, else `None`.
fn verify_offline(trust_list: &Path, qr_text: &str) -> Option<String> {
    let out = crosscert()
        .args(["verify", qr_text, "--trust-list", arg(trust_list)])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code() == Some(0) && report["authentic"] == true).then(|| {
        report["signer_kid"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

async fn save_trust_list(client: &Client, to: &Path) -> Value {
    let text = client.get("/api/v1/trust-list").await.text().await.unwrap();
    std::fs::write(to, &text).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_key_ceremony_seals_through_the_token_and_rotates_signers() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let hsm = Hsm::new(work);
    let keys = work.join("keys");
    let pass = work.join("passphrase");
    std::fs::write(&pass, "a long and witnessed passphrase\n").unwrap();

    // The ceremony: root (offline, encrypted key), signer A in the token, its certificate.
    run_ok(crosscert().args([
        "keys",
        "init-root",
        "--out",
        arg(&keys),
        "--passphrase-file",
        arg(&pass),
    ]));
    assert!(std::fs::read_to_string(keys.join("root.key.pem"))
        .unwrap()
        .contains("CROSSCERT ENCRYPTED PRIVATE KEY"));
    add_signer(&hsm, work, &keys, &pass, "signer-a");
    let listed = list(&keys);
    assert_eq!(listed.len(), 1);
    let (kid_a, label, state) = listed[0].clone();
    assert_eq!((label.as_str(), state.as_str()), ("signer-a", "active"));
    let log = std::fs::read_to_string(keys.join("ceremony.log")).unwrap();
    for step in ["RootCreated", "SignerCertificateIssued", "SignerInstalled"] {
        assert!(
            log.contains(step),
            "{step} missing from ceremony.log:\n{log}"
        );
    }

    // The token says the key can never leave it.
    let objects = hsm.private_keys();
    let block = objects
        .split("Private Key Object")
        .find(|b| b.contains("label:      signer-a"))
        .unwrap_or_else(|| panic!("no signer-a in {objects}"));
    assert!(
        block.contains("sensitive") && block.contains("never extractable"),
        "{block}"
    );

    // The server seals through the token.
    let db = TestDb::new();
    run_ok(crosscert().args(["seed-demo", "--database-url", &db.url]));
    let mut create = crosscert()
        .args(["admin", "create-user", "--database-url", &db.url])
        .args([
            "--username",
            "wang",
            "--role",
            "issuer",
            "--hall",
            LANSHAN_HALL,
        ])
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(create.wait().unwrap().success());

    let mut server = serve(&hsm, &db.url, &keys);
    wait_until_up(&mut server).await;
    let client = Client::log_in(&server.base).await;
    let (status, ready) = client.readyz().await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready["signer"],
        json!({"kid": kid_a, "custody": "pkcs11", "example": false})
    );
    let mut old = Vec::new();
    let mut first_id = String::new();
    for _ in 0..2 {
        let res = client.issue().await;
        assert_eq!(res.status(), 201);
        let licence: Value = res.json().await.unwrap();
        assert_eq!(licence["signer_kid"], kid_a.as_str());
        old.push(licence["qr_text"].as_str().unwrap().to_string());
        first_id = licence["id"].as_str().unwrap().to_string();
    }
    let trust_a = work.join("trust-a.json");
    save_trust_list(&client, &trust_a).await;
    // The electronic licence file is PAdES-signed through the token too (issue 23).
    let res = client
        .get(&format!("/api/v1/licences/{first_id}/pdf"))
        .await;
    assert_eq!(res.status(), 200);
    let pdf_path = work.join("licence.pdf");
    std::fs::write(&pdf_path, res.bytes().await.unwrap()).unwrap();
    let out = crosscert()
        .args([
            "verify",
            "--pdf",
            arg(&pdf_path),
            "--trust-list",
            arg(&trust_a),
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["signature"]["signer_kid"], kid_a.as_str());
    assert_eq!(report["seal"]["same_signer_as_signature"], true);
    for qr in &old {
        assert_eq!(
            verify_offline(&trust_a, qr).as_deref(),
            Some(kid_a.as_str())
        );
    }
    drop(server);

    // Rotation: signer B joins, A retires now; the server restarts on the new manifest.
    add_signer(&hsm, work, &keys, &pass, "signer-b");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    run_ok(crosscert().args([
        "keys",
        "retire",
        "--kid",
        &kid_a,
        "--at",
        &now,
        "--keys-dir",
        arg(&keys),
    ]));
    let listed = list(&keys);
    let kid_b = listed.iter().find(|s| s.1 == "signer-b").unwrap().0.clone();
    assert_eq!(
        listed
            .iter()
            .map(|(_, l, s)| (l.as_str(), s.as_str()))
            .collect::<Vec<_>>(),
        [("signer-a", "retired"), ("signer-b", "active")]
    );

    let mut server = serve(&hsm, &db.url, &keys);
    wait_until_up(&mut server).await;
    let client = Client::log_in(&server.base).await;
    assert_eq!(client.readyz().await.1["signer"]["kid"], kid_b.as_str());
    let res = client.issue().await;
    assert_eq!(res.status(), 201);
    let new: Value = res.json().await.unwrap();
    assert_eq!(
        new["signer_kid"],
        kid_b.as_str(),
        "the retired signer sealed"
    );
    let trust_ab = work.join("trust-ab.json");
    let list_ab = save_trust_list(&client, &trust_ab).await;
    // The trust list shows both signers with their periods; only B is active.
    let signers = list_ab["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 2);
    let a = signers.iter().find(|s| s["kid"] == kid_a.as_str()).unwrap();
    let b = signers.iter().find(|s| s["kid"] == kid_b.as_str()).unwrap();
    assert_eq!(
        (a["active"].clone(), b["active"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        a["sign_until"].as_str().map(|s| s.starts_with(&now[..19])),
        Some(true),
        "{a}"
    );
    // Old licences (sealed inside A's period) and the new one all verify.
    for qr in &old {
        assert_eq!(
            verify_offline(&trust_ab, qr).as_deref(),
            Some(kid_a.as_str())
        );
    }
    let new_qr = new["qr_text"].as_str().unwrap();
    assert_eq!(
        verify_offline(&trust_ab, new_qr).as_deref(),
        Some(kid_b.as_str())
    );
    // The server's own verification agrees.
    let verdict: Value = client
        .http
        .get(format!("{}/api/v1/verify", server.base))
        .query(&[("code", old[0].as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["authentic"], true, "{verdict}");
    drop(server);

    // With every signer retired nothing is sealed: issuing is 503 and /readyz says so.
    run_ok(crosscert().args([
        "keys",
        "retire",
        "--kid",
        &kid_b,
        "--at",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "--keys-dir",
        arg(&keys),
    ]));
    let mut server = serve(&hsm, &db.url, &keys);
    wait_until_up(&mut server).await;
    let client = Client::log_in(&server.base).await;
    let res = client.issue().await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "no_signer");
    let (status, ready) = client.readyz().await;
    assert_eq!(status, 503);
    assert_eq!(ready["signer"], Value::Null);
    assert!(verify_offline(&trust_ab, new_qr).is_some());
}

#[test]
fn a_wrong_pin_or_a_missing_token_setting_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(dir.path());
    let bad_pin = dir.path().join("bad-pin");
    std::fs::write(&bad_pin, "999999\n").unwrap();
    let out = hsm
        .crosscert()
        .env("CROSSCERT_PKCS11_PIN_FILE", &bad_pin)
        .args([
            "keys",
            "new-signer",
            "--label",
            "x",
            "--not-before",
            "2026-01-01",
        ])
        .args(["--not-after", "2099-01-01", "--csr-out"])
        .arg(dir.path().join("x.csr"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PIN") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.csr").exists());

    let out = hsm
        .crosscert()
        .env_remove("CROSSCERT_PKCS11_TOKEN")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CROSSCERT_PKCS11_TOKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
