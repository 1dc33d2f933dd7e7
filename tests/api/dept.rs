//! Department checks (部门核验), holder share codes and form prefill (issue 25).

use crate::helpers::{assert_error, spawn_app, TestApp, CITY_HALL};
use crate::licences::{example_body, issue, issuer};
use crosscert::domain::role::Role;
use serde_json::{json, Value};

/// The holder of the business licence's example: 临沂市兰山区鑫源食品有限公司.
const HOLDER: &str = "91371302MA3C8KQX75";
/// Another organisation (the food business licence's example holder).
const OTHER: &str = "91371311MA3F5J2R9L";

fn type_code(app: &TestApp, catalog_no: u32) -> String {
    app.state
        .catalog
        .types()
        .iter()
        .find(|t| t.catalog_no == catalog_no)
        .unwrap()
        .code
        .clone()
}

/// Issue the example of type `no` to `HOLDER`.
async fn issue_to_holder(app: &TestApp, token: &str, no: u32) -> Value {
    let mut body = example_body(app, token, &type_code(app, no)).await;
    body["holder"]["code"] = json!(HOLDER);
    body["holder"]["name"] = json!("临沂市兰山区鑫源食品有限公司");
    issue(app, token, &body).await
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str) {
    let res = app
        .post_json(
            &format!("/api/v1/licences/{id}/{action}"),
            Some(token),
            &json!({"reason": "测试"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{action}");
}

async fn dept_client(app: &TestApp, admin: &str, body: Value) -> Value {
    let res = app
        .post_json("/api/v1/dept-clients", Some(admin), &body)
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn dept_get(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/dept/licences?{query}"), Some(token))
        .await
}

#[tokio::test]
async fn a_department_client_sees_only_granted_types_gives_a_purpose_and_is_logged() {
    let app = spawn_app().await;
    let issuer_token = issuer(&app).await;
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let bl = issue_to_holder(&app, &issuer_token, 1).await;
    let food = issue_to_holder(&app, &issuer_token, 4).await;
    let (bl_code, food_code) = (type_code(&app, 1), type_code(&app, 4));

    // Only administrators issue clients; grants are checked.
    assert_error(
        app.post_json(
            "/api/v1/dept-clients",
            Some(&issuer_token),
            &json!({"name": "x", "types": [bl_code]}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let body = assert_error(
        app.post_json(
            "/api/v1/dept-clients",
            Some(&admin),
            &json!({"name": "公积金中心"}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("types: "),
        "{body}"
    );
    let body = assert_error(
        app.post_json(
            "/api/v1/dept-clients",
            Some(&admin),
            &json!({"name": "x", "domains": ["moon"]}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("domains: "),
        "{body}"
    );

    let client = dept_client(
        &app,
        &admin,
        json!({"name": "临沂市住房公积金管理中心", "types": [bl_code]}),
    )
    .await;
    let token = client["token"].as_str().unwrap().to_string();
    let purpose = "purpose=%E5%8A%9E%E7%90%86%E5%85%AC%E7%A7%AF%E9%87%91%E8%B4%B7%E6%AC%BE"; // 办理公积金贷款

    // Every granted type: the business licence only, with its status code and seal verdict.
    let res = dept_get(&app, &token, &format!("holder_code={HOLDER}&{purpose}")).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    let list = got["licences"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{got}");
    assert_eq!(list[0]["licence"]["id"], bl["id"]);
    assert_eq!(list[0]["licence"]["status_code"], "01");
    assert_eq!(
        list[0]["licence"]["fields"]["legal_representative"],
        "王建国"
    );
    assert_eq!(list[0]["seal"]["authentic"], true);
    assert_eq!(list[0]["seal"]["valid"], true);

    // A type not granted: 403, and logged as refused.
    assert_error(
        dept_get(
            &app,
            &token,
            &format!("holder_code={HOLDER}&type={food_code}&{purpose}"),
        )
        .await,
        403,
        "type_not_granted",
    )
    .await;
    // A purpose is required, 4-200 characters; holder codes are checked.
    let body = assert_error(
        dept_get(&app, &token, &format!("holder_code={HOLDER}")).await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("purpose: "),
        "{body}"
    );
    let body = assert_error(
        dept_get(&app, &token, &format!("holder_code={HOLDER}&purpose=abc")).await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("purpose: "),
        "{body}"
    );
    let body = assert_error(
        dept_get(
            &app,
            &token,
            &format!("holder_code=91371302MA3C8KQX76&{purpose}"),
        )
        .await,
        422,
        "invalid_holder_code",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("holder_code: "),
        "{body}"
    );
    assert_error(
        dept_get(
            &app,
            &issuer_token,
            &format!("holder_code={HOLDER}&{purpose}"),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

    // A suspended licence shows as such (02).
    act(&app, &issuer_token, bl["id"].as_str().unwrap(), "suspend").await;
    let got: Value = dept_get(
        &app,
        &token,
        &format!("holder_code={HOLDER}&type={bl_code}&{purpose}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(got["licences"][0]["licence"]["status"], "suspended");
    assert_eq!(got["licences"][0]["licence"]["status_code"], "02");
    assert_eq!(got["licences"][0]["seal"]["valid"], false);
    act(&app, &issuer_token, bl["id"].as_str().unwrap(), "reinstate").await;

    // A presented licence: the verdict and the register data; another type is refused.
    let check = |code: &Value| json!({"code": code, "purpose": "核验出示的营业执照"});
    let res = app
        .post_json("/api/v1/dept/checks", Some(&token), &check(&bl["qr_text"]))
        .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["verdict"]["valid"], true);
    assert_eq!(got["licence"]["id"], bl["id"]);
    assert_error(
        app.post_json(
            "/api/v1/dept/checks",
            Some(&token),
            &check(&food["qr_text"]),
        )
        .await,
        403,
        "type_not_granted",
    )
    .await;
    let got: Value = app
        .post_json(
            "/api/v1/dept/checks",
            Some(&token),
            &check(&json!("HTTP://X/V/AAAA")),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["verdict"]["authentic"], false);
    assert!(got["licence"].is_null());
    let body = assert_error(
        app.post_json(
            "/api/v1/dept/checks",
            Some(&token),
            &json!({"code": bl["qr_text"]}),
        )
        .await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("purpose: "),
        "{body}"
    );

    // A client granted the market domain sees both.
    let market = dept_client(
        &app,
        &admin,
        json!({"name": "市场监管局", "domains": ["market"]}),
    )
    .await;
    let got: Value = dept_get(
        &app,
        market["token"].as_str().unwrap(),
        &format!("holder_code={HOLDER}&{purpose}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(got["licences"].as_array().unwrap().len(), 2, "{got}");

    // Every access is in the log, newest first, with purpose and what was returned.
    let res = app
        .get(
            &format!("/api/v1/dept/access-log?holder_code={HOLDER}"),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let log: Vec<Value> = res.json().await.unwrap();
    let outcomes: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["route"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("licences", "returned"),
            ("check", "refused_not_granted"),
            ("check", "returned"),
            ("licences", "returned"),
            ("licences", "refused_not_granted"),
            ("licences", "returned"),
        ]
    );
    assert_eq!(log[0]["client_name"], "市场监管局");
    assert_eq!(log[0]["licences"].as_array().unwrap().len(), 2);
    assert_eq!(log[5]["purpose"], "办理公积金贷款");
    assert_eq!(log[5]["licences"], json!([bl["identifier"]]));
    assert_eq!(log[4]["requested_types"], json!([food_code]));
    // The check with a junk code names no holder, but is logged too.
    let all: Vec<Value> = app
        .get("/api/v1/dept/access-log", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 7);
    assert_error(
        app.get("/api/v1/dept/access-log", Some(&issuer_token))
            .await,
        403,
        "forbidden",
    )
    .await;

    // Listed for administrators (never the token); revoked, the token stops working.
    let clients: Vec<Value> = app
        .get("/api/v1/dept-clients", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clients.len(), 2);
    assert!(clients[0].get("token").is_none());
    let id = client["id"].as_i64().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/dept-clients/{id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_error(
        dept_get(&app, &token, &format!("holder_code={HOLDER}&{purpose}")).await,
        401,
        "unauthorized",
    )
    .await;
}

async fn create_share(app: &TestApp, token: &str, ids: &[&Value], days: i64) -> reqwest::Response {
    app.post_json(
        "/api/v1/shares",
        Some(token),
        &json!({"holder_code": HOLDER, "licence_ids": ids, "valid_days": days}),
    )
    .await
}

async fn lookup(app: &TestApp, code: &str, holder: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/shares/lookup",
        None,
        &json!({"share_code": code, "holder_code": holder}),
    )
    .await
}

/// The one answer for every wrong pair.
async fn wrong(res: reqwest::Response) -> Value {
    assert_error(res, 404, "not_found").await
}

#[tokio::test]
async fn a_share_lookup_needs_both_codes_expires_can_be_revoked_and_is_logged() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let bl = issue_to_holder(&app, &token, 1).await;

    // Refusals name the field.
    let body = assert_error(
        create_share(&app, &token, &[&bl["id"]], 0).await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("valid_days: "),
        "{body}"
    );
    assert_error(
        create_share(&app, &token, &[&bl["id"]], 91).await,
        400,
        "invalid_input",
    )
    .await;
    let body = assert_error(
        app.post_json("/api/v1/shares", Some(&token), &json!({"holder_code": "91371302MA3C8KQX7X", "licence_ids": [bl["id"]], "valid_days": 3})).await,
        422,
        "invalid_holder_code",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("holder_code: "),
        "{body}"
    );
    let body = assert_error(
        app.post_json(
            "/api/v1/shares",
            Some(&token),
            &json!({"holder_code": OTHER, "licence_ids": [bl["id"]], "valid_days": 3}),
        )
        .await,
        422,
        "refused",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("licence_ids[0]: "),
        "{body}"
    );
    let operator = app.staff("operator", Role::HallOperator, CITY_HALL).await;
    assert_error(
        create_share(&app, &operator, &[&bl["id"]], 3).await,
        403,
        "forbidden",
    )
    .await;

    let res = create_share(&app, &token, &[&bl["id"]], 1).await;
    assert_eq!(res.status(), 201);
    let share: Value = res.json().await.unwrap();
    let code = share["share_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 9);
    assert!(
        code.bytes()
            .all(|b| b"23456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
        "{code}"
    );

    // Both codes: the shared licence's verified data and current status, nothing else.
    let res = lookup(&app, &code.to_lowercase(), HOLDER).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    let shared = got["licences"].as_array().unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0]["verdict"]["valid"], true);
    assert_eq!(shared[0]["status_code"], "01");
    assert_eq!(shared[0]["fields"]["registered_capital"], "5000000");
    assert!(shared[0].get("qr_text").is_none() && shared[0].get("id").is_none());

    // Wrong holder, unknown code: the same answer.
    let a = wrong(lookup(&app, &code, OTHER).await).await;
    let unknown = match code.strip_prefix('2') {
        Some(rest) => format!("3{rest}"),
        None => format!("2{}", &code[1..]),
    };
    let b = wrong(lookup(&app, &unknown, HOLDER).await).await;
    assert_eq!(a, b);
    // Bad shapes are named, whatever exists.
    let body = assert_error(lookup(&app, "ABC", HOLDER).await, 400, "invalid_input").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("share_code: "),
        "{body}"
    );
    let body = assert_error(lookup(&app, &code, "123").await, 422, "invalid_holder_code").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("holder_code: "),
        "{body}"
    );

    // Revoked: the same answer.
    let second: Value = create_share(&app, &token, &[&bl["id"]], 30)
        .await
        .json()
        .await
        .unwrap();
    let second_code = second["share_code"].as_str().unwrap();
    assert_eq!(lookup(&app, second_code, HOLDER).await.status(), 200);
    let res = app
        .post_json(
            &format!("/api/v1/shares/{}/revoke", second["id"].as_str().unwrap()),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["state"], "revoked");
    assert_eq!(wrong(lookup(&app, second_code, HOLDER).await).await, a);

    // A licence withdrawn after sharing shows its current status.
    let third: Value = create_share(&app, &token, &[&bl["id"]], 30)
        .await
        .json()
        .await
        .unwrap();
    act(&app, &token, bl["id"].as_str().unwrap(), "suspend").await;
    let got: Value = lookup(&app, third["share_code"].as_str().unwrap(), HOLDER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["licences"][0]["status"], "suspended");
    assert_eq!(got["licences"][0]["status_code"], "02");
    assert_eq!(got["licences"][0]["verdict"]["valid"], false);

    // Expired after its days: the same answer.
    app.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
    assert_eq!(wrong(lookup(&app, &code, HOLDER).await).await, a);

    // Every lookup that reached the share is on its page for staff (a new session: a day
    // passed).
    let token = app.login("wang").await;
    let id = share["id"].as_str().unwrap();
    let res = app.get(&format!("/api/v1/shares/{id}"), Some(&token)).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["state"], "expired");
    let outcomes: Vec<&str> = view["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["shown", "wrong_holder", "expired"]);
    let lookups: Vec<&str> = v["lookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(lookups, ["shown"]);
    // Another hall's issuer does not see it.
    let far = app.staff("far", Role::Issuer, CITY_HALL).await;
    assert_error(
        app.get(&format!("/api/v1/shares/{id}"), Some(&far)).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn wrong_share_lookups_are_throttled_per_code_and_per_address() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let bl = issue_to_holder(&app, &token, 1).await;
    let one: Value = create_share(&app, &token, &[&bl["id"]], 30)
        .await
        .json()
        .await
        .unwrap();
    let two: Value = create_share(&app, &token, &[&bl["id"]], 30)
        .await
        .json()
        .await
        .unwrap();
    let (one, two) = (
        one["share_code"].as_str().unwrap(),
        two["share_code"].as_str().unwrap(),
    );

    // Five wrong holders for one code; then that code answers 429, even to the right pair.
    for _ in 0..5 {
        wrong(lookup(&app, one, OTHER).await).await;
    }
    let res = lookup(&app, one, HOLDER).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "too_many_requests").await;
    // Another code from the same address still works (6 of 10 failures so far).
    assert_eq!(lookup(&app, two, HOLDER).await.status(), 200);
    // Codes that do not exist count against the address the same way.
    for i in 0..4 {
        let guess = format!("ABCDEFGH{}", (b'2' + i) as char);
        wrong(lookup(&app, &guess, HOLDER).await).await;
    }
    assert_error(lookup(&app, two, HOLDER).await, 429, "too_many_requests").await;
    // The window passes.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(lookup(&app, two, HOLDER).await.status(), 200);
    assert_eq!(lookup(&app, one, HOLDER).await.status(), 200);
}

async fn prefill(app: &TestApp, token: &str, holder: &str, no: u32) -> reqwest::Response {
    app.get(
        &format!(
            "/api/v1/holders/{holder}/prefill?type={}",
            type_code(app, no)
        ),
        Some(token),
    )
    .await
}

fn value<'a>(p: &'a Value, field: &str) -> Option<&'a Value> {
    p["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["field"] == field)
}

#[tokio::test]
async fn prefill_returns_values_with_sources_never_from_withdrawn_licences() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let bl = issue_to_holder(&app, &token, 1).await;
    let bl_id = bl["id"].as_str().unwrap();

    // The food business licence's form from the business licence.
    let res = prefill(&app, &token, HOLDER, 4).await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        value(&p, "holder.name").unwrap()["value"],
        "临沂市兰山区鑫源食品有限公司"
    );
    let lr = value(&p, "fields.legal_representative").unwrap();
    assert_eq!(lr["value"], "王建国");
    assert_eq!(lr["source"]["licence_id"], bl["id"]);
    assert_eq!(lr["source"]["identifier"], bl["identifier"]);
    assert_eq!(lr["source"]["field"], "fields.legal_representative");
    assert_eq!(lr["source"]["type_name"], "营业执照（企业）");
    let dom = value(&p, "fields.domicile").unwrap();
    assert_eq!(dom["source"]["field"], "fields.domicile");
    assert!(p["required_filled"].as_u64().unwrap() >= 2);

    // Suspended, then revoked: nothing is taken from it.
    act(&app, &token, bl_id, "suspend").await;
    let p: Value = prefill(&app, &token, HOLDER, 4).await.json().await.unwrap();
    assert_eq!(p["values"], json!([]), "{p}");
    act(&app, &token, bl_id, "reinstate").await;
    let p: Value = prefill(&app, &token, HOLDER, 4).await.json().await.unwrap();
    assert!(value(&p, "fields.legal_representative").is_some());

    // A new version supersedes it: the values come from the new one.
    let mut record = example_body(&app, &token, &type_code(&app, 1)).await;
    record.as_object_mut().unwrap().remove("type_code");
    record["holder"] = bl["holder"].clone();
    record["fields"]["legal_representative"] = json!("李娜");
    let res = app
        .post_json(
            &format!("/api/v1/licences/{bl_id}/versions"),
            Some(&token),
            &record,
        )
        .await;
    assert_eq!(res.status(), 201);
    let v2: Value = res.json().await.unwrap();
    let p: Value = prefill(&app, &token, HOLDER, 4).await.json().await.unwrap();
    let lr = value(&p, "fields.legal_representative").unwrap();
    assert_eq!(
        (&lr["value"], &lr["source"]["licence_id"]),
        (&json!("李娜"), &v2["id"])
    );
    act(&app, &token, v2["id"].as_str().unwrap(), "revoke").await;
    let p: Value = prefill(&app, &token, HOLDER, 4).await.json().await.unwrap();
    assert_eq!(p["values"], json!([]), "{p}");

    // Refusals name the field.
    let body = assert_error(
        prefill(&app, &token, "91371302MA3C8KQX76", 4).await,
        422,
        "invalid_holder_code",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("holder_code: "),
        "{body}"
    );
    let body = assert_error(
        app.get(&format!("/api/v1/holders/{HOLDER}/prefill"), Some(&token))
            .await,
        400,
        "invalid_input",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("type: "),
        "{body}"
    );
    assert_error(
        app.get(
            &format!("/api/v1/holders/{HOLDER}/prefill?type=X"),
            Some(&token),
        )
        .await,
        422,
        "unknown_type",
    )
    .await;
    // A person's type with an organisation's code.
    let person = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| t.holder_kind == crosscert::catalog::HolderKind::Person)
        .unwrap()
        .catalog_no;
    assert_error(prefill(&app, &token, HOLDER, person).await, 422, "refused").await;
    let operator = app.staff("operator", Role::HallOperator, CITY_HALL).await;
    assert_error(prefill(&app, &operator, HOLDER, 4).await, 403, "forbidden").await;
}
