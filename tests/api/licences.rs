//! Issuing sealed licences and their lifecycle.

use crate::helpers::{assert_error, spawn_app, TestApp, CITY_HALL, LANSHAN_HALL};
use crosscert::domain::role::Role;
use serde_json::{json, Value};

/// An issuer at 兰山区 and an example-shaped body for a type.
pub async fn issuer(app: &TestApp) -> String {
    app.seed_halls();
    app.staff("wang", Role::Issuer, LANSHAN_HALL).await
}

pub async fn example_body(app: &TestApp, token: &str, code: &str) -> Value {
    let detail: Value = app
        .get(&format!("/api/v1/cert-types/{code}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    let mut body = detail["example"].clone();
    body["type_code"] = json!(code);
    body
}

pub async fn issue(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post_json("/api/v1/licences", Some(token), body).await;
    assert_eq!(res.status(), 201, "issue {}", body["type_code"]);
    res.json().await.unwrap()
}

pub fn business_licence_code(app: &TestApp) -> String {
    app.state
        .catalog
        .types()
        .iter()
        .find(|t| t.name.starts_with("营业执照"))
        .unwrap()
        .code
        .clone()
}

async fn trust_store(app: &TestApp) -> crosscert::verification::TrustStore {
    let text = app
        .get("/api/v1/trust-list", None)
        .await
        .text()
        .await
        .unwrap();
    let list = crosscert::verification::TrustList::from_json(&text).unwrap();
    crosscert::verification::TrustStore::new(&list).unwrap()
}

#[tokio::test]
async fn every_catalog_type_is_issued_from_its_example_and_its_seal_verifies() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let store = trust_store(&app).await;
    let types: Vec<Value> = app
        .get("/api/v1/cert-types", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(types.len(), 102);
    for t in &types {
        let code = t["code"].as_str().unwrap();
        let body = example_body(&app, &token, code).await;
        let licence = issue(&app, &token, &body).await;
        assert_eq!(licence["status"], "valid");
        assert_eq!(licence["status_code"], "01");
        assert_eq!(licence["version"], 1);
        let identifier =
            crosscert::domain::codes::Identifier::parse(licence["identifier"].as_str().unwrap())
                .unwrap();
        assert_eq!(identifier.type_code(), code);
        let qr = licence["qr_text"].as_str().unwrap();
        assert!(
            qr.starts_with(&app.settings.public_url.to_uppercase()),
            "{qr}"
        );
        let cose = crosscert::verification::decode_qr_text(qr).unwrap();
        let sealed = store
            .verify_cose(&cose)
            .expect("the seal verifies against the published trust list");
        let claims = crosscert::domain::seal::SealClaims::from_cbor(&sealed.payload).unwrap();
        assert_eq!(claims.identifier, licence["identifier"]);
        assert_eq!(claims.licence_no, licence["licence_no"]);
        assert_eq!(claims.holder_name, body["holder"]["name"]);
        let qr_code =
            qrcode::QrCode::with_error_correction_level(qr.as_bytes(), qrcode::EcLevel::M).unwrap();
        match qr_code.version() {
            qrcode::Version::Normal(v) => assert!(v <= 15, "{code}: QR version {v}"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_thirty_character_company_name_still_fits_qr_version_17() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let mut body = example_body(&app, &token, &business_licence_code(&app)).await;
    body["holder"]["name"] = json!("临沂市兰山区鑫源国际商贸物流供应链管理集团股份有限公司分公司");
    assert!(body["holder"]["name"].as_str().unwrap().chars().count() >= 30);
    let licence = issue(&app, &token, &body).await;
    let qr = licence["qr_text"].as_str().unwrap();
    let code =
        qrcode::QrCode::with_error_correction_level(qr.as_bytes(), qrcode::EcLevel::M).unwrap();
    // The design's budget was version 15; the status-list claim every seal now carries
    // (~75 bytes) takes it to 17. The offline reader reads such a code back from a 150 dpi
    // scan (verify.rs: the_offline_command_reads_the_qr_from_a_rendered_licence_pdf).
    assert!(
        matches!(code.version(), qrcode::Version::Normal(v) if v <= 17),
        "{:?}",
        code.version()
    );
}

#[tokio::test]
async fn concurrent_issues_of_one_type_get_distinct_consecutive_numbers() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/v1/licences");
        let (token, body) = (token.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }));
    }
    let mut numbers = Vec::new();
    let mut serials = Vec::new();
    for t in tasks {
        let l = t.await.unwrap();
        numbers.push(l["licence_no"].as_str().unwrap().to_string());
        let id =
            crosscert::domain::codes::Identifier::parse(l["identifier"].as_str().unwrap()).unwrap();
        serials.push(id.serial());
    }
    serials.sort();
    assert_eq!(serials, (1..=100).collect::<Vec<u64>>());
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 100);
}

#[tokio::test]
async fn invalid_records_are_400_naming_each_field_and_store_nothing() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let mut body = example_body(&app, &token, &business_licence_code(&app)).await;
    body["holder"]["code"] = json!("91350100M000100Y44");
    body["valid_to"] = json!("2001-01-01");
    let res = app.post_json("/api/v1/licences", Some(&token), &body).await;
    let err = assert_error(res, 400, "invalid_input").await;
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"holder.code"), "{fields:?}");
    assert!(fields.contains(&"valid_to"), "{fields:?}");
    let res = app
        .post_json(
            "/api/v1/licences",
            Some(&token),
            &json!({"type_code": "nope"}),
        )
        .await;
    let err = assert_error(res, 400, "invalid_input").await;
    assert_eq!(err["fields"][0]["field"], "type_code");
    let res = app
        .post_json("/api/v1/licences", Some(&token), &json!([1, 2]))
        .await;
    assert_error(res, 400, "invalid_input").await;
    let mut conn = app.state.pool.get().unwrap();
    assert!(
        crosscert::storage::licences::list_recent(&mut conn, None, 10)
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn only_issuers_issue() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    assert_error(
        app.post_json("/api/v1/licences", Some(&admin), &body).await,
        403,
        "forbidden",
    )
    .await;
    let op = app
        .staff("operator1", Role::HallOperator, LANSHAN_HALL)
        .await;
    assert_error(
        app.post_json("/api/v1/licences", Some(&op), &body).await,
        403,
        "forbidden",
    )
    .await;
    // An issuer whose hall is a town centre is not an issuing authority.
    app.create_user("townissuer", Role::Issuer, "371302001");
    let t = app.login("townissuer").await;
    assert_error(
        app.post_json("/api/v1/licences", Some(&t), &body).await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let send = |b: Value| {
        app.client
            .post(app.url("/api/v1/licences"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "req-42")
            .json(&b)
            .send()
    };
    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let res = send(body.clone()).await.unwrap();
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    assert_eq!(first, second);
    let mut other = body.clone();
    other["holder"]["name"] = json!("另一家公司");
    assert_error(send(other).await.unwrap(), 409, "idempotency_key_reused").await;
    let mut conn = app.state.pool.get().unwrap();
    assert_eq!(
        crosscert::storage::licences::list_recent(&mut conn, None, 10)
            .unwrap()
            .len(),
        1
    );
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/licences/{id}/{action}"),
        Some(token),
        &json!({"reason": "测试"}),
    )
    .await
}

#[tokio::test]
async fn lifecycle_transitions_and_refusals() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let l = issue(&app, &token, &body).await;
    let id = l["id"].as_str().unwrap();

    let res = act(&app, &token, id, "suspend").await;
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        (s["status"].as_str(), s["status_code"].as_str()),
        (Some("suspended"), Some("02"))
    );
    assert_error(
        act(&app, &token, id, "suspend").await,
        409,
        "invalid_transition",
    )
    .await;
    let r: Value = act(&app, &token, id, "reinstate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "valid");
    let r: Value = act(&app, &token, id, "revoke").await.json().await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["status_code"].as_str()),
        (Some("revoked"), Some("07"))
    );
    assert_error(
        act(&app, &token, id, "reinstate").await,
        409,
        "invalid_transition",
    )
    .await;
    assert_error(
        act(&app, &token, id, "cancel").await,
        409,
        "invalid_transition",
    )
    .await;

    for (action, status, code) in [
        ("rescind", "rescinded", "03"),
        ("cancel", "cancelled", "04"),
    ] {
        let l = issue(&app, &token, &body).await;
        let r: Value = act(&app, &token, l["id"].as_str().unwrap(), action)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (r["status"].as_str(), r["status_code"].as_str()),
            (Some(status), Some(code))
        );
    }
    // A reason is required; an unknown action is 404.
    let l = issue(&app, &token, &body).await;
    let lid = l["id"].as_str().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/licences/{lid}/suspend"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_error(res, 400, "invalid_input").await;
    assert_error(act(&app, &token, lid, "explode").await, 404, "not_found").await;

    // Staff of another hall cannot see or change it; an admin can.
    let other = app.staff("zhao", Role::Issuer, "371311000").await;
    assert_error(act(&app, &other, lid, "revoke").await, 404, "not_found").await;
    assert_error(
        app.get(&format!("/api/v1/licences/{lid}"), Some(&other))
            .await,
        404,
        "not_found",
    )
    .await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    assert_eq!(act(&app, &admin, lid, "suspend").await.status(), 200);

    let detail: Value = app
        .get(&format!("/api/v1/licences/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "LicenceSigning",
            "LicenceIssued",
            "LicenceSuspended",
            "LicenceReinstated",
            "LicenceRevoked"
        ]
    );
}

#[tokio::test]
async fn a_change_makes_a_new_version_and_supersedes_the_old() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let l = issue(&app, &token, &body).await;
    let id = l["id"].as_str().unwrap();
    let mut changed = body.clone();
    changed["holder"]["name"] = json!("临沂市兰山区鑫源食品有限公司（更名）");
    let res = app
        .post_json(
            &format!("/api/v1/licences/{id}/versions"),
            Some(&token),
            &changed,
        )
        .await;
    assert_eq!(res.status(), 201);
    let v2: Value = res.json().await.unwrap();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["licence_no"], l["licence_no"]);
    assert_ne!(v2["identifier"], l["identifier"]);
    assert!(v2["identifier"].as_str().unwrap().contains(".002."));
    let old: Value = app
        .get(&format!("/api/v1/licences/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old["status"], "superseded");
    assert!(old["status_code"].is_null());
    assert_eq!(old["superseded_by"], v2["id"]);
    assert_eq!(old["versions"].as_array().unwrap().len(), 2);
    // The superseded one cannot be changed again.
    let res = app
        .post_json(
            &format!("/api/v1/licences/{id}/versions"),
            Some(&token),
            &changed,
        )
        .await;
    assert_error(res, 409, "invalid_transition").await;
}

#[tokio::test]
async fn expiry_derives_from_validity() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let mut body = body;
    // A type with an end date: the business licence example may be long-term; set one.
    let has_end = !body["valid_to"].is_null();
    if !has_end {
        let t = app
            .state
            .catalog
            .types()
            .iter()
            .find(|t| !t.validity.is_long_term())
            .unwrap()
            .code
            .clone();
        body = example_body(&app, &token, &t).await;
    }
    let l = issue(&app, &token, &body).await;
    let valid_to =
        chrono::NaiveDate::parse_from_str(l["valid_to"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    app.clock.set(
        valid_to
            .succ_opt()
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc(),
    );
    // The session outlives nothing: log in again at the new time.
    let token = app.login("wang").await;
    let got: Value = app
        .get(
            &format!("/api/v1/licences/{}", l["id"].as_str().unwrap()),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (got["status"].as_str(), got["status_code"].as_str()),
        (Some("expired"), Some("05"))
    );
}

#[tokio::test]
async fn issuing_is_503_when_no_signer_is_in_its_period_and_readyz_says_so() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    app.clock.advance(chrono::Duration::days(365 * 40));
    let token = app.login("wang").await;
    assert_error(
        app.post_json("/api/v1/licences", Some(&token), &body).await,
        503,
        "no_signer",
    )
    .await;
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 503);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["checks"]["signer"], "none_in_signing_period");
    assert_eq!(ready["checks"]["database"], "ok");
}
