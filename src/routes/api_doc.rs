//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated. Each handler carries
//! its `#[utoipa::path]`; `routes::configure` registers it through utoipa-actix-web, which
//! adds its operation and schemas (from `crate::wire`) to the document as it mounts the route,
//! so a registered API handler cannot be missing from the document. The committed snapshot
//! `docs/openapi.json` is compared with this document by a test (`UPDATE_OPENAPI=1` rewrites
//! it).

use crate::wire::ErrorBody;
use actix_web::{get, HttpResponse};
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Response};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt;

/// What the handlers do not say: title, version, security schemes, the error body.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "crosscert",
        description = "Sealed electronic licences (电子证照), their printing at halls, and their verification. Errors: every non-2xx answer under /api/v1 is an ErrorBody `{error, message}`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "operations", description = "liveness, readiness, metrics"),
        (name = "staff", description = "sign-in, accounts, agent tokens"),
        (name = "catalog", description = "certificate types"),
        (name = "licences", description = "issuing and the licence lifecycle"),
        (name = "halls", description = "halls, agreements, stock"),
        (name = "print jobs", description = "print jobs and pickups"),
        (name = "agent", description = "the hall print agent protocol"),
        (name = "dept", description = "department checks (部门核验): a department client token"),
        (name = "public", description = "verification and the signed lists (no authentication)")
    )
)]
pub struct BaseDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc
            .components
            .get_or_insert_with(utoipa::openapi::Components::new);
        let mut staff = Http::new(HttpAuthScheme::Bearer);
        staff.description = Some("a session token from POST /api/v1/sessions".into());
        let mut agent = Http::new(HttpAuthScheme::Bearer);
        agent.description = Some(
            "a hall agent token (crosscert admin agent-token), or a hall client certificate over mutual TLS"
                .into(),
        );
        components.add_security_scheme("staff", SecurityScheme::Http(staff));
        components.add_security_scheme("agent", SecurityScheme::Http(agent));
        let mut dept = Http::new(HttpAuthScheme::Bearer);
        dept.description = Some(
            "a department client token (crosscert admin dept-client, or /admin/dept-clients)"
                .into(),
        );
        components.add_security_scheme("dept", SecurityScheme::Http(dept));
    }
}

/// Every operation under `/api/v1` answers errors as an `ErrorBody`.
fn add_error_responses(doc: &mut OpenApi) {
    let error: RefOr<Response> = utoipa::openapi::ResponseBuilder::new()
        .description("an error: `{error, message}` with the status of API.md \"Errors\"")
        .content(
            "application/json",
            utoipa::openapi::content::Content::new(Some(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            ))),
        )
        .into();
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| error.clone());
        }
    }
}

/// The document, built by registering the routes on a throw-away app (the same
/// `routes::configure` the server mounts).
pub fn document() -> OpenApi {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(BaseDoc::openapi())
        .configure(super::configure)
        .split_for_parts();
    add_error_responses(&mut doc);
    doc
}

/// The document as pretty JSON (what is served and what the snapshot holds).
pub fn document_json() -> String {
    document().to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        "{}".to_string()
    })
}

/// The OpenAPI 3.1 description of every route.
#[utoipa::path(tag = "operations", responses((status = 200, description = "this document", body = Object)))]
#[get("/api/v1/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOC.get_or_init(document_json).clone())
}
