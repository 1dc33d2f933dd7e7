//! The `crosscert` binary as a process: `serve --demo`, two servers on one database, and the
//! admin commands.

use crate::helpers::{crosscert, free_port, start_server, wait_until_up, Server, TestDb, PASSWORD};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test]
async fn serve_demo_lets_admin_log_in_and_lists_197_halls() {
    let db = TestDb::new();
    let mut server = start_server(&db.url, true);
    wait_until_up(&mut server).await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = res.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let halls: Vec<serde_json::Value> = client
        .get(format!("{}/api/v1/halls", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(halls.len(), 197);
    assert_eq!(halls.iter().filter(|h| h["kind"] == "partner").count(), 24);
    let res = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&serde_json::json!({"username": "admin", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn two_servers_on_one_database_start_side_by_side() {
    let db = TestDb::new();
    if !db.is_postgres() {
        // Scale-out is PostgreSQL's job; the PostgreSQL run of the suite covers it.
        return;
    }
    let mut a = start_server(&db.url, true);
    let mut b = start_server(&db.url, true);
    wait_until_up(&mut a).await;
    wait_until_up(&mut b).await;
    let client = reqwest::Client::new();
    for s in [&a, &b] {
        assert_eq!(
            client
                .get(format!("{}/readyz", s.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let res = client
            .post(format!("{}/api/v1/sessions", s.base))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    use diesel::prelude::*;
    let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let halls: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM halls")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(halls.n, 197);
    let migrations: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
            .get_result(&mut conn)
            .unwrap();
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(migrations.n as usize, expected);
}

#[tokio::test]
async fn admin_commands_create_a_user_and_print_an_agent_token() {
    let db = TestDb::new();
    let status = crosscert()
        .args(["seed-demo", "--database-url", &db.url])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = crosscert()
        .args([
            "admin",
            "create-user",
            "--database-url",
            &db.url,
            "--username",
            "wang",
            "--role",
            "issuer",
            "--hall",
            "371302000",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());

    let out = crosscert()
        .args([
            "admin",
            "agent-token",
            "--database-url",
            &db.url,
            "--hall",
            "320382000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the token alone on stdout: {stdout:?}"
    );
    let token = stdout.trim().to_string();

    let out = crosscert()
        .args([
            "admin",
            "agent-token",
            "--database-url",
            &db.url,
            "--hall",
            "000000000",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown hall must fail");

    let mut server = start_server(&db.url, false);
    wait_until_up(&mut server).await;
    let client = reqwest::Client::new();
    let who: serde_json::Value = client
        .get(format!("{}/api/v1/agent/whoami", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["hall"], "320382000");
    let res = client
        .post(format!("{}/api/v1/sessions", server.base))
        .json(&serde_json::json!({"username": "wang", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the password has no trailing newline");
}

#[test]
fn unknown_database_scheme_is_refused_clearly() {
    let out = crosscert()
        .args(["migrate", "--database-url", "mysql://x/y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn keys_check_accepts_the_example_set() {
    let out = crate::helpers::run_ok(crosscert().args(["keys", "check"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("signer-2026"));
}

#[test]
fn serve_refuses_to_start_when_a_signer_key_does_not_match_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/keys-example")),
        &keys,
    );
    // Put another key (the server's) in the active signer's place.
    std::fs::copy(
        keys.join("server.key.pem"),
        keys.join("signer-2026.key.pem"),
    )
    .unwrap();
    let out = crosscert()
        .args(["keys", "check", "--keys-dir", keys.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signer-2026.key.pem"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = TestDb::new();
    let out = crosscert()
        .args(["serve", "--database-url", &db.url, "--bind", "127.0.0.1:0"])
        .env("CROSSCERT_KEYS_DIR", &keys)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "serve must refuse a key that does not match its certificate"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("signer-2026.key.pem"));
}

#[test]
fn serve_refuses_a_signer_from_a_foreign_root() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours");
    copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/keys-example")),
        &ours,
    );
    let foreign = dir.path().join("foreign");
    crate::helpers::run_ok(crosscert().args([
        "keys",
        "gen-example",
        "--out",
        foreign.to_str().unwrap(),
    ]));
    // A signer certificate and key from another root, under our root.
    std::fs::copy(
        foreign.join("signer-2026.pem"),
        ours.join("signer-2026.pem"),
    )
    .unwrap();
    std::fs::copy(
        foreign.join("signer-2026.key.pem"),
        ours.join("signer-2026.key.pem"),
    )
    .unwrap();
    let db = TestDb::new();
    let out = crosscert()
        .args(["serve", "--database-url", &db.url, "--bind", "127.0.0.1:0"])
        .env("CROSSCERT_KEYS_DIR", &ours)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("signer-2026.pem"), "{stderr}");
}

#[tokio::test]
async fn serve_over_tls_accepts_a_hall_client_certificate_as_the_hall() {
    let keys = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/keys-example"));
    let db = TestDb::new();
    let status = crosscert()
        .args(["seed-demo", "--database-url", &db.url])
        .status()
        .unwrap();
    assert!(status.success());
    let port = free_port();
    let mut server = Server {
        child: crosscert()
            .args([
                "serve",
                "--database-url",
                &db.url,
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--tls-cert")
            .arg(keys.join("server.pem"))
            .arg("--tls-key")
            .arg(keys.join("server.key.pem"))
            .arg("--client-ca")
            .arg(keys.join("hall-ca.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("https://localhost:{port}"),
    };
    // The hall CA issues the server certificate and the hall client certificates.
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(keys.join("hall-ca.pem")).unwrap()).unwrap();
    let mut identity_pem = std::fs::read(keys.join("hall-320382000.pem")).unwrap();
    identity_pem.extend(std::fs::read(keys.join("hall-320382000.key.pem")).unwrap());
    let with_cert = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(root.clone())
        .identity(reqwest::Identity::from_pem(&identity_pem).unwrap())
        .build()
        .unwrap();
    let without = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("crosscert serve exited early with {status}");
        }
        if let Ok(res) = without.get(format!("{}/healthz", server.base)).send().await {
            assert_eq!(res.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "TLS server did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let who: serde_json::Value = with_cert
        .get(format!("{}/api/v1/agent/whoami", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["hall"], "320382000", "{who}");
    let res = without
        .get(format!("{}/api/v1/agent/whoami", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
