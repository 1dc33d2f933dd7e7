//! Request bodies: JSON in, the route's wire type out. A body that is not JSON is 400
//! `invalid_json`; one that is JSON but not the wire type (not an object, a field of the
//! wrong type, a required field missing) is 400 `invalid_input` whose message starts with
//! the field's path (`reason: ...`, `jobs[0].id: ...`), like the services' own refusals.
//! The service then converts the wire type into its validated input.

use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON body, or `null` when there is none.
pub fn json_value(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })
}

/// The body as `T`; an empty body is refused (`body: a JSON object is required`).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_value(&json_value(body)?)
}

/// The body as `T`, or `T::default()` when it is empty or `null`.
pub fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    match json_value(body)? {
        Value::Null => Ok(T::default()),
        value => from_value(&value),
    }
}

/// An already parsed JSON value as `T`, naming the field that does not fit.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    match value {
        Value::Object(_) => {}
        Value::Null => return Err(invalid("body: a JSON object is required".into())),
        _ => return Err(invalid("body: must be a JSON object".into())),
    }
    serde_path_to_error::deserialize(value).map_err(|e| invalid(describe(&e)))
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_input", message)
}

/// `path: what is wrong`. serde reports a missing field at its parent's path, with the
/// field's name in the message: the path then ends with the field.
fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let parent = e.path().to_string();
    let parent = if parent == "." { String::new() } else { parent };
    let inner = e.inner().to_string();
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(field) if parent.is_empty() => format!("{field}: is required"),
        Some(field) => format!("{parent}.{field}: is required"),
        None if parent.is_empty() => format!("body: {inner}"),
        None => format!("{parent}: {inner}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::agent::{ClaimRequest, ReconcileRequest, ReportRequest};

    fn message<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        let err = parse::<T>(body.as_bytes()).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{body}");
        err.message()
    }

    #[test]
    fn a_refusal_starts_with_the_field_path() {
        let m = message::<ReportRequest>(r#"{"seq": 1, "outcome": "printed", "sheets": []}"#);
        assert!(m.starts_with("lease_token: "), "{m}");
        let m = message::<ReportRequest>(
            r#"{"lease_token": "t", "seq": "1", "outcome": "printed", "sheets": []}"#,
        );
        assert!(m.starts_with("seq: "), "{m}");
        let m = message::<ReconcileRequest>(r#"{"jobs": [{"id": "j"}]}"#);
        assert!(m.starts_with("jobs[0].state: "), "{m}");
        let m = message::<ReconcileRequest>(r#"{"jobs": "x"}"#);
        assert!(m.starts_with("jobs: "), "{m}");
        for (body, field) in [
            (r#"{"max": "1"}"#, "max: "),
            (r#"{"wait_s": -1}"#, "wait_s: "),
            (r#"{"wait_s": "5"}"#, "wait_s: "),
        ] {
            let m = message::<ClaimRequest>(body);
            assert!(m.starts_with(field), "{body}: {m}");
        }
        let m = message::<ReportRequest>(
            r#"{"lease_token": "t", "seq": 1, "outcome": "done", "sheets": []}"#,
        );
        assert!(m.starts_with("outcome: "), "{m}");
        let m = message::<ReportRequest>(r#"{"seq": 1, "outcome": "failed"}"#);
        assert!(m.starts_with("lease_token: "), "{m}");
        let m = message::<ReportRequest>(
            r#"{"lease_token": "t", "seq": 1, "outcome": "failed", "sheets": [1]}"#,
        );
        assert!(m.starts_with("sheets[0]: "), "{m}");
        let m = message::<ClaimRequest>("[]");
        assert!(m.starts_with("body: "), "{m}");
        assert!(message::<ReportRequest>("").starts_with("body: "));
    }

    #[test]
    fn empty_bodies_take_the_default_and_bad_json_is_invalid_json() {
        assert_eq!(
            parse_or_default::<ClaimRequest>(b" ").unwrap(),
            ClaimRequest::default()
        );
        let failed: ReportRequest =
            parse(br#"{"lease_token": "t", "seq": 1, "outcome": "failed", "sheets": null}"#)
                .unwrap();
        assert!(failed.sheets.is_empty());
        let failed: ReportRequest =
            parse(br#"{"lease_token": "t", "seq": 1, "outcome": "failed"}"#).unwrap();
        assert!(failed.sheets.is_empty());
        let err = parse::<ClaimRequest>(b"{").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
    }
}
