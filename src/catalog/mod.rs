//! The certificate catalog: loads and checks `templates-certs/` (102 types and their layout
//! families). A plain library: no database, no HTTP.
//!
//! `Catalog::load` refuses the whole folder on the first broken file, naming the file and the
//! field, so a bad type never reaches issuance. It does not read the clock: whether an
//! example covers today is for the caller (and the tests) to decide.

pub mod cert_type;
pub mod equivalence;
pub mod layout;
pub mod record;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use cert_type::{
    CertType, CertTypeDetail, CertTypeSummary, Domain, ExampleHolder, ExampleRecord, FieldDef,
    FieldKind, FieldSummary, HolderKind, NumberPattern, Validity,
};
pub use layout::{Block, BlockRole, Layout};
pub use record::{FieldError, HolderCode, HolderInput, RecordInput, ValidRecord};

use crate::domain::codes::UnifiedCreditCode;
use crate::domain::copy::CopyKind;

/// Field keys that would collide with the record's own members.
pub const RESERVED_FIELD_KEYS: [&str; 3] = ["holder", "valid_from", "valid_to"];

/// At most this many multiline fields per type (they stack in the long_text block).
pub const MAX_LONG_FIELDS: usize = 2;

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: TOML error: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: {field}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

impl CatalogError {
    fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        CatalogError::Invalid {
            file: file.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every certificate type and layout, checked.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// In catalog-number order.
    types: Vec<CertType>,
    by_code: HashMap<String, usize>,
    layouts: BTreeMap<String, Layout>,
    /// `field-equivalence.toml` (empty when the folder has none).
    equivalence: equivalence::FieldEquivalence,
}

impl Catalog {
    /// Reads `dir/layouts/*.toml` and `dir/types/*.toml` and checks everything.
    pub fn load(dir: &Path) -> Result<Catalog, CatalogError> {
        let mut layouts = BTreeMap::new();
        for (path, name) in toml_files(&dir.join("layouts"))? {
            let layout: Layout = read_toml(&path, &name)?;
            let stem = name.trim_end_matches(".toml");
            if layout.id != stem {
                return Err(CatalogError::invalid(
                    &name,
                    "id",
                    format!("id {:?} must equal the file stem {stem:?}", layout.id),
                ));
            }
            if let Some(p) = layout.check().into_iter().next() {
                return Err(CatalogError::invalid(&name, p.field, p.message));
            }
            layouts.insert(layout.id.clone(), layout);
        }

        let mut types: Vec<CertType> = Vec::new();
        let mut by_code: HashMap<String, usize> = HashMap::new();
        let mut files_by_no: HashMap<u32, String> = HashMap::new();
        let mut files_by_code: HashMap<String, String> = HashMap::new();
        for (path, name) in toml_files(&dir.join("types"))? {
            let catalog_no = catalog_no_from_file_name(&name)?;
            if let Some(other) = files_by_no.insert(catalog_no, name.clone()) {
                return Err(CatalogError::invalid(
                    &name,
                    "file name",
                    format!("catalog number {catalog_no:03} is also used by {other}"),
                ));
            }
            let mut t: CertType = read_toml(&path, &name)?;
            t.catalog_no = catalog_no;
            check_type(&t, &layouts)
                .map_err(|(field, msg)| CatalogError::invalid(&name, field, msg))?;
            if let Some(other) = files_by_code.insert(t.code.clone(), name.clone()) {
                return Err(CatalogError::invalid(
                    &name,
                    "code",
                    format!("duplicate type code {} (also in {other})", t.code),
                ));
            }
            types.push(t);
        }
        types.sort_by_key(|t| t.catalog_no);
        for (i, t) in types.iter().enumerate() {
            by_code.insert(t.code.clone(), i);
        }
        let eq_path = dir.join(equivalence::FILE_NAME);
        let equivalence = if eq_path.is_file() {
            let text = std::fs::read_to_string(&eq_path).map_err(|source| CatalogError::Io {
                path: eq_path.clone(),
                source,
            })?;
            equivalence::FieldEquivalence::parse(&text, &types)
                .map_err(|(field, msg)| CatalogError::invalid(equivalence::FILE_NAME, field, msg))?
        } else {
            equivalence::FieldEquivalence::default()
        };
        Ok(Catalog {
            types,
            by_code,
            layouts,
            equivalence,
        })
    }

    pub fn get(&self, code: &str) -> Option<&CertType> {
        self.by_code.get(code).and_then(|i| self.types.get(*i))
    }

    /// Every type, in catalog-number order.
    pub fn types(&self) -> &[CertType] {
        &self.types
    }

    /// Which fields of which types mean the same thing (form prefill).
    pub fn equivalence(&self) -> &equivalence::FieldEquivalence {
        &self.equivalence
    }

    pub fn layout(&self, id: &str) -> Option<&Layout> {
        self.layouts.get(id)
    }

    pub fn layouts(&self) -> impl Iterator<Item = &Layout> {
        self.layouts.values()
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// `*.toml` files of a folder, sorted by name so that errors are reproducible.
fn toml_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, CatalogError> {
    let io = |source| CatalogError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((path, name));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path, name: &str) -> Result<T, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| CatalogError::Toml {
        file: name.to_owned(),
        source,
    })
}

/// `NNN-<ascii-slug>.toml` -> NNN (1..=999).
fn catalog_no_from_file_name(name: &str) -> Result<u32, CatalogError> {
    let bad = || {
        CatalogError::invalid(
            name,
            "file name",
            "type files must be named NNN-<ascii-slug>.toml, e.g. 001-business-licence-enterprise.toml",
        )
    };
    let stem = name.strip_suffix(".toml").ok_or_else(bad)?;
    let (no, slug) = stem.split_once('-').ok_or_else(bad)?;
    let slug_ok = !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if no.len() != 3 || !no.bytes().all(|b| b.is_ascii_digit()) || !slug_ok {
        return Err(bad());
    }
    match no.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad()),
    }
}

fn is_snake_key(k: &str) -> bool {
    let mut bytes = k.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && k.len() <= 40
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

type Problem = (String, String);

fn problem(field: impl Into<String>, msg: impl Into<String>) -> Problem {
    (field.into(), msg.into())
}

/// Every rule of the type-file format that serde cannot express.
fn check_type(t: &CertType, layouts: &BTreeMap<String, Layout>) -> Result<(), Problem> {
    // code: an 18-char credit code (both checks) + 3 digits.
    let code_ok = t.code.len() == 21
        && t.code.is_char_boundary(18)
        && UnifiedCreditCode::parse(&t.code[..18]).is_ok()
        && t.code[18..].bytes().all(|b| b.is_ascii_digit());
    if !code_ok {
        return Err(problem(
            "code",
            format!(
                "{:?} must be an 18-character unified social credit code with valid check \
                 characters followed by 3 digits",
                t.code
            ),
        ));
    }
    for (field, value) in [
        ("name", &t.name),
        ("name_en", &t.name_en),
        ("authority", &t.authority),
    ] {
        if value.trim().is_empty() || has_control(value) {
            return Err(problem(field, "must be a non-empty single line"));
        }
    }
    let layout = layouts.get(&t.layout).ok_or_else(|| {
        problem(
            "layout",
            format!(
                "unknown layout {:?}; known: {}",
                t.layout,
                layouts.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;

    // copies: the original always, each copy once.
    if !t.copies.contains(&CopyKind::Original) {
        return Err(problem("copies", "must include \"original\""));
    }
    if t.copies.len() != t.copies.iter().collect::<HashSet<_>>().len() {
        return Err(problem("copies", "lists a copy twice"));
    }

    let n = &t.number;
    if !(NumberPattern::MIN_DIGITS..=NumberPattern::MAX_DIGITS).contains(&n.digits) {
        return Err(problem(
            "number.digits",
            format!(
                "must be between {} and {}, got {}",
                NumberPattern::MIN_DIGITS,
                NumberPattern::MAX_DIGITS,
                n.digits
            ),
        ));
    }
    for (field, s) in [("number.prefix", &n.prefix), ("number.suffix", &n.suffix)] {
        if has_control(s) || s.chars().any(char::is_whitespace) {
            return Err(problem(
                field,
                "must not contain spaces or control characters",
            ));
        }
    }
    // A digit next to the counter would make numbers ambiguous to read back.
    if n.prefix.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(problem(
            "number.prefix",
            "a digit next to the counter makes the number ambiguous",
        ));
    }
    if n.suffix.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(problem(
            "number.suffix",
            "a digit next to the counter makes the number ambiguous",
        ));
    }

    if t.fields.is_empty() {
        return Err(problem("fields", "a type needs at least one field"));
    }
    let mut keys = HashSet::new();
    for (i, f) in t.fields.iter().enumerate() {
        let at = format!("fields[{i}] ({})", f.key);
        if !is_snake_key(&f.key) {
            return Err(problem(
                format!("{at}.key"),
                "must be snake_case ASCII (a-z, 0-9, _), starting with a letter, at most 40 characters",
            ));
        }
        if RESERVED_FIELD_KEYS.contains(&f.key.as_str()) {
            return Err(problem(
                format!("{at}.key"),
                format!(
                    "{:?} is reserved for the record itself (holder, valid_from, valid_to)",
                    f.key
                ),
            ));
        }
        if !keys.insert(f.key.as_str()) {
            return Err(problem(format!("{at}.key"), "duplicate field key"));
        }
        if f.label.trim().is_empty() || has_control(&f.label) {
            return Err(problem(
                format!("{at}.label"),
                "must be a non-empty single line",
            ));
        }
        if f.kind.needs_max_len() && f.max_len.is_none_or(|m| m == 0) {
            return Err(problem(
                format!("{at}.max_len"),
                format!("a {} field needs max_len >= 1", f.kind.as_str()),
            ));
        }
        match (f.kind, &f.values) {
            (FieldKind::Enum, None) => {
                return Err(problem(
                    format!("{at}.values"),
                    "an enum field needs values",
                ))
            }
            (FieldKind::Enum, Some(v)) => {
                if v.is_empty() {
                    return Err(problem(
                        format!("{at}.values"),
                        "an enum field needs values",
                    ));
                }
                if v.iter().any(|s| s.trim().is_empty() || has_control(s)) {
                    return Err(problem(
                        format!("{at}.values"),
                        "values must be non-empty single lines",
                    ));
                }
                if v.len() != v.iter().collect::<HashSet<_>>().len() {
                    return Err(problem(format!("{at}.values"), "a value is listed twice"));
                }
            }
            (_, Some(_)) => {
                return Err(problem(
                    format!("{at}.values"),
                    "values are only allowed on enum fields",
                ))
            }
            (_, None) => {}
        }
    }

    let short = t.short_fields().count() as u32;
    let capacity = layout.fields_capacity();
    if short > capacity {
        return Err(problem(
            "fields",
            format!(
                "{short} short fields do not fit the {} layout's grid of {capacity}",
                t.layout
            ),
        ));
    }
    let long = t.long_fields().count();
    if long > 0 && !layout.has_long_text() {
        return Err(problem(
            "fields",
            format!(
                "multiline fields need a long_text block, which layout {} lacks",
                t.layout
            ),
        ));
    }
    if long > MAX_LONG_FIELDS {
        return Err(problem(
            "fields",
            format!(
                "at most {MAX_LONG_FIELDS} multiline fields fit the long_text block, found {long}"
            ),
        ));
    }

    // The example must pass the very rules an API record passes.
    if t.validity.is_long_term() && t.example.valid_to.is_some() {
        return Err(problem(
            "example.valid_to",
            "must be omitted for a long-term type (validity_years = 0)",
        ));
    }
    if let Err(errors) = t.validate(&t.example_json()) {
        let field = errors.first().map_or("record", |e| e.field.as_str());
        let all: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        return Err(problem(format!("example.{field}"), all.join("; ")));
    }
    Ok(())
}
