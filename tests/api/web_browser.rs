//! The staff flow in a real browser: headless Chromium over WebDriver (chromedriver on a
//! free port). Log in as window staff, issue a business licence, queue it to a partner
//! county, let the real `crosscert agent` print it, pick it up as that hall's staff, open
//! the QR's verification page (有效), revoke, and see 无效.
//! Screenshots of the main pages at 375 and 1280 px go to a temp folder (printed).
//!
//! Chromium comes from `scripts/install-deps.sh` (Debian `chromium`, `chromium-driver`);
//! without it the test says so and passes, since it cannot run here.

use crate::helpers::{free_port, spawn_app, TestApp, LANSHAN_HALL, PASSWORD, PIZHOU_PARTNER};
use crate::licences::business_licence_code;
use crosscert::domain::role::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) struct Driver {
    child: std::process::Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Stops chromedriver and the browsers it started (its process group), also when the
    /// test panics.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_driver() -> Option<Driver> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED browser test: {CHROMIUM} or {CHROMEDRIVER} is missing; run scripts/install-deps.sh"
        );
        return None;
    }
    let port = free_port();
    // Its own process group, so that dropping the driver can stop the browsers too.
    let child = std::process::Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    };
    wait_for_port(port).await;
    Some(driver)
}

/// Waits (up to 30 s) until something listens on the local `port`.
pub(crate) async fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port}");
}

/// A headless Chromium session with a staff-desk window.
pub(crate) async fn browser(driver: &Driver) -> Client {
    browser_sized(driver, 1280, 1400).await
}

/// A headless Chromium session with a `width` x `height` window.
pub(crate) async fn browser_sized(driver: &Driver, width: u32, height: u32) -> Client {
    let profile = driver._profile.path().display().to_string();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=zh-CN",
                format!("--user-data-dir={profile}"), format!("--window-size={width},{height}"),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

struct Shots {
    dir: PathBuf,
}

impl Shots {
    fn new() -> Shots {
        let dir = std::env::temp_dir().join("crosscert-web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("screenshots in {}", dir.display());
        Shots { dir }
    }

    /// The current page at 375 px (a phone) and 1280 px (a window desk).
    async fn take(&self, c: &Client, name: &str) {
        for width in [375u32, 1280] {
            c.set_window_size(width, 1400).await.unwrap();
            let png = c.screenshot().await.unwrap();
            std::fs::write(self.dir.join(format!("{name}-{width}.png")), png).unwrap();
        }
        c.set_window_size(1280, 1400).await.unwrap();
    }
}

/// Wait for an element: a click that submits a form returns before the next page is there.
pub(crate) async fn el(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Click, then wait for something only the next page has.
pub(crate) async fn click_then(c: &Client, css: &str, next: &str) -> fantoccini::elements::Element {
    click(c, css).await;
    el(c, next).await
}

pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    let e = el(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

pub(crate) async fn click(c: &Client, css: &str) {
    el(c, css).await.click().await.unwrap();
}

/// Log in and wait for the role's home page (`home` is an element only it has).
pub(crate) async fn log_in(c: &Client, app: &TestApp, username: &str, home: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    submit_login(c, username, home).await;
}

/// Fill the login form the current page shows (after a redirect to it).
pub(crate) async fn submit_login(c: &Client, username: &str, home: &str) {
    fill(c, "#username", username).await;
    fill(c, "#password", PASSWORD).await;
    click_then(c, "form[action='/login'] button[type=submit]", home).await;
}

/// The partner hall's print agent: `crosscert agent` as a child process with the hall's
/// token, its tray loaded with the hall's registered demo stock, "printing" by appending
/// the PDF's path to a log.
struct HallAgent {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl HallAgent {
    fn start(app: &TestApp, token: &str) -> HallAgent {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap();
        let command = |args: &[&str]| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crosscert"));
            cmd.arg("agent")
                .arg("--state-dir")
                .arg(dir.path().join("state"))
                .args(args)
                .env("RUST_LOG", "warn")
                .stdin(std::process::Stdio::null());
            cmd
        };
        let first = crosscert::demo::demo_first_serial(PIZHOU_PARTNER);
        crate::helpers::run_ok(&mut command(&[
            "stock", "load", "--from", &first, "--count", "10",
        ]));
        let log = dir.path().join("printed.log");
        let print = format!(
            "echo {{file}} >> {}",
            crosscert::agent::print::shell_quote(&log.to_string_lossy())
        );
        let child = command(&["--wait-s", "2", "--print-command", &print])
            .arg("--server")
            .arg(app.url(""))
            .arg("--token-file")
            .arg(&token_file)
            .arg("--spool")
            .arg(dir.path().join("spool"))
            .spawn()
            .unwrap();
        HallAgent { child, dir }
    }

    fn printed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("printed.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for HallAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn log_out(c: &Client) {
    click(c, "form.who button").await;
    el(c, "#username").await;
}

pub(crate) async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

async fn verdict(c: &Client, link: &str) -> String {
    c.goto(link).await.unwrap();
    if c.find(Locator::Css("[data-verdict]")).await.is_err() {
        let src = c.source().await.unwrap_or_default();
        panic!(
            "no verdict at {link} ({}): {src}",
            c.current_url().await.unwrap()
        );
    }
    el(c, "[data-verdict]")
        .await
        .attr("data-verdict")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn browser_issue_queue_pickup_verify_and_revoke() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    app.create_user("root", Role::Admin, crate::helpers::CITY_HALL);
    let c = browser(&driver).await;
    let shots = Shots::new();

    // The administrator issues the partner hall's agent token (shown once) on its page.
    c.goto(&app.url("/admin/agent-tokens")).await.unwrap();
    assert_eq!(path(&c).await, "/login", "pages need a session");
    shots.take(&c, "01-login").await;
    submit_login(&c, "root", "#hall").await;
    assert_eq!(
        path(&c).await,
        "/admin/agent-tokens",
        "back where the login began"
    );
    fill(&c, "#hall", PIZHOU_PARTNER).await;
    let token = click_then(
        &c,
        "form[action='/admin/agent-tokens'] button",
        "#new-token",
    )
    .await
    .text()
    .await
    .unwrap();
    let agent = HallAgent::start(&app, token.trim());
    log_out(&c).await;

    c.goto(&app.url("/issue")).await.unwrap();
    assert_eq!(path(&c).await, "/login");
    submit_login(&c, "wang", "#q").await;
    assert_eq!(path(&c).await, "/issue");

    // Find the business licence by name with the search form, then use the example.
    fill(&c, "#q", "营业执照").await;
    click_then(&c, "form.search button", "#q[value='营业执照']").await;
    shots.take(&c, "02-types").await;
    let code = business_licence_code(&app);
    click_then(&c, &format!("a[href='/issue/{code}']"), "form.record").await;
    click_then(
        &c,
        &format!("a[href='/issue/{code}?example=1']"),
        "input[name='holder.name']:not([value=''])",
    )
    .await;
    shots.take(&c, "03-issue-form").await;
    // A broken credit code comes back next to its field.
    fill(&c, "input[name='holder.code']", "91350100M000100Y44").await;
    let error = click_then(
        &c,
        "form.record button[type=submit]:not([formaction])",
        "p.error[data-field='holder.code']",
    )
    .await;
    assert!(error.text().await.unwrap().contains("统一社会信用代码"));
    shots.take(&c, "04-issue-error").await;
    let good = app.state.catalog.get(&code).unwrap().example_json()["holder"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    fill(&c, "input[name='holder.code']", &good).await;
    let status = click_then(
        &c,
        "form.record button[type=submit]:not([formaction])",
        "[data-status]",
    )
    .await;
    assert!(path(&c).await.starts_with("/licences/"));
    assert_eq!(status.text().await.unwrap(), "有效");
    shots.take(&c, "05-licence").await;
    let licence_path = path(&c).await;
    let qr_link = el(&c, "#verify-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    // The QR holds the configured public URL; a test server's is port 0 (it binds first),
    // so open the same /V/ path on the port it got.
    let payload = qr_link.split("/V/").nth(1).expect("a /V/ link").to_string();
    assert!(qr_link.starts_with(&app.settings.public_url.to_uppercase()));
    let verify_link = app.url(&format!("/V/{payload}"));

    // Queue it to the partner county the holder names.
    click_then(&c, &format!("a[href='{licence_path}/print']"), "#place")
        .await
        .select_by_value("江苏省 徐州市 邳州市")
        .await
        .unwrap();
    let first = click_then(&c, "form.search button", "input[name=hall]:checked").await;
    assert_eq!(first.attr("value").await.unwrap().unwrap(), PIZHOU_PARTNER);
    fill(&c, "#mobile", "138 0000 1111").await;
    shots.take(&c, "06-print-halls").await;
    let pickup_code = click_then(
        &c,
        "form[method=post][action$='/print'] button[type=submit]",
        "#pickup-code",
    )
    .await
    .text()
    .await
    .unwrap();
    let job = el(&c, "#job-id").await.text().await.unwrap();
    shots.take(&c, "07-slip").await;
    // The slip's QR code is the tracking URL: its drawing is the one of that URL's QR code.
    let tracking_url = el(&c, "#tracking-qr")
        .await
        .attr("data-url")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        el(&c, "#tracking-url").await.text().await.unwrap(),
        tracking_url
    );
    assert!(tracking_url.starts_with(&format!("{}/T/", app.settings.public_url)));
    let drawn = el(&c, "#tracking-qr svg path")
        .await
        .attr("d")
        .await
        .unwrap()
        .unwrap();
    let expected = crosscert::distribution::tracking::tracking_qr_svg(&tracking_url).unwrap();
    assert!(
        expected.contains(&format!("d=\"{drawn}\"")),
        "the slip's QR is not the tracking URL's"
    );
    // As with the licence QR, the test server's public URL has port 0: open the same path.
    let tracking_path = format!("/T/{}", tracking_url.rsplit_once("/T/").unwrap().1);
    c.goto(&app.url(&tracking_path)).await.unwrap();
    let state = el(&c, "#track-state").await.text().await.unwrap();
    assert!(
        ["排队中", "制作中", "可领取"].contains(&state.as_str()),
        "{state}"
    );
    let hall_text = el(&c, "#track-hall").await.text().await.unwrap();
    assert!(hall_text.contains("邳州"), "{hall_text}");
    assert!(el(&c, "#track-holder")
        .await
        .text()
        .await
        .unwrap()
        .contains('*'));
    shots.take(&c, "07b-tracking").await;
    // The public page has no logout form: back to a staff page.
    c.goto(&app.url("/licences")).await.unwrap();

    // The partner hall's agent (the real `crosscert agent`) claims, prints and reports it;
    // the hall's staff see it arrive in their queue, which reloads itself.
    log_out(&c).await;
    log_in(&c, &app, "zhou", "#pickup_code").await;
    assert_eq!(path(&c).await, "/hall");
    let mut waited = 0;
    loop {
        c.goto(&app.url("/hall?state=printed")).await.unwrap();
        if c.source().await.unwrap().contains(&job) {
            break;
        }
        waited += 1;
        assert!(
            waited < 120,
            "the agent never printed {job}; its printer log: {:?}",
            agent.printed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(agent.printed().len(), 1, "printed once");
    shots.take(&c, "08-hall-queue").await;
    // The counter finds the job by the scanned tracking URL and by the short id of the queue.
    for q in [tracking_url.clone(), job[..8].to_string()] {
        fill(&c, "#q", &q).await;
        click_then(&c, "form#find button", "h1 [data-state='printed']").await;
        assert_eq!(path(&c).await, format!("/jobs/{job}"), "{q}");
        c.goto(&app.url("/hall")).await.unwrap();
    }
    // The job page reads in Chinese: the history as rows, the message's delivery state.
    c.goto(&app.url(&format!("/jobs/{job}"))).await.unwrap();
    let history = el(&c, "#history").await.text().await.unwrap();
    assert!(
        history.contains("打印代理") && history.contains("已打印") && history.contains("证纸 "),
        "{history}"
    );
    assert!(!history.contains('{'), "{history}");
    assert_eq!(
        el(&c, "#job-mobile").await.text().await.unwrap(),
        "138****1111"
    );
    let delivery = el(&c, "#notifications").await.text().await.unwrap();
    assert!(
        delivery.contains("可领取通知") && delivery.contains("待发送"),
        "{delivery}"
    );
    shots.take(&c, "08b-job").await;
    c.goto(&app.url(&tracking_path)).await.unwrap();
    assert_eq!(el(&c, "#track-state").await.text().await.unwrap(), "可领取");
    // Pickup by the pickup code alone; a wrong code is shown next to its field.
    c.goto(&app.url("/hall")).await.unwrap();
    let wrong = if pickup_code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    fill(&c, "#pickup_code", wrong).await;
    fill(&c, "#recipient_code", &good).await;
    let error = click_then(
        &c,
        "form#pickup button",
        "p.error[data-field='pickup_code']",
    )
    .await;
    assert!(error.text().await.unwrap().contains("领取码"));
    assert_eq!(path(&c).await, "/pickups");
    shots.take(&c, "08c-wrong-code").await;
    fill(&c, "#pickup_code", &pickup_code).await;
    fill(&c, "#recipient_code", &good).await;
    click_then(&c, "form#pickup button", "h1 [data-state='collected']").await;
    shots.take(&c, "09-collected").await;
    c.goto(&app.url(&tracking_path)).await.unwrap();
    assert_eq!(el(&c, "#track-state").await.text().await.unwrap(), "已领取");
    c.goto(&app.url("/hall/stock")).await.unwrap();
    shots.take(&c, "10-stock").await;

    // The QR's verification page says 有效.
    assert_eq!(verdict(&c, &verify_link).await, "valid");
    shots.take(&c, "11-verify-valid").await;

    // Window staff revoke it; the same QR now says 无效.
    c.goto(&app.url("/dashboard")).await.unwrap();
    shots.take(&c, "12-dashboard-hall").await;
    log_out(&c).await;
    log_in(&c, &app, "wang", "#q").await;
    c.goto(&app.url(&licence_path)).await.unwrap();
    el(&c, "#action")
        .await
        .select_by_value("revoke")
        .await
        .unwrap();
    fill(&c, "#reason", "违法经营").await;
    let status = click_then(&c, "form[action$='/status'] button", "[data-status='07']").await;
    assert_eq!(status.text().await.unwrap(), "吊销");
    assert_eq!(verdict(&c, &verify_link).await, "invalid");
    let big = el(&c, "[data-verdict] .big").await;
    assert_eq!(big.text().await.unwrap(), "无效");
    shots.take(&c, "13-verify-invalid").await;

    // The administrator's pages.
    c.goto(&app.url("/login")).await.unwrap();
    log_out_if_possible(&c, &app).await;
    log_in(&c, &app, "root", ".admin-links").await;
    for (name, p) in [
        ("14-admin-halls", "/admin/halls"),
        ("15-dashboard", "/dashboard"),
        ("16-admin-keys", "/admin/keys"),
        ("17-admin-users", "/admin/users"),
    ] {
        c.goto(&app.url(p)).await.unwrap();
        shots.take(&c, name).await;
    }
    c.close().await.unwrap();
}

/// The login page has no logout form; go to a page that has one.
async fn log_out_if_possible(c: &Client, app: &TestApp) {
    c.goto(&app.url("/licences")).await.unwrap();
    if c.find(Locator::Css("form.who button")).await.is_ok() {
        log_out(c).await;
    }
}

#[tokio::test]
async fn browser_enrols_totp_and_signs_in_with_it() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app =
        crate::helpers::spawn_app_with(|s| s.require_totp_for = Some(vec![Role::Admin])).await;
    app.seed_halls();
    app.create_user("root", Role::Admin, crate::helpers::CITY_HALL);
    let c = browser(&driver).await;
    let shots = Shots::new();

    // An administrator without a second factor is sent to enrol before anything else.
    c.goto(&app.url("/login")).await.unwrap();
    submit_login(&c, "root", "form[action='/account/totp/start']").await;
    assert_eq!(path(&c).await, "/account/totp");
    c.goto(&app.url("/admin/users")).await.unwrap();
    assert_eq!(
        path(&c).await,
        "/account/totp",
        "no other page before enrolling"
    );
    click_then(
        &c,
        "form[action='/account/totp/start'] button",
        "figure.qr svg",
    )
    .await;
    shots.take(&c, "20-totp-enrol").await;
    let secret = el(&c, "#totp-secret").await.text().await.unwrap();
    let code = crosscert::accounts::totp::current_code(
        secret.trim(),
        crate::helpers::NowUtc::now_utc(&app.clock),
    )
    .unwrap();
    fill(&c, "#code", &code).await;
    let codes = click_then(
        &c,
        "form[action='/account/totp/confirm'] button",
        "#recovery-codes",
    )
    .await
    .find_all(Locator::Css("li"))
    .await
    .unwrap();
    assert_eq!(codes.len(), 10);
    shots.take(&c, "21-totp-recovery-codes").await;
    click_then(&c, "a[href='/']", ".admin-links").await;
    log_out(&c).await;

    // Signing in now takes a second step; the code of the next time step opens the pages.
    c.goto(&app.url("/login")).await.unwrap();
    submit_login(&c, "root", "#totp").await;
    shots.take(&c, "22-login-totp").await;
    fill(&c, "#totp", "000000").await;
    click_then(&c, "form[action='/login'] button[type=submit]", ".alert").await;
    app.clock.advance(chrono::Duration::seconds(30));
    let code = crosscert::accounts::totp::current_code(
        secret.trim(),
        crate::helpers::NowUtc::now_utc(&app.clock),
    )
    .unwrap();
    fill(&c, "#totp", &code).await;
    click_then(
        &c,
        "form[action='/login'] button[type=submit]",
        ".admin-links",
    )
    .await;
    assert_eq!(path(&c).await, "/admin");
    c.close().await.unwrap();
}
