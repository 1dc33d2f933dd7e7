//! One certificate type as written in `templates-certs/types/NNN-<slug>.toml`, and the
//! shapes the API serialises from it (`GET /api/v1/cert-types[/{code}]`).
//!
//! The structs mirror the file format exactly (deny_unknown_fields). A `CertType` reached
//! through `Catalog` has passed every check in `Catalog::load`; fields are public so the
//! renderer and registration can read them directly.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::copy::CopyKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertType {
    /// The catalog number (001..102), taken from the file name, not from the file's keys.
    #[serde(skip)]
    pub catalog_no: u32,
    /// Defining authority's credit code + 3-digit sequence, e.g. `11100000000013338W001`.
    pub code: String,
    pub name: String,
    pub name_en: String,
    pub domain: Domain,
    pub authority: String,
    pub holder_kind: HolderKind,
    /// A layout id (file stem under `layouts/`).
    pub layout: String,
    pub copies: Vec<CopyKind>,
    #[serde(rename = "validity_years")]
    pub validity: Validity,
    pub number: NumberPattern,
    pub fields: Vec<FieldDef>,
    pub example: ExampleRecord,
}

impl CertType {
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The fields that go into the layout's `fields` grid, in print order.
    pub fn short_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| f.kind.is_short())
    }

    /// The fields that go into the layout's `long_text` block, in print order.
    pub fn long_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.kind.is_short())
    }

    pub fn has_duplicate(&self) -> bool {
        self.copies.contains(&CopyKind::Duplicate)
    }

    /// `GET /api/v1/cert-types` item.
    pub fn summary(&self) -> CertTypeSummary<'_> {
        CertTypeSummary {
            code: &self.code,
            name: &self.name,
            name_en: &self.name_en,
            domain: self.domain,
            holder_kind: self.holder_kind,
            layout: &self.layout,
            copies: &self.copies,
        }
    }

    /// `GET /api/v1/cert-types/{code}` body.
    pub fn detail(&self) -> CertTypeDetail<'_> {
        CertTypeDetail {
            summary: self.summary(),
            authority: &self.authority,
            validity_years: self.validity.years(),
            fields: self
                .fields
                .iter()
                .map(|f| FieldSummary {
                    key: &f.key,
                    label: &f.label,
                    kind: f.kind,
                    required: f.required,
                    max_len: f.effective_max_len(),
                    values: f.values.as_deref(),
                })
                .collect(),
            example: self.example_json(),
        }
    }

    /// The example as the API shows it: `{holder: {name, code}, fields, valid_from, valid_to}`,
    /// `valid_to` null for long-term types. Accepted as it is by `validate`.
    pub fn example_json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .example
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::json!({
            "holder": {"name": self.example.holder.name, "code": self.example.holder.code},
            "fields": fields,
            "valid_from": self.example.valid_from,
            "valid_to": self.example.valid_to,
        })
    }
}

/// The domains partner agreements may cover (docs/architecture.md, "Halls and issuing authorities").
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Market,
    Transport,
    Housing,
    NaturalResources,
    Health,
    Education,
    HumanResources,
    CivilAffairs,
    Religion,
    Institutions,
    CultureTourism,
    PressPublication,
    RadioTv,
    Film,
    Sport,
    Emergency,
    Ecology,
    Water,
    Agriculture,
    Forestry,
    PublicSecurity,
}

impl Domain {
    pub const ALL: [Domain; 21] = [
        Domain::Market,
        Domain::Transport,
        Domain::Housing,
        Domain::NaturalResources,
        Domain::Health,
        Domain::Education,
        Domain::HumanResources,
        Domain::CivilAffairs,
        Domain::Religion,
        Domain::Institutions,
        Domain::CultureTourism,
        Domain::PressPublication,
        Domain::RadioTv,
        Domain::Film,
        Domain::Sport,
        Domain::Emergency,
        Domain::Ecology,
        Domain::Water,
        Domain::Agriculture,
        Domain::Forestry,
        Domain::PublicSecurity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Market => "market",
            Domain::Transport => "transport",
            Domain::Housing => "housing",
            Domain::NaturalResources => "natural_resources",
            Domain::Health => "health",
            Domain::Education => "education",
            Domain::HumanResources => "human_resources",
            Domain::CivilAffairs => "civil_affairs",
            Domain::Religion => "religion",
            Domain::Institutions => "institutions",
            Domain::CultureTourism => "culture_tourism",
            Domain::PressPublication => "press_publication",
            Domain::RadioTv => "radio_tv",
            Domain::Film => "film",
            Domain::Sport => "sport",
            Domain::Emergency => "emergency",
            Domain::Ecology => "ecology",
            Domain::Water => "water",
            Domain::Agriculture => "agriculture",
            Domain::Forestry => "forestry",
            Domain::PublicSecurity => "public_security",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Domain::Market => "市场监管",
            Domain::Transport => "交通运输",
            Domain::Housing => "住房城乡建设",
            Domain::NaturalResources => "自然资源和规划",
            Domain::Health => "卫生健康",
            Domain::Education => "教育",
            Domain::HumanResources => "人力资源社会保障",
            Domain::CivilAffairs => "民政",
            Domain::Religion => "民族宗教",
            Domain::Institutions => "机构编制",
            Domain::CultureTourism => "文化和旅游",
            Domain::PressPublication => "新闻出版",
            Domain::RadioTv => "广播电视",
            Domain::Film => "电影",
            Domain::Sport => "体育",
            Domain::Emergency => "应急管理",
            Domain::Ecology => "生态环境",
            Domain::Water => "水利",
            Domain::Agriculture => "农业农村",
            Domain::Forestry => "林业",
            Domain::PublicSecurity => "公安消防",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose code the holder carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    /// A unified social credit code.
    Organisation,
    /// A resident ID number.
    Person,
}

impl HolderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderKind::Organisation => "organisation",
            HolderKind::Person => "person",
        }
    }
}

/// Default validity: whole years, or long-term (长期, `validity_years = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
pub enum Validity {
    Years(u32),
    LongTerm,
}

impl Validity {
    pub fn is_long_term(self) -> bool {
        self == Validity::LongTerm
    }

    /// 0 for long-term, as in the file.
    pub fn years(self) -> u32 {
        match self {
            Validity::Years(n) => n,
            Validity::LongTerm => 0,
        }
    }
}

impl From<u32> for Validity {
    fn from(n: u32) -> Self {
        if n == 0 {
            Validity::LongTerm
        } else {
            Validity::Years(n)
        }
    }
}

impl From<Validity> for u32 {
    fn from(v: Validity) -> u32 {
        v.years()
    }
}

/// The licence number's shape: prefix + zero-padded decimal digits + suffix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberPattern {
    #[serde(default)]
    pub prefix: String,
    pub digits: u32,
    #[serde(default)]
    pub suffix: String,
}

impl NumberPattern {
    /// The smallest digit count the loader accepts: fewer would run out within a year at a
    /// busy hall.
    pub const MIN_DIGITS: u32 = 10;
    /// u64 holds every 19-digit number; longer patterns are zero-padded on the left.
    pub const MAX_DIGITS: u32 = 24;

    /// The licence number for a sequence value, or None when it does not fit the digits.
    pub fn format(&self, seq: u64) -> Option<String> {
        let digits = seq.to_string();
        if digits.len() > self.digits as usize {
            return None;
        }
        Some(format!(
            "{}{:0>width$}{}",
            self.prefix,
            digits,
            self.suffix,
            width = self.digits as usize
        ))
    }

    /// Whether `s` has this pattern's shape.
    pub fn matches(&self, s: &str) -> bool {
        s.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
            .is_some_and(|d| {
                d.len() == self.digits as usize && d.bytes().all(|b| b.is_ascii_digit())
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub key: String,
    /// The Chinese label printed next to the value.
    pub label: String,
    pub kind: FieldKind,
    /// Absent in the file means optional.
    #[serde(default)]
    pub required: bool,
    /// In characters. Required for text, multiline and address; ignored for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u32>,
    /// Enum only, and required there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl FieldDef {
    /// The length limit validation applies: max_len for free-text kinds, the natural length
    /// for fixed-shape kinds (shown to API clients so forms can size their inputs).
    pub fn effective_max_len(&self) -> Option<u32> {
        match self.kind {
            FieldKind::Text | FieldKind::Multiline | FieldKind::Address => self.max_len,
            FieldKind::Date => Some(10),
            FieldKind::Money => Some(MONEY_MAX_CHARS),
            FieldKind::CreditCode | FieldKind::IdNumber => Some(18),
            FieldKind::Phone => Some(20),
            FieldKind::Enum => self
                .values
                .as_ref()
                .and_then(|v| v.iter().map(|s| s.chars().count() as u32).max()),
        }
    }
}

/// 15 digits, a decimal point.
pub(crate) const MONEY_MAX_CHARS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Multiline,
    Date,
    Money,
    Enum,
    CreditCode,
    IdNumber,
    Phone,
    Address,
}

impl FieldKind {
    /// Short fields go into the grid; multiline ones into the long_text block.
    pub fn is_short(self) -> bool {
        self != FieldKind::Multiline
    }

    pub fn needs_max_len(self) -> bool {
        matches!(
            self,
            FieldKind::Text | FieldKind::Multiline | FieldKind::Address
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Multiline => "multiline",
            FieldKind::Date => "date",
            FieldKind::Money => "money",
            FieldKind::Enum => "enum",
            FieldKind::CreditCode => "credit_code",
            FieldKind::IdNumber => "id_number",
            FieldKind::Phone => "phone",
            FieldKind::Address => "address",
        }
    }
}

/// The `[example]` table: one realistic record, all values strings as in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleRecord {
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
    pub holder: ExampleHolder,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleHolder {
    pub name: String,
    pub code: String,
}

/// `GET /api/v1/cert-types` item: `{code, name, name_en, domain, holder_kind, layout, copies}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertTypeSummary<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub name_en: &'a str,
    pub domain: Domain,
    pub holder_kind: HolderKind,
    pub layout: &'a str,
    #[schema(value_type = Vec<CopyKind>)]
    pub copies: &'a [CopyKind],
}

/// `GET /api/v1/cert-types/{code}`: the summary plus authority, validity, fields and example.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CertTypeDetail<'a> {
    #[serde(flatten)]
    pub summary: CertTypeSummary<'a>,
    pub authority: &'a str,
    /// 0 = long-term.
    pub validity_years: u32,
    pub fields: Vec<FieldSummary<'a>>,
    #[schema(value_type = super::record::Record)]
    pub example: serde_json::Value,
}

/// One field as the API lists it: `{key, label, kind, required, max_len, values?}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldSummary<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub kind: FieldKind,
    pub required: bool,
    pub max_len: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub values: Option<&'a [String]>,
}
