//! Public verification: `GET /api/v1/verify`, the `/V/` page, the rate limit, and the
//! offline `crosscert verify` command.

use crate::helpers::{assert_error, spawn_app, spawn_app_on, spawn_app_with, TestApp, TestDb};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

async fn verify(app: &TestApp, code: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/verify"))
        .query(&[("code", code)])
        .send()
        .await
        .unwrap()
}

async fn verdict(app: &TestApp, code: &str) -> Value {
    let res = verify(app, code).await;
    assert_eq!(res.status(), 200, "verify {code:?}");
    let v: Value = res.json().await.unwrap();
    // The shape others rely on, always complete.
    for key in [
        "authentic",
        "status",
        "reason",
        "licence",
        "signer_kid",
        "checked_at",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    v
}

/// The path a phone opens for a QR text (everything from the last `/V/`).
fn page_path(qr: &str) -> String {
    let i = qr.to_ascii_uppercase().rfind("/V/").unwrap();
    qr[i..].to_string()
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.get(path, None).await;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/html"), "{path}: content type {ct}");
    (status, res.text().await.unwrap())
}

const VALID_MARK: &str = "data-verdict=\"valid\"";
const INVALID_MARK: &str = "data-verdict=\"invalid\"";
const BIG_VALID: &str = "<div class=\"big\">有效</div>";
const BIG_INVALID: &str = "<div class=\"big\">无效</div>";

fn assert_invalid_page(html: &str, reason_zh: &str) {
    assert!(html.contains(INVALID_MARK), "{html}");
    assert!(html.contains(BIG_INVALID), "{html}");
    assert!(
        !html.contains(VALID_MARK) && !html.contains(BIG_VALID),
        "{html}"
    );
    assert!(html.contains(reason_zh), "expected {reason_zh} in {html}");
}

async fn issued_business_licence(app: &TestApp) -> (String, Value) {
    let token = issuer(app).await;
    let body = example_body(app, &token, &business_licence_code(app)).await;
    let licence = issue(app, &token, &body).await;
    (token, licence)
}

#[tokio::test]
async fn a_valid_licence_verifies_as_json_and_as_a_page_in_either_case() {
    let app = spawn_app().await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap();

    let v = verdict(&app, qr).await;
    assert_eq!(v["authentic"], true);
    assert_eq!(v["valid"], true);
    assert_eq!(v["status"], "valid");
    assert!(v["reason"].is_null());
    assert_eq!(v["signer_kid"], licence["signer_kid"]);
    let l = &v["licence"];
    assert_eq!(l["identifier"], licence["identifier"]);
    assert_eq!(l["licence_no"], licence["licence_no"]);
    assert_eq!(l["version"], 1);
    assert_eq!(l["holder"]["name"], licence["holder"]["name"]);
    // An organisation's credit code is printed in full.
    assert_eq!(l["holder"]["code"], licence["holder"]["code"]);
    assert!(l["type_name"].as_str().unwrap().starts_with("营业执照"));
    assert_eq!(l["issuing_authority"], "临沂市兰山区行政审批服务局");
    assert_eq!(l["valid_from"], licence["valid_from"]);
    assert_eq!(l["valid_to"], licence["valid_to"]);
    chrono::DateTime::parse_from_rfc3339(v["checked_at"].as_str().unwrap()).unwrap();

    // Lower-case text verifies the same.
    let lower = verdict(&app, &qr.to_lowercase()).await;
    assert_eq!(
        (&lower["status"], &lower["valid"]),
        (&json!("valid"), &json!(true))
    );
    // The bare Base32 payload too.
    let bare = qr.rsplit('/').next().unwrap();
    assert_eq!(verdict(&app, bare).await["valid"], true);

    // The page, exactly as the QR spells it and in lower case.
    for path in [page_path(qr), page_path(qr).to_lowercase()] {
        let (status, html) = page(&app, &path).await;
        assert_eq!(status, 200);
        assert!(html.contains(VALID_MARK), "{html}");
        assert!(html.contains(BIG_VALID), "{html}");
        assert!(!html.contains(INVALID_MARK) && !html.contains(BIG_INVALID));
        assert!(html.contains(licence["licence_no"].as_str().unwrap()));
        assert!(html.contains("临沂市兰山区行政审批服务局"));
        assert!(html.contains("name=\"viewport\""));
        // No external assets: no scripts, stylesheets or images fetched from anywhere.
        for asset in ["<script", "<link", "<img", "src=", "url("] {
            assert!(!html.contains(asset), "{asset} in the page");
        }
    }
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str) {
    let res = app
        .post_json(
            &format!("/api/v1/licences/{id}/{action}"),
            Some(token),
            &json!({"reason": "核验测试"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{action}");
}

#[tokio::test]
async fn every_lifecycle_status_gives_its_reason() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    for (action, reason, zh) in [
        ("suspend", "suspended", "证照已被暂扣"),
        ("rescind", "rescinded", "证照已被撤销"),
        ("cancel", "cancelled", "证照已被注销"),
        ("revoke", "revoked", "证照已被吊销"),
    ] {
        let l = issue(&app, &token, &body).await;
        act(&app, &token, l["id"].as_str().unwrap(), action).await;
        let qr = l["qr_text"].as_str().unwrap();
        let v = verdict(&app, qr).await;
        assert_eq!(v["authentic"], true, "{action}");
        assert_eq!(v["valid"], false, "{action}");
        assert_eq!(v["status"], reason, "{action}");
        assert_eq!(v["reason"], reason, "{action}");
        assert_eq!(v["licence"]["identifier"], l["identifier"]);
        let (status, html) = page(&app, &page_path(qr)).await;
        assert_eq!(status, 200);
        assert_invalid_page(&html, zh);
    }

    // A suspended licence that is reinstated is valid again.
    let l = issue(&app, &token, &body).await;
    let id = l["id"].as_str().unwrap();
    act(&app, &token, id, "suspend").await;
    act(&app, &token, id, "reinstate").await;
    assert_eq!(
        verdict(&app, l["qr_text"].as_str().unwrap()).await["valid"],
        true
    );

    // A change supersedes the old version; the new one is valid.
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
    let old = verdict(&app, l["qr_text"].as_str().unwrap()).await;
    assert_eq!(
        (&old["status"], &old["reason"], &old["valid"]),
        (&json!("superseded"), &json!("superseded"), &json!(false))
    );
    let (_, html) = page(&app, &page_path(l["qr_text"].as_str().unwrap())).await;
    assert_invalid_page(&html, "已被新版本取代");
    let new = verdict(&app, v2["qr_text"].as_str().unwrap()).await;
    assert_eq!(new["valid"], true);
    assert_eq!(new["licence"]["version"], 2);
    assert_eq!(
        new["licence"]["holder"]["name"],
        "临沂市兰山区鑫源食品有限公司（更名）"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_follow_the_clock() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let code = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| !t.validity.is_long_term())
        .unwrap()
        .code
        .clone();
    let l = issue(&app, &token, &example_body(&app, &token, &code).await).await;
    let qr = l["qr_text"].as_str().unwrap().to_string();
    let day =
        |s: &Value| chrono::NaiveDate::parse_from_str(s.as_str().unwrap(), "%Y-%m-%d").unwrap();
    let (from, to) = (day(&l["valid_from"]), day(&l["valid_to"]));
    let noon = |d: chrono::NaiveDate| d.and_hms_opt(12, 0, 0).unwrap().and_utc();

    app.clock.set(noon(to));
    assert_eq!(
        verdict(&app, &qr).await["valid"],
        true,
        "the last day is valid"
    );

    app.clock.set(noon(to.succ_opt().unwrap()));
    let v = verdict(&app, &qr).await;
    assert_eq!(
        (&v["authentic"], &v["status"], &v["reason"]),
        (&json!(true), &json!("expired"), &json!("expired"))
    );
    let (_, html) = page(&app, &page_path(&qr)).await;
    assert_invalid_page(&html, "证照已超过有效期限");

    app.clock.set(noon(from.pred_opt().unwrap()));
    let v = verdict(&app, &qr).await;
    assert_eq!(
        (&v["authentic"], &v["status"], &v["reason"], &v["valid"]),
        (
            &json!(true),
            &json!("valid"),
            &json!("not_yet_valid"),
            &json!(false)
        )
    );
    let (_, html) = page(&app, &page_path(&qr)).await;
    assert_invalid_page(&html, "证照尚未生效");

    app.clock.set(noon(from));
    assert_eq!(
        verdict(&app, &qr).await["valid"],
        true,
        "the first day is valid"
    );
}

#[tokio::test]
async fn broken_codes_get_a_verdict_never_a_500() {
    let app = spawn_app().await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap().to_string();

    // One character of the signature changed: the seal no longer verifies.
    let mut flipped: Vec<char> = qr.chars().collect();
    let i = flipped.len() - 20;
    flipped[i] = if flipped[i] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    let v = verdict(&app, &flipped).await;
    assert_eq!(
        (&v["authentic"], &v["reason"], &v["status"]),
        (&json!(false), &json!("bad_signature"), &json!("unknown"))
    );
    assert!(v["licence"].is_null());

    let random: String = {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        (0..300)
            .map(|_| rng.gen_range(0x20u8..0x7f) as char)
            .collect()
    };
    let random_bytes: Vec<u8> = (0..200).map(|_| rand::random::<u8>()).collect();
    let random_base32 = data_encoding::BASE32_NOPAD.encode(&random_bytes);
    let cases: Vec<(String, &str)> = vec![
        (qr[..qr.len() / 2].to_string(), "truncated"),
        (random, "random text"),
        (format!("HTTP://X/V/{random_base32}"), "random bytes"),
        (String::new(), "empty"),
        ("HTTP://127.0.0.1/V/".into(), "empty payload"),
        ("A".repeat(4096), "4 KB"),
        ("\u{0}\u{7f}<>\"'%ZZ/V/%FF".into(), "control characters"),
        ("临沂/V/证照".into(), "non-ASCII"),
    ];
    for (code, what) in &cases {
        let v = verdict(&app, code).await;
        assert_eq!(v["authentic"], false, "{what}");
        assert_eq!(v["valid"], false, "{what}");
        assert_eq!(v["status"], "unknown", "{what}");
        assert!(
            ["bad_encoding", "bad_signature", "unknown_signer"]
                .contains(&v["reason"].as_str().unwrap()),
            "{what}: {v}"
        );
    }

    // Pages for broken payloads are verdict pages, not 404s.
    for path in [
        "/V/".to_string(),
        "/v/".to_string(),
        page_path(&flipped),
        page_path(&qr[..qr.len() - 7]),
        format!("/V/{}", "A".repeat(4096)),
        format!("/V/{}", "B".repeat(5000)),
        "/V/%3Cscript%3E".to_string(),
        "/V/%FF%FE".to_string(),
        "/V/证照".to_string(),
    ] {
        let (status, html) = page(&app, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(INVALID_MARK), "{path}");
        assert!(!html.contains("<script>"), "{path}");
    }

    // Over 4 KB, and no code at all, are the only 400s.
    let body = assert_error(verify(&app, &"A".repeat(4097)).await, 400, "invalid_input").await;
    assert!(body["message"].as_str().unwrap().starts_with("code"));
    let res = app.get("/api/v1/verify", None).await;
    let body = assert_error(res, 400, "invalid_input").await;
    assert!(body["message"].as_str().unwrap().starts_with("code"));
    // Other paths keep their JSON 404.
    assert_error(app.get("/X/V/ABC", None).await, 404, "not_found").await;
    assert_error(app.get("/VV/ABC", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_personal_id_is_masked_in_the_json_and_on_the_page() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let t = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| t.holder_kind == crosscert::catalog::HolderKind::Person)
        .unwrap()
        .code
        .clone();
    let body = example_body(&app, &token, &t).await;
    let id_number = body["holder"]["code"].as_str().unwrap().to_string();
    assert_eq!(id_number.len(), 18);
    let l = issue(&app, &token, &body).await;
    let qr = l["qr_text"].as_str().unwrap();
    let masked = format!("{}{}{}", &id_number[..3], "*".repeat(11), &id_number[14..]);

    let res = verify(&app, qr).await;
    let text = res.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["licence"]["holder"]["code"], masked);
    assert!(!text.contains(&id_number), "the full ID number in {text}");
    assert!(
        !text.contains(&id_number[3..14]),
        "the hidden digits in {text}"
    );

    let (_, html) = page(&app, &page_path(qr)).await;
    assert!(html.contains(&masked), "{html}");
    assert!(
        !html.contains(&id_number[3..14]),
        "the hidden digits in the page"
    );
}

#[tokio::test]
async fn markup_in_a_holder_name_is_escaped_on_the_page() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let mut body = example_body(&app, &token, &business_licence_code(&app)).await;
    let name = "<script>alert(\"x\")</script><img src=x onerror=alert(1)>&'公司";
    body["holder"]["name"] = json!(name);
    let l = issue(&app, &token, &body).await;
    let qr = l["qr_text"].as_str().unwrap();
    let v = verdict(&app, qr).await;
    assert_eq!(v["licence"]["holder"]["name"], name);
    let (_, html) = page(&app, &page_path(qr)).await;
    assert!(html.contains(VALID_MARK));
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert!(html.contains(
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;&#39;公司"
    ));
}

#[tokio::test]
async fn a_genuine_seal_the_register_does_not_hold_is_never_valid() {
    let app = spawn_app().await;
    let (_, licence) = issued_business_licence(&app).await;
    // Another server with the same keys but its own, empty register.
    let other = spawn_app().await;
    let v = verdict(&other, licence["qr_text"].as_str().unwrap()).await;
    assert_eq!(
        (&v["authentic"], &v["valid"], &v["status"], &v["reason"]),
        (
            &json!(true),
            &json!(false),
            &json!("unknown"),
            &json!("unknown_licence")
        )
    );
    assert!(v["licence"].is_null());
    let (status, html) = page(&other, &page_path(licence["qr_text"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    assert_invalid_page(&html, "登记系统中没有与之相符的证照");
}

#[tokio::test]
async fn a_register_row_that_disagrees_with_its_seal_is_not_valid() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap();
    assert_eq!(verdict(&app, qr).await["valid"], true);
    // Someone edits the holder's name in the database behind the seal's back.
    {
        let mut conn = app.state.pool.get().unwrap();
        diesel::sql_query("UPDATE licences SET holder_name = '别人的公司' WHERE id = $1")
            .bind::<diesel::sql_types::Text, _>(licence["id"].as_str().unwrap())
            .execute(&mut conn)
            .unwrap();
    }
    let v = verdict(&app, qr).await;
    assert_eq!(
        (&v["authentic"], &v["valid"], &v["reason"]),
        (&json!(true), &json!(false), &json!("unknown_licence"))
    );
    assert!(v["licence"].is_null());
    let (_, html) = page(&app, &page_path(qr)).await;
    assert!(!html.contains("别人的公司"));
}

/// A copy of the example key set whose `keys.toml` the test may rewrite.
fn key_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Rewrite one line of the `signer-2026` entry in a copied `keys.toml`.
fn edit_signer_2026(dir: &Path, from: &str, to: &str) {
    let path = dir.join("keys.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("name = \"signer-2026\"").unwrap();
    let (head, tail) = text.split_at(start);
    assert!(tail.contains(from), "{from} not in {tail}");
    std::fs::write(&path, format!("{head}{}", tail.replacen(from, to, 1))).unwrap();
}

#[tokio::test]
async fn seals_of_a_revoked_signer_verify_as_signer_revoked() {
    let keys = key_copy();
    let app = spawn_app_with(|s| s.keys_dir = keys.path().to_path_buf()).await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap();
    assert_eq!(verdict(&app, qr).await["valid"], true);

    // The signer is found compromised: a server restarted with it marked revoked.
    edit_signer_2026(keys.path(), "status = \"active\"", "status = \"revoked\"");
    let path = keys.path().to_path_buf();
    let second = spawn_app_on(TestDb::shared(&app.db.url), |s| s.keys_dir = path).await;
    let v = verdict(&second, qr).await;
    assert_eq!(
        (&v["authentic"], &v["valid"], &v["status"], &v["reason"]),
        (
            &json!(false),
            &json!(false),
            &json!("unknown"),
            &json!("signer_revoked")
        )
    );
    assert_eq!(v["signer_kid"], licence["signer_kid"]);
    assert!(v["licence"].is_null());
    let (_, html) = page(&second, &page_path(qr)).await;
    assert_invalid_page(&html, "签发密钥已被吊销");
}

#[tokio::test]
async fn a_seal_made_outside_the_signers_period_is_refused() {
    let keys = key_copy();
    let app = spawn_app_with(|s| s.keys_dir = keys.path().to_path_buf()).await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap();
    // The manifest now says this signer may seal only from June 2028: a seal dated today is
    // outside its period (a forged date, or a key used when it must not be).
    edit_signer_2026(
        keys.path(),
        "sign_from = \"2026-01-01T00:00:00Z\"",
        "sign_from = \"2028-06-01T00:00:00Z\"",
    );
    let path = keys.path().to_path_buf();
    let second = spawn_app_on(TestDb::shared(&app.db.url), |s| s.keys_dir = path).await;
    let v = verdict(&second, qr).await;
    assert_eq!(
        (&v["authentic"], &v["reason"]),
        (&json!(false), &json!("sealed_outside_signing_period"))
    );
}

#[tokio::test]
async fn a_public_url_with_a_path_is_served_in_the_qrs_upper_case() {
    let app = spawn_app_with(|s| s.public_url = "http://127.0.0.1:9/crosscert".into()).await;
    let (_, licence) = issued_business_licence(&app).await;
    let qr = licence["qr_text"].as_str().unwrap();
    assert!(qr.starts_with("HTTP://127.0.0.1:9/CROSSCERT/V/"), "{qr}");
    let path = &qr["HTTP://127.0.0.1:9".len()..];
    for p in [path.to_string(), path.to_lowercase(), page_path(qr)] {
        let (status, html) = page(&app, &p).await;
        assert_eq!(status, 200, "{p}");
        assert!(html.contains(VALID_MARK), "{p}");
    }
    assert_error(
        app.get(&format!("/elsewhere{}", page_path(qr)), None).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_verify_routes_are_rate_limited_per_client() {
    let app = spawn_app_with(|s| s.verify_rate_limit = 2).await;
    assert_eq!(verify(&app, "X").await.status(), 200);
    assert_eq!(verify(&app, "X").await.status(), 200);
    let res = verify(&app, "X").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, 429, "too_many_requests").await;
    // The page shares the budget, and answers with a page.
    let (status, html) = page(&app, "/V/ABC").await;
    assert_eq!(status, 429);
    assert!(html.contains("请求过于频繁"));
    assert!(!html.contains(VALID_MARK) && !html.contains(INVALID_MARK));
    // Other routes are not limited.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    // One second later, two more.
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(verify(&app, "X").await.status(), 200);
    assert_eq!(page(&app, "/v/abc").await.0, 200);
    assert_eq!(verify(&app, "X").await.status(), 429);
}

// ---- the offline command -------------------------------------------------------------

fn crosscert_verify(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crosscert"))
        .arg("verify")
        .args(args)
        .env_remove("CROSSCERT_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn saved_trust_list(app: &TestApp, dir: &Path) -> PathBuf {
    let text = app
        .get("/api/v1/trust-list", None)
        .await
        .text()
        .await
        .unwrap();
    let path = dir.join("trust-list.json");
    std::fs::write(&path, text).unwrap();
    path
}

/// A PNG of a QR code as a camera would see it: 4 px per module, 4-module quiet zone.
fn qr_png(text: &str, path: &Path) {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).unwrap();
    let width = code.width() as u32;
    let colors = code.to_colors();
    let (scale, quiet) = (4u32, 4u32);
    let side = (width + 2 * quiet) * scale;
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / scale, y / scale);
        let dark = mx >= quiet
            && my >= quiet
            && mx < quiet + width
            && my < quiet + width
            && colors[((my - quiet) * width + (mx - quiet)) as usize] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    img.save(path).unwrap();
}

#[tokio::test]
async fn the_offline_command_exits_0_1_2() {
    let app = spawn_app().await;
    let (token, licence) = issued_business_licence(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let trust = saved_trust_list(&app, dir.path()).await;
    let trust = trust.to_str().unwrap();
    let qr = licence["qr_text"].as_str().unwrap();

    let (code, out, _) = crosscert_verify(&["--trust-list", trust, qr]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&v["authentic"], &v["status"], &v["signer_kid"]),
        (&json!(true), &json!("unknown"), &licence["signer_kid"])
    );
    assert_eq!(v["licence"]["identifier"], licence["identifier"]);
    // Lower case too.
    assert_eq!(
        crosscert_verify(&["--trust-list", trust, &qr.to_lowercase()]).0,
        0
    );

    // Offline cannot see a revocation: still authentic, status unknown.
    act(&app, &token, licence["id"].as_str().unwrap(), "revoke").await;
    assert_eq!(crosscert_verify(&["--trust-list", trust, qr]).0, 0);

    // Anything that does not verify: 1.
    let mut flipped: Vec<char> = qr.chars().collect();
    let i = flipped.len() - 20;
    flipped[i] = if flipped[i] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    let (code, out, _) = crosscert_verify(&["--trust-list", trust, &flipped]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["reason"],
        "bad_signature"
    );
    for junk in ["", "not a code", "HTTP://X/V/", &qr[..qr.len() / 2]] {
        assert_eq!(
            crosscert_verify(&["--trust-list", trust, junk]).0,
            1,
            "{junk:?}"
        );
    }
    // A trust list from another key set knows no such signer.
    let other_keys = dir.path().join("other-keys");
    let status = Command::new(env!("CARGO_BIN_EXE_crosscert"))
        .args(["keys", "gen-example", "--out", other_keys.to_str().unwrap()])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let other = spawn_app_with(|s| s.keys_dir = other_keys.clone()).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other_trust = saved_trust_list(&other, other_dir.path()).await;
    let (code, out, _) = crosscert_verify(&["--trust-list", other_trust.to_str().unwrap(), qr]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["reason"],
        "unknown_signer"
    );

    // Unusable arguments: 2.
    let missing = dir.path().join("missing.json");
    assert_eq!(
        crosscert_verify(&["--trust-list", missing.to_str().unwrap(), qr]).0,
        2
    );
    assert_eq!(crosscert_verify(&[qr]).0, 2, "no trust list");
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "{").unwrap();
    assert_eq!(
        crosscert_verify(&["--trust-list", not_json.to_str().unwrap(), qr]).0,
        2
    );
    assert_eq!(
        crosscert_verify(&["--trust-list", trust]).0,
        2,
        "nothing to verify"
    );

    // From an image.
    let png = dir.path().join("qr.png");
    qr_png(qr, &png);
    let (code, out, err) =
        crosscert_verify(&["--trust-list", trust, "--image", png.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["licence"]["identifier"],
        licence["identifier"]
    );
    let png_flipped = dir.path().join("flipped.png");
    qr_png(&flipped, &png_flipped);
    assert_eq!(
        crosscert_verify(&[
            "--trust-list",
            trust,
            "--image",
            png_flipped.to_str().unwrap()
        ])
        .0,
        1
    );
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255]))
        .save(&blank)
        .unwrap();
    assert_eq!(
        crosscert_verify(&["--trust-list", trust, "--image", blank.to_str().unwrap()]).0,
        1
    );
    let not_png = dir.path().join("not.png");
    std::fs::write(&not_png, "this is not an image").unwrap();
    assert_eq!(
        crosscert_verify(&["--trust-list", trust, "--image", not_png.to_str().unwrap()]).0,
        2
    );
    let no_file = dir.path().join("nope.png");
    assert_eq!(
        crosscert_verify(&["--trust-list", trust, "--image", no_file.to_str().unwrap()]).0,
        2
    );
}

#[tokio::test]
async fn the_offline_envelope_check_takes_a_bare_cose_and_a_certificate() {
    let app = spawn_app().await;
    let (_, licence) = issued_business_licence(&app).await;
    let cose =
        crosscert::verification::decode_qr_text(licence["qr_text"].as_str().unwrap()).unwrap();
    let list: Value = app
        .get("/api/v1/trust-list", None)
        .await
        .json()
        .await
        .unwrap();
    let signer = list["signers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kid"] == licence["signer_kid"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("signer.pem");
    std::fs::write(&cert, signer["certificate"].as_str().unwrap()).unwrap();
    let cert = cert.to_str().unwrap();

    let (code, out, _) = crosscert_verify(&["--cose-hex", &hex::encode(&cose), "--cert", cert]);
    assert_eq!(code, 0, "{out}");
    let mut bad = cose.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        crosscert_verify(&["--cose-hex", &hex::encode(&bad), "--cert", cert]).0,
        1
    );
    assert_eq!(crosscert_verify(&["--cose-hex", "zz", "--cert", cert]).0, 1);
    // Another signer's certificate: its kid does not match.
    let other = list["signers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kid"] != licence["signer_kid"])
        .unwrap();
    let other_cert = dir.path().join("other.pem");
    std::fs::write(&other_cert, other["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(
        crosscert_verify(&[
            "--cose-hex",
            &hex::encode(&cose),
            "--cert",
            other_cert.to_str().unwrap()
        ])
        .0,
        1
    );
    // Unusable certificate arguments: 2.
    let missing = dir.path().join("missing.pem");
    assert_eq!(
        crosscert_verify(&[
            "--cose-hex",
            &hex::encode(&cose),
            "--cert",
            missing.to_str().unwrap()
        ])
        .0,
        2
    );
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    assert_eq!(
        crosscert_verify(&[
            "--cose-hex",
            &hex::encode(&cose),
            "--cert",
            not_pem.to_str().unwrap()
        ])
        .0,
        2
    );
    assert_eq!(
        crosscert_verify(&["--cose-hex", &hex::encode(&cose)]).0,
        2,
        "no --cert"
    );
}

#[tokio::test]
async fn the_offline_command_reads_the_qr_from_a_rendered_licence_pdf() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let trust = saved_trust_list(&app, dir.path()).await;
    let mut body = example_body(&app, &token, &business_licence_code(&app)).await;
    // Three business licences (the densest codes: versions 16 and 17 with the status claim),
    // the last with a 30-character company name; every seal's signature differs, so each
    // is a different code to find.
    for name in [
        None,
        None,
        Some("临沂市兰山区鑫源国际商贸物流供应链管理集团股份有限公司分公司"),
    ] {
        if let Some(name) = name {
            body["holder"]["name"] = json!(name);
        }
        let licence = issue(&app, &token, &body).await;
        let res = app
            .get(
                &format!("/api/v1/licences/{}/pdf", licence["id"].as_str().unwrap()),
                Some(&token),
            )
            .await;
        assert_eq!(res.status(), 200);
        let pdf = dir.path().join("licence.pdf");
        std::fs::write(&pdf, res.bytes().await.unwrap()).unwrap();
        // The page as a scanner or a phone photo would deliver it: 150 dpi greyscale PNG.
        let status = Command::new("pdftoppm")
            .args(["-r", "150", "-png", "-singlefile"])
            .arg(&pdf)
            .arg(dir.path().join("page"))
            .status()
            .expect("pdftoppm (poppler-utils) is installed");
        assert!(status.success());
        let png = dir.path().join("page.png");
        let (code, out, err) = crosscert_verify(&[
            "--trust-list",
            trust.to_str().unwrap(),
            "--image",
            png.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["licence"]["identifier"], licence["identifier"]);
        assert_eq!(v["licence"]["licence_no"], licence["licence_no"]);
    }
}
