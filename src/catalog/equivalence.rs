//! `templates-certs/field-equivalence.toml`: which fields of which types mean the same thing
//! (legal representative, domicile, registered capital, business scope, ...), so that a form
//! can be filled from the holder's other licences. Loaded and checked with the catalog: every
//! member names an existing type (by catalog number) and one of its field keys, and a field
//! belongs to one concept at most.

use std::collections::HashMap;

use serde::Deserialize;

use super::cert_type::CertType;

pub const FILE_NAME: &str = "field-equivalence.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    concepts: Vec<RawConcept>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcept {
    key: String,
    label: String,
    fields: Vec<String>,
}

/// One field of one type: (type code, field key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    pub type_code: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub key: String,
    pub label: String,
    /// In order of authority: the first member that holds a value wins.
    pub members: Vec<FieldRef>,
}

/// The checked table.
#[derive(Debug, Clone, Default)]
pub struct FieldEquivalence {
    concepts: Vec<Concept>,
    by_field: HashMap<FieldRef, usize>,
}

impl FieldEquivalence {
    /// Parse `text` against the loaded types; `Err((field, message))` names the problem.
    pub fn parse(text: &str, types: &[CertType]) -> Result<FieldEquivalence, (String, String)> {
        let file: File = toml::from_str(text).map_err(|e| ("toml".to_string(), e.to_string()))?;
        let by_no: HashMap<u32, &CertType> = types.iter().map(|t| (t.catalog_no, t)).collect();
        let mut out = FieldEquivalence::default();
        for (i, c) in file.concepts.into_iter().enumerate() {
            let at = format!("concepts[{i}] ({})", c.key);
            if c.key.trim().is_empty() || c.label.trim().is_empty() {
                return Err((at, "key and label must not be empty".into()));
            }
            if out.concepts.iter().any(|x| x.key == c.key) {
                return Err((at, "duplicate concept key".into()));
            }
            let mut members = Vec::new();
            for m in &c.fields {
                let bad = |msg: String| (format!("{at}.fields {m:?}"), msg);
                let (no, key) = m
                    .split_once('.')
                    .ok_or_else(|| bad("must be NNN.field_key".into()))?;
                let t = no
                    .parse::<u32>()
                    .ok()
                    .filter(|_| no.len() == 3)
                    .and_then(|n| by_no.get(&n))
                    .ok_or_else(|| bad(format!("no type with catalog number {no}")))?;
                if t.field(key).is_none() {
                    return Err(bad(format!("{} has no field {key}", t.name)));
                }
                let r = FieldRef {
                    type_code: t.code.clone(),
                    key: key.to_string(),
                };
                if out.by_field.insert(r.clone(), out.concepts.len()).is_some() {
                    return Err(bad("the field is already a member of a concept".into()));
                }
                members.push(r);
            }
            out.concepts.push(Concept {
                key: c.key,
                label: c.label,
                members,
            });
        }
        Ok(out)
    }

    /// The concept a type's field belongs to, if any.
    pub fn concept_of(&self, type_code: &str, key: &str) -> Option<&Concept> {
        let r = FieldRef {
            type_code: type_code.to_string(),
            key: key.to_string(),
        };
        self.by_field.get(&r).and_then(|i| self.concepts.get(*i))
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }
}
