//! The pages of issue 25 without a browser: department clients (token shown once) and the
//! access log for administrators; share codes for window staff, their slip and lookups; the
//! public `/share` page.

use crate::helpers::{spawn_app, CITY_HALL, LANSHAN_HALL};
use crate::licences::{business_licence_code, example_body, issue};
use crate::web::{text_between as between, web_login};
use crosscert::domain::role::Role;
use serde_json::Value;

#[tokio::test]
async fn dept_client_pages_share_pages_and_the_public_share_page() {
    let app = spawn_app().await;
    app.seed_halls();
    app.create_user("root", Role::Admin, CITY_HALL);
    let api = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    let code = business_licence_code(&app);
    let bl = issue(&app, &api, &example_body(&app, &api, &code).await).await;
    let holder = bl["holder"]["code"].as_str().unwrap().to_string();
    let (_, admin) = web_login(&app, "root").await;
    let (_, issuer) = web_login(&app, "wang").await;

    for path in ["/admin/dept-clients", "/admin/dept-access"] {
        assert_eq!(admin.get(&app, path).await.status(), 200, "{path}");
        assert_eq!(issuer.get(&app, path).await.status(), 403, "{path}");
    }
    // Nothing granted: refused with what to do.
    let res = admin
        .post(
            &app,
            "/admin/dept-clients",
            &[("name", "公积金中心"), ("types", "")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("至少授权"));
    // The token is shown once and works on the department API.
    let res = admin
        .post(
            &app,
            "/admin/dept-clients",
            &[
                ("name", "公积金中心"),
                ("types", &code),
                ("domains", "transport"),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    let html = res.text().await.unwrap();
    let token = between(&html, "id=\"new-dept-token\">", "<").to_string();
    let res = app
        .get(&format!("/api/v1/dept/licences?holder_code={holder}&purpose=%E5%8A%9E%E7%90%86%E8%B4%B7%E6%AC%BE"), Some(&token))
        .await;
    assert_eq!(res.status(), 200);
    let list = admin
        .get(&app, "/admin/dept-clients")
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&token) && list.contains("公积金中心") && list.contains("transport"));
    // The access log page shows the access, by holder code.
    let log = admin
        .get(&app, &format!("/admin/dept-access?holder_code={holder}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("办理贷款") && log.contains(bl["identifier"].as_str().unwrap()),
        "{log}"
    );
    assert_eq!(
        admin
            .get(&app, "/admin/dept-access?holder_code=123")
            .await
            .status(),
        422
    );
    let id = between(&list, "action=\"/admin/dept-clients/", "/revoke").to_string();
    assert_eq!(
        admin
            .post(&app, &format!("/admin/dept-clients/{id}/revoke"), &[])
            .await
            .status(),
        303
    );
    let res = app
        .get(
            &format!("/api/v1/dept/licences?holder_code={holder}&purpose=abcd"),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 401);

    // Window staff: the holder's valid licences to tick, then the slip with the code.
    let page = issuer
        .get(&app, &format!("/shares?holder_code={holder}"))
        .await
        .text()
        .await
        .unwrap();
    let id = bl["id"].as_str().unwrap();
    assert!(page.contains(&format!("value=\"{id}\"")), "{page}");
    let res = issuer
        .post(
            &app,
            "/shares",
            &[
                ("holder_code", &holder),
                ("licence_ids", id),
                ("valid_days", "7"),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    let slip = res.text().await.unwrap();
    let share_code = between(&slip, "id=\"share-code\">", "<").to_string();
    assert_eq!(share_code.len(), 11, "grouped: {share_code}");
    let share_id = between(&slip, "href=\"/shares/", "\"").to_string();
    let res = issuer
        .post(
            &app,
            "/shares",
            &[("holder_code", &holder), ("valid_days", "7")],
        )
        .await;
    assert_eq!(res.status(), 400);

    // The public page: no session; both codes.
    let public = reqwest::Client::new();
    let res = public
        .post(app.url("/share"))
        .form(&[
            ("share_code", share_code.as_str()),
            ("holder_code", &holder),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("真实有效") && html.contains("王建国"),
        "{html}"
    );
    let res = public
        .post(app.url("/share"))
        .form(&[
            ("share_code", share_code.as_str()),
            ("holder_code", "91371311MA3F5J2R9L"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("没有与该分享码和持证主体代码相符的分享"));
    assert_eq!(
        public.get(app.url("/share")).send().await.unwrap().status(),
        200
    );

    // Staff see both lookups on the share's page, then revoke it.
    let page = issuer
        .get(&app, &format!("/shares/{share_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已显示") && page.contains("持证主体代码不符"),
        "{page}"
    );
    let res = issuer
        .post(&app, &format!("/shares/{share_id}/revoke"), &[])
        .await;
    assert_eq!(res.status(), 303);
    let view: Value = app
        .get(&format!("/api/v1/shares/{share_id}"), Some(&api))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"], "revoked");

    // The issue form offers 从已有证照填写 and fills from the business licence.
    let food = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| t.catalog_no == 4)
        .unwrap()
        .code
        .clone();
    let form = issuer
        .get(&app, &format!("/issue/{food}?prefill={holder}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("从已有证照填写")
            && form.contains("data-prefilled=\"fields.legal_representative\""),
        "{form}"
    );
    let res = issuer
        .get(&app, &format!("/issue/{food}?prefill=91371302MA3C8KQX76"))
        .await;
    assert_eq!(res.status(), 422);
}
