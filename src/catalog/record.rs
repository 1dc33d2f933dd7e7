//! A licence record as submitted (`{holder: {name, code}, fields, valid_from, valid_to}`),
//! checked against its certificate type into a `ValidRecord`.
//!
//! Input is walked as a `serde_json::Value` so that a wrong JSON type is one more field error
//! instead of a deserialisation failure, and every failing field is reported at once.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cert_type::{CertType, FieldDef, FieldKind, HolderKind, MONEY_MAX_CHARS};
use crate::domain::codes::{ResidentId, UnifiedCreditCode};

/// The holder: a person or an organisation, with their identity or credit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Holder {
    pub name: String,
    pub code: String,
}

/// An example-shaped record (`GET /api/v1/cert-types/{code}` `example`): accepted as it is by
/// preview and, with `type_code` added, by `POST /api/v1/licences`. Checked field by field
/// against the type (400 `invalid_input` naming each field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    pub holder: Holder,
    /// The type's fields by key (strings).
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// `YYYY-MM-DD`.
    pub valid_from: String,
    /// `YYYY-MM-DD`; null for long-term (长期) types.
    pub valid_to: Option<String>,
}

/// A record body as an API handler receives it. Every member is a raw JSON value so that
/// deserialising never fails on content; `CertType::validate_input` judges it. Absent (null)
/// members are left out when it is serialized again, so its JSON is the body's own record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordInput {
    #[serde(default)]
    pub holder: HolderInput,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub fields: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub valid_from: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub valid_to: Value,
}

/// The record's `holder` member: its `name` and `code` as raw JSON values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HolderInput {
    #[serde(skip_serializing_if = "Value::is_null")]
    pub name: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub code: Value,
    /// `holder` was given but is neither an object nor null (reported as `holder`, `wrong_type`).
    #[serde(skip)]
    pub not_an_object: bool,
}

impl HolderInput {
    /// Any JSON value as a holder: an object gives its `name` and `code`; null gives nothing.
    pub fn from_value(v: &Value) -> HolderInput {
        match v {
            Value::Object(m) => HolderInput {
                name: m.get("name").cloned().unwrap_or(Value::Null),
                code: m.get("code").cloned().unwrap_or(Value::Null),
                not_an_object: false,
            },
            Value::Null => HolderInput::default(),
            _ => HolderInput {
                not_an_object: true,
                ..HolderInput::default()
            },
        }
    }
}

impl<'de> Deserialize<'de> for HolderInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(HolderInput::from_value(&Value::deserialize(d)?))
    }
}

impl RecordInput {
    /// Picks the record members out of any JSON value; other keys (such as `type_code` in
    /// `POST /api/v1/licences`) are left to the caller.
    pub fn from_value(v: &Value) -> RecordInput {
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        RecordInput {
            holder: HolderInput::from_value(&get("holder")),
            fields: get("fields"),
            valid_from: get("valid_from"),
            valid_to: get("valid_to"),
        }
    }
}

/// One refused field. `field` is a path (`holder.code`, `fields.scope`, `valid_to`), `code` a
/// stable snake_case reason, `message` English text that names the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The holder's code, parsed according to the type's holder kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderCode {
    Organisation(UnifiedCreditCode),
    Person(ResidentId),
}

impl HolderCode {
    pub fn as_str(&self) -> &str {
        match self {
            HolderCode::Organisation(c) => c.as_str(),
            HolderCode::Person(id) => id.as_str(),
        }
    }

    /// What public pages show: a credit code in full, a resident ID masked.
    pub fn public_form(&self) -> String {
        match self {
            HolderCode::Organisation(c) => c.to_string(),
            HolderCode::Person(id) => id.masked(),
        }
    }
}

impl std::fmt::Display for HolderCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record every rule of its type accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    pub holder_name: String,
    pub holder_code: HolderCode,
    /// Known keys only; optional fields left empty are not present.
    pub fields: BTreeMap<String, String>,
    pub valid_from: NaiveDate,
    /// None for long-term (长期) types.
    pub valid_to: Option<NaiveDate>,
}

const HOLDER_NAME_MAX: usize = 100;

impl CertType {
    /// Checks a record body (the API JSON) against this type.
    pub fn validate(&self, input: &Value) -> Result<ValidRecord, Vec<FieldError>> {
        if !input.is_object() {
            return Err(vec![FieldError::new(
                "record",
                "wrong_type",
                "the record must be a JSON object",
            )]);
        }
        self.validate_input(&RecordInput::from_value(input))
    }

    /// Checks an already-extracted record; every failing field is reported.
    pub fn validate_input(&self, input: &RecordInput) -> Result<ValidRecord, Vec<FieldError>> {
        let mut errors = Vec::new();
        if input.holder.not_an_object {
            errors.push(FieldError::new(
                "holder",
                "wrong_type",
                "holder must be an object {name, code}",
            ));
        }

        let holder_name =
            string_member(&input.holder.name, "holder.name", &mut errors).and_then(|s| {
                check_text(
                    "holder.name",
                    "holder name",
                    s,
                    HOLDER_NAME_MAX,
                    false,
                    &mut errors,
                )
            });

        let holder_code =
            string_member(&input.holder.code, "holder.code", &mut errors).and_then(|s| match self
                .holder_kind
            {
                HolderKind::Organisation => match UnifiedCreditCode::parse(s) {
                    Ok(c) => Some(HolderCode::Organisation(c)),
                    Err(e) => {
                        errors.push(FieldError::new(
                            "holder.code",
                            "invalid_credit_code",
                            format!("holder.code: {e}"),
                        ));
                        None
                    }
                },
                HolderKind::Person => match ResidentId::parse(s) {
                    Ok(id) => Some(HolderCode::Person(id)),
                    Err(e) => {
                        errors.push(FieldError::new(
                            "holder.code",
                            "invalid_id_number",
                            format!("holder.code: {e}"),
                        ));
                        None
                    }
                },
            });

        let fields = self.validate_fields(&input.fields, &mut errors);

        let valid_from = string_member(&input.valid_from, "valid_from", &mut errors)
            .and_then(|s| parse_date("valid_from", s, &mut errors));

        let valid_to = if self.validity.is_long_term() {
            // A long-term licence has no end date; a supplied one would be silently ignored
            // on paper, so refuse it.
            match &input.valid_to {
                Value::Null => Some(None),
                Value::String(s) if s.is_empty() => Some(None),
                _ => {
                    errors.push(FieldError::new(
                        "valid_to",
                        "not_allowed",
                        "valid_to must be null for a long-term (长期) certificate type",
                    ));
                    None
                }
            }
        } else {
            string_member(&input.valid_to, "valid_to", &mut errors)
                .and_then(|s| parse_date("valid_to", s, &mut errors))
                .map(Some)
        };

        if let (Some(from), Some(Some(to))) = (valid_from, valid_to) {
            if to <= from {
                errors.push(FieldError::new(
                    "valid_to",
                    "before_valid_from",
                    format!("valid_to ({to}) must be after valid_from ({from})"),
                ));
            }
        }

        match (holder_name, holder_code, fields, valid_from, valid_to) {
            (
                Some(holder_name),
                Some(holder_code),
                Some(fields),
                Some(valid_from),
                Some(valid_to),
            ) if errors.is_empty() => Ok(ValidRecord {
                holder_name: holder_name.to_owned(),
                holder_code,
                fields,
                valid_from,
                valid_to,
            }),
            _ => Err(errors),
        }
    }

    fn validate_fields(
        &self,
        raw: &Value,
        errors: &mut Vec<FieldError>,
    ) -> Option<BTreeMap<String, String>> {
        let empty = serde_json::Map::new();
        let map = match raw {
            Value::Object(m) => m,
            // No fields at all: every required field is then reported as missing.
            Value::Null => &empty,
            _ => {
                errors.push(FieldError::new(
                    "fields",
                    "wrong_type",
                    "fields must be an object of field key to string value",
                ));
                return None;
            }
        };
        let before = errors.len();
        for key in map.keys() {
            if self.field(key).is_none() {
                errors.push(FieldError::new(
                    format!("fields.{key}"),
                    "unknown_field",
                    format!("fields.{key} is not a field of {}", self.name),
                ));
            }
        }
        let mut out = BTreeMap::new();
        for def in &self.fields {
            let path = format!("fields.{}", def.key);
            let value = match map.get(&def.key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => {
                    errors.push(FieldError::new(
                        path.as_str(),
                        "wrong_type",
                        format!("{path} ({}) must be a string", def.label),
                    ));
                    continue;
                }
            };
            match value {
                Some(s) if !s.trim().is_empty() => {
                    if let Some(v) = check_field(def, &path, s, errors) {
                        out.insert(def.key.clone(), v);
                    }
                }
                _ if def.required => errors.push(FieldError::new(
                    path.as_str(),
                    "required",
                    format!("{path} ({}) is required", def.label),
                )),
                _ => {}
            }
        }
        (errors.len() == before).then_some(out)
    }
}

/// A string member, or an error naming it: absent/null is `required`, other JSON types
/// `wrong_type`, blank `required`.
fn string_member<'a>(v: &'a Value, path: &str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.as_str()),
        Value::String(_) | Value::Null => {
            errors.push(FieldError::new(
                path,
                "required",
                format!("{path} is required"),
            ));
            None
        }
        _ => {
            errors.push(FieldError::new(
                path,
                "wrong_type",
                format!("{path} must be a string"),
            ));
            None
        }
    }
}

fn check_text<'a>(
    path: &str,
    what: &str,
    s: &'a str,
    max: usize,
    multiline: bool,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    let len = s.chars().count();
    if len > max {
        errors.push(FieldError::new(
            path,
            "too_long",
            format!("{path} ({what}) is {len} characters; at most {max} are allowed"),
        ));
        return None;
    }
    let bad = s
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')));
    if bad {
        errors.push(FieldError::new(
            path,
            "control_characters",
            if multiline {
                format!("{path} ({what}) contains control characters other than line breaks")
            } else {
                format!("{path} ({what}) must be one line without control characters")
            },
        ));
        return None;
    }
    Some(s)
}

/// `YYYY-MM-DD` exactly, a real calendar date.
pub(crate) fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_date(path: &str, s: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let d = parse_iso_date(s);
    if d.is_none() {
        errors.push(FieldError::new(
            path,
            "invalid_date",
            format!("{path} must be a real date written YYYY-MM-DD, got {s:?}"),
        ));
    }
    d
}

/// Non-negative decimal yuan, at most two decimals and 15 digits in all.
fn is_money(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = frac.is_none_or(|f| digits_ok(f) && f.len() <= 2);
    digits_ok(int) && frac_ok && int.len() + frac.map_or(0, str::len) <= 15
}

/// Digits with an optional leading `+` and single `-` separators, 7..=20 characters.
fn is_phone(s: &str) -> bool {
    let len = s.chars().count();
    if !(7..=20).contains(&len) {
        return false;
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    !body.is_empty()
        && body
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn check_field(
    def: &FieldDef,
    path: &str,
    s: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let label = def.label.as_str();
    let refuse = |errors: &mut Vec<FieldError>, code: &'static str, msg: String| {
        errors.push(FieldError::new(path, code, msg));
        None
    };
    // max_len is guaranteed by the loader for free-text kinds; 0 would refuse everything,
    // which is the safe reading of a type that was never loaded.
    let max = def.max_len.unwrap_or(0) as usize;
    match def.kind {
        FieldKind::Text | FieldKind::Address => {
            check_text(path, label, s, max, false, errors).map(str::to_owned)
        }
        FieldKind::Multiline => check_text(path, label, s, max, true, errors).map(str::to_owned),
        FieldKind::Date => parse_iso_date(s).map(|d| d.to_string()).or_else(|| {
            refuse(
                errors,
                "invalid_date",
                format!("{path} ({label}) must be a real date written YYYY-MM-DD, got {s:?}"),
            )
        }),
        FieldKind::Money => {
            if s.chars().count() <= MONEY_MAX_CHARS as usize && is_money(s) {
                Some(s.to_owned())
            } else {
                refuse(
                    errors,
                    "invalid_money",
                    format!(
                        "{path} ({label}) must be an amount in yuan such as 500 or 1200.50 \
                         (at most 2 decimals, 15 digits), got {s:?}"
                    ),
                )
            }
        }
        FieldKind::Enum => {
            let values = def.values.as_deref().unwrap_or(&[]);
            if values.iter().any(|v| v == s) {
                Some(s.to_owned())
            } else {
                refuse(
                    errors,
                    "invalid_enum",
                    format!(
                        "{path} ({label}) must be one of: {}; got {s:?}",
                        values.join(", ")
                    ),
                )
            }
        }
        FieldKind::CreditCode => match UnifiedCreditCode::parse(s) {
            Ok(c) => Some(c.to_string()),
            Err(e) => refuse(
                errors,
                "invalid_credit_code",
                format!("{path} ({label}): {e}"),
            ),
        },
        FieldKind::IdNumber => match ResidentId::parse(s) {
            Ok(id) => Some(id.to_string()),
            Err(e) => refuse(
                errors,
                "invalid_id_number",
                format!("{path} ({label}): {e}"),
            ),
        },
        FieldKind::Phone => {
            if is_phone(s) {
                Some(s.to_owned())
            } else {
                refuse(
                    errors,
                    "invalid_phone",
                    format!(
                        "{path} ({label}) must be 7 to 20 digits, with an optional leading + \
                         and - separators, got {s:?}"
                    ),
                )
            }
        }
    }
}

impl FieldDef {
    /// `value` as this field stores it, if it passes the field's rules (kind, enum values,
    /// max_len). Form prefill takes a value from another type's field only where it fits.
    pub fn accept(&self, value: &str) -> Option<String> {
        if value.trim().is_empty() {
            return None;
        }
        check_field(self, "value", value, &mut Vec::new())
    }
}
