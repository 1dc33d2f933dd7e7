//! Operations routes and the error contract of the skeleton.

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn healthz_readyz_and_metrics_answer() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), 200);
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/readyz\""), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    // Every statement sent to the database is counted (the figure load tests read); the
    // counter is the process's, shared with the other tests' servers, so it only grows.
    let before = statements(&text);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(statements(&text) > before, "{text}");
}

fn statements(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("db_statements_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no db_statements_total in {metrics}"))
}

#[tokio::test]
async fn readyz_and_api_are_503_json_when_postgres_is_gone() {
    let app = crate::helpers::spawn_app().await;
    if !app.db.is_postgres() {
        // An embedded SQLite file cannot go away under an open connection; the PostgreSQL
        // run of the suite covers this.
        return;
    }
    app.seed_halls();
    let token = app
        .staff(
            "root",
            crosscert::domain::role::Role::Admin,
            crate::helpers::CITY_HALL,
        )
        .await;
    app.db.drop_now();
    let body = assert_error(app.get("/readyz", None).await, 503, "not_ready").await;
    assert_eq!(body["checks"]["database"], "unreachable");
    assert_error(
        app.get("/api/v1/halls", Some(&token)).await,
        503,
        "database_unavailable",
    )
    .await;
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let app = spawn_app().await;
    assert_error(app.get("/no/such/route", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let app = spawn_app().await;
    let res = app.client.delete(app.url("/healthz")).send().await.unwrap();
    // A route that exists for GET only: our default service answers with the JSON shape.
    let status = res.status().as_u16();
    assert!(status == 404 || status == 405, "{status}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn malformed_json_is_400_naming_the_problem() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let body = assert_error(res, 400, "invalid_json").await;
    assert!(body["message"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn wrong_field_type_is_400_naming_the_field() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &serde_json::json!({"username": 42, "password": "x"}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_json").await;
    assert!(
        body["message"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );
    let res = app
        .post_json(
            "/api/v1/sessions",
            None,
            &serde_json::json!({"username": "a"}),
        )
        .await;
    let body = assert_error(res, 400, "invalid_json").await;
    assert!(
        body["message"].as_str().unwrap().contains("password"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("content-type", "text/plain")
        .body("username=admin")
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app().await;
    let big = format!(
        "{{\"username\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let res = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;
}

#[tokio::test]
async fn announced_oversized_body_is_413_without_reading_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Announce 100 MB and send none of it: the answer must come anyway.
    let head = "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered before the body was sent")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
}

#[tokio::test]
async fn invalid_query_and_path_are_400_json() {
    let app = spawn_app().await;
    app.seed_halls();
    let token = app
        .staff(
            "root",
            crosscert::domain::role::Role::Admin,
            crate::helpers::CITY_HALL,
        )
        .await;
    let res = app
        .client
        .post(app.url("/api/v1/agent-tokens/not-a-number/revoke"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "invalid_path").await;
}
