//! Self-service kiosks (issue 24) through the real server: a job queued for self-service
//! pickup is held (never claimed), a kiosk of its hall releases it against the pickup code
//! and the holder's code and gets a lease like a claim's, and its printed report collects
//! the job at once. Wrong codes lock the job after 5 tries; counter tokens cannot release;
//! another hall's kiosk finds nothing.

use crate::helpers::{assert_error, spawn_app, TestApp, CITY_HALL, PIZHOU_PARTNER};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::domain::role::Role;
use serde_json::{json, Value};

/// 新沂: another partner hall.
const XINYI_PARTNER: &str = "320381000";

struct Ctx {
    app: TestApp,
    issuer: String,
    admin: String,
    operator: String,
    /// Pizhou's counter agent.
    counter: String,
    /// Pizhou's kiosk.
    kiosk: String,
    kiosk_id: i64,
    /// Xinyi's kiosk.
    other_kiosk: String,
}

async fn token(app: &TestApp, admin: &str, hall: &str, kind: &str) -> (String, i64) {
    let res = app
        .post_json(
            "/api/v1/agent-tokens",
            Some(admin),
            &json!({"hall": hall, "kind": kind}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["kind"], kind);
    (
        body["token"].as_str().unwrap().to_string(),
        body["id"].as_i64().unwrap(),
    )
}

async fn setup() -> Ctx {
    let app = spawn_app().await;
    let issuer = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let operator = app.staff("zhao", Role::HallOperator, PIZHOU_PARTNER).await;
    let (counter, _) = token(&app, &admin, PIZHOU_PARTNER, "counter").await;
    let (kiosk, kiosk_id) = token(&app, &admin, PIZHOU_PARTNER, "kiosk").await;
    let (other_kiosk, _) = token(&app, &admin, XINYI_PARTNER, "kiosk").await;
    Ctx {
        app,
        issuer,
        admin,
        operator,
        counter,
        kiosk,
        kiosk_id,
        other_kiosk,
    }
}

/// Issue a business licence and queue it to `hall` with `pickup`: the raw answer.
async fn queue(ctx: &Ctx, hall: &str, pickup: &str) -> (reqwest::Response, Value) {
    let code = business_licence_code(&ctx.app);
    let body = example_body(&ctx.app, &ctx.issuer, &code).await;
    let licence = issue(&ctx.app, &ctx.issuer, &body).await;
    let res = ctx
        .app
        .post_json(
            "/api/v1/print-jobs",
            Some(&ctx.issuer),
            &json!({"licence_id": licence["id"], "hall": hall, "copies": ["original"], "pickup": pickup}),
        )
        .await;
    (res, licence)
}

/// A self-service job at Pizhou: (job with its pickup code, holder code).
async fn queue_kiosk_job(ctx: &Ctx) -> (Value, String) {
    let (res, licence) = queue(ctx, PIZHOU_PARTNER, "kiosk").await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["state"], "held");
    assert_eq!(job["pickup"], "kiosk");
    (job, licence["holder"]["code"].as_str().unwrap().to_string())
}

async fn claim(ctx: &Ctx, agent: &str) -> reqwest::Response {
    ctx.app
        .post_json(
            "/api/v1/agent/claim",
            Some(agent),
            &json!({"max": 10, "wait_s": 0}),
        )
        .await
}

async fn release(ctx: &Ctx, agent: &str, pickup: &str, recipient: &str) -> reqwest::Response {
    ctx.app
        .post_json(
            "/api/v1/agent/release",
            Some(agent),
            &json!({"pickup_code": pickup, "recipient_code": recipient}),
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

fn serial(hall: &str, n: u32) -> String {
    format!("{}{:06}", crosscert::demo::demo_stock_prefix(hall), n)
}

fn events(job: &Value, action: &str) -> Vec<Value> {
    job["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_kiosk_job_stays_held_through_claims_and_a_release_prints_and_collects_it() {
    let ctx = setup().await;
    let (job, holder) = queue_kiosk_job(&ctx).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();

    // No counter agent's claim ever gets it, however often it asks.
    for _ in 0..5 {
        let res = claim(&ctx, &ctx.counter).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["jobs"], json!([]));
    }
    // A kiosk token does not claim at all.
    assert_error(claim(&ctx, &ctx.kiosk).await, 403, "forbidden").await;
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "held");

    // The holder at the kiosk: right codes (the ID number's x typed in lower case).
    let res = release(&ctx, &ctx.kiosk, &code, &holder.to_ascii_lowercase()).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let released = &answer["jobs"][0];
    assert_eq!(answer["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(released["id"], job["id"]);
    let lease = released["lease_token"].as_str().unwrap().to_string();
    assert!(!lease.is_empty());
    assert_eq!(job_of(&ctx, &job["id"]).await["state"], "leased");

    // A second release with the same codes finds nothing: the job is no longer held.
    assert_error(
        release(&ctx, &ctx.kiosk, &code, &holder).await,
        404,
        "not_found",
    )
    .await;

    // The kiosk downloads and prints as any agent; its printed report collects the job.
    let id = job["id"].as_str().unwrap();
    let res = ctx
        .app
        .client
        .get(ctx.app.url(&format!("/api/v1/agent/jobs/{id}/document")))
        .bearer_auth(&ctx.kiosk)
        .header("Lease-Token", &lease)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sheet = serial(PIZHOU_PARTNER, 1);
    let res = ctx
        .app
        .post_json(
            &format!("/api/v1/agent/jobs/{id}/report"),
            Some(&ctx.kiosk),
            &json!({"lease_token": lease, "seq": 1, "outcome": "printed", "sheets": [sheet]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["state"], "collected");

    let done = job_of(&ctx, &job["id"]).await;
    assert_eq!(done["state"], "collected");
    assert!(done["collected_at"].is_string() && done["printed_at"].is_string());
    let collected = events(&done, "PrintJobCollected");
    assert_eq!(collected.len(), 1, "{done}");
    assert_eq!(collected[0]["details"]["self_service"], true);
    assert_eq!(collected[0]["details"]["kiosk_id"], ctx.kiosk_id);
    assert_eq!(collected[0]["details"]["sheets"], json!([sheet]));
    assert_eq!(events(&done, "PrintJobReleased").len(), 1);
    assert_eq!(done["sheets"][0]["serial"], sheet);
}

#[tokio::test]
async fn wrong_codes_get_one_answer_and_lock_the_job_after_five_until_an_operator_unlocks_it() {
    let ctx = setup().await;
    let (job, holder) = queue_kiosk_job(&ctx).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();
    let wrong_code = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };

    // Whichever is wrong, the answer is the same.
    let a = assert_error(
        release(&ctx, &ctx.kiosk, wrong_code, &holder).await,
        404,
        "not_found",
    )
    .await;
    let b = assert_error(
        release(&ctx, &ctx.kiosk, &code, "110101199001011234").await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(a, b);
    for _ in 0..2 {
        assert_error(
            release(&ctx, &ctx.kiosk, wrong_code, &holder).await,
            404,
            "not_found",
        )
        .await;
    }
    // The fifth wrong try locks the job and says so.
    assert_error(
        release(&ctx, &ctx.kiosk, wrong_code, &holder).await,
        429,
        "too_many_requests",
    )
    .await;
    let locked = job_of(&ctx, &job["id"]).await;
    assert_eq!(locked["pickup_failures"], 5);
    assert_eq!(locked["pickup_locked"], true);
    assert_eq!(locked["state"], "held");
    assert_eq!(events(&locked, "PickupLocked").len(), 1);
    // Locked: even the right codes are refused now.
    assert_error(
        release(&ctx, &ctx.kiosk, &code, &holder).await,
        429,
        "too_many_requests",
    )
    .await;

    // The hall's operator unlocks it (self-service jobs are locked at their hall's kiosk).
    let res = ctx
        .app
        .post_json(
            &format!(
                "/api/v1/print-jobs/{}/unlock-pickup",
                job["id"].as_str().unwrap()
            ),
            Some(&ctx.operator),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = release(&ctx, &ctx.kiosk, &code, &holder).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_counter_token_cannot_release_and_another_halls_kiosk_finds_nothing() {
    let ctx = setup().await;
    let (job, holder) = queue_kiosk_job(&ctx).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();

    assert_error(
        release(&ctx, &ctx.counter, &code, &holder).await,
        403,
        "forbidden",
    )
    .await;
    let other = assert_error(
        release(&ctx, &ctx.other_kiosk, &code, &holder).await,
        404,
        "not_found",
    )
    .await;
    let wrong = assert_error(
        release(&ctx, &ctx.kiosk, "12345678", "110101199001011234").await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(other, wrong, "the same answer as wrong codes");
    // Nothing changed: not counted against the job either.
    let after = job_of(&ctx, &job["id"]).await;
    assert_eq!(after["state"], "held");
    assert_eq!(after["pickup_failures"], 0);
    // Missing codes name the field.
    let res = ctx
        .app
        .post_json(
            "/api/v1/agent/release",
            Some(&ctx.kiosk),
            &json!({"pickup_code": " ", "recipient_code": holder}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(
        body["message"].as_str().unwrap().contains("pickup_code"),
        "{body}"
    );
}

#[tokio::test]
async fn self_service_needs_a_kiosk_and_a_failed_kiosk_print_waits_held_again() {
    let ctx = setup().await;
    // A job held while Pizhou has a kiosk; then its only kiosk token is revoked.
    let tokens: Value = ctx
        .app
        .get(
            &format!("/api/v1/agent-tokens?hall={PIZHOU_PARTNER}"),
            Some(&ctx.admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let (job, holder) = queue_kiosk_job(&ctx).await;
    for t in tokens.as_array().unwrap() {
        if t["kind"] == "kiosk" {
            let res = ctx
                .app
                .post_json(
                    &format!("/api/v1/agent-tokens/{}/revoke", t["id"]),
                    Some(&ctx.admin),
                    &json!({}),
                )
                .await;
            assert_eq!(res.status(), 200);
        }
    }
    let (res, _) = queue(&ctx, PIZHOU_PARTNER, "kiosk").await;
    assert_error(res, 422, "no_kiosk").await;
    // Counter pickup is the default and needs no kiosk.
    let (res, _) = queue(&ctx, PIZHOU_PARTNER, "counter").await;
    assert_eq!(res.status(), 201);
    let counter_job: Value = res.json().await.unwrap();
    assert_eq!(counter_job["state"], "queued");
    assert_eq!(counter_job["pickup"], "counter");

    // A new kiosk; it releases the held job, fails with nothing printed: held again, and
    // the counter agent's claim still gets only the counter job.
    let (kiosk, _) = token(&ctx.app, &ctx.admin, PIZHOU_PARTNER, "kiosk").await;
    let code = job["pickup_code"].as_str().unwrap();
    let res = release(&ctx, &kiosk, code, &holder).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    let lease = answer["jobs"][0]["lease_token"].as_str().unwrap();
    let res = ctx
        .app
        .post_json(
            &format!(
                "/api/v1/agent/jobs/{}/report",
                job["id"].as_str().unwrap()
            ),
            Some(&kiosk),
            &json!({"lease_token": lease, "seq": 1, "outcome": "failed", "printed_nothing": true, "reason": "paper jam before the first sheet"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["state"], "held");
    let res = claim(&ctx, &ctx.counter).await;
    let body: Value = res.json().await.unwrap();
    let ids: Vec<&Value> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["id"])
        .collect();
    assert_eq!(ids, vec![&counter_job["id"]]);
}

#[tokio::test]
async fn a_held_job_is_ready_for_the_holder_at_once_with_self_service_and_its_message() {
    let ctx = setup().await;
    let code = business_licence_code(&ctx.app);
    let body = example_body(&ctx.app, &ctx.issuer, &code).await;
    let licence = issue(&ctx.app, &ctx.issuer, &body).await;
    let res = ctx
        .app
        .post_json(
            "/api/v1/print-jobs",
            Some(&ctx.issuer),
            &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"],
                    "pickup": "kiosk", "mobile": "13800000001"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["state"], "held");
    let token = job["tracking_url"]
        .as_str()
        .unwrap()
        .rsplit_once("/T/")
        .unwrap()
        .1
        .to_string();
    let track = |token: String| {
        let app = &ctx.app;
        async move {
            let res = app.get(&format!("/api/v1/track/{token}"), None).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let seen = track(token.clone()).await;
    assert_eq!(seen["state"], "ready", "{seen}");
    assert_eq!(seen["state_label"], "可领取");
    assert_eq!(seen["self_service"], true);

    // The "ready" message is in the outbox from the moment the job is held, and says kiosk.
    let mut conn = ctx.app.state.pool.get().unwrap();
    let rows =
        crosscert::storage::notifications::list_for_job(&mut conn, job["id"].as_str().unwrap())
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind.as_str(), "ready");
    assert!(rows[0].body.contains("自助终端"), "{}", rows[0].body);
    drop(conn);

    // A counter job at the same hall cannot be collected at the kiosk.
    let other = issue(&ctx.app, &ctx.issuer, &body).await;
    let res = ctx
        .app
        .post_json(
            "/api/v1/print-jobs",
            Some(&ctx.issuer),
            &json!({"licence_id": other["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let counter_job: Value = res.json().await.unwrap();
    let counter_token = counter_job["tracking_url"]
        .as_str()
        .unwrap()
        .rsplit_once("/T/")
        .unwrap()
        .1
        .to_string();
    let seen = track(counter_token).await;
    assert_eq!(seen["state"], "queued");
    assert_eq!(seen["self_service"], false);

    // Once the hall's kiosk token is revoked, self-service is no longer offered.
    let res = ctx
        .app
        .post_json(
            &format!("/api/v1/agent-tokens/{}/revoke", ctx.kiosk_id),
            Some(&ctx.admin),
            &json!({}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let seen = track(token).await;
    assert_eq!(seen["self_service"], false);
}
