//! Load tooling and the verify hot path: `crosscert admin seed-load` through the real binary
//! (what it stores is what issuance would have stored: verdicts, status-list slots, the
//! transparency log's hashes), and the verified-seal cache (a cached seal never hides a
//! revocation).

use crate::helpers::{
    crosscert, free_port, run_ok, spawn_app, spawn_app_on, wait_until_up, Server, TestDb,
};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::storage::{self, tlog as log_store};
use crosscert::tlog::merkle;
use diesel::RunQueryDsl;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut storage::DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

async fn verdict(client: &reqwest::Client, base: &str, code: &str) -> Value {
    let res = client
        .get(format!("{base}/api/v1/verify"))
        .query(&[("code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "verify {code}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn seed_load_stores_sealed_licences_issuance_would_have_stored() {
    const N: i64 = 2000;
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let codes = dir.path().join("codes.tsv");
    let out = run_ok(crosscert().args([
        "admin",
        "seed-load",
        "--database-url",
        &db.url,
        "--licences",
        &N.to_string(),
        "--jobs",
        "4",
        "--codes",
        "400",
        "--codes-out",
        codes.to_str().unwrap(),
    ]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("seeded {N} licence versions")),
        "{said}"
    );

    let pool = storage::connect(&db.url, 2).unwrap();
    let mut conn = pool.get().unwrap();
    let c = &mut *conn;
    assert_eq!(count(c, "SELECT COUNT(*) AS n FROM licences"), N);
    // Statuses: about 1% revoked, 0.5% suspended, 2% superseded (each by a valid version 2).
    let revoked = count(
        c,
        "SELECT COUNT(*) AS n FROM licences WHERE status = 'revoked'",
    );
    let suspended = count(
        c,
        "SELECT COUNT(*) AS n FROM licences WHERE status = 'suspended'",
    );
    let superseded = count(
        c,
        "SELECT COUNT(*) AS n FROM licences WHERE status = 'superseded'",
    );
    assert!((5..=45).contains(&revoked), "{revoked} revoked of {N}");
    assert!(
        (1..=25).contains(&suspended),
        "{suspended} suspended of {N}"
    );
    assert!(
        (15..=80).contains(&superseded),
        "{superseded} superseded of {N}"
    );
    assert_eq!(
        count(
            c,
            "SELECT COUNT(*) AS n FROM licences o JOIN licences n ON n.id = o.superseded_by \
             WHERE o.status = 'superseded' AND n.previous_id = o.id AND n.version = 2 \
             AND n.serial = o.serial AND n.licence_no = o.licence_no AND n.status = 'valid'"
        ),
        superseded
    );
    // Serial counters moved past every serial used.
    assert_eq!(
        count(
            c,
            "SELECT COUNT(*) AS n FROM licences l JOIN licence_sequences s \
             ON s.type_code = l.type_code AND s.issuer_code = l.issuer_code \
             WHERE l.serial > s.last_serial"
        ),
        0
    );
    // One distinct status-list slot per licence.
    assert_eq!(count(c, "SELECT COUNT(*) AS n FROM status_list_entries"), N);
    assert_eq!(
        count(
            c,
            "SELECT COUNT(DISTINCT licence_id) AS n FROM status_list_entries"
        ),
        N
    );
    // The log: an `issued` entry per version, one per status change, all integrated, and
    // the stored subtree hashes give the root of the entries hashed from scratch.
    let entries = count(c, "SELECT COUNT(*) AS n FROM tlog_entries");
    assert_eq!(entries, N + revoked + suspended + superseded);
    assert_eq!(
        count(
            c,
            "SELECT COUNT(*) AS n FROM tlog_entries WHERE leaf_index IS NULL"
        ),
        0
    );
    let size = log_store::size(c).unwrap();
    assert_eq!(size as i64, entries);
    let mut tree = merkle::MemoryTree::new();
    for data in log_store::entries(c, 0, size).unwrap() {
        tree.push(merkle::leaf_hash(&data));
    }
    let stored = merkle::root(&mut log_store::DbHashes::new(c), size).unwrap();
    assert_eq!(
        stored,
        tree.root(),
        "the stored log hashes disagree with its entries"
    );
    // Print jobs, queued through the real service.
    assert_eq!(
        count(
            c,
            "SELECT COUNT(*) AS n FROM print_jobs WHERE state = 'queued'"
        ),
        4
    );
    drop(conn);

    // A server on it answers every sampled code truthfully, each seal recorded in the log.
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
            .env("CROSSCERT_VERIFY_RATE_LIMIT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_until_up(&mut server).await;
    let client = reqwest::Client::new();
    let text = std::fs::read_to_string(&codes).unwrap();
    let lines: Vec<(&str, &str)> = text.lines().map(|l| l.split_once('\t').unwrap()).collect();
    assert_eq!(lines.len(), 400);
    let mut seen = std::collections::BTreeMap::new();
    for (status, code) in &lines {
        let v = verdict(&client, &server.base, code).await;
        assert_eq!(v["authentic"], true, "{v}");
        assert_eq!(v["status"], *status, "{v}");
        assert_eq!(v["valid"], *status == "valid", "{v}");
        assert_eq!(v["log"]["recorded"], true, "{v}");
        *seen.entry(status.to_string()).or_insert(0) += 1;
    }
    assert!(seen.get("valid").copied().unwrap_or(0) > 300, "{seen:?}");
}

/// Revoke, then verify at once: the seal is still in the cache (no ECDSA) and the register
/// row in memory, and the verdict is `invalid` at once on the server that revoked and within
/// a second on a second server over the same database whose caches also hold both.
#[tokio::test]
async fn a_revoked_licence_is_invalid_within_a_second_even_with_its_seal_cached() {
    let app = spawn_app().await;
    let other = spawn_app_on(TestDb::shared(&app.db.url), |_| {}).await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let licence = issue(&app, &token, &body).await;
    let qr = licence["qr_text"].as_str().unwrap();
    let key = merkle::sha256(&crosscert::verification::decode_qr_text(qr).unwrap());
    for server in [&app, &other] {
        assert!(server.state.verify_gate.seals.get(&key).is_none());
        for _ in 0..2 {
            let v = verdict(&server.client, &server.address, qr).await;
            assert_eq!(v["valid"], true, "{v}");
        }
        assert!(
            server.state.verify_gate.seals.get(&key).is_some(),
            "the genuine seal is cached after its first verification"
        );
    }
    // Once the seal's log entry is integrated, each server keeps the licence's register row
    // in memory too (a repeat costs no statement).
    let started = Instant::now();
    for server in [&app, &other] {
        while server.state.verify_gate.rows.is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the row is kept"
            );
            let v = verdict(&server.client, &server.address, qr).await;
            assert_eq!(v["valid"], true, "{v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let v = verdict(&server.client, &server.address, qr).await;
        assert_eq!(v["valid"], true, "{v}");
    }
    // Just before the revocation: the revoking server has read the change counter within the
    // last 500 ms, so only its own drop after the commit can make the next answer current.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let v = verdict(&app.client, &app.address, qr).await;
    assert_eq!(v["valid"], true, "{v}");
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/revoke",
                licence["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "缓存测试"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let revoked_at = Instant::now();
    // The server that revoked answers "revoked" at once (it drops its kept rows after the
    // commit).
    let v = verdict(&app.client, &app.address, qr).await;
    assert_eq!(v["reason"], "revoked", "{v}");
    // The other process keeps the licence's row in memory; it reads the register's change
    // counter at least every 500 ms, so within a second it answers "revoked", and from then on
    // never "valid" again.
    let mut first_revoked = None;
    while revoked_at.elapsed() < Duration::from_millis(1500) {
        let v = verdict(&other.client, &other.address, qr).await;
        assert_eq!(v["authentic"], true, "{v}");
        match (first_revoked, v["valid"].as_bool()) {
            (None, Some(true)) => {}
            (None, Some(false)) => first_revoked = Some(revoked_at.elapsed()),
            (Some(_), Some(false)) => {}
            (Some(at), _) => panic!("valid again after being answered revoked at {at:?}: {v}"),
            (None, None) => panic!("{v}"),
        }
        if first_revoked.is_some() {
            assert_eq!(v["reason"], "revoked", "{v}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at = first_revoked.expect("answered revoked");
    assert!(
        at < Duration::from_secs(1),
        "answered revoked only after {at:?}"
    );
    for server in [&app, &other] {
        assert!(server.state.verify_gate.seals.get(&key).is_some());
        let v = verdict(&server.client, &server.address, qr).await;
        assert_eq!(v["reason"], "revoked", "{v}");
    }
    // A forged copy of the cached seal is still refused (the cache is keyed by the bytes).
    let mut cose = crosscert::verification::decode_qr_text(qr).unwrap();
    let last = cose.len() - 1;
    cose[last] ^= 1;
    let forged = crosscert::verification::qr_text("https://x", &cose);
    let v = verdict(&app.client, &app.address, &forged).await;
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["reason"], "bad_signature", "{v}");
}
