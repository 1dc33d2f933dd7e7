//! Load client for the hall agent protocol (run by `scripts/load-agent.sh`, which starts a
//! release server with the demo data). Against a running server it:
//! 1. creates an issuer, one busy agent (Pizhou) and `IDLE` idle agents (200 by default,
//!    spread over the other halls), and registers 100,000 sheets of stock for Pizhou;
//! 2. issues and queues `JOBS` licences to Pizhou;
//! 3. counts the statements the server sends on its own (background tasks, no agent) over
//!    `IDLE_SECONDS` (`db_statements_total` on `/metrics`, BEGIN and COMMIT included), then
//!    starts the idle agents long-polling (`wait_s` 30, claim again at once; their first claims
//!    spread evenly over 30 s, as real agents started at different times are) and counts again
//!    over `IDLE_SECONDS` and, when `PG_URL` is set, the database's transactions
//!    (`pg_stat_database.xact_commit + xact_rollback`): the cost of idle agents is the
//!    difference;
//! 4. runs `WORKERS` busy agents doing claim -> document -> report printed until the queue is
//!    empty, with the idle agents still connected, and prints cycles/s, claim latency and
//!    statements per cycle;
//! 5. with one agent of the busy hall long-polling (and the idle agents still connected),
//!    queues `LATENCY_JOBS` jobs one after another and prints the time from each queueing's
//!    answer (the job is committed) to the agent's printed report being answered: queued ->
//!    printed at a connected agent.
//!
//! Configuration by environment (cargo passes `--bench` as an argument): BASE, ADMIN_PASSWORD,
//! JOBS (2000), WORKERS (16), IDLE (200), IDLE_SECONDS (60), LATENCY_JOBS (200), PG_URL
//! (optional).

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUSY_HALL: &str = "320382000";
const ISSUING_HALL: &str = "371302000";
const PASSWORD: &str = "load-test-password";

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, token: &str, body: &Value) -> Res<(u16, Value)> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str, token: &str) -> Res<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?)
    }

    /// The server's `db_statements_total`: every statement it has sent to the database.
    async fn statements(&self) -> Res<u64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("db_statements_total "))
            .ok_or("no db_statements_total on /metrics")?;
        Ok(value.trim().parse::<f64>()? as u64)
    }

    async fn login(&self, username: &str, password: &str) -> Res<String> {
        let res: Value = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?
            .json()
            .await?;
        Ok(res["token"].as_str().ok_or("login failed")?.to_string())
    }

    /// What an agent does with a claimed job: fetch its document, check it is a PDF, report
    /// it printed on the next serial of the load stock.
    async fn print(&self, agent: &str, id: &str, lease: &str, serial: &AtomicU64) -> Res<()> {
        let pdf = self
            .http
            .get(format!("{}/api/v1/agent/jobs/{id}/document", self.base))
            .bearer_auth(agent)
            .header("Lease-Token", lease)
            .send()
            .await?;
        if pdf.status() != 200 {
            return Err(format!("document: {}", pdf.status()).into());
        }
        if !pdf.bytes().await?.starts_with(b"%PDF") {
            return Err("document is not a PDF".into());
        }
        let n = serial.fetch_add(1, Ordering::Relaxed);
        let (s, body) = self
            .post(
                &format!("/api/v1/agent/jobs/{id}/report"),
                agent,
                &json!({"lease_token": lease, "seq": 1, "outcome": "printed", "sheets": [format!("LOAD{n:07}")]}),
            )
            .await?;
        if s != 200 {
            return Err(format!("report: {s} {body}").into());
        }
        Ok(())
    }

    async fn agent_token(&self, admin: &str, hall: &str) -> Res<String> {
        let (status, body) = self
            .post("/api/v1/agent-tokens", admin, &json!({"hall": hall}))
            .await?;
        if status != 201 {
            return Err(format!("agent token for {hall}: {status} {body}").into());
        }
        Ok(body["token"].as_str().ok_or("no token")?.to_string())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn pg_transactions(url: &str) -> Res<i64> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url)?;
    let row: N = diesel::sql_query(
        "SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result(&mut conn)?;
    Ok(row.n)
}

#[tokio::main]
async fn main() -> Res<()> {
    let base = env_or("BASE", "http://127.0.0.1:8080");
    let jobs = env_num("JOBS", 2000);
    let workers = env_num("WORKERS", 16);
    let idle = env_num("IDLE", 200);
    let idle_seconds = env_num("IDLE_SECONDS", 60);
    let latency_jobs = env_num("LATENCY_JOBS", 200);
    let pg_url = std::env::var("PG_URL").ok();
    let api = Arc::new(Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()?,
        base,
    });

    // 1. accounts, tokens, stock
    let admin = api
        .login("admin", &env_or("ADMIN_PASSWORD", PASSWORD))
        .await?;
    let (status, body) = api
        .post(
            "/api/v1/users",
            &admin,
            &json!({"username": "loadissuer", "password": PASSWORD, "role": "issuer", "hall": ISSUING_HALL}),
        )
        .await?;
    if status != 201 {
        return Err(format!("create issuer: {status} {body}").into());
    }
    let issuer = api.login("loadissuer", PASSWORD).await?;
    let busy = api.agent_token(&admin, BUSY_HALL).await?;
    let halls = api.get("/api/v1/halls", &admin).await?;
    let others: Vec<String> = halls
        .as_array()
        .ok_or("halls")?
        .iter()
        .filter_map(|h| h["code"].as_str())
        .filter(|c| *c != BUSY_HALL)
        .map(str::to_string)
        .collect();
    let mut idle_tokens = Vec::new();
    for i in 0..idle as usize {
        idle_tokens.push(api.agent_token(&admin, &others[i % others.len()]).await?);
    }
    let (status, body) = api
        .post(
            "/api/v1/stock-batches",
            &admin,
            &json!({"hall": BUSY_HALL, "first_serial": "LOAD0000001", "count": 100000}),
        )
        .await?;
    if status != 201 {
        return Err(format!("stock: {status} {body}").into());
    }

    // 2. queue the jobs
    let types = api.get("/api/v1/cert-types", &issuer).await?;
    let code = types
        .as_array()
        .ok_or("types")?
        .iter()
        .find(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("营业执照"))
        })
        .and_then(|t| t["code"].as_str())
        .ok_or("business licence type")?
        .to_string();
    let mut example = api
        .get(&format!("/api/v1/cert-types/{code}"), &issuer)
        .await?["example"]
        .clone();
    example["type_code"] = json!(code);
    let started = Instant::now();
    let queued = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (api, issuer, example, queued) =
            (api.clone(), issuer.clone(), example.clone(), queued.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < jobs {
                let (s, licence) = api.post("/api/v1/licences", &issuer, &example).await?;
                if s != 201 {
                    return Err::<(), Box<dyn std::error::Error + Send + Sync>>(format!("issue: {s} {licence}").into());
                }
                let (s, job) = api
                    .post(
                        "/api/v1/print-jobs",
                        &issuer,
                        &json!({"licence_id": licence["id"], "hall": BUSY_HALL, "copies": ["original"]}),
                    )
                    .await?;
                if s != 201 {
                    return Err(format!("queue: {s} {job}").into());
                }
                queued.fetch_add(1, Ordering::Relaxed);
                i += 8;
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!(
        "queued {} jobs in {:.1} s",
        queued.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );

    // 3. the server alone, then with idle agents (after the issuing's log and list rounds)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let statements_before = api.statements().await?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let alone = api.statements().await? - statements_before;
    let alone_rate = alone as f64 / t0.elapsed().as_secs_f64();
    println!(
        "server alone for {:.0} s: {alone} database statements = {alone_rate:.2}/s (background tasks)",
        t0.elapsed().as_secs_f64()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let idle_claims = Arc::new(AtomicU64::new(0));
    let spread = Duration::from_secs(30);
    let n_idle = idle_tokens.len().max(1) as u32;
    for (i, token) in idle_tokens.into_iter().enumerate() {
        let (api, stop, idle_claims) = (api.clone(), stop.clone(), idle_claims.clone());
        let start_after = spread * i as u32 / n_idle;
        tokio::spawn(async move {
            tokio::time::sleep(start_after).await;
            while !stop.load(Ordering::Relaxed) {
                match api
                    .post(
                        "/api/v1/agent/claim",
                        &token,
                        &json!({"max": 1, "wait_s": 30}),
                    )
                    .await
                {
                    Ok((200, _)) => {
                        idle_claims.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        eprintln!("idle claim: {other:?}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
    // Let every idle agent connect and settle into its long-poll.
    tokio::time::sleep(spread + Duration::from_secs(5)).await;
    // PostgreSQL backends publish their counters at least every 10 s when idle: wait until
    // the settling claims are counted, so they are not taken for the window's.
    let pg_before = match &pg_url {
        Some(url) => {
            tokio::time::sleep(Duration::from_secs(11)).await;
            let url = url.clone();
            Some(tokio::task::spawn_blocking(move || pg_transactions(&url)).await??)
        }
        None => None,
    };
    let statements_before = api.statements().await?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let statements = api.statements().await? - statements_before;
    let window = t0.elapsed().as_secs_f64();
    println!(
        "idle: {idle} agents long-polling for {window:.0} s: {statements} database statements = {:.2}/s; the agents' own cost {:.2}/s",
        statements as f64 / window,
        statements as f64 / window - alone_rate
    );
    if let (Some(url), Some(before)) = (pg_url, pg_before) {
        tokio::time::sleep(Duration::from_secs(11)).await;
        let after = tokio::task::spawn_blocking(move || pg_transactions(&url)).await??;
        let window = t0.elapsed().as_secs_f64();
        println!(
            "idle: PostgreSQL counted {} transactions in {window:.0} s = {:.2}/s (includes 2 of this measurement)",
            after - before,
            (after - before) as f64 / window
        );
    }

    // 4. busy agents
    let serial = Arc::new(AtomicU64::new(1));
    let cycles = Arc::new(AtomicU64::new(0));
    let statements_before = api.statements().await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (api, busy, serial, cycles) =
            (api.clone(), busy.clone(), serial.clone(), cycles.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let t = Instant::now();
                let (s, claimed) = api
                    .post(
                        "/api/v1/agent/claim",
                        &busy,
                        &json!({"max": 1, "wait_s": 0}),
                    )
                    .await?;
                latencies.push(t.elapsed());
                if s != 200 {
                    return Err::<Vec<Duration>, Box<dyn std::error::Error + Send + Sync>>(
                        format!("claim: {s} {claimed}").into(),
                    );
                }
                let Some(job) = claimed["jobs"].as_array().and_then(|j| j.first()).cloned() else {
                    return Ok(latencies);
                };
                let id = job["id"].as_str().ok_or("id")?;
                let lease = job["lease_token"].as_str().ok_or("lease")?;
                api.print(&busy, id, lease, &serial).await?;
                cycles.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let statements = api.statements().await? - statements_before;
    latencies.sort();
    let done = cycles.load(Ordering::Relaxed);
    println!(
        "busy: {workers} agents, {done} claim->document->report cycles in {elapsed:.2} s = {:.0} cycles/s, with {idle} idle agents connected",
        done as f64 / elapsed
    );
    println!(
        "claim latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} claims); idle agents' claims answered: {}",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        latencies.len(),
        idle_claims.load(Ordering::Relaxed)
    );
    println!(
        "database statements: {statements} while busy = {:.1} per cycle (idle agents' included)",
        statements as f64 / done.max(1) as f64
    );
    if done != queued.load(Ordering::Relaxed) {
        return Err(format!("{done} cycles for {} jobs", queued.load(Ordering::Relaxed)).into());
    }
    if latency_jobs > 0 {
        queued_to_printed(&api, &issuer, &busy, &example, latency_jobs, &serial).await?;
    }
    stop.store(true, Ordering::Relaxed);
    Ok(())
}

/// Phase 5: one agent of the busy hall long-polls; jobs are queued one at a time (each
/// licence issued beforehand), and each is timed from the queueing's answer to the printed
/// report's answer.
async fn queued_to_printed(
    api: &Arc<Api>,
    issuer: &str,
    agent: &str,
    example: &Value,
    n: u64,
    serial: &Arc<AtomicU64>,
) -> Res<()> {
    let mut licences = Vec::new();
    for _ in 0..n {
        let (s, licence) = api.post("/api/v1/licences", issuer, example).await?;
        if s != 201 {
            return Err(format!("issue: {s} {licence}").into());
        }
        licences.push(licence["id"].as_str().ok_or("licence id")?.to_string());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let (api2, agent, serial) = (api.clone(), agent.to_string(), serial.clone());
    let printer = tokio::spawn(async move {
        let mut printed = 0;
        while printed < n {
            let (s, claimed) = api2
                .post(
                    "/api/v1/agent/claim",
                    &agent,
                    &json!({"max": 1, "wait_s": 30}),
                )
                .await?;
            if s != 200 {
                return Err::<(), Box<dyn std::error::Error + Send + Sync>>(
                    format!("claim: {s} {claimed}").into(),
                );
            }
            let Some(job) = claimed["jobs"].as_array().and_then(|j| j.first()).cloned() else {
                continue;
            };
            let id = job["id"].as_str().ok_or("id")?.to_string();
            let lease = job["lease_token"].as_str().ok_or("lease")?;
            api2.print(&agent, &id, lease, &serial).await?;
            tx.send((id, Instant::now()))?;
            printed += 1;
        }
        Ok(())
    });
    // Let the agent settle into its long poll before the first job.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for licence in licences {
        let (s, job) = api
            .post(
                "/api/v1/print-jobs",
                issuer,
                &json!({"licence_id": licence, "hall": BUSY_HALL, "copies": ["original"]}),
            )
            .await?;
        let queued_at = Instant::now();
        if s != 201 {
            return Err(format!("queue: {s} {job}").into());
        }
        let id = job["id"].as_str().ok_or("job id")?;
        let (printed_id, printed_at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await?
            .ok_or("the agent stopped")?;
        if printed_id != id {
            return Err(format!("the agent printed {printed_id}, not {id}").into());
        }
        latencies.push(printed_at.saturating_duration_since(queued_at));
        // A pause, as between real jobs: the agent is back in its long poll.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    printer.await??;
    latencies.sort();
    println!(
        "queued -> printed at a connected agent: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} jobs, one at a time)",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        latencies.len()
    );
    Ok(())
}
