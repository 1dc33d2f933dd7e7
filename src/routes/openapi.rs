//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every route. Written as data
//! here (one line per operation) and checked by a test that calls every documented path.

use actix_web::{get, HttpResponse};
use serde_json::{json, Map, Value};

/// (method, path, tag, summary, auth, request body schema, success status, response schema)
type Op = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Auth,
    Option<&'static str>,
    u16,
    &'static str,
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Staff,
    Agent,
}

pub const OPERATIONS_COUNT: usize = OPERATIONS.len();

const OPERATIONS: &[Op] = &[
    (
        "get",
        "/healthz",
        "operations",
        "Liveness",
        Auth::None,
        None,
        200,
        "Status",
    ),
    (
        "get",
        "/readyz",
        "operations",
        "Readiness: database reachable and a signer in its signing period",
        Auth::None,
        None,
        200,
        "Status",
    ),
    (
        "get",
        "/metrics",
        "operations",
        "Prometheus metrics (text): http_requests_total, http_request_duration_seconds, db_statements_total (every statement sent to the database)",
        Auth::None,
        None,
        200,
        "Text",
    ),
    (
        "get",
        "/api/v1/openapi.json",
        "operations",
        "This description",
        Auth::None,
        None,
        200,
        "Object",
    ),
    (
        "post",
        "/api/v1/sessions",
        "staff",
        "Log in: a bearer token",
        Auth::None,
        Some("Login"),
        200,
        "Session",
    ),
    (
        "delete",
        "/api/v1/sessions",
        "staff",
        "Log out",
        Auth::Staff,
        None,
        204,
        "Empty",
    ),
    (
        "get",
        "/api/v1/users",
        "staff",
        "Staff accounts (admin)",
        Auth::Staff,
        None,
        200,
        "UserList",
    ),
    (
        "post",
        "/api/v1/users",
        "staff",
        "Create a staff account (admin)",
        Auth::Staff,
        Some("NewUser"),
        201,
        "User",
    ),
    (
        "post",
        "/api/v1/agent-tokens",
        "staff",
        "Issue a hall agent token, shown once (admin)",
        Auth::Staff,
        Some("NewAgentToken"),
        201,
        "AgentToken",
    ),
    (
        "get",
        "/api/v1/agent-tokens",
        "staff",
        "List agent tokens, optionally ?hall=CODE (admin)",
        Auth::Staff,
        None,
        200,
        "AgentTokenList",
    ),
    (
        "post",
        "/api/v1/agent-tokens/{id}/revoke",
        "staff",
        "Revoke an agent token (admin)",
        Auth::Staff,
        None,
        200,
        "Object",
    ),
    (
        "get",
        "/api/v1/agent/whoami",
        "agent",
        "The hall an agent token belongs to",
        Auth::Agent,
        None,
        200,
        "Object",
    ),
    (
        "get",
        "/api/v1/halls",
        "halls",
        "Every hall; with cert_type (and near=LAT,LON) the halls able to print that type now, nearest first, each with distance_km",
        Auth::Staff,
        None,
        200,
        "HallList",
    ),
    (
        "post",
        "/api/v1/halls",
        "halls",
        "Add a hall (admin)",
        Auth::Staff,
        Some("Hall"),
        201,
        "Hall",
    ),
    (
        "put",
        "/api/v1/halls/{code}",
        "halls",
        "Change a hall (admin)",
        Auth::Staff,
        Some("Hall"),
        200,
        "Hall",
    ),
    (
        "put",
        "/api/v1/halls/{code}/agreement",
        "halls",
        "Set a partner's agreement (admin)",
        Auth::Staff,
        Some("Agreement"),
        200,
        "Hall",
    ),
    (
        "get",
        "/api/v1/cert-types",
        "catalog",
        "The 102 certificate types",
        Auth::Staff,
        None,
        200,
        "CertTypeList",
    ),
    (
        "get",
        "/api/v1/cert-types/{code}",
        "catalog",
        "One type with its fields and a complete example record",
        Auth::Staff,
        None,
        200,
        "CertType",
    ),
    (
        "post",
        "/api/v1/cert-types/{code}/preview",
        "catalog",
        "Specimen (样本) PDF from an example-shaped record",
        Auth::Staff,
        Some("Record"),
        200,
        "Pdf",
    ),
    (
        "post",
        "/api/v1/licences",
        "licences",
        "Issue a sealed licence (issuer); honours Idempotency-Key",
        Auth::Staff,
        Some("NewLicence"),
        201,
        "Licence",
    ),
    (
        "get",
        "/api/v1/licences/{id}",
        "licences",
        "A licence with its versions and history",
        Auth::Staff,
        None,
        200,
        "Licence",
    ),
    (
        "get",
        "/api/v1/licences/{id}/pdf",
        "licences",
        "The electronic licence (电子证照) PDF with its real QR",
        Auth::Staff,
        None,
        200,
        "Pdf",
    ),
    (
        "post",
        "/api/v1/licences/{id}/suspend",
        "licences",
        "Suspend (暂扣)",
        Auth::Staff,
        Some("Reason"),
        200,
        "Licence",
    ),
    (
        "post",
        "/api/v1/licences/{id}/reinstate",
        "licences",
        "Reinstate a suspended licence",
        Auth::Staff,
        Some("Reason"),
        200,
        "Licence",
    ),
    (
        "post",
        "/api/v1/licences/{id}/rescind",
        "licences",
        "Rescind (撤销)",
        Auth::Staff,
        Some("Reason"),
        200,
        "Licence",
    ),
    (
        "post",
        "/api/v1/licences/{id}/cancel",
        "licences",
        "Cancel (注销)",
        Auth::Staff,
        Some("Reason"),
        200,
        "Licence",
    ),
    (
        "post",
        "/api/v1/licences/{id}/revoke",
        "licences",
        "Revoke (吊销)",
        Auth::Staff,
        Some("Reason"),
        200,
        "Licence",
    ),
    (
        "post",
        "/api/v1/licences/{id}/versions",
        "licences",
        "A change: new version, the old one superseded",
        Auth::Staff,
        Some("Record"),
        201,
        "Licence",
    ),
    (
        "get",
        "/api/v1/trust-list",
        "public",
        "The root and every signer with its kid",
        Auth::None,
        None,
        200,
        "TrustList",
    ),
    (
        "get",
        "/api/v1/verify",
        "public",
        "The verdict on a QR text (query `code`, up to 4096 bytes): 200 for any code however broken; 400 only when code is missing or longer; 429 over the per-client rate limit",
        Auth::None,
        None,
        200,
        "Verdict",
    ),
    (
        "post",
        "/api/v1/stock-batches",
        "stock",
        "Register a batch of numbered blank security stock for a hall (admin): serials are letters + digits, counted up in the digits; count 1..100000; 409 batch_overlaps when it shares a serial with any hall's batch",
        Auth::Staff,
        Some("NewStockBatch"),
        201,
        "StockBatch",
    ),
    (
        "get",
        "/api/v1/halls/{code}/stock",
        "stock",
        "A hall's security stock: its batches and how many sheets are registered, printed, voided and left (admins and the hall's staff)",
        Auth::Staff,
        None,
        200,
        "Inventory",
    ),
    (
        "post",
        "/api/v1/print-jobs",
        "print jobs",
        "Queue a print job for a valid licence of the caller's hall (issuer) to a hall that may print its type; the document is rendered once; the pickup code is in this answer only. 422 licence_not_valid, job_exists, hall_inactive, agreement_expired, agreement_not_in_force, type_not_covered, copy_not_available",
        Auth::Staff,
        Some("NewPrintJob"),
        201,
        "QueuedPrintJob",
    ),
    (
        "get",
        "/api/v1/print-jobs",
        "print jobs",
        "Print jobs the caller may see, newest first (query hall = target hall, state, limit 1..500)",
        Auth::Staff,
        None,
        200,
        "PrintJobList",
    ),
    (
        "get",
        "/api/v1/print-jobs/{id}",
        "print jobs",
        "A print job with its sheets and history (admins, staff of the issuing and of the target hall; 404 for anyone else)",
        Auth::Staff,
        None,
        200,
        "PrintJob",
    ),
    (
        "post",
        "/api/v1/print-jobs/{id}/cancel",
        "print jobs",
        "Cancel a queued or failed job (admin or issuer of the issuing hall); 409 once leased, printed or awaiting reconciliation",
        Auth::Staff,
        Some("Reason"),
        200,
        "PrintJob",
    ),
    (
        "post",
        "/api/v1/print-jobs/{id}/requeue",
        "print jobs",
        "Give a failed job (every attempt failed, nothing printed) a fresh round of attempts at the same hall (admin, issuer of the issuing hall, operator of the target hall); 409 invalid_transition unless failed; 422 licence_not_valid",
        Auth::Staff,
        None,
        200,
        "PrintJob",
    ),
    (
        "post",
        "/api/v1/print-jobs/{id}/reroute",
        "print jobs",
        "Send a queued job to another hall that may print its type (same checks as queueing); the document is kept",
        Auth::Staff,
        Some("Reroute"),
        200,
        "PrintJob",
    ),
    (
        "post",
        "/api/v1/print-jobs/{id}/unlock-pickup",
        "print jobs",
        "Unlock pickup after five wrong codes (admin or issuer of the issuing hall)",
        Auth::Staff,
        None,
        200,
        "PrintJob",
    ),
    (
        "post",
        "/api/v1/pickups",
        "print jobs",
        "Hand a printed certificate over (hall operator of the target hall) against the pickup code and the holder's code: 422 wrong_pickup_code with the attempts left, 429 once locked (the fifth wrong attempt locks), 409 job_not_printed or licence_not_valid",
        Auth::Staff,
        Some("Pickup"),
        200,
        "PrintJob",
    ),
    (
        "get",
        "/V/{payload}",
        "public",
        "The verification page (HTML, Chinese) a phone camera opens from the QR; its verdict element carries data-verdict=\"valid\" or \"invalid\"",
        Auth::None,
        None,
        200,
        "Html",
    ),
    (
        "get",
        "/v/{payload}",
        "public",
        "The verification page, lower-case path",
        Auth::None,
        None,
        200,
        "Html",
    ),
    (
        "post",
        "/api/v1/agent/claim",
        "agent",
        "Claim up to max (1-10, default 1) of the hall's queued jobs, oldest first, each with a fresh lease token (120 s). Long-poll: answers at once when jobs wait, else when one arrives or after wait_s (0-30, default 0) with jobs: []. A job whose licence is no longer valid is cancelled instead of handed out",
        Auth::Agent,
        Some("Claim"),
        200,
        "ClaimAnswer",
    ),
    (
        "get",
        "/api/v1/agent/jobs/{id}/document",
        "agent",
        "The stored print-ready PDF (one page per copy), for the job's current, unexpired lease (header Lease-Token; missing: 400 missing_lease_token). Another token: 409 stale_lease; expired: 409 lease_expired; licence no longer valid: 422 licence_not_valid (the job is cancelled); another hall's job: 404",
        Auth::Agent,
        None,
        200,
        "Pdf",
    ),
    (
        "post",
        "/api/v1/agent/jobs/{id}/heartbeat",
        "agent",
        "Extend the current, unexpired lease by 120 s from now (409 stale_lease / lease_expired otherwise)",
        Auth::Agent,
        Some("LeaseToken"),
        200,
        "HeartbeatAnswer",
    ),
    (
        "post",
        "/api/v1/agent/jobs/{id}/report",
        "agent",
        "Report the attempt. printed: one serial per page, in order, each of this hall's registered stock and unused (409 serial_used, 422 serial_not_registered; nothing changes on a refusal) -> printed. failed with printed_nothing -> queued again (failed at the 3rd attempt); failed otherwise -> needs_reconciliation. Idempotent by (job, seq): a retry with the same body gets the first answer and changes nothing, even after the lease is gone; the same seq with another body is 409 report_seq_reused; a stale token is 409 stale_lease. Taken after the lease's expiry as long as the job is still leased",
        Auth::Agent,
        Some("Report"),
        200,
        "ReportAnswer",
    ),
    (
        "post",
        "/api/v1/agent/sheets/void",
        "agent",
        "Void spoiled blank sheets of this hall's registered, unused stock (all or nothing)",
        Auth::Agent,
        Some("VoidSheets"),
        200,
        "VoidAnswer",
    ),
    (
        "post",
        "/api/v1/agent/reconcile",
        "agent",
        "Compare the agent's journal with the server. For each named job and each of the hall's leased or needs_reconciliation jobs not named: {id, agent_state, server_state, action}. action: none (nothing to do; a leased job not named may belong to another agent of the hall), forget (drop it from the journal: not this hall's, unknown, or final on the server), report (the lease is still yours: send the report), ask_operator (a hall operator must check the paper and resolve the job; also when the agent printed a job the server has not recorded printed)",
        Auth::Agent,
        Some("Reconcile"),
        200,
        "ReconcileAnswer",
    ),
    (
        "post",
        "/api/v1/print-jobs/{id}/resolve",
        "print jobs",
        "Resolve a needs_reconciliation job (hall operator of the target hall). printed: sheets (one per page, registered, unused) -> printed. not_printed: -> queued for a reprint, only with the lost attempt's sheets voided in the same call (voided_serials) or no_sheet_taken: true (else 422 voided_sheets_required)",
        Auth::Staff,
        Some("Resolve"),
        200,
        "PrintJob",
    ),
];

fn schema_ref(name: &str) -> Value {
    match name {
        "Text" => json!({"type": "string"}),
        "Empty" => json!({}),
        "Pdf" => json!({"type": "string", "format": "binary"}),
        "Html" => json!({"type": "string", "contentMediaType": "text/html"}),
        other => json!({"$ref": format!("#/components/schemas/{other}")}),
    }
}

fn components() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let mut c = json!({
        "securitySchemes": {
            "staff": {"type": "http", "scheme": "bearer", "description": "a session token from POST /api/v1/sessions"},
            "agent": {"type": "http", "scheme": "bearer", "description": "a hall agent token (crosscert admin agent-token)"}
        },
        "schemas": {
            "Error": obj(json!({"error": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "array", "items": obj(json!({"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}), &["field", "code", "message"])}}), &["error", "message"]),
            "Status": obj(json!({"status": {"type": "string"}, "checks": {"type": "object"}}), &[]),
            "Object": {"type": "object"},
            "Login": obj(json!({"username": {"type": "string"}, "password": {"type": "string"}}), &["username", "password"]),
            "Session": obj(json!({"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}, "user": {"type": "object"}}), &["token", "expires_at"]),
            "NewUser": obj(json!({"username": {"type": "string"}, "password": {"type": "string"}, "role": {"enum": ["admin", "issuer", "hall_operator"]}, "hall": {"type": "string"}}), &["username", "password", "role", "hall"]),
            "User": obj(json!({"id": {"type": "integer"}, "username": {"type": "string"}, "role": {"type": "string"}, "hall": {"type": "string"}, "active": {"type": "boolean"}}), &["id", "username", "role", "hall"]),
            "UserList": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
            "NewAgentToken": obj(json!({"hall": {"type": "string"}}), &["hall"]),
            "AgentToken": obj(json!({"id": {"type": "integer"}, "hall": {"type": "string"}, "token": {"type": "string"}}), &["id", "hall", "token"]),
            "AgentTokenList": {"type": "array", "items": obj(json!({"id": {"type": "integer"}, "hall": {"type": "string"}, "created_at": {"type": "string"}, "revoked_at": {"type": ["string", "null"]}}), &["id", "hall"])},
            "Agreement": obj(json!({"valid_from": {"type": "string", "format": "date"}, "valid_to": {"type": "string", "format": "date"},
                "covers": {"oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}]}}), &["valid_from", "valid_to", "covers"]),
            "Hall": obj(json!({"code": {"type": "string"}, "name": {"type": "string"}, "kind": {"enum": ["city", "district", "county", "zone", "town", "partner"]},
                "province": {"type": "string"}, "city": {"type": "string"}, "county": {"type": "string"}, "address": {"type": "string"},
                "lat": {"type": "number"}, "lon": {"type": "number"}, "active": {"type": "boolean"},
                "authority": obj(json!({"name": {"type": "string"}, "credit_code": {"type": "string"}}), &["name", "credit_code"]),
                "agreement": {"$ref": "#/components/schemas/Agreement"}, "distance_km": {"type": "number"}}),
                &["code", "name", "kind", "province", "city", "county", "address", "lat", "lon", "active"]),
            "HallList": {"type": "array", "items": {"$ref": "#/components/schemas/Hall"}},
            "CertTypeSummary": obj(json!({"code": {"type": "string"}, "name": {"type": "string"}, "name_en": {"type": "string"}, "domain": {"type": "string"},
                "holder_kind": {"enum": ["organisation", "person"]}, "layout": {"type": "string"}, "copies": {"type": "array", "items": {"enum": ["original", "duplicate"]}}}),
                &["code", "name", "name_en", "domain", "holder_kind", "layout", "copies"]),
            "CertTypeList": {"type": "array", "items": {"$ref": "#/components/schemas/CertTypeSummary"}},
            "CertType": {"allOf": [{"$ref": "#/components/schemas/CertTypeSummary"}, obj(json!({
                "fields": {"type": "array", "items": obj(json!({"key": {"type": "string"}, "label": {"type": "string"}, "kind": {"type": "string"}, "required": {"type": "boolean"}, "max_len": {"type": ["integer", "null"]}, "values": {"type": "array", "items": {"type": "string"}}}), &["key", "label", "kind", "required"])},
                "example": {"$ref": "#/components/schemas/Record"}}), &["fields", "example"])]},
            "Record": obj(json!({"holder": obj(json!({"name": {"type": "string"}, "code": {"type": "string"}}), &["name", "code"]),
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "valid_from": {"type": "string", "format": "date"}, "valid_to": {"type": ["string", "null"], "format": "date"}}), &["holder", "fields", "valid_from"]),
            "NewLicence": {"allOf": [{"$ref": "#/components/schemas/Record"}, obj(json!({"type_code": {"type": "string"}}), &["type_code"])]},
            "Reason": obj(json!({"reason": {"type": "string"}}), &["reason"]),
            "Licence": obj(json!({"id": {"type": "string"}, "identifier": {"type": "string"}, "licence_no": {"type": "string"}, "version": {"type": "integer"},
                "status": {"enum": ["valid", "suspended", "rescinded", "cancelled", "expired", "revoked", "superseded"]},
                "status_code": {"type": ["string", "null"]}, "qr_text": {"type": "string"}, "type_code": {"type": "string"},
                "holder": obj(json!({"name": {"type": "string"}, "code": {"type": "string"}}), &["name", "code"]),
                "fields": {"type": "object"}, "valid_from": {"type": "string"}, "valid_to": {"type": ["string", "null"]},
                "issuing_hall": {"type": "string"}, "signer_kid": {"type": "string"}}),
                &["id", "identifier", "licence_no", "version", "status", "status_code", "qr_text"]),
            "TrustList": obj(json!({"root": {"type": "string"}, "issued_at": {"type": "string", "format": "date-time"},
                "signers": {"type": "array", "items": obj(json!({"kid": {"type": "string"}, "certificate": {"type": "string"}, "sign_from": {"type": "string"}, "sign_until": {"type": "string"}, "active": {"type": "boolean"}, "revoked": {"type": "boolean"}}), &["kid", "certificate", "sign_from", "sign_until", "active", "revoked"])}}),
                &["root", "signers", "issued_at"]),
            "Verdict": verdict_schema()
        }
    });
    if let (Some(all), Value::Object(more)) = (c["schemas"].as_object_mut(), distribution_schemas())
    {
        all.extend(more);
    }
    if let Some(schemas) = c["schemas"].as_object_mut() {
        schemas.extend(agent_schemas());
    }
    c
}

/// The hall agent protocol's bodies (a function of their own: the macro's recursion limit).
fn agent_schemas() -> Map<String, Value> {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let mut m = Map::new();
    m.insert(
        "Claim".into(),
        obj(
            json!({"max": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "wait_s": {"type": "integer", "minimum": 0, "maximum": 30, "default": 0}}),
            &[],
        ),
    );
    m.insert("ClaimAnswer".into(), obj(json!({"jobs": {"type": "array", "items": obj(json!({"id": {"type": "string"}, "licence_id": {"type": "string"},
                "licence_identifier": {"type": "string", "description": "the licence's identifier (证照标识): the seal in the document's QR code names it"},
                "type_code": {"type": "string"}, "copies": {"type": "array", "items": {"enum": ["original", "duplicate"]}},
                "qr_text": {"type": "string"}, "lease_token": {"type": "string"}, "lease_expires_at": {"type": "string", "format": "date-time"},
                "document_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}),
                &["id", "licence_id", "licence_identifier", "type_code", "copies", "qr_text", "lease_token", "lease_expires_at", "document_sha256"])}}), &["jobs"]));
    m.insert(
        "LeaseToken".into(),
        obj(json!({"lease_token": {"type": "string"}}), &["lease_token"]),
    );
    m.insert("HeartbeatAnswer".into(), obj(json!({"id": {"type": "string"}, "lease_expires_at": {"type": "string", "format": "date-time"}}), &["id", "lease_expires_at"]));
    m.insert("Report".into(), obj(json!({"lease_token": {"type": "string"}, "seq": {"type": "integer", "minimum": 0},
                "outcome": {"enum": ["printed", "failed"]}, "sheets": {"type": "array", "items": {"type": "string"}},
                "printed_nothing": {"type": "boolean", "default": false}, "reason": {"type": "string", "maxLength": 500}}),
                &["lease_token", "seq", "outcome"]));
    m.insert("ReportAnswer".into(), obj(json!({"id": {"type": "string"}, "seq": {"type": "integer"},
                "state": {"enum": ["printed", "queued", "failed", "needs_reconciliation"]}, "attempts": {"type": "integer"}}),
                &["id", "seq", "state", "attempts"]));
    m.insert("VoidSheets".into(), obj(json!({"serials": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100},
                "reason": {"type": "string", "maxLength": 500}}), &["serials", "reason"]));
    m.insert("VoidAnswer".into(), obj(json!({"voided": {"type": "array", "items": {"type": "string"}}, "reason": {"type": "string"}}), &["voided", "reason"]));
    m.insert("Reconcile".into(), obj(json!({"jobs": {"type": "array", "maxItems": 100, "items": obj(json!({"id": {"type": "string"},
                "state": {"type": "string", "description": "the agent's view: leased, printing, printed, failed..."}}), &["id", "state"])}}), &["jobs"]));
    m.insert("ReconcileAnswer".into(), obj(json!({"jobs": {"type": "array", "items": obj(json!({"id": {"type": "string"},
                "agent_state": {"type": ["string", "null"]}, "server_state": {"type": ["string", "null"]},
                "action": {"enum": ["none", "forget", "report", "ask_operator"]}}), &["id", "agent_state", "server_state", "action"])}}), &["jobs"]));
    m.insert("Resolve".into(), obj(json!({"outcome": {"enum": ["printed", "not_printed"]},
                "sheets": {"type": "array", "items": {"type": "string"}, "description": "printed: the serials printed, one per page"},
                "voided_serials": {"type": "array", "items": {"type": "string"}},
                "no_sheet_taken": {"type": "boolean", "default": false}, "reason": {"type": "string"}}), &["outcome"]));
    m
}

/// Print jobs, stock and pickup (their own function for the `json!` recursion limit).
fn distribution_schemas() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let copies = json!({"type": "array", "items": {"enum": ["original", "duplicate"]}});
    let job = obj(
        json!({"id": {"type": "string"}, "licence_id": {"type": "string"}, "hall": {"type": "string"}, "issuing_hall": {"type": "string"},
        "state": {"$ref": "#/components/schemas/JobState"}, "copies": copies, "document_sha256": {"type": "string"},
        "attempts": {"type": "integer"}, "pickup_locked": {"type": "boolean"}, "pickup_failures": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"}, "printed_at": {"type": ["string", "null"]}, "collected_at": {"type": ["string", "null"]},
        "sheets": {"type": "array", "items": obj(json!({"serial": {"type": "string"}, "copy": {"type": ["string", "null"]}, "state": {"enum": ["printed", "voided"]}}), &["serial", "copy", "state"])},
        "history": {"type": "array", "items": obj(json!({"at": {"type": "string"}, "actor": {"type": "string"}, "action": {"type": "string"}, "details": {}}), &["at", "actor", "action"])},
        "licence": {"type": "object"}}),
        &[
            "id",
            "licence_id",
            "hall",
            "issuing_hall",
            "state",
            "copies",
            "document_sha256",
        ],
    );
    let batch = obj(
        json!({"id": {"type": "integer"}, "hall": {"type": "string"}, "first_serial": {"type": "string"}, "last_serial": {"type": "string"},
        "count": {"type": "integer"}, "created_at": {"type": "string"}, "created_by": {"type": "string"}}),
        &["id", "hall", "first_serial", "last_serial", "count"],
    );
    json!({
        "JobState": {"enum": ["queued", "leased", "printed", "collected", "cancelled", "failed", "needs_reconciliation"]},
        "NewPrintJob": obj(json!({"licence_id": {"type": "string"}, "hall": {"type": "string"}, "copies": copies}), &["licence_id", "hall", "copies"]),
        "PrintJob": job,
        "PrintJobList": {"type": "array", "items": {"$ref": "#/components/schemas/PrintJob"}},
        "QueuedPrintJob": {"allOf": [{"$ref": "#/components/schemas/PrintJob"}, obj(json!({"pickup_code": {"type": "string", "description": "8 digits, shown only in this answer"}}), &["pickup_code"])]},
        "Reroute": obj(json!({"hall": {"type": "string"}}), &["hall"]),
        "Pickup": obj(json!({"job_id": {"type": "string"}, "pickup_code": {"type": "string"}, "recipient_code": {"type": "string"}}), &["job_id", "pickup_code", "recipient_code"]),
        "NewStockBatch": obj(json!({"hall": {"type": "string"}, "first_serial": {"type": "string", "pattern": "^[A-Z]{1,16}[0-9]{1,15}$"}, "count": {"type": "integer", "minimum": 1, "maximum": 100000}}), &["hall", "first_serial", "count"]),
        "StockBatch": batch,
        "Inventory": obj(json!({"hall": {"type": "string"}, "batches": {"type": "array", "items": {"$ref": "#/components/schemas/StockBatch"}},
            "registered": {"type": "integer"}, "printed": {"type": "integer"}, "voided": {"type": "integer"}, "left": {"type": "integer"}}),
            &["hall", "batches", "registered", "printed", "voided", "left"])
    })
}

/// `GET /api/v1/verify`'s answer (its own function: one `json!` this deep exceeds the macro
/// recursion limit).
fn verdict_schema() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let holder = obj(
        json!({"name": {"type": "string"},
            "code": {"type": "string", "description": "personal ID numbers masked: first 3 + last 4"}}),
        &["name", "code"],
    );
    let licence = obj(
        json!({"identifier": {"type": "string"}, "licence_no": {"type": "string"}, "version": {"type": "integer"},
            "type_code": {"type": "string"}, "type_name": {"type": ["string", "null"]}, "holder": holder,
            "issuing_authority": {"type": ["string", "null"]}, "issuer_code": {"type": "string"},
            "valid_from": {"type": "string", "format": "date"}, "valid_to": {"type": ["string", "null"], "format": "date"}}),
        &[
            "identifier",
            "licence_no",
            "version",
            "type_code",
            "holder",
            "valid_from",
            "valid_to",
        ],
    );
    let reasons = json!([
        "bad_encoding",
        "unknown_signer",
        "bad_signature",
        "signer_revoked",
        "sealed_outside_signing_period",
        "not_yet_valid",
        "expired",
        "suspended",
        "rescinded",
        "cancelled",
        "revoked",
        "superseded",
        "unknown_licence",
        null
    ]);
    obj(
        json!({"authentic": {"type": "boolean"}, "valid": {"type": "boolean"},
            "status": {"enum": ["valid", "suspended", "rescinded", "cancelled", "expired", "revoked", "superseded", "unknown"]},
            "reason": {"enum": reasons}, "licence": {"oneOf": [{"type": "null"}, licence]},
            "signer_kid": {"type": ["string", "null"]}, "checked_at": {"type": "string", "format": "date-time"}}),
        &[
            "authentic",
            "status",
            "reason",
            "licence",
            "signer_kid",
            "checked_at",
        ],
    )
}

/// The documented (method, path) pairs, for the test that calls each of them.
pub fn documented_operations() -> Vec<(&'static str, &'static str)> {
    OPERATIONS.iter().map(|op| (op.0, op.1)).collect()
}

pub fn description() -> Value {
    let mut paths = Map::new();
    for &(method, path, tag, summary, auth, body, status, response) in OPERATIONS {
        let mut op = json!({
            "tags": [tag],
            "summary": summary,
            "responses": {
                status.to_string(): {"description": "success", "content": {"application/json": {"schema": schema_ref(response)}}},
                "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        match auth {
            Auth::Staff => op["security"] = json!([{"staff": []}]),
            Auth::Agent => op["security"] = json!([{"agent": []}]),
            Auth::None => {}
        }
        if let Some(schema) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema_ref(schema)}}});
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if response == "Html" {
            op["responses"][status.to_string()]["content"] =
                json!({"text/html": {"schema": schema_ref(response)}});
        }
        if path == "/api/v1/halls" && method == "get" {
            op["parameters"] = json!([
                {"name": "cert_type", "in": "query", "required": false, "description": "a certificate type code: only the halls able to print it now", "schema": {"type": "string"}},
                {"name": "near", "in": "query", "required": false, "description": "LAT,LON in degrees: nearest first, with distance_km", "schema": {"type": "string"}}]);
        }
        if path == "/api/v1/print-jobs" && method == "get" {
            op["parameters"] = json!([
                {"name": "hall", "in": "query", "required": false, "description": "the target hall's code", "schema": {"type": "string"}},
                {"name": "state", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/JobState"}},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}]);
        }
        if path == "/api/v1/verify" {
            op["parameters"] = json!([{"name": "code", "in": "query", "required": true,
                "description": "the QR text (any case), at most 4096 bytes", "schema": {"type": "string", "maxLength": 4096}}]);
        }
        if path == "/api/v1/agent/jobs/{id}/document" {
            if let Some(p) = op["parameters"].as_array_mut() {
                p.push(json!({"name": "Lease-Token", "in": "header", "required": true,
                    "description": "the lease token the claim returned", "schema": {"type": "string"}}));
            }
            op["responses"][status.to_string()]["content"] =
                json!({"application/pdf": {"schema": schema_ref(response)}});
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "crosscert", "version": env!("CARGO_PKG_VERSION"),
            "description": "Sealed electronic licences, printed at the hall the holder prefers. Errors are {error, message} JSON."},
        "paths": paths,
        "components": components(),
    })
}

#[get("/api/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(description())
}
