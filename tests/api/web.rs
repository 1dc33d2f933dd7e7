//! The staff web pages (issue 12): sessions by cookie, CSRF on every form, hall scoping, the
//! issue form's errors next to their fields, and the issue -> queue -> pickup flow through
//! forms. `browser` drives the same flow in headless Chromium.

use crate::helpers::{spawn_app, NowUtc, TestApp, LANSHAN_HALL, PASSWORD, PIZHOU_PARTNER};
use crate::licences::business_licence_code;
use crosscert::domain::role::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

/// A browser-like client that does not follow redirects (the tests look at them) and keeps
/// the session cookie by hand.
pub struct WebUser {
    pub client: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of a hidden `_csrf` input in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a _csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn cookie_named(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Log in through the form; returns the Set-Cookie line of the session and the user.
pub async fn web_login(app: &TestApp, username: &str) -> (String, WebUser) {
    let client = no_redirects();
    let res = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let login_cookie = cookie_pair(&cookie_named(&res, "crosscert_login").expect("login cookie"));
    let csrf = csrf_of(&res.text().await.unwrap());
    let res = client
        .post(app.url("/login"))
        .header(COOKIE, &login_cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("next", "/"),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "login of {username}");
    let set = cookie_named(&res, "crosscert_session").expect("session cookie");
    let cookie = cookie_pair(&set);
    let page = client
        .get(app.url("/licences"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_of(&page.text().await.unwrap());
    (
        set,
        WebUser {
            client,
            cookie,
            csrf,
        },
    )
}

impl WebUser {
    pub async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client
            .get(app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Post a form with this session's CSRF token added.
    pub async fn post(
        &self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut pairs: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        pairs.extend_from_slice(form);
        self.post_raw(app, path, &pairs).await
    }

    pub async fn post_raw(
        &self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(app.url(path))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// The issue form's fields for a type's example, as the page would submit them.
pub fn example_form(app: &TestApp, code: &str) -> Vec<(String, String)> {
    let t = app.state.catalog.get(code).unwrap();
    let ex = t.example_json();
    let mut form = vec![
        (
            "holder.name".to_string(),
            ex["holder"]["name"].as_str().unwrap().to_string(),
        ),
        (
            "holder.code".to_string(),
            ex["holder"]["code"].as_str().unwrap().to_string(),
        ),
        (
            "valid_from".to_string(),
            ex["valid_from"].as_str().unwrap().to_string(),
        ),
        (
            "valid_to".to_string(),
            ex["valid_to"].as_str().unwrap_or("").to_string(),
        ),
    ];
    for (k, v) in ex["fields"].as_object().unwrap() {
        form.push((format!("fields.{k}"), v.as_str().unwrap().to_string()));
    }
    form
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn licence_count(app: &TestApp) -> usize {
    let mut conn = app.state.pool.get().unwrap();
    crosscert::storage::licences::list_recent(&mut conn, None, 1000)
        .unwrap()
        .len()
}

async fn issuer_session(app: &TestApp) -> WebUser {
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    web_login(app, "wang").await.1
}

/// Issue the business licence through the form; returns the licence page's path.
async fn issue_through_form(app: &TestApp, user: &WebUser) -> String {
    let code = business_licence_code(app);
    let form = example_form(app, &code);
    let res = user
        .post(app, &format!("/issue/{code}"), &pairs(&form))
        .await;
    assert_eq!(res.status(), 303);
    res.headers()[LOCATION].to_str().unwrap().to_string()
}

#[tokio::test]
async fn login_sets_an_http_only_same_site_strict_cookie_and_pages_need_it() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let anonymous = no_redirects();
    for path in ["/", "/issue", "/licences", "/issue/x?example=1"] {
        let res = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let to = res.headers()[LOCATION].to_str().unwrap();
        assert!(to.starts_with("/login?next=%2F"), "{path} -> {to}");
    }
    // A made-up or logged-out cookie is no session either.
    let res = anonymous
        .get(app.url("/issue"))
        .header(COOKIE, "crosscert_session=not-a-session")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let (set_cookie, user) = web_login(&app, "wang").await;
    let attrs = set_cookie.to_ascii_lowercase();
    assert!(attrs.contains("httponly"), "{set_cookie}");
    assert!(attrs.contains("samesite=strict"), "{set_cookie}");
    assert!(attrs.contains("path=/"), "{set_cookie}");
    assert!(!attrs.contains("secure"), "http public URL: {set_cookie}");
    let res = user.get(&app, "/").await;
    assert_eq!(res.headers()[LOCATION], "/issue");
    let page = user.get(&app, "/issue").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("营业执照"), "the type list");
    // The search form works without JavaScript.
    let html = user
        .get(&app, "/issue?q=%E8%90%A5%E4%B8%9A")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("营业执照"));
    assert!(!html.contains("食品经营许可证"), "filtered out");

    // Log out: the session is gone server-side, not just the cookie.
    let res = user.post(&app, "/logout", &[]).await;
    assert_eq!(res.status(), 303);
    let removal = cookie_named(&res, "crosscert_session").unwrap();
    assert!(
        removal.to_ascii_lowercase().contains("max-age=0"),
        "{removal}"
    );
    assert_eq!(user.get(&app, "/issue").await.status(), 303);
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let app =
        crate::helpers::spawn_app_with(|s| s.public_url = "https://verify.example.cn".into()).await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let (set_cookie, _) = web_login(&app, "wang").await;
    assert!(
        set_cookie.to_ascii_lowercase().contains("secure"),
        "{set_cookie}"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_without_a_session() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let client = no_redirects();
    let res = client.get(app.url("/login")).send().await.unwrap();
    let login_cookie = cookie_pair(&cookie_named(&res, "crosscert_login").unwrap());
    let csrf = csrf_of(&res.text().await.unwrap());
    let res = client
        .post(app.url("/login"))
        .header(COOKIE, &login_cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("username", "wang"),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(cookie_named(&res, "crosscert_session").is_none());
    assert!(res.text().await.unwrap().contains("用户名或密码错误"));
    // Without the login cookie's twin the form is refused (login CSRF).
    let res = client
        .post(app.url("/login"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("username", "wang"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(cookie_named(&res, "crosscert_session").is_none());
}

#[tokio::test]
async fn a_form_post_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let user = issuer_session(&app).await;
    app.create_user("liu", Role::Issuer, LANSHAN_HALL);
    let (_, other) = web_login(&app, "liu").await;
    let code = business_licence_code(&app);
    let form = example_form(&app, &code);
    let path = format!("/issue/{code}");

    let res = user.post_raw(&app, &path, &pairs(&form)).await;
    assert_eq!(res.status(), 403, "no token");
    assert!(res.text().await.unwrap().contains("表单令牌"));
    let mut with_other: Vec<(&str, &str)> = vec![("_csrf", other.csrf.as_str())];
    with_other.extend(pairs(&form));
    assert_eq!(
        user.post_raw(&app, &path, &with_other).await.status(),
        403,
        "another session's token"
    );
    let mut forged: Vec<(&str, &str)> = vec![("_csrf", "00")];
    forged.extend(pairs(&form));
    assert_eq!(
        user.post_raw(&app, &path, &forged).await.status(),
        403,
        "a made-up token"
    );
    assert_eq!(licence_count(&app), 0, "nothing was issued");
    // Logging out needs the token too (no cross-site logout).
    assert_eq!(user.post_raw(&app, "/logout", &[]).await.status(), 403);
    assert_eq!(
        user.get(&app, "/issue").await.status(),
        200,
        "still logged in"
    );
    // The same form with the token works.
    assert_eq!(user.post(&app, &path, &pairs(&form)).await.status(), 303);
    assert_eq!(licence_count(&app), 1);
}

#[tokio::test]
async fn the_issue_form_refuses_bad_input_with_the_message_next_to_the_field() {
    let app = spawn_app().await;
    let user = issuer_session(&app).await;
    let code = business_licence_code(&app);
    let t = app.state.catalog.get(&code).unwrap();
    let required = t.fields.iter().find(|f| f.required).unwrap().key.clone();
    let mut form = example_form(&app, &code);
    for (k, v) in form.iter_mut() {
        if k == "holder.code" {
            *v = "91350100M000100Y44".into(); // wrong check character
        }
        if *k == format!("fields.{required}") {
            v.clear();
        }
        if k == "holder.name" {
            *v = "<script>alert(1)</script>".into();
        }
    }
    let res = user
        .post(&app, &format!("/issue/{code}"), &pairs(&form))
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    let error_after = |field: &str| {
        let input = html
            .find(&format!("name=\"{field}\""))
            .unwrap_or_else(|| panic!("input {field}"));
        let error = html
            .find(&format!("class=\"error\" data-field=\"{field}\""))
            .unwrap_or_else(|| panic!("error for {field}"));
        // The message sits right after its own input, before the next field starts.
        assert!(error > input, "{field}");
        assert!(
            !html[input..error].contains("class=\"field"),
            "{field}'s error is next to it"
        );
        html[error..].split("</p>").next().unwrap().to_string()
    };
    assert!(error_after("holder.code").contains("统一社会信用代码不正确"));
    assert!(error_after(&format!("fields.{required}")).contains("此项必填"));
    // What was typed comes back, escaped.
    assert!(html.contains("alert(1)"));
    assert!(!html.contains("<script>alert(1)"), "escaped");
    assert_eq!(licence_count(&app), 0);
}

#[tokio::test]
async fn issuing_through_the_form_creates_a_licence_once() {
    let app = spawn_app().await;
    let user = issuer_session(&app).await;
    let code = business_licence_code(&app);
    // The example pre-fills the form.
    let html = user
        .get(&app, &format!("/issue/{code}?example=1"))
        .await
        .text()
        .await
        .unwrap();
    let ex = app.state.catalog.get(&code).unwrap().example_json();
    assert!(html.contains(ex["holder"]["name"].as_str().unwrap()));
    let idem = {
        let m = "name=\"_idem\" value=\"";
        let s = html.find(m).unwrap() + m.len();
        html[s..].split('"').next().unwrap().to_string()
    };
    let mut form = example_form(&app, &code);
    form.push(("_idem".into(), idem));
    let first = user
        .post(&app, &format!("/issue/{code}"), &pairs(&form))
        .await;
    assert_eq!(first.status(), 303);
    let location = first.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("/licences/"), "{location}");
    // A double click sends the same form again: still one licence.
    let again = user
        .post(&app, &format!("/issue/{code}"), &pairs(&form))
        .await;
    assert_eq!(again.headers()[LOCATION].to_str().unwrap(), location);
    assert_eq!(licence_count(&app), 1);

    let page = user.get(&app, &location).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("有效"));
    assert!(html.contains(ex["holder"]["name"].as_str().unwrap()));
    assert!(
        html.contains(&format!("{}/V/", app.settings.public_url.to_uppercase())),
        "the QR's verification link"
    );
    let id = location.trim_start_matches("/licences/");
    let pdf = user.get(&app, &format!("/licences/{id}/pdf")).await;
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");

    // Revoke with a reason through the form; without one the page asks for it.
    let res = user
        .post(
            &app,
            &format!("/licences/{id}/status"),
            &[("action", "revoke"), ("reason", "")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = user
        .post(
            &app,
            &format!("/licences/{id}/status"),
            &[("action", "revoke"), ("reason", "违法经营")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = user.get(&app, &location).await.text().await.unwrap();
    assert!(html.contains("吊销"));
    assert!(html.contains("违法经营"));
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary_with_caching() {
    let app = spawn_app().await;
    let res = app.get("/static/app.css", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert!(res.text().await.unwrap().contains("@media print"));
}

/// Lease the job to its hall and record it printed on the hall's first demo sheets, as the
/// agent will (the agent protocol is not in this branch).
fn print_job(app: &TestApp, job_id: &str, hall: &str) {
    use crosscert::distribution::jobs;
    let mut conn = lease(app, job_id, hall);
    let now = app.clock.now_utc();
    let serial = format!("{}000001", crosscert::demo::demo_stock_prefix(hall));
    crosscert::storage::write_tx(&mut conn, |c| {
        jobs::record_printed(
            c,
            job_id,
            std::slice::from_ref(&serial),
            &format!("agent:{hall}"),
            now,
        )
    })
    .unwrap();
}

/// Lease the job to its hall for five minutes, as the hall's agent's claim does.
fn lease(app: &TestApp, job_id: &str, hall: &str) -> crosscert::storage::PooledConn {
    let mut conn = app.state.pool.get().unwrap();
    let now = app.clock.now_utc();
    crosscert::distribution::jobs::lease_job(
        &mut conn,
        job_id,
        hall,
        "lease-hash",
        now + chrono::Duration::minutes(5),
        now,
    )
    .unwrap();
    conn
}

pub(crate) fn text_between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let s = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in page"))
        + start.len();
    html[s..].split(end).next().unwrap()
}

#[tokio::test]
async fn a_hall_operator_cannot_open_another_halls_queue_or_stock() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    let (_, op) = web_login(&app, "zhou").await;
    assert_eq!(op.get(&app, "/").await.headers()[LOCATION], "/hall");
    let own = op.get(&app, "/hall").await;
    assert_eq!(own.status(), 200);
    assert!(
        own.text().await.unwrap().contains("http-equiv=\"refresh\""),
        "the queue reloads itself"
    );
    assert_eq!(
        op.get(&app, &format!("/hall?hall={PIZHOU_PARTNER}"))
            .await
            .status(),
        200
    );
    for path in [
        format!("/hall?hall={LANSHAN_HALL}"),
        format!("/hall?hall={LANSHAN_HALL}&state=queued"),
        format!("/hall/stock?hall={LANSHAN_HALL}"),
    ] {
        let res = op.get(&app, &path).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    let stock = op.get(&app, "/hall/stock").await.text().await.unwrap();
    assert!(stock.contains(&crosscert::demo::demo_first_serial(PIZHOU_PARTNER)));
    // Issuing is window staff's work.
    let code = business_licence_code(&app);
    let form = example_form(&app, &code);
    assert_eq!(
        op.post(&app, &format!("/issue/{code}"), &pairs(&form))
            .await
            .status(),
        403
    );
    assert_eq!(licence_count(&app), 0);
}

/// A job queued from the staff page wakes its hall's waiting agent at once, like one queued
/// through the API, even after the agent's last look found the queue empty (the server then
/// answers idle looks from memory until something wakes the hall).
#[tokio::test]
async fn a_job_queued_from_the_page_wakes_a_waiting_agent_at_once() {
    use serde_json::{json, Value};
    use std::time::{Duration, Instant};
    let app = spawn_app().await;
    let issuer = issuer_session(&app).await;
    let admin = app
        .staff("root", Role::Admin, crate::helpers::CITY_HALL)
        .await;
    let res = app
        .post_json(
            "/api/v1/agent-tokens",
            Some(&admin),
            &json!({"hall": PIZHOU_PARTNER}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let agent = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claim = |wait_s: u64| {
        let (url, agent) = (app.url("/api/v1/agent/claim"), agent.clone());
        async move {
            let res = reqwest::Client::new()
                .post(url)
                .bearer_auth(agent)
                .json(&json!({"max": 1, "wait_s": wait_s}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["jobs"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    // An empty look: the hall is now known to have nothing queued.
    assert!(claim(1).await.is_empty());
    assert!(
        claim(1).await.is_empty(),
        "answered from memory, still empty"
    );
    let licence_page = issue_through_form(&app, &issuer).await;
    let id = licence_page.trim_start_matches("/licences/").to_string();

    let started = Instant::now();
    let waiter = claim(30);
    let queue = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        issuer
            .post(
                &app,
                &format!("/licences/{id}/print"),
                &[("hall", PIZHOU_PARTNER), ("copies", "original")],
            )
            .await
            .status()
    };
    let (jobs, status) = tokio::join!(waiter, queue);
    assert_eq!(status, 201);
    assert_eq!(jobs.len(), 1, "woken with the page's job");
    assert_eq!(jobs[0]["licence_id"], id);
    // Without a wake-up the waiter would look again only after 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken at once: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn queue_and_pickup_through_forms() {
    let app = spawn_app().await;
    let issuer = issuer_session(&app).await;
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    let (_, op) = web_login(&app, "zhou").await;
    let licence_page = issue_through_form(&app, &issuer).await;
    let id = licence_page.trim_start_matches("/licences/").to_string();

    // The nearest halls for a place the holder names: the partner county is offered, marked.
    let html = issuer
        .get(&app, &format!("/licences/{id}/print"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("江苏省 徐州市 邳州市"),
        "places from the halls register"
    );
    let place = "江苏省 徐州市 邳州市";
    let html = issuer
        .get(
            &app,
            &format!("/licences/{id}/print?place={}", place.replace(' ', "+")),
        )
        .await
        .text()
        .await
        .unwrap();
    let first = text_between(&html, "name=\"hall\" value=\"", "\"");
    assert_eq!(first, PIZHOU_PARTNER, "nearest first");
    assert!(html.contains("跨省合作"));
    assert!(html.contains("公里"));
    let res = issuer
        .get(&app, &format!("/licences/{id}/print?near=abc"))
        .await;
    assert_eq!(res.status(), 400);

    // No copy chosen: the form says so, nothing is queued.
    let res = issuer
        .post(
            &app,
            &format!("/licences/{id}/print"),
            &[("hall", PIZHOU_PARTNER)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = issuer
        .post(
            &app,
            &format!("/licences/{id}/print"),
            &[("hall", PIZHOU_PARTNER), ("copies", "original")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let slip = res.text().await.unwrap();
    let code = text_between(&slip, "id=\"pickup-code\">", "<").to_string();
    let job = text_between(&slip, "id=\"job-id\">", "<").to_string();
    assert_eq!(code.len(), 8, "{code}");
    assert!(slip.contains("邳州市政务服务中心"));
    assert!(
        text_between(&slip, "id=\"pickup-mode\">", "<").starts_with("窗口领取"),
        "a counter job's slip says so"
    );
    // The code is shown once: the job's pages never show it again.
    let job_page = issuer
        .get(&app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!job_page.contains(&code));

    let queued = op
        .get(&app, "/hall?state=queued")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        queued.contains(&job),
        "the partner hall sees the job queued"
    );
    print_job(&app, &job, PIZHOU_PARTNER);
    let printed = op
        .get(&app, "/hall?state=printed")
        .await
        .text()
        .await
        .unwrap();
    assert!(printed.contains(&job));

    let holder = app
        .state
        .catalog
        .get(&business_licence_code(&app))
        .unwrap()
        .example_json()["holder"]["code"]
        .as_str()
        .unwrap()
        .to_string();
    // The issuing hall's window staff cannot hand it over, nor can a wrong code.
    let res = issuer
        .post(
            &app,
            "/pickups",
            &[
                ("job_id", &job),
                ("pickup_code", &code),
                ("recipient_code", &holder),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = op
        .post(
            &app,
            "/pickups",
            &[
                ("job_id", &job),
                ("pickup_code", "00000000"),
                ("recipient_code", &holder),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("还可尝试 4 次"));
    let res = op
        .post(
            &app,
            "/pickups",
            &[
                ("job_id", &job),
                ("pickup_code", &code),
                ("recipient_code", &holder.to_lowercase()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-state=\"collected\""), "collected");
    let stock = op.get(&app, "/hall/stock").await.text().await.unwrap();
    assert!(
        stock.contains("id=\"stock-left\">499<"),
        "one sheet printed"
    );
    // A spoiled blank sheet is voided with its reason; a used one cannot be.
    let used = format!(
        "{}000001",
        crosscert::demo::demo_stock_prefix(PIZHOU_PARTNER)
    );
    let spoiled = format!(
        "{}000002",
        crosscert::demo::demo_stock_prefix(PIZHOU_PARTNER)
    );
    assert_eq!(
        op.post(
            &app,
            "/hall/stock/void",
            &[("serial", &used), ("reason", "卡纸")]
        )
        .await
        .status(),
        409
    );
    let res = op
        .post(
            &app,
            "/hall/stock/void",
            &[("serial", &spoiled), ("reason", "卡纸")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"stock-left\">498<"));
}

#[tokio::test]
async fn admin_pages_need_the_admin_role_and_show_tokens_once() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("root", Role::Admin, crate::helpers::CITY_HALL);
    app.create_user("wang", Role::Issuer, LANSHAN_HALL);
    let (_, admin) = web_login(&app, "root").await;
    let (_, issuer) = web_login(&app, "wang").await;
    for path in [
        "/admin",
        "/admin/halls",
        "/admin/stock",
        "/admin/users",
        "/admin/agent-tokens",
        "/admin/keys",
    ] {
        assert_eq!(admin.get(&app, path).await.status(), 200, "{path}");
        assert_eq!(issuer.get(&app, path).await.status(), 403, "{path}");
    }
    assert_eq!(
        issuer
            .post(&app, "/admin/agent-tokens", &[("hall", PIZHOU_PARTNER)])
            .await
            .status(),
        403
    );

    // An expired partner agreement (the demo register has one) is highlighted.
    let html = admin.get(&app, "/admin/halls").await.text().await.unwrap();
    assert!(
        html.contains("class=\"expired\""),
        "expired agreements are marked"
    );
    assert!(html.contains("已过期"));

    // A token is shown once, then listed without it, then revoked.
    let res = admin
        .post(&app, "/admin/agent-tokens", &[("hall", PIZHOU_PARTNER)])
        .await;
    assert_eq!(res.status(), 201);
    let html = res.text().await.unwrap();
    let token = text_between(&html, "id=\"new-token\">", "<").to_string();
    assert!(token.len() >= 40);
    let who = app
        .client
        .get(app.url("/api/v1/agent/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 200);
    let list = admin
        .get(&app, "/admin/agent-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&token));
    let id = text_between(&list, "action=\"/admin/agent-tokens/", "/revoke").to_string();
    let res = admin
        .post(&app, &format!("/admin/agent-tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 303);
    let who = app
        .client
        .get(app.url("/api/v1/agent/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 401);

    // Accounts and stock batches through forms; refusals come back on the page.
    let res = admin
        .post(
            &app,
            "/admin/users",
            &[
                ("username", "zhou"),
                ("password", PASSWORD),
                ("role", "hall_operator"),
                ("hall", PIZHOU_PARTNER),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    web_login(&app, "zhou").await;
    let res = admin
        .post(
            &app,
            "/admin/users",
            &[
                ("username", "zhou"),
                ("password", PASSWORD),
                ("role", "issuer"),
                ("hall", LANSHAN_HALL),
            ],
        )
        .await;
    assert_eq!(res.status(), 409);
    let res = admin
        .post(
            &app,
            "/admin/stock",
            &[
                ("hall", PIZHOU_PARTNER),
                ("first_serial", "ZZ00000001"),
                ("count", "100"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = admin
        .post(
            &app,
            "/admin/stock",
            &[
                ("hall", PIZHOU_PARTNER),
                ("first_serial", "ZZ00000050"),
                ("count", "10"),
            ],
        )
        .await;
    assert_eq!(res.status(), 409, "overlapping batch");
    let res = admin
        .post(
            &app,
            "/admin/stock",
            &[
                ("hall", PIZHOU_PARTNER),
                ("first_serial", "ZZ00000500"),
                ("count", "many"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let html = admin
        .get(&app, &format!("/admin/stock?hall={PIZHOU_PARTNER}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("ZZ00000100"), "the batch's last serial");
    let keys = admin.get(&app, "/admin/keys").await.text().await.unwrap();
    assert!(keys.contains("id=\"active-kid\""));
}

#[tokio::test]
async fn the_dashboard_counts_jobs_and_the_partner_share() {
    let app = spawn_app().await;
    let issuer = issuer_session(&app).await;
    app.create_user("root", Role::Admin, crate::helpers::CITY_HALL);
    let (_, admin) = web_login(&app, "root").await;
    let empty = admin.get(&app, "/dashboard").await.text().await.unwrap();
    assert!(empty.contains("id=\"jobs-total\">0<"));
    let id = issue_through_form(&app, &issuer).await;
    let id = id.trim_start_matches("/licences/");
    let slip = issuer
        .post(
            &app,
            &format!("/licences/{id}/print"),
            &[("hall", PIZHOU_PARTNER), ("copies", "original")],
        )
        .await
        .text()
        .await
        .unwrap();
    let job = text_between(&slip, "id=\"job-id\">", "<").to_string();
    app.clock.advance(chrono::Duration::minutes(30));
    print_job(&app, &job, PIZHOU_PARTNER);
    // Half an hour without a request: the session has gone idle; sign in again.
    let (_, admin) = web_login(&app, "root").await;
    let html = admin.get(&app, "/dashboard").await.text().await.unwrap();
    assert!(html.contains("id=\"jobs-total\">1<"));
    assert!(
        html.contains("id=\"partner-share\">100%"),
        "printed at a partner"
    );
    assert!(html.contains("30 分钟"), "median queued -> printed");
    assert!(html.contains("<svg class=\"bars\""));
    assert!(html.contains("邳州市政务服务中心"));
}

/// Lease the job to its hall, let the lease run out and the sweeper move it to
/// `needs_reconciliation`, as a crashed agent would leave it.
fn lose_job(app: &TestApp, job_id: &str, hall: &str) {
    use crosscert::distribution::protocol;
    let mut conn = lease(app, job_id, hall);
    app.clock.advance(chrono::Duration::minutes(10));
    let moved = protocol::sweep_expired_leases(&mut conn, app.clock.now_utc()).unwrap();
    assert!(moved.iter().any(|m| m == job_id), "swept: {moved:?}");
}

async fn job_state(user: &WebUser, app: &TestApp, job: &str) -> String {
    let html = user
        .get(app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    text_between(&html, "class=\"pill\" data-state=\"", "\"").to_string()
}

#[tokio::test]
async fn hall_staff_settle_a_lost_job_on_its_page_and_a_reprint_needs_voided_sheets() {
    let app = spawn_app().await;
    let issuer = issuer_session(&app).await;
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    app.create_user("lihua", Role::HallOperator, LANSHAN_HALL);
    app.create_user("chen", Role::HallOperator, crate::helpers::CITY_HALL);
    let (_, op) = web_login(&app, "zhou").await;
    let (_, issuing_hall) = web_login(&app, "lihua").await;
    let (_, unrelated_hall) = web_login(&app, "chen").await;
    let licence_page = issue_through_form(&app, &issuer).await;
    let res = issuer
        .post(
            &app,
            &format!("{licence_page}/print"),
            &[("hall", PIZHOU_PARTNER), ("copies", "original")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let job = text_between(&res.text().await.unwrap(), "id=\"job-id\">", "<").to_string();
    lose_job(&app, &job, PIZHOU_PARTNER);
    let prefix = crosscert::demo::demo_stock_prefix(PIZHOU_PARTNER);
    let (first, second) = (format!("{prefix}000001"), format!("{prefix}000002"));

    // The queue's 待核对 tab lists it; its page offers the form to the target hall only.
    let listed = op
        .get(&app, "/hall?state=needs_reconciliation")
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&job));
    let page = op
        .get(&app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"resolve\""), "the operator's form");
    let issuer_view = issuer
        .get(&app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!issuer_view.contains("id=\"resolve\""));
    let path = format!("/jobs/{job}/resolve");

    // Refusals come back next to their field, and change nothing.
    let res = op.post(&app, &path, &[("reason", "x")]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("data-field=\"outcome\""));
    let res = op.post(&app, &path, &[("outcome", "not_printed")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-field=\"voided_serials\""), "{html}");
    assert!(html.contains("作废"));
    let foreign = format!("{}000001", crosscert::demo::demo_stock_prefix(LANSHAN_HALL));
    let res = op
        .post(
            &app,
            &path,
            &[("outcome", "not_printed"), ("voided_serials", &foreign)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("不在本厅登记的库存中"));
    assert!(
        html.contains(&format!(">{foreign}</textarea>")),
        "what was typed stays"
    );
    let res = op
        .post(&app, &path, &[("outcome", "printed"), ("sheets", "")])
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("data-field=\"sheets\""));
    // Without the form token, or from another hall: refused.
    assert_eq!(
        op.post_raw(
            &app,
            &path,
            &[("outcome", "not_printed"), ("no_sheet_taken", "1")]
        )
        .await
        .status(),
        403
    );
    // The issuing hall's operator sees the job but does not settle another hall's paper;
    // a hall with no part in it does not see the job at all.
    let res = issuing_hall
        .post(
            &app,
            &path,
            &[("outcome", "not_printed"), ("no_sheet_taken", "1")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = unrelated_hall
        .post(
            &app,
            &path,
            &[("outcome", "not_printed"), ("no_sheet_taken", "1")],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(job_state(&op, &app, &job).await, "needs_reconciliation");

    // The jammed sheet is voided and the job goes back to the queue.
    let res = op
        .post(
            &app,
            &path,
            &[
                ("outcome", "not_printed"),
                ("voided_serials", &first.to_lowercase()),
                ("reason", "卡纸"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("已退回打印队列"));
    assert_eq!(job_state(&op, &app, &job).await, "queued");
    let stock = op.get(&app, "/hall/stock").await.text().await.unwrap();
    assert!(stock.contains("id=\"stock-left\">499<"), "one sheet voided");

    // Lost again, but this time the paper came out: recorded printed on its sheet.
    lose_job(&app, &job, PIZHOU_PARTNER);
    let res = op
        .post(
            &app,
            &path,
            &[("outcome", "printed"), ("sheets", &format!(" {second}\n"))],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("已记录为已打印"));
    assert_eq!(job_state(&op, &app, &job).await, "printed");
    // Settled once: a second answer is a conflict, not a second record.
    let res = op
        .post(&app, &path, &[("outcome", "printed"), ("sheets", &second)])
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_failed_job_is_requeued_with_the_button_on_its_page() {
    let app = spawn_app().await;
    let issuer = issuer_session(&app).await;
    app.create_user("zhou", Role::HallOperator, PIZHOU_PARTNER);
    app.create_user("chen", Role::HallOperator, crate::helpers::CITY_HALL);
    let (_, op) = web_login(&app, "zhou").await;
    let (_, unrelated_hall) = web_login(&app, "chen").await;
    let licence_page = issue_through_form(&app, &issuer).await;
    let res = issuer
        .post(
            &app,
            &format!("{licence_page}/print"),
            &[("hall", PIZHOU_PARTNER), ("copies", "original")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let job = text_between(&res.text().await.unwrap(), "id=\"job-id\">", "<").to_string();
    let path = format!("/jobs/{job}/requeue");
    let no_fields: &[(&str, &str)] = &[];

    // A queued job has no button, and posting anyway is a conflict that changes nothing.
    let page = op
        .get(&app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"requeue\""));
    let res = op.post(&app, &path, no_fields).await;
    assert_eq!(res.status(), 409);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("只有“打印失败”的任务可以重新排队"));

    // Every attempt failed with nothing printed (the agent protocol's path is tested in
    // agent_protocol.rs): the button appears for the target hall's operator.
    {
        use crosscert::storage::schema::print_jobs;
        use diesel::prelude::*;
        let mut conn = app.state.pool.get().unwrap();
        diesel::update(print_jobs::table.find(&job))
            .set((print_jobs::state.eq("failed"), print_jobs::attempts.eq(3)))
            .execute(&mut *conn)
            .unwrap();
    }
    let page = op
        .get(&app, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"requeue\""), "the operator's button");
    assert!(page.contains("重新排队"));
    // Without the form token, or from a hall with no part in the job: refused.
    assert_eq!(op.post_raw(&app, &path, no_fields).await.status(), 403);
    assert_eq!(
        unrelated_hall.post(&app, &path, no_fields).await.status(),
        404
    );
    assert_eq!(job_state(&op, &app, &job).await, "failed");

    let res = op.post(&app, &path, no_fields).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("已重新排队"));
    assert_eq!(job_state(&op, &app, &job).await, "queued");
}
