//! The OpenAPI document stays true: it is generated from the handlers (`routes::api_doc`),
//! every routed `/api/v1` handler is in it and every documented operation is served, real
//! answers of the main routes match their documented schemas, and the committed snapshot
//! `docs/openapi.json` is the document (`UPDATE_OPENAPI=1 cargo test --test api openapi`
//! rewrites it after a deliberate change).

use crate::helpers::{spawn_app, TestApp, CITY_HALL, PASSWORD, PIZHOU_PARTNER};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::domain::role::Role;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::from_str(&crosscert::routes::api_doc::document_json()).unwrap()
}

/// (method, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item[m].is_object() {
                ops.insert((m.to_string(), path.clone()));
            }
        }
    }
    ops
}

/// Every actix route attribute (`#[get("/api/v1/...")]` and friends) in the source: the
/// routes a handler declares, found in the code rather than in a list kept by hand.
fn declared_api_routes() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines() {
            let line = line.trim();
            for m in METHODS {
                let open = format!("#[{m}(\"");
                if let Some(rest) = line.strip_prefix(&open) {
                    let path = rest.split('"').next().unwrap();
                    if path.starts_with("/api/") {
                        routes.insert((m.to_string(), path.to_string()));
                    }
                }
            }
            // Routes mounted without an attribute would escape the document.
            assert!(
                !(line.contains("\"/api/")
                    && (line.contains("web::resource(") || line.contains(".route(\"/api"))),
                "{}: an /api route mounted without a handler attribute: {line}",
                f.display()
            );
        }
    }
    routes
}

#[test]
fn every_api_route_declared_in_the_code_is_documented() {
    let doc = documented(&document());
    let declared = declared_api_routes();
    assert!(declared.len() >= 45, "found only {} routes", declared.len());
    let missing: Vec<_> = declared.difference(&doc).collect();
    assert!(missing.is_empty(), "routed but not documented: {missing:?}");
    // And the other way round, statically: nothing documented that no handler declares
    // (the few operations outside /api are checked against the server below).
    let stray: Vec<_> = doc
        .iter()
        .filter(|(_, p)| p.starts_with("/api/"))
        .filter(|op| !declared.contains(*op))
        .collect();
    assert!(
        stray.is_empty(),
        "documented but declared nowhere: {stray:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, document(), "the server serves the generated document");
    let ops = documented(&doc);
    assert!(ops.len() >= 50, "{} operations", ops.len());
    for (method, path) in ops {
        let op = &doc["paths"][&path][&method];
        let ok = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(status, _)| status.starts_with('2'));
        assert!(
            ok.is_some(),
            "{method} {path} documents no success response"
        );
        let (_, ok) = ok.unwrap();
        let ok = &ok["content"];
        assert!(
            ok.as_object()
                .is_some_and(|c| c.values().all(|c| c["schema"].is_object()))
                || ok.is_null(),
            "{method} {path}: a success response without a schema"
        );
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app
            .client
            .request(m, app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        // Whatever the answer (401, 400, 404 for an unknown id...), it must not be "no route".
        assert!(
            !body.contains("no route for") && status != 405,
            "{method} {path} is documented but not served ({status})"
        );
    }
}

#[test]
fn the_committed_snapshot_is_the_generated_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let generated = format!("{}\n", crosscert::routes::api_doc::document_json());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the generated document: review the API change and run \
         `UPDATE_OPENAPI=1 cargo test --test api the_committed_snapshot` (or scripts/openapi.sh)"
    );
}

/// Checks answers against the schema the document gives for (method, path, status).
struct Schemas {
    doc: Value,
}

impl Schemas {
    fn new() -> Schemas {
        Schemas { doc: document() }
    }

    /// The answer's errors against the schema (empty: valid).
    fn errors(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let response = &self.doc["paths"][path][method]["responses"][status.to_string()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path} {status}: no JSON schema documented"
        );
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("{method} {path}: the schema does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect()
    }

    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let errors = self.errors(method, path, status, body);
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the answer does not match its schema:\n{}\n{body:#}",
            errors.join("\n")
        );
    }
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let (got, url) = (res.status().as_u16(), res.url().clone());
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn post_bearer(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_of_the_main_routes_match_their_documented_schemas() {
    let s = Schemas::new();
    // The checker itself: a wrong shape is caught, through references to components.
    assert!(!s
        .errors("post", "/api/v1/licences", 201, &json!({"id": 1}))
        .is_empty());
    assert!(!s
        .errors(
            "post",
            "/api/v1/agent/claim",
            200,
            &json!({"jobs": [{"id": "x"}]})
        )
        .is_empty());
    let app = spawn_app().await;
    let issuer = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    app.create_user("zhao", Role::HallOperator, PIZHOU_PARTNER);

    let login = app
        .post_json(
            "/api/v1/sessions",
            None,
            &json!({"username": "zhao", "password": PASSWORD}),
        )
        .await;
    let login = json_of(login, 200).await;
    s.check("post", "/api/v1/sessions", 200, &login);
    let operator = login["token"].as_str().unwrap().to_string();

    let users = json_of(app.get("/api/v1/users", Some(&admin)).await, 200).await;
    s.check("get", "/api/v1/users", 200, &users);
    let created = json_of(
        app.post_json(
            "/api/v1/users",
            Some(&admin),
            &json!({"username": "liming", "password": PASSWORD, "role": "issuer", "hall": CITY_HALL}),
        )
        .await,
        201,
    )
    .await;
    s.check("post", "/api/v1/users", 201, &created);

    let halls = json_of(app.get("/api/v1/halls", Some(&admin)).await, 200).await;
    assert!(halls.as_array().unwrap().len() > 100);
    s.check("get", "/api/v1/halls", 200, &halls);
    let code = business_licence_code(&app);
    let routed = json_of(
        app.get(
            &format!("/api/v1/halls?cert_type={code}&near=35.1,118.3"),
            Some(&admin),
        )
        .await,
        200,
    )
    .await;
    s.check("get", "/api/v1/halls", 200, &routed);

    let types = json_of(app.get("/api/v1/cert-types", Some(&issuer)).await, 200).await;
    s.check("get", "/api/v1/cert-types", 200, &types);
    let detail = json_of(
        app.get(&format!("/api/v1/cert-types/{code}"), Some(&issuer))
            .await,
        200,
    )
    .await;
    s.check("get", "/api/v1/cert-types/{code}", 200, &detail);

    let body = example_body(&app, &issuer, &code).await;
    let licence = issue(&app, &issuer, &body).await;
    s.check("post", "/api/v1/licences", 201, &licence);
    let id = licence["id"].as_str().unwrap().to_string();
    let shown = json_of(
        app.get(&format!("/api/v1/licences/{id}"), Some(&issuer))
            .await,
        200,
    )
    .await;
    s.check("get", "/api/v1/licences/{id}", 200, &shown);

    let verdict = json_of(
        app.client
            .get(app.url("/api/v1/verify"))
            .query(&[("code", licence["qr_text"].as_str().unwrap())])
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(verdict["authentic"], true);
    s.check("get", "/api/v1/verify", 200, &verdict);
    let broken = json_of(app.get("/api/v1/verify?code=NOT-A-CODE", None).await, 200).await;
    s.check("get", "/api/v1/verify", 200, &broken);
    let trust = json_of(app.get("/api/v1/trust-list", None).await, 200).await;
    s.check("get", "/api/v1/trust-list", 200, &trust);

    let job = json_of(
        app.post_json(
            "/api/v1/print-jobs",
            Some(&issuer),
            &json!({"licence_id": id, "hall": PIZHOU_PARTNER, "copies": ["original"]}),
        )
        .await,
        201,
    )
    .await;
    s.check("post", "/api/v1/print-jobs", 201, &job);
    let job_id = job["id"].as_str().unwrap().to_string();

    let token = json_of(
        app.post_json(
            "/api/v1/agent-tokens",
            Some(&admin),
            &json!({"hall": PIZHOU_PARTNER}),
        )
        .await,
        201,
    )
    .await;
    s.check("post", "/api/v1/agent-tokens", 201, &token);
    let agent = token["token"].as_str().unwrap().to_string();

    let claim = json_of(
        post_bearer(&app, "/api/v1/agent/claim", &agent, &json!({"max": 1})).await,
        200,
    )
    .await;
    s.check("post", "/api/v1/agent/claim", 200, &claim);
    let claimed = &claim["jobs"][0];
    assert_eq!(claimed["id"], job["id"]);
    // The agent reads the same answer with its own (shared) types.
    let typed: crosscert::agent::api::ClaimedJob = serde_json::from_value(claimed.clone()).unwrap();
    let lease = typed.lease_token.clone();

    let beat = json_of(
        post_bearer(
            &app,
            &format!("/api/v1/agent/jobs/{job_id}/heartbeat"),
            &agent,
            &json!({"lease_token": lease}),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/agent/jobs/{id}/heartbeat", 200, &beat);

    let reconcile = json_of(
        post_bearer(
            &app,
            "/api/v1/agent/reconcile",
            &agent,
            &json!({"jobs": [{"id": job_id, "state": "printing"}, {"id": "gone", "state": "claimed"}]}),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/agent/reconcile", 200, &reconcile);

    let sheet = format!(
        "{}{:06}",
        crosscert::demo::demo_stock_prefix(PIZHOU_PARTNER),
        1
    );
    let report = crosscert::agent::api::Report {
        lease_token: lease,
        seq: 1,
        outcome: crosscert::agent::api::Outcome::Printed,
        sheets: vec![sheet],
        printed_nothing: None,
        reason: None,
    };
    let answer = json_of(
        post_bearer(
            &app,
            &format!("/api/v1/agent/jobs/{job_id}/report"),
            &agent,
            &serde_json::to_value(&report).unwrap(),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/agent/jobs/{id}/report", 200, &answer);
    assert_eq!(answer["state"], "printed");

    let void = json_of(
        post_bearer(
            &app,
            "/api/v1/agent/sheets/void",
            &agent,
            &json!({"serials": [format!("{}{:06}", crosscert::demo::demo_stock_prefix(PIZHOU_PARTNER), 2)], "reason": "jammed"}),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/agent/sheets/void", 200, &void);

    let shown = json_of(
        app.get(&format!("/api/v1/print-jobs/{job_id}"), Some(&operator))
            .await,
        200,
    )
    .await;
    s.check("get", "/api/v1/print-jobs/{id}", 200, &shown);
    let list = json_of(app.get("/api/v1/print-jobs", Some(&admin)).await, 200).await;
    s.check("get", "/api/v1/print-jobs", 200, &list);
    let collected = json_of(
        app.post_json(
            "/api/v1/pickups",
            Some(&operator),
            &json!({"job_id": job_id, "pickup_code": job["pickup_code"], "recipient_code": licence["holder"]["code"]}),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/pickups", 200, &collected);

    let stock = json_of(
        app.get(
            &format!("/api/v1/halls/{PIZHOU_PARTNER}/stock"),
            Some(&admin),
        )
        .await,
        200,
    )
    .await;
    s.check("get", "/api/v1/halls/{code}/stock", 200, &stock);
    let suspended = json_of(
        app.post_json(
            &format!("/api/v1/licences/{id}/suspend"),
            Some(&issuer),
            &json!({"reason": "checked"}),
        )
        .await,
        200,
    )
    .await;
    s.check("post", "/api/v1/licences/{id}/{action}", 200, &suspended);
    let ready = json_of(app.get("/readyz", None).await, 200).await;
    s.check("get", "/readyz", 200, &ready);
}
