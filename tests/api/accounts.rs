//! Staff sessions, roles, throttling and hall agent tokens.

use crate::helpers::{assert_error, spawn_app, CITY_HALL, LANSHAN_HALL, PASSWORD, PIZHOU_PARTNER};
use crosscert::domain::role::Role;
use serde_json::json;

#[tokio::test]
async fn login_returns_token_and_expiry_and_the_token_works() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.len() >= 40);
    assert!(chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).is_ok());
    assert_eq!(app.get("/api/v1/halls", Some(token)).await.status(), 200);
}

#[tokio::test]
async fn halls_without_token_is_401_and_wrong_password_is_401() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    assert_error(app.get("/api/v1/halls", None).await, 401, "unauthorized").await;
    assert_error(
        app.get("/api/v1/halls", Some("made-up-token")).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": "wrong password"}),
        )
        .await;
    assert_error(res, 401, "unauthorized").await;
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "nobody", "password": "wrong password"}),
        )
        .await;
    assert_error(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn session_token_expires() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    assert_eq!(app.get("/api/v1/halls", Some(&token)).await.status(), 200);
    app.clock.advance(chrono::Duration::minutes(
        app.settings.session_ttl_minutes + 1,
    ));
    assert_error(
        app.get("/api/v1/halls", Some(&token)).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    let res = app
        .client
        .delete(app.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_error(
        app.get("/api/v1/halls", Some(&token)).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn repeated_failed_logins_throttle_the_pair_with_429_until_the_window_ends() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("liu", Role::HallOperator, LANSHAN_HALL);
    let bad = json!({"username": "liu", "password": "not the password"});
    for _ in 0..5 {
        assert_error(
            app.post_json("/api/v1/sessions", None, &bad).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let res = app.post_json("/api/v1/sessions", None, &bad).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "too_many_requests").await;
    // Throttled: even the right password is refused for a while (from this address).
    let good = json!({"username": "liu", "password": PASSWORD});
    assert_error(
        app.post_json("/api/v1/sessions", None, &good).await,
        429,
        "too_many_requests",
    )
    .await;
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        app.post_json("/api/v1/sessions", None, &good)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn issuer_cannot_change_halls_or_create_users() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    let halls: serde_json::Value = app
        .get("/api/v1/halls", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let mut hall = halls
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["code"] == LANSHAN_HALL)
        .unwrap()
        .clone();
    hall["name"] = json!("改名");
    assert_error(
        app.put_json(
            &format!("/api/v1/halls/{LANSHAN_HALL}"),
            Some(&token),
            &hall,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let user = json!({"username": "x1", "password": PASSWORD, "role": "admin", "hall": CITY_HALL});
    assert_error(
        app.post_json("/api/v1/users", Some(&token), &user).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.post_json(
            "/api/v1/agent-tokens",
            Some(&token),
            &json!({"hall": PIZHOU_PARTNER}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn admin_creates_users_and_refuses_bad_ones() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("root", Role::Admin, CITY_HALL).await;
    let user = json!({"username": "zhang", "password": PASSWORD, "role": "hall_operator", "hall": PIZHOU_PARTNER});
    assert_eq!(
        app.post_json("/api/v1/users", Some(&token), &user)
            .await
            .status(),
        201
    );
    assert_eq!(app.login("zhang").await.len(), 43);
    assert_error(
        app.post_json("/api/v1/users", Some(&token), &user).await,
        409,
        "username_taken",
    )
    .await;
    let bad_role =
        json!({"username": "zz2", "password": PASSWORD, "role": "king", "hall": CITY_HALL});
    let body = assert_error(
        app.post_json("/api/v1/users", Some(&token), &bad_role)
            .await,
        400,
        "invalid_input",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("role"));
    let bad_hall =
        json!({"username": "zz3", "password": PASSWORD, "role": "issuer", "hall": "999999999"});
    let body = assert_error(
        app.post_json("/api/v1/users", Some(&token), &bad_hall)
            .await,
        400,
        "unknown_hall",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("hall"));
    let short =
        json!({"username": "zz4", "password": "short", "role": "issuer", "hall": CITY_HALL});
    let body = assert_error(
        app.post_json("/api/v1/users", Some(&token), &short).await,
        400,
        "invalid_input",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("password"));
}

#[tokio::test]
async fn agent_token_authenticates_as_its_hall_until_revoked() {
    let app = spawn_app().await;
    app.seed_halls();
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let res = app
        .post_json(
            "/api/v1/agent-tokens",
            Some(&admin),
            &json!({"hall": PIZHOU_PARTNER}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let agent_token = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_i64().unwrap();

    let who: serde_json::Value = app
        .get("/api/v1/agent/whoami", Some(&agent_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["hall"], PIZHOU_PARTNER);
    // An agent token is not a staff session, and a staff session is not an agent token.
    assert_error(
        app.get("/api/v1/halls", Some(&agent_token)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/agent/whoami", Some(&admin)).await,
        401,
        "unauthorized",
    )
    .await;

    let listed: serde_json::Value = app
        .get(
            &format!("/api/v1/agent-tokens?hall={PIZHOU_PARTNER}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none() && listed[0].get("token_hash").is_none());

    let res = app
        .post_json(
            &format!("/api/v1/agent-tokens/{id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        app.get("/api/v1/agent/whoami", Some(&agent_token)).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/agent-tokens/999999/revoke",
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_error(res, 404, "not_found").await;
}
