//! The holder's tracking page, text messages through the outbox, and the quicker counter
//! (issue 24, second half).

use crate::helpers::{
    assert_error, spawn_app, spawn_app_on, spawn_app_with, TestApp, TestDb, LANSHAN_HALL,
    PIZHOU_PARTNER,
};
use crate::licences::{business_licence_code, issuer};
use crate::print_jobs::{issue_type, job_of, pickup, print_job, queue_ok};
use crosscert::domain::role::Role;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn queue_with_mobile(
    app: &TestApp,
    token: &str,
    licence: &Value,
    mobile: Option<&str>,
) -> reqwest::Response {
    let mut body =
        json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "copies": ["original"]});
    if let Some(m) = mobile {
        body["mobile"] = json!(m);
    }
    app.post_json("/api/v1/print-jobs", Some(token), &body)
        .await
}

fn token_of(job: &Value) -> String {
    let url = job["tracking_url"].as_str().unwrap();
    url.rsplit_once("/T/").unwrap().1.to_string()
}

async fn track(app: &TestApp, token: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/track/{token}"), None).await
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_tracking_page_tells_the_holder_the_state_hall_and_masked_name_only() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let url = job["tracking_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/T/", app.settings.public_url)),
        "{url}"
    );
    let t = token_of(&job);
    assert_eq!(t.len(), 32);
    assert_ne!(t, job["pickup_code"].as_str().unwrap());
    // Shown once: the job as read later carries neither the URL nor the token.
    let seen = job_of(&app, &token, &job["id"]).await;
    assert!(!seen.to_string().contains(&t));

    let res = track(&app, &t).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "hall_address",
            "hall_name",
            "holder_name",
            "self_service",
            "state",
            "state_label"
        ]
    );
    assert_eq!(body["state"], "queued");
    assert_eq!(body["state_label"], "排队中");
    assert_eq!(body["self_service"], false);
    let holder = licence["holder"]["name"].as_str().unwrap();
    let masked = body["holder_name"].as_str().unwrap();
    assert_ne!(masked, holder);
    assert!(masked.contains('*'), "{masked}");
    assert_eq!(masked.chars().next(), holder.chars().next());
    let hall = {
        let mut conn = app.state.pool.get().unwrap();
        crosscert::storage::halls::get_hall(&mut conn, PIZHOU_PARTNER).unwrap()
    };
    assert_eq!(body["hall_name"], hall.name.as_str());
    assert_eq!(body["hall_address"], hall.address.as_str());
    assert!(!body["hall_address"].as_str().unwrap().is_empty());

    // The page says the same in Chinese, and nothing of the licence or the codes.
    let (status, html) = page(&app, url.trim_start_matches(&app.settings.public_url)).await;
    assert_eq!(status, 200);
    assert!(html.contains("排队中") && html.contains(masked), "{html}");
    assert!(!html.contains(licence["licence_no"].as_str().unwrap()));
    assert!(!html.contains(job["pickup_code"].as_str().unwrap()));
    assert!(!html.contains(holder));

    print_job(&app, &job, PIZHOU_PARTNER, 1);
    let body: Value = track(&app, &t).await.json().await.unwrap();
    assert_eq!(
        (body["state"].as_str(), body["state_label"].as_str()),
        (Some("ready"), Some("可领取"))
    );
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let code = job["pickup_code"].as_str().unwrap();
    let res = pickup(
        &app,
        &operator,
        &job,
        code,
        licence["holder"]["code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = track(&app, &t).await.json().await.unwrap();
    assert_eq!(body["state_label"], "已领取");
    let (_, html) = page(&app, &format!("/T/{t}")).await;
    assert!(html.contains("已领取"));

    // Unknown tokens: a JSON 404 on the API, a Chinese 404 page.
    let other = "0".repeat(32);
    assert_error(track(&app, &other).await, 404, "not_found").await;
    assert_error(track(&app, "not-a-token").await, 404, "not_found").await;
    let (status, html) = page(&app, &format!("/T/{other}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("未找到此打印任务"), "{html}");
}

#[tokio::test]
async fn tracking_is_rate_limited_like_the_verify_routes() {
    let app = spawn_app_with(|s| s.verify_rate_limit = 2).await;
    let t = "f".repeat(32);
    assert_eq!(track(&app, &t).await.status(), 404);
    assert_eq!(page(&app, &format!("/T/{t}")).await.0, 404);
    let res = track(&app, &t).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "too_many_requests").await;
    let (status, html) = page(&app, &format!("/T/{t}")).await;
    assert_eq!(status, 429);
    assert!(html.contains("查询过于频繁"));
    // The verify routes share the budget.
    let res = app.get("/api/v1/verify?code=X", None).await;
    assert_eq!(res.status(), 429);
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(track(&app, &t).await.status(), 404);
}

#[tokio::test]
async fn a_mobile_number_is_checked_and_stored() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    for bad in ["12345", "12812345678", "138123456789", "0539-1234567"] {
        let res = queue_with_mobile(&app, &token, &licence, Some(bad)).await;
        let body = assert_error(res, 422, "invalid_mobile").await;
        assert!(
            body["message"].as_str().unwrap().starts_with("mobile:"),
            "{body}"
        );
    }
    let res = app
        .post_json(
            "/api/v1/print-jobs",
            Some(&token),
            &json!({"licence_id": licence["id"], "hall": PIZHOU_PARTNER, "mobile": 13812345678u64}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(
        body["message"].as_str().unwrap().contains("mobile"),
        "{body}"
    );
    // Nothing was queued by the refusals.
    let res = queue_with_mobile(&app, &token, &licence, Some("+86 138 1234-5678")).await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    let mut conn = app.state.pool.get().unwrap();
    let stored =
        crosscert::storage::tracking::mobile_of(&mut conn, job["id"].as_str().unwrap()).unwrap();
    assert_eq!(stored.as_deref(), Some("13812345678"));
}

#[tokio::test]
async fn pickup_by_pickup_code_alone_finds_the_operators_own_halls_job() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();
    let holder = licence["holder"]["code"].as_str().unwrap().to_string();
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let elsewhere = app
        .staff("lanshan-op", Role::HallOperator, LANSHAN_HALL)
        .await;
    let by_code =
        |code: &str, recipient: &str| json!({"pickup_code": code, "recipient_code": recipient});

    // Not printed yet: no printed job of the hall has this code.
    let res = app
        .post_json("/api/v1/pickups", Some(&operator), &by_code(&code, &holder))
        .await;
    assert_error(res, 422, "unknown_pickup_code").await;
    print_job(&app, &job, PIZHOU_PARTNER, 1);

    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let res = app
        .post_json("/api/v1/pickups", Some(&operator), &by_code(wrong, &holder))
        .await;
    let body = assert_error(res, 422, "unknown_pickup_code").await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("pickup_code:"));
    // Another hall's operator with the right code finds nothing.
    let res = app
        .post_json(
            "/api/v1/pickups",
            Some(&elsewhere),
            &by_code(&code, &holder),
        )
        .await;
    assert_error(res, 422, "unknown_pickup_code").await;
    // Window staff do not hand over.
    let res = app
        .post_json("/api/v1/pickups", Some(&token), &by_code(&code, &holder))
        .await;
    assert_error(res, 403, "forbidden").await;
    // The right code with the wrong holder counts against the job, as with job_id.
    let res = app
        .post_json(
            "/api/v1/pickups",
            Some(&operator),
            &by_code(&code, "91350100M000100Y43"),
        )
        .await;
    let body = assert_error(res, 422, "wrong_pickup_code").await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("4 attempts left"));
    let seen = job_of(&app, &token, &job["id"]).await;
    assert_eq!(seen["pickup_failures"], 1);
    assert_eq!(seen["state"], "printed");

    let res = app
        .post_json(
            "/api/v1/pickups",
            Some(&operator),
            &by_code(&code, &holder.to_lowercase()),
        )
        .await;
    assert_eq!(res.status(), 200);
    let collected: Value = res.json().await.unwrap();
    assert_eq!(collected["id"], job["id"]);
    assert_eq!(collected["state"], "collected");
    // Collected: the code finds nothing any more.
    let res = app
        .post_json("/api/v1/pickups", Some(&operator), &by_code(&code, &holder))
        .await;
    assert_error(res, 422, "unknown_pickup_code").await;
}

// ---- the outbox and the fake SMS gateway ----------------------------------------------

/// A gateway that answers 500 to the first `fail_first` attempts of each message id, then
/// 200; it records every request and every accepted message.
#[derive(Clone, Default)]
struct Gateway {
    fail_first: usize,
    attempts: Arc<Mutex<HashMap<String, usize>>>,
    accepted: Arc<Mutex<Vec<Value>>>,
}

async fn start_gateway(fail_first: usize) -> (String, Gateway) {
    let gw = Gateway {
        fail_first,
        ..Gateway::default()
    };
    let state = gw.clone();
    let server = actix_web::HttpServer::new(move || {
        let state = state.clone();
        actix_web::App::new().route(
            "/sms",
            actix_web::web::post().to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Json<Value>| {
                    let state = state.clone();
                    async move {
                        let id = body["id"].as_str().unwrap_or_default().to_string();
                        assert_eq!(
                            req.headers()
                                .get("idempotency-key")
                                .and_then(|v| v.to_str().ok()),
                            Some(id.as_str())
                        );
                        let n = {
                            let mut a = state.attempts.lock().unwrap();
                            let n = a.entry(id).or_default();
                            *n += 1;
                            *n
                        };
                        if n <= state.fail_first {
                            actix_web::HttpResponse::InternalServerError().finish()
                        } else {
                            state.accepted.lock().unwrap().push(body.into_inner());
                            actix_web::HttpResponse::Ok().finish()
                        }
                    }
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/sms"), gw)
}

impl Gateway {
    fn accepted(&self, kind: &str) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == kind)
            .cloned()
            .collect()
    }
}

/// Step both servers' clocks and give their delivery tasks time, until `done` or 60 rounds.
async fn run_until(apps: &[&TestApp], step: chrono::Duration, done: impl Fn() -> bool) {
    for _ in 0..60 {
        if done() {
            return;
        }
        for app in apps {
            app.clock.advance(step);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn the_gateway_gets_exactly_one_ready_message_per_job_despite_failures_and_two_servers() {
    let (webhook, gateway) = start_gateway(2).await;
    let notify = |s: &mut crosscert::config::Settings| {
        s.notify.sms_webhook = Some(webhook.clone());
        s.notify.poll_ms = 30;
        s.notify.retry_base_s = 2;
        s.notify.reminder_days = 7;
    };
    let app = spawn_app_with(notify).await;
    let second = spawn_app_on(TestDb::shared(&app.db.url), notify).await;
    let token = issuer(&app).await;
    let mut jobs = Vec::new();
    let mut holders = Vec::new();
    for i in 0..3 {
        let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
        holders.push(licence["holder"]["code"].as_str().unwrap().to_string());
        let res = queue_with_mobile(&app, &token, &licence, Some(&format!("1380000000{i}"))).await;
        assert_eq!(res.status(), 201);
        jobs.push(res.json::<Value>().await.unwrap());
    }
    let silent = {
        let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
        queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await
    };
    // Nothing is sent before printing.
    run_until(&[&app, &second], chrono::Duration::seconds(5), || false).await;
    assert!(gateway.attempts.lock().unwrap().is_empty());

    for (i, job) in jobs.iter().chain([&silent]).enumerate() {
        print_job(&app, job, PIZHOU_PARTNER, 1 + i as u32);
    }
    run_until(&[&app, &second], chrono::Duration::seconds(5), || {
        gateway.accepted("ready").len() >= jobs.len()
    })
    .await;
    // A while longer: nothing more arrives.
    run_until(&[&app, &second], chrono::Duration::seconds(5), || false).await;

    let ready = gateway.accepted("ready");
    assert_eq!(ready.len(), jobs.len(), "{ready:?}");
    for (i, job) in jobs.iter().enumerate() {
        let for_job: Vec<&Value> = ready.iter().filter(|m| m["job_id"] == job["id"]).collect();
        assert_eq!(for_job.len(), 1, "job {i}: {ready:?}");
        assert_eq!(for_job[0]["mobile"], format!("1380000000{i}"));
        assert!(for_job[0]["text"].as_str().unwrap().contains("已制作完成"));
        // Two failures, then the one delivery, for the same idempotency key.
        let id = for_job[0]["id"].as_str().unwrap();
        assert_eq!(gateway.attempts.lock().unwrap()[id], 3);
        let mut conn = app.state.pool.get().unwrap();
        let rows =
            crosscert::storage::notifications::list_for_job(&mut conn, job["id"].as_str().unwrap())
                .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state.as_str(), "sent");
        assert_eq!(rows[0].attempts, 3);
        assert!(rows[0].last_error.is_none());
    }
    assert!(!ready.iter().any(|m| m["job_id"] == silent["id"]));

    // Collect one; after seven days the other two get one reminder each.
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let collected = &jobs[0];
    let res = app
        .post_json(
            "/api/v1/pickups",
            Some(&operator),
            &json!({"pickup_code": collected["pickup_code"], "recipient_code": "91350100M000100Y43"}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let holder = holders[0].clone();
    let res = pickup(
        &app,
        &operator,
        collected,
        collected["pickup_code"].as_str().unwrap(),
        &holder,
    )
    .await;
    assert_eq!(res.status(), 200);
    for a in [&app, &second] {
        a.clock.advance(chrono::Duration::days(7));
    }
    run_until(&[&app, &second], chrono::Duration::seconds(5), || {
        gateway.accepted("reminder").len() >= 2
    })
    .await;
    run_until(&[&app, &second], chrono::Duration::seconds(30), || false).await;
    let reminders = gateway.accepted("reminder");
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    for job in &jobs[1..] {
        assert_eq!(
            reminders
                .iter()
                .filter(|m| m["job_id"] == job["id"])
                .count(),
            1
        );
    }
    assert!(reminders[0]["text"].as_str().unwrap().contains("仍未领取"));
}

#[tokio::test]
async fn a_gateway_that_never_answers_leaves_the_message_pending_with_its_error() {
    let (webhook, gateway) = start_gateway(usize::MAX).await;
    let app = spawn_app_with(|s| {
        s.notify.sms_webhook = Some(webhook.clone());
        s.notify.poll_ms = 30;
        s.notify.retry_base_s = 2;
    })
    .await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let res = queue_with_mobile(&app, &token, &licence, Some("13900001111")).await;
    let job: Value = res.json().await.unwrap();
    print_job(&app, &job, PIZHOU_PARTNER, 1);
    run_until(&[&app], chrono::Duration::seconds(1), || {
        gateway.attempts.lock().unwrap().values().sum::<usize>() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = app.state.pool.get().unwrap();
    let rows =
        crosscert::storage::notifications::list_for_job(&mut conn, job["id"].as_str().unwrap())
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state.as_str(), "pending");
    assert!(rows[0].attempts >= 2);
    assert!(rows[0].last_error.as_deref().unwrap().contains("HTTP 500"));
    // The backoff grows: the next attempt is further away than the first retry was.
    assert!(rows[0].next_attempt_at > crosscert::storage::to_db_time(app.state.now()));
    assert!(gateway.accepted("ready").is_empty());
}

// ---- the counter's pages ---------------------------------------------------------------

#[tokio::test]
async fn the_counter_finds_jobs_by_url_code_and_short_id_and_reads_in_chinese() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job: Value = queue_with_mobile(&app, &token, &licence, Some("13912345678"))
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let code = job["pickup_code"].as_str().unwrap().to_string();
    let holder = licence["holder"]["code"].as_str().unwrap().to_string();
    let serials = print_job(&app, &job, PIZHOU_PARTNER, 1);
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    app.create_user("liu", Role::HallOperator, crate::helpers::CITY_HALL);
    let (_, op) = crate::web::web_login(&app, "zhou").await;
    let (_, other) = crate::web::web_login(&app, "liu").await;

    let url = job["tracking_url"].as_str().unwrap().to_string();
    for q in [url.as_str(), &code, &id[..8], &id, &id.to_uppercase()[..8]] {
        let res = op
            .get(&app, &format!("/hall/find?q={}", urlencode(q)))
            .await;
        assert_eq!(res.status(), 303, "{q}");
        assert_eq!(
            res.headers()["location"].to_str().unwrap(),
            format!("/jobs/{id}"),
            "{q}"
        );
    }
    // Another hall's operator finds nothing, and is told so next to the field.
    for q in [url.as_str(), &code, &id[..8]] {
        let res = other
            .get(&app, &format!("/hall/find?q={}", urlencode(q)))
            .await;
        assert_eq!(res.status(), 404, "{q}");
        let html = res.text().await.unwrap();
        assert!(html.contains("data-field=\"q\""), "{html}");
        assert!(html.contains("未找到对应的打印任务"));
    }

    // The job page: states, copies, halls, the history as rows, the masked number.
    let html = op
        .get(&app, &format!("/jobs/{id}"))
        .await
        .text()
        .await
        .unwrap();
    for raw in [
        ">printed<",
        ">original<",
        ">valid<",
        "{&quot;",
        "\"sheets\"",
    ] {
        assert!(!html.contains(raw), "{raw} in the job page");
    }
    assert!(html.contains("139****5678"));
    assert!(!html.contains("13912345678"));
    assert!(html.contains("邳州市政务服务中心"));
    assert!(html.contains("正本"));
    assert!(html.contains(&format!("证纸 {}", serials[0])), "{html}");
    assert!(html.contains("打印代理") && html.contains("已打印"));
    assert!(html.contains("可领取通知") && html.contains("待发送"));

    // Pickup from the queue page by the code alone: a wrong code next to its field.
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let res = op
        .post(
            &app,
            "/pickups",
            &[("pickup_code", wrong), ("recipient_code", &holder)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-field=\"pickup_code\""), "{html}");
    assert!(
        html.contains("打印队列"),
        "the queue page, not an error page"
    );
    let res = op
        .post(
            &app,
            "/pickups",
            &[
                ("pickup_code", &code),
                ("recipient_code", "91350100M000100Y43"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("还可尝试 4 次"));
    let res = op
        .post(
            &app,
            "/pickups",
            &[("pickup_code", &code), ("recipient_code", &holder)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-state=\"collected\""));
    assert!(html.contains("已领取"));
}

#[tokio::test]
async fn jobs_ready_for_more_than_thirty_days_are_marked_uncollected() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let old = issue_type(&app, &token, &business_licence_code(&app)).await;
    let old = queue_ok(&app, &token, &old, PIZHOU_PARTNER).await;
    let fresh = issue_type(&app, &token, &business_licence_code(&app)).await;
    let fresh = queue_ok(&app, &token, &fresh, PIZHOU_PARTNER).await;
    print_job(&app, &old, PIZHOU_PARTNER, 1);
    app.clock.advance(chrono::Duration::days(31));
    print_job(&app, &fresh, PIZHOU_PARTNER, 2);
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    let (_, op) = crate::web::web_login(&app, "zhou").await;
    let html = op
        .get(&app, "/hall?state=printed")
        .await
        .text()
        .await
        .unwrap();
    let row = |id: &Value| {
        let start = html
            .find(&format!("data-job=\"{}\"", id.as_str().unwrap()))
            .unwrap();
        html[start..].split("</tr>").next().unwrap().to_string()
    };
    assert!(row(&old["id"]).contains("逾期未领"));
    assert!(!row(&fresh["id"]).contains("逾期未领"));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
