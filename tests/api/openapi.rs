//! The OpenAPI description stays true: every documented operation exists on the server.

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in crosscert::routes::openapi::documented_operations() {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
        let concrete = path.replace("{id}", "1").replace("{code}", "X");
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
            !body.contains("no route for"),
            "{method} {path} is documented but not served ({status})"
        );
    }
}
