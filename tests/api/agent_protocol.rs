//! The hall agent protocol (docs/architecture.md, "Print distribution" and "The hall agent") through the real server: claim
//! and long-poll, document, heartbeat, idempotent reports, stock, the lease sweeper,
//! reconciliation and the operator's resolution. Every refusal is checked to change nothing.

use crate::helpers::{
    assert_error, spawn_app, start_server, wait_until_up, NowUtc, TestApp, CITY_HALL, LANSHAN_HALL,
    PIZHOU_PARTNER,
};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::distribution::protocol;
use crosscert::domain::role::Role;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// 新沂: another partner, with its own demo stock.
const XINYI_PARTNER: &str = "320381000";

struct Ctx {
    app: TestApp,
    issuer: String,
    operator: String,
    /// Pizhou's agent token.
    agent: String,
    /// Xinyi's agent token.
    other_agent: String,
}

async fn agent_token(app: &TestApp, admin: &str, hall: &str) -> String {
    let res = app
        .post_json("/api/v1/agent-tokens", Some(admin), &json!({"hall": hall}))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

async fn setup_on(app: TestApp) -> Ctx {
    let issuer = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let operator = app.staff("zhao", Role::HallOperator, PIZHOU_PARTNER).await;
    let agent = agent_token(&app, &admin, PIZHOU_PARTNER).await;
    let other_agent = agent_token(&app, &admin, XINYI_PARTNER).await;
    Ctx {
        app,
        issuer,
        operator,
        agent,
        other_agent,
    }
}

async fn setup() -> Ctx {
    setup_on(spawn_app().await).await
}

/// A serial of the hall's demo stock (500 sheets from 000001).
fn serial(hall: &str, n: u32) -> String {
    format!("{}{:06}", crosscert::demo::demo_stock_prefix(hall), n)
}

/// Issue a business licence and queue its original to Pizhou. Returns (job, licence).
async fn queue_to_pizhou(ctx: &Ctx) -> (Value, Value) {
    let code = business_licence_code(&ctx.app);
    let body = example_body(&ctx.app, &ctx.issuer, &code).await;
    queue_licence(ctx, &body).await
}

async fn queue_licence(ctx: &Ctx, body: &Value) -> (Value, Value) {
    let licence = issue(&ctx.app, &ctx.issuer, body).await;
    let res = ctx
        .app
        .post_json(
            "/api/v1/print-jobs",
            Some(&ctx.issuer),
            &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    (res.json().await.unwrap(), licence)
}

async fn claim_with(app: &TestApp, agent: &str, body: Value) -> Vec<Value> {
    claim_at(&app.address, agent, body).await
}

/// A claim at a server by its address (in this process or a child process).
async fn claim_at(base: &str, agent: &str, body: Value) -> Vec<Value> {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/agent/claim"))
        .bearer_auth(agent)
        .json(&body)
        .send()
        .await
        .expect("claim request");
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    answer["jobs"].as_array().unwrap().clone()
}

async fn claim_one(ctx: &Ctx) -> Value {
    let jobs = claim_with(&ctx.app, &ctx.agent, json!({"max": 1, "wait_s": 0})).await;
    assert_eq!(jobs.len(), 1, "one job claimed");
    jobs[0].clone()
}

async fn document(
    app: &TestApp,
    agent: &str,
    id: &Value,
    lease: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!(
            "/api/v1/agent/jobs/{}/document",
            id.as_str().unwrap()
        )))
        .bearer_auth(agent);
    if let Some(l) = lease {
        req = req.header("Lease-Token", l);
    }
    req.send().await.unwrap()
}

async fn post_job(
    app: &TestApp,
    agent: &str,
    id: &Value,
    what: &str,
    body: Value,
) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/agent/jobs/{}/{what}", id.as_str().unwrap()),
        Some(agent),
        &body,
    )
    .await
}

async fn job_of(ctx: &Ctx, id: &Value) -> Value {
    let res = ctx
        .app
        .get(
            &format!("/api/v1/print-jobs/{}", id.as_str().unwrap()),
            Some(&ctx.issuer),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn actions(job: &Value) -> Vec<String> {
    job["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn inventory(ctx: &Ctx) -> Value {
    let res = ctx
        .app
        .get(
            &format!("/api/v1/halls/{PIZHOU_PARTNER}/stock"),
            Some(&ctx.operator),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn sweep(app: &TestApp) -> Vec<String> {
    let mut conn = app.state.pool.get().unwrap();
    protocol::sweep_expired_leases(&mut conn, app.clock.now_utc()).unwrap()
}

#[tokio::test]
async fn a_licence_goes_from_issue_to_collection_through_the_agent_protocol() {
    let ctx = setup().await;
    let (job, licence) = queue_to_pizhou(&ctx).await;
    let pickup_code = job["pickup_code"].as_str().unwrap().to_string();

    let claimed = claim_one(&ctx).await;
    assert_eq!(claimed["id"], job["id"]);
    assert_eq!(claimed["licence_id"], licence["id"]);
    assert_eq!(claimed["type_code"], licence["type_code"]);
    assert_eq!(claimed["copies"], json!(["original"]));
    assert_eq!(claimed["qr_text"], licence["qr_text"]);
    let sha = claimed["document_sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64
            && sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    let lease = claimed["lease_token"].as_str().unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(claimed["lease_expires_at"].as_str().unwrap())
            .unwrap();
    assert!(expires > app_now(&ctx.app));
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "leased");

    let res = document(&ctx.app, &ctx.agent, &job["id"], Some(lease)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(crosscert::distribution::jobs::sha256_hex(&pdf), sha);

    let sheet = serial(PIZHOU_PARTNER, 1);
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        &job["id"],
        "report",
        json!({"lease_token": lease, "seq": 1, "outcome": "printed", "sheets": [sheet]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["state"], "printed");
    let seen = job_of(&ctx, &job["id"]).await;
    assert_eq!(seen["state"], "printed");
    assert_eq!(seen["sheets"][0]["serial"], sheet);
    assert_eq!(seen["sheets"][0]["copy"], "original");
    let history = actions(&seen);
    for a in ["PrintJobQueued", "PrintJobLeased", "PrintJobPrinted"] {
        assert!(history.contains(&a.to_string()), "{a} in {history:?}");
    }
    assert_eq!(inventory(&ctx).await["printed"], 1);

    let res = ctx
        .app
        .post_json(
            "/api/v1/pickups",
            Some(&ctx.operator),
            &json!({"job_id": job["id"], "pickup_code": pickup_code, "recipient_code": licence["holder"]["code"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "collected");
}

fn app_now(app: &TestApp) -> chrono::DateTime<chrono::FixedOffset> {
    app.clock.now_utc().fixed_offset()
}

#[tokio::test]
async fn claim_bounds_and_credentials_are_checked() {
    let ctx = setup().await;
    for (body, field) in [
        (json!({"max": 0}), "max"),
        (json!({"max": 11}), "max"),
        (json!({"wait_s": 31}), "wait_s"),
        (json!({"wait_s": "5"}), "wait_s"),
    ] {
        let res = ctx
            .app
            .post_json("/api/v1/agent/claim", Some(&ctx.agent), &body)
            .await;
        let err = assert_error(res, 400, "invalid_input").await;
        assert!(err["message"].as_str().unwrap().contains(field), "{err}");
    }
    let res = ctx
        .app
        .post_json("/api/v1/agent/claim", None, &json!({}))
        .await;
    assert_error(res, 401, "unauthorized").await;
    // A staff session is not an agent token.
    let res = ctx
        .app
        .post_json("/api/v1/agent/claim", Some(&ctx.operator), &json!({}))
        .await;
    assert_error(res, 401, "unauthorized").await;
    // No body at all: the defaults (max 1, no wait).
    let res = ctx
        .app
        .client
        .post(ctx.app.url("/api/v1/agent/claim"))
        .bearer_auth(&ctx.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn long_poll_answers_at_once_times_out_empty_and_wakes_when_a_job_arrives() {
    let ctx = setup().await;
    // Nothing waits: [] after wait_s, not before.
    let started = Instant::now();
    let jobs = claim_with(&ctx.app, &ctx.agent, json!({"wait_s": 1})).await;
    assert!(jobs.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // A job waits: at once, even with a long wait_s.
    let (job, _) = queue_to_pizhou(&ctx).await;
    let started = Instant::now();
    let jobs = claim_with(&ctx.app, &ctx.agent, json!({"wait_s": 30})).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], job["id"]);
    assert!(started.elapsed() < Duration::from_secs(3));

    // Waiting, then a job is queued: the waiter wakes early.
    let app = &ctx.app;
    let agent = ctx.agent.clone();
    let started = Instant::now();
    let waiter = claim_with(app, &agent, json!({"wait_s": 30}));
    let queue_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        queue_to_pizhou(&ctx).await
    };
    let (jobs, (queued, _)) = tokio::join!(waiter, queue_later);
    assert_eq!(jobs.len(), 1, "woken with the new job");
    assert_eq!(jobs[0]["id"], queued["id"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woke early: {:?}",
        started.elapsed()
    );
    // Another hall's waiter is not handed Pizhou's jobs.
    let jobs = claim_with(&ctx.app, &ctx.other_agent, json!({"wait_s": 0})).await;
    assert!(jobs.is_empty());
}

/// Queue `n` jobs, then let 50 claimers (split over the servers at these addresses) race for
/// them.
async fn race_claimers(ctx: &Ctx, servers: &[&str], n: usize) {
    let mut queued = HashSet::new();
    for _ in 0..n {
        let (job, _) = queue_to_pizhou(ctx).await;
        queued.insert(job["id"].as_str().unwrap().to_string());
    }
    let claims = (0..50).map(|i| {
        let base = servers[i % servers.len()];
        let agent = ctx.agent.clone();
        async move { claim_at(base, &agent, json!({"max": 1 + i % 3, "wait_s": 0})).await }
    });
    let results = futures_util::future::join_all(claims).await;
    let mut seen = HashSet::new();
    let mut tokens = HashSet::new();
    for job in results.iter().flatten() {
        let id = job["id"].as_str().unwrap().to_string();
        assert!(seen.insert(id.clone()), "job {id} handed out twice");
        assert!(tokens.insert(job["lease_token"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, queued, "every job claimed exactly once");
    let leased = ctx
        .app
        .get(
            &format!("/api/v1/print-jobs?hall={PIZHOU_PARTNER}&state=leased"),
            Some(&ctx.issuer),
        )
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    assert_eq!(leased.len(), n);
}

#[tokio::test]
async fn fifty_concurrent_claimers_never_get_the_same_job() {
    let ctx = setup().await;
    race_claimers(&ctx, &[&ctx.app.address], 12).await;
}

#[tokio::test]
async fn two_server_processes_on_one_database_never_hand_out_the_same_job() {
    let ctx = setup().await;
    // A second server process, `crosscert serve`, over the same database (on SQLite: the
    // same file, one writer at a time across processes).
    let mut second = start_server(&ctx.app.db.url, false);
    wait_until_up(&mut second).await;
    race_claimers(&ctx, &[&ctx.app.address, &second.base], 12).await;
    if ctx.app.db.is_postgres() {
        // A job queued through one server wakes a waiter of the other (NOTIFY).
        let agent = ctx.agent.clone();
        let started = Instant::now();
        let waiter = claim_at(&second.base, &agent, json!({"wait_s": 30}));
        let queue_later = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            queue_to_pizhou(&ctx).await
        };
        let (jobs, (queued, _)) = tokio::join!(waiter, queue_later);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0]["id"], queued["id"]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn stale_foreign_and_missing_lease_tokens_are_refused_and_change_nothing() {
    let ctx = setup().await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    let id = &job["id"];
    let before = job_of(&ctx, id).await;

    assert_error(
        document(&ctx.app, &ctx.agent, id, None).await,
        400,
        "missing_lease_token",
    )
    .await;
    assert_error(
        document(&ctx.app, &ctx.agent, id, Some("not-the-lease")).await,
        409,
        "stale_lease",
    )
    .await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "heartbeat",
        json!({"lease_token": "not-the-lease"}),
    )
    .await;
    assert_error(res, 409, "stale_lease").await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "report",
        json!({"lease_token": "not-the-lease", "seq": 1, "outcome": "printed", "sheets": [serial(PIZHOU_PARTNER, 1)]}),
    )
    .await;
    assert_error(res, 409, "stale_lease").await;

    // Another hall's agent, even with the right lease token: the job does not exist for it.
    assert_error(
        document(&ctx.app, &ctx.other_agent, id, Some(lease)).await,
        404,
        "not_found",
    )
    .await;
    for (what, body) in [
        ("heartbeat", json!({"lease_token": lease})),
        (
            "report",
            json!({"lease_token": lease, "seq": 1, "outcome": "failed", "printed_nothing": true}),
        ),
    ] {
        let res = post_job(&ctx.app, &ctx.other_agent, id, what, body).await;
        assert_error(res, 404, "not_found").await;
    }
    let unknown = json!("no-such-job");
    assert_error(
        document(&ctx.app, &ctx.agent, &unknown, Some(lease)).await,
        404,
        "not_found",
    )
    .await;

    let after = job_of(&ctx, id).await;
    assert_eq!(after["state"], "leased");
    assert_eq!(after["lease_expires_at"], before["lease_expires_at"]);
    assert_eq!(after["history"], before["history"]);
    assert_eq!(inventory(&ctx).await["printed"], 0);

    // The right token: the heartbeat extends the lease.
    ctx.app.clock.advance(chrono::Duration::seconds(60));
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "heartbeat",
        json!({"lease_token": lease}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let beat: Value = res.json().await.unwrap();
    let new_expiry =
        chrono::DateTime::parse_from_rfc3339(beat["lease_expires_at"].as_str().unwrap()).unwrap();
    let old_expiry =
        chrono::DateTime::parse_from_rfc3339(claimed["lease_expires_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(new_expiry - old_expiry, chrono::Duration::seconds(60));
}

#[tokio::test]
async fn a_replayed_report_gets_the_first_answer_and_changes_nothing() {
    let ctx = setup().await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    let id = &job["id"];
    let body = json!({"lease_token": lease, "seq": 7, "outcome": "printed", "sheets": [serial(PIZHOU_PARTNER, 3)]});
    let first = post_job(&ctx.app, &ctx.agent, id, "report", body.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let after_first = job_of(&ctx, id).await;

    // The lease is gone (the job is printed) but the retry gets the same answer.
    let again = post_job(&ctx.app, &ctx.agent, id, "report", body.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let after_again = job_of(&ctx, id).await;
    assert_eq!(after_again["history"], after_first["history"]);
    assert_eq!(after_again["sheets"], after_first["sheets"]);
    assert_eq!(inventory(&ctx).await["printed"], 1);

    // The same seq with another body, and a new seq under the old lease: refused.
    let mut other = body.clone();
    other["sheets"] = json!([serial(PIZHOU_PARTNER, 4)]);
    let res = post_job(&ctx.app, &ctx.agent, id, "report", other.clone()).await;
    assert_error(res, 409, "report_seq_reused").await;
    other["seq"] = json!(8);
    let res = post_job(&ctx.app, &ctx.agent, id, "report", other).await;
    assert_error(res, 409, "stale_lease").await;
    assert_eq!(job_of(&ctx, id).await["history"], after_first["history"]);
    assert_eq!(inventory(&ctx).await["printed"], 1);
}

#[tokio::test]
async fn reused_foreign_and_unregistered_serials_are_refused_and_nothing_changes() {
    let ctx = setup().await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    let id = &job["id"];

    // A spoiled sheet, voided by the agent: used.
    let spoiled = serial(PIZHOU_PARTNER, 10);
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/sheets/void",
            Some(&ctx.agent),
            &json!({"serials": [spoiled], "reason": "卡纸"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let before = job_of(&ctx, id).await;
    let stock_before = inventory(&ctx).await;
    assert_eq!(stock_before["voided"], 1);

    let report = |sheets: Value, seq: i64| json!({"lease_token": lease, "seq": seq, "outcome": "printed", "sheets": sheets});
    let cases = [
        (report(json!([spoiled]), 1), 409, "serial_used"),
        (
            report(json!([serial(XINYI_PARTNER, 1)]), 2),
            422,
            "serial_not_registered",
        ),
        (
            report(json!([serial(PIZHOU_PARTNER, 501)]), 3),
            422,
            "serial_not_registered",
        ),
        (report(json!(["??"]), 4), 400, "invalid_input"),
        (
            report(
                json!([serial(PIZHOU_PARTNER, 11), serial(PIZHOU_PARTNER, 12)]),
                5,
            ),
            400,
            "invalid_input",
        ),
    ];
    for (body, status, code) in cases {
        let res = post_job(&ctx.app, &ctx.agent, id, "report", body).await;
        assert_error(res, status, code).await;
    }
    let after = job_of(&ctx, id).await;
    assert_eq!(after["state"], "leased");
    assert_eq!(after["history"], before["history"]);
    assert_eq!(inventory(&ctx).await, stock_before);

    // A refused report stores no answer: the corrected report may reuse its seq.
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "report",
        report(json!([serial(PIZHOU_PARTNER, 11)]), 1),
    )
    .await;
    assert_eq!(res.status(), 200);
    // The sheet now printed cannot be voided or printed again.
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/sheets/void",
            Some(&ctx.agent),
            &json!({"serials": [serial(PIZHOU_PARTNER, 20), serial(PIZHOU_PARTNER, 11)], "reason": "x"}),
        )
        .await;
    assert_error(res, 409, "serial_used").await;
    // Voiding is all or nothing: sheet 20 was not voided either; another hall's sheet is refused.
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/sheets/void",
            Some(&ctx.agent),
            &json!({"serials": [serial(XINYI_PARTNER, 5)], "reason": "x"}),
        )
        .await;
    assert_error(res, 422, "serial_not_registered").await;
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/sheets/void",
            Some(&ctx.agent),
            &json!({"serials": [serial(PIZHOU_PARTNER, 21)]}),
        )
        .await;
    let err = assert_error(res, 400, "invalid_input").await;
    assert!(err["message"].as_str().unwrap().contains("reason"));
    let stock = inventory(&ctx).await;
    assert_eq!(
        (stock["printed"].as_i64(), stock["voided"].as_i64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_licence_that_is_no_longer_valid_is_never_handed_out_or_printed() {
    let ctx = setup().await;
    // A type with a validity period (business licences are long-term).
    let code = ctx
        .app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| !t.validity.is_long_term())
        .unwrap()
        .code
        .clone();
    let today = ctx.app.clock.now_utc().date_naive();
    let mut short = example_body(&ctx.app, &ctx.issuer, &code).await;
    short["valid_from"] = json!(today.to_string());
    short["valid_to"] = json!((today + chrono::Duration::days(1)).to_string());

    // Queued, then the licence runs out: the claim cancels the job (audited) and hands
    // out nothing.
    let (job, _) = queue_licence(&ctx, &short).await;
    ctx.app.clock.advance(chrono::Duration::days(2));
    let jobs = claim_with(&ctx.app, &ctx.agent, json!({"max": 5})).await;
    assert!(jobs.is_empty());
    // Sessions last 12 hours: log in again after two days.
    let ctx = relogin(ctx).await;
    let seen = job_of(&ctx, &job["id"]).await;
    assert_eq!(seen["state"], "cancelled");
    let cancel = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "PrintJobCancelled")
        .expect("audited");
    assert_eq!(cancel["actor"], format!("agent:{PIZHOU_PARTNER}"));

    // Claimed, then revoked: the job is cancelled and the lease token refused.
    let (job, licence) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    let res = ctx
        .app
        .post_json(
            &format!(
                "/api/v1/licences/{}/revoke",
                licence["id"].as_str().unwrap()
            ),
            Some(&ctx.issuer),
            &json!({"reason": "虚假材料"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        document(&ctx.app, &ctx.agent, &job["id"], Some(lease)).await,
        409,
        "stale_lease",
    )
    .await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        &job["id"],
        "report",
        json!({"lease_token": lease, "seq": 1, "outcome": "printed", "sheets": [serial(PIZHOU_PARTNER, 1)]}),
    )
    .await;
    assert_error(res, 409, "stale_lease").await;
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "cancelled");

    // Claimed, then the licence runs out before the document is fetched: 422, cancelled.
    let today = ctx.app.clock.now_utc().date_naive();
    short["valid_from"] = json!(today.to_string());
    short["valid_to"] = json!((today + chrono::Duration::days(1)).to_string());
    let (job, _) = queue_licence(&ctx, &short).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    // Past the licence's end but inside a heartbeat-extended lease (extended first, so the
    // background sweeper never sees it expired).
    let later = (today + chrono::Duration::days(2))
        .and_hms_opt(0, 0, 1)
        .unwrap()
        .and_utc();
    {
        let mut conn = ctx.app.state.pool.get().unwrap();
        extend_lease(&mut conn, job["id"].as_str().unwrap(), later);
    }
    ctx.app.clock.set(later);
    let res = document(&ctx.app, &ctx.agent, &job["id"], Some(lease)).await;
    assert_error(res, 422, "licence_not_valid").await;
    let ctx = relogin(ctx).await;
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "cancelled");
    assert_eq!(inventory(&ctx).await["printed"], 0);
}

async fn relogin(ctx: Ctx) -> Ctx {
    let issuer = ctx.app.login("wang").await;
    let operator = ctx.app.login("zhao").await;
    Ctx {
        issuer,
        operator,
        ..ctx
    }
}

/// Keep a lease alive across a clock jump (as heartbeats would have).
fn extend_lease(
    conn: &mut crosscert::storage::DbConnection,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    crosscert::storage::jobs::update_job(
        conn,
        id,
        crosscert::domain::job::JobState::Leased,
        &crosscert::storage::jobs::JobChanges {
            lease_expires_at: Some(Some((now + chrono::Duration::minutes(2)).naive_utc())),
            ..Default::default()
        },
    )
    .unwrap();
}

#[tokio::test]
async fn an_expired_lease_needs_reconciliation_and_is_never_requeued() {
    let ctx = setup().await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let lease = claimed["lease_token"].as_str().unwrap();
    let id = &job["id"];

    // Not yet expired: the sweeper leaves it.
    ctx.app.clock.advance(chrono::Duration::seconds(100));
    assert!(!sweep(&ctx.app).contains(&id.as_str().unwrap().to_string()));
    assert_eq!(job_of(&ctx, id).await["state"], "leased");

    ctx.app.clock.advance(chrono::Duration::seconds(30));
    // The document needs an unexpired lease, even before the sweeper ran.
    assert_error(
        document(&ctx.app, &ctx.agent, id, Some(lease)).await,
        409,
        "lease_expired",
    )
    .await;
    let moved = sweep(&ctx.app);
    let seen = job_of(&ctx, id).await;
    assert_eq!(seen["state"], "needs_reconciliation", "moved: {moved:?}");
    assert!(actions(&seen).contains(&"PrintJobLeaseExpired".to_string()));
    assert!(sweep(&ctx.app).is_empty(), "nothing left to sweep");

    // The old lease is stale everywhere, and the job is not handed out again.
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "heartbeat",
        json!({"lease_token": lease}),
    )
    .await;
    assert_error(res, 409, "stale_lease").await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "report",
        json!({"lease_token": lease, "seq": 1, "outcome": "failed", "printed_nothing": true}),
    )
    .await;
    assert_error(res, 409, "stale_lease").await;
    assert!(claim_with(&ctx.app, &ctx.agent, json!({"max": 10}))
        .await
        .is_empty());
    assert_eq!(job_of(&ctx, id).await["state"], "needs_reconciliation");
}

#[tokio::test]
async fn failures_with_nothing_printed_requeue_until_the_third_fails_the_job() {
    let ctx = setup().await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    let id = &job["id"];
    for attempt in 1..=3 {
        let claimed = claim_one(&ctx).await;
        assert_eq!(claimed["id"], *id);
        let res = post_job(
            &ctx.app,
            &ctx.agent,
            id,
            "report",
            json!({"lease_token": claimed["lease_token"], "seq": attempt, "outcome": "failed",
                "printed_nothing": true, "reason": "printer offline"}),
        )
        .await;
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["attempts"], attempt);
        let want = if attempt < 3 { "queued" } else { "failed" };
        assert_eq!(answer["state"], want);
        assert_eq!(job_of(&ctx, id).await["state"], want);
    }
    assert!(claim_with(&ctx.app, &ctx.agent, json!({})).await.is_empty());
    assert!(actions(&job_of(&ctx, id).await).contains(&"PrintJobFailed".to_string()));

    // A failure where paper may have been used is not retried: reconciliation.
    let (job, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        &job["id"],
        "report",
        json!({"lease_token": claimed["lease_token"], "seq": 1, "outcome": "failed", "reason": "paper jam mid-page"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        job_of(&ctx, &job["id"]).await["state"],
        "needs_reconciliation"
    );
}

/// Fail a queued job's three attempts (nothing printed each time).
async fn fail_three_times(ctx: &Ctx, id: &Value) {
    for attempt in 1..=3 {
        let claimed = claim_one(ctx).await;
        assert_eq!(claimed["id"], *id);
        let res = post_job(
            &ctx.app,
            &ctx.agent,
            id,
            "report",
            json!({"lease_token": claimed["lease_token"], "seq": attempt, "outcome": "failed",
                "printed_nothing": true, "reason": "printer offline"}),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(job_of(ctx, id).await["state"], "failed");
}

async fn requeue(ctx: &Ctx, token: &str, id: &Value) -> reqwest::Response {
    ctx.app
        .post_json(
            &format!("/api/v1/print-jobs/{}/requeue", id.as_str().unwrap()),
            Some(token),
            &json!({}),
        )
        .await
}

#[tokio::test]
async fn a_failed_job_is_requeued_for_a_fresh_round_or_cancelled_to_make_way_for_a_new_job() {
    let ctx = setup().await;
    let (job, licence) = queue_to_pizhou(&ctx).await;
    let id = &job["id"];
    // Only a failed job is requeued.
    assert_error(
        requeue(&ctx, &ctx.operator, id).await,
        409,
        "invalid_transition",
    )
    .await;
    fail_three_times(&ctx, id).await;
    let queue_again =
        json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]});
    // While failed, the job still holds the licence's one open job.
    let res = ctx
        .app
        .post_json("/api/v1/print-jobs", Some(&ctx.issuer), &queue_again)
        .await;
    assert_error(res, 422, "job_exists").await;

    // Another hall's operator does not see the job; an agent token is not staff.
    let admin = ctx.app.login("root").await;
    ctx.app
        .create_user("xuming", Role::HallOperator, XINYI_PARTNER);
    let stranger = ctx.app.login("xuming").await;
    assert_error(requeue(&ctx, &stranger, id).await, 404, "not_found").await;
    assert_eq!(requeue(&ctx, &ctx.agent, id).await.status(), 401);
    assert_eq!(job_of(&ctx, id).await["state"], "failed");

    // The target hall's operator requeues: queued, attempts back to 0, claimable at once.
    let res = requeue(&ctx, &ctx.operator, id).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["state"], "queued");
    assert_eq!(answer["attempts"], 0);
    assert!(actions(&job_of(&ctx, id).await).contains(&"PrintJobRequeued".to_string()));
    let claimed = claim_one(&ctx).await;
    assert_eq!(claimed["id"], *id);
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        id,
        "report",
        json!({"lease_token": claimed["lease_token"], "seq": 4, "outcome": "failed",
            "printed_nothing": true, "reason": "printer offline"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    // A fresh round: one failure does not fail the job again.
    assert_eq!(job_of(&ctx, id).await["state"], "queued");

    // Failed again and cancelled this time: a new job for the licence may be queued.
    for seq in [5, 6] {
        let claimed = claim_one(&ctx).await;
        let res = post_job(
            &ctx.app,
            &ctx.agent,
            id,
            "report",
            json!({"lease_token": claimed["lease_token"], "seq": seq, "outcome": "failed",
                "printed_nothing": true}),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(job_of(&ctx, id).await["state"], "failed");
    let res = ctx
        .app
        .post_json(
            &format!("/api/v1/print-jobs/{}/cancel", id.as_str().unwrap()),
            Some(&admin),
            &json!({"reason": "打印机故障，改派"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = ctx
        .app
        .post_json("/api/v1/print-jobs", Some(&ctx.issuer), &queue_again)
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    // A cancelled job is never requeued.
    assert_error(
        requeue(&ctx, &ctx.operator, id).await,
        409,
        "invalid_transition",
    )
    .await;
}

/// A job claimed and then lost: its lease expired and the sweeper moved it.
async fn lost_job(ctx: &Ctx) -> Value {
    let (job, _) = queue_to_pizhou(ctx).await;
    let claimed = claim_one(ctx).await;
    assert_eq!(claimed["id"], job["id"]);
    ctx.app.clock.advance(chrono::Duration::seconds(121));
    sweep(&ctx.app);
    assert_eq!(
        job_of(ctx, &job["id"]).await["state"],
        "needs_reconciliation"
    );
    job
}

async fn resolve(ctx: &Ctx, token: &str, id: &Value, body: Value) -> reqwest::Response {
    ctx.app
        .post_json(
            &format!("/api/v1/print-jobs/{}/resolve", id.as_str().unwrap()),
            Some(token),
            &body,
        )
        .await
}

#[tokio::test]
async fn resolving_accounts_for_every_sheet_before_a_reprint() {
    let ctx = setup().await;
    let job = lost_job(&ctx).await;
    let id = &job["id"];
    let before = job_of(&ctx, id).await;

    // Only an operator of the target hall; a reprint needs the sheets voided.
    let res = resolve(
        &ctx,
        &ctx.issuer,
        id,
        json!({"outcome": "not_printed", "no_sheet_taken": true}),
    )
    .await;
    assert_error(res, 403, "forbidden").await;
    let res = resolve(&ctx, &ctx.operator, id, json!({"outcome": "not_printed"})).await;
    assert_error(res, 422, "voided_sheets_required").await;
    let res = resolve(
        &ctx,
        &ctx.operator,
        id,
        json!({"outcome": "not_printed", "voided_serials": []}),
    )
    .await;
    assert_error(res, 422, "voided_sheets_required").await;
    let res = resolve(
        &ctx,
        &ctx.operator,
        id,
        json!({"outcome": "not_printed", "voided_serials": [serial(XINYI_PARTNER, 1)]}),
    )
    .await;
    assert_error(res, 422, "serial_not_registered").await;
    let res = resolve(&ctx, &ctx.operator, id, json!({"outcome": "printed"})).await;
    assert_error(res, 400, "invalid_input").await;
    let res = resolve(&ctx, &ctx.operator, id, json!({"outcome": "maybe"})).await;
    assert_error(res, 400, "invalid_input").await;
    assert_eq!(job_of(&ctx, id).await["history"], before["history"]);
    assert_eq!(inventory(&ctx).await["voided"], 0);

    // The spoiled sheet voided in the same call: queued again, claimable.
    let spoiled = serial(PIZHOU_PARTNER, 30);
    let res = resolve(
        &ctx,
        &ctx.operator,
        id,
        json!({"outcome": "not_printed", "voided_serials": [spoiled], "reason": "half printed"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["state"], "queued");
    assert_eq!(seen["sheets"][0]["serial"], spoiled);
    assert_eq!(seen["sheets"][0]["state"], "voided");
    assert!(actions(&seen).contains(&"PrintJobResolvedNotPrinted".to_string()));
    let res = resolve(
        &ctx,
        &ctx.operator,
        id,
        json!({"outcome": "not_printed", "no_sheet_taken": true}),
    )
    .await;
    assert_error(res, 409, "invalid_transition").await;
    let claimed = claim_one(&ctx).await;
    assert_eq!(claimed["id"], *id);

    // Lost again; this time no sheet was taken, the operator says so.
    ctx.app.clock.advance(chrono::Duration::seconds(121));
    sweep(&ctx.app);
    let res = resolve(
        &ctx,
        &ctx.operator,
        id,
        json!({"outcome": "not_printed", "no_sheet_taken": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "queued");

    // Another lost job that was in fact printed: printed with its sheet.
    let _ = claim_one(&ctx).await; // the requeued one, left leased
    let printed = lost_job(&ctx).await;
    let res = resolve(
        &ctx,
        &ctx.operator,
        &printed["id"],
        json!({"outcome": "printed", "sheets": [spoiled]}),
    )
    .await;
    assert_error(res, 409, "serial_used").await;
    let sheet = serial(PIZHOU_PARTNER, 31);
    let res = resolve(
        &ctx,
        &ctx.operator,
        &printed["id"],
        json!({"outcome": "printed", "sheets": [sheet]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen["state"], "printed");
    assert_eq!(seen["sheets"][0]["serial"], sheet);
    assert_eq!(seen["sheets"][0]["state"], "printed");
    assert!(actions(&seen).contains(&"PrintJobResolvedPrinted".to_string()));
}

#[tokio::test]
async fn reconcile_answers_what_differs() {
    let ctx = setup().await;
    // printed on the server, leased, lost (needs_reconciliation), and one of another hall.
    let (done, _) = queue_to_pizhou(&ctx).await;
    let claimed = claim_one(&ctx).await;
    let res = post_job(
        &ctx.app,
        &ctx.agent,
        &done["id"],
        "report",
        json!({"lease_token": claimed["lease_token"], "seq": 1, "outcome": "printed", "sheets": [serial(PIZHOU_PARTNER, 1)]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let lost = lost_job(&ctx).await;
    let (held, _) = queue_to_pizhou(&ctx).await;
    let held_claim = claim_one(&ctx).await;
    assert_eq!(held_claim["id"], held["id"]);
    let (unnamed, _) = queue_to_pizhou(&ctx).await;
    let _ = claim_one(&ctx).await;

    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/reconcile",
            Some(&ctx.agent),
            &json!({"jobs": [
                {"id": done["id"], "state": "printed"},
                {"id": lost["id"], "state": "printed"},
                {"id": held["id"], "state": "printing"},
                {"id": "no-such-job", "state": "leased"},
            ]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let of = |id: &Value| {
        answer["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == *id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {answer}"))
    };
    let row = of(&done["id"]);
    assert_eq!(
        (row["server_state"].as_str(), row["action"].as_str()),
        (Some("printed"), Some("forget"))
    );
    let row = of(&lost["id"]);
    assert_eq!(
        (row["server_state"].as_str(), row["action"].as_str()),
        (Some("needs_reconciliation"), Some("ask_operator"))
    );
    let row = of(&held["id"]);
    assert_eq!(
        (row["server_state"].as_str(), row["action"].as_str()),
        (Some("leased"), Some("none"))
    );
    let row = of(&json!("no-such-job"));
    assert!(row["server_state"].is_null());
    assert_eq!(row["action"], "forget");
    let row = of(&unnamed["id"]);
    assert!(row["agent_state"].is_null());
    assert_eq!(row["server_state"], "leased");
    assert_eq!(answer["jobs"].as_array().unwrap().len(), 5);

    // Another hall sees none of Pizhou's jobs.
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/reconcile",
            Some(&ctx.other_agent),
            &json!({"jobs": [{"id": held["id"], "state": "leased"}]}),
        )
        .await;
    let other: Value = res.json().await.unwrap();
    assert_eq!(other["jobs"].as_array().unwrap().len(), 1);
    assert!(other["jobs"][0]["server_state"].is_null());
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/reconcile",
            Some(&ctx.agent),
            &json!({"jobs": "x"}),
        )
        .await;
    assert_error(res, 400, "invalid_input").await;
}

#[tokio::test]
async fn a_revoked_agent_token_is_refused_at_once_by_its_server() {
    let app = spawn_app().await;
    app.seed_halls();
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let res = app
        .post_json(
            "/api/v1/agent-tokens",
            Some(&admin),
            &json!({"hall": LANSHAN_HALL}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    // Cached after the first call...
    for _ in 0..3 {
        let res = app
            .post_json("/api/v1/agent/claim", Some(token), &json!({}))
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .post_json(
            &format!("/api/v1/agent-tokens/{}/revoke", body["id"]),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // ...and dropped by the revocation.
    let res = app
        .post_json("/api/v1/agent/claim", Some(token), &json!({}))
        .await;
    assert_error(res, 401, "unauthorized").await;
}

async fn whoami_status(base: &str, agent: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/agent/whoami"))
        .bearer_auth(agent)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn pizhou(app: &TestApp, admin: &str) -> Value {
    let halls: Value = app
        .get("/api/v1/halls", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    halls
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["code"] == PIZHOU_PARTNER)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_deactivated_halls_agents_stop_at_once_and_an_expired_partner_gets_no_claims() {
    let ctx = setup().await;
    let admin = ctx.app.login("root").await;
    let (job, _) = queue_to_pizhou(&ctx).await;
    assert_eq!(whoami_status(&ctx.app.address, &ctx.agent).await, 200);

    let mut hall = pizhou(&ctx.app, &admin).await;
    hall["active"] = json!(false);
    let path = format!("/api/v1/halls/{PIZHOU_PARTNER}");
    assert_eq!(
        ctx.app.put_json(&path, Some(&admin), &hall).await.status(),
        200
    );
    assert_eq!(whoami_status(&ctx.app.address, &ctx.agent).await, 401);
    let res = reqwest::Client::new()
        .post(ctx.app.url("/api/v1/agent/claim"))
        .bearer_auth(&ctx.agent)
        .json(&json!({"max": 1}))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
    // The other hall's agent is untouched.
    assert_eq!(whoami_status(&ctx.app.address, &ctx.other_agent).await, 200);
    hall["active"] = json!(true);
    assert_eq!(
        ctx.app.put_json(&path, Some(&admin), &hall).await.status(),
        200
    );
    assert_eq!(whoami_status(&ctx.app.address, &ctx.agent).await, 200);

    // The agreement runs out with a job still queued to the partner: no claim hands it out.
    let today = ctx.app.clock.now_utc().date_naive();
    let expired = json!({
        "valid_from": "2020-01-01",
        "valid_to": (today - chrono::Duration::days(1)).to_string(),
        "covers": "all",
    });
    let res = ctx
        .app
        .put_json(&format!("{path}/agreement"), Some(&admin), &expired)
        .await;
    assert_eq!(res.status(), 200);
    let res = reqwest::Client::new()
        .post(ctx.app.url("/api/v1/agent/claim"))
        .bearer_auth(&ctx.agent)
        .json(&json!({"max": 1}))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, 403, "forbidden").await;
    assert!(
        body["message"].as_str().unwrap().contains("agreement"),
        "{body}"
    );
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "queued");
}

#[tokio::test]
async fn revoking_an_agent_token_takes_effect_at_once_in_another_server_process() {
    let ctx = setup().await;
    let admin = ctx.app.login("root").await;
    let mut second = start_server(&ctx.app.db.url, false);
    wait_until_up(&mut second).await;
    // The second process has seen (and, on PostgreSQL, cached) the token.
    assert_eq!(whoami_status(&second.base, &ctx.agent).await, 200);
    let tokens: Value = ctx
        .app
        .get("/api/v1/agent-tokens", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["hall"] == PIZHOU_PARTNER || t["hall_code"] == PIZHOU_PARTNER)
        .map(|t| t["id"].as_i64().unwrap())
        .unwrap();
    let res = ctx
        .app
        .post_json(
            &format!("/api/v1/agent-tokens/{id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Far inside the cache's 30 s: the notification (PostgreSQL) or the 2-second snapshot
    // (SQLite, where no notification comes) refuses it.
    let started = Instant::now();
    while whoami_status(&second.base, &ctx.agent).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the other process still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(whoami_status(&second.base, &ctx.other_agent).await, 200);
}
