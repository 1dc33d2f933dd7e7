//! The hall print agent end to end: the real server in process, the real `crosscert agent`
//! as a child process printing through `echo {file} >> LOG`.

use crate::helpers::{
    free_port, test_settings, NowUtc, TestDb, CITY_HALL, LANSHAN_HALL, PASSWORD, PIZHOU_PARTNER,
};
use crosscert::accounts::{self, NewAccount};
use crosscert::clock::ManualClock;
use crosscert::config::Settings;
use crosscert::domain::role::Role;
use crosscert::startup::{Application, BuildOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIRST_SERIAL: &str = "PZ000001";

/// A server on a fixed port over a database that outlives it, so a test can restart it.
struct World {
    /// Kept for the life of the test: dropping it deletes the database.
    _db: TestDb,
    settings: Settings,
    clock: ManualClock,
    base: String,
    client: reqwest::Client,
    handle: Option<actix_web::dev::ServerHandle>,
    state: Option<actix_web::web::Data<crosscert::state::AppState>>,
    dir: tempfile::TempDir,
    issuer: String,
    admin: String,
    operator: String,
}

impl World {
    async fn new() -> World {
        crosscert::telemetry::init_tracing(false, "error");
        let db = TestDb::new();
        let mut settings = test_settings(&db);
        let port = free_port();
        settings.bind = format!("127.0.0.1:{port}");
        let mut w = World {
            _db: db,
            settings,
            clock: ManualClock::default(),
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            handle: None,
            state: None,
            dir: tempfile::tempdir().unwrap(),
            issuer: String::new(),
            admin: String::new(),
            operator: String::new(),
        };
        w.start().await;
        let state = w.state.clone().unwrap();
        crosscert::demo::seed_demo(&state.pool, w.clock.now_utc()).unwrap();
        for (name, role, hall) in [
            ("wang", Role::Issuer, LANSHAN_HALL),
            ("root", Role::Admin, CITY_HALL),
            ("zhou", Role::HallOperator, PIZHOU_PARTNER),
        ] {
            let mut conn = state.pool.get().unwrap();
            accounts::create_user(
                &mut conn,
                &NewAccount {
                    username: name,
                    password: PASSWORD,
                    role,
                    hall_code: hall,
                },
                w.settings.password_hash,
                "test",
                w.clock.now_utc(),
            )
            .unwrap();
        }
        w.issuer = w.login("wang").await;
        w.admin = w.login("root").await;
        w.operator = w.login("zhou").await;
        // The hall's registered stock, and its agent token in a file with stray whitespace.
        let res = w
            .post(
                "/api/v1/stock-batches",
                &w.admin,
                &json!({"hall": PIZHOU_PARTNER, "first_serial": FIRST_SERIAL, "count": 10}),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "stock batch: {}",
            res.text().await.unwrap()
        );
        let res = w
            .post(
                "/api/v1/agent-tokens",
                &w.admin,
                &json!({"hall": PIZHOU_PARTNER}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let token: Value = res.json().await.unwrap();
        std::fs::write(
            w.token_file(),
            format!("  {}\n\n", token["token"].as_str().unwrap()),
        )
        .unwrap();
        w
    }

    /// (Re)start serving on the same address and database.
    async fn start(&mut self) {
        let app = Application::build(
            self.settings.clone(),
            Arc::new(self.clock.clone()),
            BuildOptions::default(),
        )
        .await
        .expect("build the application");
        self.handle = Some(app.server_handle());
        self.state = Some(app.state());
        tokio::spawn(app.run_until_stopped());
    }

    async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop(false).await;
        }
        self.state = None;
    }

    async fn login(&self, username: &str) -> String {
        let res = self
            .client
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("agent token")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state dir")
    }

    fn print_log(&self) -> PathBuf {
        self.dir.path().join("print's log")
    }

    fn printed_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.print_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Issue a licence of a type the partner prints and queue its job there.
    async fn queue_job(&self) -> (Value, Value) {
        let types = self.get("/api/v1/cert-types", &self.issuer).await;
        let code = types
            .as_array()
            .unwrap()
            .iter()
            .find(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("营业执照"))
            })
            .unwrap()["code"]
            .as_str()
            .unwrap()
            .to_string();
        let detail = self
            .get(&format!("/api/v1/cert-types/{code}"), &self.issuer)
            .await;
        let mut body = detail["example"].clone();
        body["type_code"] = json!(code);
        let res = self.post("/api/v1/licences", &self.issuer, &body).await;
        assert_eq!(res.status(), 201);
        let licence: Value = res.json().await.unwrap();
        let res = self
            .post(
                "/api/v1/print-jobs",
                &self.issuer,
                &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]}),
            )
            .await;
        assert_eq!(res.status(), 201, "queue: {}", res.text().await.unwrap());
        (res.json().await.unwrap(), licence)
    }

    async fn job(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/print-jobs/{id}"), &self.issuer)
            .await
    }

    async fn wait_for_job_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(id).await;
            if job["state"] == state {
                return job;
            }
            assert!(Instant::now() < deadline, "job never became {state}: {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn agent_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosscert"));
        cmd.arg("agent")
            .arg("--state-dir")
            .arg(self.state_dir())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        cmd
    }

    fn load_stock(&self) {
        crate::helpers::run_ok(self.agent_command().args([
            "stock",
            "load",
            "--from",
            FIRST_SERIAL,
            "--count",
            "10",
        ]));
    }

    fn status(&self) -> String {
        let out = crate::helpers::run_ok(self.agent_command().arg("status"));
        String::from_utf8(out.stdout).unwrap()
    }

    fn start_agent(&self, halt_after_print: bool) -> Agent {
        let command = format!(
            "echo {{file}} >> {}",
            crosscert::agent::print::shell_quote(&self.print_log().to_string_lossy())
        );
        let mut cmd = self.agent_command();
        cmd.arg("--server")
            .arg(&self.base)
            .arg("--token-file")
            .arg(self.token_file())
            .arg("--spool")
            .arg(self.dir.path().join("spool"))
            .arg("--print-command")
            .arg(command)
            .args(["--wait-s", "2"]);
        if halt_after_print {
            cmd.env(crosscert::agent::run::TEST_HALT_AFTER_PRINT_ENV, "1");
        }
        Agent(cmd.spawn().unwrap())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            drop(h.stop(false));
        }
    }
}

struct Agent(Child);

impl Agent {
    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sheet_serials(job: &Value) -> Vec<String> {
    job["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serial"].as_str().unwrap().to_string())
        .collect()
}

fn file_exists(p: &Path) -> bool {
    p.exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_job_is_printed_once_on_the_first_tray_sheet_and_then_picked_up() {
    let w = World::new().await;
    w.load_stock();
    let _agent = w.start_agent(false);
    let (job, licence) = w.queue_job().await;
    let id = job["id"].as_str().unwrap();
    let printed = w.wait_for_job_state(id, "printed").await;
    assert_eq!(sheet_serials(&printed), [FIRST_SERIAL]);
    assert_eq!(printed["sheets"][0]["copy"], "original");
    assert_eq!(w.printed_lines().len(), 1, "printed exactly once");
    wait_until("the report confirmed in the journal", || {
        w.status().contains("unconfirmed reports: 0")
    })
    .await;
    assert!(w.status().contains("next: PZ000002"), "{}", w.status());

    let res = w
        .post(
            "/api/v1/pickups",
            &w.operator,
            &json!({"job_id": id, "pickup_code": job["pickup_code"], "recipient_code": licence["holder"]["code"]}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    w.wait_for_job_state(id, "collected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_between_printing_and_reporting_reports_once_after_restart_and_never_reprints(
) {
    let w = World::new().await;
    w.load_stock();
    let agent = w.start_agent(true);
    let (job, _) = w.queue_job().await;
    let id = job["id"].as_str().unwrap().to_string();
    wait_until("the print command to run", || w.printed_lines().len() == 1).await;
    wait_until("`printed` in the journal", || {
        w.status().contains("unconfirmed reports: 1")
    })
    .await;
    assert_eq!(
        w.job(&id).await["state"],
        "leased",
        "no report reached the server"
    );
    agent.kill();

    let _agent = w.start_agent(false);
    let printed = w.wait_for_job_state(&id, "printed").await;
    assert_eq!(sheet_serials(&printed), [FIRST_SERIAL]);
    wait_until("the report confirmed", || {
        w.status().contains("unconfirmed reports: 0")
    })
    .await;
    // Give a wrong reprint every chance to happen before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(w.printed_lines().len(), 1, "the print command ran once");
    assert_eq!(sheet_serials(&w.job(&id).await), [FIRST_SERIAL]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_carries_on_after_the_server_restarts_during_a_long_poll() {
    let mut w = World::new().await;
    w.load_stock();
    let _agent = w.start_agent(false);
    // Let the agent fetch its trust list and sit in a long-poll.
    wait_until("the trust list cached", || {
        file_exists(&w.state_dir().join("trust-list.json"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    w.start().await;
    let (job, _) = w.queue_job().await;
    let id = job["id"].as_str().unwrap();
    let printed = w.wait_for_job_state(id, "printed").await;
    assert_eq!(sheet_serials(&printed), [FIRST_SERIAL]);
    assert_eq!(w.printed_lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_seal_does_not_verify_against_the_cached_trust_list_is_never_printed() {
    let w = World::new().await;
    w.load_stock();
    // The state folder pins another root: the server's list is refused, its seals unknown.
    let foreign = tempfile::tempdir().unwrap();
    crosscert::issuance::generate_example_set(foreign.path(), w.clock.now_utc()).unwrap();
    let keys = crosscert::issuance::KeySet::load(foreign.path()).unwrap();
    let list = crosscert::verification::TrustList::from_keyset(&keys, w.clock.now_utc());
    std::fs::create_dir_all(w.state_dir()).unwrap();
    std::fs::write(
        w.state_dir().join("trust-list.json"),
        list.to_json().unwrap(),
    )
    .unwrap();
    let _agent = w.start_agent(false);
    let (job, _) = w.queue_job().await;
    let id = job["id"].as_str().unwrap();
    // Every attempt is refused with nothing printed, until the server gives up.
    let failed = w.wait_for_job_state(id, "failed").await;
    assert!(sheet_serials(&failed).is_empty());
    assert!(w.printed_lines().is_empty(), "nothing was printed");
    assert!(!file_exists(&w.print_log()));
    let status = w.status();
    assert!(status.contains("tray: 10 blank"), "{status}");
    assert!(
        failed.to_string().contains("seal"),
        "the reason reaches the job: {failed}"
    );
}

/// Replace a job's stored document (and its hash, so the download itself checks out).
fn swap_document(w: &World, job_id: &str, document: &[u8]) {
    use crosscert::storage::schema::print_jobs;
    use diesel::prelude::*;
    let state = w.state.clone().unwrap();
    let mut conn = state.pool.get().unwrap();
    let sha = crosscert::distribution::jobs::sha256_hex(document);
    diesel::update(print_jobs::table.find(job_id))
        .set((
            print_jobs::document.eq(document),
            print_jobs::document_sha256.eq(sha),
        ))
        .execute(&mut *conn)
        .unwrap();
}

fn document_of(w: &World, job_id: &str) -> Vec<u8> {
    use crosscert::storage::schema::print_jobs;
    use diesel::prelude::*;
    let state = w.state.clone().unwrap();
    let mut conn = state.pool.get().unwrap();
    print_jobs::table
        .find(job_id)
        .select(print_jobs::document)
        .first(&mut *conn)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_qr_code_is_another_seal_is_never_printed_and_a_requeue_prints_it_once_fixed(
) {
    let w = World::new().await;
    w.load_stock();
    // Two genuine licences; job A's stored document is swapped for B's: the claim's seal (A's)
    // verifies and the document matches its hash, but the QR code on the page is B's seal.
    let (job_a, _) = w.queue_job().await;
    let (job_b, _) = w.queue_job().await;
    let (a, b) = (job_a["id"].as_str().unwrap(), job_b["id"].as_str().unwrap());
    let res = w
        .post(
            &format!("/api/v1/print-jobs/{b}/cancel"),
            &w.issuer,
            &json!({"reason": "test"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let original = document_of(&w, a);
    swap_document(&w, a, &document_of(&w, b));

    let _agent = w.start_agent(false);
    let failed = w.wait_for_job_state(a, "failed").await;
    assert!(sheet_serials(&failed).is_empty());
    assert!(w.printed_lines().is_empty(), "nothing was printed");
    assert!(w.status().contains("tray: 10 blank"), "{}", w.status());
    assert!(
        failed.to_string().contains("QR code on page 1"),
        "the reason reaches the job: {failed}"
    );

    // The right document back; the hall's operator requeues the failed job and it prints.
    swap_document(&w, a, &original);
    let res = w
        .post(
            &format!("/api/v1/print-jobs/{a}/requeue"),
            &w.operator,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let printed = w.wait_for_job_state(a, "printed").await;
    assert_eq!(sheet_serials(&printed), [FIRST_SERIAL]);
    assert_eq!(w.printed_lines().len(), 1);
}
