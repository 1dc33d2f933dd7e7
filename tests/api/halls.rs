//! Halls: the demo register and the admin changes.

use crate::helpers::{assert_error, spawn_app, CITY_HALL, LANSHAN_HALL, PIZHOU_PARTNER};
use crosscert::domain::role::Role;
use serde_json::json;

#[tokio::test]
async fn demo_register_has_197_halls_24_partners_and_authorities() {
    let app = spawn_app().await;
    app.seed_halls();
    // Idempotent: a second load adds nothing.
    assert_eq!(
        crosscert::demo::seed_demo(&app.state.pool, chrono::Utc::now()).unwrap(),
        0
    );
    let token = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    let halls: Vec<serde_json::Value> = app
        .get("/api/v1/halls", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(halls.len(), 197);
    let count = |kind: &str| halls.iter().filter(|h| h["kind"] == kind).count();
    assert_eq!(count("partner"), 24);
    assert_eq!(count("town"), 156);
    assert_eq!(
        count("city") + count("district") + count("county") + count("zone"),
        17
    );
    for h in &halls {
        let issuing = ["city", "district", "county", "zone"].contains(&h["kind"].as_str().unwrap());
        assert_eq!(h.get("authority").is_some(), issuing, "{h}");
        assert_eq!(h.get("agreement").is_some(), h["kind"] == "partner", "{h}");
        if issuing {
            crosscert::domain::codes::UnifiedCreditCode::parse(
                h["authority"]["credit_code"].as_str().unwrap(),
            )
            .expect("valid authority credit code");
        }
    }
    let city = halls.iter().find(|h| h["code"] == CITY_HALL).unwrap();
    assert_eq!(city["authority"]["name"], "临沂市行政审批服务局");
    let today = chrono::Utc::now().date_naive().to_string();
    let in_force_all = halls
        .iter()
        .filter(|h| h["kind"] == "partner")
        .filter(|h| h["agreement"]["covers"] == "all")
        .filter(|h| {
            h["agreement"]["valid_from"].as_str().unwrap() <= today.as_str()
                && today.as_str() <= h["agreement"]["valid_to"].as_str().unwrap()
        })
        .count();
    assert!(in_force_all >= 20, "{in_force_all}");
}

#[tokio::test]
async fn admin_adds_and_changes_halls_and_agreements_audited() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("root", Role::Admin, CITY_HALL).await;
    let new_hall = json!({
        "code": "320381000", "name": "新沂市政务服务中心", "kind": "partner", "province": "江苏省",
        "city": "徐州市", "county": "新沂市", "address": "新沂市市府路1号", "lat": 34.369, "lon": 118.354,
        "active": true,
        "agreement": {"valid_from": "2025-01-01", "valid_to": "2029-12-31", "covers": ["market", "transport"]}
    });
    // The demo register may already hold this county; use a fresh code.
    let mut fresh = new_hall.clone();
    fresh["code"] = json!("320381900");
    let res = app.post_json("/api/v1/halls", Some(&token), &fresh).await;
    assert_eq!(res.status(), 201);
    assert_error(
        app.post_json("/api/v1/halls", Some(&token), &fresh).await,
        409,
        "hall_exists",
    )
    .await;

    let agreement = json!({"valid_from": "2025-01-01", "valid_to": "2025-12-31", "covers": "all"});
    let res = app
        .put_json(
            "/api/v1/halls/320381900/agreement",
            Some(&token),
            &agreement,
        )
        .await;
    assert_eq!(res.status(), 200);
    let hall: serde_json::Value = res.json().await.unwrap();
    assert_eq!(hall["agreement"]["covers"], "all");
    assert_eq!(hall["agreement"]["valid_to"], "2025-12-31");

    let mut changed = hall.clone();
    changed["active"] = json!(false);
    assert_eq!(
        app.put_json("/api/v1/halls/320381900", Some(&token), &changed)
            .await
            .status(),
        200
    );
    let halls: Vec<serde_json::Value> = app
        .get("/api/v1/halls", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let got = halls.iter().find(|h| h["code"] == "320381900").unwrap();
    assert_eq!(got["active"], false);

    let mut conn = app.state.pool.get().unwrap();
    let events = crosscert::storage::audit::list_events_for(&mut conn, "hall:320381900").unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["HallCreated", "AgreementChanged", "HallChanged"]);
    assert!(events.iter().all(|e| e.actor == "root"));
}

#[tokio::test]
async fn invalid_halls_are_refused_naming_fields() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("root", Role::Admin, CITY_HALL).await;
    let bad = json!({
        "code": "371399000", "name": "", "kind": "county", "province": "山东省", "city": "临沂市",
        "county": "某县", "address": "某地", "lat": 95.0, "lon": 118.0, "active": true,
        "authority": {"name": "某县行政审批服务局", "credit_code": "91350100M000100Y44"}
    });
    let body = assert_error(
        app.post_json("/api/v1/halls", Some(&token), &bad).await,
        400,
        "invalid_input",
    )
    .await;
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "lat", "authority.credit_code"]);
    let res = app
        .post_json(
            "/api/v1/halls",
            Some(&token),
            &json!({"code": "x", "kind": "palace"}),
        )
        .await;
    assert_error(res, 400, "invalid_json").await;
    // A town hall has no agreement.
    let res = app
        .put_json(
            &format!("/api/v1/halls/{LANSHAN_HALL}/agreement"),
            Some(&token),
            &json!({"valid_from": "2025-01-01", "valid_to": "2026-01-01", "covers": "all"}),
        )
        .await;
    assert_error(res, 422, "not_a_partner").await;
    let res = app
        .put_json(
            &format!("/api/v1/halls/{PIZHOU_PARTNER}/agreement"),
            Some(&token),
            &json!({"valid_from": "2027-01-01", "valid_to": "2026-01-01", "covers": "all"}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("agreement.valid_to")
            || body["message"].as_str().unwrap().contains("valid_to")
    );
    let res = app
        .put_json(
            "/api/v1/halls/999/agreement",
            Some(&token),
            &json!({"valid_from": "2025-01-01", "valid_to": "2026-01-01", "covers": "all"}),
        )
        .await;
    assert_error(res, 404, "not_found").await;
}
