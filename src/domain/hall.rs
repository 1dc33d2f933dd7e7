//! Halls (docs/architecture.md, "Halls and issuing authorities"): where licences are issued and printed. City, district, county and zone
//! halls are issuing authorities; partner halls print under an agreement.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HallKind {
    City,
    District,
    County,
    Zone,
    Town,
    Partner,
}

impl HallKind {
    pub const ALL: [HallKind; 6] = [
        HallKind::City,
        HallKind::District,
        HallKind::County,
        HallKind::Zone,
        HallKind::Town,
        HallKind::Partner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HallKind::City => "city",
            HallKind::District => "district",
            HallKind::County => "county",
            HallKind::Zone => "zone",
            HallKind::Town => "town",
            HallKind::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Option<HallKind> {
        HallKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// City, district, county and zone halls are issuing authorities.
    pub fn is_issuing(self) -> bool {
        matches!(
            self,
            HallKind::City | HallKind::District | HallKind::County | HallKind::Zone
        )
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            HallKind::City => "市级大厅",
            HallKind::District => "区级大厅",
            HallKind::County => "县级大厅",
            HallKind::Zone => "功能区大厅",
            HallKind::Town => "镇街便民服务中心",
            HallKind::Partner => "跨省合作县",
        }
    }
}

impl fmt::Display for HallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a partner's agreement covers: every type, or a list of type codes and domain keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covers {
    All,
    List(Vec<String>),
}

impl Covers {
    pub fn includes(&self, type_code: &str, domain: &str) -> bool {
        match self {
            Covers::All => true,
            Covers::List(items) => items.iter().any(|i| i == type_code || i == domain),
        }
    }
}

impl Serialize for Covers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Covers::All => s.serialize_str("all"),
            Covers::List(items) => items.serialize(s),
        }
    }
}

/// `"all"` or a list of type codes and domains.
impl utoipa::PartialSchema for Covers {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["all"])),
            )
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
            .into()
    }
}

impl utoipa::ToSchema for Covers {}

impl<'de> Deserialize<'de> for Covers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(Covers::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "covers must be \"all\" or a list of type codes and domains, not {w:?}"
            ))),
            Raw::List(items) => Ok(Covers::List(items)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Authority {
    pub name: String,
    pub credit_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agreement {
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub covers: Covers,
}

impl Agreement {
    pub fn in_force(&self, today: NaiveDate) -> bool {
        self.valid_from <= today && today <= self.valid_to
    }
}

/// A hall as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hall {
    pub code: String,
    pub name: String,
    pub kind: HallKind,
    pub province: String,
    pub city: String,
    pub county: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<Authority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_matches_type_or_domain() {
        let c = Covers::List(vec!["market".into(), "X001".into()]);
        assert!(c.includes("Y", "market"));
        assert!(c.includes("X001", "health"));
        assert!(!c.includes("Y", "health"));
        assert!(Covers::All.includes("anything", "any"));
    }

    #[test]
    fn covers_round_trips_as_json() {
        assert_eq!(serde_json::to_string(&Covers::All).unwrap(), "\"all\"");
        let c: Covers = serde_json::from_str("[\"market\"]").unwrap();
        assert_eq!(c, Covers::List(vec!["market".into()]));
        assert!(serde_json::from_str::<Covers>("\"some\"").is_err());
    }

    #[test]
    fn distance_linyi_to_pizhou_is_about_90_km() {
        let d = distance_km(35.104, 118.356, 34.335, 117.952);
        assert!((80.0..100.0).contains(&d), "{d}");
    }
}
