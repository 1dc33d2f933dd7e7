//! The transparency log: 5 witness processes and quorum 3, a witness killed mid-run, a forked
//! checkpoint refused, an inclusion proof checked offline, the independent Python checker,
//! and a licence row deleted behind the server's back.

use crate::helpers::{crosscert, free_port, run_ok, spawn_app_with, TestApp};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::issuance::note_key::NoteKey;
use crosscert::tlog::merkle;
use crosscert::tlog::note::{self, Checkpoint, Note, Verifier};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ORIGIN: &str = "verify.example.test/log";

struct WitnessProc {
    child: Child,
    url: String,
    vkey: String,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_vkey() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example/log.key.pem");
    NoteKey::load(&path, ORIGIN).unwrap().note_verifier().vkey()
}

async fn start_witness(dir: &std::path::Path, i: usize) -> WitnessProc {
    let key = dir.join(format!("w{i}.key"));
    let out = run_ok(crosscert().args([
        "witness",
        "keygen",
        "--name",
        &format!("county{i}.example"),
        "--out",
        key.to_str().unwrap(),
    ]));
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(Verifier::parse(&vkey).is_ok(), "{vkey}");
    let port = free_port();
    let child = crosscert()
        .args([
            "witness",
            "serve",
            "--key",
            key.to_str().unwrap(),
            "--log-vkey",
            &log_vkey(),
            "--state",
            dir.join(format!("w{i}-state")).to_str().unwrap(),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "witness {i} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    WitnessProc {
        child,
        url: format!("http://127.0.0.1:{port}"),
        vkey,
    }
}

/// Wait for a published checkpoint of at least `size` entries.
async fn checkpoint_at_least(app: &TestApp, size: u64) -> Note {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = app.get("/log/checkpoint", None).await;
        if res.status() == 200 {
            let n = Note::parse(&res.text().await.unwrap()).unwrap();
            if Checkpoint::parse(&n.body).unwrap().size >= size {
                return n;
            }
        }
        assert!(Instant::now() < deadline, "no checkpoint of size {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn size_of(n: &Note) -> u64 {
    Checkpoint::parse(&n.body).unwrap().size
}

async fn verify(app: &TestApp, qr: &str) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/verify"))
        .query(&[("code", qr)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Verify until the verdict gives `reason`, for at most a second; the last verdict.
async fn verify_within_a_second(app: &TestApp, qr: &str, reason: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let v = verify(app, qr).await;
        if v["reason"] == reason || started.elapsed() > std::time::Duration::from_secs(1) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn exec(sql: &str, app: &TestApp) {
    use diesel::RunQueryDsl;
    let mut conn = app.state.pool.get().unwrap();
    diesel::sql_query(sql).execute(&mut *conn).unwrap();
}

#[tokio::test]
async fn five_witnesses_cosign_the_log_and_a_deleted_licence_is_still_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut witnesses = Vec::new();
    for i in 0..5 {
        witnesses.push(start_witness(dir.path(), i).await);
    }
    let configured = witnesses
        .iter()
        .map(|w| format!("{} {}", w.url, w.vkey))
        .collect::<Vec<_>>()
        .join(";");
    let app = spawn_app_with(|s| {
        s.log.origin = ORIGIN.into();
        s.log.witnesses = crosscert::tlog::parse_witnesses(&configured).unwrap();
        s.log.quorum = 3;
        s.log.interval = Duration::from_millis(200);
    })
    .await;
    let log_key = Verifier::parse(&log_vkey()).unwrap();
    let witness_keys: Vec<Verifier> = witnesses
        .iter()
        .map(|w| Verifier::parse(&w.vkey).unwrap())
        .collect();

    // `crosscert log vkey` reads the keys directory, no server.
    let out = run_ok(
        crosscert()
            .args(["log", "vkey"])
            .env("CROSSCERT_LOG_ORIGIN", ORIGIN),
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), log_vkey());

    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let first = issue(&app, &token, &body).await;
    // A round by hand (the background task runs them too).
    assert!(app.log.run_round().await.unwrap().size >= 1);
    let c1 = checkpoint_at_least(&app, 1).await;
    assert!(c1.verify(&log_key).is_ok());
    assert!(c1.count_cosignatures(&witness_keys) >= 3, "{}", c1.text());

    // A witness dies: the log goes on with the other four.
    witnesses[0].child.kill().unwrap();
    let second = issue(&app, &token, &body).await;
    let c2 = checkpoint_at_least(&app, size_of(&c1) + 1).await;
    let cosigned = c2.count_cosignatures(&witness_keys);
    assert!((3..=4).contains(&cosigned), "{}", c2.text());
    assert!(c2.verify(&witness_keys[0]).is_err());

    // A forked checkpoint (right size, other root), even signed by the log key, is refused.
    let key = NoteKey::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example/log.key.pem"),
        ORIGIN,
    )
    .unwrap();
    let mut latest = checkpoint_at_least(&app, size_of(&c2)).await;
    // Let the witnesses settle on the newest size first.
    tokio::time::sleep(Duration::from_millis(600)).await;
    latest = checkpoint_at_least(&app, size_of(&latest)).await;
    let size = size_of(&latest);
    let forked = key.sign_note(
        &Checkpoint {
            origin: ORIGIN.into(),
            size: size + 1,
            root: merkle::leaf_hash(b"forged history"),
        }
        .body(),
    );
    let mut refused = 0;
    for w in &witnesses[1..] {
        for old in [size, size + 1] {
            let req = format!(
                "old {old}\n{}\n\n{}",
                note::encode_hash(&[7; 32]),
                forked.text()
            );
            let res = app
                .client
                .post(format!("{}/add-checkpoint", w.url))
                .body(req)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert_ne!(status, 200, "a witness cosigned a fork");
            if status == 409 {
                assert_eq!(res.headers()["content-type"], "text/x.tlog.size");
            }
            refused += 1;
        }
    }
    assert_eq!(refused, 8);

    // The inclusion proof of a licence verifies offline against the pinned keys.
    let identifier = second["identifier"].as_str().unwrap();
    let res = app
        .client
        .get(app.url("/api/v1/log/proof"))
        .query(&[("identifier", identifier)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let proof = res.text().await.unwrap();
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\n"), "{proof}");
    let proof_file = dir.path().join("licence.tlog-proof");
    std::fs::write(&proof_file, &proof).unwrap();
    let check = |extra: &[&str]| {
        let mut c = crosscert();
        c.args([
            "log",
            "check-proof",
            "--proof",
            proof_file.to_str().unwrap(),
            "--log-vkey",
            &log_vkey(),
            "--quorum",
            "3",
        ]);
        for w in &witnesses {
            c.args(["--witness", &w.vkey]);
        }
        c.args(extra);
        c.output().unwrap()
    };
    let out = check(&[
        "--identifier",
        identifier,
        "--code",
        second["qr_text"].as_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["kind"], "issued");
    // Not the proof of another licence, nor of another seal.
    let other = first["identifier"].as_str().unwrap();
    assert!(!check(&["--identifier", other]).status.success());
    assert!(!check(&["--code", first["qr_text"].as_str().unwrap()])
        .status
        .success());
    // Nor with too few witnesses known.
    let mut few = crosscert();
    few.args([
        "log",
        "check-proof",
        "--proof",
        proof_file.to_str().unwrap(),
    ])
    .args([
        "--log-vkey",
        &log_vkey(),
        "--quorum",
        "3",
        "--witness",
        &witnesses[1].vkey,
    ]);
    assert!(!few.output().unwrap().status.success());

    // The verify API says it is logged and witnessed.
    let v = verify(&app, second["qr_text"].as_str().unwrap()).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["log"]["logged"], true, "{v}");
    assert!(v["log"]["witnesses"].as_u64().unwrap() >= 3, "{v}");

    // The independent checker: Python, its own Ed25519 and SHA-256.
    let mut py = std::process::Command::new("python3");
    py.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tools/check_tlog.py"
    ))
    .args([app.address.as_str(), &log_vkey(), "3"]);
    for w in &witnesses {
        py.arg(&w.vkey);
    }
    let out = run_ok(&mut py);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = summary["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e.as_str().unwrap().contains(identifier)));
    assert!(
        !entries.iter().any(|e| e
            .as_str()
            .unwrap()
            .contains(body["holder"]["name"].as_str().unwrap())),
        "holder data in the log"
    );

    // Deleted behind the server's back: the monitor still sees the issuance, the verify API
    // says unknown_licence while the log shows it was issued.
    let state = dir.path().join("monitor");
    let monitor = |state: &std::path::Path| {
        let mut m = crosscert();
        m.args([
            "log",
            "monitor",
            "--log",
            &app.address,
            "--state",
            state.to_str().unwrap(),
            "--log-vkey",
            &log_vkey(),
        ]);
        m.output().unwrap()
    };
    let first_id = first["id"].as_str().unwrap();
    exec(
        &format!("DELETE FROM status_list_entries WHERE licence_id = '{first_id}'"),
        &app,
    );
    exec(
        &format!("DELETE FROM licences WHERE id = '{first_id}'"),
        &app,
    );
    let out = monitor(&state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = String::from_utf8(out.stdout).unwrap();
    let first_identifier = first["identifier"].as_str().unwrap();
    assert!(
        seen.lines()
            .any(|l| l.contains(" issued ") && l.contains(first_identifier)),
        "{seen}"
    );
    // Within a second: the verify routes keep register rows in memory and read the
    // register's change counter (moved by the deletion's trigger) at least every 500 ms.
    let v =
        verify_within_a_second(&app, first["qr_text"].as_str().unwrap(), "unknown_licence").await;
    assert_eq!(v["reason"], "unknown_licence", "{v}");
    assert_eq!(v["log"]["logged"], true, "{v}");

    // A genuine seal whose log entry is missing is not_logged; and rewriting the log's
    // history is an inconsistency the monitor reports.
    exec(
        &format!("DELETE FROM tlog_entries WHERE subject = '{identifier}'"),
        &app,
    );
    let v = verify_within_a_second(&app, second["qr_text"].as_str().unwrap(), "not_logged").await;
    assert_eq!(v["reason"], "not_logged", "{v}");
    let out = monitor(&state);
    assert!(!out.status.success(), "the monitor missed a rewritten log");
}

/// Licences sealed before the log existed get their `issued` entry at start-up, once each,
/// oldest first, in batches that each look only at their own licences.
#[tokio::test]
async fn licences_sealed_before_the_log_are_entered_once_at_start() {
    let app = crate::helpers::spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let mut identifiers = Vec::new();
    for _ in 0..3 {
        let l = issue(&app, &token, &body).await;
        identifiers.push(l["identifier"].as_str().unwrap().to_string());
    }
    // Nothing to do when every licence has its entry.
    assert_eq!(app.log.backfill().await.unwrap(), 0);
    // As if the first two had been sealed before the log.
    for id in &identifiers[..2] {
        exec(
            &format!("DELETE FROM tlog_entries WHERE subject = '{id}'"),
            &app,
        );
    }
    assert_eq!(app.log.backfill().await.unwrap(), 2);
    assert_eq!(app.log.backfill().await.unwrap(), 0);
    let mut conn = app.state.pool.get().unwrap();
    assert!(crosscert::storage::tlog::unlogged_licences(&mut conn)
        .unwrap()
        .is_empty());
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for id in &identifiers {
        use diesel::RunQueryDsl;
        let c: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM tlog_entries WHERE subject = '{id}' AND kind = 'issued'"
        ))
        .get_result(&mut *conn)
        .unwrap();
        assert_eq!(c.n, 1, "{id}");
    }
}

/// The log's cost per issuance at 10,000 licences (time and bytes), on the test database
/// (SQLite, or PostgreSQL with TEST_DATABASE_URL):
/// `cargo test --release --test api tlog_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn tlog_cost_at_10000_licences() {
    use crosscert::storage::{self, tlog as store};
    use crosscert::tlog::entry::Entry;
    use diesel::RunQueryDsl;
    const N: u64 = 10_000;
    const BATCH: u64 = 100;
    let db = crate::helpers::TestDb::new();
    let pool = storage::connect(&db.url, 2).unwrap();
    storage::run_migrations(&pool).unwrap();
    let mut conn = pool.get().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Bytes {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bytes: i64,
    }
    let size_sql = if db.is_postgres() {
        "SELECT CAST(pg_total_relation_size('tlog_entries') + pg_total_relation_size('tlog_nodes') AS BIGINT) AS bytes"
    } else {
        "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()"
    };
    let bytes = |conn: &mut storage::DbConnection| -> i64 {
        if !db.is_postgres() {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(conn)
                .unwrap();
        }
        diesel::sql_query(size_sql)
            .get_result::<Bytes>(conn)
            .unwrap()
            .bytes
    };
    let before = bytes(&mut conn);
    let now = chrono::Utc::now();
    let entry = |i: u64| Entry {
        kind: "issued".into(),
        time: now.timestamp(),
        subject: format!("91371302MA3C4X5Y6Z-TEST-{i:06}-1"),
        sha256: hex::encode(merkle::sha256(&i.to_be_bytes())),
    };
    // The marginal cost inside an issuing transaction: BATCH appends per transaction (the
    // issuance commits anyway), then one integration per BATCH entries.
    let (mut append_t, mut integrate_t) = (Duration::ZERO, Duration::ZERO);
    for b in 0..N / BATCH {
        let t = Instant::now();
        storage::write_tx(&mut conn, |c| {
            (b * BATCH..(b + 1) * BATCH).try_for_each(|i| store::append(c, &entry(i), now))
        })
        .unwrap();
        append_t += t.elapsed();
        let t = Instant::now();
        storage::write_tx(&mut conn, |c| store::integrate(c, 10_000)).unwrap();
        integrate_t += t.elapsed();
    }
    let after = bytes(&mut conn);
    let t = Instant::now();
    for i in (0..N).step_by(97) {
        merkle::inclusion_proof(&mut store::DbHashes::new(&mut conn), i, N).unwrap();
    }
    let proof_t = t.elapsed() / (N / 97 + 1) as u32;
    // For comparison: an append in a transaction of its own (commit and fsync included).
    let t = Instant::now();
    for i in N..N + 100 {
        storage::write_tx(&mut conn, |c| store::append(c, &entry(i), now)).unwrap();
    }
    let alone_t = t.elapsed() / 100;
    println!(
        "tlog cost at {N} licences ({}): append {:.3} ms inside the issuing transaction \
         ({:.3} ms as a transaction of its own), integration {:.3} ms per entry (batches of {BATCH}), \
         {:.0} bytes stored per entry, inclusion proof {:.3} ms",
        if db.is_postgres() { "PostgreSQL" } else { "SQLite" },
        append_t.as_secs_f64() * 1000.0 / N as f64,
        alone_t.as_secs_f64() * 1000.0,
        integrate_t.as_secs_f64() * 1000.0 / N as f64,
        (after - before) as f64 / N as f64,
        proof_t.as_secs_f64() * 1000.0,
    );
    assert_eq!(store::size(&mut conn).unwrap(), N);
}

/// Without witnesses the log publishes on its own signature; a status change appends its own
/// entry (the proof then names it), and the `/V/` page says the licence is in the log.
#[tokio::test]
async fn status_changes_are_logged_and_the_page_shows_the_log() {
    let app = spawn_app_with(|s| s.log.origin = ORIGIN.into()).await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let l = issue(&app, &token, &body).await;
    let res = app
        .post_json(
            &format!("/api/v1/licences/{}/suspend", l["id"].as_str().unwrap()),
            Some(&token),
            &serde_json::json!({"reason": "测试"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let round = app.log.run_round().await.unwrap();
    assert!(round.published || round.cosigned.is_none(), "{round:?}");
    let c = checkpoint_at_least(&app, round.size).await;
    assert!(c.verify(&Verifier::parse(&log_vkey()).unwrap()).is_ok());
    let proof = app
        .client
        .get(app.url("/api/v1/log/proof"))
        .query(&[("identifier", l["identifier"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let extra = proof
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("extra ")
        .unwrap();
    use base64::Engine;
    let entry = base64::engine::general_purpose::STANDARD
        .decode(extra)
        .unwrap();
    let entry = String::from_utf8(entry).unwrap();
    assert!(
        entry.starts_with("crosscert/v1 status:suspended "),
        "{entry}"
    );
    let checked = crosscert::tlog::monitor::check_proof(
        &proof,
        &Verifier::parse(&log_vkey()).unwrap(),
        &[],
        0,
    )
    .unwrap();
    assert_eq!(checked.subject, l["identifier"].as_str().unwrap());

    let qr = l["qr_text"].as_str().unwrap();
    let path = &qr[qr.to_ascii_uppercase().rfind("/V/").unwrap()..];
    let html = app.get(path, None).await.text().await.unwrap();
    assert!(html.contains("data-log=\"true\""), "{html}");
    assert!(html.contains("透明日志：已记录"), "{html}");
    // An unknown identifier has no proof.
    let res = app
        .client
        .get(app.url("/api/v1/log/proof"))
        .query(&[("identifier", "no-such-licence")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // Tiles outside the published tree are 404; bad tile paths too.
    assert_eq!(app.get("/log/tile/0/x001/000", None).await.status(), 404);
    assert_eq!(app.get("/log/tile/0/1", None).await.status(), 404);
    let tile = app.get("/log/tile/entries/000.p/1", None).await;
    assert_eq!(tile.status(), 200);
    assert!(tile.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
}
