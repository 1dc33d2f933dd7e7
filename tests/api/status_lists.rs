//! The signed trust list and the status lists (issue 21): served, signed, current, and read
//! offline from a synced bundle; tampered and rolled-back lists refused; an independent
//! decoder (Python's cbor2 + zlib) agrees on the bits.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::helpers::{crosscert, spawn_app_on, spawn_app_with, NowUtc, TestApp, TestDb};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::domain::seal::SealClaims;
use crosscert::verification::envelope::Envelope;
use crosscert::verification::signed_list::{ListError, SignedTrustList, StatusList};
use crosscert::verification::{decode_qr_text, TrustStore};
use diesel::prelude::*;
use serde_json::{json, Value};

fn root_der() -> Vec<u8> {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/keys-example/root-ca.pem"
    ))
    .unwrap();
    ::pem::parse(pem).unwrap().into_contents()
}

/// The claims sealed into a QR text (read with the project's decoder: the test's
/// expectation, not the check).
fn claims_of(qr: &str) -> SealClaims {
    let cose = decode_qr_text(qr).unwrap();
    SealClaims::from_cbor(&Envelope::decode(&cose).unwrap().payload).unwrap()
}

/// A licence's index in status list 1: from its seal's claim when it carries one (checked
/// against the database), else from the database (the status index publishes it).
fn idx_of(app: &TestApp, licence: &Value) -> u64 {
    let mut conn = app.state.pool.get().unwrap();
    let slot =
        crosscert::storage::status_lists::find_slot(&mut conn, licence["id"].as_str().unwrap())
            .unwrap()
            .expect("every licence has a slot");
    assert_eq!(slot.list_id, 1);
    if let Some(claim) = claims_of(licence["qr_text"].as_str().unwrap()).status {
        assert_eq!(claim.idx, slot.idx);
        assert_eq!(
            claim.uri,
            format!("{}/api/v1/status-lists/1", app.settings.public_url)
        );
    }
    slot.idx
}

async fn bytes(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let res = app.get(path, None).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

async fn change(app: &TestApp, token: &str, id: &str, action: &str) {
    let res = app
        .post_json(
            &format!("/api/v1/licences/{id}/{action}"),
            Some(token),
            &json!({"reason": "测试"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{action}: {}", res.text().await.unwrap());
}

/// Three licences: left valid, revoked, suspended (in that order).
async fn three_licences(app: &TestApp) -> Vec<Value> {
    let token = issuer(app).await;
    let body = example_body(app, &token, &business_licence_code(app)).await;
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(issue(app, &token, &body).await);
    }
    change(app, &token, out[1]["id"].as_str().unwrap(), "revoke").await;
    change(app, &token, out[2]["id"].as_str().unwrap(), "suspend").await;
    out
}

fn sync(app: &TestApp, dir: &Path) -> std::process::Output {
    crosscert()
        .args(["verifier", "sync", "--server", &app.address, "--out"])
        .arg(dir)
        .output()
        .unwrap()
}

fn verify_bundle(dir: &Path, qr: &str) -> (i32, Value, String) {
    let out = crosscert()
        .args(["verify", "--bundle"])
        .arg(dir)
        .arg(qr)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

#[tokio::test]
async fn new_seals_carry_a_random_status_list_index_and_uri() {
    let app = spawn_app_with(|_| {}).await;
    let token = issuer(&app).await;
    let types: Vec<Value> = app
        .get("/api/v1/cert-types", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for t in types.iter().take(24) {
        let body = example_body(&app, &token, t["code"].as_str().unwrap()).await;
        let licence = issue(&app, &token, &body).await;
        // idx_of checks the claim against the database.
        assert!(seen.insert(idx_of(&app, &licence)), "indexes are unique");
        let qr = licence["qr_text"].as_str().unwrap();
        assert!(
            claims_of(qr).status.is_some(),
            "every new seal carries the status claim: {qr}"
        );
    }
    // New seals name their slot themselves: the signed status index (for licences sealed
    // before status lists) lists none of them.
    app.state.refresh_published().await.unwrap();
    let (_, _, index) = bytes(&app, "/api/v1/status-index.cose").await;
    let index =
        crosscert::verification::signed_list::StatusIndex::verify(&index, &root_der()).unwrap();
    assert!(index.entries.is_empty(), "{:?}", index.entries);
    assert_eq!(index.lists, vec![1]);
}

#[tokio::test]
async fn the_offline_verifier_answers_valid_revoked_and_suspended_from_a_synced_bundle() {
    let app = spawn_app_with(|_| {}).await;
    let licences = three_licences(&app).await;
    app.state.refresh_published().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = sync(&app, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync: {stderr}");
    assert!(stderr.contains("trust list: sequence 1"), "{stderr}");
    assert!(stderr.contains("bundle synced"), "{stderr}");

    let expect = [
        (0, "valid", None),
        (1, "invalid", Some("invalid")),
        (1, "suspended", Some("suspended")),
    ];
    for (licence, (code, status, reason)) in licences.iter().zip(expect) {
        let (exit, v, stderr) = verify_bundle(dir.path(), licence["qr_text"].as_str().unwrap());
        assert_eq!(exit, code, "{v} {stderr}");
        assert_eq!(v["authentic"], true, "{v}");
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["reason"], json!(reason), "{v}");
        assert!(v["status_as_of"].is_string(), "{v}");
        assert!(stderr.contains("status as of"), "{stderr}");
    }

    // A second sync asks with If-None-Match and keeps what it has.
    let out = sync(&app, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not modified"), "{stderr}");
}

#[tokio::test]
async fn an_expired_status_list_is_stale_for_sync_and_unknown_for_verify() {
    let app = spawn_app_with(|_| {}).await;
    // Everything happened three days ago: the lists made then expired a day ago.
    app.clock.advance(chrono::Duration::days(-3));
    let licences = three_licences(&app).await;
    app.state.refresh_published().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = sync(&app, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("expired") && stderr.contains("stale"),
        "{stderr}"
    );
    assert!(!dir.path().join("status-lists/1.cwt").exists());
    // A bundle that kept that list (synced two days ago) answers "unknown", never "valid".
    let (_, _, list) = bytes(&app, "/api/v1/status-lists/1").await;
    std::fs::create_dir_all(dir.path().join("status-lists")).unwrap();
    std::fs::write(dir.path().join("status-lists/1.cwt"), list).unwrap();
    for licence in &licences {
        let (exit, v, stderr) = verify_bundle(dir.path(), licence["qr_text"].as_str().unwrap());
        assert_eq!(exit, 1, "{v}");
        assert_eq!(v["authentic"], true, "{v}");
        assert_eq!(v["status"], "unknown", "{v}");
        assert!(v["note"].as_str().unwrap().contains("expired"), "{v}");
        assert!(stderr.contains("UNKNOWN"), "{stderr}");
    }
}

#[tokio::test]
async fn tampered_trust_and_status_lists_are_refused_offline() {
    let app = spawn_app_with(|_| {}).await;
    let licences = three_licences(&app).await;
    app.state.refresh_published().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(sync(&app, dir.path()).status.success());
    let qr = licences[0]["qr_text"].as_str().unwrap();

    // One flipped byte in the status list: its status becomes unknown, never valid.
    let list_file = dir.path().join("status-lists/1.cwt");
    let good = std::fs::read(&list_file).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 80] ^= 0x01;
    std::fs::write(&list_file, &bad).unwrap();
    let (exit, v, _) = verify_bundle(dir.path(), qr);
    assert_eq!(exit, 1, "{v}");
    assert_eq!(v["status"], "unknown", "{v}");
    assert!(v["note"].as_str().unwrap().contains("refused"), "{v}");
    std::fs::write(&list_file, &good).unwrap();

    // One flipped byte in the trust list: the bundle is refused as a whole.
    let trust_file = dir.path().join("trust-list.cose");
    let mut bad = std::fs::read(&trust_file).unwrap();
    let n = bad.len();
    bad[n - 100] ^= 0x01;
    std::fs::write(&trust_file, &bad).unwrap();
    let (exit, _, stderr) = verify_bundle(dir.path(), qr);
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("signature"), "{stderr}");
}

/// A man in the middle that replays recorded documents for the three public list routes.
async fn replaying_server(
    trust: Vec<u8>,
    index: Vec<u8>,
    list: Vec<u8>,
) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let server = HttpServer::new(move || {
        let (t, i, l) = (trust.clone(), index.clone(), list.clone());
        App::new()
            .route(
                "/api/v1/trust-list.cose",
                web::get().to(move || {
                    let t = t.clone();
                    async move { HttpResponse::Ok().body(t) }
                }),
            )
            .route(
                "/api/v1/status-index.cose",
                web::get().to(move || {
                    let i = i.clone();
                    async move { HttpResponse::Ok().body(i) }
                }),
            )
            .route(
                "/api/v1/status-lists/1",
                web::get().to(move || {
                    let l = l.clone();
                    async move { HttpResponse::Ok().body(l) }
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), handle)
}

fn sync_from(base: &str, dir: &Path) -> (bool, String) {
    let out = crosscert()
        .args(["verifier", "sync", "--server", base, "--out"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_trust_and_status_lists_are_refused_by_sync() {
    // The clock moves an hour on while the issuer stays signed in.
    let app = spawn_app_with(|s| s.session_idle_minutes = 120).await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let licence = issue(&app, &token, &body).await;
    app.state.refresh_published().await.unwrap();
    let (_, _, old_trust) = bytes(&app, "/api/v1/trust-list.cose").await;
    let (_, _, old_index) = bytes(&app, "/api/v1/status-index.cose").await;
    let (_, _, old_list) = bytes(&app, "/api/v1/status-lists/1").await;

    // The published content changes: the next hour's trust list has sequence 2, and the
    // revocation gives a newer status list.
    {
        let mut conn = app.state.pool.get().unwrap();
        diesel::sql_query("UPDATE trust_list_state SET content_sha256 = 'changed'")
            .execute(&mut conn)
            .unwrap();
    }
    app.clock.advance(chrono::Duration::hours(1));
    change(&app, &token, licence["id"].as_str().unwrap(), "revoke").await;
    app.state.refresh_published().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = sync_from(&app.address, dir.path());
    assert!(ok && stderr.contains("trust list: sequence 2"), "{stderr}");

    // Replaying the older trust list is refused, and nothing in the bundle changes.
    let kept = std::fs::read(dir.path().join("trust-list.cose")).unwrap();
    let (_, _, new_index) = bytes(&app, "/api/v1/status-index.cose").await;
    let (_, _, new_trust) = bytes(&app, "/api/v1/trust-list.cose").await;
    let (base, h1) = replaying_server(old_trust, old_index, old_list.clone()).await;
    let (ok, stderr) = sync_from(&base, dir.path());
    assert!(!ok && stderr.contains("rolled back"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("trust-list.cose")).unwrap(),
        kept
    );
    h1.stop(false).await;

    // A current trust list with an older status list: the list is refused.
    let (base, h2) = replaying_server(new_trust, new_index, old_list).await;
    let (ok, stderr) = sync_from(&base, dir.path());
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    h2.stop(false).await;
    // The bundle still says revoked.
    let (exit, v, _) = verify_bundle(dir.path(), licence["qr_text"].as_str().unwrap());
    assert_eq!((exit, &v["status"]), (1, &json!("invalid")), "{v}");
}

#[tokio::test]
async fn the_signed_trust_list_chains_to_the_root_and_a_foreign_or_tampered_one_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let (status, headers, body) = bytes(&app, "/api/v1/trust-list.cose").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/cose");
    let list = SignedTrustList::verify(&body, &root_der(), None).unwrap();
    assert_eq!(list.sequence, 1);
    assert_eq!(list.expires_at - list.issued_at, 7 * 86_400);
    let json_list: Value = app
        .get("/api/v1/trust-list", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list.signers.len(),
        json_list["signers"].as_array().unwrap().len()
    );
    TrustStore::new(&list.to_trust_list()).unwrap();
    // A verifier that already took sequence 2 refuses it.
    assert!(matches!(
        SignedTrustList::verify(&body, &root_der(), Some(2)),
        Err(ListError::RolledBack {
            found: 1,
            accepted: 2
        })
    ));
    // Another root (another key set) does not vouch for it.
    let foreign = tempfile::tempdir().unwrap();
    crosscert::issuance::generate_example_set(foreign.path(), chrono::Utc::now()).unwrap();
    let other = ::pem::parse(std::fs::read_to_string(foreign.path().join("root-ca.pem")).unwrap())
        .unwrap()
        .into_contents();
    assert_eq!(
        SignedTrustList::verify(&body, &other, None).unwrap_err(),
        ListError::NotFromRoot
    );
    let mut tampered = body.clone();
    let n = tampered.len();
    tampered[n - 70] ^= 0x20;
    assert!(SignedTrustList::verify(&tampered, &root_der(), None).is_err());
}

#[tokio::test]
async fn a_status_list_answers_304_for_its_etag_and_follows_a_change_within_seconds() {
    let app = spawn_app_with(|s| s.lists.refresh_ms = 200).await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let licence = issue(&app, &token, &body).await;
    let idx = idx_of(&app, &licence);

    // The first issue opened list 1; publish it now rather than wait for the next tick.
    app.state.refresh_published().await.unwrap();

    let (status, headers, first) = bytes(&app, "/api/v1/status-lists/1").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/statuslist+cwt");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let list = StatusList::verify(&first, &root_der()).unwrap();
    assert_eq!(list.statuses.get(idx).unwrap(), 0);
    assert_eq!(list.claims.ttl, 3600);
    assert_eq!(list.claims.exp - list.claims.iat, 48 * 3600);
    let res = app
        .client
        .get(app.url("/api/v1/status-lists/1"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);

    change(&app, &token, licence["id"].as_str().unwrap(), "suspend").await;
    // The background task (every 200 ms here) notices; the bound is the issue's 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let changed = loop {
        let res = app
            .client
            .get(app.url("/api/v1/status-lists/1"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break res.bytes().await.unwrap().to_vec();
        }
        assert!(
            Instant::now() < deadline,
            "the list did not change within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let list = StatusList::verify(&changed, &root_der()).unwrap();
    assert_eq!(list.statuses.get(idx).unwrap(), 2, "suspended");

    let res = app.get("/api/v1/status-lists/abc", None).await;
    let body = crate::helpers::assert_error(res, 400, "invalid_input").await;
    assert!(
        body["message"].as_str().unwrap().starts_with("id"),
        "{body}"
    );
    crate::helpers::assert_error(
        app.get("/api/v1/status-lists/999", None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_independent_decoder_finds_the_bits_set_as_expected() {
    let app = spawn_app_with(|_| {}).await;
    let licences = three_licences(&app).await;
    app.state.refresh_published().await.unwrap();
    let (_, _, body) = bytes(&app, "/api/v1/status-lists/1").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.cwt");
    std::fs::write(&file, &body).unwrap();
    // Debian's python3 with python3-cbor2 (scripts/install-deps.sh), not a pyenv shim.
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/decode_status_list.py"
        ))
        .arg(&file)
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps.sh installs python3-cbor2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let idx: Vec<u64> = licences.iter().map(|l| idx_of(&app, l)).collect();
    assert_eq!(decoded["bits"], 2);
    assert_eq!(decoded["entries"], crosscert::domain::status_list::CAPACITY);
    assert_eq!(
        decoded["sub"],
        format!("{}/api/v1/status-lists/1", app.settings.public_url)
    );
    let mut expected = serde_json::Map::new();
    expected.insert(idx[1].to_string(), json!(1));
    expected.insert(idx[2].to_string(), json!(2));
    assert_eq!(
        decoded["set"],
        Value::Object(expected),
        "valid {} stays 0",
        idx[0]
    );
}

#[tokio::test]
async fn a_second_server_over_the_same_database_publishes_the_same_list() {
    let a = spawn_app_with(|s| s.lists.refresh_ms = 200).await;
    let token = issuer(&a).await;
    let body = example_body(&a, &token, &business_licence_code(&a)).await;
    let licence = issue(&a, &token, &body).await;
    let b = spawn_app_on(TestDb::shared(&a.db.url), |s| s.lists.refresh_ms = 200).await;
    b.clock.set(crosscert::clock::Clock::now(&a.clock));
    let idx = idx_of(&a, &licence);
    change(&a, &token, licence["id"].as_str().unwrap(), "revoke").await;
    // B learns of A's change through the database alone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = bytes(&b, "/api/v1/status-lists/1").await;
        if StatusList::verify(&body, &root_der())
            .unwrap()
            .statuses
            .get(idx)
            .unwrap()
            == 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server B did not follow within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both publish the same content under the same ETag, so either answers 304 to the other's.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ha, _) = bytes(&a, "/api/v1/status-lists/1").await;
        let (_, hb, _) = bytes(&b, "/api/v1/status-lists/1").await;
        if ha["etag"] == hb["etag"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ETags differ: {:?} {:?}",
            ha["etag"],
            hb["etag"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_licence_sealed_before_status_lists_is_indexed_and_its_revocation_seen_offline() {
    // The clock moves an hour on while the issuer stays signed in.
    let app = spawn_app_with(|s| s.session_idle_minutes = 120).await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let issued = issue(&app, &token, &body).await;
    // An older licence: its seal has no status claim and the database gives it no slot (as
    // a row from before this change would be).
    let mut conn = app.state.pool.get().unwrap();
    let mut row =
        crosscert::storage::licences::get_licence(&mut conn, issued["id"].as_str().unwrap())
            .unwrap();
    let mut claims = claims_of(issued["qr_text"].as_str().unwrap());
    claims.status = None;
    row.serial = 999_999;
    row.id = "older-licence".into();
    row.identifier =
        crosscert::domain::codes::Identifier::new(&row.type_code, &row.issuer_code, 999_999, 1)
            .to_string();
    claims.identifier = row.identifier.clone();
    row.cose = app.state.sealer.seal(&claims, app.clock.now_utc()).unwrap();
    crosscert::storage::licences::insert_licence(&mut conn, &row).unwrap();
    drop(conn);
    let qr = crosscert::verification::qr_text(&app.settings.public_url, &row.cose);

    // The next hour's refresh indexes it; its revocation reaches its list.
    app.clock.advance(chrono::Duration::hours(1));
    let done = app.state.refresh_published().await.unwrap();
    assert_eq!(done.backfilled, 1);
    change(&app, &token, "older-licence", "revoke").await;
    app.state.refresh_published().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = sync(&app, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("licences whose seal carries no status claim"),
        "{stderr}"
    );
    let (exit, v, _) = verify_bundle(dir.path(), &qr);
    assert_eq!(exit, 1, "{v}");
    assert_eq!(v["status"], "invalid", "{v}");
    // The newer licence, by its own claim, is still valid.
    let (exit, v, _) = verify_bundle(dir.path(), issued["qr_text"].as_str().unwrap());
    assert_eq!((exit, &v["status"]), (0, &json!("valid")), "{v}");
}
