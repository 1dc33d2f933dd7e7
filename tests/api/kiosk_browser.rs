//! The self-service kiosk end to end: the real server, the real `crosscert agent --kiosk`
//! as a child process (printing by appending the PDF's path to a log), and its touch page
//! in headless Chromium at 1080x1920 (a portrait kiosk screen). The holder scans the slip's
//! QR code (a scanner types like a keyboard: the tracking link gets a hint to type the
//! pickup code), types the pickup code as a scanner would, enters the ID number on the
//! on-screen keypad, and ends at "请取走证照" with exactly one print; the job is collected.
//!
//! Chromium comes from `scripts/install-deps.sh`; without it the test says so and passes.

use crate::helpers::{free_port, spawn_app, TestApp, CITY_HALL, PIZHOU_PARTNER};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crate::web_browser::{browser_sized, start_driver, wait_for_port};
use crosscert::domain::role::Role;
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

async fn visible_text(c: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            let shown = e.is_displayed().await.unwrap_or(false);
            let text = e.text().await.unwrap_or_default();
            if shown && text.contains(want) {
                return;
            }
        }
        if Instant::now() > deadline {
            let src = c.source().await.unwrap_or_default();
            panic!("{css} never showed {want:?}; page: {src}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct KioskAgent {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl KioskAgent {
    fn command(dir: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crosscert"));
        cmd.arg("agent")
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn start(app: &TestApp, token: &str) -> KioskAgent {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap();
        let first = crosscert::demo::demo_first_serial(PIZHOU_PARTNER);
        crate::helpers::run_ok(
            Self::command(dir.path()).args(["stock", "load", "--from", &first, "--count", "10"]),
        );
        let log = dir.path().join("printed.log");
        let print = format!(
            "echo {{file}} >> {}",
            crosscert::agent::print::shell_quote(&log.to_string_lossy())
        );
        let port = free_port();
        let child = Self::command(dir.path())
            .args(["--print-command", &print, "--kiosk", "--kiosk-listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--server")
            .arg(app.url(""))
            .arg("--token-file")
            .arg(&token_file)
            .arg("--spool")
            .arg(dir.path().join("spool"))
            .spawn()
            .unwrap();
        KioskAgent { child, dir, port }
    }

    fn printed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("printed.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn status(&self) -> String {
        let out = crate::helpers::run_ok(Self::command(self.dir.path()).arg("status"));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for KioskAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_scans_types_the_id_number_and_takes_the_certificate_from_the_kiosk() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app().await;
    let issuer = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let res = app
        .post_json(
            "/api/v1/agent-tokens",
            Some(&admin),
            &json!({"hall": PIZHOU_PARTNER, "kind": "kiosk"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let token: Value = res.json().await.unwrap();

    // Window staff queue a business licence for self-service pickup at Pizhou.
    let code = business_licence_code(&app);
    let body = example_body(&app, &issuer, &code).await;
    let licence = issue(&app, &issuer, &body).await;
    let res = app
        .post_json(
            "/api/v1/print-jobs",
            Some(&issuer),
            &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"], "pickup": "kiosk"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["state"], "held");
    let pickup_code = job["pickup_code"].as_str().unwrap().to_string();
    let holder = licence["holder"]["code"].as_str().unwrap().to_string();

    let agent = KioskAgent::start(&app, token["token"].as_str().unwrap());
    wait_for_port(agent.port).await;
    // The kiosk's agent never claims: the job stays held while nobody is at the screen.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let job_url = format!("/api/v1/print-jobs/{}", job["id"].as_str().unwrap());
    let now: Value = app.get(&job_url, Some(&issuer)).await.json().await.unwrap();
    assert_eq!(now["state"], "held");
    assert!(agent.printed().is_empty());

    let c = browser_sized(&driver, 1080, 1920).await;
    c.set_window_size(1080, 1920).await.unwrap();
    c.goto(&format!("http://127.0.0.1:{}/", agent.port))
        .await
        .unwrap();
    visible_text(&c, ".step", "第一步").await;
    let shots = std::env::temp_dir().join("crosscert-kiosk-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    eprintln!("screenshots in {}", shots.display());
    std::fs::write(shots.join("1-start.png"), c.screenshot().await.unwrap()).unwrap();

    // A scanner types the slip's QR (the tracking link) and Enter into the focused field.
    let field = c.find(Locator::Css("#pickup")).await.unwrap();
    let scanned = format!("{}/T/AbCdEf123456{}", app.address, char::from(Key::Enter));
    field.send_keys(&scanned).await.unwrap();
    visible_text(&c, "#pickup-message", "取件码").await;
    // Then the pickup code, typed as a scanner (keyboard wedge) would, ending with Enter.
    field
        .send_keys(&format!("{pickup_code}{}", char::from(Key::Enter)))
        .await
        .unwrap();
    visible_text(&c, "#screen-recipient .step", "第二步").await;
    // The holder's code on the on-screen keys (no keyboard): digits and X on the keypad,
    // a credit code's other letters on the letter keys.
    let needs_letters = holder
        .chars()
        .any(|ch| ch.is_ascii_alphabetic() && !ch.eq_ignore_ascii_case(&'x'));
    if needs_letters {
        c.find(Locator::Css("#letters-toggle"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    for ch in holder.chars() {
        let key = ch.to_ascii_uppercase().to_string();
        c.find(Locator::Css(&format!(
            "#screen-recipient button[data-key='{key}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("key {key}: {e}"))
        .click()
        .await
        .unwrap();
    }
    let typed = c
        .find(Locator::Css("#recipient"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(typed, holder.to_ascii_uppercase());
    std::fs::write(shots.join("2-id-number.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    visible_text(&c, "#done", "请取走证照").await;
    std::fs::write(shots.join("3-done.png"), c.screenshot().await.unwrap()).unwrap();

    // Exactly one print, reported: the job is collected, self-service, with its sheet.
    assert_eq!(agent.printed().len(), 1, "{:?}", agent.printed());
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let v: Value = app.get(&job_url, Some(&issuer)).await.json().await.unwrap();
        if v["state"] == "collected" || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["state"], "collected", "{done}");
    assert_eq!(done["sheets"].as_array().unwrap().len(), 1);
    let collected: Vec<&Value> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "PrintJobCollected")
        .collect();
    assert_eq!(collected.len(), 1);
    assert_eq!(collected[0]["details"]["self_service"], true);
    assert_eq!(collected[0]["details"]["kiosk_id"], token["id"]);
    let status = agent.status();
    // The kiosk's journal: one sheet of its tray used, nothing in hand or owed.
    assert!(status.contains("tray: 9 blank"), "{status}");
    assert!(status.contains("used: 1  voided: 0"), "{status}");
    assert!(status.contains("jobs in hand: 0"), "{status}");
    assert!(status.contains("unconfirmed reports: 0"), "{status}");
    assert_eq!(agent.printed().len(), 1, "never printed twice");
    c.close().await.unwrap();
}
