//! `spawn_app()`: the real server on port 0 with a fresh database: a SQLite file in a temp
//! folder, or, when `TEST_DATABASE_URL` is a `postgres://` URL, a fresh PostgreSQL database
//! that is dropped afterwards.

use crosscert::accounts::{self, NewAccount};
use crosscert::clock::ManualClock;
use crosscert::config::{LoginThrottle, Overrides, PasswordHashCost, Settings};
use crosscert::domain::role::Role;
use crosscert::startup::{Application, BuildOptions};
use diesel::prelude::*;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery";
pub const CITY_HALL: &str = "371300000";
pub const LANSHAN_HALL: &str = "371302000";
pub const PIZHOU_PARTNER: &str = "320382000";

pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let name = format!("crosscert_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin =
                    PgConnection::establish(&base).expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let url = replace_db_name(&base, &name);
                TestDb {
                    url,
                    admin_url: Some(base),
                    name: Some(name),
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("crosscert.db").display());
                TestDb {
                    url,
                    admin_url: None,
                    name: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A handle on a database another `TestDb` owns (a second server over it): dropping it
    /// drops nothing.
    pub fn shared(url: &str) -> TestDb {
        TestDb {
            url: url.to_string(),
            admin_url: None,
            name: None,
            _dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.name.is_some()
    }

    /// Drop the PostgreSQL database now, under a running server.
    pub fn drop_now(&self) {
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            let mut admin = PgConnection::establish(admin_url).expect("admin connection");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .expect("drop database");
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = without_query.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match without_query[scheme_end..].find('/') {
        Some(i) => &without_query[..scheme_end + i],
        None => without_query,
    };
    format!("{base}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub settings: Settings,
    pub state: actix_web::web::Data<crosscert::state::AppState>,
    pub log: actix_web::web::Data<crosscert::tlog::LogService>,
    handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

pub fn test_settings(db: &TestDb) -> Settings {
    let overrides = Overrides {
        database_url: Some(db.url.clone()),
        bind: Some("127.0.0.1:0".into()),
    };
    let mut settings = Settings::load(None, &overrides).expect("settings");
    settings.pool_size = 4;
    // Cheap hashing in tests only; production defaults are untouched.
    settings.password_hash = PasswordHashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    settings.login = LoginThrottle::default();
    // Tests sign in with passwords alone unless a test asks for a second factor.
    settings.require_totp_for = Some(Vec::new());
    settings.verify_rate_limit = 0;
    // The in-process servers run on the example key set (never --demo: no demo data).
    settings.allow_example_keys = true;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the app after letting the test adjust its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(TestDb::new(), adjust).await
}

/// Start the app over a given database (e.g. `TestDb::shared(&other.db.url)`: a second
/// server over the first one's data, perhaps with another key set).
pub async fn spawn_app_on(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    crosscert::telemetry::init_tracing(false, "error");
    let mut settings = test_settings(&db);
    adjust(&mut settings);
    let clock = ManualClock::default();
    let app = Application::build(
        settings.clone(),
        Arc::new(clock.clone()),
        BuildOptions::default(),
    )
    .await
    .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let log = app.log();
    let handle = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        // Never reuse a connection idle longer than the server keeps one open (actix: 5 s):
        // a request sent as the server closes it fails with IncompleteMessage, which a slow
        // step between two requests (pdftoppm under a loaded machine) used to provoke.
        client: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client"),
        clock,
        settings,
        state,
        log,
        handle,
        db,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop serving before the database goes away; not awaited, the runtime is ending.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Load the demo halls into this app's database.
    pub fn seed_halls(&self) {
        crosscert::demo::seed_demo(&self.state.pool, self.clock.now_utc())
            .expect("seed demo halls");
    }

    /// Create a staff account with the shared test password.
    pub fn create_user(&self, username: &str, role: Role, hall: &str) {
        let mut conn = self.state.pool.get().expect("connection");
        accounts::create_user(
            &mut conn,
            &NewAccount {
                username,
                password: PASSWORD,
                role,
                hall_code: hall,
            },
            self.settings.password_hash,
            "test",
            self.clock.now_utc(),
        )
        .expect("create user");
    }

    pub async fn login(&self, username: &str) -> String {
        let res = self
            .client
            .post(self.url("/api/v1/sessions"))
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "login of {username}");
        let body: serde_json::Value = res.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// Seed the halls, create a user of the role at the hall, and log in.
    pub async fn staff(&self, username: &str, role: Role, hall: &str) -> String {
        self.create_user(username, role, hall);
        self.login(username).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn put_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.client.put(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }
}

pub trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        use crosscert::clock::Clock;
        self.now()
    }
}

/// Assert the API error shape and return the body.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: serde_json::Value = res.json().await.expect("json error body");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}

/// Run a command to the end and insist that it succeeded (its stderr is the message).
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ---- the binary as a process ---------------------------------------------------------

/// A free TCP port on 127.0.0.1, for a server that must be told its port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `crosscert serve` child process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `crosscert` binary as a command, run from the package root, with no database or
/// token settings inherited from the environment, allowed to serve on the example key set
/// (a test that checks the refusal removes `CROSSCERT_ALLOW_EXAMPLE_KEYS`).
pub fn crosscert() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosscert"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CROSSCERT_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("CROSSCERT_PKCS11_MODULE")
        .env_remove("CROSSCERT_PKCS11_TOKEN")
        .env_remove("CROSSCERT_PKCS11_PIN_FILE")
        .env("CROSSCERT_ALLOW_EXAMPLE_KEYS", "1")
        .env("RUST_LOG", "warn");
    cmd
}

/// `crosscert serve` over `db_url` on a free port (`--demo` loads the demo data).
pub fn start_server(db_url: &str, demo: bool) -> Server {
    let port = free_port();
    let mut cmd = crosscert();
    cmd.args([
        "serve",
        "--database-url",
        db_url,
        "--bind",
        &format!("127.0.0.1:{port}"),
    ])
    .env("CROSSCERT_DEMO_PASSWORD", PASSWORD)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if demo {
        cmd.arg("--demo");
    }
    Server {
        child: cmd.spawn().expect("start crosscert serve"),
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Wait (up to 60 s) until the server answers `/healthz`.
pub async fn wait_until_up(server: &mut Server) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("crosscert serve exited early with {status}");
        }
        if let Ok(res) = client.get(format!("{}/healthz", server.base)).send().await {
            if res.status() == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "crosscert serve did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
