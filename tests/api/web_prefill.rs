//! 从已有证照填写 in a real browser: window staff open the food business licence's issue
//! form, fill it from the holder's business licence with one button, see the filled fields
//! marked with their source, complete the rest and issue. Skipped (with a message) where
//! Chromium is not installed, like the other browser tests.

use crate::helpers::{spawn_app, LANSHAN_HALL};
use crate::licences::{business_licence_code, example_body, issue};
use crate::web_browser::{browser, click_then, el, fill, log_in, path, start_driver};
use crosscert::domain::role::Role;
use serde_json::Value;

#[tokio::test]
async fn browser_fills_an_issue_form_from_an_existing_licence() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = spawn_app().await;
    app.seed_halls();
    let token = app.staff("wang", Role::Issuer, LANSHAN_HALL).await;
    let bl_code = business_licence_code(&app);
    let bl = issue(&app, &token, &example_body(&app, &token, &bl_code).await).await;
    let holder = bl["holder"]["code"].as_str().unwrap().to_string();
    let food = app
        .state
        .catalog
        .types()
        .iter()
        .find(|t| t.catalog_no == 4)
        .unwrap()
        .clone();

    let c = browser(&driver).await;
    log_in(&c, &app, "wang", "#q").await;
    c.goto(&app.url(&format!("/issue/{}", food.code)))
        .await
        .unwrap();
    fill(&c, "#prefill-holder", &holder).await;
    click_then(&c, "#prefill-button", "#prefill-note").await;
    // The filled fields carry the business licence's values and say where they came from.
    let lr = el(&c, "input[name='fields.legal_representative']").await;
    assert_eq!(lr.prop("value").await.unwrap().as_deref(), Some("王建国"));
    let name = el(&c, "input[name='holder.name']").await;
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some("临沂市兰山区鑫源食品有限公司")
    );
    let source = el(&c, "p[data-prefilled='fields.legal_representative']")
        .await
        .text()
        .await
        .unwrap();
    assert!(source.contains("营业执照（企业）"), "{source}");
    assert!(
        source.contains(bl["licence_no"].as_str().unwrap()),
        "{source}"
    );
    el(
        &c,
        ".field.prefilled textarea, .field.prefilled input[name='fields.domicile']",
    )
    .await;
    // A field no licence holds is left empty and unmarked.
    let premises = el(&c, "input[name='fields.premises']").await;
    assert_eq!(premises.prop("value").await.unwrap().as_deref(), Some(""));
    assert!(c
        .find(fantoccini::Locator::Css(
            "p[data-prefilled='fields.premises']"
        ))
        .await
        .is_err());

    // Complete what is left (from the catalog's example) and issue.
    for f in &food.fields {
        let css = format!("[name='fields.{}']", f.key);
        let current = el(&c, &css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if current.is_empty() {
            let v = food.example.fields.get(&f.key).cloned().unwrap_or_default();
            c.execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![Value::from(css), Value::from(v)],
            )
            .await
            .unwrap();
        }
    }
    c.execute(
        "document.querySelector(\"[name='valid_to']\").value = arguments[0];",
        vec![Value::from(
            food.example.valid_to.clone().unwrap_or_default(),
        )],
    )
    .await
    .unwrap();
    let status = click_then(
        &c,
        "form.record button[type=submit]:not([formaction])",
        "[data-status]",
    )
    .await;
    assert_eq!(status.text().await.unwrap(), "有效");
    let id = path(&c).await.trim_start_matches("/licences/").to_string();
    let issued: Value = app
        .get(&format!("/api/v1/licences/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(issued["type_code"], food.code.as_str());
    assert_eq!(issued["holder"]["code"], holder.as_str());
    assert_eq!(issued["fields"]["legal_representative"], "王建国");
    assert_eq!(issued["fields"]["domicile"], bl["fields"]["domicile"]);
    c.close().await.unwrap();
}
