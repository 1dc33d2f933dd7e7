//! Forms that fill themselves: the values of a type's fields taken from the holder's other
//! licences, each with its source. Only licences that are current and valid today are read
//! (never a revoked, suspended, rescinded, cancelled, expired or superseded one). A field is
//! filled from, in order: a licence of the same type (the same field, e.g. a renewal), then
//! the members of its concept in `field-equivalence.toml` in their listed order; among
//! licences of one type the most recently issued wins. A value is taken only where it passes
//! the target field's own rules (an enum value must be one of the target's values, a text
//! must fit its max_len).

use super::{parse_holder_code, DeptError};
use crate::catalog::{Catalog, CertType, HolderCode, HolderKind};
use crate::domain::licence::LicenceStatus;
use crate::storage::licences::LicenceRow;
use crate::storage::{dept, DbConnection};
use crate::wire::dept::{Prefill, PrefillSource, PrefillValue};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// A licence prefill may read: current and valid on `today`.
pub fn usable(row: &LicenceRow, today: NaiveDate) -> bool {
    row.superseded_by.is_none()
        && row.status == LicenceStatus::Valid
        && row.status.effective(row.valid_to, today) == LicenceStatus::Valid
        && row.valid_from <= today
}

struct Source<'a> {
    row: &'a LicenceRow,
    type_name: String,
    fields: BTreeMap<String, String>,
}

impl Source<'_> {
    fn source(&self, field: &str) -> PrefillSource {
        PrefillSource {
            licence_id: self.row.id.clone(),
            identifier: self.row.identifier.clone(),
            licence_no: self.row.licence_no.clone(),
            type_code: self.row.type_code.clone(),
            type_name: self.type_name.clone(),
            field: field.to_string(),
        }
    }
}

/// The prefill of `target` from `rows` (the holder's licences, newest first). Pure: the
/// measurement in the tests runs it on the catalog's examples.
pub fn prefill_from(
    catalog: &Catalog,
    target: &CertType,
    holder_code: &str,
    rows: &[LicenceRow],
    today: NaiveDate,
) -> Prefill {
    let sources: Vec<Source<'_>> = rows
        .iter()
        .filter(|r| r.holder_code == holder_code && usable(r, today))
        .map(|row| Source {
            row,
            type_name: catalog
                .get(&row.type_code)
                .map_or_else(|| row.type_code.clone(), |t| t.name.clone()),
            fields: serde_json::from_str(&row.fields).unwrap_or_default(),
        })
        .collect();
    let mut values = Vec::new();
    if let Some(s) = sources.first() {
        values.push(PrefillValue {
            field: "holder.name".into(),
            value: s.row.holder_name.clone(),
            source: s.source("holder.name"),
        });
        values.push(PrefillValue {
            field: "holder.code".into(),
            value: s.row.holder_code.clone(),
            source: s.source("holder.code"),
        });
    }
    let equivalence = catalog.equivalence();
    let (mut required, mut filled) = (0, 0);
    for def in &target.fields {
        required += usize::from(def.required);
        // Candidate (type code, field key) pairs, best first.
        let mut candidates = vec![(target.code.as_str(), def.key.as_str())];
        if let Some(c) = equivalence.concept_of(&target.code, &def.key) {
            candidates.extend(
                c.members
                    .iter()
                    .map(|m| (m.type_code.as_str(), m.key.as_str())),
            );
        }
        let found = candidates.iter().find_map(|(type_code, key)| {
            sources
                .iter()
                .filter(|s| s.row.type_code == *type_code)
                .find_map(|s| {
                    let raw = s.fields.get(*key)?;
                    def.accept(raw)
                        .map(|v| (v, s.source(&format!("fields.{key}"))))
                })
        });
        if let Some((value, source)) = found {
            filled += usize::from(def.required);
            values.push(PrefillValue {
                field: format!("fields.{}", def.key),
                value,
                source,
            });
        }
    }
    Prefill {
        holder_code: holder_code.to_string(),
        type_code: target.code.clone(),
        values,
        required_fields: required,
        required_filled: filled,
    }
}

/// `GET /api/v1/holders/{holder_code}/prefill?type=CODE`.
pub fn prefill(
    conn: &mut DbConnection,
    catalog: &Catalog,
    holder_code: &str,
    type_code: Option<&str>,
    today: NaiveDate,
) -> Result<Prefill, DeptError> {
    let type_code = type_code.map(str::trim).unwrap_or("");
    if type_code.is_empty() {
        return Err(DeptError::Invalid {
            field: "type",
            message: "is required: the certificate type whose form is filled".into(),
        });
    }
    let target = catalog
        .get(type_code)
        .ok_or_else(|| DeptError::UnknownType {
            field: "type",
            code: type_code.to_string(),
        })?;
    let holder = parse_holder_code("holder_code", holder_code)?;
    let kind = match holder {
        HolderCode::Organisation(_) => HolderKind::Organisation,
        HolderCode::Person(_) => HolderKind::Person,
    };
    if kind != target.holder_kind {
        return Err(DeptError::Refused {
            field: "holder_code".into(),
            message: format!(
                "{} is issued to {}; this code is {}",
                target.name,
                holder_kind_en(target.holder_kind),
                holder_kind_en(kind)
            ),
        });
    }
    let rows = dept::current_licences_of_holder(conn, holder.as_str())?;
    Ok(prefill_from(catalog, target, holder.as_str(), &rows, today))
}

fn holder_kind_en(k: HolderKind) -> &'static str {
    match k {
        HolderKind::Organisation => "an organisation (unified social credit code)",
        HolderKind::Person => "a person (resident ID number)",
    }
}

#[cfg(test)]
mod measure;
