//! Routing, print jobs, security stock and pickup (docs/architecture.md, "Print distribution"). The agent protocol is not
//! built yet: tests move a job to `printed` through the service layer (`lease_job`,
//! `record_printed`), as the agent routes will.

use crate::helpers::{
    assert_error, spawn_app, NowUtc, TestApp, CITY_HALL, LANSHAN_HALL, PIZHOU_PARTNER,
};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::distribution::jobs;
use crosscert::domain::role::Role;
use serde_json::{json, Value};

/// 高碑店: its agreement ended on 2025-06-30.
const EXPIRED_PARTNER: &str = "130684000";
/// 晋江: covers market and transport only.
const MARKET_TRANSPORT_PARTNER: &str = "350582000";
/// 新沂: a partner covering everything.
const XINYI_PARTNER: &str = "320381000";
/// The city hall's coordinates.
const NEAR_CITY: &str = "35.1041,118.3564";

/// A type in the health domain with only an original: no partial partner covers it.
fn health_type(app: &TestApp) -> String {
    app.state
        .catalog
        .types()
        .iter()
        .find(|t| t.domain.as_str() == "health" && !t.has_duplicate())
        .unwrap()
        .code
        .clone()
}

pub(crate) async fn issue_type(app: &TestApp, token: &str, code: &str) -> Value {
    let body = example_body(app, token, code).await;
    issue(app, token, &body).await
}

pub(crate) async fn queue(
    app: &TestApp,
    token: &str,
    licence: &Value,
    hall: &str,
    copies: Value,
) -> reqwest::Response {
    app.post_json(
        "/api/v1/print-jobs",
        Some(token),
        &json!({"licence_id": licence["id"], "hall": hall, "copies": copies}),
    )
    .await
}

pub(crate) async fn queue_ok(app: &TestApp, token: &str, licence: &Value, hall: &str) -> Value {
    let res = queue(app, token, licence, hall, json!(["original"])).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Lease the job to its hall and record it printed on the next demo sheets of that hall.
pub(crate) fn print_job(app: &TestApp, job: &Value, hall: &str, first_sheet: u32) -> Vec<String> {
    let id = job["id"].as_str().unwrap();
    let pages = job["copies"].as_array().unwrap().len() as u32;
    let serials: Vec<String> = (0..pages)
        .map(|i| {
            format!(
                "{}{:06}",
                crosscert::demo::demo_stock_prefix(hall),
                first_sheet + i
            )
        })
        .collect();
    let mut conn = app.state.pool.get().unwrap();
    let now = app.clock.now_utc();
    jobs::lease_job(
        &mut conn,
        id,
        hall,
        "lease-token-hash",
        now + chrono::Duration::minutes(5),
        now,
    )
    .unwrap();
    crosscert::storage::write_tx(&mut conn, |c| {
        jobs::record_printed(c, id, &serials, &format!("agent:{hall}"), now)
    })
    .unwrap();
    serials
}

pub(crate) async fn job_of(app: &TestApp, token: &str, id: &Value) -> Value {
    let res = app
        .get(
            &format!("/api/v1/print-jobs/{}", id.as_str().unwrap()),
            Some(token),
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

pub(crate) async fn pickup(
    app: &TestApp,
    token: &str,
    job: &Value,
    code: &str,
    recipient: &str,
) -> reqwest::Response {
    app.post_json(
        "/api/v1/pickups",
        Some(token),
        &json!({"job_id": job["id"], "pickup_code": code, "recipient_code": recipient}),
    )
    .await
}

#[tokio::test]
async fn halls_query_lists_printable_halls_nearest_first_without_expired_or_non_covering_partners()
{
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let market = business_licence_code(&app);
    let health = health_type(&app);
    let all: Vec<Value> = app
        .get("/api/v1/halls", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 197);
    assert!(all.iter().all(|h| h.get("distance_km").is_none()));

    let res = app
        .get(
            &format!("/api/v1/halls?cert_type={market}&near={NEAR_CITY}"),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 200);
    let routed: Vec<Value> = res.json().await.unwrap();
    let codes: Vec<&str> = routed.iter().map(|h| h["code"].as_str().unwrap()).collect();
    assert_eq!(routed.len(), 196, "every hall but the expired partner");
    assert!(!codes.contains(&EXPIRED_PARTNER));
    assert!(codes.contains(&MARKET_TRANSPORT_PARTNER));
    assert_eq!(codes[0], CITY_HALL);
    assert_eq!(routed[0]["distance_km"], 0.0);
    let distances: Vec<f64> = routed
        .iter()
        .map(|h| h["distance_km"].as_f64().unwrap())
        .collect();
    assert!(
        distances.windows(2).all(|w| w[0] <= w[1]),
        "sorted nearest first"
    );
    let pizhou = routed.iter().find(|h| h["code"] == PIZHOU_PARTNER).unwrap();
    let d = pizhou["distance_km"].as_f64().unwrap();
    assert!((80.0..100.0).contains(&d), "{d}");
    assert_eq!((d * 10.0).round() / 10.0, d, "one decimal");

    let routed: Vec<Value> = app
        .get(
            &format!("/api/v1/halls?cert_type={health}&near={NEAR_CITY}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = routed.iter().map(|h| h["code"].as_str().unwrap()).collect();
    for excluded in [
        EXPIRED_PARTNER,
        MARKET_TRANSPORT_PARTNER,
        "130283000",
        "330681000",
    ] {
        assert!(!codes.contains(&excluded), "{excluded}");
    }
    assert_eq!(routed.len(), 193);
    assert!(codes.contains(&XINYI_PARTNER));

    for bad in ["abc", "91,0", "35.1", "35.1,200", "NaN,1"] {
        let res = app
            .get(
                &format!("/api/v1/halls?cert_type={market}&near={bad}"),
                Some(&token),
            )
            .await;
        let body = assert_error(res, 400, "invalid_query").await;
        assert!(body["message"].as_str().unwrap().contains("near"), "{body}");
    }
    let res = app
        .get(
            &format!("/api/v1/halls?cert_type=NOPE&near={NEAR_CITY}"),
            Some(&token),
        )
        .await;
    let body = assert_error(res, 400, "invalid_query").await;
    assert!(
        body["message"].as_str().unwrap().contains("cert_type"),
        "{body}"
    );
}

#[tokio::test]
async fn queueing_refuses_expired_partners_withdrawn_licences_and_second_jobs_by_rule() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let market = business_licence_code(&app);
    let licence = issue_type(&app, &token, &market).await;

    let res = queue(&app, &token, &licence, EXPIRED_PARTNER, json!(["original"])).await;
    assert_error(res, 422, "agreement_expired").await;

    let health_licence = issue_type(&app, &token, &health_type(&app)).await;
    let res = queue(
        &app,
        &token,
        &health_licence,
        MARKET_TRANSPORT_PARTNER,
        json!(["original"]),
    )
    .await;
    assert_error(res, 422, "type_not_covered").await;
    let res = queue(
        &app,
        &token,
        &health_licence,
        PIZHOU_PARTNER,
        json!(["duplicate"]),
    )
    .await;
    assert_error(res, 422, "copy_not_available").await;

    for (copies, field) in [
        (json!([]), "copies"),
        (json!(["original", "original"]), "copies"),
        (json!(["triplicate"]), "copies"),
        (json!("original"), "copies"),
    ] {
        let res = queue(&app, &token, &licence, PIZHOU_PARTNER, copies).await;
        let body = assert_error(res, 400, "invalid_input").await;
        assert!(
            body["message"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
    let res = app
        .post_json(
            "/api/v1/print-jobs",
            Some(&token),
            &json!({"licence_id": licence["id"], "copies": ["original"]}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(
        body["message"].as_str().unwrap().starts_with("hall"),
        "{body}"
    );
    let res = queue(&app, &token, &licence, "999999999", json!(["original"])).await;
    assert_error(res, 400, "unknown_hall").await;
    let res = queue(
        &app,
        &token,
        &json!({"id": "no-such-licence"}),
        PIZHOU_PARTNER,
        json!(["original"]),
    )
    .await;
    assert_error(res, 404, "not_found").await;

    // An inactive hall prints nothing.
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let halls: Vec<Value> = app
        .get("/api/v1/halls", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let mut xinyi = halls
        .into_iter()
        .find(|h| h["code"] == XINYI_PARTNER)
        .unwrap();
    xinyi["active"] = json!(false);
    let res = app
        .put_json(
            &format!("/api/v1/halls/{XINYI_PARTNER}"),
            Some(&admin),
            &xinyi,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = queue(&app, &token, &licence, XINYI_PARTNER, json!(["original"])).await;
    assert_error(res, 422, "hall_inactive").await;

    // Only issuers of the issuing hall queue; another hall's licence does not exist for them.
    let operator = app
        .staff("operator", Role::HallOperator, LANSHAN_HALL)
        .await;
    let res = queue(
        &app,
        &operator,
        &licence,
        PIZHOU_PARTNER,
        json!(["original"]),
    )
    .await;
    assert_error(res, 403, "forbidden").await;
    let other_issuer = app.staff("li-city", Role::Issuer, CITY_HALL).await;
    let res = queue(
        &app,
        &other_issuer,
        &licence,
        PIZHOU_PARTNER,
        json!(["original"]),
    )
    .await;
    assert_error(res, 404, "not_found").await;

    let job = queue(
        &app,
        &token,
        &licence,
        PIZHOU_PARTNER,
        json!(["duplicate", "original"]),
    )
    .await;
    assert_eq!(job.status(), 201);
    let job: Value = job.json().await.unwrap();
    assert_eq!(job["state"], "queued");
    assert_eq!(job["copies"], json!(["original", "duplicate"]));
    assert_eq!(job["hall"], PIZHOU_PARTNER);
    assert_eq!(job["issuing_hall"], LANSHAN_HALL);
    let code = job["pickup_code"].as_str().unwrap();
    assert!(
        code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );

    let res = queue(&app, &token, &licence, CITY_HALL, json!(["original"])).await;
    assert_error(res, 422, "job_exists").await;

    let revoked = issue_type(&app, &token, &market).await;
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/revoke",
                revoked["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "吊销"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = queue(&app, &token, &revoked, PIZHOU_PARTNER, json!(["original"])).await;
    let body = assert_error(res, 422, "licence_not_valid").await;
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );

    // A licence past its validity is not valid either (issued already expired).
    let dated = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| !t.validity.is_long_term())
        .unwrap()
        .code
        .clone();
    let mut body = example_body(&app, &token, &dated).await;
    let yesterday = app.clock.now_utc().date_naive() - chrono::Duration::days(1);
    body["valid_to"] = json!(yesterday.to_string());
    let short = issue(&app, &token, &body).await;
    assert_eq!(short["status"], "expired");
    let res = queue(&app, &token, &short, PIZHOU_PARTNER, json!(["original"])).await;
    let body = assert_error(res, 422, "licence_not_valid").await;
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn withdrawing_or_superseding_a_licence_cancels_its_unprinted_job() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let market = business_licence_code(&app);

    let licence = issue_type(&app, &token, &market).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/revoke",
                licence["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "违法经营"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let seen = job_of(&app, &token, &job["id"]).await;
    assert_eq!(seen["state"], "cancelled");
    let cancelled = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "PrintJobCancelled")
        .expect("cancellation audited");
    assert_eq!(cancelled["details"]["reason"], "licence_revoked");
    assert_eq!(cancelled["details"]["licence_reason"], "违法经营");
    assert_eq!(seen["licence"]["status"], "revoked");

    // A leased job (not printed yet) is cancelled too; a suspension is enough.
    let leased_licence = issue_type(&app, &token, &market).await;
    let leased = queue_ok(&app, &token, &leased_licence, PIZHOU_PARTNER).await;
    {
        let mut conn = app.state.pool.get().unwrap();
        let now = app.clock.now_utc();
        jobs::lease_job(
            &mut conn,
            leased["id"].as_str().unwrap(),
            PIZHOU_PARTNER,
            "h",
            now + chrono::Duration::minutes(5),
            now,
        )
        .unwrap();
    }
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/suspend",
                leased_licence["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "暂扣"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let seen = job_of(&app, &token, &leased["id"]).await;
    assert_eq!(seen["state"], "cancelled");
    assert!(seen["lease_expires_at"].is_null());

    let licence = issue_type(&app, &token, &market).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let change = example_body(&app, &token, &market).await;
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/versions",
                licence["id"].as_str().unwrap()
            ),
            Some(&token),
            &change,
        )
        .await;
    assert_eq!(res.status(), 201);
    let new_version: Value = res.json().await.unwrap();
    let seen = job_of(&app, &token, &job["id"]).await;
    assert_eq!(seen["state"], "cancelled");
    assert!(actions(&seen).contains(&"PrintJobCancelled".to_string()));
    // The new version gets its own job.
    queue_ok(&app, &token, &new_version, PIZHOU_PARTNER).await;
}

#[tokio::test]
async fn print_jobs_are_visible_only_to_admins_and_staff_of_the_issuing_and_target_halls() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let path = format!("/api/v1/print-jobs/{}", job["id"].as_str().unwrap());

    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let target_op = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let other_issuer = app.staff("li-city", Role::Issuer, CITY_HALL).await;
    let other_op = app
        .staff("xinyi-op", Role::HallOperator, XINYI_PARTNER)
        .await;
    for t in [&token, &admin, &target_op] {
        let res = app.get(&path, Some(t)).await;
        assert_eq!(res.status(), 200);
    }
    for t in [&other_issuer, &other_op] {
        assert_error(app.get(&path, Some(t)).await, 404, "not_found").await;
        let res = app
            .post_json(&format!("{path}/cancel"), Some(t), &json!({"reason": "x"}))
            .await;
        assert_error(res, 404, "not_found").await;
        let res = app
            .post_json(&format!("{path}/unlock-pickup"), Some(t), &json!({}))
            .await;
        assert_error(res, 404, "not_found").await;
    }

    let list = |t: String, q: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/api/v1/print-jobs{q}"), Some(&t)).await;
            assert_eq!(res.status(), 200);
            res.json::<Vec<Value>>().await.unwrap()
        }
    };
    assert_eq!(list(target_op.clone(), "").await.len(), 1);
    assert_eq!(list(token.clone(), "?state=queued").await.len(), 1);
    assert_eq!(list(token.clone(), "?state=printed").await.len(), 0);
    assert_eq!(list(admin.clone(), "?hall=320382000").await.len(), 1);
    assert_eq!(list(other_op.clone(), "").await.len(), 0);
    assert_eq!(list(other_issuer.clone(), "?hall=320382000").await.len(), 0);
    let res = app.get("/api/v1/print-jobs?state=lost", Some(&token)).await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(body["message"].as_str().unwrap().starts_with("state"));

    // The target hall sees the job but does not manage it.
    let res = app
        .post_json(
            &format!("{path}/cancel"),
            Some(&target_op),
            &json!({"reason": "x"}),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let res = app
        .post_json(&format!("{path}/cancel"), Some(&token), &json!({}))
        .await;
    assert_error(res, 400, "invalid_input").await;
    let res = app
        .post_json(
            &format!("{path}/cancel"),
            Some(&token),
            &json!({"reason": "申请人改期"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    let res = app
        .post_json(
            &format!("{path}/cancel"),
            Some(&token),
            &json!({"reason": "again"}),
        )
        .await;
    assert_error(res, 409, "invalid_transition").await;
}

#[tokio::test]
async fn cancel_and_reroute_only_before_printing_and_reroute_keeps_the_document() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let path = format!("/api/v1/print-jobs/{}", job["id"].as_str().unwrap());

    let res = app
        .post_json(
            &format!("{path}/reroute"),
            Some(&token),
            &json!({"hall": EXPIRED_PARTNER}),
        )
        .await;
    assert_error(res, 422, "agreement_expired").await;
    let res = app
        .post_json(
            &format!("{path}/reroute"),
            Some(&token),
            &json!({"hall": PIZHOU_PARTNER}),
        )
        .await;
    assert_error(res, 422, "same_hall").await;
    let res = app
        .post_json(&format!("{path}/reroute"), Some(&token), &json!({}))
        .await;
    assert_error(res, 400, "invalid_input").await;
    let res = app
        .post_json(
            &format!("{path}/reroute"),
            Some(&token),
            &json!({"hall": XINYI_PARTNER}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let rerouted: Value = res.json().await.unwrap();
    assert_eq!(rerouted["hall"], XINYI_PARTNER);
    assert_eq!(rerouted["document_sha256"], job["document_sha256"]);
    assert!(actions(&rerouted).contains(&"PrintJobRerouted".to_string()));

    print_job(&app, &job, XINYI_PARTNER, 1);
    for (action, body) in [
        ("cancel", json!({"reason": "x"})),
        ("reroute", json!({"hall": CITY_HALL})),
    ] {
        let res = app
            .post_json(&format!("{path}/{action}"), Some(&token), &body)
            .await;
        assert_error(res, 409, "invalid_transition").await;
    }
    let res = app
        .post_json(&format!("{path}/archive"), Some(&token), &json!({}))
        .await;
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn stock_batches_register_refuse_overlaps_and_inventory_counts_every_sheet() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let register = |t: String, body: Value| {
        let app = &app;
        async move {
            app.post_json("/api/v1/stock-batches", Some(&t), &body)
                .await
        }
    };
    let res = register(
        admin.clone(),
        json!({"hall": PIZHOU_PARTNER, "first_serial": "LY00000001", "count": 100}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let batch: Value = res.json().await.unwrap();
    assert_eq!(batch["last_serial"], "LY00000100");

    // Overlaps with any hall's batch are refused; the next serial is not an overlap.
    for (hall, first, count) in [
        (XINYI_PARTNER, "LY00000100", 5),
        (PIZHOU_PARTNER, "LY00000050", 1),
    ] {
        let res = register(
            admin.clone(),
            json!({"hall": hall, "first_serial": first, "count": count}),
        )
        .await;
        assert_error(res, 409, "batch_overlaps").await;
    }
    let res = register(
        admin.clone(),
        json!({"hall": XINYI_PARTNER, "first_serial": "LY00000101", "count": 5}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let demo = crosscert::demo::demo_first_serial(XINYI_PARTNER);
    let res = register(
        admin.clone(),
        json!({"hall": PIZHOU_PARTNER, "first_serial": demo, "count": 1}),
    )
    .await;
    assert_error(res, 409, "batch_overlaps").await;

    for (body, field) in [
        (
            json!({"hall": PIZHOU_PARTNER, "first_serial": "ly1", "count": 1}),
            "first_serial",
        ),
        (
            json!({"hall": PIZHOU_PARTNER, "first_serial": "12345", "count": 1}),
            "first_serial",
        ),
        (
            json!({"hall": PIZHOU_PARTNER, "first_serial": "ZZ1", "count": 0}),
            "count",
        ),
        (
            json!({"hall": PIZHOU_PARTNER, "first_serial": "ZZ1", "count": 100001}),
            "count",
        ),
        (
            json!({"hall": PIZHOU_PARTNER, "first_serial": "ZZ98", "count": 3}),
            "count",
        ),
        (json!({"first_serial": "ZZ1", "count": 1}), "hall"),
    ] {
        let res = register(admin.clone(), body).await;
        let err = assert_error(res, 400, "invalid_input").await;
        assert!(err["message"].as_str().unwrap().starts_with(field), "{err}");
    }
    let res = register(
        admin.clone(),
        json!({"hall": "999999999", "first_serial": "ZZ1", "count": 1}),
    )
    .await;
    assert_error(res, 400, "unknown_hall").await;
    let res = register(
        token.clone(),
        json!({"hall": PIZHOU_PARTNER, "first_serial": "ZZ1", "count": 1}),
    )
    .await;
    assert_error(res, 403, "forbidden").await;

    // Print one job (two pages) and void one sheet at 邳州.
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let res = queue(
        &app,
        &token,
        &licence,
        PIZHOU_PARTNER,
        json!(["original", "duplicate"]),
    )
    .await;
    let job: Value = res.json().await.unwrap();
    let serials = print_job(&app, &job, PIZHOU_PARTNER, 1);
    {
        let mut conn = app.state.pool.get().unwrap();
        let now = app.clock.now_utc();
        let stock = crosscert::distribution::stock::void_sheet;
        crosscert::storage::write_tx(&mut conn, |c| {
            stock(c, PIZHOU_PARTNER, "LY00000007", "卡纸", None, "agent", now)
        })
        .unwrap();
        // Used sheets, and another hall's stock, are refused.
        let used = crosscert::storage::write_tx(&mut conn, |c| {
            stock(c, PIZHOU_PARTNER, &serials[0], "x", None, "agent", now)
        });
        assert!(
            matches!(
                used,
                Err(crosscert::distribution::stock::StockError::AlreadyUsed { .. })
            ),
            "{used:?}"
        );
        let foreign = crosscert::storage::write_tx(&mut conn, |c| {
            stock(c, PIZHOU_PARTNER, "LY00000101", "x", None, "agent", now)
        });
        assert!(
            matches!(
                foreign,
                Err(crosscert::distribution::stock::StockError::NotInStock { .. })
            ),
            "{foreign:?}"
        );
    }
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let res = app
        .get(
            &format!("/api/v1/halls/{PIZHOU_PARTNER}/stock"),
            Some(&operator),
        )
        .await;
    assert_eq!(res.status(), 200);
    let inv: Value = res.json().await.unwrap();
    assert_eq!(inv["hall"], PIZHOU_PARTNER);
    assert_eq!(
        inv["batches"].as_array().unwrap().len(),
        2,
        "the demo batch and LY"
    );
    assert_eq!(inv["registered"], 600);
    assert_eq!(inv["printed"], 2);
    assert_eq!(inv["voided"], 1);
    assert_eq!(inv["left"], 597);
    let seen = job_of(&app, &operator, &job["id"]).await;
    assert_eq!(
        seen["sheets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["serial"].clone(), s["copy"].clone(), s["state"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (json!(serials[0]), json!("original"), json!("printed")),
            (json!(serials[1]), json!("duplicate"), json!("printed")),
        ]
    );

    let res = app
        .get(
            &format!("/api/v1/halls/{PIZHOU_PARTNER}/stock"),
            Some(&token),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let res = app.get("/api/v1/halls/999999999/stock", Some(&admin)).await;
    assert_error(res, 404, "not_found").await;
    let res = app
        .get(
            &format!("/api/v1/halls/{XINYI_PARTNER}/stock"),
            Some(&admin),
        )
        .await;
    let inv: Value = res.json().await.unwrap();
    assert_eq!(
        (inv["registered"].as_i64(), inv["left"].as_i64()),
        (Some(505), Some(505))
    );
}

#[tokio::test]
async fn pickup_locks_after_five_wrong_codes_until_unlocked() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();
    let holder = licence["holder"]["code"].as_str().unwrap().to_string();
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;

    let res = pickup(&app, &operator, &job, &code, &holder).await;
    assert_error(res, 409, "job_not_printed").await;
    print_job(&app, &job, PIZHOU_PARTNER, 1);

    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    for left in (1..=4).rev() {
        let res = pickup(&app, &operator, &job, wrong, &holder).await;
        let body = assert_error(res, 422, "wrong_pickup_code").await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} attempts left")),
            "{body}"
        );
    }
    let res = pickup(&app, &operator, &job, &code, "91350100M000100Y43").await;
    assert_error(res, 429, "too_many_requests").await;
    // Locked: even the right codes are refused.
    let res = pickup(&app, &operator, &job, &code, &holder).await;
    assert_error(res, 429, "too_many_requests").await;
    let seen = job_of(&app, &token, &job["id"]).await;
    assert_eq!(seen["pickup_locked"], true);
    assert_eq!(seen["state"], "printed");
    assert!(actions(&seen).contains(&"PickupLocked".to_string()));
    // The history does not say which of the two codes was wrong (one wrong pickup code,
    // then one wrong holder code: the same rows).
    let failed: Vec<&Value> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "PickupFailed")
        .collect();
    assert_eq!(failed.len(), 5);
    for e in &failed {
        let text = e.to_string();
        assert!(
            !text.contains("pickup_code_ok") && !text.contains("recipient_code_ok"),
            "{text}"
        );
    }

    let path = format!(
        "/api/v1/print-jobs/{}/unlock-pickup",
        job["id"].as_str().unwrap()
    );
    let res = app.post_json(&path, Some(&operator), &json!({})).await;
    assert_error(res, 403, "forbidden").await;
    let res = app.post_json(&path, Some(&token), &json!({})).await;
    assert_eq!(res.status(), 200);
    let unlocked: Value = res.json().await.unwrap();
    assert_eq!(unlocked["pickup_locked"], false);

    let res = pickup(&app, &operator, &job, &code, &holder.to_lowercase()).await;
    assert_eq!(res.status(), 200);
    let collected: Value = res.json().await.unwrap();
    assert_eq!(collected["state"], "collected");
    assert!(collected["collected_at"].is_string());
}

#[tokio::test]
async fn pickup_hands_over_only_at_the_target_hall_and_never_for_a_withdrawn_licence() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let market = business_licence_code(&app);
    let licence = issue_type(&app, &token, &market).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    let code = job["pickup_code"].as_str().unwrap().to_string();
    let holder = licence["holder"]["code"].as_str().unwrap().to_string();
    print_job(&app, &job, PIZHOU_PARTNER, 1);

    let other_op = app
        .staff("xinyi-op", Role::HallOperator, XINYI_PARTNER)
        .await;
    assert_error(
        pickup(&app, &other_op, &job, &code, &holder).await,
        404,
        "not_found",
    )
    .await;
    // The issuing hall sees the job but does not hand it over.
    assert_error(
        pickup(&app, &token, &job, &code, &holder).await,
        403,
        "forbidden",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/pickups",
            Some(&token),
            &json!({"job_id": job["id"]}),
        )
        .await;
    assert_error(res, 400, "invalid_input").await;

    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    let res = pickup(&app, &operator, &job, &code, &holder).await;
    assert_eq!(res.status(), 200);
    let collected: Value = res.json().await.unwrap();
    assert_eq!(collected["state"], "collected");
    assert!(actions(&collected).contains(&"PrintJobCollected".to_string()));
    let res = pickup(&app, &operator, &job, &code, &holder).await;
    assert_error(res, 409, "job_not_printed").await;

    // Printed, then revoked: stays printed, never handed over.
    let licence = issue_type(&app, &token, &market).await;
    let job = queue_ok(&app, &token, &licence, PIZHOU_PARTNER).await;
    print_job(&app, &job, PIZHOU_PARTNER, 2);
    let res = app
        .post_json(
            &format!(
                "/api/v1/licences/{}/revoke",
                licence["id"].as_str().unwrap()
            ),
            Some(&token),
            &json!({"reason": "虚假材料"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = pickup(
        &app,
        &operator,
        &job,
        job["pickup_code"].as_str().unwrap(),
        licence["holder"]["code"].as_str().unwrap(),
    )
    .await;
    let body = assert_error(res, 409, "licence_not_valid").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("revoked") && message.contains("虚假材料"),
        "{message}"
    );
    let seen = job_of(&app, &operator, &job["id"]).await;
    assert_eq!(seen["state"], "printed");
    assert!(actions(&seen).contains(&"PickupRefused".to_string()));
}

#[tokio::test]
async fn the_document_matches_its_sha256_and_the_pickup_code_is_shown_only_once() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let res = queue(
        &app,
        &token,
        &licence,
        PIZHOU_PARTNER,
        json!(["original", "duplicate"]),
    )
    .await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    let code = job["pickup_code"].as_str().unwrap();

    let document = {
        let mut conn = app.state.pool.get().unwrap();
        crosscert::storage::jobs::get_document(&mut conn, id).unwrap()
    };
    assert!(document.starts_with(b"%PDF"));
    let sha = jobs::sha256_hex(&document);
    assert_eq!(job["document_sha256"], sha);
    assert_eq!(sha.len(), 64);
    assert_eq!(sha, sha.to_lowercase());

    // Neither the code nor its hash is ever shown again.
    let stored_hash = {
        let mut conn = app.state.pool.get().unwrap();
        crosscert::storage::jobs::find_job(&mut conn, id)
            .unwrap()
            .unwrap()
            .pickup_code_hash
    };
    // An HMAC under the server secret, not the bare SHA-256 a database copy would give up.
    assert!(app.state.pickup_key.matches(id, code, &stored_hash));
    assert!(stored_hash.starts_with("hmac-sha256:"), "{stored_hash}");
    assert!(!stored_hash.contains(&jobs::sha256_hex(format!("{id}:{code}").as_bytes())));
    let operator = app
        .staff("pizhou-op", Role::HallOperator, PIZHOU_PARTNER)
        .await;
    for t in [&token, &operator] {
        for text in [
            app.get(&format!("/api/v1/print-jobs/{id}"), Some(t))
                .await
                .text()
                .await
                .unwrap(),
            app.get("/api/v1/print-jobs", Some(t))
                .await
                .text()
                .await
                .unwrap(),
        ] {
            assert!(text.contains(id));
            assert!(!text.contains("pickup_code\""), "{text}");
            assert!(!text.contains(&stored_hash));
            assert!(!text.contains(&format!("\"{code}\"")));
        }
    }
    let audit = {
        let mut conn = app.state.pool.get().unwrap();
        crosscert::storage::audit::list_events_for(&mut conn, &format!("print_job:{id}")).unwrap()
    };
    assert_eq!(audit[0].action, "PrintJobQueued");
    assert!(audit
        .iter()
        .all(|e| !e.details.contains(code) && !e.details.contains(&stored_hash)));

    // Last, after every request: the external tools block this runtime, which also runs
    // the server, long enough for an idle keep-alive connection to be closed under it.
    // One page per copy, each with the licence's real QR.
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("job.pdf");
    std::fs::write(&pdf, &document).unwrap();
    let info = std::process::Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    assert!(
        info.lines()
            .any(|l| l.starts_with("Pages:") && l.trim_end().ends_with(" 2")),
        "{info}"
    );
    assert_eq!(
        crate::documents::pdf_qr_texts(&pdf, 200),
        vec![licence["qr_text"].as_str().unwrap().to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_queue_exactly_one_job_per_licence() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let licence = issue_type(&app, &token, &business_licence_code(&app)).await;
    let mut tasks = Vec::new();
    for hall in [PIZHOU_PARTNER, XINYI_PARTNER, CITY_HALL, LANSHAN_HALL]
        .iter()
        .cycle()
        .take(8)
    {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/print-jobs"),
            token.clone(),
        );
        let body = json!({"licence_id": licence["id"], "hall": hall, "copies": ["original"]});
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => created += 1,
            (422, body) => assert_eq!(body["error"], "job_exists", "{body}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    let jobs: Vec<Value> = app
        .get("/api/v1/print-jobs", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
}
