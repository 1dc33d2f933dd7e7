//! `crosscert backup` and `crosscert restore` as processes, on the test's backend: a backup
//! taken while licences are being issued restores into a fresh database with the same
//! verdicts, job states and row counts; damaged, foreign and non-empty targets are refused.

use crate::helpers::{crosscert, spawn_app, spawn_app_on, TestApp, TestDb, PIZHOU_PARTNER};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::storage::backup::current_facts;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn run_backup(url: &str, out: &Path) -> std::process::Output {
    crosscert()
        .args(["backup", "--database-url", url, "--out"])
        .arg(out)
        .output()
        .expect("crosscert backup starts")
}

fn run_restore(from: &Path, url: &str, force: bool) -> std::process::Output {
    let mut cmd = crosscert();
    cmd.args(["restore", "--database-url", url, "--from"])
        .arg(from);
    if force {
        cmd.arg("--force");
    }
    cmd.output().expect("crosscert restore starts")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_ok(what: &str, out: &std::process::Output) {
    assert!(out.status.success(), "{what} failed: {}", stderr(out));
}

async fn verdict(app: &TestApp, qr_text: &str) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/verify"))
        .query(&[("code", qr_text)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    json!({"authentic": v["authentic"], "status": v["status"], "reason": v["reason"],
        "licence_no": v["licence"]["licence_no"]})
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_with_the_same_verdicts_states_and_counts() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let code = business_licence_code(&app);
    let body = example_body(&app, &token, &code).await;
    // A register with some history: print jobs, a suspended licence.
    let mut licences = Vec::new();
    for _ in 0..3 {
        let licence = issue(&app, &token, &body).await;
        let res = app
            .post_json(
                "/api/v1/print-jobs",
                Some(&token),
                &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]}),
            )
            .await;
        assert_eq!(res.status(), 201);
        licences.push(licence);
    }
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/suspend",
                licences[0]["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "核查中"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Write load: licences issued one after another until the backup is done.
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, issued) = (stop.clone(), issued.clone());
        let client = app.client.clone();
        let url = app.url("/api/v1/licences");
        let (token, body) = (token.clone(), body.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "issuing under backup");
                issued.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while issued.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("register.backup");
    let (url, f) = (app.db.url.clone(), file.clone());
    let out = tokio::task::spawn_blocking(move || run_backup(&url, &f))
        .await
        .unwrap();
    let during = issued.load(Ordering::SeqCst);
    // Let the load go on a little after the snapshot, then stop it.
    while issued.load(Ordering::SeqCst) < during + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert_ok("backup", &out);
    assert!(stderr(&out).contains("backup complete"), "{}", stderr(&out));

    let (manifest, _) = crosscert::backup::read_manifest(&file).unwrap();
    let backend = if app.db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(manifest.backend, backend);
    assert!(!manifest.schema_version.is_empty());
    assert_eq!(manifest.payload_sha256.len(), 64);
    assert_eq!(manifest.row_counts["print_jobs"], 3);
    let in_backup = manifest.row_counts["licences"];
    assert!(in_backup >= 3 + 2, "the licences issued before the backup");
    let now = current_facts(&app.db.url).unwrap().row_counts["licences"];
    assert!(
        now > in_backup,
        "licences were issued after the snapshot ({now} now, {in_backup} in the backup)"
    );

    let fresh = TestDb::new();
    let out = run_restore(&file, &fresh.url, false);
    assert_ok("restore", &out);
    let text = stderr(&out);
    assert!(text.contains("restore complete"), "{text}");
    assert!(
        text.contains("licences") && text.contains(&in_backup.to_string()),
        "the restored counts are printed: {text}"
    );
    let restored_facts = current_facts(&fresh.url).unwrap();
    assert_eq!(restored_facts.row_counts, manifest.row_counts);
    assert_eq!(restored_facts.schema_version, manifest.schema_version);

    let restored = spawn_app_on(fresh, |_| {}).await;
    // Every licence verifies as it does on the original; every job is in the same state.
    let licence_ids: Vec<String> = {
        use crosscert::storage::schema::licences;
        use diesel::prelude::*;
        let mut conn = restored.state.pool.get().unwrap();
        licences::table
            .select(licences::id)
            .order(licences::id)
            .load(&mut *conn)
            .unwrap()
    };
    assert_eq!(licence_ids.len() as i64, in_backup);
    let mut suspended = 0;
    for id in &licence_ids {
        let path = format!("/api/v1/licences/{id}");
        // The session was backed up too: the same bearer token works on the restored copy.
        let original: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
        let copy: Value = restored
            .get(&path, Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(copy, original, "licence {id}");
        let qr = original["qr_text"].as_str().unwrap();
        let want = verdict(&app, qr).await;
        assert_eq!(want["authentic"], true);
        assert_eq!(verdict(&restored, qr).await, want, "verdict of {id}");
        if want["status"] == "suspended" {
            suspended += 1;
        }
    }
    assert_eq!(suspended, 1);
    let job_ids: Vec<String> = {
        use crosscert::storage::schema::print_jobs;
        use diesel::prelude::*;
        let mut conn = restored.state.pool.get().unwrap();
        print_jobs::table
            .select(print_jobs::id)
            .order(print_jobs::id)
            .load(&mut *conn)
            .unwrap()
    };
    assert_eq!(job_ids.len(), 3);
    for id in &job_ids {
        let path = format!("/api/v1/print-jobs/{id}");
        let original: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
        let copy: Value = restored
            .get(&path, Some(&token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(copy["state"], original["state"], "job {id}");
        assert_eq!(copy["document_sha256"], original["document_sha256"]);
    }
    // The numbering carries on where the backup left it.
    let next = issue(&restored, &token, &body).await;
    assert_eq!(next["status"], "valid");
}

#[tokio::test]
async fn restore_refuses_altered_files_other_backends_and_databases_with_data() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let code = business_licence_code(&app);
    let body = example_body(&app, &token, &code).await;
    issue(&app, &token, &body).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.backup");
    assert_ok("backup", &run_backup(&app.db.url, &file));
    let (manifest, _) = crosscert::backup::read_manifest(&file).unwrap();

    // One byte of the payload changed: refused before the target is touched.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    let altered = dir.path().join("altered.backup");
    std::fs::write(&altered, &bytes).unwrap();
    let fresh = TestDb::new();
    let out = run_restore(&altered, &fresh.url, false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
    assert!(current_facts(&fresh.url).unwrap().row_counts.is_empty());
    // Truncated.
    let truncated = dir.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = run_restore(&truncated, &fresh.url, false);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
    // Not a backup at all.
    let out = run_restore(&dir.path().join("nothing"), &fresh.url, false);
    assert!(!out.status.success());

    // Another backend: refused whatever the target holds.
    let other = if app.db.is_postgres() {
        format!("sqlite://{}", dir.path().join("x.db").display())
    } else {
        "postgres://nobody@127.0.0.1:1/none".to_string()
    };
    let out = run_restore(&file, &other, false);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("restores only into {}", manifest.backend)),
        "{}",
        stderr(&out)
    );

    // A database with data is refused unless --force.
    assert_ok("restore", &run_restore(&file, &fresh.url, false));
    let before = current_facts(&fresh.url).unwrap();
    let out = run_restore(&file, &fresh.url, false);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already holds data"),
        "{}",
        stderr(&out)
    );
    assert_eq!(current_facts(&fresh.url).unwrap(), before);
    assert_ok("restore --force", &run_restore(&file, &fresh.url, true));
    assert_eq!(
        current_facts(&fresh.url).unwrap().row_counts,
        manifest.row_counts
    );
}
