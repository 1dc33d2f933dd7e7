//! Staff accounts an office can run (issue 18): disable/enable, password reset, unlock,
//! sessions (idle timeout, ended by an administrator), login throttling per (username,
//! client address), the same answer for unknown names, atomic failure counting, trusted
//! proxies, and the second factor (TOTP enrolment, login, replay, recovery codes).

use crate::helpers::{
    assert_error, crosscert, run_ok, spawn_app, spawn_app_with, NowUtc, TestApp, CITY_HALL,
    LANSHAN_HALL, PASSWORD,
};
use crosscert::domain::role::Role;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};

const WRONG: &str = "not the password at all";

/// A client whose connections come from `127.0.0.x` (loopback answers on all of 127/8).
fn client_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
        .build()
        .unwrap()
}

async fn login_with(
    app: &TestApp,
    client: &reqwest::Client,
    body: Value,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = client.post(app.url("/api/v1/sessions")).json(&body);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    app.seed_halls();
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    (app, admin)
}

fn audit_of(app: &TestApp, username: &str) -> Vec<crosscert::storage::audit::AuditEvent> {
    let mut conn = app.state.pool.get().unwrap();
    crosscert::storage::audit::list_events_for(&mut conn, &format!("user:{username}")).unwrap()
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once_and_enabling_lets_them_back() {
    let (app, admin) = setup().await;
    let wang = app.login("wang").await;
    assert_eq!(app.get("/api/v1/halls", Some(&wang)).await.status(), 200);
    // The same session opens pages (the cookie carries the same token).
    let page = app
        .client
        .get(app.url("/licences"))
        .header("cookie", format!("crosscert_session={wang}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    let res = send(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/users/wang",
        &admin,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["active"], false);
    assert_eq!(user["username"], "wang");

    assert_error(
        app.get("/api/v1/halls", Some(&wang)).await,
        401,
        "unauthorized",
    )
    .await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirect
        .get(app.url("/licences"))
        .header("cookie", format!("crosscert_session={wang}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert!(page.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    // A disabled account answers like a wrong password.
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": PASSWORD}),
        )
        .await;
    assert_error(res, 401, "unauthorized").await;

    let res = send(
        &app,
        reqwest::Method::PATCH,
        "/api/v1/users/wang",
        &admin,
        Some(json!({"active": true, "role": "hall_operator", "hall": CITY_HALL})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["role"], "hall_operator");
    assert_eq!(user["hall"], CITY_HALL);
    app.login("wang").await;

    let changes: Vec<_> = audit_of(&app, "wang")
        .into_iter()
        .filter(|e| e.action == "UserChanged")
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].actor, "root");
    let details: Value = serde_json::from_str(&changes[0].details).unwrap();
    assert_eq!(details["ip"], "127.0.0.1");
    assert_eq!(details["sessions_ended"], 1);
}

#[tokio::test]
async fn account_changes_refuse_bad_input_naming_the_field() {
    let (app, admin) = setup().await;
    let patch = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            send(
                app,
                reqwest::Method::PATCH,
                "/api/v1/users/wang",
                &admin,
                Some(body),
            )
            .await
        }
    };
    let body = assert_error(patch(json!({"role": "king"})).await, 400, "invalid_input").await;
    assert!(body["message"].as_str().unwrap().starts_with("role"));
    assert_error(
        patch(json!({"hall": "000000000"})).await,
        400,
        "unknown_hall",
    )
    .await;
    assert_error(patch(json!({})).await, 400, "invalid_input").await;
    assert_error(patch(json!({"active": "no"})).await, 400, "invalid_json").await;
    assert_error(patch(json!({"colour": "red"})).await, 400, "invalid_json").await;
    assert_error(
        send(
            &app,
            reqwest::Method::PATCH,
            "/api/v1/users/nobody",
            &admin,
            Some(json!({"active": false})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // Only administrators.
    let wang = app.login("wang").await;
    for (method, path) in [
        (reqwest::Method::PATCH, "/api/v1/users/root"),
        (reqwest::Method::POST, "/api/v1/users/root/reset-password"),
        (reqwest::Method::POST, "/api/v1/users/root/unlock"),
        (reqwest::Method::GET, "/api/v1/users/root/sessions"),
        (reqwest::Method::DELETE, "/api/v1/users/root/sessions"),
        (reqwest::Method::DELETE, "/api/v1/users/root/totp"),
    ] {
        let res = send(&app, method, path, &wang, Some(json!({"active": false}))).await;
        assert_error(res, 403, "forbidden").await;
    }
    // The last active administrator cannot be disabled or demoted.
    for body in [json!({"active": false}), json!({"role": "issuer"})] {
        let res = send(
            &app,
            reqwest::Method::PATCH,
            "/api/v1/users/root",
            &admin,
            Some(body),
        )
        .await;
        assert_error(res, 409, "refused").await;
    }
}

#[tokio::test]
async fn a_reset_password_must_be_changed_before_anything_else() {
    let (app, admin) = setup().await;
    let old_session = app.login("wang").await;
    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/users/wang/reset-password",
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let temporary = res.json::<Value>().await.unwrap()["temporary_password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(temporary.len() >= 12);
    // The reset ends the old sessions; the old password is gone.
    assert_error(
        app.get("/api/v1/halls", Some(&old_session)).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": PASSWORD}),
        )
        .await;
    assert_error(res, 401, "unauthorized").await;

    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": temporary}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["must_change_password"], true);
    let token = body["token"].as_str().unwrap().to_string();
    assert_error(
        app.get("/api/v1/halls", Some(&token)).await,
        403,
        "password_change_required",
    )
    .await;

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &change(WRONG, "brand new pass"),
        )
        .await;
    assert_error(res, 403, "wrong_current_password").await;
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &change(&temporary, "short"),
        )
        .await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("new_password"));
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": temporary}),
        )
        .await;
    assert_error(res, 400, "invalid_json").await;
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &change(&temporary, "brand new pass"),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.get("/api/v1/halls", Some(&token)).await.status(), 200);
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": "brand new pass"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["must_change_password"],
        false
    );
    let actions: Vec<String> = audit_of(&app, "wang")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"PasswordReset".to_string()));
    assert!(actions.contains(&"PasswordChanged".to_string()));
}

#[tokio::test]
async fn five_failures_throttle_the_pair_and_unlock_clears_it() {
    let (app, admin) = setup().await;
    let bad = json!({"username": "wang", "password": WRONG});
    for _ in 0..5 {
        assert_error(
            app.post_json("/api/v1/sessions", None, &bad).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let good = json!({"username": "wang", "password": PASSWORD});
    let res = app.post_json("/api/v1/sessions", None, &good).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    assert_error(res, 429, "too_many_requests").await;
    // More guesses while throttled do not extend it.
    app.post_json("/api/v1/sessions", None, &bad).await;

    let users: Value = app
        .get("/api/v1/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let wang = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wang")
        .unwrap();
    assert!(wang["locked_until"].is_string(), "{wang}");
    assert_eq!(wang["active"], true);
    assert_eq!(wang["totp_enabled"], false);
    assert!(wang["last_login_at"].is_null());

    let res = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/users/wang/unlock",
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.post_json("/api/v1/sessions", None, &good)
            .await
            .status(),
        200
    );
    let users: Value = app
        .get("/api/v1/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let wang = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wang")
        .unwrap();
    assert!(wang["locked_until"].is_null());
    assert!(wang["last_login_at"].is_string());
    assert!(audit_of(&app, "wang")
        .iter()
        .any(|e| e.action == "UserUnlocked"));
}

#[tokio::test]
async fn a_throttled_pair_does_not_keep_the_owner_out_from_another_address() {
    let (app, _) = setup().await;
    let attacker = client_from(1);
    let owner = client_from(2);
    let bad = json!({"username": "wang", "password": WRONG});
    let good = json!({"username": "wang", "password": PASSWORD});
    for _ in 0..5 {
        assert_error(
            login_with(&app, &attacker, bad.clone(), None).await,
            401,
            "unauthorized",
        )
        .await;
    }
    for _ in 0..3 {
        assert_error(
            login_with(&app, &attacker, good.clone(), None).await,
            429,
            "too_many_requests",
        )
        .await;
    }
    let res = login_with(&app, &owner, good.clone(), None).await;
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/api/v1/halls", Some(&token)).await.status(), 200);
    // The window ends on its own; nothing extended it.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(login_with(&app, &attacker, good, None).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_username_answers_exactly_like_a_wrong_password() {
    let (app, _) = setup().await;
    let before = audit_of(&app, "nobody").len();
    let mut answers = Vec::new();
    for username in ["wang", "nobody"] {
        let body = json!({"username": username, "password": WRONG});
        let mut seen = Vec::new();
        for _ in 0..6 {
            let res = app.post_json("/api/v1/sessions", None, &body).await;
            let status = res.status().as_u16();
            let retry = res.headers().contains_key("retry-after");
            let text = res.text().await.unwrap();
            seen.push((status, retry, text));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][4].0, 401);
    assert_eq!(answers[0][5].0, 429);
    // The same writes too: a failure row for each counted attempt, known name or not.
    let failed = |name: &str| {
        audit_of(&app, name)
            .iter()
            .filter(|e| e.action == "LoginFailed")
            .count()
    };
    assert_eq!(failed("wang"), 5);
    assert_eq!(failed("nobody") - before, 5);
}

#[tokio::test]
async fn forty_parallel_guesses_get_at_most_five_password_checks() {
    let (app, _) = setup().await;
    let bad = json!({"username": "wang", "password": WRONG});
    let guesses = (0..40).map(|_| app.post_json("/api/v1/sessions", None, &bad));
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(unauthorized <= 5, "{statuses:?}");
    assert_eq!(unauthorized + throttled, 40, "{statuses:?}");
    let failed = audit_of(&app, "wang")
        .iter()
        .filter(|e| e.action == "LoginFailed")
        .count();
    assert_eq!(failed, unauthorized);
}

#[tokio::test]
async fn sessions_end_when_idle_and_live_on_while_used() {
    let (app, _) = setup().await;
    let token = app.login("wang").await;
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(app.get("/api/v1/halls", Some(&token)).await.status(), 200);
    }
    app.clock.advance(chrono::Duration::minutes(31));
    assert_error(
        app.get("/api/v1/halls", Some(&token)).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn an_administrator_sees_and_ends_a_users_sessions() {
    let (app, admin) = setup().await;
    let a = app.login("wang").await;
    let b = login_with(
        &app,
        &client_from(3),
        json!({"username": "wang", "password": PASSWORD}),
        None,
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let sessions: Value = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/users/wang/sessions",
        &admin,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let list = sessions.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mut ips: Vec<&str> = list
        .iter()
        .map(|s| s["client_ip"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips, ["127.0.0.1", "127.0.0.3"]);
    assert!(list.iter().all(|s| s.get("token").is_none()));
    let res = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/users/wang/sessions",
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    for t in [&a, &b] {
        assert_error(app.get("/api/v1/halls", Some(t)).await, 401, "unauthorized").await;
    }
    assert_eq!(app.get("/api/v1/halls", Some(&admin)).await.status(), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let direct = client_from(1);
    let bad = json!({"username": "wang", "password": WRONG});
    let good = json!({"username": "wang", "password": PASSWORD});
    // The client writes a fake address first; the proxy appends the real one.
    for _ in 0..5 {
        let res = login_with(&app, &direct, bad.clone(), Some("10.9.9.9, 198.51.100.7")).await;
        assert_eq!(res.status(), 401);
    }
    let res = login_with(&app, &direct, good.clone(), Some("10.1.1.1, 198.51.100.7")).await;
    assert_eq!(res.status(), 429, "the same real client, whatever it wrote");
    let res = login_with(&app, &direct, good.clone(), Some("198.51.100.8")).await;
    assert_eq!(res.status(), 200, "another client behind the proxy");
    let failures: Vec<Value> = audit_of(&app, "wang")
        .iter()
        .filter(|e| e.action == "LoginFailed")
        .map(|e| serde_json::from_str(&e.details).unwrap())
        .collect();
    assert!(
        failures.iter().all(|d| d["ip"] == "198.51.100.7"),
        "{failures:?}"
    );

    // A peer that is not a trusted proxy cannot choose its address.
    let untrusted = client_from(2);
    for i in 0..5 {
        let res = login_with(
            &app,
            &untrusted,
            bad.clone(),
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let res = login_with(&app, &untrusted, good, Some("203.0.113.99")).await;
    assert_eq!(res.status(), 429);
}

fn code_now(app: &TestApp, secret: &str) -> String {
    crosscert::accounts::totp::current_code(secret, app.clock.now_utc()).unwrap()
}

async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let res = app
        .post_json("/api/v1/me/totp", Some(token), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap().to_string();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let res = app
        .post_json(
            "/api/v1/me/totp/confirm",
            Some(token),
            &json!({"code": "12345"}),
        )
        .await;
    assert_error(res, 400, "invalid_input").await;
    let res = app
        .post_json(
            "/api/v1/me/totp/confirm",
            Some(token),
            &json!({"code": code_now(app, &secret)}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let codes: Vec<String> = res.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test]
async fn totp_enrolment_login_replay_and_recovery_codes() {
    let (app, admin) = setup().await;
    let token = app.login("wang").await;
    let (secret, codes) = enrol(&app, &token).await;
    // Enrolled once; a second start is refused.
    let res = app
        .post_json("/api/v1/me/totp", Some(&token), &json!({}))
        .await;
    assert_error(res, 409, "refused").await;
    app.clock.advance(chrono::Duration::seconds(30));

    let login = |totp: Option<String>| {
        let mut body = json!({"username": "wang", "password": PASSWORD});
        if let Some(t) = totp {
            body["totp"] = json!(t);
        }
        let app = &app;
        async move { app.post_json("/api/v1/sessions", None, &body).await }
    };
    assert_error(login(None).await, 401, "totp_required").await;
    // A wrong password with no code is still just a wrong password.
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": WRONG}),
        )
        .await;
    assert_error(res, 401, "unauthorized").await;
    assert_error(login(Some("000000".into())).await, 401, "totp_invalid").await;
    let code = code_now(&app, &secret);
    let res = login(Some(code.clone())).await;
    assert_eq!(res.status(), 200);
    // The same code again, inside its window: refused.
    assert_error(login(Some(code)).await, 401, "totp_invalid").await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(login(Some(code_now(&app, &secret))).await.status(), 200);

    // A recovery code works once, written any way.
    let recovery = codes[3].to_uppercase().replace('-', "");
    assert_eq!(login(Some(recovery.clone())).await.status(), 200);
    assert_error(login(Some(recovery)).await, 401, "totp_invalid").await;

    let users: Value = app
        .get("/api/v1/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == "wang" && u["totp_enabled"] == true));

    // Wrong codes count as failures: one since the last success, four more and the pair
    // is throttled.
    for _ in 0..4 {
        assert_error(login(Some("111111".into())).await, 401, "totp_invalid").await;
    }
    assert_error(
        login(Some(code_now(&app, &secret))).await,
        429,
        "too_many_requests",
    )
    .await;

    // An administrator resets the factor (audited): the password alone works again.
    let res = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/users/wang/totp",
        &admin,
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(login(None).await.status(), 200);
    assert!(audit_of(&app, "wang")
        .iter()
        .any(|e| e.action == "TotpReset"));
}

#[tokio::test]
async fn roles_that_require_totp_can_only_enrol_until_they_have() {
    let app = spawn_app_with(|s| s.require_totp_for = Some(vec![Role::Admin])).await;
    app.seed_halls();
    app.create_user("root", Role::Admin, CITY_HALL);
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "root", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["totp_enrolment_required"], true);
    let token = body["token"].as_str().unwrap().to_string();
    assert_error(
        app.get("/api/v1/users", Some(&token)).await,
        403,
        "totp_enrolment_required",
    )
    .await;
    // Issuers are not in the list here.
    let wang = app.login("wang").await;
    assert_eq!(app.get("/api/v1/halls", Some(&wang)).await.status(), 200);

    enrol(&app, &token).await;
    assert_eq!(app.get("/api/v1/users", Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn the_cli_disables_resets_and_unlocks_accounts() {
    let (app, admin) = setup().await;
    let db = app.db.url.clone();
    let wang = app.login("wang").await;
    run_ok(crosscert().args([
        "admin",
        "set-active",
        "--database-url",
        &db,
        "--username",
        "wang",
        "--active",
        "false",
    ]));
    assert_error(
        app.get("/api/v1/halls", Some(&wang)).await,
        401,
        "unauthorized",
    )
    .await;
    run_ok(crosscert().args([
        "admin",
        "set-active",
        "--database-url",
        &db,
        "--username",
        "wang",
        "--active",
        "true",
    ]));
    let out = crosscert()
        .args([
            "admin",
            "set-active",
            "--database-url",
            &db,
            "--username",
            "nobody",
            "--active",
            "true",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));

    // Locked out by guesses; the operator unlocks.
    for _ in 0..5 {
        app.post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "root", "password": WRONG}),
        )
        .await;
    }
    let good = json!({"username": "root", "password": PASSWORD});
    assert_eq!(
        app.post_json("/api/v1/sessions", None, &good)
            .await
            .status(),
        429
    );
    run_ok(crosscert().args([
        "admin",
        "unlock",
        "--database-url",
        &db,
        "--username",
        "root",
    ]));
    assert_eq!(
        app.post_json("/api/v1/sessions", None, &good)
            .await
            .status(),
        200
    );

    // No administrator can sign in: the operator sets a password from standard input.
    let mut child = crosscert()
        .args([
            "admin",
            "reset-password",
            "--database-url",
            &db,
            "--username",
            "root",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"operator-chosen-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_error(
        app.get("/api/v1/users", Some(&admin)).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "root", "password": "operator-chosen-1"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["must_change_password"],
        true
    );
    let reset = audit_of(&app, "root")
        .into_iter()
        .find(|e| e.action == "PasswordReset")
        .unwrap();
    assert_eq!(reset.actor, "cli");
}

#[tokio::test]
async fn login_with_a_non_ascii_next_path_redirects_there() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(app.url("/login?next=/licences/%E8%AF%81%E7%85%A7?q=%E5%90%8D%20x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("crosscert_login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = res.text().await.unwrap();
    let csrf = crate::web::csrf_of(&html);
    let res = client
        .post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("next", "/licences/证照?q=名 x"),
            ("username", "wang"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        "/licences/%E8%AF%81%E7%85%A7?q=%E5%90%8D%20x"
    );
}

/// The login form posted with its double-submit token: (status, page).
async fn form_login(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(app.url("/login")).send().await.unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("crosscert_login="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = crate::web::csrf_of(&res.text().await.unwrap());
    let res = client
        .post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("next", "/"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_login_page_answers_throttling_in_its_own_form() {
    let (app, _) = setup().await;
    for _ in 0..5 {
        let (status, html) = form_login(&app, "wang", WRONG).await;
        assert_eq!(status, 401);
        assert!(html.contains("用户名或密码错误"));
    }
    let (status, html) = form_login(&app, "wang", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(html.contains("登录失败次数过多"), "{html}");
    assert!(
        html.contains("name=\"password\""),
        "the form again, not an error page"
    );
}

#[tokio::test]
async fn the_admin_accounts_page_disables_resets_unlocks_and_moves_accounts() {
    let (app, _) = setup().await;
    let (_, admin) = crate::web::web_login(&app, "root").await;
    let wang = app.login("wang").await;
    let html = admin.get(&app, "/admin/users").await.text().await.unwrap();
    assert!(html.contains("id=\"user-wang\""));
    assert!(
        html.contains(&format!("<option value=\"{LANSHAN_HALL}\"")),
        "a hall picker, not a free-text code"
    );

    let res = admin.post(&app, "/admin/users/wang/disable", &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("已停用"));
    assert_error(
        app.get("/api/v1/halls", Some(&wang)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        admin
            .post(&app, "/admin/users/wang/enable", &[])
            .await
            .status(),
        200
    );
    let res = admin
        .post(&app, "/admin/users/wang/hall", &[("hall", CITY_HALL)])
        .await;
    assert_eq!(res.status(), 200);
    let users: Value = app
        .get("/api/v1/users", Some(&app.login("root").await))
        .await
        .json()
        .await
        .unwrap();
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == "wang" && u["hall"] == CITY_HALL));
    let res = admin
        .post(&app, "/admin/users/wang/hall", &[("hall", "000000000")])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        admin
            .post(&app, "/admin/users/wang/explode", &[])
            .await
            .status(),
        404
    );

    // A reset shows the temporary password once; its session must change it first.
    let res = admin
        .post(&app, "/admin/users/wang/reset-password", &[])
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let start = html.find("id=\"temporary-password\"").unwrap();
    let temporary = html[start..]
        .split("<code class=\"mono\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let token = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": temporary}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = format!("crosscert_session={token}");
    let page = admin
        .client
        .get(app.url("/licences"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/account/password");
    let form = admin
        .client
        .get(app.url("/account/password"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("管理员已重置您的密码"));
    let csrf = crate::web::csrf_of(&form);
    let post = |new: &'static str, again: &'static str| {
        let (client, cookie, csrf, temporary) = (
            admin.client.clone(),
            cookie.clone(),
            csrf.clone(),
            temporary.clone(),
        );
        let url = app.url("/account/password");
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .form(&[
                    ("_csrf", csrf.as_str()),
                    ("current_password", temporary.as_str()),
                    ("new_password", new),
                    ("new_password_again", again),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let res = post("a new password", "another one").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("两次输入的新密码不一致"));
    let res = post("a new password", "a new password").await;
    assert_eq!(res.status(), 303);
    let page = admin
        .client
        .get(app.url("/licences"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    // Unlock from the page; an issuer may not use these buttons.
    for _ in 0..5 {
        app.post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": WRONG}),
        )
        .await;
    }
    let res = admin.post(&app, "/admin/users/wang/unlock", &[]).await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "wang", "password": "a new password"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.create_user("liu", Role::Issuer, LANSHAN_HALL);
    let (_, issuer) = crate::web::web_login(&app, "liu").await;
    assert_eq!(
        issuer
            .post(&app, "/admin/users/root/disable", &[])
            .await
            .status(),
        403
    );
}
